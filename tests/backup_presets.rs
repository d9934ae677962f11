//! Backup-code strength presets (`BackupCodePolicy::strength`): codes of each
//! preset work end to end, a code of the other preset's length is a counted
//! wrong code that runs no Argon2, a stored set keeps its preset when the
//! policy changes, and regeneration takes the policy's preset.
//!
//! Argon2 evaluations are counted with `mfa::testkit::argon2_evaluations`,
//! which is process-wide: every test of this binary that hashes is in
//! `presets_end_to_end`; the others hash nothing.

use std::sync::Arc;

use mfa::backup::{BackupCode, BackupCodeStrength, SubmittedBackupCode};
use mfa::testkit::{ManualClock, argon2_evaluations, test_config, test_config_with};
use mfa::{
    BackupCodes, Error, FactorState, MemoryStore, Mfa, MfaContext, MfaEnrollment, Reauth,
    totp::{self, TotpSecret},
};

const T0: u64 = 1_700_000_000;

type Service = Mfa<Arc<MemoryStore>>;

fn nist_config() -> MfaContext {
    test_config_with(|p| p.backup_codes.strength = BackupCodeStrength::NistRecovery)
}

/// Runs `op` and returns its result with the Argon2 evaluations it cost.
async fn counted<T>(op: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = argon2_evaluations();
    let out = op.await;
    (out, argon2_evaluations() - before)
}

/// Enables MFA for `user` through `mfa`, returning the codes shown.
async fn enroll(mfa: &Service, clock: &ManualClock, user: &str) -> (mfa::Enabled, u64) {
    let setup = mfa.begin_setup(user, "u@example.com").await.unwrap();
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let params = mfa.context().policy().totp.params();
    let code = totp::generate(&secret, params, clock.get()).unwrap();
    let (enabled, cost) = counted(mfa.confirm_setup(user, &code)).await;
    (enabled.unwrap(), cost)
}

fn strings(codes: &BackupCodes) -> Vec<String> {
    codes.iter().map(|c| c.as_str().to_owned()).collect()
}

async fn stored(mfa: &Service, user: &str) -> (BackupCodeStrength, u32, MfaEnrollment) {
    let record = mfa.load(user).await.unwrap();
    let FactorState::Active(active) = record.factor() else {
        panic!("{user} is not active")
    };
    let found = (
        active.backup_codes().strength(),
        active.attempts().failures(),
    );
    (found.0, found.1, record)
}

/// A well-formed code of `len` characters that starts with `code`'s locator
/// (so only its length can keep it from a hash), and is not `code`.
fn same_locator(code: &str, len: usize) -> String {
    let significant: String = code.chars().filter(|c| *c != '-').collect();
    let locator = &significant[..BackupCode::LOCATOR_LEN];
    let filler = if significant.ends_with('2') { '3' } else { '2' };
    let mut out = locator.to_owned();
    while out.len() < len {
        out.push(filler);
    }
    assert_ne!(out, significant);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_end_to_end() {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    let standard = Mfa::new(Arc::clone(&store), test_config()).with_clock(clock.clone());
    let nist = Mfa::new(Arc::clone(&store), nist_config()).with_clock(clock.clone());

    // Each preset's codes, as generated: 10 hashes per set either way.
    let (long_enabled, cost) = enroll(&nist, &clock, "long").await;
    assert_eq!(cost, 10);
    assert_eq!(long_enabled.backup_codes.len(), 10);
    let long = strings(&long_enabled.backup_codes);
    for (code, shown) in long_enabled.backup_codes.iter().zip(&long) {
        assert_eq!(code.strength(), BackupCodeStrength::NistRecovery);
        assert_eq!(shown.len(), 17, "{shown:?} is not xxxxx-xxxxx-xxxxx");
        assert_eq!(shown.matches('-').count(), 2);
        assert_eq!(&shown[5..6], "-");
        assert_eq!(&shown[11..12], "-");
    }
    let (short_enabled, cost) = enroll(&standard, &clock, "short").await;
    assert_eq!(cost, 10);
    let short = strings(&short_enabled.backup_codes);
    assert!(short.iter().all(|c| c.len() == 11 && &c[5..6] == "-"));
    assert_eq!(
        stored(&nist, "long").await.0,
        BackupCodeStrength::NistRecovery
    );
    assert_eq!(stored(&nist, "short").await.0, BackupCodeStrength::Standard);

    // The record says so only for the new preset: the default writes what it
    // always wrote.
    let long_json = stored(&nist, "long").await.2.to_json();
    assert!(long_json.contains(r#""code_len":15"#), "{long_json}");
    assert!(long_json.contains(&format!(r#""format":"{}""#, MfaEnrollment::FORMAT)));
    let short_json = stored(&nist, "short").await.2.to_json();
    assert!(!short_json.contains("code_len"), "{short_json}");
    assert_eq!(
        MfaEnrollment::from_json(&long_json).unwrap().to_json(),
        long_json
    );

    // A code of each preset verifies with one Argon2 evaluation, on either
    // route, typed with spaces, in capitals.
    let (ok, cost) = counted(nist.verify_backup_code("long", &long[0])).await;
    assert_eq!(ok.unwrap().backup_codes_remaining, 9);
    assert_eq!(cost, 1);
    let typed = long[1].replace('-', " ").to_uppercase();
    let (ok, cost) = counted(nist.verify("long", &typed)).await;
    assert_eq!(ok.unwrap().backup_codes_remaining, 8);
    assert_eq!(cost, 1);
    let (ok, cost) = counted(standard.verify("short", &short[0])).await;
    assert_eq!(ok.unwrap().backup_codes_remaining, 9);
    assert_eq!(cost, 1);

    // A code of the wrong length whose locator names an unused code: a
    // counted wrong code, refused without Argon2, on every route.
    let (_, failures, record) = stored(&nist, "long").await;
    assert_eq!(failures, 0);
    let ten = same_locator(&long[2], 10);
    assert!(!record.would_hash(nist.context(), &ten, clock.get()));
    assert!(record.would_hash(nist.context(), &same_locator(&long[2], 15), clock.get()));
    let (refused, cost) = counted(nist.verify_backup_code("long", &ten)).await;
    assert!(matches!(refused, Err(Error::InvalidCode)), "{refused:?}");
    assert_eq!(cost, 0, "a wrong-length code ran Argon2");
    let (refused, cost) = counted(nist.verify("long", &ten)).await;
    assert!(matches!(refused, Err(Error::InvalidCode)), "{refused:?}");
    assert_eq!(cost, 0, "a wrong-length code ran Argon2");
    assert_eq!(stored(&nist, "long").await.1, 2, "both refusals count");
    let fifteen = same_locator(&short[1], 15);
    let (_, _, record) = stored(&standard, "short").await;
    assert!(!record.would_hash(standard.context(), &fifteen, clock.get()));
    let (refused, cost) = counted(standard.verify("short", &fifteen)).await;
    assert!(matches!(refused, Err(Error::InvalidCode)), "{refused:?}");
    assert_eq!(cost, 0, "a wrong-length code ran Argon2");
    assert_eq!(stored(&standard, "short").await.1, 1);
    // A right-length wrong code with that locator does cost its one hash.
    let (refused, cost) = counted(nist.verify("long", &same_locator(&long[2], 15))).await;
    assert!(matches!(refused, Err(Error::InvalidCode)), "{refused:?}");
    assert_eq!(cost, 1);
    assert_eq!(stored(&nist, "long").await.1, 3);

    // The policy switches: each stored set keeps its preset and its codes.
    let (ok, cost) = counted(standard.verify("long", &long[2])).await;
    assert_eq!(ok.unwrap().backup_codes_remaining, 7);
    assert_eq!(cost, 1);
    assert_eq!(stored(&standard, "long").await.1, 0, "a success resets");
    let (ok, cost) = counted(nist.verify_backup_code("short", &short[1])).await;
    let proof = ok.unwrap().proof;
    assert_eq!(cost, 1);
    assert_eq!(stored(&nist, "short").await.0, BackupCodeStrength::Standard);
    assert_eq!(
        stored(&standard, "long").await.0,
        BackupCodeStrength::NistRecovery
    );

    // Regenerating takes the policy's preset, and the old codes stop working
    // without a hash.
    clock.advance(30);
    let (codes, cost) =
        counted(nist.regenerate_backup_codes("short", Reauth::RecentProof(&proof))).await;
    let new_long = strings(&codes.unwrap());
    assert_eq!(cost, 10);
    assert!(new_long.iter().all(|c| c.len() == 17));
    assert_eq!(
        stored(&nist, "short").await.0,
        BackupCodeStrength::NistRecovery
    );
    let (refused, cost) = counted(nist.verify("short", &short[2])).await;
    assert!(matches!(refused, Err(Error::InvalidCode)), "{refused:?}");
    assert_eq!(cost, 0);
    let (ok, cost) = counted(standard.verify("short", &new_long[0])).await;
    assert_eq!(ok.unwrap().backup_codes_remaining, 9);
    assert_eq!(cost, 1);

    let (ok, cost) = counted(standard.verify("long", &long[3])).await;
    let long_proof = ok.unwrap().proof;
    assert_eq!(cost, 1);
    let (codes, cost) =
        counted(standard.regenerate_backup_codes("long", Reauth::RecentProof(&long_proof))).await;
    let new_short = strings(&codes.unwrap());
    assert_eq!(cost, 10);
    assert!(new_short.iter().all(|c| c.len() == 11));
    assert_eq!(stored(&nist, "long").await.0, BackupCodeStrength::Standard);
    assert!(!stored(&nist, "long").await.2.to_json().contains("code_len"));
    let (refused, cost) = counted(standard.verify("long", &long[4])).await;
    assert!(matches!(refused, Err(Error::InvalidCode)), "{refused:?}");
    assert_eq!(cost, 0);

    // A long code also disables the factor (the route that takes either kind).
    let (disabled, cost) = counted(nist.disable("short", &new_long[1])).await;
    assert!(disabled.is_ok(), "{disabled:?}");
    assert_eq!(cost, 1);
}

#[test]
fn both_lengths_parse_and_nothing_else() {
    for strength in BackupCodeStrength::ALL {
        let chars: String = "abcdefghjkmnpqrstvwxyz"
            .chars()
            .cycle()
            .take(strength.code_len())
            .collect();
        let parsed = SubmittedBackupCode::parse(&chars).unwrap();
        assert_eq!(parsed.strength(), strength);
        let grouped: Vec<String> = chars
            .as_bytes()
            .chunks(5)
            .map(|g| String::from_utf8(g.to_vec()).unwrap().to_uppercase())
            .collect();
        let parsed = SubmittedBackupCode::parse(&grouped.join(" - ")).unwrap();
        assert_eq!(parsed.strength(), strength);
    }
    for len in (0..=40).filter(|n| ![10, 15].contains(n)) {
        assert!(
            SubmittedBackupCode::parse(&"a".repeat(len)).is_err(),
            "{len}"
        );
    }
    assert_eq!(BackupCodeStrength::Standard.secret_bits(), 40);
    assert_eq!(BackupCodeStrength::NistRecovery.secret_bits(), 65);
}

#[test]
fn golden_records_are_of_the_default_preset_and_unchanged() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut active = 0;
    let current = MfaEnrollment::FORMAT.replace('/', "-");
    for format in ["mfa-1", "mfa-2", "mfa-3"] {
        let Ok(entries) = std::fs::read_dir(dir.join(format)) else {
            assert_ne!(format, current, "the current format has golden files");
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("facts") || !name.ends_with(".json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let record = MfaEnrollment::from_json(&text).unwrap();
            if let FactorState::Active(a) = record.factor() {
                assert_eq!(
                    a.backup_codes().strength(),
                    BackupCodeStrength::Standard,
                    "{format}/{name}"
                );
                active += 1;
            }
            if format == current {
                assert_eq!(record.to_json(), text.trim_end(), "{format}/{name}");
            }
        }
    }
    assert!(active >= 3, "only {active} active golden records");
}
