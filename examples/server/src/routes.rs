//! The routes of the HTTP contract (the README's "The example server"). Each MFA handler is a few lines over `mfa::Mfa`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use mfa::{Reauth, error::CodeFormatError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Session;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::users::Secret;

pub fn router(app: AppState) -> Router {
    Router::new()
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
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(app)
}

type Answer = Result<Json<Value>, ApiError>;

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Deserialize)]
struct Credentials {
    email: Option<String>,
    password: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MfaLogin {
    mfa_token: Option<Secret>,
    code: Option<Secret>,
    backup_code: Option<Secret>,
}

#[derive(Deserialize)]
struct Code {
    code: Option<Secret>,
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
    let user = app.users.by_email(&email).await?;
    let verified = app.passwords.verify(password, user.as_ref()).await?;
    let Some(user) = user.filter(|_| verified) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
            "The email or password is wrong.",
        ));
    };
    if app.mfa.status(&user.id).await?.mfa_enabled {
        Ok(Json(
            json!({"mfaRequired": true, "mfaToken": app.tokens.mfa_login(&user.id)?}),
        ))
    } else {
        Ok(Json(json!({"token": app.tokens.session(&user.id)?})))
    }
}

async fn login_mfa(State(app): State<AppState>, JsonBody(body): JsonBody<MfaLogin>) -> Answer {
    let user_id = app
        .tokens
        .verify_mfa_login(required(&body.mfa_token, "mfaToken")?)?;
    let verified = match (&body.code, &body.backup_code) {
        (Some(code), None) => app.mfa.verify_totp(&user_id, code.expose()).await,
        (None, Some(code)) => app.mfa.verify_backup_code(&user_id, code.expose()).await,
        _ => {
            return Err(ApiError::validation(
                "Give exactly one of `code` and `backupCode`.",
            ));
        }
    }
    .map_err(|e| ApiError::from(e).code_is_unauthorized())?;
    Ok(Json(json!({
        "token": app.tokens.session(&user_id)?,
        "backupCodesRemaining": verified.backup_codes_remaining,
    })))
}

async fn status(
    State(app): State<AppState>,
    Session(user): Session,
) -> Result<Json<mfa::MfaStatus>, ApiError> {
    Ok(Json(app.mfa.status(&user.id).await?))
}

async fn setup(State(app): State<AppState>, Session(user): Session) -> Answer {
    let setup = app.mfa.begin_setup(&user.id, &user.email).await?;
    Ok(Json(json!({
        "otpauthUrl": setup.otpauth_uri(),
        "secret": setup.secret_base32(),
        "qrCode": setup.qr_data_uri()?.as_str(),
    })))
}

async fn confirm(
    State(app): State<AppState>,
    Session(user): Session,
    JsonBody(body): JsonBody<Code>,
) -> Answer {
    let code = body
        .code
        .as_ref()
        .ok_or(mfa::Error::MalformedCode(CodeFormatError::Empty))?;
    let codes = app.mfa.confirm_setup(&user.id, code.expose()).await?;
    Ok(Json(
        json!({"success": true, "backupCodes": codes.as_strs()}),
    ))
}

async fn regenerate(State(app): State<AppState>, Session(user): Session) -> Answer {
    let codes = app
        .mfa
        .regenerate_backup_codes(&user.id, Reauth::SessionOnly)
        .await?;
    Ok(Json(
        json!({"success": true, "backupCodes": codes.as_strs()}),
    ))
}

/// Checks `password` before anything looks at the code, so that a wrong
/// password neither consumes nor counts the code.
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
    if !app.passwords.verify(password, Some(user)).await? {
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
    Session(user): Session,
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
    Session(user): Session,
    JsonBody(body): JsonBody<PasswordAndCode>,
) -> Answer {
    let code = reauthenticate(&app, &user, &body).await?;
    app.mfa.disable(&user.id, code).await?;
    Ok(Json(json!({"success": true})))
}
