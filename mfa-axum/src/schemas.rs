//! Schemas that the routes' types name by function
//! (`#[schema(schema_with = …)]`): WebAuthn's JSON forms, the login's
//! methods, the compliance report, `true`.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};

/// `true`, and nothing else.
pub(crate) fn always_true() -> Schema {
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
pub(crate) fn registration_credential() -> Schema {
    credential(
        "A new credential (`RegistrationResponseJSON`).",
        strings(&[
            ("clientDataJSON", "base64url."),
            ("attestationObject", "base64url."),
        ]),
    )
}

/// What `navigator.credentials.get()` gave, as JSON.
pub(crate) fn assertion_credential() -> Schema {
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
pub(crate) fn request_options() -> Schema {
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
pub(crate) fn public_key_request_options() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("publicKey", request_options())
        .required("publicKey")
        .into()
}

/// `PublicKeyCredentialCreationOptionsJSON`.
pub(crate) fn creation_options() -> Schema {
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
pub(crate) fn login_methods() -> Schema {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["totp", "backupCode", "passkey"])),
        )
        .min_items(Some(1))
        .into()
}

/// A compliance profile's name.
pub(crate) fn compliance_profile() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(mfa::compliance::Profile::ALL.map(|p| p.name())))
        .into()
}

/// The findings of a compliance report.
pub(crate) fn compliance_findings() -> Schema {
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
