//! Schemas that the server's own routes' types name by function
//! (`#[schema(schema_with = …)]`); the MFA routes' are `mfa-axum`'s.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// `"ok"`, and nothing else.
pub fn ok() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["ok"]))
        .into()
}
