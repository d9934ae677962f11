//! The outermost middleware: a request id on every answer, and the body of
//! every error answer as a problem document that carries it and the path.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use mfa::http::ProblemDetails;

use crate::errors::Problem;
use crate::sessions::hex;

/// The outermost layer: a request id for every answer (the caller's
/// `x-request-id` if it is plain, else a new one), every error answered
/// with a problem document that carries it and the path, and
/// `x-content-type-options: nosniff` on every answer.
pub async fn request_context(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(|| hex(&rand::random::<[u8; 8]>()), str::to_owned);
    let path = req.path().to_owned();
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status();
    let problem = match response
        .response()
        .extensions()
        .get::<ProblemDetails>()
        .cloned()
    {
        Some(problem) => Some(problem),
        None if status.is_client_error() || status.is_server_error() => {
            Some(*Problem::for_status(status).problem)
        }
        None => None,
    };
    let mut response = match problem {
        Some(problem) => {
            let problem = problem
                .with_instance(path)
                .with_extension("requestId", id.clone());
            let body = serde_json::to_vec(&problem).unwrap_or_default();
            let mut response = response.map_body(|_, _| BoxBody::new(body));
            let content_type = HeaderValue::from_static("application/problem+json");
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
            response
        }
        None => response,
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
