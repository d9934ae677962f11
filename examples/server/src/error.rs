//! The server's error answers: RFC 9457 problem documents, from the crate's
//! errors or the server's own.
//!
//! Handlers return [`ApiError`]; its response carries the problem as an
//! extension, which the request-context layer (`middleware.rs`) renders with
//! the request's id and path.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mfa::http::ProblemDetails;

/// The machine codes of the server's own problem documents, beside the
/// crate's ([`mfa::Error::CODES`]).
pub const SERVER_CODES: &[&str] = &[
    "VALIDATION_FAILED",
    "EMAIL_TAKEN",
    "INVALID_CREDENTIALS",
    "INVALID_PASSWORD",
    "TOO_MANY_ATTEMPTS",
    "UNAUTHENTICATED",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "BAD_REQUEST",
    "REQUEST_TIMEOUT",
    "CLIENT_CLOSED_REQUEST",
    "STORE_UNAVAILABLE",
    "INTERNAL",
];

/// The schema of the server's problem documents in its OpenAPI document:
/// the crate's, with `code` one of the crate's codes or of [`SERVER_CODES`].
pub struct Problem;

impl utoipa::PartialSchema for Problem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        mfa::http::openapi::problem_schema(SERVER_CODES).into()
    }
}

impl utoipa::ToSchema for Problem {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ProblemDetails")
    }
}

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
/// for the request-context layer to add the request id and path.
#[derive(Clone)]
pub struct PendingProblem(pub ProblemDetails, pub Option<String>);

impl ApiError {
    /// The problem document, for the request-context layer.
    pub fn into_problem(self) -> ProblemDetails {
        *self.problem
    }

    /// The same answer as `mfa-axum`'s problem, for an `MfaHost` method;
    /// a server-side cause goes to the log now.
    pub fn into_mfa_axum(self) -> mfa_axum::Problem {
        if let Some(cause) = &self.cause {
            tracing::error!(code = self.problem.code, "{cause}");
        }
        let mut problem = mfa_axum::Problem::from_details(*self.problem);
        if let Some(secs) = self.retry_after {
            problem = problem.with_retry_after(secs);
        }
        if self.bearer_challenge {
            problem = problem.with_bearer_challenge();
        }
        problem
    }

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

    /// 500 `INTERNAL`: a failure of the server's own (signing a token,
    /// hashing a password). The client gets a generic sentence; `cause` goes
    /// to the log.
    pub fn internal(cause: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error",
            "An internal error occurred.",
        );
        e.cause = Some(cause.into());
        e
    }

    /// 499 (nginx's "client closed request"): the client hung up while its
    /// request waited for capacity, so the request gave up before any work
    /// began. Nobody receives it; it keeps such requests out of the error log.
    pub fn client_gone() -> Self {
        Self::new(
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "CLIENT_CLOSED_REQUEST",
            "Client closed request",
            "The client closed the connection before its request was served.",
        )
    }

    /// 503 `STORE_UNAVAILABLE`, the code the crate gives its own store's
    /// failures: the server's database (the accounts table) did not answer.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "STORE_UNAVAILABLE",
            "Service unavailable",
            "The service is temporarily unavailable.",
        );
        e.cause = Some(cause.to_string());
        e
    }

    /// A problem for an error response that carried none (axum's own rejections).
    pub fn for_status(status: StatusCode) -> Self {
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

    /// 429 `TOO_MANY_ATTEMPTS` with `Retry-After`: too many wrong passwords
    /// for this account; the password was not checked.
    pub fn too_many_attempts(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_ATTEMPTS",
            "Too many attempts",
            "Too many wrong passwords for this account; try again after the time in Retry-After.",
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 408 `REQUEST_TIMEOUT`: the request's body did not arrive in time.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "Request timeout",
            "The request body did not arrive in time.",
        )
    }

    pub fn not_found() -> Self {
        Self::for_status(StatusCode::NOT_FOUND)
    }

    pub fn method_not_allowed() -> Self {
        Self::for_status(StatusCode::METHOD_NOT_ALLOWED)
    }

    pub fn payload_too_large() -> Self {
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
