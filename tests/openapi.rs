//! The OpenAPI schemas (feature `openapi`) describe what the types really
//! serialize to: real values of each type, made by the service, validate
//! against the generated schemas, every field they serialize is a property
//! of their schema, and values that break the contract do not validate.

mod common;

use common::Harness;
use mfa::Error;
use mfa::http::openapi::MfaSchemas;
use mfa::http::{BackupCodesAnswer, ProblemDetails, SetupAnswer, VerifiedAnswer};
use serde_json::{Value, json};
use utoipa::OpenApi;

/// The generated document, as JSON.
fn document() -> Value {
    serde_json::to_value(MfaSchemas::openapi()).unwrap()
}

/// A JSON Schema (2020-12, the dialect of OpenAPI 3.1) for the component
/// `name`, with the document's other components beside it for its `$ref`s.
fn validator(name: &str) -> jsonschema::Validator {
    let doc = document();
    assert!(
        doc["components"]["schemas"].get(name).is_some(),
        "no schema {name}"
    );
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("the schema of {name} is not valid JSON Schema: {e}"))
}

/// `value` validates against the schema `name`, and every member it has is
/// a property the schema declares (so no field is named otherwise than
/// described).
fn assert_conforms(name: &str, value: &Value) {
    let errors: Vec<String> = validator(name)
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name}: {value} does not conform: {errors:?}"
    );
    let doc = document();
    let properties = doc["components"]["schemas"][name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} has no properties"));
    for key in value.as_object().unwrap().keys() {
        assert!(
            properties.contains_key(key) || name == "ProblemDetails",
            "{name}: `{key}` is serialized but not described"
        );
    }
}

fn assert_refused(name: &str, value: &Value) {
    assert!(
        !validator(name).is_valid(value),
        "{name}: {value} should not conform"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_every_schema() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for name in [
        "ProblemDetails",
        "SetupAnswer",
        "BackupCodesAnswer",
        "VerifiedAnswer",
        "MfaStatus",
        "MfaMethod",
    ] {
        assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
    }
}

#[test]
fn problem_documents_of_every_error_conform() {
    for error in &mfa::testkit::every_error() {
        let problem = ProblemDetails::from(error)
            .with_instance("/api/user/me/totp/confirm")
            .with_extension("requestId", "0123abcd");
        let value = serde_json::to_value(&problem).unwrap();
        assert_conforms("ProblemDetails", &value);
        // The bare document, without instance or extensions, too.
        assert_conforms(
            "ProblemDetails",
            &serde_json::to_value(ProblemDetails::from(error)).unwrap(),
        );
    }
    let doc = document();
    let codes = doc["components"]["schemas"]["ProblemDetails"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        codes,
        Error::CODES.iter().map(|c| json!(c)).collect::<Vec<_>>()
    );

    // A code that is not one of the crate's, a missing member, a string status:
    // refused.
    let good = serde_json::to_value(ProblemDetails::from(&Error::InvalidCode)).unwrap();
    let mut unknown = good.clone();
    unknown["code"] = json!("NOT_A_CODE");
    assert_refused("ProblemDetails", &unknown);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("detail");
    assert_refused("ProblemDetails", &missing);
    let mut string_status = good;
    string_status["status"] = json!("400");
    assert_refused("ProblemDetails", &string_status);
}

#[test]
fn a_host_adds_its_own_codes_to_the_problem_schema() {
    let problem = ProblemDetails::new(409, "EMAIL_TAKEN", "Email taken", "In use.");
    let value = serde_json::to_value(&problem).unwrap();
    assert_refused("ProblemDetails", &value);
    let schema =
        serde_json::to_value(mfa::http::openapi::problem_schema(&["EMAIL_TAKEN"])).unwrap();
    assert!(jsonschema::is_valid(&schema, &value));
}

#[tokio::test]
async fn the_answers_of_a_whole_flow_conform() {
    let h = Harness::memory();
    let user = "user-1";

    let status = serde_json::to_value(h.mfa.status(user).await.unwrap()).unwrap();
    assert_eq!(status["mfaMethod"], Value::Null);
    assert_conforms("MfaStatus", &status);

    let setup = h.mfa.begin_setup(user, "ada@example.com").await.unwrap();
    let answer = serde_json::to_value(SetupAnswer::new(&setup).unwrap()).unwrap();
    assert_eq!(answer["otpauthUrl"], setup.otpauth_uri());
    assert_eq!(answer["secret"], setup.secret_base32());
    assert_eq!(answer["qrCode"], setup.qr_data_uri().unwrap().as_str());
    assert_conforms("SetupAnswer", &answer);
    assert_conforms(
        "MfaStatus",
        &serde_json::to_value(h.mfa.status(user).await.unwrap()).unwrap(),
    );

    let secret = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let enabled = h.mfa.confirm_setup(user, &h.code(&secret)).await.unwrap();
    let answer = BackupCodesAnswer::new(&enabled.backup_codes);
    assert_eq!(answer.codes(), enabled.backup_codes.as_strs());
    let answer = serde_json::to_value(&answer).unwrap();
    assert_eq!(answer["success"], true);
    assert_eq!(answer["backupCodes"].as_array().unwrap().len(), 10);
    assert_conforms("BackupCodesAnswer", &answer);

    let status = serde_json::to_value(h.mfa.status(user).await.unwrap()).unwrap();
    assert_eq!(status["mfaMethod"], "totp");
    assert_conforms("MfaStatus", &status);

    h.clock.advance(30);
    let codes = enabled.backup_codes.as_strs();
    let verified = h.mfa.verify(user, codes[0]).await.unwrap();
    let answer = serde_json::to_value(VerifiedAnswer::from(&verified)).unwrap();
    assert_eq!(answer, json!({"backupCodesRemaining": 9}));
    assert_conforms("VerifiedAnswer", &answer);

    // What the contract rules out does not validate.
    let mut not_success =
        serde_json::to_value(BackupCodesAnswer::new(&enabled.backup_codes)).unwrap();
    not_success["success"] = json!(false);
    assert_refused("BackupCodesAnswer", &not_success);
    assert_refused(
        "BackupCodesAnswer",
        &json!({"success": true, "backupCodes": ["not a code"]}),
    );
    assert_refused("MfaStatus", &json!({"mfaEnabled": true}));
    assert_refused("VerifiedAnswer", &json!({"backupCodesRemaining": -1}));
    assert_refused(
        "SetupAnswer",
        &json!({"otpauthUrl": "https://example.com", "secret": "JBSWY3DP"}),
    );
}

#[test]
fn secret_bearing_answers_print_no_secret() {
    let h = Harness::memory();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let setup = h.mfa.begin_setup("u", "ada@example.com").await.unwrap();
        let answer = SetupAnswer::new(&setup).unwrap();
        let printed = format!("{answer:?}");
        assert!(!printed.contains(setup.secret_base32()), "{printed}");
        let secret = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
        let enabled = h.mfa.confirm_setup("u", &h.code(&secret)).await.unwrap();
        let printed = format!("{:?}", BackupCodesAnswer::new(&enabled.backup_codes));
        for code in enabled.backup_codes.as_strs() {
            assert!(!printed.contains(code), "{printed}");
        }
    });
}
