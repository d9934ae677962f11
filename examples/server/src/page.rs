//! The browser page (`GET /`): one HTML page, its scripts (`/app.js`, and
//! `/webauthn.js` for passkeys) and its style sheet (`/app.css`), embedded in
//! the binary and served from this server only, on the JSON API of
//! `routes.rs` (which registers these routes with their descriptions, like
//! every other).
//!
//! Every answer carries a strict Content-Security-Policy: everything from this
//! origin only, no inline script or style, images also from `data:` URIs (the
//! setup answer's `qrCode`), no framing. The page keeps its session token in
//! memory and sends it as a bearer token: no cookie is ever set.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../page/index.html");
const SCRIPT: &str = include_str!("../page/app.js");
const WEBAUTHN: &str = include_str!("../page/webauthn.js");
const STYLE: &str = include_str!("../page/app.css");

/// The page's Content-Security-Policy: `'self'` for everything, plus `data:`
/// images for the QR code; no plugins, no `<base>`, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page.
#[utoipa::path(get, path = "/", tag = "server",
    responses((status = 200, description = "The browser page on this API.",
        content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// The page's script.
#[utoipa::path(get, path = "/app.js", tag = "server",
    responses((status = 200, description = "The browser page's script.",
        content_type = "text/javascript", body = String)))]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The page's passkey helpers: WebAuthn in the server's JSON forms.
#[utoipa::path(get, path = "/webauthn.js", tag = "server",
    responses((status = 200, description = "The browser page's passkey script: `navigator.credentials` with the WebAuthn JSON forms.",
        content_type = "text/javascript", body = String)))]
pub async fn webauthn() -> Response {
    asset("text/javascript; charset=utf-8", WEBAUTHN)
}

/// The page's style sheet.
#[utoipa::path(get, path = "/app.css", tag = "server",
    responses((status = 200, description = "The browser page's style sheet.",
        content_type = "text/css", body = String)))]
pub async fn style() -> Response {
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
