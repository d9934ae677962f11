//! The server's OpenAPI 3.1 document, generated from the code: each route's
//! `#[utoipa::path]` (`routes.rs`) gives its operation, the request and
//! answer types give their schemas (the crate's own, `mfa::http`, among
//! them), and [`finish`] adds what every route shares — the bearer schemes,
//! the problem documents of the request layer (400, 408, 413, 415, 500,
//! 503), and `application/problem+json` for every error. [`Docs`] holds the
//! document as served at `/openapi.json` and as an HTML page for `/docs`.
//!
//! The schemas the routes' types name by function are in `schemas.rs`; the
//! HTML page in `page.rs`.

mod page;
mod schemas;

pub use page::Docs;
pub use schemas::*;

use utoipa::OpenApi as _;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::Link;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, ResponseBuilder, Tag,
};
use utoipa::{PartialSchema, ToSchema};

use crate::error::Problem;

/// The media type of every error answer.
const PROBLEM_JSON: &str = "application/problem+json";

/// The document's title, version and tags, before the routes are added.
pub fn base() -> OpenApi {
    let tag = |name: &str, description: &str| {
        let mut tag = Tag::new(name);
        tag.description = Some(description.to_owned());
        tag
    };
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("mfa example server")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Authenticator-app (TOTP) MFA with single-use backup codes, on the `mfa` \
                     crate. Every error is an RFC 9457 problem document \
                     (`application/problem+json`) whose `code` is a stable machine code and \
                     whose `requestId` is the `x-request-id` response header.",
                ))
                .build(),
        )
        .tags(Some([
            tag("auth", "Accounts, logins and step-up."),
            tag("mfa", "The user's own second factor: the authenticator app, backup codes, remembered devices, and MFA off."),
            tag(
                "passkeys",
                "The user's passkeys (WebAuthn). Options are `{\"publicKey\": {...}}` in the WebAuthn Level 3 JSON forms (binary members base64url without padding); credentials are what `PublicKeyCredential.toJSON()` gives.",
            ),
            tag(
                "operators",
                "Operator routes: only with operator tokens (MFA_ADMIN_TOKENS, --admin-tokens or MFA_ADMIN_TOKEN), and then with one of them as the bearer token; the operator's name is the actor of the security events.",
            ),
            tag("server", "The server itself."),
        ]))
        .build()
}

/// Completes the document that the router's routes gave: security schemes,
/// the answers every route shares, problem documents as
/// `application/problem+json`, and the crate's schemas (`mfa::http::openapi`).
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        "session".into(),
        SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").description(Some("A session token: what register's login, the login's second step, step-up and the routes that change the factor answer.")).build()),
    );
    components.security_schemes.insert(
        "operator".into(),
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An operator's token, from MFA_ADMIN_TOKENS, --admin-tokens or MFA_ADMIN_TOKEN."))
                .build(),
        ),
    );
    components
        .schemas
        .insert(Problem::name().into_owned(), Problem::schema());
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            let has_body = operation.request_body.is_some();
            let authenticated = operation.security.is_some();
            let stored = ![
                "/health",
                "/openapi.json",
                "/docs",
                "/",
                "/app.js",
                "/webauthn.js",
                "/app.css",
            ]
            .contains(&path.as_str());
            let responses = &mut operation.responses.responses;
            // Error answers are problem documents, whatever the attribute said.
            for (status, response) in responses.iter_mut() {
                let error = status.parse::<u16>().is_ok_and(|s| s >= 400);
                if let (true, RefOr::T(response)) = (error, response)
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response.content.insert(PROBLEM_JSON.into(), content);
                }
            }
            let mut shared = vec![
                (
                    "408",
                    "`REQUEST_TIMEOUT`: the body did not arrive within the body timeout after the headers.",
                ),
                (
                    "413",
                    "`PAYLOAD_TOO_LARGE`: the body is larger than 16 KiB.",
                ),
                (
                    "500",
                    "`INTERNAL`: a failure of the server's own; nothing of it is told.",
                ),
            ];
            if has_body {
                shared.push((
                    "400",
                    "`VALIDATION_FAILED`: the body is not JSON, or lacks the fields and types described.",
                ));
                shared.push((
                    "415",
                    "`UNSUPPORTED_MEDIA_TYPE`: the body is not `application/json`.",
                ));
            } else {
                shared.push(("400", "`VALIDATION_FAILED`: the body could not be read."));
            }
            if authenticated {
                shared.push((
                    "401",
                    "`UNAUTHENTICATED`: no valid bearer token; `SESSION_REVOKED`: MFA changed since the session began.",
                ));
            }
            if stored {
                shared.push((
                    "503",
                    "`STORE_UNAVAILABLE`: the database did not answer; retry later.",
                ));
            }
            for (status, description) in shared {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem_response(description).into());
            }
            // Headers every answer has, and `Retry-After` on 429s.
            for (status, response) in responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                response.headers.insert(
                    "x-request-id".into(),
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some(
                            "The request's id (the caller's own if it sent a plain one of up to 64 characters); a problem document's `requestId`.",
                        ))
                        .build(),
                );
                if status == "429" {
                    response.headers.insert(
                        "Retry-After".into(),
                        HeaderBuilder::new()
                            .schema(
                                ObjectBuilder::new()
                                    .schema_type(Type::Integer)
                                    .minimum(Some(1)),
                            )
                            .description(Some(
                                "Seconds to wait; absent once only an operator can unlock the factor.",
                            ))
                            .build(),
                    );
                }
            }
        }
    }
    link_new_accounts_to_operators(&mut doc);
    doc.merge(mfa::http::openapi::MfaSchemas::openapi());
    doc
}

/// OpenAPI links from a new account's `id` to the operator routes that take
/// it, where those exist: what a client (or a stateful fuzzer) chains.
fn link_new_accounts_to_operators(doc: &mut OpenApi) {
    let targets: Vec<(&str, String)> = [
        ("unlock", "/api/admin/users/{id}/mfa/unlock"),
        ("reset", "/api/admin/users/{id}/mfa/reset"),
    ]
    .into_iter()
    .filter_map(|(name, path)| {
        let id = doc
            .paths
            .paths
            .get(path)?
            .post
            .as_ref()?
            .operation_id
            .clone()?;
        Some((name, id))
    })
    .collect();
    let created = doc
        .paths
        .paths
        .get_mut("/api/auth/register")
        .and_then(|item| item.post.as_mut())
        .and_then(|op| op.responses.responses.get_mut("201"));
    if let Some(RefOr::T(created)) = created {
        for (name, operation_id) in targets {
            created.links.insert(
                name.to_owned(),
                Link::builder()
                    .operation_id(operation_id)
                    .parameter("id", "$response.body#/id")
                    .description(format!("The operator's {name} of the new account."))
                    .build()
                    .into(),
            );
        }
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .build(),
        )
        .build()
}
