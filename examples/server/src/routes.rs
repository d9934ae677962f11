//! The routes of the HTTP contract (the README's "The example server"). Each MFA handler is a few lines over `mfa::Mfa`.
//!
//! Sessions (`auth.rs`) are checked against the user's security epoch on
//! every request; the routes that change the factor with a code (confirm,
//! replace/confirm, disable), the login's second step and step-up answer a
//! new session with a fresh proof; regeneration, beginning a replacement and
//! forgetting remembered devices, which take no code, need a recent proof.
//! A login with the password and a remembered device's token answers a
//! session without a proof; any other device token is ignored. The operator
//! routes exist only with `MFA_ADMIN_TOKEN`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use mfa::backup::SubmittedBackupCode;
use mfa::totp::TotpCode;
use mfa::{DeviceToken, LoginStep, Reauth, error::CodeFormatError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Operator, Session};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::users::Secret;

pub fn router(app: AppState) -> Router {
    // Without MFA_ADMIN_TOKEN the operator routes do not exist: 404 whatever
    // the method.
    let operators = match app.admin_token {
        Some(_) => Router::new()
            .route("/api/admin/users/{id}/mfa/unlock", post(operator_unlock))
            .route("/api/admin/users/{id}/mfa/reset", post(operator_reset)),
        None => Router::new(),
    };
    Router::new()
        .merge(operators)
        .route("/health", get(health))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/login/mfa", post(login_mfa))
        .route("/api/user/me/totp", get(status))
        .route("/api/user/me/totp/setup", post(setup))
        .route("/api/user/me/totp/confirm", post(confirm))
        .route(
            "/api/user/me/totp/backup-codes/regenerate",
            post(regenerate),
        )
        .route(
            "/api/user/profile/mfa/backup-codes",
            post(regenerate_strict),
        )
        .route("/api/user/me/totp/disable", post(disable))
        .route("/api/user/me/totp/replace", post(replace))
        .route(
            "/api/user/me/totp/replace/confirm",
            post(confirm_replacement),
        )
        .route("/api/user/me/devices/forget", post(forget_devices))
        .route("/api/auth/step-up", post(step_up))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(app)
}

type Answer = Result<Json<Value>, ApiError>;

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    email: Option<String>,
    password: Option<Secret>,
    /// A remembered device's token (login only). Anything but a string
    /// counts as no token, so that no answer tells token shapes apart.
    #[serde(default, deserialize_with = "crate::users::string_or_nothing")]
    device_token: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MfaLogin {
    mfa_token: Option<Secret>,
    /// `true` asks for a `deviceToken` beside the session.
    remember_device: Option<bool>,
    #[serde(flatten)]
    code: OneCode,
}

/// `{code}` (TOTP) or `{backupCode}`: exactly one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OneCode {
    code: Option<Secret>,
    backup_code: Option<Secret>,
}

impl OneCode {
    /// The code, shaped like the field it came in: a TOTP code of 6 to 8
    /// digits in `code`, anything but a TOTP code of `digits` digits in
    /// `backupCode` (otherwise
    /// 401 `INVALID_CODE`, not counted). A backup code's own shape is the
    /// crate's to check against the user's set: the crate's codes, or those
    /// of an imported set (which keep their source's shape).
    fn get(&self, digits: u8) -> Result<&str, ApiError> {
        let shaped = match (&self.code, &self.backup_code) {
            // 6 to 8 digits: an imported factor keeps its own length, which
            // the crate checks.
            (Some(code), None) if (6..=8).any(|d| TotpCode::parse(code.expose(), d).is_ok()) => {
                Ok(code)
            }
            (Some(code), None) => TotpCode::parse(code.expose(), digits).map(|_| code),
            (None, Some(code)) => match TotpCode::parse(code.expose(), digits) {
                Ok(_) => SubmittedBackupCode::parse(code.expose()).map(|_| code),
                Err(_) => Ok(code),
            },
            _ => {
                return Err(ApiError::validation(
                    "Give exactly one of `code` and `backupCode`.",
                ));
            }
        };
        shaped
            .map(Secret::expose)
            .map_err(|e| ApiError::from(mfa::Error::from(e)).code_is_unauthorized())
    }
}

#[derive(Deserialize)]
struct Reason {
    reason: Option<String>,
}

impl Reason {
    /// The operator's reason: one line of at most 512 bytes that says something.
    fn get(&self) -> Result<&str, ApiError> {
        self.reason
            .as_deref()
            .filter(|r| !r.trim().is_empty() && r.len() <= 512 && !r.chars().any(char::is_control))
            .ok_or_else(|| {
                ApiError::validation("`reason` is required: one line of at most 512 bytes.")
            })
    }
}

#[derive(Deserialize)]
struct Code {
    code: Option<Secret>,
}

impl Code {
    /// The code; a missing one is `INVALID_CODE`, as an empty one would be.
    fn get(&self) -> Result<&str, mfa::Error> {
        self.code
            .as_ref()
            .map(Secret::expose)
            .ok_or(mfa::Error::MalformedCode(CodeFormatError::Empty))
    }
}

#[derive(Deserialize)]
struct PasswordAndCode {
    password: Option<Secret>,
    code: Option<Secret>,
}

fn required<'a>(field: &'a Option<Secret>, name: &str) -> Result<&'a str, ApiError> {
    field
        .as_ref()
        .map(Secret::expose)
        .ok_or_else(|| ApiError::validation(format!("`{name}` is required.")))
}

fn email_of(body: &Credentials) -> Result<String, ApiError> {
    let email = body.email.as_deref().map(str::trim).unwrap_or_default();
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

async fn register(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = email_of(&body)?;
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
        Some(id) => Ok((StatusCode::CREATED, Json(json!({"id": id})))),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "EMAIL_TAKEN",
            "Email taken",
            "An account with this email already exists.",
        )),
    }
}

async fn login(State(app): State<AppState>, JsonBody(body): JsonBody<Credentials>) -> Answer {
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
    let attempt = app.attempts.check(&email).await?;
    let user = app.users.by_email(&email).await?;
    let verified = app.passwords.verify(password, user.as_ref()).await?;
    app.attempts.record(attempt, verified).await?;
    let Some(user) = user.filter(|_| verified) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
            "The email or password is wrong.",
        ));
    };
    let device_token = body.device_token.as_ref().map(Secret::expose);
    match app.mfa.begin_login(&user.id, device_token).await? {
        LoginStep::SecondFactor(challenge) => Ok(Json(
            json!({"mfaRequired": true, "mfaToken": app.tokens.mfa_login(challenge)?}),
        )),
        // MFA off, or a remembered device: a session without a proof.
        LoginStep::Complete(epoch) | LoginStep::RememberedDevice(epoch) => Ok(Json(
            json!({"token": app.tokens.session(&user.id, epoch, None)?}),
        )),
        _ => Err(ApiError::internal("an unknown login step")),
    }
}

async fn login_mfa(State(app): State<AppState>, JsonBody(body): JsonBody<MfaLogin>) -> Answer {
    let challenge = app
        .tokens
        .verify_mfa_login(required(&body.mfa_token, "mfaToken")?)?;
    let code = body.code.get(app.mfa.context().policy().totp.digits)?;
    let verified = app
        .mfa
        .complete_login(&challenge, code)
        .await
        .map_err(|e| ApiError::from(e).code_is_unauthorized())?;
    let user_id = challenge.user_id();
    let mut answer = json!({
        "token": app.tokens.proven_session(user_id, verified.proof)?,
        "backupCodesRemaining": verified.backup_codes_remaining,
    });
    if body.remember_device == Some(true)
        && let Some(device) = remember(&app, user_id, &verified.proof).await
    {
        answer["deviceToken"] = device.as_str().into();
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
                eprintln!("warning: a device could not be remembered: {e}");
            }
            None
        }
    }
}

/// A fresh proof for the session: a current TOTP code or a backup code.
async fn step_up(
    State(app): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<OneCode>,
) -> Answer {
    let user_id = &session.user.id;
    let code = body.get(app.mfa.context().policy().totp.digits)?;
    let verified = app
        .mfa
        .verify(user_id, code)
        .await
        .map_err(|e| ApiError::from(e).code_is_unauthorized())?;
    Ok(Json(
        json!({"token": app.tokens.proven_session(user_id, verified.proof)?}),
    ))
}

async fn status(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<mfa::MfaStatus>, ApiError> {
    Ok(Json(app.mfa.status(&session.user.id).await?))
}

async fn setup(State(app): State<AppState>, Session { user, .. }: Session) -> Answer {
    setup_answer(&app.mfa.begin_setup(&user.id, &user.email).await?)
}

async fn confirm(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<Code>,
) -> Answer {
    let code = body.get()?;
    let enabled = app.mfa.confirm_setup(&user.id, code).await?;
    Ok(Json(json!({
        "success": true,
        "backupCodes": enabled.backup_codes.as_strs(),
        "token": app.tokens.proven_session(&user.id, enabled.proof)?,
    })))
}

/// Needs a session whose proof is within the step-up window.
async fn regenerate(State(app): State<AppState>, session: Session) -> Answer {
    let proof = session.proof()?;
    let codes = app
        .mfa
        .regenerate_backup_codes(&session.user.id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(
        json!({"success": true, "backupCodes": codes.as_strs()}),
    ))
}

/// Begins replacing the authenticator: a new secret pending beside the
/// active one. Needs a session whose proof is within the step-up window.
async fn replace(State(app): State<AppState>, session: Session) -> Answer {
    let proof = session.proof()?;
    let (id, email) = (&session.user.id, &session.user.email);
    let setup = app
        .mfa
        .begin_replacement(id, email, Reauth::RecentProof(&proof))
        .await?;
    setup_answer(&setup)
}

/// What the user's new authenticator app needs, at setup and replacement.
fn setup_answer(setup: &mfa::TotpSetup) -> Answer {
    Ok(Json(json!({
        "otpauthUrl": setup.otpauth_uri(),
        "secret": setup.secret_base32(),
        "qrCode": setup.qr_data_uri()?.as_str(),
    })))
}

/// Swaps in the pending secret with a code of the new app; every earlier
/// session and `mfaToken` is revoked, the answer's token is the one that works.
async fn confirm_replacement(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<Code>,
) -> Answer {
    let code = body.get()?;
    let proof = app.mfa.confirm_replacement(&user.id, code).await?;
    let token = app.tokens.proven_session(&user.id, proof)?;
    Ok(Json(json!({"success": true, "token": token})))
}

/// Forgets every remembered device. Needs a session whose proof is within
/// the step-up window.
async fn forget_devices(State(app): State<AppState>, session: Session) -> Answer {
    let proof = session.proof()?;
    app.mfa
        .forget_devices(&session.user.id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(json!({"success": true})))
}

/// Checks `password` before anything looks at the code, so that a wrong
/// password neither consumes nor counts the code; a wrong password counts
/// toward the account's password lock (`attempts.rs`), and a locked account
/// gets 429 `TOO_MANY_ATTEMPTS` without its password being checked.
async fn reauthenticate<'a>(
    app: &AppState,
    user: &crate::users::User,
    body: &'a PasswordAndCode,
) -> Result<&'a str, ApiError> {
    let password = body
        .password
        .as_ref()
        .ok_or_else(|| ApiError::validation("`password` is required."))?;
    let code = required(&body.code, "code")?;
    let attempt = app.attempts.check(&user.email).await?;
    let verified = app.passwords.verify(password, Some(user)).await?;
    app.attempts.record(attempt, verified).await?;
    if !verified {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PASSWORD",
            "Invalid password",
            "The password is wrong.",
        ));
    }
    Ok(code)
}

async fn regenerate_strict(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<PasswordAndCode>,
) -> Answer {
    let code = reauthenticate(&app, &user, &body).await?;
    let codes = app
        .mfa
        .regenerate_backup_codes(&user.id, Reauth::TotpCode(code))
        .await?;
    Ok(Json(json!({"backup_codes": codes.as_strs()})))
}

async fn disable(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<PasswordAndCode>,
) -> Answer {
    let code = reauthenticate(&app, &user, &body).await?;
    let proof = app.mfa.disable(&user.id, code).await?;
    let token = app.tokens.proven_session(&user.id, proof)?;
    Ok(Json(json!({"success": true, "token": token})))
}

/// The account `id` names, or 404 `NOT_FOUND`. Ids are what register
/// returns (32 hex digits); anything else (an undecodable path segment
/// included) is no user, and is not looked up.
async fn known_user(
    app: &AppState,
    id: Result<Path<String>, PathRejection>,
) -> Result<crate::users::User, ApiError> {
    let user = match id {
        Ok(Path(id)) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
            app.users.by_id(&id).await?
        }
        _ => None,
    };
    user.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Not found",
            "No user has this id.",
        )
    })
}

/// Clears the user's lockout, the hard stop included.
async fn operator_unlock(
    State(app): State<AppState>,
    _: Operator,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Reason>,
) -> Answer {
    let (reason, user) = (body.get()?, known_user(&app, id).await?);
    app.mfa
        .operator_unlock(&user.id, Operator::ACTOR, reason)
        .await?;
    Ok(Json(json!({"success": true})))
}

/// Deletes the user's factor and codes and revokes every session and `mfaToken`.
async fn operator_reset(
    State(app): State<AppState>,
    _: Operator,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Reason>,
) -> Answer {
    let (reason, user) = (body.get()?, known_user(&app, id).await?);
    app.mfa
        .operator_reset(&user.id, Operator::ACTOR, reason)
        .await?;
    Ok(Json(json!({"success": true})))
}
