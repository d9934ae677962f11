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

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json, Router};
use mfa::http::{BackupCodesAnswer, SetupAnswer, VerifiedAnswer};
use mfa::{DeviceToken, LoginStep, Reauth, error::CodeFormatError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Operator, Session};
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::openapi::Docs;
use crate::users::Secret;

/// Every route, each with its description (`#[utoipa::path]`): the one
/// list that both the router and the OpenAPI document come from, so that
/// neither has a route the other lacks. `GET /openapi.json` serves the
/// document and `GET /docs` a page made from it.
pub fn router(app: AppState) -> Router {
    let routes = OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(health))
        .routes(routes!(openapi_json))
        .routes(routes!(docs))
        .routes(routes!(crate::page::index))
        .routes(routes!(crate::page::script))
        .routes(routes!(crate::page::style))
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(login_mfa))
        .routes(routes!(step_up))
        .routes(routes!(status))
        .routes(routes!(setup))
        .routes(routes!(confirm))
        .routes(routes!(regenerate))
        .routes(routes!(regenerate_strict))
        .routes(routes!(disable))
        .routes(routes!(replace))
        .routes(routes!(confirm_replacement))
        .routes(routes!(forget_devices));
    // Without MFA_ADMIN_TOKEN the operator routes do not exist, in the
    // router or the document: 404 whatever the method.
    let routes = match app.admin_token {
        Some(_) => routes
            .routes(routes!(operator_unlock))
            .routes(routes!(operator_reset)),
        None => routes,
    };
    let (routes, document) = routes.split_for_parts();
    let docs = Arc::new(Docs::new(crate::openapi::finish(document)));
    // The benchmark's floor exists only in a build made for the benchmark,
    // and is not part of the API.
    #[cfg(feature = "bench-floor")]
    let routes = routes.route("/bench/floor", axum::routing::post(crate::floor::floor));
    routes
        .layer(Extension(docs))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(app)
}

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
struct Health {
    #[schema(schema_with = crate::openapi::ok)]
    status: &'static str,
}

/// Liveness: the server accepts requests.
#[utoipa::path(get, path = "/health", tag = "server",
    responses((status = 200, description = "The server is up.", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "server",
    responses((status = 200, description = "The OpenAPI 3.1 description of this server.",
        content_type = "application/json", body = Object)))]
async fn openapi_json(Extension(docs): Extension<Arc<Docs>>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        docs.json.clone(),
    )
}

/// This document as a page for people: every operation, its body and its
/// answers, with no script and nothing from elsewhere.
#[utoipa::path(get, path = "/docs", tag = "server",
    responses((status = 200, description = "The API reference as HTML.",
        content_type = "text/html", body = String)))]
async fn docs(Extension(docs): Extension<Arc<Docs>>) -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'",
            ),
        ],
        docs.html.clone(),
    )
}

/// `{email, password}` of a new account.
#[derive(Deserialize, ToSchema)]
struct Registration {
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
struct Credentials {
    #[schema(value_type = String, format = "email", required = true)]
    email: Option<String>,
    #[schema(value_type = String, required = true)]
    password: Option<Secret>,
    /// A remembered device's token (a string). Anything but a valid token
    /// of this user, any other JSON value included, is ignored: the answer
    /// is the usual `mfaRequired` one.
    #[serde(default, deserialize_with = "crate::users::string_or_nothing")]
    #[schema(value_type = Option<Value>)]
    device_token: Option<Secret>,
}

/// The second step of a login: `{mfaToken, code}` or `{mfaToken, backupCode}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MfaLogin {
    /// The `mfaToken` that the password step answered.
    #[schema(value_type = String, required = true)]
    mfa_token: Option<Secret>,
    /// `true` asks for a `deviceToken` beside the session.
    remember_device: Option<bool>,
    #[serde(flatten)]
    code: OneCode,
}

/// `{"id"}` of the new account.
#[derive(Serialize, ToSchema)]
struct Created {
    /// 32 hex digits; the `{id}` of the operator routes.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    id: String,
}

/// A session: `{"token"}`.
#[derive(Serialize, ToSchema)]
struct SessionAnswer {
    /// The bearer token of the session (one hour).
    token: String,
}

/// MFA is on: `{"mfaRequired": true, "mfaToken"}`, for `POST /api/auth/login/mfa`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MfaRequired {
    #[schema(schema_with = crate::openapi::always_true)]
    mfa_required: bool,
    /// Good for one login, for 5 minutes, only at `POST /api/auth/login/mfa`.
    mfa_token: String,
}

/// The answer to a right password: a session, or the second step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum LoginAnswer {
    Session(SessionAnswer),
    SecondFactor(MfaRequired),
}

/// A completed login: `{"token", "backupCodesRemaining"}`, and `"deviceToken"`
/// when a device was to be remembered.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct LoginMfaAnswer {
    /// A session with a fresh proof of the second factor.
    token: String,
    #[serde(flatten)]
    verified: VerifiedAnswer,
    /// Sent with the password, skips the second step on this device.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
}

/// Confirmed: the backup codes, shown once, and a session with a fresh proof.
#[derive(Serialize, ToSchema)]
struct ConfirmAnswer {
    #[serde(flatten)]
    codes: BackupCodesAnswer,
    /// The session that works from now on; every earlier one is revoked.
    token: String,
}

/// `{"backup_codes": [...]}` (this route's historical field name); wiped on drop.
#[derive(Serialize, ToSchema)]
struct LegacyBackupCodes {
    #[schema(value_type = Vec<String>, min_items = 1)]
    backup_codes: zeroize::Zeroizing<Vec<String>>,
}

/// `{"success": true}`.
#[derive(Serialize, ToSchema)]
struct Success {
    #[schema(schema_with = crate::openapi::always_true)]
    success: bool,
}

/// `{"success": true, "token"}`: the session that works from now on.
#[derive(Serialize, ToSchema)]
struct SuccessWithToken {
    #[schema(schema_with = crate::openapi::always_true)]
    success: bool,
    token: String,
}

/// `{code}` (a TOTP code) or `{backupCode}`: exactly one.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct OneCode {
    /// A current TOTP code. Give this or `backupCode`, not both.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6,8}$", example = "123456")]
    code: Option<Secret>,
    /// An unused backup code. Give this or `code`, not both.
    #[schema(value_type = Option<String>, example = "a1b2c-d3e4f")]
    backup_code: Option<Secret>,
}

impl OneCode {
    /// The code, shaped like the field it came in ([`mfa::http::one_code`]);
    /// a malformed one is 401 `INVALID_CODE`, not counted.
    fn get(&self, digits: u8) -> Result<&str, ApiError> {
        let (code, backup_code) = (self.code.as_ref(), self.backup_code.as_ref());
        mfa::http::one_code(
            code.map(Secret::expose),
            backup_code.map(Secret::expose),
            digits,
        )
        .map_err(|e| ApiError::from(e).code_is_unauthorized())?
        .ok_or_else(|| ApiError::validation("Give exactly one of `code` and `backupCode`."))
    }
}

/// `{reason}`: why an operator acts, recorded in the security event.
#[derive(Deserialize, ToSchema)]
struct Reason {
    /// One line of at most 512 bytes that says something.
    #[schema(value_type = String, min_length = 1, max_length = 512, required = true)]
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

/// `{code}`: a current code of the authenticator app being set up.
#[derive(Deserialize, ToSchema)]
struct Code {
    #[schema(value_type = String, pattern = "^[0-9]{6,8}$", example = "123456", required = true)]
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

/// `{password, code}`: the account's password and a current code.
#[derive(Deserialize, ToSchema)]
struct PasswordAndCode {
    #[schema(value_type = String, required = true)]
    password: Option<Secret>,
    /// A TOTP code (at disable, a backup code too).
    #[schema(value_type = String, example = "123456", required = true)]
    code: Option<Secret>,
}

fn required<'a>(field: &'a Option<Secret>, name: &str) -> Result<&'a str, ApiError> {
    field
        .as_ref()
        .map(Secret::expose)
        .ok_or_else(|| ApiError::validation(format!("`{name}` is required.")))
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
async fn register(
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
        (status = 200, description = "`{\"token\"}` (a session without a proof) when MFA is off or the device token is valid for the user; `{\"mfaRequired\": true, \"mfaToken\"}` otherwise.", body = LoginAnswer),
        (status = 400, description = "`VALIDATION_FAILED`: no password, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_CREDENTIALS`: the email or the password is wrong.", body = Problem),
        (status = 429, description = "`TOO_MANY_ATTEMPTS`: too many wrong passwords for this account; the password was not checked. `Retry-After` says when to try again.", body = Problem),
    ))]
async fn login(
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
        LoginStep::SecondFactor(challenge) => Ok(Json(LoginAnswer::SecondFactor(MfaRequired {
            mfa_required: true,
            mfa_token: app.tokens.mfa_login(challenge)?,
        }))),
        // MFA off, or a remembered device: a session without a proof.
        LoginStep::Complete(epoch) | LoginStep::RememberedDevice(epoch) => {
            Ok(Json(LoginAnswer::Session(SessionAnswer {
                token: app.tokens.session(&user.id, epoch, None)?,
            })))
        }
        _ => Err(ApiError::internal("an unknown login step")),
    }
}

/// The second step of a login, with a TOTP code or a backup code.
#[utoipa::path(post, path = "/api/auth/login/mfa", tag = "auth", request_body = MfaLogin,
    responses(
        (status = 200, description = "A session with a fresh proof, the backup codes left, and a `deviceToken` when `rememberDevice` was `true`.", body = LoginMfaAnswer),
        (status = 400, description = "`VALIDATION_FAILED`: no `mfaToken`, not exactly one of `code` and `backupCode`, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_CODE` (wrong, reused, malformed or unknown code); `INVALID_MFA_TOKEN` (used, expired, or from before a change to MFA).", body = Problem),
        (status = 429, description = "`LOCKED_OUT`: too many failed codes; `Retry-After` says when to try again (absent once only an operator can unlock).", body = Problem),
    ))]
async fn login_mfa(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<MfaLogin>,
) -> Result<Json<LoginMfaAnswer>, ApiError> {
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
                eprintln!("warning: a device could not be remembered: {e}");
            }
            None
        }
    }
}

/// A fresh proof for the session: a current TOTP code or a backup code.
#[utoipa::path(post, path = "/api/auth/step-up", tag = "auth", request_body = OneCode,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A session with a fresh proof.", body = SessionAnswer),
        (status = 400, description = "`MFA_NOT_ENABLED`; `VALIDATION_FAILED`: not exactly one of `code` and `backupCode`, or a malformed body.", body = Problem),
        (status = 401, description = "`INVALID_CODE` (counted toward the lockout); `UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
async fn step_up(
    State(app): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<OneCode>,
) -> Result<Json<SessionAnswer>, ApiError> {
    let user_id = &session.user.id;
    let code = body.get(app.mfa.context().policy().totp.digits)?;
    let verified = app
        .mfa
        .verify(user_id, code)
        .await
        .map_err(|e| ApiError::from(e).code_is_unauthorized())?;
    Ok(Json(SessionAnswer {
        token: app.tokens.proven_session(user_id, verified.proof)?,
    }))
}

/// The user's MFA status.
#[utoipa::path(get, path = "/api/user/me/totp", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "Where the factor stands.", body = mfa::MfaStatus),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
    ))]
async fn status(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<mfa::MfaStatus>, ApiError> {
    Ok(Json(app.mfa.status(&session.user.id).await?))
}

/// Begins a TOTP setup (replacing an earlier pending one).
#[utoipa::path(post, path = "/api/user/me/totp/setup", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "What the authenticator app needs; the setup waits for its first code.", body = SetupAnswer),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 409, description = "`MFA_ALREADY_ENABLED`.", body = Problem),
    ))]
async fn setup(
    State(app): State<AppState>,
    Session { user, .. }: Session,
) -> Result<Json<SetupAnswer>, ApiError> {
    let setup = app.mfa.begin_setup(&user.id, &user.email).await?;
    Ok(Json(SetupAnswer::new(&setup)?))
}

/// Confirms the setup with a first code: MFA on.
#[utoipa::path(post, path = "/api/user/me/totp/confirm", tag = "mfa", request_body = Code,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA is on: the backup codes, shown this once, and the session that works from now on (every earlier one is revoked).", body = ConfirmAnswer),
        (status = 400, description = "`INVALID_CODE` (wrong, malformed or missing; nothing enabled); `NO_PENDING_SECRET`; `PENDING_EXPIRED`; `VALIDATION_FAILED` (a malformed body).", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 409, description = "`MFA_ALREADY_ENABLED`: MFA is on already.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
async fn confirm(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<Code>,
) -> Result<Json<ConfirmAnswer>, ApiError> {
    let code = body.get()?;
    let enabled = app.mfa.confirm_setup(&user.id, code).await?;
    Ok(Json(ConfirmAnswer {
        codes: BackupCodesAnswer::new(&enabled.backup_codes),
        token: app.tokens.proven_session(&user.id, enabled.proof)?,
    }))
}

/// New backup codes; every earlier one stops working. Needs a session
/// whose proof is within the step-up window.
#[utoipa::path(post, path = "/api/user/me/totp/backup-codes/regenerate", tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once.", body = BackupCodesAnswer),
        (status = 400, description = "`MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: the session's proof is too old, or it has none (`POST /api/auth/step-up`).", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
async fn regenerate(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<BackupCodesAnswer>, ApiError> {
    let proof = session.proof()?;
    let codes = app
        .mfa
        .regenerate_backup_codes(&session.user.id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(BackupCodesAnswer::new(&codes)))
}

/// Begins replacing the authenticator: a new secret pending beside the
/// active one. Needs a session whose proof is within the step-up window.
#[utoipa::path(post, path = "/api/user/me/totp/replace", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "What the new authenticator app needs; the active one keeps working until the replacement is confirmed.", body = SetupAnswer),
        (status = 400, description = "`MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
async fn replace(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<SetupAnswer>, ApiError> {
    let proof = session.proof()?;
    let (id, email) = (&session.user.id, &session.user.email);
    let setup = app
        .mfa
        .begin_replacement(id, email, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(SetupAnswer::new(&setup)?))
}

/// Swaps in the pending secret with a code of the new app; every earlier
/// session and `mfaToken` is revoked, the answer's token is the one that works.
#[utoipa::path(post, path = "/api/user/me/totp/replace/confirm", tag = "mfa", request_body = Code,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new app is the factor; backup codes are kept; other sessions, `mfaToken`s and remembered devices are revoked.", body = SuccessWithToken),
        (status = 400, description = "`INVALID_CODE` (counted); `NO_PENDING_SECRET`; `PENDING_EXPIRED`; `VALIDATION_FAILED` (a malformed body).", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
async fn confirm_replacement(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<Code>,
) -> Result<Json<SuccessWithToken>, ApiError> {
    let code = body.get()?;
    let proof = app.mfa.confirm_replacement(&user.id, code).await?;
    let token = app.tokens.proven_session(&user.id, proof)?;
    Ok(Json(SuccessWithToken {
        success: true,
        token,
    }))
}

/// Forgets every remembered device. Needs a session whose proof is within
/// the step-up window.
#[utoipa::path(post, path = "/api/user/me/devices/forget", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every remembered device is forgotten.", body = Success),
        (status = 400, description = "`MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
async fn forget_devices(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<Success>, ApiError> {
    let proof = session.proof()?;
    app.mfa
        .forget_devices(&session.user.id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(Success { success: true }))
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

/// New backup codes with the password and a current TOTP code; every
/// earlier code stops working.
#[utoipa::path(post, path = "/api/user/profile/mfa/backup-codes", tag = "mfa",
    request_body = PasswordAndCode, security(("bearer" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once.", body = LegacyBackupCodes),
        (status = 400, description = "`VALIDATION_FAILED` (a missing field, a malformed body); `INVALID_PASSWORD` (the code was neither used nor counted); `INVALID_CODE`; `MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`; `TOO_MANY_ATTEMPTS` (wrong passwords).", body = Problem),
    ))]
async fn regenerate_strict(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<PasswordAndCode>,
) -> Result<Json<LegacyBackupCodes>, ApiError> {
    let code = reauthenticate(&app, &user, &body).await?;
    let codes = app
        .mfa
        .regenerate_backup_codes(&user.id, Reauth::TotpCode(code))
        .await?;
    Ok(Json(LegacyBackupCodes {
        backup_codes: zeroize::Zeroizing::new(
            codes.iter().map(|c| c.as_str().to_owned()).collect(),
        ),
    }))
}

/// MFA off, with the password and a TOTP or backup code; the secret, the
/// backup codes and remembered devices are deleted.
#[utoipa::path(post, path = "/api/user/me/totp/disable", tag = "mfa",
    request_body = PasswordAndCode, security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA is off; the answer's session is the one that works from now on.", body = SuccessWithToken),
        (status = 400, description = "`VALIDATION_FAILED`; `INVALID_PASSWORD`; `INVALID_CODE`; `MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`; `TOO_MANY_ATTEMPTS` (wrong passwords).", body = Problem),
    ))]
async fn disable(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<PasswordAndCode>,
) -> Result<Json<SuccessWithToken>, ApiError> {
    let code = reauthenticate(&app, &user, &body).await?;
    let proof = app.mfa.disable(&user.id, code).await?;
    let token = app.tokens.proven_session(&user.id, proof)?;
    Ok(Json(SuccessWithToken {
        success: true,
        token,
    }))
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
#[utoipa::path(post, path = "/api/admin/users/{id}/mfa/unlock", tag = "operators",
    params(("id" = String, Path, description = "The id that register answered (32 hex digits).")),
    request_body = Reason, security(("operator" = [])),
    responses(
        (status = 200, description = "The lockout is cleared.", body = Success),
        (status = 400, description = "`VALIDATION_FAILED`: no reason, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`: not the operator token.", body = Problem),
        (status = 404, description = "`NOT_FOUND`: no user has this id.", body = Problem),
    ))]
async fn operator_unlock(
    State(app): State<AppState>,
    _: Operator,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<Success>, ApiError> {
    let (reason, user) = (body.get()?, known_user(&app, id).await?);
    app.mfa
        .operator_unlock(&user.id, Operator::ACTOR, reason)
        .await?;
    Ok(Json(Success { success: true }))
}

/// Deletes the user's factor and codes and revokes every session and `mfaToken`.
#[utoipa::path(post, path = "/api/admin/users/{id}/mfa/reset", tag = "operators",
    params(("id" = String, Path, description = "The id that register answered (32 hex digits).")),
    request_body = Reason, security(("operator" = [])),
    responses(
        (status = 200, description = "MFA is off; the secret, backup codes and remembered devices are deleted; every session and `mfaToken` of the user is revoked.", body = Success),
        (status = 400, description = "`VALIDATION_FAILED`: no reason, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`: not the operator token.", body = Problem),
        (status = 404, description = "`NOT_FOUND`: no user has this id.", body = Problem),
    ))]
async fn operator_reset(
    State(app): State<AppState>,
    _: Operator,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<Success>, ApiError> {
    let (reason, user) = (body.get()?, known_user(&app, id).await?);
    app.mfa
        .operator_reset(&user.id, Operator::ACTOR, reason)
        .await?;
    Ok(Json(Success { success: true }))
}
