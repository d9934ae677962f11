//! RFC 9457 (RFC 7807) problem documents for every error, the request id,
//! the body limit, and the JSON body extractor.
//!
//! Handlers return [`ApiError`]; its response carries the problem as an
//! extension, and [`request_context`] (the outermost layer) renders it with
//! the request's id and path. Any other error response (axum's own 404, 405,
//! 413, …) is turned into a problem document there too, so no error ever
//! leaves the server in another shape.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mfa::http::ProblemDetails;
use serde::de::DeserializeOwned;

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Oversized bodies up to this size are read and dropped before the 413 is
/// sent; beyond it the server answers at once and closes the connection.
const DRAIN_LIMIT: usize = 1024 * 1024;

const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: a problem document plus the headers that go with it.
#[derive(Debug)]
pub struct ApiError {
    problem: Box<ProblemDetails>,
    retry_after: Option<u64>,
    bearer_challenge: bool,
    /// For the log, on server-side failures: what went wrong. Never sent.
    cause: Option<String>,
}

/// The problem of an error response (and its cause, for the log), waiting
/// for [`request_context`] to add the request id and path.
#[derive(Clone)]
struct PendingProblem(ProblemDetails, Option<String>);

impl ApiError {
    /// An error of the server's own (not one of the crate's).
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        ApiError {
            problem: Box::new(
                ProblemDetails::new(status.as_u16(), code, title, detail).with_type(format!(
                    "urn:mfa-example-server:problem:{}",
                    code.to_ascii_lowercase().replace('_', "-")
                )),
            ),
            retry_after: None,
            bearer_challenge: false,
            cause: None,
        }
    }

    /// 400 `VALIDATION_FAILED`.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            "Validation failed",
            detail,
        )
    }

    /// 401 `UNAUTHENTICATED`, with a `WWW-Authenticate: Bearer` challenge.
    pub fn unauthenticated() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Authentication required",
            "A valid bearer token is required.",
        );
        e.bearer_challenge = true;
        e
    }

    /// The code a route answers with for this error differs from the crate's
    /// default: at the login second step a wrong code is 401, not 400.
    pub fn code_is_unauthorized(mut self) -> Self {
        if self.problem.code == "INVALID_CODE" {
            self.problem.status = StatusCode::UNAUTHORIZED.as_u16();
        }
        self
    }

    /// A problem for an error response that carried none (axum's own rejections).
    fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => ("NOT_FOUND", "No route matches this path."),
            StatusCode::METHOD_NOT_ALLOWED => (
                "METHOD_NOT_ALLOWED",
                "This route does not accept this method.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "PAYLOAD_TOO_LARGE",
                "The request body is larger than 16 KiB.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "UNSUPPORTED_MEDIA_TYPE",
                "The request body must be application/json.",
            ),
            StatusCode::UNAUTHORIZED => return Self::unauthenticated(),
            s if s.is_server_error() => ("INTERNAL", "An internal error occurred."),
            _ => ("BAD_REQUEST", "The request could not be understood."),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        Self::new(status, code, title, detail)
    }

    pub fn not_found() -> Self {
        Self::for_status(StatusCode::NOT_FOUND)
    }

    pub fn method_not_allowed() -> Self {
        Self::for_status(StatusCode::METHOD_NOT_ALLOWED)
    }

    fn payload_too_large() -> Self {
        Self::for_status(StatusCode::PAYLOAD_TOO_LARGE)
    }
}

impl From<mfa::Error> for ApiError {
    fn from(error: mfa::Error) -> Self {
        // The client gets a generic sentence; the log gets the cause.
        let cause = (!error.is_client_error()).then(|| {
            let mut cause = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(s) = source {
                let text = s.to_string();
                if !cause.contains(&text) {
                    cause.push_str(": ");
                    cause.push_str(&text);
                }
                source = s.source();
            }
            cause
        });
        ApiError {
            problem: Box::new(ProblemDetails::from(&error)),
            retry_after: error.retry_after(),
            bearer_challenge: false,
            cause,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.bearer_challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
            .extensions_mut()
            .insert(PendingProblem(*self.problem, self.cause));
        response
    }
}

/// The id of the request being served.
fn request_id(headers: &HeaderMap) -> String {
    // A caller's own id is kept if it is short and plain, for log correlation.
    let given = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    match given {
        Some(id) => id.to_owned(),
        None => {
            let bytes: [u8; 16] = rand::random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// Why a request body was not read whole.
enum BodyFault {
    TooLarge,
    Unreadable,
}

/// Reads a body whole if it is within [`BODY_LIMIT`]. Larger bodies are read
/// on and dropped up to [`DRAIN_LIMIT`], so that a client that sends its
/// whole body before reading the answer gets the 413 instead of a reset
/// connection.
async fn read_body(mut body: Body) -> Result<Bytes, BodyFault> {
    use axum::body::HttpBody;
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(data) = frame.map_err(|_| BodyFault::Unreadable)?.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total <= BODY_LIMIT {
            kept.extend_from_slice(&data);
        } else if total > DRAIN_LIMIT {
            return Err(BodyFault::TooLarge);
        }
    }
    if total > BODY_LIMIT {
        return Err(BodyFault::TooLarge);
    }
    Ok(Bytes::from(kept))
}

/// The outermost layer: assigns the request id, reads the body whole (so
/// that no answer leaves part of a request unread on a kept-alive
/// connection) and refuses it over the limit, renders every error as a
/// problem document with that id, and sets `x-request-id` and
/// `cache-control: no-store` on every response.
pub async fn request_context(request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    let path = request.uri().path().to_owned();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    let body = if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        Err(BodyFault::TooLarge)
    } else {
        read_body(body).await
    };
    let mut response = match body {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(fault) => {
            let mut response = match fault {
                BodyFault::TooLarge => ApiError::payload_too_large(),
                BodyFault::Unreadable => {
                    ApiError::validation("The request body could not be read.")
                }
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    };

    let problem = match response.extensions_mut().remove::<PendingProblem>() {
        Some(PendingProblem(problem, cause)) => Some((problem, cause)),
        None if response.status().is_client_error() || response.status().is_server_error() => {
            Some((*ApiError::for_status(response.status()).problem, None))
        }
        None => None,
    };
    if let Some((problem, cause)) = problem {
        if problem.status >= 500 {
            let cause = cause.as_deref().unwrap_or("no cause recorded");
            eprintln!("error: request {id} {path}: {} {cause}", problem.code);
        }
        let problem = problem
            .with_instance(path)
            .with_extension("requestId", id.clone());
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        *response.body_mut() = Body::from(body);
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON request body. Every way it can be wrong is a problem document that
/// names the fault but never echoes the body back.
pub struct JsonBody<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
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

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
                    _ => ApiError::validation("The request body could not be read."),
                })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => ApiError::validation(
                    "The request body does not have the expected fields and types.",
                ),
                _ => ApiError::validation("The request body is not valid JSON."),
            })
    }
}
