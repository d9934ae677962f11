//! The routes of the HTTP contract (the server's README, "The routes").
//! Every MFA route comes from `mfa-axum` (`mfa_axum::router`, and
//! `passwordless_router` and `operator_router` where those are on), nested
//! under `/api` on this server's [`MfaHost`](mfa_axum::MfaHost)
//! (`host.rs`). The server's own are here and in `routes/login.rs`: health,
//! the OpenAPI document and its page, the browser page, accounts and the
//! password step, and the metrics.
//!
//! Every password check is charged on the password lock before the
//! password is hashed (`attempts.rs`). A login with the password and a
//! remembered device's token answers a session without a proof; any other
//! device token is ignored. The operator routes exist only with operator
//! tokens.

mod login;

use std::sync::Arc;

use axum::{Extension, Json, Router};
use serde::Serialize;
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
        .merge(mfa_axum::page_router())
        .routes(routes!(login::register))
        .routes(routes!(login::login))
        .nest("/api", mfa_axum::router());
    // With `--no-passwordless` the passwordless routes do not exist.
    let routes = match app.passwordless {
        true => routes.nest("/api", mfa_axum::passwordless_router()),
        false => routes,
    };
    // Without operator tokens the operator routes do not exist, in the
    // router or the document: 404 whatever the method.
    let routes = match app.operators {
        Some(_) => routes
            .nest("/api", mfa_axum::operator_router())
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

/// Whether `password` is `user`'s (with no user, the same work and no),
/// charged on `key` before it is hashed, once a hashing permit is free (so
/// that charges come no faster than hashes): 429 `TOO_MANY_ATTEMPTS` while
/// `key` is locked, and then the password is not hashed at all. A right password
/// gives its charge back; a wrong one stays counted.
pub(crate) async fn password_is_right(
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
