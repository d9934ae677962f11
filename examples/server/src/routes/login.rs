//! Accounts and the two steps of a login. The second step takes a TOTP
//! code, a backup code, or, when the user has passkeys, a passkey answering
//! the request options that the password step sent with the `mfaToken`
//! (whose signed challenge holds the WebAuthn state).
//!
//! A login's password is charged on the password lock before it is hashed
//! (`attempts.rs`): on the account's count, or, when the login presents a
//! remembered device's token that is valid for the account, on that
//! device's own count, so that strangers' wrong passwords do not lock the
//! owner out of a device they have used before.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mfa::http::VerifiedAnswer;
use mfa::{DeviceToken, FactorState, LoginChallenge, LoginStep};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{OneCode, SessionAnswer, password_is_right, required};
use crate::AppState;
use crate::attempts::LockKey;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::users::Secret;
use crate::webauthn;

/// `{email, password}` of a new account.
#[derive(Deserialize, ToSchema)]
pub(super) struct Registration {
    /// The account's email address.
    #[schema(value_type = String, format = "email", max_length = 254, required = true)]
    email: Option<String>,
    /// 8 to 1024 characters.
    #[schema(value_type = String, min_length = 8, max_length = 1024, required = true)]
    password: Option<Secret>,
}

/// `{email, password}`, and a remembered device's token if there is one.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Credentials {
    #[schema(value_type = String, format = "email", required = true)]
    email: Option<String>,
    #[schema(value_type = String, required = true)]
    password: Option<Secret>,
    /// A remembered device's token (a string). A token valid for this user
    /// skips the second step, and the attempt is charged on that device's
    /// own password count. Anything else, any other JSON value included, is
    /// ignored: the answer is the usual `mfaRequired` one.
    #[serde(default, deserialize_with = "crate::users::string_or_nothing")]
    #[schema(value_type = Option<Value>)]
    device_token: Option<Secret>,
}

/// The second step of a login: `{mfaToken, code}`, `{mfaToken, backupCode}`
/// or `{mfaToken, passkey}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct MfaLogin {
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
    #[schema(schema_with = crate::openapi::assertion_credential)]
    passkey: Option<Value>,
}

/// `{"id"}` of the new account.
#[derive(Serialize, ToSchema)]
pub(super) struct Created {
    /// 32 hex digits; the `{id}` of the operator routes.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    id: String,
}

/// MFA is on: `{"mfaRequired": true, "mfaToken"}`, for
/// `POST /api/auth/login/mfa`; with `"methods"` and `"passkeyOptions"` when
/// the user has passkeys.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct MfaRequired {
    #[schema(schema_with = crate::openapi::always_true)]
    mfa_required: bool,
    /// Good for one login, for 5 minutes, only at `POST /api/auth/login/mfa`.
    mfa_token: String,
    /// When the user has passkeys, what the second step accepts: `totp`
    /// (the app's code, when the user has one), `backupCode`, `passkey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::openapi::login_methods)]
    methods: Option<Vec<&'static str>>,
    /// `{"publicKey"}`: request options for `navigator.credentials.get()`
    /// allowing the user's passkeys. Only when the user has passkeys.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::openapi::public_key_request_options)]
    passkey_options: Option<Value>,
}

/// The answer to a right password: a session, or the second step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum LoginAnswer {
    Session(SessionAnswer),
    SecondFactor(MfaRequired),
}

/// A completed login: `{"token", "backupCodesRemaining"}`, `"deviceToken"`
/// when a device was to be remembered, and `"newBackupCode"` when the backup
/// code used was replaced.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct LoginMfaAnswer {
    /// A session with a fresh proof of the second factor.
    token: String,
    #[serde(flatten)]
    verified: VerifiedAnswer,
    /// Sent with the password, skips the second step on this device.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
}

fn email_of(email: Option<&str>) -> Result<String, ApiError> {
    let email = email.map(str::trim).unwrap_or_default();
    let plausible = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':');
    if !plausible {
        return Err(ApiError::validation("`email` must be an email address."));
    }
    Ok(email.to_lowercase())
}

/// Creates an account with MFA off.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = Registration,
    responses(
        (status = 201, description = "The account was created.", body = Created),
        (status = 400, description = "`VALIDATION_FAILED`: not an email, a password of fewer than 8 or more than 1024 characters, or a malformed body.", body = Problem),
        (status = 409, description = "`EMAIL_TAKEN`.", body = Problem),
    ))]
pub(super) async fn register(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<Registration>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let email = email_of(body.email.as_deref())?;
    let password = body
        .password
        .as_ref()
        .ok_or_else(|| ApiError::validation("`password` is required."))?;
    if !(8..=1024).contains(&password.expose().chars().count()) {
        return Err(ApiError::validation(
            "`password` must have 8 to 1024 characters.",
        ));
    }
    let hash = app.passwords.hash(password).await?;
    match app.users.create(&email, &hash).await? {
        Some(id) => Ok((StatusCode::CREATED, Json(Created { id }))),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "EMAIL_TAKEN",
            "Email taken",
            "An account with this email already exists.",
        )),
    }
}

/// The password step: a session when MFA is off (or with a remembered
/// device's token), otherwise an `mfaToken` for the second step.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "`{\"token\"}` (a session without a proof) when MFA is off or the device token is valid for the user; `{\"mfaRequired\": true, \"mfaToken\"}` otherwise, and when the user has passkeys also `\"methods\"` and `\"passkeyOptions\"`.", body = LoginAnswer),
        (status = 400, description = "`VALIDATION_FAILED`: no password, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_CREDENTIALS`: the email or the password is wrong.", body = Problem),
        (status = 429, description = "`TOO_MANY_ATTEMPTS`: too many wrong passwords for this account (for this remembered device, when `deviceToken` is valid for the account); the password was not checked. `Retry-After` says when to try again.", body = Problem),
    ))]
pub(super) async fn login(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Json<LoginAnswer>, ApiError> {
    let email = body
        .email
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_lowercase();
    let password = body
        .password
        .as_ref()
        .ok_or_else(|| ApiError::validation("`password` is required."))?;
    let user = app.users.by_email(&email).await?;
    // A device token is judged before the password, to pick the count the
    // attempt is charged on; for an unknown email a record is loaded all
    // the same (none exists), so that it costs what a known one does.
    let device_token = body.device_token.as_ref().map(Secret::expose);
    let record = match device_token {
        Some(_) => Some(
            app.mfa
                .load(user.as_ref().map_or(NO_USER, |u| u.id.as_str()))
                .await?,
        ),
        None => None,
    };
    let now = app.mfa.now();
    let remembered = match (&user, &record, device_token) {
        (Some(_), Some(record), Some(token)) => record.is_remembered_device(token, now),
        _ => false,
    };
    let key = match device_token {
        Some(token) if remembered => LockKey::device(&email, token),
        _ => LockKey::account(&email),
    };
    let right = password_is_right(&app, &key, password, user.as_ref()).await?;
    let Some(user) = user.filter(|_| right) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
            "The email or password is wrong.",
        ));
    };
    // The record as it stands after the hash, through the service, which
    // reports a remembered device that logs in during a code lockout.
    let step = app.mfa.begin_login(&user.id, device_token).await?;
    match step {
        LoginStep::SecondFactor(challenge) => Ok(Json(LoginAnswer::SecondFactor(
            second_step(&app, challenge).await?,
        ))),
        // MFA off, or a remembered device: a session without a proof.
        LoginStep::Complete(epoch) | LoginStep::RememberedDevice(epoch) => {
            Ok(Json(LoginAnswer::Session(SessionAnswer {
                token: app.tokens.session(&user.id, epoch, None)?,
            })))
        }
        _ => Err(ApiError::internal("an unknown login step")),
    }
}

/// The second step's answer: the `mfaToken`, and when the user has
/// passkeys what the step accepts and the passkey request options.
async fn second_step(app: &AppState, challenge: LoginChallenge) -> Result<MfaRequired, ApiError> {
    let (mut methods, mut passkey_options) = (None, None);
    if let Some(options) = challenge.passkey_options() {
        let mut options = webauthn::options(options)?;
        passkey_options = Some(serde_json::json!({ "publicKey": options["publicKey"].take() }));
        // Only reads: a password login writes nothing before the second step.
        let record = app.mfa.load(challenge.user_id()).await?;
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
        mfa_token: app.tokens.mfa_login(challenge)?,
        methods,
        passkey_options,
    })
}

/// A user id that no account has (ids are 32 hex digits).
const NO_USER: &str = "-";

/// The second step of a login, with a TOTP code, a backup code or a passkey.
#[utoipa::path(post, path = "/api/auth/login/mfa", tag = "auth", request_body = MfaLogin,
    responses(
        (status = 200, description = "A session with a fresh proof, the backup codes left, a `deviceToken` when `rememberDevice` was `true`, and `newBackupCode` when the backup code used was replaced by a new one (`--policy nist-aal2`), shown this once.", body = LoginMfaAnswer),
        (status = 400, description = "`VALIDATION_FAILED`: no `mfaToken`, not exactly one of `code`, `backupCode` and `passkey`, a `passkey` that is not a credential, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_CODE` (wrong, reused, malformed or unknown code); `INVALID_PASSKEY` (a passkey the login's options do not allow, a bad signature, another origin, no user verification, a replayed assertion; counted like a wrong code); `INVALID_MFA_TOKEN` (used, expired, or from before a change to MFA).", body = Problem),
        (status = 429, description = "`LOCKED_OUT`: too many failed codes or passkeys; `Retry-After` says when to try again (absent once only an operator can unlock).", body = Problem),
    ))]
pub(super) async fn login_mfa(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<MfaLogin>,
) -> Result<Json<LoginMfaAnswer>, ApiError> {
    let challenge = app
        .tokens
        .verify_mfa_login(required(&body.mfa_token, "mfaToken")?)?;
    let verified = match body.passkey {
        Some(_) if body.code.is_given() => {
            return Err(ApiError::validation(
                "Give exactly one of `code`, `backupCode` and `passkey`.",
            ));
        }
        Some(credential) => {
            let credential = webauthn::assertion(Some(credential), "passkey")?;
            if !challenge.accepts_passkey() {
                // The user had no passkey when the login began.
                let refused = ApiError::from(mfa::Error::InvalidPasskey);
                return Err(refused.passkey_is_unauthorized());
            }
            app.mfa
                .complete_login_with_passkey(&challenge, &credential)
                .await
                .map_err(|e| ApiError::from(e).passkey_is_unauthorized())?
        }
        None => {
            let code = body.code.get(app.mfa.context().policy().totp.digits)?;
            app.mfa
                .complete_login(&challenge, code)
                .await
                .map_err(|e| ApiError::from(e).code_is_unauthorized())?
        }
    };
    let user_id = challenge.user_id();
    let mut answer = LoginMfaAnswer {
        token: app.tokens.proven_session(user_id, verified.proof)?,
        verified: VerifiedAnswer::from(&verified),
        device_token: None,
    };
    if body.remember_device == Some(true)
        && let Some(device) = remember(&app, user_id, &verified.proof).await
    {
        answer.device_token = Some(device.as_str().to_owned());
    }
    Ok(Json(answer))
}

/// A device token on the proof of the login just completed. The login has
/// used its code either way, so a failure here does not undo it: the answer
/// then has no `deviceToken` (and a failure of the server's own is logged).
async fn remember(app: &AppState, user_id: &str, proof: &mfa::Proof) -> Option<DeviceToken> {
    match app.mfa.remember_device(user_id, proof).await {
        Ok(device) => Some(device),
        Err(e) => {
            if !e.is_client_error() {
                tracing::warn!("a device could not be remembered: {e}");
            }
            None
        }
    }
}
