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

    /// 400 `VALIDATION_FAILED`: the body is not what the route takes.
    pub fn validation(detail: &str) -> Self {
        Problem::new(400, "VALIDATION_FAILED", "Validation failed", detail)
    }

    /// 401 `UNAUTHENTICATED`: no session, or not a valid one.
    pub fn unauthenticated() -> Self {
        let mut problem = Problem::new(
            401,
            "UNAUTHENTICATED",
            "Unauthenticated",
            "A valid session is required.",
        );
        problem.bearer_challenge = true;
        problem
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

    /// 500 `INTERNAL`; `cause` is written to standard error, never answered.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        eprintln!("mfa-axum: internal error: {cause}");
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
            eprintln!("mfa-axum: {error}");
        }
        Problem {
            details: Box::new(ProblemDetails::from(&error)),
            retry_after: error.retry_after(),
            bearer_challenge: matches!(error, mfa::Error::Revoked),
        }
    }
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

/// A JSON request body; anything else (not JSON, the wrong shape, another
/// content type) is 400 `VALIDATION_FAILED`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(Problem::validation(&format!(
                "The body is not the JSON this route takes: {}",
                rejection.body_text()
            ))),
        }
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
            "The body is too large.",
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
