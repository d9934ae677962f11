//! Step-up: a fresh proof for a session, with a TOTP code, a backup code or
//! a passkey. A passkey answers the request options of
//! `POST /auth/step-up/options`, whose challenge travels in the signed
//! `stepUpToken`, bound to the user and completed at most once.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use mfa::http::{ProblemDetails as Problem, VerifiedAnswer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{OneCode, Secret, not_exactly_one};
use crate::extract::MfaUser;
use crate::problem::Body;
use crate::webauthn::{self, refused_assertion};
use crate::{MfaHost, SessionState};

/// `{code}`, `{backupCode}` or `{stepUpToken, passkey}`: exactly one way.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StepUp {
    #[serde(flatten)]
    code: OneCode,
    /// The `stepUpToken` of `POST …/auth/step-up/options`, with `passkey`.
    #[schema(value_type = Option<String>)]
    step_up_token: Option<Secret>,
    /// The browser's answer to the step-up's request options, as
    /// `PublicKeyCredential.toJSON()` gives it. Give this (with
    /// `stepUpToken`), `code` or `backupCode`.
    #[schema(schema_with = crate::schemas::assertion_credential)]
    passkey: Option<Value>,
}

/// `{"token"}`, and `"newBackupCode"` when the backup code used was replaced
/// (a policy that replaces used backup codes, such as NIST AAL2's).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StepUpAnswer {
    /// The session, with a fresh proof; absent where sessions are cookies.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// The backup code issued in the place of the one used, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}(-[0-9a-hjkmnp-tv-z]{5})?$")]
    new_backup_code: Option<Zeroizing<String>>,
}

/// `{"publicKey", "stepUpToken"}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StepUpOptions {
    /// The request options for `navigator.credentials.get()`, allowing the
    /// user's passkeys.
    #[schema(schema_with = crate::schemas::request_options)]
    public_key: Value,
    /// Completes one step-up of this session's user, within 5 minutes.
    step_up_token: String,
}

/// A fresh proof for the session: a current TOTP code, a backup code, or a
/// passkey (with the `stepUpToken` of `POST …/auth/step-up/options`).
#[utoipa::path(post, path = "/auth/step-up", tag = "auth", request_body = StepUp,
    security(("session" = [])),
    responses(
        (status = 200, description = "A session with a fresh proof; `newBackupCode` when the backup code used was replaced by a new one (under a policy that replaces them), shown this once.", body = StepUpAnswer),
        (status = 400, description = "`MFA_NOT_ENABLED`; `VALIDATION_FAILED`: not exactly one of `code`, `backupCode` and `passkey`, `passkey` without `stepUpToken` or not a credential, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_CODE`, `INVALID_PASSKEY` (counted toward the lockout; also a used, expired or foreign `stepUpToken`); `UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(crate) async fn step_up<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<StepUp>,
) -> Result<Json<StepUpAnswer>, crate::Problem> {
    let id = &user.state.user_id;
    let verified = match body.passkey {
        Some(_) if body.code.is_given() => return Err(not_exactly_one()),
        Some(credential) => {
            let credential = webauthn::assertion(Some(credential), "passkey")?;
            let token = body.step_up_token.as_deref().ok_or_else(|| {
                crate::Problem::validation("`stepUpToken` is required with `passkey`.")
            })?;
            let challenge = host
                .login_tokens()
                .open_step_up(id, token)
                .ok_or_else(|| refused_assertion(mfa::Error::InvalidPasskey))?;
            host.mfa()
                .step_up_with_passkey(id, &challenge, &credential)
                .await
                .map_err(refused_assertion)?
        }
        None => {
            let code = body.code.get(host.mfa().context().policy().totp.digits)?;
            host.mfa()
                .verify(id, code)
                .await
                .map_err(|e| crate::Problem::from(e).at_login_step())?
        }
    };
    let new_backup_code = VerifiedAnswer::from(&verified)
        .new_backup_code()
        .map(|code| Zeroizing::new(code.to_owned()));
    let state = SessionState::proven(id, verified.proof);
    Ok(Json(StepUpAnswer {
        token: host.issue(&parts, state).await?,
        new_backup_code,
    }))
}

/// Request options for a step-up with one of the user's passkeys, and the
/// `stepUpToken` that `POST …/auth/step-up` takes back with the answer.
#[utoipa::path(post, path = "/auth/step-up/options", tag = "auth",
    security(("session" = [])),
    responses(
        (status = 200, description = "The request options and the `stepUpToken`.", body = StepUpOptions),
        (status = 400, description = "`MFA_NOT_ENABLED`: the user has no passkey.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
    ))]
pub(crate) async fn step_up_options<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
) -> Result<Json<StepUpOptions>, crate::Problem> {
    let id = &user.state.user_id;
    let challenge = host.mfa().begin_passkey_step_up(id).await?;
    Ok(Json(StepUpOptions {
        public_key: webauthn::request_public_key(challenge.options())?,
        step_up_token: host.login_tokens().seal_step_up(id, &challenge)?,
    }))
}
