//! Stored records and envelopes load forever (I9).
//!
//! `tests/golden/` holds, per record format, records and envelopes written
//! once, deterministically (seeded RNG, `mfa::testkit::test_keyring()`, fixed
//! times), with the plaintext facts beside them: the TOTP secret, which backup
//! codes are valid and which are used, the failure count, the epoch, the
//! completed logins, and a TOTP code known to be right at a known time. Every
//! release must:
//!
//! - parse each record and each envelope;
//! - decrypt the secret for the right user id only;
//! - accept the known TOTP code (also through a login challenge) and a known
//!   backup code, and refuse used codes;
//! - serialize a record of the current format (`mfa-2/`) back to exactly the
//!   stored text, and convert a record of an older format (`mfa-1/`, written
//!   before epochs) to the current one: the same factor, at epoch 0 with no
//!   completed logins;
//! - serialize each envelope back to exactly the stored text.
//!
//! These files are never rewritten. Changing a format means a new format tag,
//! new golden files beside the old ones, and a test that the old ones migrate;
//! see TESTING.md. `MFA_WRITE_GOLDEN=1 cargo test --test golden` writes the
//! files of the current format if they are missing, and refuses to overwrite one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mfa::import::{CodeCase, ImportedFactor};
use mfa::testkit::legacy::gitlab_backup_code_hash;
use mfa::testkit::{test_config, test_keyring};
use mfa::{
    Epoch, Error, FactorState, LoginStep, MfaContext, MfaEnrollment, ProofMethod, Reauth,
    VerifiedBy,
    event::SecurityEvent,
    keys::Envelope,
    totp::{self, TotpParams, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

const USER: &str = "golden-user";
const T0: u64 = 1_700_000_000;
/// Every format directory, oldest first: the last one is the current format.
const FORMATS: [&str; 2] = ["mfa-1", "mfa-2"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The plaintext facts about one golden record.
#[derive(Debug, Serialize, Deserialize)]
struct RecordFacts {
    /// `disabled`, `pending` or `active`.
    state: String,
    user_id: String,
    /// The security epoch (not in `mfa-1/`: records of `mfa/1` load at 0).
    #[serde(default)]
    epoch: u64,
    /// Logins completed through a challenge (not in `mfa-1/`: 0).
    #[serde(default)]
    logins: u64,
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
    /// A replacement authenticator waiting for its first code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replacement: Option<ReplacementFacts>,
    /// Tokens of remembered devices, valid until the time beside them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    device_tokens: Vec<(String, u64)>,
    /// Tokens of devices the record once remembered, revoked since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revoked_device_tokens: Vec<String>,
    /// The secret of the app a replacement retired: its codes are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_secret_base32: Option<String>,
    /// How many of `unused_backup_codes` are an imported system's own hashes
    /// (bcrypt, PBKDF2), which the status reports for regeneration.
    #[serde(default, skip_serializing_if = "is_zero")]
    legacy_backup_codes: usize,
    /// Imported legacy codes used already: refused, and (unlike a used code
    /// of the crate's, which its locator names) counted as a wrong code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    used_legacy_backup_codes: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The plaintext facts about a pending replacement.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReplacementFacts {
    secret_base32: String,
    /// A time before it expires and the new app's code then.
    code_at: (u64, String),
    expires_at: u64,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    envelopes: Vec<EnvelopeFacts>,
}

/// The facts files of a format directory. `facts_lifecycle.json` was added
/// to `mfa-2/` with the replacement and remembered devices, and
/// `facts_import.json` with imported factors (the record format kept its
/// tag both times: the new fields are left out when empty), beside the
/// `facts.json` that is never rewritten.
fn fact_files(format: &str) -> &'static [&'static str] {
    match format {
        "mfa-1" => &["facts.json"],
        _ => &["facts.json", "facts_lifecycle.json", "facts_import.json"],
    }
}

/// The records of `mfa-2/` written by imports, described in
/// `facts_import.json`.
const IMPORT_RECORDS: [&str; 3] = [
    "active_imported_plain.json",
    "active_imported_bcrypt.json",
    "active_imported_pbkdf2.json",
];

/// The records of `mfa-2/` written with the lifecycle, described in
/// `facts_lifecycle.json`.
const LIFECYCLE_RECORDS: [&str; 3] = [
    "active_two_devices.json",
    "active_replacing.json",
    "active_after_replacement.json",
];

/// A proof of `epoch` verified at `at`, as a host keeps one in a session.
fn proof_at(user: &str, epoch: u64, at: u64) -> mfa::Proof {
    mfa::testkit::proof_of(user, mfa::ProofMethod::Totp, at, mfa::Epoch::new(epoch))
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

/// A code that is wrong for `secret` at `at` (one step either side included).
fn wrong_code(secret: &str, at: u64) -> String {
    let window: Vec<String> = [at - 30, at, at + 30]
        .iter()
        .map(|t| secret_code(secret, *t))
        .collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .unwrap()
}

/// The login challenge `record` opens at `at`.
fn challenge(
    config: &MfaContext,
    record: &MfaEnrollment,
    user: &str,
    at: u64,
) -> mfa::LoginChallenge {
    match record.begin_login(config, user, None, at) {
        LoginStep::SecondFactor(challenge) => challenge,
        other => panic!("an active factor asks for a second step, not {other:?}"),
    }
}

/// The number of completed logins a record holds, as it writes it.
fn logins(record: &MfaEnrollment) -> u64 {
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    json["logins"]
        .as_u64()
        .expect("a written record counts its logins")
}

/// The `mfa/2` text an `mfa/1` record is written back as: its factor,
/// unchanged and in the same order, under `"factor"`, at epoch 0 with no
/// completed logins.
fn converted_from_v1(text: &str) -> Option<String> {
    let factor = text.trim_end().strip_prefix(r#"{"format":"mfa/1","#)?;
    Some(format!(
        r#"{{"format":"mfa/2","epoch":0,"logins":0,"factor":{{{factor}}}"#
    ))
}

/// Writes the golden files of the current format. Deterministic: the same
/// crate and `rand` version give the same bytes.
///
/// One user's history: a pending setup with a failed confirmation; the
/// factor confirmed (epoch 1); two logins through challenges (a backup code,
/// then a TOTP code after a wrong one) and a backup code used outside a
/// login; five failed completions that lock the factor; on another branch
/// the factor disabled (epoch 2), set up again, confirmed (epoch 3) and
/// reset by an operator (epoch 4). With its own seeded RNG, so the records
/// above come out as before: from the confirmed factor, two devices
/// remembered; then a replacement begun on a code of the app (epoch 1);
/// then the replacement confirmed (epoch 2), which forgets the devices.
fn generate() -> (BTreeMap<String, String>, Facts, Facts, Facts) {
    let config = test_config();
    let mut rng = StdRng::seed_from_u64(2026);
    let mut files = BTreeMap::new();
    let mut records = BTreeMap::new();
    let mut put = |name: &str, record: &MfaEnrollment, facts: RecordFacts| {
        assert_eq!(record.epoch(), Epoch::new(facts.epoch), "{name}");
        assert_eq!(logins(record), facts.logins, "{name}");
        files.insert(name.to_owned(), record.to_json());
        records.insert(name.to_owned(), facts);
    };
    let blank = |state: &str, epoch: u64, logins: u64| RecordFacts {
        state: state.into(),
        user_id: USER.into(),
        epoch,
        logins,
        secret_base32: None,
        code_at: None,
        failures: 0,
        locked_until: None,
        last_step: None,
        unused_backup_codes: Vec::new(),
        used_backup_codes: Vec::new(),
        expires_at: None,
        replacement: None,
        device_tokens: Vec::new(),
        revoked_device_tokens: Vec::new(),
        previous_secret_base32: None,
        legacy_backup_codes: 0,
        used_legacy_backup_codes: Vec::new(),
    };

    put(
        "disabled.json",
        &MfaEnrollment::default(),
        blank("disabled", 0, 0),
    );

    // Pending, with one failed confirmation.
    let begun =
        MfaEnrollment::default().begin_setup(&config, USER, "golden@example.com", T0, &mut rng);
    let secret = begun.outcome.as_ref().unwrap().secret_base32().to_owned();
    let t = begun.state.confirm_setup(
        &config,
        USER,
        &wrong_code(&secret, T0 + 10),
        T0 + 10,
        &mut rng,
    );
    assert!(matches!(t.outcome, Err(Error::InvalidCode)));
    let pending = t.state;
    put(
        "pending.json",
        &pending,
        RecordFacts {
            secret_base32: Some(secret.clone()),
            code_at: Some((T0 + 60, secret_code(&secret, T0 + 60))),
            failures: 1,
            expires_at: Some(T0 + 600),
            ..blank("pending", 0, 0)
        },
    );

    // Active: confirmed at T0 + 30, epoch 1.
    let confirmed = pending.confirm_setup(
        &config,
        USER,
        &secret_code(&secret, T0 + 30),
        T0 + 30,
        &mut rng,
    );
    let backup = codes(&confirmed.outcome.as_ref().unwrap().backup_codes);
    let active = confirmed.state;
    let active_facts = |epoch, logins, last_step, used: usize| RecordFacts {
        secret_base32: Some(secret.clone()),
        code_at: Some((T0 + 1_200, secret_code(&secret, T0 + 1_200))),
        last_step: Some(last_step),
        unused_backup_codes: backup[used..].to_vec(),
        used_backup_codes: backup[..used].to_vec(),
        ..blank("active", epoch, logins)
    };
    put(
        "active.json",
        &active,
        active_facts(1, 0, (T0 + 30) / 30, 0),
    );
    let active_for_lifecycle = active.clone();
    let enabled_proof = confirmed.outcome.as_ref().unwrap().proof;

    // Two logins through challenges, and a backup code outside a login.
    let first = challenge(&config, &active, USER, T0 + 40);
    let t = active.complete_login(&config, USER, &first, &backup[0], T0 + 40, &mut rng);
    assert!(t.outcome.is_ok());
    let second = challenge(&config, &t.state, USER, T0 + 90);
    let t = t.state.complete_login(
        &config,
        USER,
        &second,
        &wrong_code(&secret, T0 + 90),
        T0 + 90,
        &mut rng,
    );
    assert!(matches!(t.outcome, Err(Error::InvalidCode)));
    let t = t.state.complete_login(
        &config,
        USER,
        &second,
        &secret_code(&secret, T0 + 90),
        T0 + 90,
        &mut rng,
    );
    assert!(t.outcome.is_ok());
    let t = t
        .state
        .verify_backup_code(&config, USER, &backup[1], T0 + 100, &mut rng);
    assert!(t.outcome.is_ok());
    let logged_in = t.state;
    put(
        "active_after_logins.json",
        &logged_in,
        active_facts(1, 2, (T0 + 90) / 30, 2),
    );

    // Five failed completions: locked for 30 s from T0 + 130.
    let third = challenge(&config, &logged_in, USER, T0 + 130);
    let mut locked = logged_in.clone();
    for _ in 0..5 {
        let t = locked.complete_login(
            &config,
            USER,
            &third,
            &wrong_code(&secret, T0 + 130),
            T0 + 130,
            &mut rng,
        );
        assert!(matches!(t.outcome, Err(Error::InvalidCode)));
        locked = t.state;
    }
    put(
        "active_locked.json",
        &locked,
        RecordFacts {
            failures: 5,
            locked_until: Some(T0 + 160),
            ..active_facts(1, 2, (T0 + 90) / 30, 2)
        },
    );

    // Disabled at T0 + 150: epoch 2.
    let t = logged_in.disable(
        &config,
        USER,
        &secret_code(&secret, T0 + 150),
        T0 + 150,
        &mut rng,
    );
    assert_eq!(t.outcome.unwrap().epoch, Epoch::new(2));
    let disabled = t.state;
    put(
        "disabled_after_disable.json",
        &disabled,
        blank("disabled", 2, 2),
    );

    // Set up again at T0 + 200, under epoch 2.
    let begun = disabled.begin_setup(&config, USER, "golden@example.com", T0 + 200, &mut rng);
    let again = begun.outcome.as_ref().unwrap().secret_base32().to_owned();
    let pending_again = begun.state;
    put(
        "pending_after_disable.json",
        &pending_again,
        RecordFacts {
            secret_base32: Some(again.clone()),
            code_at: Some((T0 + 260, secret_code(&again, T0 + 260))),
            expires_at: Some(T0 + 800),
            ..blank("pending", 2, 2)
        },
    );

    // Confirmed at T0 + 230 (epoch 3), then reset by an operator (epoch 4).
    let t = pending_again.confirm_setup(
        &config,
        USER,
        &secret_code(&again, T0 + 230),
        T0 + 230,
        &mut rng,
    );
    assert!(t.outcome.is_ok());
    let t = t.state.operator_reset("golden-operator", "phone lost");
    assert!(t.outcome.is_ok());
    put("operator_reset.json", &t.state, blank("disabled", 4, 2));

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

    // The lifecycle, from the confirmed factor, with its own RNG.
    let mut rng = StdRng::seed_from_u64(2027);
    let mut record = active_for_lifecycle;
    let mut tokens = Vec::new();
    for at in [T0 + 40, T0 + 50] {
        let t = record.remember_device(&config, USER, &enabled_proof, at, &mut rng);
        let token = t.outcome.unwrap();
        tokens.push((token.as_str().to_owned(), token.expires_at()));
        record = t.state;
    }
    put(
        "active_two_devices.json",
        &record,
        RecordFacts {
            device_tokens: tokens.clone(),
            ..active_facts(1, 0, (T0 + 30) / 30, 0)
        },
    );
    let t = record.begin_replacement(
        &config,
        USER,
        "golden@example.com",
        Reauth::TotpCode(&secret_code(&secret, T0 + 60)),
        T0 + 60,
        &mut rng,
    );
    let new = t.outcome.as_ref().unwrap().secret_base32().to_owned();
    let replacing = t.state;
    put(
        "active_replacing.json",
        &replacing,
        RecordFacts {
            replacement: Some(ReplacementFacts {
                secret_base32: new.clone(),
                code_at: (T0 + 120, secret_code(&new, T0 + 120)),
                expires_at: T0 + 660,
            }),
            device_tokens: tokens.clone(),
            ..active_facts(1, 0, (T0 + 60) / 30, 0)
        },
    );
    let t = replacing.confirm_replacement(
        &config,
        USER,
        &secret_code(&new, T0 + 150),
        T0 + 150,
        &mut rng,
    );
    assert_eq!(t.outcome.unwrap().epoch, Epoch::new(2));
    put(
        "active_after_replacement.json",
        &t.state,
        RecordFacts {
            secret_base32: Some(new.clone()),
            code_at: Some((T0 + 1_200, secret_code(&new, T0 + 1_200))),
            last_step: Some((T0 + 150) / 30),
            unused_backup_codes: backup.clone(),
            revoked_device_tokens: tokens.into_iter().map(|(t, _)| t).collect(),
            previous_secret_base32: Some(secret.clone()),
            ..blank("active", 2, 0)
        },
    );

    // Imported factors, with their own seeded RNG so the records above come
    // out as before: django-otp-like plain codes, devise-two-factor's bcrypt
    // hashes with a pepper, GitLab's PBKDF2 hashes; the old system's last
    // step is the replay mark, and one code of each is used.
    let mut rng = StdRng::seed_from_u64(2027);
    let imported_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let last_step = (T0 + 30) / 30;
    let factor = || {
        ImportedFactor::from_base32(imported_secret, TotpParams::default())
            .unwrap()
            .with_last_step(last_step)
    };
    let plain = ["ab2cd3ef", "gh4ij5kl", "mn6op7qr"];
    let hex_codes = ["0f1e2d3c4b5a6978", "8899aabbccddeeff", "0011223344556677"];
    let pepper = "golden-devise-pepper";
    let bcrypt_hashes: Vec<String> = hex_codes
        .iter()
        .zip(1u8..)
        .map(|(code, salt)| {
            bcrypt::hash_with_salt(format!("{code}{pepper}"), 4, [salt; 16])
                .unwrap()
                .format_for_version(bcrypt::Version::TwoA)
        })
        .collect();
    let pbkdf2_hashes: Vec<String> = hex_codes
        .iter()
        .zip(["golden-token-a", "golden-token-b", "golden-token-c"])
        .map(|(code, token)| gitlab_backup_code_hash(code, token, 2))
        .collect();
    let imports = [
        (
            "active_imported_plain.json",
            factor()
                .with_plain_backup_codes(plain, CodeCase::Insensitive)
                .unwrap(),
            plain,
            0,
        ),
        (
            "active_imported_bcrypt.json",
            factor()
                .with_bcrypt_backup_codes(&bcrypt_hashes, pepper)
                .unwrap(),
            hex_codes,
            2,
        ),
        (
            "active_imported_pbkdf2.json",
            factor()
                .with_pbkdf2_sha512_backup_codes(&pbkdf2_hashes)
                .unwrap(),
            hex_codes,
            2,
        ),
    ];
    for (name, factor, codes, legacy) in imports {
        let sealed = factor.seal(&config, USER, T0 + 20, &mut rng).unwrap();
        let t = MfaEnrollment::default().import(&sealed, USER, T0 + 20);
        assert!(t.outcome.is_ok());
        let t = t
            .state
            .verify_backup_code(&config, USER, codes[0], T0 + 100, &mut rng);
        assert!(t.outcome.is_ok(), "{name}");
        let (used, used_legacy) = if legacy > 0 {
            (Vec::new(), vec![codes[0].to_owned()])
        } else {
            (vec![codes[0].to_owned()], Vec::new())
        };
        put(
            name,
            &t.state,
            RecordFacts {
                secret_base32: Some(imported_secret.into()),
                code_at: Some((T0 + 1_200, secret_code(imported_secret, T0 + 1_200))),
                last_step: Some(last_step),
                unused_backup_codes: codes[1..].iter().map(|c| c.to_string()).collect(),
                used_backup_codes: used,
                legacy_backup_codes: legacy,
                used_legacy_backup_codes: used_legacy,
                ..blank("active", 1, 0)
            },
        );
    }

    let note = "Written once by tests/golden.rs with mfa::testkit::test_keyring() (key id 1, \
                32 bytes of 0x42) and mfa::testkit::test_config(). Never edit: add a new format \
                directory instead.";
    let (imported, records): (BTreeMap<_, _>, BTreeMap<_, _>) = records
        .into_iter()
        .partition(|(name, _)| IMPORT_RECORDS.contains(&name.as_str()));
    let (lifecycle, records): (BTreeMap<_, _>, BTreeMap<_, _>) = records
        .into_iter()
        .partition(|(name, _)| LIFECYCLE_RECORDS.contains(&name.as_str()));
    let facts = Facts {
        note: note.into(),
        records,
        envelopes,
    };
    let lifecycle = Facts {
        note: note.into(),
        records: lifecycle,
        envelopes: Vec::new(),
    };
    let imported = Facts {
        note: note.into(),
        records: imported,
        envelopes: Vec::new(),
    };
    (files, facts, lifecycle, imported)
}

/// Writes missing golden files when `MFA_WRITE_GOLDEN` is set; never overwrites.
fn write_if_asked(format_dir: &Path) {
    if std::env::var_os("MFA_WRITE_GOLDEN").is_none() {
        return;
    }
    let (files, facts, lifecycle, imported) = generate();
    std::fs::create_dir_all(format_dir).unwrap();
    let mut all: Vec<(String, String)> = files.into_iter().map(|(n, t)| (n, t + "\n")).collect();
    for (name, facts) in [
        ("facts.json", facts),
        ("facts_lifecycle.json", lifecycle),
        ("facts_import.json", imported),
    ] {
        all.push((
            name.into(),
            serde_json::to_string_pretty(&facts).unwrap() + "\n",
        ));
    }
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

/// The directory of the format this release writes.
fn current_format_dir() -> PathBuf {
    dir().join(MfaEnrollment::FORMAT.replace('/', "-"))
}

/// The facts of a format directory, every facts file of it merged.
fn load_facts(format: &str) -> Facts {
    let format_dir = dir().join(format);
    let mut merged: Option<Facts> = None;
    for name in fact_files(format) {
        let path = format_dir.join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let facts: Facts = serde_json::from_str(&text).unwrap();
        match &mut merged {
            None => merged = Some(facts),
            Some(all) => {
                for (record, f) in facts.records {
                    assert!(
                        all.records.insert(record.clone(), f).is_none(),
                        "{record} described twice"
                    );
                }
                all.envelopes.extend(facts.envelopes);
            }
        }
    }
    merged.unwrap()
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(0)
}

/// Loads one golden record and checks that it behaves as its facts say.
/// `format` is its directory: an `mfa-1` record must convert, an `mfa-2`
/// record must re-serialize to exactly its text.
fn check_record(config: &MfaContext, format: &str, name: &str, text: &str, facts: &RecordFacts) {
    let record = MfaEnrollment::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let written = record.to_json();
    if format == "mfa-1" {
        let converted = converted_from_v1(text)
            .unwrap_or_else(|| panic!("{name}: not a record of format mfa/1"));
        assert_eq!(
            written, converted,
            "{name}: an mfa/1 record is written back as mfa/2, its factor unchanged"
        );
        assert_eq!(
            MfaEnrollment::from_json(&written).unwrap(),
            record,
            "{name}: the converted record loads as the same record"
        );
    } else {
        assert_eq!(
            written,
            text.trim_end(),
            "{name}: re-serializes to a different text: the format changed (see TESTING.md)"
        );
    }
    let user = facts.user_id.as_str();
    let epoch = Epoch::new(facts.epoch);
    let next_epoch = Epoch::new(facts.epoch + 1);
    assert_eq!(record.epoch(), epoch, "{name}");
    assert_eq!(logins(&record), facts.logins, "{name}");
    record.check_epoch(epoch).unwrap();
    assert!(
        matches!(record.check_epoch(next_epoch), Err(Error::Revoked)),
        "{name}"
    );
    let json: serde_json::Value = serde_json::from_str(&written).unwrap();
    let factor_json = &json["factor"];
    match (record.factor(), facts.state.as_str()) {
        (FactorState::Disabled, "disabled") => {
            let status = record.status(config, T0);
            assert!(!status.mfa_enabled && !status.pending_setup, "{name}");
            assert_eq!(
                record.begin_login(config, user, None, T0),
                LoginStep::Complete(epoch),
                "{name}"
            );
            let reset = record
                .clone()
                .operator_reset("golden-operator", "golden check");
            assert!(reset.outcome.is_ok() && reset.changed, "{name}");
            assert_eq!(reset.state.epoch(), next_epoch, "{name}");
        }
        (FactorState::Pending(p), "pending") => {
            assert_eq!(Some(p.expires_at()), facts.expires_at, "{name}");
            assert_eq!(
                factor_json["attempts"]["failures"].as_u64().unwrap_or(0),
                u64::from(facts.failures),
                "{name}"
            );
            let (at, code) = facts.code_at.clone().unwrap();
            assert!(record.status(config, at).pending_setup, "{name}");
            // A pending setup never asks for a second step (I5).
            assert_eq!(
                record.begin_login(config, user, None, at),
                LoginStep::Complete(epoch),
                "{name}"
            );
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
            let Ok(enabled) = &confirmed.outcome else {
                panic!("{name}: {:?}", confirmed.outcome)
            };
            assert_eq!(enabled.proof.method, ProofMethod::SetupConfirmation);
            assert_eq!(enabled.proof.epoch, next_epoch, "{name}");
            assert_eq!(confirmed.state.epoch(), next_epoch, "{name}");
            let expired =
                record
                    .clone()
                    .confirm_setup(config, user, &code, p.expires_at(), &mut rng());
            assert!(
                matches!(expired.outcome, Err(Error::PendingExpired)),
                "{name}"
            );
        }
        (FactorState::Active(a), "active") => {
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
            assert_eq!(
                (
                    verified.proof.method,
                    verified.proof.verified_at,
                    verified.proof.epoch
                ),
                (ProofMethod::Totp, at, epoch),
                "{name}"
            );
            // The same code through a login challenge, which it uses up.
            let begun = challenge(config, &record, user, at);
            assert_eq!(
                (begun.user_id(), begun.epoch(), begun.expires_at()),
                (user, epoch, at + config.policy().login_challenge_ttl_secs),
                "{name}"
            );
            let completed =
                record
                    .clone()
                    .complete_login(config, user, &begun, &code, at, &mut rng());
            assert_eq!(
                completed.outcome.as_ref().map(|v| v.proof.epoch).ok(),
                Some(epoch),
                "{name}: {:?}",
                completed.outcome
            );
            assert_eq!(logins(&completed.state), facts.logins + 1, "{name}");
            if let Some(unused) = facts.unused_backup_codes.first() {
                let twice = completed.state.clone().complete_login(
                    config,
                    user,
                    &begun,
                    unused,
                    at,
                    &mut rng(),
                );
                assert!(
                    matches!(twice.outcome, Err(Error::InvalidChallenge)),
                    "{name}: a challenge completed twice"
                );
            }
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
                assert_eq!(
                    t.outcome.as_ref().map(|v| v.proof.method).ok(),
                    Some(ProofMethod::BackupCode),
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
            // Imported legacy hashes: reported for regeneration, each used once.
            assert_eq!(
                record.status(config, at).legacy_backup_codes,
                facts.legacy_backup_codes,
                "{name}"
            );
            for code in &facts.used_legacy_backup_codes {
                let t = record
                    .clone()
                    .verify_backup_code(config, user, code, at, &mut rng());
                assert!(matches!(t.outcome, Err(Error::InvalidCode)), "{name}");
            }
            // An operator's unlock clears the counter; a reset moves the epoch.
            let unlocked = record
                .clone()
                .operator_unlock("golden-operator", "golden check");
            assert_eq!(unlocked.changed, facts.failures > 0, "{name}");
            let FactorState::Active(after) = unlocked.state.factor() else {
                panic!("{name}: an unlock changed the factor")
            };
            assert_eq!(after.attempts().failures(), 0, "{name}");
            if let Some(until) = facts.locked_until {
                assert!(!unlocked.state.status(config, until - 1).locked_out);
            }
            let reset = record
                .clone()
                .operator_reset("golden-operator", "golden check");
            assert_eq!(
                (reset.state.factor(), reset.state.epoch()),
                (&FactorState::Disabled, next_epoch),
                "{name}"
            );
            assert!(reset.events.iter().any(|e| matches!(
                e,
                SecurityEvent::OperatorReset { actor, .. } if actor == "golden-operator"
            )));
            check_lifecycle(config, name, &record, facts, (at, &code));
        }
        (_, state) => panic!("{name}: expected {state}, loaded {record:?}"),
    }
}

/// The replacement and remembered devices of an active golden record, as its
/// facts say; `(at, code)` is the active app's known code.
fn check_lifecycle(
    config: &MfaContext,
    name: &str,
    record: &MfaEnrollment,
    facts: &RecordFacts,
    (at, code): (u64, &str),
) {
    let FactorState::Active(a) = record.factor() else {
        panic!("{name}")
    };
    let user = facts.user_id.as_str();
    let epoch = Epoch::new(facts.epoch);
    let next_epoch = Epoch::new(facts.epoch + 1);
    let remembered = |state: &MfaEnrollment, token: &str, now: u64| {
        matches!(
            state.begin_login(config, user, Some(token), now),
            LoginStep::RememberedDevice(e) if e == state.epoch()
        )
    };
    // Remembered devices: each token recognised until it expires.
    assert_eq!(a.devices().len(), facts.device_tokens.len(), "{name}");
    assert_eq!(
        record.status(config, at).remembered_devices,
        facts.device_tokens.len(),
        "{name}"
    );
    for (token, expires_at) in &facts.device_tokens {
        assert!(
            remembered(record, token, at),
            "{name}: token not recognised"
        );
        assert!(remembered(record, token, expires_at - 1), "{name}");
        assert!(
            !remembered(record, token, *expires_at),
            "{name}: expired token"
        );
        assert!(
            !remembered(record, &token[1..], at),
            "{name}: a mangled token"
        );
    }
    if !facts.device_tokens.is_empty() {
        let forgot = record.clone().forget_devices(
            config,
            user,
            Reauth::RecentProof(&proof_at(user, facts.epoch, at)),
            at,
        );
        assert_eq!(
            forgot.outcome.ok(),
            Some(facts.device_tokens.len()),
            "{name}"
        );
        for (token, _) in &facts.device_tokens {
            assert!(
                !remembered(&forgot.state, token, at),
                "{name}: not forgotten"
            );
        }
    }
    for token in &facts.revoked_device_tokens {
        assert!(!remembered(record, token, at), "{name}: a revoked device");
    }
    if let Some(previous) = &facts.previous_secret_base32 {
        let old =
            record
                .clone()
                .verify_totp(config, user, &secret_code(previous, at), at, &mut rng());
        assert!(
            matches!(old.outcome, Err(Error::InvalidCode)),
            "{name}: the retired app still works"
        );
    }
    // A pending replacement: authenticates nothing, confirms by its code.
    let Some(replacement) = &facts.replacement else {
        assert!(a.replacement().is_none(), "{name}");
        return;
    };
    let pending = a.replacement().expect("a pending replacement");
    assert_eq!(pending.expires_at(), replacement.expires_at, "{name}");
    let (when, new_code) = replacement.code_at.clone();
    assert_eq!(
        secret_code(&replacement.secret_base32, when),
        new_code,
        "{name}"
    );
    assert!(record.status(config, when).replacement_pending, "{name}");
    assert!(
        !record
            .status(config, replacement.expires_at)
            .replacement_pending,
        "{name}"
    );
    let by_new = record
        .clone()
        .verify_totp(config, user, &new_code, when, &mut rng());
    assert!(
        matches!(by_new.outcome, Err(Error::InvalidCode)),
        "{name}: the pending secret authenticated"
    );
    let other =
        record
            .clone()
            .confirm_replacement(config, "another-user", &new_code, when, &mut rng());
    assert!(
        matches!(other.outcome, Err(Error::DecryptionFailed)),
        "{name}: {:?}",
        other.outcome
    );
    let confirmed = record
        .clone()
        .confirm_replacement(config, user, &new_code, when, &mut rng());
    let Ok(proof) = confirmed.outcome else {
        panic!("{name}: {:?}", confirmed.outcome)
    };
    assert_eq!(
        (proof.method, proof.epoch, confirmed.state.epoch()),
        (ProofMethod::SetupConfirmation, next_epoch, next_epoch),
        "{name}"
    );
    assert_ne!(confirmed.state.epoch(), epoch);
    let old = confirmed
        .state
        .clone()
        .verify_totp(config, user, code, at, &mut rng());
    assert!(
        matches!(old.outcome, Err(Error::InvalidCode)),
        "{name}: the old app works after the swap"
    );
    for (token, _) in &facts.device_tokens {
        assert!(
            !remembered(&confirmed.state, token, when),
            "{name}: a device survived the replacement"
        );
    }
    let expired = replacement.expires_at;
    let late = record.clone().confirm_replacement(
        config,
        user,
        &secret_code(&replacement.secret_base32, expired),
        expired,
        &mut rng(),
    );
    assert!(matches!(late.outcome, Err(Error::PendingExpired)), "{name}");
}

/// Checks every record and envelope of one format directory; returns the
/// facts it checked against.
fn check_format(format: &str) -> Facts {
    let format_dir = dir().join(format);
    let facts = load_facts(format);
    let config = test_config();
    for (name, record_facts) in &facts.records {
        let text = std::fs::read_to_string(format_dir.join(name)).unwrap();
        check_record(&config, format, name, &text, record_facts);
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
    facts
}

/// Records of format `mfa/1`, written before epochs: they load at epoch 0
/// with no completed logins, behave as before, and are written back as
/// `mfa/2`.
#[test]
fn mfa_1_records_load_behave_and_convert() {
    let facts = check_format("mfa-1");
    assert!(facts.records.len() >= 5, "every state has a golden record");
    assert!(
        facts
            .records
            .values()
            .all(|r| r.epoch == 0 && r.logins == 0)
    );
}

/// Records of the current format: they load, behave as their facts say and
/// re-serialize to exactly their text.
#[test]
fn mfa_2_records_load_and_round_trip() {
    write_if_asked(&current_format_dir());
    let facts = check_format("mfa-2");
    let has = |what: &str, pick: fn(&RecordFacts) -> bool| {
        assert!(
            facts.records.values().any(pick),
            "no golden mfa/2 record is {what}"
        );
    };
    has("disabled under a moved epoch", |r| {
        r.state == "disabled" && r.epoch > 0
    });
    has("pending", |r| r.state == "pending");
    has("active", |r| r.state == "active" && r.logins == 0);
    has("active after logins", |r| {
        r.state == "active" && r.logins > 0 && !r.used_backup_codes.is_empty()
    });
    has("active and locked", |r| {
        r.state == "active" && r.locked_until.is_some()
    });
    assert!(
        facts.records.contains_key("operator_reset.json"),
        "no golden record after an operator reset"
    );
    has("active with a pending replacement", |r| {
        r.state == "active" && r.replacement.is_some()
    });
    has("active with two remembered devices", |r| {
        r.state == "active" && r.device_tokens.len() == 2 && r.replacement.is_none()
    });
    has("active with imported plain codes", |r| {
        r.state == "active"
            && r.legacy_backup_codes == 0
            && r.unused_backup_codes.len() == 2
            && r.used_backup_codes.first().is_some_and(|c| c.len() == 8)
    });
    has("active with imported legacy hashes", |r| {
        r.state == "active" && r.legacy_backup_codes > 0 && !r.used_legacy_backup_codes.is_empty()
    });
    has("active after a replacement (epoch moved)", |r| {
        r.state == "active"
            && r.previous_secret_base32.is_some()
            && r.epoch > 1
            && !r.revoked_device_tokens.is_empty()
    });
}

/// Every file under `tests/golden/` is checked by the tests above, so that
/// no golden file sits there unread.
#[test]
fn every_golden_file_is_checked() {
    write_if_asked(&current_format_dir());
    for format in FORMATS {
        let format_dir = dir().join(format);
        let facts = load_facts(format);
        let mut expected: Vec<String> = facts.records.keys().cloned().collect();
        expected.extend(fact_files(format).iter().map(|f| f.to_string()));
        expected.sort();
        let mut found: Vec<String> = std::fs::read_dir(&format_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        found.sort();
        assert_eq!(found, expected, "{format}");
    }
    let mut formats: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    formats.sort();
    assert_eq!(
        formats, FORMATS,
        "a new format directory needs its own checks here"
    );
    assert_eq!(
        FORMATS.last().copied(),
        Some(MfaEnrollment::FORMAT.replace('/', "-").as_str()),
        "the last golden directory is the format this release writes"
    );
}
