//! The crate under the feature set this package was built with: run it as
//! `cargo test -p mfa-feature-tests --no-default-features --features "…"`
//! (CI runs every combination; see `.ci/run`).

use mfa_feature_tests::{block_on, memory_service, whole_flow};

/// Without any runtime — and, built without the `tokio` feature, without
/// tokio at all — the service runs every operation inline.
#[test]
fn the_whole_flow_without_a_runtime() {
    let mfa = memory_service();
    block_on(whole_flow(&mfa, "no-runtime"));
}

/// The pure core alone: a host with its own persistence.
#[test]
fn the_pure_core_alone() {
    let ctx = mfa_feature_tests::context();
    let t = mfa::MfaEnrollment::default().begin_setup(
        &ctx,
        "u",
        "u@example.com",
        1_700_000_000,
        &mut rand::rng(),
    );
    assert!(t.changed && t.outcome.is_ok());
    let json = t.state.to_json();
    assert_eq!(mfa::MfaEnrollment::from_json(&json).unwrap(), t.state);
}

/// With the `qr` feature, the QR code of the otpauth URI; without it, the
/// methods do not exist (this test is not even compiled).
#[cfg(feature = "qr")]
#[test]
fn qr_codes() {
    let mfa = memory_service();
    let setup = block_on(mfa.begin_setup("qr", "qr@example.com")).unwrap();
    assert!(setup.qr_png().unwrap().starts_with(b"\x89PNG"));
    assert!(
        setup
            .qr_data_uri()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
}

/// With `openapi`, the schemas of the answers; the setup answer carries a QR
/// code exactly when `qr` is on too.
#[cfg(feature = "openapi")]
#[test]
fn openapi_schemas() {
    use utoipa::OpenApi;
    let doc = mfa::http::openapi::MfaSchemas::openapi();
    let schemas = &doc.components.as_ref().unwrap().schemas;
    assert!(schemas.contains_key("ProblemDetails") && schemas.contains_key("SetupAnswer"));
    let mfa = memory_service();
    let setup = block_on(mfa.begin_setup("oa", "oa@example.com")).unwrap();
    let answer = serde_json::to_value(mfa::http::SetupAnswer::new(&setup).unwrap()).unwrap();
    assert_eq!(answer["secret"], setup.secret_base32());
    assert_eq!(answer.get("qrCode").is_some(), cfg!(feature = "qr"));
}

/// With `tokio`, inside a runtime: hashing goes to the blocking pool.
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_on_tokio() {
    let mfa = memory_service().with_max_concurrent_hashes(1);
    whole_flow(&mfa, "on-tokio").await;
}

/// With `sqlite` (which brings tokio): the flow on an in-memory database.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_on_sqlite() {
    let store = mfa::SqliteStore::connect("sqlite::memory:").await.unwrap();
    let mfa = mfa::Mfa::new(store, mfa_feature_tests::context());
    whole_flow(&mfa, "on-sqlite").await;
}

/// With `testkit`: the conformance suite on the in-memory store.
#[cfg(feature = "testkit")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_testkit_conformance_suite() {
    mfa::testkit::conformance::run(std::sync::Arc::new(mfa::MemoryStore::new())).await;
}

/// With `import` (and whatever else the build has, tokio or not): a factor
/// from another system imported through the service, its plain backup code
/// and its TOTP code accepted.
#[cfg(feature = "import")]
#[test]
fn an_imported_factor_logs_in() {
    use mfa::import::{CodeCase, ImportedFactor};
    let mfa = memory_service();
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let factor = ImportedFactor::from_base32(secret, mfa::totp::TotpParams::default())
        .unwrap()
        .with_plain_backup_codes(["ab2cd3ef"], CodeCase::Insensitive)
        .unwrap();
    block_on(mfa.import("imported", factor)).unwrap();
    let status = block_on(mfa.status("imported")).unwrap();
    assert!(status.mfa_enabled && status.backup_codes_remaining == 1);
    assert!(block_on(mfa.verify("imported", "AB2CD3EF")).is_ok());
    let code = mfa::totp::generate(
        &mfa::totp::TotpSecret::from_base32(secret).unwrap(),
        mfa::totp::TotpParams::default(),
        mfa.now(),
    )
    .unwrap();
    assert!(block_on(mfa.verify("imported", &code)).is_ok());
}

/// Under every feature set, passkeys or not: a stored set of passkeys alone
/// (a golden record) loads, counts as MFA on, lists its passkey, and its
/// backup code logs in; a TOTP-shaped code is refused.
#[test]
fn a_record_with_passkeys_loads_and_its_codes_work() {
    let text = include_str!("../../tests/golden/mfa-3/active_passkey_only.json");
    let record = mfa::MfaEnrollment::from_json(text).unwrap();
    let ctx = mfa_feature_tests::golden_context();
    let now = 1_700_000_000 + 3_600;
    let status = record.status(&ctx, now);
    assert!(status.mfa_enabled && status.passkeys == 1);
    assert_eq!(record.passkeys().len(), 1);
    let t = record
        .clone()
        .verify(&ctx, "golden-user", "jbsqd-pam7r", now, &mut rand::rng());
    assert!(t.outcome.is_ok(), "{:?}", t.outcome);
    let t = record.verify(&ctx, "golden-user", "123456", now, &mut rand::rng());
    assert!(matches!(t.outcome, Err(mfa::Error::InvalidCode)));
}

/// With `passkeys` (tokio or not): the creation options of a registration,
/// in the WebAuthn JSON form, through the service.
#[cfg(feature = "passkeys")]
#[test]
fn passkey_registration_begins() {
    let ctx = mfa_feature_tests::context().with_relying_party(
        mfa::passkey::RelyingParty::new("localhost", "feature-tests", &["http://localhost:8080"])
            .unwrap(),
    );
    let mfa = mfa::Mfa::new(mfa::MemoryStore::new(), ctx);
    let options = block_on(mfa.begin_passkey_registration("pk", "pk@example.com", None)).unwrap();
    let json = serde_json::to_value(&options).unwrap();
    assert_eq!(json["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(
        json["publicKey"]["authenticatorSelection"]["residentKey"],
        "required"
    );
}
