//! The outermost layer: request ids, whole-body reading under the limit, and
//! problem documents for every error response, axum's own 404, 405 and 413
//! included, so no error ever leaves the server in another shape.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use mfa::http::ProblemDetails;

use crate::error::{ApiError, PendingProblem};

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Oversized bodies up to this size are read and dropped before the 413 is
/// sent; beyond it the server answers at once and closes the connection.
const DRAIN_LIMIT: usize = 1024 * 1024;

const PROBLEM_JSON: &str = "application/problem+json";

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
    Late,
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
/// connection) and refuses it over the limit or when it has not arrived
/// `body_timeout` after the headers, renders every error as a
/// problem document with that id, and sets `x-request-id`,
/// `cache-control: no-store` and `x-content-type-options: nosniff` on every
/// response.
pub async fn request_context(
    State(body_timeout): State<std::time::Duration>,
    request: Request,
    next: Next,
) -> Response {
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
        tokio::time::timeout(body_timeout, read_body(body))
            .await
            .unwrap_or(Err(BodyFault::Late))
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
                BodyFault::Late => ApiError::request_timeout(),
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    };

    let pending = response.extensions_mut().remove::<PendingProblem>();
    // `mfa-axum`'s routes answer their problem as the document itself (a
    // cause of theirs was logged where it arose).
    let from_routes = response.extensions_mut().remove::<ProblemDetails>();
    let problem = match (pending, from_routes) {
        (Some(PendingProblem(problem, cause)), _) => Some((problem, cause)),
        (None, Some(problem)) => Some((problem, None)),
        (None, None)
            if response.status().is_client_error() || response.status().is_server_error() =>
        {
            Some((ApiError::for_status(response.status()).into_problem(), None))
        }
        (None, None) => None,
    };
    if let Some((problem, cause)) = problem {
        if problem.status >= 500 {
            let cause = cause.as_deref().unwrap_or("no cause recorded");
            tracing::error!(request_id = %id, path = %path, code = problem.code, "request failed: {cause}");
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
    // No answer is ever to be read as anything but its declared type.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
