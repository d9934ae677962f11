//! No secret leaks through `Debug`, `Display` or serialization (I6).
//!
//! A whole flow runs through the service with a random master key. Every
//! public value that holds or came near secret material is then formatted
//! with `{:?}` (and `{}` where implemented) and every serializable one is
//! serialized (records, events, status, problem documents of every error
//! variant). None of the output may contain the TOTP secret, a TOTP code, a
//! backup code, the master key, the derived encryption key or the pepper, in
//! raw, hex, base32 or base64 form, whole or in part.
//!
//! A compile-time probe also checks that no secret type implements
//! `Serialize` or `Clone`.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use mfa::testkit::{FaultyStore, ManualClock};
use mfa::{
    Enabled, Epoch, Error, FactorState, KeyId, Keyring, LoginChallenge, LoginStep, MasterKey,
    MemoryStore, Mfa, MfaContext, MfaEnrollment, MfaStore, Policy, Proof, Reauth,
    backup::{Argon2Params, SubmittedBackupCode},
    event::SecurityEvent,
    http::ProblemDetails,
    keys::Envelope,
    totp::{self, TotpCode, TotpParams, TotpSecret},
};
use rand::RngExt;
use serde::Serialize;

const T0: u64 = 1_700_000_000;
const USER: &str = "hygiene-user";

/// Everything secret the flow handled, and every text the crate produced.
struct Audit {
    /// (what, needle) pairs: substrings that must appear nowhere.
    needles: Vec<(String, String)>,
    /// Byte strings that must appear nowhere.
    raw: Vec<(String, Vec<u8>)>,
    /// Six-digit codes that must appear nowhere as a token of their own.
    codes: Vec<String>,
    /// (where, text) pairs produced by the crate.
    outputs: Vec<(String, String)>,
}

impl Audit {
    fn new() -> Self {
        Audit {
            needles: Vec::new(),
            raw: Vec::new(),
            codes: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Registers secret bytes in every encoding, whole and in 12-character windows.
    fn secret_bytes(&mut self, what: &str, bytes: &[u8]) {
        let b64 = [
            base64::engine::general_purpose::STANDARD.encode(bytes),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ];
        let b32 = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let decimal = format!("{:?}", &bytes[..6]);
        let decimal = decimal.trim_matches(|c| c == '[' || c == ']').to_owned();
        let forms = [
            b64[0].clone(),
            b64[1].clone(),
            b32.clone(),
            b32.to_lowercase(),
            hex.clone(),
            hex.to_uppercase(),
        ];
        for form in forms {
            let chars: Vec<char> = form.chars().collect();
            for window in chars.windows(12).step_by(4) {
                self.needles
                    .push((what.to_owned(), window.iter().collect::<String>()));
            }
        }
        self.needles.push((format!("{what} (decimal)"), decimal));
        for window in bytes.windows(8).step_by(4) {
            self.raw.push((what.to_owned(), window.to_vec()));
        }
    }

    fn backup_code(&mut self, code: &str) {
        let canonical = code.replace('-', "");
        // The first two characters are the locator, stored in clear by design.
        let secret_part = &canonical[2..];
        for form in [
            code.to_owned(),
            code.to_uppercase(),
            secret_part.to_owned(),
            secret_part.to_uppercase(),
        ] {
            self.needles.push(("backup code".into(), form));
        }
    }

    fn output(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.outputs.push((place.into(), text.into()));
    }

    fn debug(&mut self, place: &str, value: &impl std::fmt::Debug) {
        self.output(format!("{place} {{:?}}"), format!("{value:?}"));
        self.output(format!("{place} {{:#?}}"), format!("{value:#?}"));
    }

    fn display(&mut self, place: &str, value: &impl std::fmt::Display) {
        self.output(format!("{place} {{}}"), format!("{value}"));
    }

    fn json(&mut self, place: &str, value: &impl Serialize) {
        self.output(
            format!("{place} as JSON"),
            serde_json::to_string(value).unwrap(),
        );
    }

    fn error(&mut self, place: &str, error: &Error) {
        self.debug(place, error);
        self.display(place, error);
        let problem = ProblemDetails::from(error);
        self.debug(&format!("{place} problem"), &problem);
        self.display(&format!("{place} problem"), &problem);
        self.json(&format!("{place} problem"), &problem);
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            self.output(format!("{place} source"), inner.to_string());
            source = inner.source();
        }
    }

    fn check(&self) -> usize {
        assert!(!self.needles.is_empty() && !self.codes.is_empty());
        let mut checked = 0;
        for (place, text) in &self.outputs {
            for (what, needle) in &self.needles {
                assert!(
                    !text.contains(needle.as_str()),
                    "{what} ({needle}) leaks through {place}: {text}"
                );
            }
            for (what, bytes) in &self.raw {
                assert!(
                    !text.as_bytes().windows(bytes.len()).any(|w| w == bytes),
                    "{what} (raw bytes) leaks through {place}"
                );
            }
            for token in text.split(|c: char| !c.is_ascii_digit()) {
                assert!(
                    !self.codes.iter().any(|c| c == token),
                    "a TOTP code ({token}) leaks through {place}: {text}"
                );
            }
            checked += 1;
        }
        checked
    }
}

#[tokio::test]
async fn no_secret_in_any_output() {
    let mut audit = Audit::new();
    let mut key_bytes = [0u8; 32];
    rand::rng().fill(&mut key_bytes);
    let master = MasterKey::from_bytes(key_bytes);
    audit.secret_bytes("master key", &key_bytes);
    // The crate's own keys, derived independently (hosts cannot derive them).
    let own_key = |label: &[u8]| {
        let mut out = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(b"mfa keyring v1"), &key_bytes)
            .expand(label, &mut out)
            .unwrap();
        out
    };
    audit.secret_bytes("encryption key", &own_key(b"mfa/v1/aes-256-gcm"));
    audit.secret_bytes("pepper", &own_key(b"mfa/v1/backup-code-pepper"));
    audit.secret_bytes("master key (base64)", master.to_base64().as_bytes());
    audit.debug("MasterKey", &master);

    let keyring = Keyring::new(KeyId(1), master);
    audit.debug("Keyring", &keyring);
    let mut policy = Policy::new("Hygiene Co");
    policy.backup_codes.argon2 = Argon2Params::insecure_for_tests(64, 1, 1).unwrap();
    // A used code is replaced by a new one, which the outputs must not show.
    policy.backup_codes.reissue_on_use = true;
    let config = MfaContext::new(keyring, policy).unwrap();
    audit.debug("MfaContext", &config);

    let clock = ManualClock::new(T0);
    let events: Arc<Mutex<Vec<SecurityEvent>>> = Arc::default();
    let sink = Arc::clone(&events);
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let mfa = Mfa::new(Arc::clone(&store), config)
        .with_clock(clock.clone())
        .with_event_sink(move |_: &str, e: &SecurityEvent| sink.lock().unwrap().push(e.clone()));
    let config = mfa.context();

    // Setup.
    let setup = mfa.begin_setup(USER, "someone@example.com").await.unwrap();
    audit.debug("TotpSetup", &setup);
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    audit.secret_bytes("TOTP secret", secret.as_bytes());
    audit.debug("TotpSecret", &secret);
    audit.display("TotpSecret", &secret);
    let code_at = |t: u64| totp::generate(&secret, TotpParams::default(), t).unwrap();
    for t in (T0 - 300..T0 + 3_000).step_by(30) {
        audit.codes.push(code_at(t));
    }
    let pending = store.load(USER).await.unwrap().unwrap();
    audit.debug("pending record", &pending);
    audit.json("pending record", &pending.record);

    // Confirm, with a wrong code first.
    let wrong = |t: u64| {
        (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|c| ![t - 30, t, t + 30].iter().any(|s| code_at(*s) == *c))
            .unwrap()
    };
    let e = mfa.confirm_setup(USER, &wrong(T0)).await.unwrap_err();
    audit.error("wrong confirm", &e);
    let enabled = mfa.confirm_setup(USER, &code_at(T0)).await.unwrap();
    audit.debug("Enabled", &enabled);
    audit.debug("Proof (setup)", &enabled.proof);
    audit.json("Proof (setup)", &enabled.proof);
    audit.debug("Epoch", &enabled.proof.epoch);
    audit.json("Epoch", &enabled.proof.epoch);
    let codes = &enabled.backup_codes;
    audit.debug("BackupCodes", codes);
    let code_strings: Vec<String> = codes.as_strs().into_iter().map(str::to_owned).collect();
    for code in codes {
        audit.backup_code(code.as_str());
        audit.debug("BackupCode", code);
        audit.display("BackupCode", code);
    }

    // Logins, failures, replays, malformed input, lockout.
    clock.advance(30);
    let login = mfa.verify(USER, &code_at(clock.get())).await.unwrap();
    audit.debug("Verified", &login);
    audit.json("Proof (TOTP)", &login.proof);
    let e = mfa.verify(USER, &code_at(clock.get())).await.unwrap_err();
    audit.error("replay", &e);
    // A login through a challenge: the step, the challenge, its completion.
    let step = mfa.begin_login(USER, None).await.unwrap();
    audit.debug("LoginStep", &step);
    let LoginStep::SecondFactor(challenge) = step else {
        panic!("an active factor asks for a second step")
    };
    audit.debug("LoginChallenge", &challenge);
    audit.json("LoginChallenge", &challenge);
    let e = mfa
        .complete_login(&challenge, &code_at(clock.get()))
        .await
        .unwrap_err();
    audit.error("replay through a challenge", &e);
    let used = mfa
        .complete_login(&challenge, &code_strings[0])
        .await
        .unwrap();
    let new = used.new_backup_code.as_ref().expect("a reissued code");
    audit.backup_code(new.as_str());
    audit.debug("Verified (backup)", &used);
    audit.debug("VerifiedAnswer", &mfa::http::VerifiedAnswer::from(&used));
    audit.json("Proof (backup code)", &used.proof);
    let e = mfa
        .complete_login(&challenge, &code_strings[1])
        .await
        .unwrap_err();
    audit.error("used-up challenge", &e);
    let e = mfa
        .verify_backup_code(USER, &code_strings[0])
        .await
        .unwrap_err();
    audit.error("used backup code", &e);
    let last = if code_strings[1].ends_with('z') {
        "y"
    } else {
        "z"
    };
    let near_miss = format!("{}{last}", &code_strings[1][..10]);
    let e = mfa.verify_backup_code(USER, &near_miss).await.unwrap_err();
    audit.error("near-miss backup code", &e);
    for malformed in [
        format!("{}x", code_at(clock.get())),
        format!("{}-{}", code_strings[2], code_strings[3]),
        format!("{}é", &code_strings[4][..9]),
    ] {
        let e = mfa.verify(USER, &malformed).await.unwrap_err();
        audit.error("malformed", &e);
    }
    for _ in 0..6 {
        if let Err(e) = mfa.verify_totp(USER, &wrong(clock.get())).await {
            audit.error("wrong or locked", &e);
        }
    }
    let status = mfa.status(USER).await.unwrap();
    audit.debug("MfaStatus", &status);
    audit.json("MfaStatus", &status);
    mfa.operator_unlock(USER, "support-desk", "identity checked by phone")
        .await
        .unwrap();
    let e = mfa
        .operator_unlock(USER, "support-desk", "line\nbreak")
        .await
        .unwrap_err();
    audit.error("bad operator note", &e);

    // Regenerate with a TOTP proof.
    clock.advance(30);
    let fresh_code = code_at(clock.get());
    let reauth = Reauth::TotpCode(&fresh_code);
    audit.debug("Reauth", &reauth);
    let fresh = mfa.regenerate_backup_codes(USER, reauth).await.unwrap();
    for code in &fresh {
        audit.backup_code(code.as_str());
    }

    // A remembered device and a replacement authenticator, left pending so
    // the record below holds both.
    let token = mfa.remember_device(USER, &login.proof).await.unwrap();
    audit
        .needles
        .push(("device token".into(), token.as_str().to_owned()));
    let token_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_str())
        .unwrap();
    assert_eq!(token_bytes.len(), 32);
    audit.secret_bytes("device token", &token_bytes);
    audit.debug("DeviceToken", &token);
    let step = mfa.begin_login(USER, Some(token.as_str())).await.unwrap();
    assert!(matches!(step, LoginStep::RememberedDevice(_)));
    audit.debug("LoginStep (remembered device)", &step);
    let replacing = mfa
        .begin_replacement(
            USER,
            "someone@example.com",
            Reauth::RecentProof(&login.proof),
        )
        .await
        .unwrap();
    audit.debug("TotpSetup (replacement)", &replacing);
    let new_secret = TotpSecret::from_base32(replacing.secret_base32()).unwrap();
    audit.secret_bytes("replacement secret", new_secret.as_bytes());
    audit.debug("TotpSecret (replacement)", &new_secret);
    let new_code_at = |t: u64| totp::generate(&new_secret, TotpParams::default(), t).unwrap();
    for t in (T0 - 300..T0 + 3_000).step_by(30) {
        audit.codes.push(new_code_at(t));
    }
    let e = mfa
        .confirm_replacement(USER, &code_at(clock.get()))
        .await
        .unwrap_err();
    audit.error("old app's code confirming the replacement", &e);
    let status = mfa.status(USER).await.unwrap();
    assert!(status.replacement_pending && status.remembered_devices == 1);
    audit.debug("MfaStatus (replacing)", &status);
    audit.json("MfaStatus (replacing)", &status);

    // Store failures report nothing about the record.
    store.fail_save(1, mfa::testkit::SaveFault::WrittenButFailed);
    store.fail_load(2, mfa::testkit::LoadFault::Corrupt);
    let e = mfa
        .regenerate_backup_codes(USER, Reauth::RecentProof(&login.proof))
        .await
        .unwrap_err();
    audit.error("store fault", &e);
    audit.debug("FaultyStore", &*store);

    // The record, in every form.
    let active = store.load(USER).await.unwrap().unwrap();
    audit.debug("active record", &active);
    audit.json("active record", &active.record);
    audit.output("active record to_json", active.record.to_json());
    let FactorState::Active(factor) = active.record.factor() else {
        panic!("not active")
    };
    audit.debug("ActiveFactor", factor);
    audit.json("ActiveFactor", factor);
    audit.debug("StoredBackupCodes", factor.backup_codes());
    audit.json("StoredBackupCodes", factor.backup_codes());
    audit.debug("Attempts", &factor.attempts());
    let replacement = factor.replacement().expect("a pending replacement");
    audit.debug("Replacement", replacement);
    audit.json("Replacement", replacement);
    audit.debug("RememberedDevice", &factor.devices()[0]);
    audit.json("RememberedDevice", &factor.devices()[0]);

    // Pure transitions and parsed inputs.
    let reauth = Reauth::RecentProof(&login.proof);
    audit.debug("Reauth (proof)", &reauth);
    let t = active.record.clone().regenerate_backup_codes(
        config,
        USER,
        reauth,
        clock.get(),
        &mut rand::rng(),
    );
    audit.debug("Transition", &t);
    for code in t.outcome.as_ref().unwrap() {
        audit.backup_code(code.as_str());
    }
    let reset = active
        .record
        .clone()
        .operator_reset("support-desk", "phone lost");
    audit.debug("Transition (operator reset)", &reset);
    audit.output("reset record to_json", reset.state.to_json());
    for event in &reset.events {
        audit.debug("SecurityEvent (operator reset)", event);
        audit.json("SecurityEvent (operator reset)", event);
    }
    let parsed = TotpCode::parse(&fresh_code, 6).unwrap();
    audit.debug("TotpCode", &parsed);
    let input = SubmittedBackupCode::parse(&code_strings[5]).unwrap();
    audit.debug("SubmittedBackupCode", &input);
    let envelope = Envelope::seal(
        config.keyring(),
        "note",
        USER,
        secret.as_bytes(),
        &mut rand::rng(),
    )
    .unwrap();
    audit.debug("Envelope", &envelope);
    audit.debug("Mfa", &mfa);
    audit.debug("MemoryStore", store.inner());

    // A corrupt record's error does not echo what it found.
    let corrupt = active.record.to_json().replacen("\"totp\"", "\"totp_\"", 1);
    let e = MfaEnrollment::from_json(&corrupt).unwrap_err();
    audit.error("corrupt record", &e);

    // The replacement confirmed, the devices forgotten.
    clock.advance(30);
    let replaced = mfa
        .confirm_replacement(USER, &new_code_at(clock.get()))
        .await
        .unwrap();
    audit.debug("Proof (replacement)", &replaced);
    audit.json("Proof (replacement)", &replaced);
    let again = mfa.remember_device(USER, &replaced).await.unwrap();
    audit
        .needles
        .push(("device token".into(), again.as_str().to_owned()));
    audit.debug("DeviceToken (after replacement)", &again);
    let forgot = mfa
        .forget_devices(USER, Reauth::RecentProof(&replaced))
        .await
        .unwrap();
    assert_eq!(forgot, 1);
    let e = mfa
        .forget_devices(USER, Reauth::RecentProof(&login.proof))
        .await
        .unwrap_err();
    audit.error("forget on a revoked proof", &e);
    let replaced_record = store.load(USER).await.unwrap().unwrap();
    audit.debug("replaced record", &replaced_record);
    audit.output("replaced record to_json", replaced_record.record.to_json());

    // Events and every error variant.
    for event in events.lock().unwrap().iter() {
        audit.debug("SecurityEvent", event);
        audit.json("SecurityEvent", event);
    }
    assert!(events.lock().unwrap().len() >= 10);
    for e in mfa::testkit::every_error() {
        audit.error("error variant", &e);
    }

    let checked = audit.check();
    assert!(checked > 100, "only {checked} outputs were checked");
    eprintln!(
        "secret hygiene: {checked} outputs against {} needles, {} byte strings and {} TOTP codes",
        audit.needles.len(),
        audit.raw.len(),
        audit.codes.len()
    );

    // The audit itself finds a leak when there is one.
    let mut planted = Audit::new();
    planted.secret_bytes("TOTP secret", secret.as_bytes());
    planted.codes.push(code_at(T0));
    planted.output("planted", format!("uri {}", setup.otpauth_uri()));
    assert!(std::panic::catch_unwind(|| planted.check()).is_err());
}

/// Method resolution picks the first of these that applies: `IsX` when the
/// probed type implements the trait, the fallback on the reference otherwise.
struct Probe<T>(PhantomData<T>);
trait FallbackFalse {
    fn serialize_impl(&self) -> bool {
        false
    }
    fn clone_impl(&self) -> bool {
        false
    }
}
impl<T> FallbackFalse for &Probe<T> {}
trait IsSerialize {
    fn serialize_impl(&self) -> bool {
        true
    }
}
impl<T: Serialize> IsSerialize for Probe<T> {}
trait IsClone {
    fn clone_impl(&self) -> bool {
        true
    }
}
impl<T: Clone> IsClone for Probe<T> {}

macro_rules! probe {
    ($t:ty) => {
        (
            (&Probe::<$t>(PhantomData)).serialize_impl(),
            (&Probe::<$t>(PhantomData)).clone_impl(),
        )
    };
}

#[test]
fn secret_types_are_neither_serialize_nor_clone() {
    // The probe works.
    assert_eq!(probe!(MfaEnrollment), (true, true));
    assert_eq!(probe!(std::fs::File), (false, false));
    // Secrets: neither.
    assert_eq!(probe!(TotpSecret), (false, false), "TotpSecret");
    assert_eq!(probe!(MasterKey), (false, false), "MasterKey");
    assert_eq!(probe!(Keyring), (false, false), "Keyring");
    assert_eq!(
        probe!(mfa::backup::BackupCode),
        (false, false),
        "BackupCode"
    );
    assert_eq!(probe!(mfa::BackupCodes), (false, false), "BackupCodes");
    assert_eq!(
        probe!(SubmittedBackupCode),
        (false, false),
        "SubmittedBackupCode"
    );
    assert_eq!(probe!(mfa::TotpSetup), (false, false), "TotpSetup");
    assert_eq!(probe!(mfa::DeviceToken), (false, false), "DeviceToken");
    // The output of a confirmed setup holds the backup codes; a
    // verification may hold a new one.
    assert_eq!(probe!(Enabled), (false, false), "Enabled");
    assert_eq!(probe!(mfa::Verified), (false, false), "Verified");
    assert_eq!(probe!(MfaContext), (false, false), "MfaContext");
    // An imported factor holds its secret and plain codes in clear; sealed,
    // it holds ciphertext and hashes only (cloned for retries, never serialized).
    assert_eq!(
        probe!(mfa::import::ImportedFactor),
        (false, false),
        "ImportedFactor"
    );
    assert_eq!(
        probe!(mfa::import::SealedImport),
        (false, true),
        "SealedImport"
    );
    // What a host keeps in its sessions holds no secret: storable, copyable.
    assert_eq!(probe!(Proof), (true, true), "Proof");
    assert_eq!(probe!(LoginChallenge), (true, true), "LoginChallenge");
    assert_eq!(probe!(Epoch), (true, true), "Epoch");
    // A typed code is not serializable (it is a small `Copy` value on the stack).
    assert!(!probe!(TotpCode).0, "TotpCode");
}

/// The output of a confirmed setup and the values a host keeps in its
/// sessions print no secret: `Enabled` shows its backup codes redacted;
/// `Proof`, `Epoch`, `LoginStep` and `LoginChallenge` hold none to show.
#[test]
fn enabled_and_session_values_print_no_secret() {
    use rand::SeedableRng as _;
    let ctx = mfa::testkit::test_config();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let begun =
        MfaEnrollment::default().begin_setup(&ctx, USER, "someone@example.com", T0, &mut rng);
    let b32 = begun.outcome.as_ref().unwrap().secret_base32().to_owned();
    let secret = TotpSecret::from_base32(&b32).unwrap();
    let code = totp::generate(&secret, TotpParams::default(), T0).unwrap();
    let confirmed = begun.state.confirm_setup(&ctx, USER, &code, T0, &mut rng);
    let enabled = confirmed.outcome.unwrap();
    let codes: Vec<String> = enabled
        .backup_codes
        .as_strs()
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10);
    let step = confirmed.state.begin_login(&ctx, USER, None, T0);
    let LoginStep::SecondFactor(challenge) = &step else {
        panic!("an active factor asks for a second step")
    };
    let remembered =
        confirmed
            .state
            .clone()
            .remember_device(&ctx, USER, &enabled.proof, T0, &mut rng);
    let token = remembered.outcome.unwrap();
    let device_step = remembered
        .state
        .begin_login(&ctx, USER, Some(token.as_str()), T0);
    assert!(matches!(device_step, LoginStep::RememberedDevice(_)));
    assert_eq!(
        format!("{token:?}"),
        format!(
            "DeviceToken {{ token: \"REDACTED\", expires_at: {} }}",
            token.expires_at()
        )
    );
    assert_eq!(
        format!("{:?}", enabled.backup_codes),
        "BackupCodes(10 × REDACTED)"
    );
    let printed = [
        format!("{enabled:?}"),
        format!("{enabled:#?}"),
        format!("{:?}", enabled.proof),
        serde_json::to_string(&enabled.proof).unwrap(),
        format!("{:?}", enabled.proof.epoch),
        serde_json::to_string(&enabled.proof.epoch).unwrap(),
        format!("{step:?}"),
        format!("{challenge:#?}"),
        serde_json::to_string(challenge).unwrap(),
        format!("{token:?}"),
        format!("{token:#?}"),
        format!("{device_step:?}"),
        format!("{:?}", remembered.events),
        remembered.state.to_json(),
    ];
    assert!(printed[0].contains("REDACTED"), "{}", printed[0]);
    assert!(printed[0].contains("SetupConfirmation"), "{}", printed[0]);
    for text in &printed {
        assert!(!text.contains(&b32), "the TOTP secret leaks through {text}");
        assert!(
            !text.contains(token.as_str()),
            "the device token leaks through {text}"
        );
        assert!(
            !text.split(|c: char| !c.is_ascii_digit()).any(|t| t == code),
            "a TOTP code leaks through {text}"
        );
        for backup in &codes {
            for form in [
                backup.clone(),
                backup.replace('-', ""),
                backup.to_uppercase(),
                backup.replace('-', "")[2..].to_owned(),
            ] {
                assert!(!text.contains(&form), "a backup code leaks through {text}");
            }
        }
    }
}

/// An imported factor prints none of its secrets: not the TOTP secret, not
/// its plain backup codes, not a devise pepper; its sealed form neither.
#[test]
fn imported_factors_print_no_secret() {
    use mfa::import::{CodeCase, ImportedFactor};
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let factor = ImportedFactor::from_base32(secret, mfa::totp::TotpParams::default())
        .unwrap()
        .with_plain_backup_codes(["plain-secret-code"], CodeCase::Sensitive)
        .unwrap();
    let ctx = mfa::testkit::test_config();
    let sealed = factor
        .seal(&ctx, "u", 1_700_000_000, &mut rand::rng())
        .unwrap();
    let devise = ImportedFactor::from_base32(secret, mfa::totp::TotpParams::default())
        .unwrap()
        .with_bcrypt_backup_codes(
            [mfa::testkit::legacy::devise_backup_code_hash(
                "c0de",
                "the-pepper",
                4,
            )],
            "the-pepper",
        )
        .unwrap();
    let sealed_devise = devise
        .seal(&ctx, "u", 1_700_000_000, &mut rand::rng())
        .unwrap();
    for text in [
        format!("{factor:?}"),
        format!("{sealed:?}"),
        format!("{devise:?}"),
        format!("{sealed_devise:?}"),
        mfa::MfaEnrollment::default()
            .import(&sealed_devise, "u", 1_700_000_000)
            .state
            .to_json(),
    ] {
        for leak in [secret, "plain-secret-code", "the-pepper", "1234567890"] {
            assert!(!text.contains(leak), "{leak} leaks: {text}");
        }
    }
}
