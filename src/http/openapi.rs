//! OpenAPI 3.1 schemas (utoipa 5) of the crate's HTTP answers, for a host
//! that describes its endpoints with `utoipa`.
//!
//! Every answer type of [`crate::http`] and [`MfaStatus`] implements
//! [`utoipa::ToSchema`], so a host names them in its own
//! `#[utoipa::path(responses(...))]`; [`MfaSchemas`] holds them all, to be
//! merged into the host's document in one line:
//!
//! ```
//! use utoipa::OpenApi;
//!
//! #[derive(OpenApi)]
//! #[openapi(info(title = "My product"))]
//! struct ApiDoc;
//!
//! let doc = ApiDoc::openapi().merge_from(mfa::http::openapi::MfaSchemas::openapi());
//! let schemas = &doc.components.as_ref().unwrap().schemas;
//! for name in ["ProblemDetails", "SetupAnswer", "BackupCodesAnswer", "VerifiedAnswer", "MfaStatus"] {
//!     assert!(schemas.contains_key(name), "{name}");
//! }
//! ```
//!
//! The schema of [`ProblemDetails`] lists the crate's machine codes
//! ([`Error::CODES`]) as the values of `code`. A host whose problem
//! documents carry codes of its own (a wrong password, a taken email)
//! describes them with [`problem_schema`], which adds its codes to the list.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{RefOr, schema};
use utoipa::{PartialSchema, ToSchema};

use super::{BackupCodesAnswer, ProblemDetails, SetupAnswer, VerifiedAnswer};
use crate::enrollment::{MfaMethod, MfaStatus};
use crate::error::Error;

/// The crate's schemas, as an OpenAPI document with components only: merge
/// it into the host's with [`utoipa::openapi::OpenApi::merge_from`].
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    ProblemDetails,
    SetupAnswer,
    BackupCodesAnswer,
    VerifiedAnswer,
    MfaStatus,
    MfaMethod
)))]
pub struct MfaSchemas;

/// The schema of a problem document whose `code` is one of the crate's
/// machine codes ([`Error::CODES`]) or one of `host_codes`.
///
/// ```
/// let schema = mfa::http::openapi::problem_schema(&["EMAIL_TAKEN"]);
/// let json = serde_json::to_value(&schema).unwrap();
/// let codes = json["properties"]["code"]["enum"].as_array().unwrap();
/// assert!(codes.contains(&"INVALID_CODE".into()));
/// assert!(codes.contains(&"EMAIL_TAKEN".into()));
/// ```
pub fn problem_schema(host_codes: &[&str]) -> Schema {
    let mut codes: Vec<&str> = Error::CODES.to_vec();
    for code in host_codes {
        if !codes.contains(code) {
            codes.push(code);
        }
    }
    let string = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "An RFC 9457 (formerly RFC 7807) problem document, served as \
             `application/problem+json`.",
        ))
        .property(
            "type",
            string("A URI naming the problem type.")
                .format(Some(SchemaFormat::Custom("uri-reference".into()))),
        )
        .required("type")
        .property("title", string("A short summary of the problem type."))
        .required("title")
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                .minimum(Some(400))
                .maximum(Some(599))
                .description(Some("The HTTP status code.")),
        )
        .required("status")
        .property(
            "detail",
            string("An explanation of this occurrence, safe to show to the end user."),
        )
        .required("detail")
        .property(
            "instance",
            string("A URI reference naming this occurrence (usually the request path).")
                .format(Some(SchemaFormat::Custom("uri-reference".into()))),
        )
        .property(
            "code",
            string("The stable machine code.").enum_values(Some(codes)),
        )
        .required("code")
        .property(
            "requestId",
            string("The request's id, as in the `x-request-id` response header."),
        )
        .property(
            "retryAfter",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .description(Some(
                    "Seconds to wait before retrying (`LOCKED_OUT` with a timed lock).",
                )),
        )
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
        .into()
}

impl PartialSchema for ProblemDetails {
    fn schema() -> RefOr<Schema> {
        problem_schema(&[]).into()
    }
}

impl ToSchema for ProblemDetails {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ProblemDetails")
    }
}

/// `true`, and nothing else (`success` of an answer).
pub(crate) fn always_true() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .into()
}

/// A set of backup codes: `xxxxx-xxxxx` (or `xxxxx-xxxxx-xxxxx`) in
/// lowercase Crockford base32.
pub(crate) fn backup_code_list() -> schema::Array {
    ArrayBuilder::new()
        .items(backup_code())
        .min_items(Some(1))
        .build()
}

/// One backup code as shown.
pub(crate) fn backup_code() -> schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(
            "^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}(-[0-9a-hjkmnp-tv-z]{5})?$",
        ))
        .examples(["a1b2c-d3e4f"])
        .build()
}
