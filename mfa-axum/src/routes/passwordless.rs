//! Passwordless login: a discoverable passkey with user verification names
//! its user and proves two factors at once. The options name no user; the
//! challenge travels in the signed `passkeyToken` and completes at most one
//! login. Every refusal but a lockout is the same 401 `INVALID_PASSKEY`, so
//! that the answer tells nothing about which credentials exist.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use mfa::http::ProblemDetails as Problem;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Secret, required};
use crate::login::SessionAnswer;
use crate::problem::Body;
use crate::webauthn;
use crate::{MfaHost, SessionState};

/// `{"publicKey", "passkeyToken"}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordlessOptions {
    /// Request options for `navigator.credentials.get()`, for any
    /// discoverable credential of this site (no user named).
    #[schema(schema_with = crate::schemas::request_options)]
    public_key: Value,
    /// Completes one login at `POST …/auth/passkey`, within 5 minutes.
    passkey_token: String,
}

/// `{passkeyToken, credential}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordlessLogin {
    #[schema(value_type = String, required = true)]
    passkey_token: Option<Secret>,
    /// The browser's answer, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(schema_with = crate::schemas::assertion_credential, required = true)]
    credential: Option<Value>,
}

/// Begins a passwordless login.
#[utoipa::path(post, path = "/auth/passkey/options", tag = "auth",
    responses(
        (status = 200, description = "The request options and the `passkeyToken`.", body = PasswordlessOptions),
    ))]
pub(crate) async fn passwordless_options<H: MfaHost>(
    State(host): State<H>,
) -> Result<Json<PasswordlessOptions>, crate::Problem> {
    let challenge = host.mfa().begin_passwordless()?;
    Ok(Json(PasswordlessOptions {
        public_key: webauthn::request_public_key(challenge.options())?,
        passkey_token: host.login_tokens().seal_passwordless(&challenge)?,
    }))
}

/// Logs in with a passkey alone: a session with a fresh passkey proof, as
/// after a full second step.
#[utoipa::path(post, path = "/auth/passkey", tag = "auth", request_body = PasswordlessLogin,
    responses(
        (status = 200, description = "A session with a fresh passkey proof.", body = SessionAnswer),
        (status = 400, description = "`VALIDATION_FAILED`: no `passkeyToken`, a `credential` that is not one, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_PASSKEY`: an unknown credential, a bad signature, another origin, no user verification, a used or expired `passkeyToken` — one answer for all.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`: the passkey's user is locked out after failed attempts.", body = Problem),
    ))]
pub(crate) async fn passwordless<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<PasswordlessLogin>,
) -> Result<Json<SessionAnswer>, crate::Problem> {
    let token = required(&body.passkey_token, "passkeyToken")?;
    let credential = webauthn::assertion(body.credential, "credential")?;
    let refused = || webauthn::refused_assertion(mfa::Error::InvalidPasskey);
    let challenge = host
        .login_tokens()
        .open_passwordless(token)
        .ok_or_else(refused)?;
    let (user_id, verified) = host
        .mfa()
        .complete_passwordless(&challenge, &credential)
        .await
        .map_err(|e| match e {
            e @ mfa::Error::LockedOut { .. } => e.into(),
            e if e.is_client_error() => refused(),
            e => e.into(),
        })?;
    let state = SessionState::proven(&user_id, verified.proof);
    Ok(Json(SessionAnswer {
        token: host.issue(&parts, state).await?,
    }))
}
