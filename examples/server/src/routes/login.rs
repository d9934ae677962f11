//! Accounts and the password step of a login; what the step answers once
//! the password is right (a session, or the `mfaToken` of the second step,
//! which `mfa-axum` serves) is `mfa_axum::login::after_password`.
//!
//! A login's password is charged on the password lock before it is hashed
//! (`attempts.rs`): on the account's count, or, when the login presents a
//! remembered device's token that is valid for the account, on that
//! device's own count, so that strangers' wrong passwords do not lock the
//! owner out of a device they have used before.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use mfa_axum::Body as JsonBody;
use mfa_axum::login::LoginAnswer;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::password_is_right;
use crate::AppState;
use crate::attempts::LockKey;
use crate::error::{ApiError, Problem as ProblemSchema};
use crate::users::Secret;
use mfa_axum::Problem;

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
    #[schema(value_type = Option<serde_json::Value>)]
    device_token: Option<Secret>,
}

/// `{"id"}` of the new account.
#[derive(Serialize, ToSchema)]
pub(super) struct Created {
    /// 32 hex digits; the `{id}` of the operator routes.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    id: String,
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
        (status = 400, description = "`VALIDATION_FAILED`: not an email, a password of fewer than 8 or more than 1024 characters, or a malformed body.", body = ProblemSchema),
        (status = 409, description = "`EMAIL_TAKEN`.", body = ProblemSchema),
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
        (status = 400, description = "`VALIDATION_FAILED`: no password, or a malformed body.", body = ProblemSchema),
        (status = 401, description = "`INVALID_CREDENTIALS`: the email or the password is wrong.", body = ProblemSchema),
        (status = 429, description = "`TOO_MANY_ATTEMPTS`: too many wrong passwords for this account (for this remembered device, when `deviceToken` is valid for the account); the password was not checked. `Retry-After` says when to try again.", body = ProblemSchema),
    ))]
pub(super) async fn login(
    State(app): State<AppState>,
    parts: Parts,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Json<LoginAnswer>, Problem> {
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
        return Err(Problem::from(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
            "The email or password is wrong.",
        )));
    };
    mfa_axum::login::after_password(&app, &parts, &user.id, device_token).await
}

/// A user id that no account has (ids are 32 hex digits).
const NO_USER: &str = "-";
