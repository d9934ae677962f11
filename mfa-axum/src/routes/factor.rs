//! The user's own factor: status, setup and confirmation, both backup-code
//! regenerations, disable, replacing the authenticator and forgetting
//! remembered devices.
//!
//! Beside passkeys, setting up an authenticator app adds it to the set:
//! the `mfa` crate models that as a replacement of a set without an app,
//! which a recent proof authorises beside the password; the set's backup
//! codes stay. Disable turns the whole set off, passkeys included, and
//! takes the password alone from a session whose proof is recent (a passkey
//! user has no code to type).
//!
//! What hands the factor to whoever holds the session takes proof of more
//! than the session (I17): setup takes the password, beginning a
//! replacement the password and a current code (or a backup code), the
//! strict regenerate the password and a code, disable the password and a
//! code or a recent proof. Regeneration and forgetting devices, which hand
//! nothing over, take a recent proof.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use mfa::http::{BackupCodesAnswer, ProblemDetails as Problem, SetupAnswer};
use mfa::{FactorState, MfaEnrollment, Reauth};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{Code, Password, Secret, Success, SuccessWithToken, codes, reauthenticate, required};
use crate::extract::MfaUser;
use crate::problem::Body;
use crate::{MfaHost, SessionState};

type Answer<T> = Result<Json<T>, crate::Problem>;

/// Confirmed: the backup codes, shown once (absent when passkeys had MFA on
/// already: their codes stay), and a session with a fresh proof.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfirmAnswer {
    #[schema(schema_with = crate::schemas::always_true)]
    success: bool,
    /// The new backup codes, shown this once; absent when the user's
    /// passkeys had MFA on already (the set's codes stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, min_items = 1)]
    backup_codes: Option<Zeroizing<Vec<String>>>,
    /// The session that works from now on; every earlier one is revoked.
    /// Absent where sessions are cookies.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// `{"backup_codes": [...]}` (this route's historical field name); wiped on drop.
#[derive(Serialize, ToSchema)]
pub(crate) struct LegacyBackupCodes {
    #[schema(value_type = Vec<String>, min_items = 1)]
    backup_codes: Zeroizing<Vec<String>>,
}

/// `{password}`, or `{password, code}`: the account's password, and a
/// current TOTP or backup code unless the session's proof is recent.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasswordAndMaybeCode {
    #[schema(value_type = String, required = true)]
    password: Option<Secret>,
    /// A TOTP code or a backup code. Without it, the session's proof must
    /// be recent.
    #[schema(value_type = Option<String>, example = "123456")]
    code: Option<Secret>,
}

/// `{password, code}`: the account's password and a current code.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasswordAndCode {
    #[schema(value_type = String, required = true)]
    password: Option<Secret>,
    /// A TOTP code (at disable and replace, a backup code too).
    #[schema(value_type = String, example = "123456", required = true)]
    code: Option<Secret>,
}

impl PasswordAndCode {
    /// Both fields, then the password, checked before anything looks at the
    /// code ([`reauthenticate`]): the code, once the password is right.
    async fn reauthenticate<H: MfaHost>(
        &self,
        host: &H,
        user_id: &str,
    ) -> Result<&str, crate::Problem> {
        required(&self.password, "password")?;
        let code = required(&self.code, "code")?;
        reauthenticate(host, user_id, &self.password).await?;
        Ok(code)
    }
}

/// Whether the record's set has passkeys and no authenticator app: a setup
/// then adds the app to the set.
fn passkeys_without_app(record: &MfaEnrollment) -> bool {
    matches!(record.factor(), FactorState::Active(set) if set.app().is_none())
}

/// The user's MFA status.
#[utoipa::path(get, path = "/user/me/totp", tag = "mfa", security(("session" = [])),
    responses(
        (status = 200, description = "Where the factor stands.", body = mfa::MfaStatus),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
    ))]
pub(crate) async fn status<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
) -> Answer<mfa::MfaStatus> {
    Ok(Json(host.mfa().status(&user.state.user_id).await?))
}

/// Begins a TOTP setup (replacing an earlier pending one), with the
/// account's password: a session alone never binds a factor. Beside
/// passkeys, the session's proof must be recent too.
#[utoipa::path(post, path = "/user/me/totp/setup", tag = "mfa", request_body = Password,
    security(("session" = [])),
    responses(
        (status = 200, description = "What the authenticator app needs; the setup waits for its first code.", body = SetupAnswer),
        (status = 400, description = "`INVALID_PASSWORD`; `VALIDATION_FAILED`: no `password`, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: the user has passkeys and the session's proof is not recent.", body = Problem),
        (status = 409, description = "`MFA_ALREADY_ENABLED`: an authenticator app is active already.", body = Problem),
        (status = 429, description = "`TOO_MANY_ATTEMPTS` (the host's password lock: the password was not checked); `LOCKED_OUT`.", body = Problem),
    ))]
pub(crate) async fn setup<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    Body(body): Body<Password>,
) -> Answer<SetupAnswer> {
    let id = &user.state.user_id;
    reauthenticate(&host, id, &body.password).await?;
    let account = host.account_name(id).await?;
    let setup = if passkeys_without_app(&user.record) {
        let proof = user.proof()?;
        let reauth = Reauth::RecentProof(&proof);
        host.mfa().begin_replacement(id, &account, reauth).await?
    } else {
        host.mfa().begin_setup(id, &account).await?
    };
    Ok(Json(SetupAnswer::new(&setup)?))
}

/// Confirms the setup with a first code: MFA on.
#[utoipa::path(post, path = "/user/me/totp/confirm", tag = "mfa", request_body = Code,
    security(("session" = [])),
    responses(
        (status = 200, description = "MFA is on: the backup codes, shown this once (none when passkeys had MFA on already), and the session that works from now on (every earlier one is revoked).", body = ConfirmAnswer),
        (status = 400, description = "`INVALID_CODE` (wrong, malformed or missing; nothing enabled); `NO_PENDING_SECRET`; `PENDING_EXPIRED`; `VALIDATION_FAILED` (a malformed body).", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 409, description = "`MFA_ALREADY_ENABLED`: an authenticator app is active already.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(crate) async fn confirm<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<Code>,
) -> Answer<ConfirmAnswer> {
    let (id, code) = (&user.state.user_id, body.get()?);
    let (backup_codes, proof) = if passkeys_without_app(&user.record) {
        // The app joins the passkeys; the set's backup codes stay.
        (None, host.mfa().confirm_replacement(id, code).await?)
    } else {
        let enabled = host.mfa().confirm_setup(id, code).await?;
        (Some(codes(&enabled.backup_codes)), enabled.proof)
    };
    Ok(Json(ConfirmAnswer {
        success: true,
        backup_codes,
        token: host.issue(&parts, SessionState::proven(id, proof)).await?,
    }))
}

/// New backup codes; every earlier one stops working. Needs a session
/// whose proof is within the step-up window.
#[utoipa::path(post, path = "/user/me/totp/backup-codes/regenerate", tag = "mfa",
    security(("session" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once.", body = BackupCodesAnswer),
        (status = 400, description = "`MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: the session's proof is too old, or it has none (step up at `POST …/auth/step-up`).", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(crate) async fn regenerate<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
) -> Answer<BackupCodesAnswer> {
    let proof = user.proof()?;
    let codes = host
        .mfa()
        .regenerate_backup_codes(&user.state.user_id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(BackupCodesAnswer::new(&codes)))
}

/// Begins replacing the authenticator: a new secret pending beside the
/// active one. Takes the password and a current code of the active app or
/// an unused backup code (the phone may be lost), checked like disable:
/// the password first, then the code. A session alone, however recent its
/// proof, never hands the factor over.
#[utoipa::path(post, path = "/user/me/totp/replace", tag = "mfa",
    request_body = PasswordAndCode, security(("session" = [])),
    responses(
        (status = 200, description = "What the new authenticator app needs; the active one keeps working until the replacement is confirmed.", body = SetupAnswer),
        (status = 400, description = "`VALIDATION_FAILED` (a missing field, a malformed body); `INVALID_PASSWORD` (the code was neither used nor counted); `INVALID_CODE` (counted toward the lockout); `MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`; `TOO_MANY_ATTEMPTS` (wrong passwords).", body = Problem),
    ))]
pub(crate) async fn replace<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    Body(body): Body<PasswordAndCode>,
) -> Answer<SetupAnswer> {
    let id = &user.state.user_id;
    let code = body.reauthenticate(&host, id).await?;
    let account = host.account_name(id).await?;
    let setup = host
        .mfa()
        .begin_replacement(id, &account, Reauth::Code(code))
        .await?;
    Ok(Json(SetupAnswer::new(&setup)?))
}

/// Swaps in the pending secret with a code of the new app; every earlier
/// session and `mfaToken` is revoked, the answer's token is the one that works.
#[utoipa::path(post, path = "/user/me/totp/replace/confirm", tag = "mfa", request_body = Code,
    security(("session" = [])),
    responses(
        (status = 200, description = "The new app is the factor; backup codes are kept; other sessions, `mfaToken`s and remembered devices are revoked.", body = SuccessWithToken),
        (status = 400, description = "`INVALID_CODE` (counted); `NO_PENDING_SECRET`; `PENDING_EXPIRED`; `VALIDATION_FAILED` (a malformed body).", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(crate) async fn confirm_replacement<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<Code>,
) -> Answer<SuccessWithToken> {
    let id = &user.state.user_id;
    let proof = host.mfa().confirm_replacement(id, body.get()?).await?;
    let token = host.issue(&parts, SessionState::proven(id, proof)).await?;
    Ok(Json(SuccessWithToken::new(token)))
}

/// Forgets every remembered device. Needs a session whose proof is within
/// the step-up window.
#[utoipa::path(post, path = "/user/me/devices/forget", tag = "mfa", security(("session" = [])),
    responses(
        (status = 200, description = "Every remembered device is forgotten.", body = Success),
        (status = 400, description = "`MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(crate) async fn forget_devices<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
) -> Answer<Success> {
    let proof = user.proof()?;
    host.mfa()
        .forget_devices(&user.state.user_id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(Success { success: true }))
}

/// New backup codes with the password and a current TOTP code; every
/// earlier code stops working.
#[utoipa::path(post, path = "/user/profile/mfa/backup-codes", tag = "mfa",
    request_body = PasswordAndCode, security(("session" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once.", body = LegacyBackupCodes),
        (status = 400, description = "`VALIDATION_FAILED` (a missing field, a malformed body); `INVALID_PASSWORD` (the code was neither used nor counted); `INVALID_CODE`; `MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`; `TOO_MANY_ATTEMPTS` (wrong passwords).", body = Problem),
    ))]
pub(crate) async fn regenerate_strict<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    Body(body): Body<PasswordAndCode>,
) -> Answer<LegacyBackupCodes> {
    let id = &user.state.user_id;
    let code = body.reauthenticate(&host, id).await?;
    let new = host
        .mfa()
        .regenerate_backup_codes(id, Reauth::TotpCode(code))
        .await?;
    Ok(Json(LegacyBackupCodes {
        backup_codes: codes(&new),
    }))
}

/// MFA off, with the password and a TOTP or backup code, or with the
/// password alone from a session whose proof is recent; the app, every
/// passkey, the backup codes and remembered devices are deleted.
#[utoipa::path(post, path = "/user/me/totp/disable", tag = "mfa",
    request_body = PasswordAndMaybeCode, security(("session" = [])),
    responses(
        (status = 200, description = "MFA is off; the answer's session is the one that works from now on.", body = SuccessWithToken),
        (status = 400, description = "`VALIDATION_FAILED`; `INVALID_PASSWORD` (the code was neither used nor counted); `INVALID_CODE`; `MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: no `code`, and the session's proof is not recent.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`; `TOO_MANY_ATTEMPTS` (wrong passwords).", body = Problem),
    ))]
pub(crate) async fn disable<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<PasswordAndMaybeCode>,
) -> Answer<SuccessWithToken> {
    let id = &user.state.user_id;
    reauthenticate(&host, id, &body.password).await?;
    let proof = match body.code.as_deref() {
        Some(code) => host.mfa().disable(id, code).await?,
        None => {
            let proof = user.proof()?;
            host.mfa()
                .disable_with(id, Reauth::RecentProof(&proof))
                .await?
        }
    };
    let token = host.issue(&parts, SessionState::proven(id, proof)).await?;
    Ok(Json(SuccessWithToken::new(token)))
}
