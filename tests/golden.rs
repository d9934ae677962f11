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
//! - serialize a record of the current format (`mfa-3/`) back to exactly the
//!   stored text;
//! - write a record of an older format back in the current one, as text that
//!   loads as the same record: an `mfa/2` record (one app) exactly as the
//!   `mfa-3/` file of the same name, which the same seeded history wrote; an
//!   `mfa/1` record (written before epochs) with the same factor, at epoch 0
//!   with no completed logins;
//! - serialize each envelope back to exactly the stored text.
//!
//! `mfa-3/` also holds records with passkeys (`facts_passkeys.json`): a set
//! of passkeys alone, an app beside two passkeys, a registration pending
//! beside a disabled factor. They list, log in (the stored public keys still
//! parse into `webauthn-rs` credentials), rename and refuse as their facts
//! say. They are not reproducible: `webauthn-rs` draws its challenges, and the
//! software passkey its keys, from the operating system's generator, so each
//! run of the generator would write other bytes. They are written once, all
//! together with their facts, like every golden file.
//!
//! These files are never rewritten. Changing a format means a new format tag,
//! new golden files beside the old ones, and a test that the old ones migrate;
//! see TESTING.md. `MFA_WRITE_GOLDEN=1 cargo test --test golden` writes the
//! files of the current format if they are missing, and refuses to overwrite one.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::passkey::Authenticator;
use mfa::import::{CodeCase, ImportedFactor};
use mfa::passkey::{CreationChallengeResponse, StoredPasskey};
use mfa::testkit::legacy::gitlab_backup_code_hash;
use mfa::testkit::{test_config, test_keyring};
use mfa::{
    Epoch, Error, FactorState, LoginStep, MfaContext, MfaEnrollment, MfaMethod, ProofMethod,
    Reauth, VerifiedBy,
    event::SecurityEvent,
    keys::Envelope,
    totp::{self, TotpParams, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

const USER: &str = "golden-user";
const T0: u64 = 1_700_000_000;
/// Every format directory, oldest first: the last one is the current format.
const FORMATS: [&str; 3] = ["mfa-1", "mfa-2", "mfa-3"];

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
    /// The passkeys of the record and a pending passkey registration (only
    /// in `facts_passkeys.json`, from `mfa-3/` on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    passkeys: Option<PasskeySetFacts>,
}

/// The plaintext facts about the passkeys of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PasskeySetFacts {
    /// Whether the set holds an authenticator app beside its passkeys
    /// (`secret_base32` is then its secret).
    app: bool,
    /// The passkeys, oldest first.
    passkeys: Vec<PasskeyFacts>,
    /// A registration begun and not finished: the record's top-level
    /// `passkey_registration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration: Option<RegistrationFacts>,
    /// A time after the record's history, before its pending registration
    /// expires, at which its checks run.
    checked_at: u64,
}

/// One stored passkey, as `MfaEnrollment::passkeys()` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PasskeyFacts {
    /// The crate's short id.
    id: String,
    name: String,
    /// The WebAuthn credential id, base64url without padding.
    credential_id: String,
    counter: u32,
    backup_eligible: bool,
    backed_up: bool,
    created_at: u64,
    last_used_at: Option<u64>,
}

impl PasskeyFacts {
    fn of(passkey: &StoredPasskey) -> Self {
        PasskeyFacts {
            id: passkey.id().to_owned(),
            name: passkey.name().to_owned(),
            credential_id: URL_SAFE_NO_PAD.encode(passkey.credential_id()),
            counter: passkey.counter(),
            backup_eligible: passkey.backup_eligible(),
            backed_up: passkey.backed_up(),
            created_at: passkey.created_at(),
            last_used_at: passkey.last_used_at(),
        }
    }
}

/// A pending passkey registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RegistrationFacts {
    created_at: u64,
    expires_at: u64,
    /// The creation options the browser was sent: a new authenticator
    /// answering them now completes the registration.
    options: serde_json::Value,
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
/// `facts.json` that is never rewritten. `mfa-3/` has the same three, for
/// the same histories, and `facts_passkeys.json`.
fn fact_files(format: &str) -> &'static [&'static str] {
    match format {
        "mfa-1" => &["facts.json"],
        "mfa-2" => &["facts.json", "facts_lifecycle.json", "facts_import.json"],
        "mfa-3" => &[
            "facts.json",
            "facts_lifecycle.json",
            "facts_import.json",
            "facts_passkeys.json",
        ],
        other => panic!("{other}: which facts files does it have?"),
    }
}

/// The records of `mfa-3/` with passkeys, described in
/// `facts_passkeys.json`.
const PASSKEY_RECORDS: [&str; 3] = [
    "active_passkey_only.json",
    "active_app_and_two_passkeys.json",
    "disabled_passkey_registration_pending.json",
];

/// The records of `mfa-2/` and `mfa-3/` written by imports, described in
/// `facts_import.json`.
const IMPORT_RECORDS: [&str; 3] = [
    "active_imported_plain.json",
    "active_imported_bcrypt.json",
    "active_imported_pbkdf2.json",
];

/// The records of `mfa-2/` and `mfa-3/` written with the lifecycle, described in
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

/// The `mfa/2` text of an `mfa/1` record, as `mfa/2` wrote it back: its
/// factor, unchanged and in the same order, under `"factor"`, at epoch 0
/// with no completed logins.
fn converted_from_v1(text: &str) -> Option<String> {
    let factor = text.trim_end().strip_prefix(r#"{"format":"mfa/1","#)?;
    Some(format!(
        r#"{{"format":"mfa/2","epoch":0,"logins":0,"factor":{{{factor}}}"#
    ))
}

/// The facts of a record in `state` with nothing more to say.
fn blank(state: &str, epoch: u64, logins: u64) -> RecordFacts {
    RecordFacts {
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
        passkeys: None,
    }
}

/// The fields of an app, which the factor of `mfa/1` and `mfa/2` holds
/// beside the shared ones and an active factor set of `mfa/3` under `"app"`.
const APP_FIELDS: [&str; 4] = ["secret", "totp", "last_step", "t0"];

/// The factor of an `mfa/1` record as the current format writes it: every
/// field with its value, an active factor's app fields moved under `"app"`.
fn factor_of_v1(text: &str) -> serde_json::Value {
    let serde_json::Value::Object(mut factor) = serde_json::from_str(text).unwrap() else {
        panic!("a record is a JSON object")
    };
    assert_eq!(factor.remove("format"), Some("mfa/1".into()));
    if factor["state"] == "active" {
        let app: serde_json::Map<_, _> = APP_FIELDS
            .iter()
            .filter_map(|field| Some((field.to_string(), factor.remove(*field)?)))
            .collect();
        factor.insert("app".into(), app.into());
    }
    factor.into()
}

/// Writes the golden files of the current format but those with passkeys
/// ([`generate_passkeys`]). Deterministic: the same crate and `rand` version
/// give the same bytes, and the histories, seeds and order are those that
/// wrote `mfa-2/`, so that its records come out converted.
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

/// The facts of the record's passkeys: what it must show of them.
fn passkey_facts(record: &MfaEnrollment) -> Vec<PasskeyFacts> {
    record.passkeys().iter().map(PasskeyFacts::of).collect()
}

/// The created and expiry times of the record's pending passkey
/// registration, as it writes them.
fn registration_times(record: &MfaEnrollment) -> Option<(u64, u64)> {
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    let pending = json.get("passkey_registration")?;
    Some((
        pending["created_at"].as_u64().unwrap(),
        pending["expires_at"].as_u64().unwrap(),
    ))
}

/// Writes the records of `mfa-3/` with passkeys, through the transitions,
/// with a software passkey at `mfa::testkit::TEST_ORIGIN`. Not
/// reproducible: `webauthn-rs` draws the challenges, and the soft passkey
/// its keys, from the operating system, so the credential ids, public keys,
/// signatures and ceremony states differ on every run (the seeded RNG only
/// makes the crate's own draws repeat: passkey ids, user handles, backup
/// codes). Written once, all together with `facts_passkeys.json`.
///
/// Three histories: a passkey as the first factor (backup codes issued, MFA
/// on, epoch 1), then a login with a backup code; that set disabled with a
/// backup code (epoch 2) and a new registration begun; an app (epoch 1)
/// with two passkeys registered after it (epochs 2 and 3), the first
/// renamed, then a login with the second (its counter and last use move on).
fn generate_passkeys() -> (BTreeMap<String, String>, Facts) {
    let config = test_config();
    let mut rng = StdRng::seed_from_u64(2028);
    let mut files = BTreeMap::new();
    let mut records = BTreeMap::new();
    let mut put = |name: &str, record: &MfaEnrollment, facts: RecordFacts| {
        assert!(PASSKEY_RECORDS.contains(&name), "{name}");
        assert_eq!(record.epoch(), Epoch::new(facts.epoch), "{name}");
        assert_eq!(logins(record), facts.logins, "{name}");
        let pk = facts.passkeys.as_ref().unwrap();
        assert_eq!(passkey_facts(record), pk.passkeys, "{name}");
        assert_eq!(
            registration_times(record),
            pk.registration
                .as_ref()
                .map(|r| (r.created_at, r.expires_at)),
            "{name}"
        );
        files.insert(name.to_owned(), record.to_json());
        records.insert(name.to_owned(), facts);
    };
    // What the history says of a passkey; its id is the crate's draw, its
    // backup flags the authenticator's.
    let expect = |added: &StoredPasskey, name: &str, credential: &[u8], created_at| PasskeyFacts {
        id: added.id().to_owned(),
        name: name.into(),
        credential_id: URL_SAFE_NO_PAD.encode(credential),
        counter: 0,
        backup_eligible: added.backup_eligible(),
        backed_up: added.backed_up(),
        created_at,
        last_used_at: None,
    };

    // A passkey as the first factor: registration begun at T0 + 20,
    // confirmed at T0 + 30 (epoch 1, backup codes issued).
    let mut laptop = Authenticator::default();
    let begun = MfaEnrollment::default().begin_passkey_registration(
        &config,
        USER,
        "golden@example.com",
        None,
        T0 + 20,
        &mut rng,
    );
    let created = laptop.register(begun.outcome.as_ref().unwrap());
    let t = begun.state.confirm_passkey_registration(
        &config,
        USER,
        "Laptop",
        &created,
        None,
        T0 + 30,
        &mut rng,
    );
    let added = t.outcome.unwrap();
    let backup = codes(
        added
            .backup_codes
            .as_ref()
            .expect("the first factor's codes"),
    );
    let laptop_facts = expect(&added.passkey, "Laptop", &created.raw_id.to_vec(), T0 + 30);
    // A login at T0 + 60 with a backup code.
    let login = challenge(&config, &t.state, USER, T0 + 60);
    assert!(login.accepts_passkey());
    let t = t
        .state
        .complete_login(&config, USER, &login, &backup[0], T0 + 60, &mut rng);
    assert_eq!(t.outcome.unwrap().by, VerifiedBy::BackupCode);
    let passkey_only = t.state;
    put(
        "active_passkey_only.json",
        &passkey_only,
        RecordFacts {
            unused_backup_codes: backup[1..].to_vec(),
            used_backup_codes: backup[..1].to_vec(),
            passkeys: Some(PasskeySetFacts {
                app: false,
                passkeys: vec![laptop_facts],
                registration: None,
                checked_at: T0 + 1_200,
            }),
            ..blank("active", 1, 1)
        },
    );

    // Disabled with a backup code at T0 + 100 (epoch 2); a registration
    // begun at T0 + 200, never finished.
    let t = passkey_only.disable(&config, USER, &backup[1], T0 + 100, &mut rng);
    assert_eq!(t.outcome.unwrap().epoch, Epoch::new(2));
    let begun = t.state.begin_passkey_registration(
        &config,
        USER,
        "golden@example.com",
        None,
        T0 + 200,
        &mut rng,
    );
    let options = begun.outcome.as_ref().unwrap();
    let (created_at, expires_at) = registration_times(&begun.state).unwrap();
    assert_eq!(created_at, T0 + 200);
    put(
        "disabled_passkey_registration_pending.json",
        &begun.state,
        RecordFacts {
            passkeys: Some(PasskeySetFacts {
                app: false,
                passkeys: Vec::new(),
                registration: Some(RegistrationFacts {
                    created_at,
                    expires_at,
                    options: serde_json::to_value(options).unwrap(),
                }),
                checked_at: T0 + 300,
            }),
            ..blank("disabled", 2, 1)
        },
    );

    // An app confirmed at T0 + 30 (epoch 1), a passkey added at T0 + 50
    // (epoch 2) and another at T0 + 70 (epoch 3), each under the proof of
    // the step before; the first renamed.
    let begun =
        MfaEnrollment::default().begin_setup(&config, USER, "golden@example.com", T0, &mut rng);
    let secret = begun.outcome.as_ref().unwrap().secret_base32().to_owned();
    let t = begun.state.confirm_setup(
        &config,
        USER,
        &secret_code(&secret, T0 + 30),
        T0 + 30,
        &mut rng,
    );
    let enabled = t.outcome.unwrap();
    let backup = codes(&enabled.backup_codes);
    let mut record = t.state;
    let mut proof = enabled.proof;
    let mut phone = Authenticator::default();
    let mut key = Authenticator::default();
    let mut added = Vec::new();
    for (authenticator, name, at) in [
        (&mut phone, "Phone", T0 + 40),
        (&mut key, "Security key", T0 + 60),
    ] {
        let begun = record.begin_passkey_registration(
            &config,
            USER,
            "golden@example.com",
            Some(&proof),
            at,
            &mut rng,
        );
        let created = authenticator.register(begun.outcome.as_ref().unwrap());
        let t = begun.state.confirm_passkey_registration(
            &config,
            USER,
            name,
            &created,
            Some(&proof),
            at + 10,
            &mut rng,
        );
        let done = t.outcome.unwrap();
        assert!(done.backup_codes.is_none(), "the set had its codes");
        added.push(expect(
            &done.passkey,
            name,
            &created.raw_id.to_vec(),
            at + 10,
        ));
        proof = done.proof;
        record = t.state;
    }
    let t = record.rename_passkey(&config, USER, &added[0].id, "Work phone", &mut rng);
    assert!(t.changed && t.outcome.is_ok());
    added[0].name = "Work phone".into();
    // A login at T0 + 100 with the security key.
    let login = challenge(&config, &t.state, USER, T0 + 100);
    let assertion = key.assert(login.passkey_options().unwrap());
    let t =
        t.state
            .complete_login_with_passkey(&config, USER, &login, &assertion, T0 + 100, &mut rng);
    assert_eq!(t.outcome.unwrap().by, VerifiedBy::Passkey);
    added[1].counter = 1;
    added[1].last_used_at = Some(T0 + 100);
    put(
        "active_app_and_two_passkeys.json",
        &t.state,
        RecordFacts {
            secret_base32: Some(secret.clone()),
            code_at: Some((T0 + 1_200, secret_code(&secret, T0 + 1_200))),
            last_step: Some((T0 + 30) / 30),
            unused_backup_codes: backup,
            passkeys: Some(PasskeySetFacts {
                app: true,
                passkeys: added,
                registration: None,
                checked_at: T0 + 1_200,
            }),
            ..blank("active", 3, 1)
        },
    );

    let facts = Facts {
        note: "Written once by tests/golden.rs with mfa::testkit::test_config() and a \
               software passkey (webauthn-authenticator-rs) at mfa::testkit::TEST_ORIGIN. \
               Not reproducible: the WebAuthn challenges and the passkeys' keys are random. \
               Never edit: add a new format directory instead."
            .into(),
        records,
        envelopes: Vec::new(),
    };
    (files, facts)
}

/// Writes missing golden files of the current format when
/// `MFA_WRITE_GOLDEN` is set, once per run; never overwrites. The records
/// with passkeys are written together with their facts or not at all:
/// they are not reproducible, so a missing one cannot be written again to
/// match facts that exist.
fn write_if_asked(format_dir: &Path) {
    static WRITE: Once = Once::new();
    if std::env::var_os("MFA_WRITE_GOLDEN").is_none() {
        return;
    }
    WRITE.call_once(|| write_missing(format_dir));
}

fn write_missing(format_dir: &Path) {
    let (files, facts, lifecycle, imported) = generate();
    std::fs::create_dir_all(format_dir).unwrap();
    let text_of = |facts: &Facts| serde_json::to_string_pretty(facts).unwrap() + "\n";
    let mut all: Vec<(String, String)> = files.into_iter().map(|(n, t)| (n, t + "\n")).collect();
    for (name, facts) in [
        ("facts.json", facts),
        ("facts_lifecycle.json", lifecycle),
        ("facts_import.json", imported),
    ] {
        all.push((name.into(), text_of(&facts)));
    }
    let passkey_files: Vec<&str> = PASSKEY_RECORDS
        .iter()
        .copied()
        .chain(["facts_passkeys.json"])
        .collect();
    let present: Vec<&str> = passkey_files
        .iter()
        .copied()
        .filter(|name| format_dir.join(name).exists())
        .collect();
    if present.is_empty() {
        let (files, facts) = generate_passkeys();
        all.extend(files.into_iter().map(|(n, t)| (n, t + "\n")));
        all.push(("facts_passkeys.json".into(), text_of(&facts)));
    } else {
        assert_eq!(
            present, passkey_files,
            "the passkey records are written together with their facts, never one by one"
        );
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

/// The directory name of the format this release writes.
fn current_format() -> String {
    MfaEnrollment::FORMAT.replace('/', "-")
}

/// The directory of the format this release writes.
fn current_format_dir() -> PathBuf {
    dir().join(current_format())
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
/// `format` is its directory: a record of the current format must
/// re-serialize to exactly its text, one of an older format must be written
/// back in the current one (for `mfa-1`, with the same factor at epoch 0
/// with no completed logins).
fn check_record(config: &MfaContext, format: &str, name: &str, text: &str, facts: &RecordFacts) {
    let record = MfaEnrollment::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let written = record.to_json();
    if format == current_format() {
        assert_eq!(
            written,
            text.trim_end(),
            "{name}: re-serializes to a different text: the format changed (see TESTING.md)"
        );
    } else {
        let tag = format!(r#"{{"format":"{}","#, MfaEnrollment::FORMAT);
        assert!(
            written.starts_with(&tag),
            "{name}: a record of {format} is written back in the current format: {written}"
        );
        let back = MfaEnrollment::from_json(&written).unwrap();
        assert_eq!(
            back, record,
            "{name}: the converted record loads as the same record"
        );
        assert_eq!(back.to_json(), written, "{name}");
    }
    if format == "mfa-1" {
        let json: serde_json::Value = serde_json::from_str(&written).unwrap();
        let mut fields: Vec<&String> = json.as_object().unwrap().keys().collect();
        fields.sort_unstable();
        assert_eq!(fields, ["epoch", "factor", "format", "logins"], "{name}");
        assert_eq!(
            (&json["epoch"], &json["logins"]),
            (&0.into(), &0.into()),
            "{name}"
        );
        assert_eq!(
            json["factor"],
            factor_of_v1(text),
            "{name}: an mfa/1 record is written back with its factor unchanged"
        );
        // As `mfa/2` wrote it back: the same record.
        let v2 = converted_from_v1(text)
            .unwrap_or_else(|| panic!("{name}: not a record of format mfa/1"));
        assert_eq!(
            MfaEnrollment::from_json(&v2).unwrap(),
            record,
            "{name}: an mfa/1 record is its mfa/2 conversion"
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
            assert_eq!(
                a.app().is_some(),
                facts.secret_base32.is_some(),
                "{name}: an app exactly when the facts give its secret"
            );
            // The shared checks run at the app's known time, or after the
            // history of a set without an app.
            let at = match (&facts.code_at, &facts.passkeys) {
                (Some((at, _)), _) => *at,
                (None, Some(passkeys)) => passkeys.checked_at,
                (None, None) => panic!("{name}: the facts give no time to check at"),
            };
            if let Some(secret) = facts.secret_base32.as_deref() {
                let (at, code) = facts.code_at.clone().unwrap();
                assert_eq!(
                    secret_code(secret, at),
                    code,
                    "{name}: TOTP generation changed"
                );
                let other =
                    record
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
                check_lifecycle(config, name, &record, facts, (at, &code));
            } else {
                // Devices and a replacement are checked with the app's code.
                assert!(
                    facts.device_tokens.is_empty()
                        && facts.replacement.is_none()
                        && facts.previous_secret_base32.is_none(),
                    "{name}"
                );
                assert!(
                    a.devices().is_empty() && a.replacement().is_none(),
                    "{name}"
                );
            }
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
        }
        (_, state) => panic!("{name}: expected {state}, loaded {record:?}"),
    }
    match &facts.passkeys {
        Some(passkeys) => check_passkeys(config, name, &record, facts, passkeys),
        None => {
            assert!(
                record.passkeys().is_empty(),
                "{name}: passkeys not in the facts"
            );
            assert_eq!(registration_times(&record), None, "{name}");
        }
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

/// The passkeys of a golden record and its pending registration, as its
/// facts say.
fn check_passkeys(
    config: &MfaContext,
    name: &str,
    record: &MfaEnrollment,
    facts: &RecordFacts,
    passkeys: &PasskeySetFacts,
) {
    let user = facts.user_id.as_str();
    let at = passkeys.checked_at;
    let epoch = Epoch::new(facts.epoch);
    // What the record lists, and what a store indexes (I15).
    assert_eq!(passkey_facts(record), passkeys.passkeys, "{name}");
    let credential_ids: Vec<String> = record
        .credential_ids()
        .map(|id| URL_SAFE_NO_PAD.encode(id))
        .collect();
    let expected_ids: Vec<String> = passkeys
        .passkeys
        .iter()
        .map(|p| p.credential_id.clone())
        .collect();
    assert_eq!(credential_ids, expected_ids, "{name}");
    let status = record.status(config, at);
    assert_eq!(status.passkeys, passkeys.passkeys.len(), "{name}");
    assert_eq!(
        (status.mfa_methods.totp, status.mfa_methods.passkey),
        (passkeys.app, !passkeys.passkeys.is_empty()),
        "{name}"
    );
    let method = match (record.is_active(), passkeys.app) {
        (false, _) => None,
        (true, true) => Some(MfaMethod::Totp),
        (true, false) => Some(MfaMethod::Passkey),
    };
    assert_eq!(status.mfa_method, method, "{name}");

    if let FactorState::Active(a) = record.factor() {
        assert_eq!(a.app().is_some(), passkeys.app, "{name}");
        assert!(
            !passkeys.passkeys.is_empty(),
            "{name}: a set without passkeys"
        );
        // The login's second step offers exactly the stored credentials:
        // their public keys still parse into `webauthn-rs` credentials.
        let login = challenge(config, record, user, at);
        assert!(login.accepts_passkey(), "{name}");
        let options = login
            .passkey_options()
            .unwrap_or_else(|| panic!("{name}: no passkey request options"));
        let allowed: Vec<String> = options
            .public_key
            .allow_credentials
            .iter()
            .map(|c| URL_SAFE_NO_PAD.encode(&c.id))
            .collect();
        assert_eq!(allowed, expected_ids, "{name}");
        // A backup code completes the login; a used one is refused, uncounted.
        let code = facts.unused_backup_codes.first().expect("an unused code");
        let t = record
            .clone()
            .complete_login(config, user, &login, code, at, &mut rng());
        assert_eq!(
            t.outcome.as_ref().map(|v| (v.by, v.proof.epoch)).ok(),
            Some((VerifiedBy::BackupCode, epoch)),
            "{name}: {:?}",
            t.outcome
        );
        assert_eq!(logins(&t.state), facts.logins + 1, "{name}");
        for code in &facts.used_backup_codes {
            let t = record
                .clone()
                .complete_login(config, user, &login, code, at, &mut rng());
            assert!(matches!(t.outcome, Err(Error::InvalidCode)), "{name}");
            assert!(!t.changed, "{name}: a used code was counted");
        }
        let proof = proof_at(user, facts.epoch, at);
        let first = &passkeys.passkeys[0];
        if passkeys.app {
            // A passkey beside the app goes, and takes the epoch on.
            let t = record.clone().remove_passkey(
                config,
                user,
                &first.id,
                Reauth::RecentProof(&proof),
                at,
                &mut rng(),
            );
            assert!(t.outcome.is_ok(), "{name}: {:?}", t.outcome);
            assert_eq!(t.state.epoch(), Epoch::new(facts.epoch + 1), "{name}");
            assert_eq!(
                t.state.passkeys().len(),
                passkeys.passkeys.len() - 1,
                "{name}"
            );
        } else {
            // Without an app, a TOTP-shaped code matches nothing and counts.
            let t = record
                .clone()
                .complete_login(config, user, &login, "123456", at, &mut rng());
            assert!(matches!(t.outcome, Err(Error::InvalidCode)), "{name}");
            assert!(t.changed, "{name}: a wrong code was not counted");
            let FactorState::Active(after) = t.state.factor() else {
                panic!("{name}")
            };
            assert_eq!(after.attempts().failures(), facts.failures + 1, "{name}");
            if let [only] = passkeys.passkeys.as_slice() {
                let t = record.clone().remove_passkey(
                    config,
                    user,
                    &only.id,
                    Reauth::RecentProof(&proof),
                    at,
                    &mut rng(),
                );
                assert!(matches!(t.outcome, Err(Error::LastFactor)), "{name}");
                assert!(!t.changed, "{name}");
            }
        }
        // Renaming by the crate's id; an unknown id is not found.
        let t = record
            .clone()
            .rename_passkey(config, user, &first.id, "Renamed", &mut rng());
        assert_eq!(
            t.outcome.as_ref().map(|p| (p.id(), p.name())).ok(),
            Some((first.id.as_str(), "Renamed")),
            "{name}: {:?}",
            t.outcome
        );
        assert!(t.changed, "{name}");
        assert_eq!(t.state.passkeys()[0].name(), "Renamed", "{name}");
        let t = record
            .clone()
            .rename_passkey(config, user, "no-such-id", "Renamed", &mut rng());
        assert!(matches!(t.outcome, Err(Error::PasskeyNotFound)), "{name}");
        assert!(!t.changed, "{name}");
    } else {
        assert!(passkeys.passkeys.is_empty() && !passkeys.app, "{name}");
    }

    // A pending registration: completes before it expires, not after.
    assert_eq!(
        registration_times(record),
        passkeys
            .registration
            .as_ref()
            .map(|r| (r.created_at, r.expires_at)),
        "{name}"
    );
    let Some(registration) = &passkeys.registration else {
        return;
    };
    assert!(
        registration.created_at <= at && at < registration.expires_at,
        "{name}"
    );
    let options: CreationChallengeResponse =
        serde_json::from_value(registration.options.clone()).unwrap();
    let created = Authenticator::default().register(&options);
    let proof = proof_at(user, facts.epoch, at);
    let proof = record.is_active().then_some(&proof);
    let late = record.clone().confirm_passkey_registration(
        config,
        user,
        "Laptop",
        &created,
        proof,
        registration.expires_at,
        &mut rng(),
    );
    assert!(
        matches!(late.outcome, Err(Error::PendingExpired)),
        "{name}: {:?}",
        late.outcome
    );
    let done = record.clone().confirm_passkey_registration(
        config,
        user,
        "Laptop",
        &created,
        proof,
        at,
        &mut rng(),
    );
    let Ok(added) = &done.outcome else {
        panic!("{name}: {:?}", done.outcome)
    };
    assert_eq!(added.passkey.credential_id(), &created.raw_id[..], "{name}");
    assert_eq!(
        added.backup_codes.is_some(),
        !record.is_active(),
        "{name}: codes come with the first factor"
    );
    assert_eq!(done.state.epoch(), Epoch::new(facts.epoch + 1), "{name}");
    assert_eq!(
        done.state.passkeys().len(),
        passkeys.passkeys.len() + 1,
        "{name}"
    );
    assert_eq!(registration_times(&done.state), None, "{name}");
    // An operator's reset drops it.
    let reset = record
        .clone()
        .operator_reset("golden-operator", "golden check");
    let again = reset.state.confirm_passkey_registration(
        config,
        user,
        "Laptop",
        &created,
        None,
        at,
        &mut rng(),
    );
    assert!(
        matches!(again.outcome, Err(Error::NoPendingSetup)),
        "{name}: {:?}",
        again.outcome
    );
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
/// with no completed logins, behave as before, and are written back in the
/// current format with the same factor.
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

/// The histories every format since `mfa/2` has a record of.
fn assert_history_covered(format: &str, facts: &Facts) {
    let has = |what: &str, pick: fn(&RecordFacts) -> bool| {
        assert!(
            facts.records.values().any(pick),
            "no golden {format} record is {what}"
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
        "no golden {format} record after an operator reset"
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

/// Records of format `mfa/2` (one app): they load, behave as their facts
/// say, and are written back in the current format.
#[test]
fn mfa_2_records_load_behave_and_convert() {
    let facts = check_format("mfa-2");
    assert_history_covered("mfa/2", &facts);
}

/// An `mfa/2` record is written back as exactly the `mfa-3/` record of the
/// same name, which the same seeded history wrote in the new format: the
/// conversion loses and adds nothing. The facts of the two are the same.
#[test]
fn mfa_2_records_convert_exactly_to_mfa_3() {
    write_if_asked(&current_format_dir());
    let old = load_facts("mfa-2");
    let new = load_facts("mfa-3");
    assert!(!old.records.is_empty());
    for (name, facts) in &old.records {
        let converted = new
            .records
            .get(name)
            .unwrap_or_else(|| panic!("{name}: in mfa-2/ and not in mfa-3/"));
        assert_eq!(
            serde_json::to_value(facts).unwrap(),
            serde_json::to_value(converted).unwrap(),
            "{name}: the histories of mfa-2/ and mfa-3/ differ"
        );
        let text = std::fs::read_to_string(dir().join("mfa-2").join(name)).unwrap();
        let expected = std::fs::read_to_string(dir().join("mfa-3").join(name)).unwrap();
        let written = MfaEnrollment::from_json(&text).unwrap().to_json();
        assert_eq!(
            written,
            expected.trim_end(),
            "{name}: an mfa/2 record converts to another text than its mfa/3 record"
        );
    }
    assert_eq!(
        serde_json::to_value(&old.envelopes).unwrap(),
        serde_json::to_value(&new.envelopes).unwrap(),
        "the envelopes of mfa-2/ and mfa-3/ differ"
    );
}

/// Records of the current format: they load, behave as their facts say and
/// re-serialize to exactly their text.
#[test]
fn mfa_3_records_load_and_round_trip() {
    write_if_asked(&current_format_dir());
    let facts = check_format("mfa-3");
    assert_history_covered("mfa/3", &facts);
    let has = |what: &str, pick: fn(&RecordFacts, &PasskeySetFacts) -> bool| {
        assert!(
            facts
                .records
                .values()
                .any(|r| r.passkeys.as_ref().is_some_and(|p| pick(r, p))),
            "no golden mfa/3 record is {what}"
        );
    };
    has(
        "a set of passkeys alone, its first factor, with a backup code used",
        |r, p| {
            r.state == "active"
                && !p.app
                && p.passkeys.len() == 1
                && r.epoch == 1
                && r.used_backup_codes.len() == 1
                && r.unused_backup_codes.len() + r.used_backup_codes.len() == 10
        },
    );
    has(
        "an app and two passkeys, one renamed and one used in a login",
        |r, p| {
            r.state == "active"
                && p.app
                && p.passkeys.len() == 2
                && r.logins > 0
                && p.passkeys
                    .iter()
                    .any(|k| k.counter > 0 && k.last_used_at.is_some())
                && p.passkeys.iter().any(|k| k.last_used_at.is_none())
        },
    );
    has(
        "a passkey registration pending beside a disabled factor",
        |r, p| r.state == "disabled" && p.registration.is_some(),
    );
    for name in PASSKEY_RECORDS {
        assert!(
            facts.records[name].passkeys.is_some(),
            "{name}: not described in facts_passkeys.json"
        );
    }
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
