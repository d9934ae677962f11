//! The routes of the HTTP contract (the server's README, "The routes"),
//! one module per concept, each MFA handler a few lines over `mfa::Mfa`:
//! accounts and logins (`routes/login.rs`), step-up (`routes/step_up.rs`),
//! passwordless login (`routes/passwordless.rs`), the user's authenticator
//! app and backup codes (`routes/factor.rs`), the user's passkeys
//! (`routes/passkeys.rs`) and the operators' routes (`routes/operators.rs`,
//! and the compliance report in `routes/compliance.rs`).
//! This file has the router, the server's own routes and what the others
//! share: the bodies and answers several routes take, and the password check.
//!
//! Sessions (`auth.rs`) are checked against the user's security epoch on
//! every request; the routes that change the factor with a code (confirm,
//! replace/confirm, disable), the login's second step and step-up answer a
//! new session with a fresh proof; regeneration and forgetting remembered
//! devices, which take no code, need a recent proof. A session alone never
//! hands the factor to someone else: setup needs the password, and beginning
//! a replacement the password and a current code. Every password check is
//! charged on the password lock before the password is hashed
//! (`attempts.rs`). A login with the password and a remembered device's
//! token answers a session without a proof; any other device token is
//! ignored. The operator routes exist only with operator tokens.

mod compliance;
mod factor;
mod login;
mod operators;
mod passkeys;
mod passwordless;
mod step_up;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::{Extension, Json, Router};
use mfa::error::CodeFormatError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::attempts::LockKey;
use crate::error::ApiError;
use crate::openapi::Docs;
use crate::users::{Secret, User};

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
        .routes(routes!(crate::page::webauthn))
        .routes(routes!(crate::page::style))
        .routes(routes!(login::register))
        .routes(routes!(login::login))
        .routes(routes!(login::login_mfa))
        .routes(routes!(step_up::step_up))
        .routes(routes!(step_up::step_up_options))
        .routes(routes!(factor::status))
        .routes(routes!(factor::setup))
        .routes(routes!(factor::confirm))
        .routes(routes!(factor::regenerate))
        .routes(routes!(factor::regenerate_strict))
        .routes(routes!(factor::disable))
        .routes(routes!(factor::replace))
        .routes(routes!(factor::confirm_replacement))
        .routes(routes!(factor::forget_devices))
        .routes(routes!(passkeys::options))
        .routes(routes!(passkeys::register))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::rename))
        .routes(routes!(passkeys::remove));
    // With `--no-passwordless` the passwordless routes do not exist.
    let routes = match app.passwordless {
        true => routes
            .routes(routes!(passwordless::passwordless_options))
            .routes(routes!(passwordless::passwordless)),
        false => routes,
    };
    // Without operator tokens the operator routes do not exist, in the
    // router or the document: 404 whatever the method.
    let routes = match app.operators {
        Some(_) => routes
            .routes(routes!(operators::operator_unlock))
            .routes(routes!(operators::operator_reset))
            .routes(routes!(compliance::compliance))
            .routes(routes!(crate::metrics::metrics)),
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
/// answers, with no script and nothing from elsewhere, and never in a frame.
#[utoipa::path(get, path = "/docs", tag = "server",
    responses((status = 200, description = "The API reference as HTML.",
        content_type = "text/html", body = String)))]
async fn docs(Extension(docs): Extension<Arc<Docs>>) -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // `frame-ancestors` does not fall back to `default-src`.
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
            (axum::http::header::X_FRAME_OPTIONS, "DENY"),
        ],
        docs.html.clone(),
    )
}

/// A session: `{"token"}`.
#[derive(Serialize, ToSchema)]
struct SessionAnswer {
    /// The bearer token of the session (one hour).
    token: String,
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
        .ok_or_else(|| {
            ApiError::validation("Give exactly one of `code`, `backupCode` and `passkey`.")
        })
    }

    /// Whether either field is there.
    fn is_given(&self) -> bool {
        self.code.is_some() || self.backup_code.is_some()
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

fn required<'a>(field: &'a Option<Secret>, name: &str) -> Result<&'a str, ApiError> {
    field
        .as_ref()
        .map(Secret::expose)
        .ok_or_else(|| ApiError::validation(format!("`{name}` is required.")))
}

/// `{password}`: the account's password, for a route that hands the factor
/// to whoever holds the session.
#[derive(Deserialize, ToSchema)]
struct Password {
    #[schema(value_type = String, required = true)]
    password: Option<Secret>,
}

/// 400 `INVALID_PASSWORD`.
fn invalid_password() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_PASSWORD",
        "Invalid password",
        "The password is wrong.",
    )
}

/// Whether `password` is `user`'s (with no user, the same work and no),
/// charged on `key` before it is hashed, once a hashing permit is free (so
/// that charges come no faster than hashes): 429 `TOO_MANY_ATTEMPTS` while
/// `key` is locked, and then the password is not hashed at all. A right password
/// gives its charge back; a wrong one stays counted.
async fn password_is_right(
    app: &AppState,
    key: &LockKey,
    password: &Secret,
    user: Option<&User>,
) -> Result<bool, ApiError> {
    let charge = app.attempts.charge(key);
    let (right, charge) = app.passwords.verify_charged(password, user, charge).await?;
    app.attempts.settle(charge, right).await?;
    crate::metrics::password_checked(if right { "right" } else { "wrong" });
    Ok(right)
}

/// The session user's password, checked before anything looks at a code, so
/// that a wrong password neither consumes nor counts the code; charged on
/// the account's password lock. 400 `VALIDATION_FAILED` without it, 400
/// `INVALID_PASSWORD` when it is wrong.
async fn reauthenticate(
    app: &AppState,
    user: &User,
    password: &Option<Secret>,
) -> Result<(), ApiError> {
    let password = password
        .as_ref()
        .ok_or_else(|| ApiError::validation("`password` is required."))?;
    if password_is_right(app, &LockKey::account(&user.email), password, Some(user)).await? {
        Ok(())
    } else {
        Err(invalid_password())
    }
}
