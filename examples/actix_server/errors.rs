//! Every error answer is a problem document (RFC 9457): the crate's own
//! (`mfa::http::ProblemDetails` from an `mfa::Error`) or one of the server's
//! (`urn:mfa-example-server:problem:…`). A handler returns a [`Problem`];
//! its status and headers are set here, and its body is written by the
//! middleware in `request_context.rs`, which knows the request's id and path.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use mfa::http::ProblemDetails;

/// An error answer: the crate's problem document, or one of the server's own.
#[derive(Debug)]
pub struct Problem {
    pub problem: Box<ProblemDetails>,
    retry_after: Option<u64>,
    bearer_challenge: bool,
}

impl Problem {
    pub fn new(status: u16, code: &str, title: &str, detail: &str) -> Self {
        let type_uri = format!(
            "urn:mfa-example-server:problem:{}",
            code.to_ascii_lowercase().replace('_', "-")
        );
        let problem = ProblemDetails::new(status, code, title, detail).with_type(type_uri);
        Problem {
            problem: Box::new(problem),
            retry_after: None,
            bearer_challenge: false,
        }
    }

    /// 400 `VALIDATION_FAILED`: the body is not what the route takes.
    pub fn validation(detail: &str) -> Self {
        Problem::new(400, "VALIDATION_FAILED", "Validation failed", detail)
    }

    /// 400 `VALIDATION_FAILED` for a body without its `field`.
    pub fn required(field: &str) -> Self {
        Problem::validation(&format!("`{field}` is required."))
    }

    pub fn unauthenticated() -> Self {
        Problem::new(
            401,
            "UNAUTHENTICATED",
            "Unauthenticated",
            "A valid bearer token is required.",
        )
        .with_bearer_challenge()
    }

    pub fn internal() -> Self {
        Problem::new(
            500,
            "INTERNAL",
            "Internal error",
            "An internal error occurred.",
        )
    }

    pub fn with_bearer_challenge(mut self) -> Self {
        self.bearer_challenge = true;
        self
    }

    /// At a login step a wrong or malformed code is 401, not 400, and so is
    /// a passkey that is not accepted.
    pub fn at_login_step(mut self) -> Self {
        *self.problem = self.problem.at_login_step();
        if self.problem.code == mfa::Error::InvalidPasskey.code() {
            self.problem.status = 401;
        }
        self
    }

    /// The problem of an answer that carried none (a route's 404 or 405).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
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
                "The body is larger than 16 KiB.",
            ),
            s if s >= 500 => Problem::internal(),
            s => Problem::new(
                s,
                "BAD_REQUEST",
                "Bad request",
                "The request could not be read.",
            ),
        }
    }
}

impl From<mfa::Error> for Problem {
    fn from(error: mfa::Error) -> Self {
        if !error.is_client_error() {
            eprintln!("error: {error}");
        }
        let problem = ProblemDetails::from(&error);
        Problem {
            problem: Box::new(problem),
            retry_after: error.retry_after(),
            bearer_challenge: false,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The status and headers; the body is written by
    /// [`crate::request_context::request_context`], which knows the
    /// request's id and path.
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        if self.bearer_challenge {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut response = response.finish();
        response.extensions_mut().insert((*self.problem).clone());
        response
    }
}
