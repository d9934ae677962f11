//! The tables of the guide's "Compliance" chapter (`src/guide/compliance.md`,
//! `mfa::guide::compliance`) are the crate's own reports: this test renders
//! them and fails when the chapter differs. `MFA_BLESS=1 cargo test --test
//! compliance_guide` writes the current reports into the chapter.

use mfa::compliance::{HostFacts, Profile};
use mfa::passkey::RelyingParty;
use mfa::{KeyId, Keyring, MasterKey, MfaContext, Policy};

/// The report of `policy` at NIST SP 800-63B-4 AAL2 with nothing stated by
/// the host, with passkeys or without.
fn table(policy: Policy, passkeys: bool) -> String {
    let keyring = Keyring::new(KeyId(1), MasterKey::generate(&mut rand::rng()));
    let mut context = MfaContext::new(keyring, policy).unwrap();
    if passkeys {
        let rp = RelyingParty::new("example.com", "Example Co", &["https://example.com"]).unwrap();
        context = context.with_relying_party(rp);
    }
    context
        .compliance(Profile::Nist800_63B4Aal2, &HostFacts::unknown())
        .to_markdown()
}

/// Replaces what stands between the markers of `name` in `text`.
fn splice(text: &str, name: &str, table: &str) -> String {
    let (open, close) = (
        format!("<!-- compliance:{name} -->\n"),
        format!("<!-- /compliance:{name} -->"),
    );
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("src/guide/compliance.md: no {open}"))
        + open.len();
    let end = text[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("src/guide/compliance.md: no {close}"))
        + start;
    format!("{}{table}{}", &text[..start], &text[end..])
}

#[test]
fn the_guide_tables_are_the_reports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/guide/compliance.md");
    let chapter = std::fs::read_to_string(path).unwrap();
    let expected = splice(
        &splice(
            &chapter,
            "default",
            &table(Policy::new("Example Co"), false),
        ),
        "preset",
        &table(Policy::nist_800_63b4_aal2("Example Co"), true),
    );
    if std::env::var("MFA_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &expected).unwrap();
        return;
    }
    assert!(
        chapter == expected,
        "src/guide/compliance.md's tables differ from the reports: run \
         `MFA_BLESS=1 cargo test --test compliance_guide` and review the diff"
    );
}
