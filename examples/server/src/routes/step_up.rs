//! Step-up: a fresh proof for a session, with a TOTP code, a backup code or
//! a passkey. A passkey answers the request options of
//! `POST /api/auth/step-up/options`, whose challenge travels in the signed
//! `stepUpToken`, bound to the user and completed at most once.

use axum::Json;
use axum::extract::State;
use mfa::http::VerifiedAnswer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::OneCode;
use crate::AppState;
use crate::auth::Session;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::users::Secret;
use crate::webauthn;

/// `{code}`, `{backupCode}` or `{stepUpToken, passkey}`: exactly one way.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct StepUp {
    #[serde(flatten)]
    code: OneCode,
    /// The `stepUpToken` of `POST /api/auth/step-up/options`, with `passkey`.
    #[schema(value_type = Option<String>)]
    step_up_token: Option<Secret>,
    /// The browser's answer to the step-up's request options, as
    /// `PublicKeyCredential.toJSON()` gives it. Give this (with
    /// `stepUpToken`), `code` or `backupCode`.
    #[schema(schema_with = crate::openapi::assertion_credential)]
    passkey: Option<Value>,
}

/// `{"token"}`, and `"newBackupCode"` when the backup code used was replaced
/// (`--policy nist-aal2`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct StepUpAnswer {
    /// The bearer token of the session (one hour), with a fresh proof.
    token: String,
    /// The backup code issued in the place of the one used, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}(-[0-9a-hjkmnp-tv-z]{5})?$")]
    new_backup_code: Option<Zeroizing<String>>,
}

/// `{"publicKey", "stepUpToken"}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct StepUpOptions {
    /// The request options for `navigator.credentials.get()`, allowing the
    /// user's passkeys.
    #[schema(schema_with = crate::openapi::request_options)]
    public_key: Value,
    /// Completes one step-up of this session's user, within 5 minutes.
    step_up_token: String,
}

/// A fresh proof for the session: a current TOTP code, a backup code, or a
/// passkey (with the `stepUpToken` of `POST /api/auth/step-up/options`).
#[utoipa::path(post, path = "/api/auth/step-up", tag = "auth", request_body = StepUp,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A session with a fresh proof; `newBackupCode` when the backup code used was replaced by a new one (`--policy nist-aal2`), shown this once.", body = StepUpAnswer),
        (status = 400, description = "`MFA_NOT_ENABLED`; `VALIDATION_FAILED`: not exactly one of `code`, `backupCode` and `passkey`, `passkey` without `stepUpToken` or not a credential, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_CODE`, `INVALID_PASSKEY` (counted toward the lockout; also a used, expired or foreign `stepUpToken`); `UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(super) async fn step_up(
    State(app): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<StepUp>,
) -> Result<Json<StepUpAnswer>, ApiError> {
    let user_id = &session.user.id;
    let verified = match body.passkey {
        Some(_) if body.code.is_given() => {
            return Err(ApiError::validation(
                "Give exactly one of `code`, `backupCode` and `passkey`.",
            ));
        }
        Some(credential) => {
            let credential = webauthn::assertion(Some(credential), "passkey")?;
            let token = body
                .step_up_token
                .as_ref()
                .ok_or_else(|| ApiError::validation("`stepUpToken` is required with `passkey`."))?;
            let refused = || ApiError::from(mfa::Error::InvalidPasskey).passkey_is_unauthorized();
            let challenge = app
                .tokens
                .verify_step_up(user_id, token.expose())
                .ok_or_else(refused)?;
            app.mfa
                .step_up_with_passkey(user_id, &challenge, &credential)
                .await
                .map_err(|e| match e {
                    // A spent, foreign or outdated challenge.
                    mfa::Error::InvalidChallenge => refused(),
                    e => ApiError::from(e).passkey_is_unauthorized(),
                })?
        }
        None => {
            let code = body.code.get(app.mfa.context().policy().totp.digits)?;
            app.mfa
                .verify(user_id, code)
                .await
                .map_err(|e| ApiError::from(e).code_is_unauthorized())?
        }
    };
    let new_backup_code = VerifiedAnswer::from(&verified)
        .new_backup_code()
        .map(|code| Zeroizing::new(code.to_owned()));
    Ok(Json(StepUpAnswer {
        token: app.tokens.proven_session(user_id, verified.proof)?,
        new_backup_code,
    }))
}

/// Request options for a step-up with one of the user's passkeys, and the
/// `stepUpToken` that `POST /api/auth/step-up` takes back with the answer.
#[utoipa::path(post, path = "/api/auth/step-up/options", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request options and the `stepUpToken`.", body = StepUpOptions),
        (status = 400, description = "`MFA_NOT_ENABLED`: the user has no passkey.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
    ))]
pub(super) async fn step_up_options(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<StepUpOptions>, ApiError> {
    let user_id = &session.user.id;
    let challenge = app.mfa.begin_passkey_step_up(user_id).await?;
    let public_key = options_of(challenge.options())?;
    Ok(Json(StepUpOptions {
        public_key,
        step_up_token: app.tokens.step_up(user_id, challenge)?,
    }))
}

/// The `publicKey` member of request options as begun.
pub(super) fn options_of(
    options: Option<&mfa::passkey::RequestChallengeResponse>,
) -> Result<Value, ApiError> {
    let options = options.ok_or_else(|| ApiError::internal("a new challenge has no options"))?;
    let mut value = webauthn::options(options)?;
    Ok(value["publicKey"].take())
}
