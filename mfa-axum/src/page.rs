//! The browser page (feature `page`): one HTML page, its scripts
//! (`/app.js`, and `/webauthn.js` for passkeys) and its style sheet
//! (`/app.css`), embedded in the binary, on the contract's JSON API under
//! `/api`: the application's `POST /api/auth/register` and
//! `POST /api/auth/login`, and [`router`](crate::router),
//! [`passwordless_router`](crate::passwordless_router) nested at `/api`.
//!
//! Every answer carries a strict Content-Security-Policy: everything from this
//! origin only, no inline script or style, images also from `data:` URIs (the
//! setup answer's `qrCode`), no framing. On bearer sessions the page keeps
//! the answers' token in memory and sends it as a bearer token; on cookie
//! sessions (answers without a token) the browser sends the cookie, to the
//! same origin only, and "Sign out" calls the application's
//! `POST /api/auth/logout`.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The OpenAPI paths of [`page_router`].
#[derive(OpenApi)]
#[openapi(
    paths(index, script, webauthn, style),
    tags((name = "page", description = "The browser page on the API."))
)]
pub struct PageApiDoc;

/// The browser page, at the root of the application (its API under
/// `/api`), on sessions as bearer tokens ([`BearerSessions`](crate::BearerSessions)
/// or the host's own) or as cookies ([`TowerSessions`](crate::TowerSessions),
/// with the application's `POST /api/auth/logout` for "Sign out"):
///
/// | route | answer |
/// |---|---|
/// | `GET /` | the page: sign up, sign in with the second step, set up an authenticator app, passkeys, backup codes, step-up, a new phone, remembered devices |
/// | `GET /app.js`, `GET /webauthn.js` | its scripts |
/// | `GET /app.css` | its style sheet |
///
/// ```
/// # fn app<H: mfa_axum::MfaHost>() -> utoipa_axum::router::OpenApiRouter<H> {
/// utoipa_axum::router::OpenApiRouter::new()
///     .nest("/api", mfa_axum::router())
///     .merge(mfa_axum::page_router())
/// # }
/// ```
pub fn page_router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::with_openapi(PageApiDoc::openapi())
        .route("/", get(index))
        .route("/app.js", get(script))
        .route("/webauthn.js", get(webauthn))
        .route("/app.css", get(style))
}

const INDEX: &str = include_str!("../page/index.html");
const SCRIPT: &str = include_str!("../page/app.js");
const WEBAUTHN: &str = include_str!("../page/webauthn.js");
const STYLE: &str = include_str!("../page/app.css");

/// The page's Content-Security-Policy: `'self'` for everything, plus `data:`
/// images for the QR code; no plugins, no `<base>`, no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page.
#[utoipa::path(get, path = "/", tag = "page",
    responses((status = 200, description = "The browser page on the API.",
        content_type = "text/html", body = String)))]
pub(crate) async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// The page's script.
#[utoipa::path(get, path = "/app.js", tag = "page",
    responses((status = 200, description = "The browser page's script.",
        content_type = "text/javascript", body = String)))]
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The page's passkey helpers: WebAuthn in the JSON forms of the API.
#[utoipa::path(get, path = "/webauthn.js", tag = "page",
    responses((status = 200, description = "The browser page's passkey script: `navigator.credentials` with the WebAuthn JSON forms.",
        content_type = "text/javascript", body = String)))]
pub(crate) async fn webauthn() -> Response {
    asset("text/javascript; charset=utf-8", WEBAUTHN)
}

/// The page's style sheet.
#[utoipa::path(get, path = "/app.css", tag = "page",
    responses((status = 200, description = "The browser page's style sheet.",
        content_type = "text/css", body = String)))]
pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// One embedded file with the page's security headers.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ]
    .map(|(name, value)| (name, HeaderValue::from_static(value)));
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt as _;

    use super::*;

    /// Each documented path is served, with the page's headers, and the
    /// router serves nothing else.
    #[tokio::test]
    async fn every_documented_path_is_served_with_the_pages_policy() {
        let document = PageApiDoc::openapi();
        let paths: Vec<&String> = document.paths.paths.keys().collect();
        assert_eq!(paths, ["/", "/app.css", "/app.js", "/webauthn.js"]);
        let (router, _) = page_router::<()>().split_for_parts();
        for path in paths.into_iter().chain([&"/other".to_owned()]) {
            let request = axum::http::Request::get(path.as_str())
                .body(axum::body::Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            if path == "/other" {
                assert_eq!(response.status(), 404);
                continue;
            }
            assert_eq!(response.status(), 200, "{path}");
            let policy = &response.headers()[header::CONTENT_SECURITY_POLICY];
            assert_eq!(policy, CONTENT_SECURITY_POLICY, "{path}");
        }
    }
}
