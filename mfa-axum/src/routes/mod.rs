//! The MFA routes, one module per concept, each handler a few lines over
//! `mfa::Mfa`: the user's authenticator app and backup codes
//! (`factor.rs`), the login's second step (`crate::login`), step-up
//! (`step_up.rs`), the user's passkeys (`passkeys.rs`), passwordless login
//! (`passwordless.rs`) and the operators' routes (`operators.rs`). This file
//! has what several of them take and answer, and the password check.
//!
//! Sessions are checked against the user's epoch on every request
//! ([`MfaUser`](crate::MfaUser)); the routes that change the factor with a
//! code, the second step and step-up answer a new session with a fresh
//! proof; the routes that take no code need a recent proof. A session alone
//! never hands the factor to someone else: setup and registering a passkey
//! take the password, beginning a replacement the password and a code.

pub(crate) mod factor;
pub(crate) mod operators;
pub(crate) mod passkeys;
pub(crate) mod passwordless;
pub(crate) mod step_up;

use mfa::error::CodeFormatError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::MfaHost;
use crate::problem::Problem;

/// A password or a code from a request body: wiped on drop.
pub(crate) type Secret = Zeroizing<String>;

/// A body's field `name`, or 400 `VALIDATION_FAILED` naming it.
pub(crate) fn required<'a>(field: &'a Option<Secret>, name: &str) -> Result<&'a str, Problem> {
    field
        .as_deref()
        .map(String::as_str)
        .ok_or_else(|| Problem::validation(&format!("`{name}` is required.")))
}

/// `{"success": true}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Success {
    #[schema(schema_with = crate::schemas::always_true)]
    pub(crate) success: bool,
}

/// `{"success": true, "token"}`: the session that works from now on.
#[derive(Serialize, ToSchema)]
pub(crate) struct SuccessWithToken {
    #[schema(schema_with = crate::schemas::always_true)]
    success: bool,
    /// The session that works from now on; every earlier one is revoked.
    /// Absent where sessions are cookies.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl SuccessWithToken {
    pub(crate) fn new(token: Option<String>) -> Self {
        SuccessWithToken {
            success: true,
            token,
        }
    }
}

/// `{code}` (a TOTP code) or `{backupCode}`: exactly one.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OneCode {
    /// A current TOTP code. Give this or `backupCode`, not both.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6,8}$", example = "123456")]
    code: Option<Secret>,
    /// An unused backup code. Give this or `code`, not both.
    #[schema(value_type = Option<String>, example = "a1b2c-d3e4f")]
    backup_code: Option<Secret>,
}

impl OneCode {
    /// The code, shaped like the field it came in ([`mfa::http::one_code`]);
    /// a malformed one is 401 `INVALID_CODE`, not counted.
    pub(crate) fn get(&self, digits: u8) -> Result<&str, Problem> {
        let (code, backup) = (self.code.as_deref(), self.backup_code.as_deref());
        mfa::http::one_code(code.map(String::as_str), backup.map(String::as_str), digits)
            .map_err(|e| Problem::from(e).at_login_step())?
            .ok_or_else(not_exactly_one)
    }

    /// Whether either field is there.
    pub(crate) fn is_given(&self) -> bool {
        self.code.is_some() || self.backup_code.is_some()
    }
}

/// 400 `VALIDATION_FAILED` for a body with a passkey and a code.
pub(crate) fn not_exactly_one() -> Problem {
    Problem::validation("Give exactly one of `code`, `backupCode` and `passkey`.")
}

/// `{code}`: a current code of the authenticator app being set up.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Code {
    #[schema(value_type = String, pattern = "^[0-9]{6,8}$", example = "123456", required = true)]
    code: Option<Secret>,
}

impl Code {
    /// The code; a missing one is `INVALID_CODE`, as an empty one would be.
    pub(crate) fn get(&self) -> Result<&str, mfa::Error> {
        self.code
            .as_deref()
            .map(String::as_str)
            .ok_or(mfa::Error::MalformedCode(CodeFormatError::Empty))
    }
}

/// `{password}`: the account's password, for a route that hands the factor
/// to whoever holds the session.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Password {
    #[schema(value_type = String, required = true)]
    pub(crate) password: Option<Secret>,
}

/// The session user's password, checked ([`MfaHost::check_password`])
/// before anything looks at a code, so that a wrong password neither
/// consumes nor counts the code. 400 `VALIDATION_FAILED` without it.
pub(crate) async fn reauthenticate<H: MfaHost>(
    host: &H,
    user_id: &str,
    password: &Option<Secret>,
) -> Result<(), Problem> {
    host.check_password(user_id, required(password, "password")?)
        .await
}

/// Backup codes as an answer shows them, wiped on drop.
pub(crate) fn codes(codes: &mfa::BackupCodes) -> Zeroizing<Vec<String>> {
    Zeroizing::new(codes.iter().map(|c| c.as_str().to_owned()).collect())
}
