//! Error answers as RFC 9457 problem documents, the JSON body extractor whose
//! every failure is one, and the layer that gives each answer its request id.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mfa::http::ProblemDetails;
use serde::de::DeserializeOwned;

/// The type URI prefix of the problems this crate adds to the `mfa` crate's
/// own (`urn:mfa-axum:problem:<code in kebab case>`).
pub const TYPE_PREFIX: &str = "urn:mfa-axum:problem:";

/// An error answer: a problem document (`application/problem+json`), with
/// `Retry-After` on a lockout and `WWW-Authenticate: Bearer` on a 401 of the
/// session.
#[derive(Debug, Clone)]
pub struct Problem {
    details: Box<ProblemDetails>,
    retry_after: Option<u64>,
    bearer_challenge: bool,
}

impl Problem {
    /// A problem of the host's or of this crate's own (`code` in
    /// `SCREAMING_SNAKE_CASE`), typed `urn:mfa-axum:problem:<code>`.
    pub fn new(status: u16, code: &str, title: &str, detail: &str) -> Self {
        let type_uri = format!(
            "{TYPE_PREFIX}{}",
            code.to_ascii_lowercase().replace('_', "-")
        );
        Problem {
            details: Box::new(ProblemDetails::new(status, code, title, detail).with_type(type_uri)),
            retry_after: None,
            bearer_challenge: false,
        }
    }

    /// The problem of a document the host made (its own codes, type URIs
    /// and details).
    pub fn from_details(details: ProblemDetails) -> Self {
        Problem {
            details: Box::new(details),
            retry_after: None,
            bearer_challenge: false,
        }
    }

    /// With `Retry-After: secs` (a lockout).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// With `WWW-Authenticate: Bearer` (a session that is missing or no
    /// longer good).
    pub fn with_bearer_challenge(mut self) -> Self {
        self.bearer_challenge = true;
        self
    }

    /// 400 `VALIDATION_FAILED`: the body is not what the route takes.
    pub fn validation(detail: &str) -> Self {
        Problem::new(400, "VALIDATION_FAILED", "Validation failed", detail)
    }

    /// 401 `UNAUTHENTICATED`: no session, or not a valid one.
    pub fn unauthenticated() -> Self {
        Problem::new(
            401,
            "UNAUTHENTICATED",
            "Unauthenticated",
            "A valid session is required.",
        )
        .with_bearer_challenge()
    }

    /// 400 `INVALID_PASSWORD`: the password given to re-authenticate is wrong.
    pub fn invalid_password() -> Self {
        Problem::new(
            400,
            "INVALID_PASSWORD",
            "Invalid password",
            "The password is wrong.",
        )
    }

    /// 500 `INTERNAL`; `cause` goes to the log (a `tracing` error), never
    /// to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Problem::new(
            500,
            "INTERNAL",
            "Internal error",
            "An internal error occurred.",
        )
    }

    /// At a login step a wrong or malformed code is 401, not 400
    /// ([`ProblemDetails::at_login_step`]).
    pub fn at_login_step(mut self) -> Self {
        *self.details = self.details.at_login_step();
        self
    }

    /// The same problem answered with another HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.details.status = status;
        self
    }

    /// The problem document.
    pub fn details(&self) -> &ProblemDetails {
        &self.details
    }

    /// The machine code (`INVALID_CODE`, `SESSION_REVOKED`, …).
    pub fn code(&self) -> &str {
        &self.details.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.details.status
    }
}

impl From<mfa::Error> for Problem {
    fn from(error: mfa::Error) -> Self {
        if !error.is_client_error() {
            tracing::error!("{}", with_sources(&error));
        }
        Problem {
            details: Box::new(ProblemDetails::from(&error)),
            retry_after: error.retry_after(),
            bearer_challenge: matches!(error, mfa::Error::Revoked),
        }
    }
}

/// An error and its sources, for the log.
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let line = s.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = s.source();
    }
    text
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.details.fmt(f)
    }
}

impl std::error::Error for Problem {}

/// The body of a problem document.
fn render(details: &ProblemDetails) -> Vec<u8> {
    serde_json::to_vec(details).unwrap_or_default()
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.details.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            render(&self.details),
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.bearer_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(*self.details);
        response
    }
}

/// A JSON request body. Every way it can be wrong is a problem document
/// that names the fault but never echoes the body back: 415
/// `UNSUPPORTED_MEDIA_TYPE` for another content type than JSON, 413
/// `PAYLOAD_TOO_LARGE` over the router's body limit, 400
/// `VALIDATION_FAILED` for a body that is not JSON or not the route's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Body<T>(pub T);

/// Whether the request says its body is JSON (`application/json` or
/// `application/…+json`).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        if !is_json(request.headers()) {
            return Err(for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => for_status(StatusCode::PAYLOAD_TOO_LARGE),
                _ => Problem::validation("The request body could not be read."),
            })?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => Problem::validation(
                    "The request body does not have the expected fields and types.",
                ),
                _ => Problem::validation("The request body is not valid JSON."),
            })
    }
}

/// The layer of the whole application (`axum::middleware::from_fn`): every
/// answer gets an `x-request-id` (the caller's when it is 1 to 64 letters,
/// digits or dashes, else a new one), every problem document carries it as
/// `requestId` with the path as `instance`, and an error answer that has no
/// problem document (a 404 or 405 of the router) gets one.
///
/// ```
/// # fn app(router: axum::Router) -> axum::Router {
/// router.layer(axum::middleware::from_fn(mfa_axum::problem::request_context))
/// # }
/// ```
pub async fn request_context(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(new_request_id, str::to_owned);
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let status = response.status();
    let details = match response.extensions_mut().remove::<ProblemDetails>() {
        Some(details) => Some(details),
        None if status.is_client_error() || status.is_server_error() => {
            Some(*for_status(status).details)
        }
        None => None,
    };
    if let Some(details) = details {
        let details = details
            .with_instance(path)
            .with_extension("requestId", id.clone());
        let (mut parts, _) = response.into_parts();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, axum::body::Body::from(render(&details)));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// 64 random bits in hex.
fn new_request_id() -> String {
    use std::fmt::Write as _;
    rand::random::<[u8; 8]>()
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The problem of an error answer that carried none.
fn for_status(status: StatusCode) -> Problem {
    match status.as_u16() {
        401 => Problem::unauthenticated(),
        404 => Problem::new(404, "NOT_FOUND", "Not found", "No route matches this path."),
        405 => Problem::new(
            405,
            "METHOD_NOT_ALLOWED",
            "Method not allowed",
            "This route does not take this method.",
        ),
        413 => Problem::new(
            413,
            "PAYLOAD_TOO_LARGE",
            "Payload too large",
            "The request body is larger than the limit.",
        ),
        415 => Problem::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Unsupported media type",
            "The request body must be application/json.",
        ),
        s if s >= 500 => Problem::new(
            s,
            "INTERNAL",
            "Internal error",
            "An internal error occurred.",
        ),
        s => Problem::new(
            s,
            "BAD_REQUEST",
            "Bad request",
            "The request could not be read.",
        ),
    }
}
