//! The server's OpenAPI 3.1 document, generated from the code: each route's
//! `#[utoipa::path]` (`routes.rs`) gives its operation, the request and
//! answer types give their schemas (the crate's own, `mfa::http`, among
//! them), and [`finish`] adds what every route shares — the bearer schemes,
//! the problem documents of the request layer (400, 408, 413, 415, 500,
//! 503), and `application/problem+json` for every error. [`Docs`] holds the
//! document as served at `/openapi.json` and as an HTML page for `/docs`.

use std::fmt::Write as _;

use serde_json::Value;
use utoipa::OpenApi as _;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::Link;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
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
        "bearer".into(),
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

/// `true`, and nothing else.
pub fn always_true() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .into()
}

/// A string of base64url without padding.
fn base64url(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// An object with these string members (all required) and any others.
fn strings(members: &[(&str, &str)]) -> ObjectBuilder {
    members.iter().fold(
        ObjectBuilder::new().schema_type(Type::Object),
        |object, (name, description)| {
            object
                .property(*name, base64url(description))
                .required(*name)
        },
    )
}

/// A credential as `PublicKeyCredential.toJSON()` gives it, with this
/// `response`; other members (`clientExtensionResults`,
/// `authenticatorAttachment`) are allowed and not read.
fn credential(description: &str, response: ObjectBuilder) -> Schema {
    strings(&[
        ("id", "The credential id, base64url."),
        ("rawId", "The credential id, base64url."),
        ("type", "`public-key`."),
    ])
    .property("response", response)
    .required("response")
    .description(Some(description))
    .into()
}

/// What `navigator.credentials.create()` gave, as JSON.
pub fn registration_credential() -> Schema {
    credential(
        "A new credential (`RegistrationResponseJSON`).",
        strings(&[
            ("clientDataJSON", "base64url."),
            ("attestationObject", "base64url."),
        ]),
    )
}

/// What `navigator.credentials.get()` gave, as JSON.
pub fn assertion_credential() -> Schema {
    credential(
        "An assertion (`AuthenticationResponseJSON`).",
        strings(&[
            ("clientDataJSON", "base64url."),
            ("authenticatorData", "base64url."),
            ("signature", "base64url."),
        ])
        .property(
            "userHandle",
            base64url("The user handle, base64url (discoverable credentials)."),
        ),
    )
}

/// `PublicKeyCredentialRequestOptionsJSON`.
pub fn request_options() -> Schema {
    let allowed = ArrayBuilder::new().items(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", ObjectBuilder::new().schema_type(Type::String))
            .required("type")
            .property("id", base64url("A credential id, base64url."))
            .required("id"),
    );
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Request options for `navigator.credentials.get()`              (`PublicKeyCredentialRequestOptionsJSON`; give them to              `PublicKeyCredential.parseRequestOptionsFromJSON`).",
        ))
        .property("challenge", base64url("base64url."))
        .required("challenge")
        .property("rpId", ObjectBuilder::new().schema_type(Type::String))
        .required("rpId")
        .property("allowCredentials", allowed)
        .property(
            "userVerification",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["required"])),
        )
        .required("userVerification")
        .into()
}

/// `{"publicKey": PublicKeyCredentialRequestOptionsJSON}`.
pub fn public_key_request_options() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("publicKey", request_options())
        .required("publicKey")
        .into()
}

/// `PublicKeyCredentialCreationOptionsJSON`.
pub fn creation_options() -> Schema {
    let named = |id: bool| {
        let object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("name", ObjectBuilder::new().schema_type(Type::String))
            .required("name");
        match id {
            true => object
                .property("id", base64url("The user handle, base64url."))
                .required("id")
                .property(
                    "displayName",
                    ObjectBuilder::new().schema_type(Type::String),
                )
                .required("displayName"),
            false => object
                .property("id", ObjectBuilder::new().schema_type(Type::String))
                .required("id"),
        }
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Creation options for `navigator.credentials.create()`              (`PublicKeyCredentialCreationOptionsJSON`; give them to              `PublicKeyCredential.parseCreationOptionsFromJSON`): user              verification and a discoverable credential required, the user's              passkeys excluded.",
        ))
        .property("rp", named(false))
        .required("rp")
        .property("user", named(true))
        .required("user")
        .property("challenge", base64url("base64url."))
        .required("challenge")
        .property(
            "pubKeyCredParams",
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)),
        )
        .required("pubKeyCredParams")
        .into()
}

/// What a login's second step accepts.
pub fn login_methods() -> Schema {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["totp", "backupCode", "passkey"])),
        )
        .min_items(Some(1))
        .into()
}

/// `"ok"`, and nothing else.
pub fn ok() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["ok"]))
        .into()
}

/// A compliance profile's name.
pub fn compliance_profile() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(mfa::compliance::Profile::ALL.map(|p| p.name())))
        .into()
}

/// The findings of a compliance report.
pub fn compliance_findings() -> Schema {
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    let finding = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("id", text("The source's id: `SFOV-4`, `6.5.1`."))
        .property("source", text("Document and section."))
        .property(
            "level",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["SHALL", "SHOULD"])),
        )
        .property("requirement", text("The requirement in a line."))
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["met", "not_met", "host", "not_applicable"])),
        )
        .property(
            "setting",
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::String,
                    Type::Null,
                ]))
                .description(Some("The setting read; null when met by construction.")),
        )
        .property("detail", text("What was found, and what to change."));
    let finding = [
        "id",
        "source",
        "level",
        "requirement",
        "status",
        "setting",
        "detail",
    ]
    .into_iter()
    .fold(finding, |f, name| f.required(name));
    ArrayBuilder::new().items(finding).into()
}

/// The document as served: JSON for `/openapi.json`, HTML for `/docs`.
pub struct Docs {
    pub json: String,
    pub html: String,
}

impl Docs {
    pub fn new(doc: OpenApi) -> Self {
        let mut value = serde_json::to_value(&doc).unwrap_or_default();
        // utoipa 5 serializes a link's `operationId` as `operation_id`
        // (and `operationRef`, `requestBody` likewise): renamed here.
        for item in value["paths"].as_object_mut().into_iter().flatten() {
            for op in item.1.as_object_mut().into_iter().flatten() {
                for response in op.1["responses"].as_object_mut().into_iter().flatten() {
                    // `get_mut`, not indexing, which would add `"links": null`
                    // to every answer (not a links map).
                    let links = response.1.get_mut("links").and_then(Value::as_object_mut);
                    for link in links.into_iter().flatten() {
                        if let Some(link) = link.1.as_object_mut() {
                            for (from, to) in [
                                ("operation_id", "operationId"),
                                ("operation_ref", "operationRef"),
                                ("request_body", "requestBody"),
                            ] {
                                if let Some(v) = link.remove(from) {
                                    link.insert(to.to_owned(), v);
                                }
                            }
                        }
                    }
                }
            }
        }
        Docs {
            html: render(&value),
            json: serde_json::to_string_pretty(&value).unwrap_or_default(),
        }
    }
}

/// HTML-escapes `text`.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Prose of the document: escaped, with `code` spans as `<code>`.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&esc(part));
            out.push_str("</code>");
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

/// `#/components/schemas/Name` as a link to the schema's section.
fn schema_link(schema: &Value) -> String {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            format!("<a href=\"#schema-{0}\">{0}</a>", esc(name))
        }
        None => format!("<code>{}</code>", esc(&schema.to_string())),
    }
}

/// The page of `/docs`: every operation with its security, body and
/// answers, then every schema. No script and no style (so that it shows the
/// same under any Content-Security-Policy), nothing from elsewhere.
pub fn render(doc: &Value) -> String {
    let mut html = String::new();
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{0}</title></head><body>\n<h1>{0} <small>{1}</small></h1>\n<p>{2}</p>\n\
         <p>Generated from the server's code; the same document as JSON: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI {3}).</p>\n",
        esc(title),
        esc(doc["info"]["version"].as_str().unwrap_or("")),
        prose(doc["info"]["description"].as_str().unwrap_or("")),
        esc(doc["openapi"].as_str().unwrap_or("")),
    );
    html.push_str("<h2>Operations</h2>\n<ul>\n");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let operations: Vec<(String, String, Value)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .filter(|(method, _)| {
                    ["get", "post", "put", "delete", "patch"].contains(&method.as_str())
                })
                .map(|(method, op)| (path.clone(), method.clone(), op.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (path, method, op) in &operations {
        let _ = writeln!(
            html,
            "<li><a href=\"#{0}\"><span class=\"method\">{1}</span> {2}</a> — {3}</li>",
            esc(op["operationId"].as_str().unwrap_or("")),
            esc(&method.to_uppercase()),
            esc(path),
            prose(op["summary"].as_str().unwrap_or("")),
        );
    }
    html.push_str("</ul>\n");
    for (path, method, op) in &operations {
        let _ = write!(
            html,
            "<section id=\"{0}\"><hr><h3><span class=\"method\">{1}</span> <code>{2}</code></h3>\n<p>{3}</p>\n",
            esc(op["operationId"].as_str().unwrap_or("")),
            esc(&method.to_uppercase()),
            esc(path),
            prose(
                op["description"]
                    .as_str()
                    .or(op["summary"].as_str())
                    .unwrap_or("")
            ),
        );
        if let Some(security) = op["security"].as_array() {
            let schemes: Vec<String> = security
                .iter()
                .filter_map(Value::as_object)
                .flat_map(|s| s.keys().cloned())
                .collect();
            let _ = writeln!(
                html,
                "<p>Authorization: <code>Bearer</code> ({})</p>",
                esc(&schemes.join(", "))
            );
        }
        if let Some(parameters) = op["parameters"].as_array() {
            html.push_str("<p>Parameters:</p><ul>");
            for parameter in parameters {
                let _ = write!(
                    html,
                    "<li><code>{}</code> (in {}): {}</li>",
                    esc(parameter["name"].as_str().unwrap_or("")),
                    esc(parameter["in"].as_str().unwrap_or("")),
                    prose(parameter["description"].as_str().unwrap_or("")),
                );
            }
            html.push_str("</ul>\n");
        }
        if let Some(content) = op["requestBody"]["content"].as_object() {
            for (media, body) in content {
                let _ = writeln!(
                    html,
                    "<p>Body (<code>{}</code>): {}</p>",
                    esc(media),
                    schema_link(&body["schema"])
                );
            }
        }
        html.push_str(
            "<table border=\"1\" cellpadding=\"4\"><tr><th>status</th><th>answer</th><th>meaning</th></tr>\n",
        );
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            let bodies: Vec<String> = response["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(media, c)| {
                    format!("{} <code>{}</code>", schema_link(&c["schema"]), esc(media))
                })
                .collect();
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                bodies.join("<br>"),
                prose(response["description"].as_str().unwrap_or("")),
            );
        }
        html.push_str("</table></section>\n");
    }
    html.push_str("<h2>Schemas</h2>\n");
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            html,
            "<section id=\"schema-{0}\"><h3>{0}</h3><pre>{1}</pre></section>",
            esc(name),
            esc(&serde_json::to_string_pretty(schema).unwrap_or_default()),
        );
    }
    html.push_str("</body></html>\n");
    html
}
