//! The login's first step, after the application has checked the password.

use axum::Json;
use axum::http::request::Parts;
use mfa::{FactorState, LoginStep};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::Problem;
use crate::{MfaHost, SessionState};

/// The answer of the password step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    /// MFA is off, or the device is remembered: a session without a proof.
    Session {
        /// The session's token (absent where sessions are cookies).
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// The second step is next.
    #[serde(rename_all = "camelCase")]
    MfaRequired {
        /// Always `true`.
        mfa_required: bool,
        /// Completes the login at `POST /auth/login/mfa`, once.
        mfa_token: String,
        /// What the second step accepts: `totp` (with an app), `backupCode`,
        /// `passkey` (with passkeys).
        methods: Vec<&'static str>,
        /// With passkeys, `{publicKey}`: the request options for
        /// `navigator.credentials.get()`.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        passkey_options: Option<serde_json::Value>,
    },
}

/// What the password step answers once the application has found the
/// password right for `user_id`: a session (issued through
/// [`MfaHost::issue`]) for a user without a factor or from a remembered
/// device (`device_token`, the `deviceToken` the client sent), else
/// `{mfaRequired, mfaToken, methods}` for the second step.
///
/// # Errors
/// The store's errors, as problems.
pub async fn after_password<H: MfaHost>(
    host: &H,
    parts: &Parts,
    user_id: &str,
    device_token: Option<&str>,
) -> Result<Json<LoginAnswer>, Problem> {
    match host.mfa().begin_login(user_id, device_token).await? {
        LoginStep::SecondFactor(challenge) => {
            // Only reads: nothing is written before the second step.
            let record = host.mfa().load(user_id).await?;
            let has_app =
                matches!(record.factor(), FactorState::Active(set) if set.app().is_some());
            let passkey_options = challenge
                .passkey_options()
                .map(crate::passkeys::options_json);
            let methods = has_app
                .then_some("totp")
                .into_iter()
                .chain(["backupCode"])
                .chain(passkey_options.is_some().then_some("passkey"))
                .collect();
            Ok(Json(LoginAnswer::MfaRequired {
                mfa_required: true,
                mfa_token: host.login_tokens().seal(&challenge)?,
                methods,
                passkey_options,
            }))
        }
        LoginStep::Complete(epoch) | LoginStep::RememberedDevice(epoch) => {
            let token = host
                .issue(parts, SessionState::new(user_id, epoch, None))
                .await?;
            Ok(Json(LoginAnswer::Session { token }))
        }
        _ => Err(Problem::internal("an unknown login step")),
    }
}
