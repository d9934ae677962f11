//! The two steps of a login: what the password step answers once the
//! application has checked the password ([`after_password`]), and the
//! second step, `POST /auth/login/mfa` of [`router`](crate::router), with a
//! TOTP code, a backup code or, when the user has passkeys, a passkey
//! answering the request options the password step sent with the
//! `mfaToken` (whose signed challenge holds the WebAuthn state).

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use mfa::http::{ProblemDetails, VerifiedAnswer};
use mfa::{FactorState, LoginChallenge, LoginStep};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::problem::{Body, Problem};
use crate::routes::{OneCode, Secret, not_exactly_one, required};
use crate::webauthn;
use crate::{MfaHost, SessionState};

/// A session: `{"token"}`.
#[derive(Debug, Serialize, ToSchema)]
#[non_exhaustive]
pub struct SessionAnswer {
    /// The session's token; absent where sessions are cookies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// MFA is on: `{"mfaRequired": true, "mfaToken"}`, for
/// `POST …/auth/login/mfa`; with `"methods"` and `"passkeyOptions"` when
/// the user has passkeys.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaRequired {
    #[schema(schema_with = crate::schemas::always_true)]
    mfa_required: bool,
    /// Good for one login, for 5 minutes, only at `POST …/auth/login/mfa`.
    mfa_token: String,
    /// When the user has passkeys, what the second step accepts: `totp`
    /// (the app's code, when the user has one), `backupCode`, `passkey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schemas::login_methods)]
    methods: Option<Vec<&'static str>>,
    /// `{"publicKey"}`: request options for `navigator.credentials.get()`
    /// allowing the user's passkeys. Only when the user has passkeys.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schemas::public_key_request_options)]
    passkey_options: Option<Value>,
}

/// The answer to a right password: a session (`{"token"}`, without a
/// token where sessions are cookies), or the second step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    /// MFA is off, or the device is remembered: a session without a proof.
    Session(#[schema(inline)] SessionAnswer),
    /// The second step is next.
    SecondFactor(MfaRequired),
}

/// What the password step answers once the application has found the
/// password right for `user_id`: a session (issued through
/// [`MfaHost::issue`]) for a user without a factor or from a remembered
/// device (`device_token`, the `deviceToken` the client sent), else
/// `{mfaRequired, mfaToken}` for the second step.
///
/// # Errors
/// The store's errors, as problems.
pub async fn after_password<H: MfaHost>(
    host: &H,
    parts: &Parts,
    user_id: &str,
    device_token: Option<&str>,
) -> Result<Json<LoginAnswer>, Problem> {
    // The record as it stands after the password's hash, through the
    // service, which reports a remembered device that logs in during a
    // code lockout.
    match host.mfa().begin_login(user_id, device_token).await? {
        LoginStep::SecondFactor(challenge) => Ok(Json(LoginAnswer::SecondFactor(
            second_step(host, challenge).await?,
        ))),
        // MFA off, or a remembered device: a session without a proof.
        LoginStep::Complete(epoch) | LoginStep::RememberedDevice(epoch) => {
            let state = SessionState::new(user_id, epoch, None);
            Ok(Json(LoginAnswer::Session(SessionAnswer {
                token: host.issue(parts, state).await?,
            })))
        }
        _ => Err(Problem::internal("an unknown login step")),
    }
}

/// The second step's answer: the `mfaToken`, and when the user has
/// passkeys what the step accepts and the passkey request options.
async fn second_step<H: MfaHost>(
    host: &H,
    challenge: LoginChallenge,
) -> Result<MfaRequired, Problem> {
    let (mut methods, mut passkey_options) = (None, None);
    if let Some(options) = challenge.passkey_options() {
        let public_key = webauthn::public_key(options)?;
        passkey_options = Some(serde_json::json!({ "publicKey": public_key }));
        // Only reads: a password login writes nothing before the second step.
        let record = host.mfa().load(challenge.user_id()).await?;
        let has_app = matches!(record.factor(), FactorState::Active(set) if set.app().is_some());
        let app_code = has_app.then_some("totp");
        methods = Some(
            app_code
                .into_iter()
                .chain(["backupCode", "passkey"])
                .collect(),
        );
    }
    Ok(MfaRequired {
        mfa_required: true,
        mfa_token: host.login_tokens().seal(&challenge)?,
        methods,
        passkey_options,
    })
}

/// The second step of a login: `{mfaToken, code}`, `{mfaToken, backupCode}`
/// or `{mfaToken, passkey}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MfaLogin {
    /// The `mfaToken` that the password step answered.
    #[schema(value_type = String, required = true)]
    mfa_token: Option<Secret>,
    /// `true` asks for a `deviceToken` beside the session.
    remember_device: Option<bool>,
    #[serde(flatten)]
    code: OneCode,
    /// The browser's answer to the `passkeyOptions` of the password step, as
    /// `PublicKeyCredential.toJSON()` gives it. Give this, `code` or
    /// `backupCode`.
    #[schema(schema_with = crate::schemas::assertion_credential)]
    passkey: Option<Value>,
}

/// A completed login: `{"token", "backupCodesRemaining"}`, `"deviceToken"`
/// when a device was to be remembered, and `"newBackupCode"` when the backup
/// code used was replaced.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginMfaAnswer {
    /// A session with a fresh proof of the second factor; absent where
    /// sessions are cookies.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(flatten)]
    verified: VerifiedAnswer,
    /// Sent with the password, skips the second step on this device.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
}

/// The second step of a login, with a TOTP code, a backup code or a passkey.
#[utoipa::path(post, path = "/auth/login/mfa", tag = "auth", request_body = MfaLogin,
    responses(
        (status = 200, description = "A session with a fresh proof, the backup codes left, a `deviceToken` when `rememberDevice` was `true`, and `newBackupCode` when the backup code used was replaced by a new one (under a policy that replaces them), shown this once.", body = LoginMfaAnswer),
        (status = 400, description = "`VALIDATION_FAILED`: no `mfaToken`, not exactly one of `code`, `backupCode` and `passkey`, a `passkey` that is not a credential, or a malformed body.", body = ProblemDetails),
        (status = 401, description = "`INVALID_CODE` (wrong, reused, malformed or unknown code); `INVALID_PASSKEY` (a passkey the login's options do not allow, a bad signature, another origin, no user verification, a replayed assertion; counted like a wrong code); `INVALID_MFA_TOKEN` (used, expired, or from before a change to MFA).", body = ProblemDetails),
        (status = 429, description = "`LOCKED_OUT`: too many failed codes or passkeys; `Retry-After` says when to try again (absent once only an operator can unlock).", body = ProblemDetails),
    ))]
pub(crate) async fn login_mfa<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<MfaLogin>,
) -> Result<Json<LoginMfaAnswer>, Problem> {
    let token = required(&body.mfa_token, "mfaToken")?;
    let challenge = host
        .login_tokens()
        .open(token)
        .ok_or(mfa::Error::InvalidChallenge)?;
    let verified = match body.passkey {
        Some(_) if body.code.is_given() => return Err(not_exactly_one()),
        Some(credential) => {
            let credential = webauthn::assertion(Some(credential), "passkey")?;
            if !challenge.accepts_passkey() {
                // The user had no passkey when the login began.
                return Err(webauthn::refused_assertion(mfa::Error::InvalidPasskey));
            }
            host.mfa()
                .complete_login_with_passkey(&challenge, &credential)
                .await
                .map_err(|e| match e {
                    // A used or outdated challenge, as with a code.
                    mfa::Error::InvalidChallenge => Problem::from(e),
                    e => webauthn::refused_assertion(e),
                })?
        }
        None => {
            let code = body.code.get(host.mfa().context().policy().totp.digits)?;
            host.mfa()
                .complete_login(&challenge, code)
                .await
                .map_err(|e| Problem::from(e).at_login_step())?
        }
    };
    let user_id = challenge.user_id();
    // The login has used its code either way, so a failure to remember the
    // device does not undo it: the answer then has no `deviceToken`.
    let device_token = match body.remember_device {
        Some(true) => match host.mfa().remember_device(user_id, &verified.proof).await {
            Ok(device) => Some(device.as_str().to_owned()),
            Err(e) => {
                if !e.is_client_error() {
                    tracing::warn!("a device could not be remembered: {e}");
                }
                None
            }
        },
        _ => None,
    };
    let state = SessionState::proven(user_id, verified.proof);
    Ok(Json(LoginMfaAnswer {
        token: host.issue(&parts, state).await?,
        verified: VerifiedAnswer::from(&verified),
        device_token,
    }))
}
