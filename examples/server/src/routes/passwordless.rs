//! Passwordless login: a discoverable passkey with user verification names
//! its user and proves two factors at once. The options name no user; the
//! challenge travels in the signed `passkeyToken` and completes at most one
//! login. Every refusal but a lockout is the same 401 `INVALID_PASSKEY`, so
//! that the answer tells nothing about which credentials exist.
//!
//! These routes exist unless the server runs with `--no-passwordless`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::SessionAnswer;
use super::step_up::options_of;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::users::Secret;
use crate::webauthn;

/// `{"publicKey", "passkeyToken"}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PasswordlessOptions {
    /// Request options for `navigator.credentials.get()`, for any
    /// discoverable credential of this site (no user named).
    #[schema(schema_with = crate::openapi::request_options)]
    public_key: Value,
    /// Completes one login at `POST /api/auth/passkey`, within 5 minutes.
    passkey_token: String,
}

/// `{passkeyToken, credential}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PasswordlessLogin {
    #[schema(value_type = String, required = true)]
    passkey_token: Option<Secret>,
    /// The browser's answer, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(schema_with = crate::openapi::assertion_credential, required = true)]
    credential: Option<Value>,
}

/// Begins a passwordless login.
#[utoipa::path(post, path = "/api/auth/passkey/options", tag = "auth",
    responses(
        (status = 200, description = "The request options and the `passkeyToken`.", body = PasswordlessOptions),
    ))]
pub(super) async fn passwordless_options(
    State(app): State<AppState>,
) -> Result<Json<PasswordlessOptions>, ApiError> {
    let challenge = app.mfa.begin_passwordless()?;
    let public_key = options_of(challenge.options())?;
    Ok(Json(PasswordlessOptions {
        public_key,
        passkey_token: app.tokens.passkey_login(challenge)?,
    }))
}

/// Logs in with a passkey alone: a session with a fresh passkey proof, as
/// after a full second step.
#[utoipa::path(post, path = "/api/auth/passkey", tag = "auth", request_body = PasswordlessLogin,
    responses(
        (status = 200, description = "A session with a fresh passkey proof.", body = SessionAnswer),
        (status = 400, description = "`VALIDATION_FAILED`: no `passkeyToken`, a `credential` that is not one, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_PASSKEY`: an unknown credential, a bad signature, another origin, no user verification, a used or expired `passkeyToken` — one answer for all.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`: the passkey's user is locked out after failed attempts.", body = Problem),
    ))]
pub(super) async fn passwordless(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<PasswordlessLogin>,
) -> Result<Json<SessionAnswer>, ApiError> {
    let token = super::required(&body.passkey_token, "passkeyToken")?;
    let credential = webauthn::assertion(body.credential, "credential")?;
    let refused = || ApiError::from(mfa::Error::InvalidPasskey).passkey_is_unauthorized();
    let challenge = app.tokens.verify_passkey_login(token).ok_or_else(refused)?;
    let (user_id, verified) = app
        .mfa
        .complete_passwordless(&challenge, &credential)
        .await
        .map_err(|e| match e {
            e @ mfa::Error::LockedOut { .. } => ApiError::from(e),
            e if e.is_client_error() => refused(),
            e => ApiError::from(e),
        })?;
    Ok(Json(SessionAnswer {
        token: app.tokens.proven_session(&user_id, verified.proof)?,
    }))
}
