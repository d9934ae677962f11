//! Stored records and envelopes load forever (I9).
//!
//! `tests/golden/` holds records and envelopes written once by an earlier
//! release, deterministically (seeded RNG, `mfa::testkit::test_keyring()`,
//! fixed times), with the plaintext facts beside them: the TOTP secret, which
//! backup codes are valid and which are used, the failure count, and a TOTP
//! code known to be right at a known time. Every release must:
//!
//! - parse each record and each envelope;
//! - decrypt the secret for the right user id only;
//! - accept the known TOTP code and a known backup code, and refuse used codes;
//! - serialize the record and the envelope back to exactly the stored text
//!   (for the current format; an older format would instead be converted).
//!
//! These files are never rewritten. Changing a format means a new format tag,
//! new golden files beside the old ones, and a test that the old ones migrate;
//! see TESTING.md. `MFA_WRITE_GOLDEN=1 cargo test --test golden` writes the
//! files of the current format if they are missing, and refuses to overwrite one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mfa::testkit::{test_config, test_keyring};
use mfa::{
    Error, MfaContext, MfaEnrollment, VerifiedBy,
    keys::Envelope,
    totp::{self, TotpParams, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

const USER: &str = "golden-user";
const T0: u64 = 1_700_000_000;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The plaintext facts about one golden record.
#[derive(Debug, Serialize, Deserialize)]
struct RecordFacts {
    /// `disabled`, `pending` or `active`.
    state: String,
    user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_base32: Option<String>,
    /// A time and the TOTP code that is right (and unused) then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_at: Option<(u64, String)>,
    #[serde(default)]
    failures: u32,
    #[serde(default)]
    locked_until: Option<u64>,
    #[serde(default)]
    last_step: Option<u64>,
    #[serde(default)]
    unused_backup_codes: Vec<String>,
    #[serde(default)]
    used_backup_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EnvelopeFacts {
    base64: String,
    key_id: u32,
    purpose: String,
    user_id: String,
    plaintext_hex: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Facts {
    note: String,
    records: BTreeMap<String, RecordFacts>,
    envelopes: Vec<EnvelopeFacts>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn codes(codes: &mfa::BackupCodes) -> Vec<String> {
    codes.as_strs().into_iter().map(str::to_owned).collect()
}

fn secret_code(secret: &str, at: u64) -> String {
    totp::generate(
        &TotpSecret::from_base32(secret).unwrap(),
        TotpParams::default(),
        at,
    )
    .unwrap()
}

/// Writes the golden files of the current formats. Deterministic: the same
/// crate and `rand` version give the same bytes.
fn generate() -> (BTreeMap<String, String>, Facts) {
    let config = test_config();
    let mut rng = StdRng::seed_from_u64(2026);
    let mut files = BTreeMap::new();
    let mut records = BTreeMap::new();
    let blank = |state: &str| RecordFacts {
        state: state.into(),
        user_id: USER.into(),
        secret_base32: None,
        code_at: None,
        failures: 0,
        locked_until: None,
        last_step: None,
        unused_backup_codes: Vec::new(),
        used_backup_codes: Vec::new(),
        expires_at: None,
    };

    files.insert("disabled.json".into(), MfaEnrollment::default().to_json());
    records.insert("disabled.json".into(), blank("disabled"));

    // Pending, with two failed confirmations.
    let begun =
        MfaEnrollment::default().begin_setup(&config, USER, "golden@example.com", T0, &mut rng);
    let secret = begun.outcome.as_ref().unwrap().secret_base32().to_owned();
    let pending = begun.state;
    let wrong = |at: u64| {
        let window: Vec<String> = [at - 30, at, at + 30]
            .iter()
            .map(|t| secret_code(&secret, *t))
            .collect();
        (0..)
            .map(|n| format!("{n:06}"))
            .find(|c| !window.contains(c))
            .unwrap()
    };
    files.insert("pending.json".into(), pending.to_json());
    records.insert(
        "pending.json".into(),
        RecordFacts {
            secret_base32: Some(secret.clone()),
            code_at: Some((T0 + 60, secret_code(&secret, T0 + 60))),
            expires_at: Some(T0 + 600),
            ..blank("pending")
        },
    );
    let mut failing = pending.clone();
    for _ in 0..2 {
        let t = failing.confirm_setup(&config, USER, &wrong(T0 + 10), T0 + 10, &mut rng);
        assert!(matches!(t.outcome, Err(Error::InvalidCode)));
        failing = t.state;
    }
    files.insert("pending_with_failures.json".into(), failing.to_json());
    records.insert(
        "pending_with_failures.json".into(),
        RecordFacts {
            secret_base32: Some(secret.clone()),
            code_at: Some((T0 + 60, secret_code(&secret, T0 + 60))),
            failures: 2,
            expires_at: Some(T0 + 600),
            ..blank("pending")
        },
    );

    // Active: confirmed at T0 + 30, two backup codes used, one TOTP login,
    // then three failed attempts.
    let confirmed = pending.confirm_setup(
        &config,
        USER,
        &secret_code(&secret, T0 + 30),
        T0 + 30,
        &mut rng,
    );
    let backup = codes(confirmed.outcome.as_ref().unwrap());
    let mut active = confirmed.state;
    for (i, at) in [(0usize, T0 + 40), (1, T0 + 50)] {
        let t = active.verify_backup_code(&config, USER, &backup[i], at, &mut rng);
        assert!(t.outcome.is_ok());
        active = t.state;
    }
    let t = active.verify_totp(
        &config,
        USER,
        &secret_code(&secret, T0 + 90),
        T0 + 90,
        &mut rng,
    );
    assert!(t.outcome.is_ok());
    active = t.state;
    for _ in 0..3 {
        let t = active.verify_totp(&config, USER, &wrong(T0 + 120), T0 + 120, &mut rng);
        assert!(matches!(t.outcome, Err(Error::InvalidCode)));
        active = t.state;
    }
    let active_facts = |failures, locked_until| RecordFacts {
        secret_base32: Some(secret.clone()),
        code_at: Some((T0 + 1_200, secret_code(&secret, T0 + 1_200))),
        failures,
        locked_until,
        last_step: Some((T0 + 90) / 30),
        unused_backup_codes: backup[2..].to_vec(),
        used_backup_codes: backup[..2].to_vec(),
        ..blank("active")
    };
    files.insert("active.json".into(), active.to_json());
    records.insert("active.json".into(), active_facts(3, None));

    // Two more failures: locked for 30 s from T0 + 130.
    let mut locked = active;
    for _ in 0..2 {
        let t = locked.verify_totp(&config, USER, &wrong(T0 + 130), T0 + 130, &mut rng);
        assert!(matches!(t.outcome, Err(Error::InvalidCode)));
        locked = t.state;
    }
    files.insert("active_locked.json".into(), locked.to_json());
    records.insert("active_locked.json".into(), active_facts(5, Some(T0 + 160)));

    // Envelopes: a TOTP secret and an arbitrary purpose.
    let keyring = test_keyring();
    let mut envelopes = Vec::new();
    for (purpose, user, plaintext) in [
        (
            "totp-secret",
            USER,
            TotpSecret::from_base32(&secret)
                .unwrap()
                .as_bytes()
                .to_vec(),
        ),
        ("note", "someone-else", b"golden plaintext".to_vec()),
    ] {
        let sealed = Envelope::seal(&keyring, purpose, user, &plaintext, &mut rng).unwrap();
        envelopes.push(EnvelopeFacts {
            base64: sealed.to_base64(),
            key_id: sealed.key_id().0,
            purpose: purpose.into(),
            user_id: user.into(),
            plaintext_hex: hex(&plaintext),
        });
    }
    let facts = Facts {
        note: "Written once by tests/golden.rs with mfa::testkit::test_keyring() (key id 1, \
               32 bytes of 0x42) and mfa::testkit::test_config(). Never edit: add a new format \
               directory instead."
            .into(),
        records,
        envelopes,
    };
    (files, facts)
}

/// Writes missing golden files when `MFA_WRITE_GOLDEN` is set; never overwrites.
fn write_if_asked(format_dir: &Path) {
    if std::env::var_os("MFA_WRITE_GOLDEN").is_none() {
        return;
    }
    let (files, facts) = generate();
    std::fs::create_dir_all(format_dir).unwrap();
    let mut all: Vec<(String, String)> = files.into_iter().map(|(n, t)| (n, t + "\n")).collect();
    all.push((
        "facts.json".into(),
        serde_json::to_string_pretty(&facts).unwrap() + "\n",
    ));
    for (name, text) in all {
        let path = format_dir.join(&name);
        if path.exists() {
            eprintln!("{} exists: left as it is", path.display());
            continue;
        }
        std::fs::write(&path, text).unwrap();
        eprintln!("wrote {}", path.display());
    }
}

fn format_dir() -> PathBuf {
    dir().join(MfaEnrollment::FORMAT.replace('/', "-"))
}

fn load_facts(format_dir: &Path) -> Facts {
    let text = std::fs::read_to_string(format_dir.join("facts.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", format_dir.display()));
    serde_json::from_str(&text).unwrap()
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(0)
}

fn check_record(config: &MfaContext, name: &str, text: &str, facts: &RecordFacts) {
    let record = MfaEnrollment::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        record.to_json(),
        text.trim_end(),
        "{name}: re-serializes to a different text: the format changed (see TESTING.md)"
    );
    let user = facts.user_id.as_str();
    match (&record, facts.state.as_str()) {
        (MfaEnrollment::default(), "disabled") => {
            let status = record.status(config, T0);
            assert!(!status.mfa_enabled && !status.pending_setup, "{name}");
        }
        (MfaEnrollment::Pending(p), "pending") => {
            assert_eq!(Some(p.expires_at()), facts.expires_at, "{name}");
            let json: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                json["attempts"]["failures"].as_u64().unwrap_or(0),
                u64::from(facts.failures)
            );
            let (at, code) = facts.code_at.clone().unwrap();
            assert!(record.status(config, at).pending_setup, "{name}");
            // The secret is bound to its user.
            let other = record
                .clone()
                .confirm_setup(config, "another-user", &code, at, &mut rng());
            assert!(
                matches!(other.outcome, Err(Error::DecryptionFailed)),
                "{name}: {:?}",
                other.outcome
            );
            let confirmed = record
                .clone()
                .confirm_setup(config, user, &code, at, &mut rng());
            assert!(confirmed.outcome.is_ok(), "{name}: {:?}", confirmed.outcome);
            let expired =
                record
                    .clone()
                    .confirm_setup(config, user, &code, p.expires_at(), &mut rng());
            assert!(
                matches!(expired.outcome, Err(Error::PendingExpired)),
                "{name}"
            );
        }
        (MfaEnrollment::Active(a), "active") => {
            assert_eq!(a.attempts().failures(), facts.failures, "{name}");
            assert_eq!(a.last_step(), facts.last_step, "{name}");
            assert_eq!(
                a.backup_codes().remaining(),
                facts.unused_backup_codes.len(),
                "{name}"
            );
            if let Some(until) = facts.locked_until {
                assert!(record.status(config, until - 1).locked_out, "{name}");
                assert!(!record.status(config, until).locked_out, "{name}");
            }
            let (at, code) = facts.code_at.clone().unwrap();
            let secret = facts.secret_base32.as_deref().unwrap();
            assert_eq!(
                secret_code(secret, at),
                code,
                "{name}: TOTP generation changed"
            );
            let other = record
                .clone()
                .verify_totp(config, "another-user", &code, at, &mut rng());
            assert!(
                matches!(other.outcome, Err(Error::DecryptionFailed)),
                "{name}"
            );
            let login = record
                .clone()
                .verify_totp(config, user, &code, at, &mut rng());
            let Ok(verified) = login.outcome else {
                panic!("{name}: {:?}", login.outcome)
            };
            assert!(
                matches!(verified.by, VerifiedBy::Totp(m) if m.step == at / 30),
                "{name}"
            );
            // The last accepted step stays used (checked where the record is not locked).
            let step = facts.last_step.unwrap();
            let then = step * 30;
            let replay = record.clone().verify_totp(
                config,
                user,
                &secret_code(secret, then),
                then,
                &mut rng(),
            );
            if record.status(config, then).locked_out {
                assert!(
                    matches!(replay.outcome, Err(Error::LockedOut { .. })),
                    "{name}"
                );
            } else {
                assert!(matches!(replay.outcome, Err(Error::InvalidCode)), "{name}");
            }
            assert!(!replay.changed, "{name}: a replay was counted");
            for code in &facts.unused_backup_codes {
                let t = record
                    .clone()
                    .verify_backup_code(config, user, code, at, &mut rng());
                assert!(
                    t.outcome.is_ok(),
                    "{name}: backup code refused: {:?}",
                    t.outcome
                );
            }
            for code in &facts.used_backup_codes {
                let t = record
                    .clone()
                    .verify_backup_code(config, user, code, at, &mut rng());
                assert!(matches!(t.outcome, Err(Error::InvalidCode)), "{name}");
                assert!(!t.changed, "{name}: a used code was counted");
            }
        }
        (record, state) => panic!("{name}: expected {state}, loaded {record:?}"),
    }
}

#[test]
fn golden_records_and_envelopes_load() {
    let format_dir = format_dir();
    write_if_asked(&format_dir);
    let facts = load_facts(&format_dir);
    let config = test_config();
    assert!(facts.records.len() >= 5, "every state has a golden record");
    for (name, record_facts) in &facts.records {
        let text = std::fs::read_to_string(format_dir.join(name)).unwrap();
        check_record(&config, name, &text, record_facts);
    }
    let keyring = test_keyring();
    assert!(!facts.envelopes.is_empty());
    for (i, e) in facts.envelopes.iter().enumerate() {
        let envelope =
            Envelope::from_base64(&e.base64).unwrap_or_else(|err| panic!("envelope {i}: {err}"));
        assert_eq!(envelope.key_id().0, e.key_id, "envelope {i}");
        assert_eq!(
            envelope.to_base64(),
            e.base64,
            "envelope {i}: the format changed"
        );
        assert_eq!(
            Envelope::from_bytes(&envelope.to_bytes()).unwrap(),
            envelope
        );
        assert_eq!(
            envelope.to_bytes()[0],
            Envelope::FORMAT_VERSION,
            "envelope {i}"
        );
        let plain = envelope.open(&keyring, &e.purpose, &e.user_id).unwrap();
        assert_eq!(hex(&plain), e.plaintext_hex, "envelope {i}");
        assert!(matches!(
            envelope.open(&keyring, &e.purpose, "another-user"),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            envelope.open(&keyring, "another-purpose", &e.user_id),
            Err(Error::DecryptionFailed)
        ));
    }
}

/// Every file under `tests/golden/` is checked by the test above, so that no
/// golden file sits there unread.
#[test]
fn every_golden_file_is_checked() {
    let format_dir = format_dir();
    write_if_asked(&format_dir);
    let facts = load_facts(&format_dir);
    let mut expected: Vec<String> = facts.records.keys().cloned().collect();
    expected.push("facts.json".into());
    expected.sort();
    let mut found: Vec<String> = std::fs::read_dir(&format_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    found.sort();
    assert_eq!(found, expected);
    let formats: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        formats,
        ["mfa-1"],
        "a new format directory needs its own checks here"
    );
}
