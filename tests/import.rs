//! Importing factors from other systems (feature `import`): each source's
//! secret encoding, parameters, replay mark and backup codes, with fixtures
//! written by that source's own algorithm and encoding
//! (`mfa::testkit::legacy`), then logins with TOTP codes of an independent
//! implementation (HMAC computed here by hand) and with every old backup
//! code, each once.

use std::sync::{Arc, Mutex};

use hmac::{Hmac, KeyInit, Mac};
use mfa::event::SecurityEvent;
use mfa::import::{CodeCase, ImportedFactor};
use mfa::testkit::legacy::{devise_backup_code_hash, gitlab_backup_code_hash};
use mfa::testkit::{ManualClock, argon2_evaluations, test_config};
use mfa::totp::{Algorithm, TotpParams};
use mfa::{Error, MemoryStore, Mfa, MfaEnrollment, MfaStore, VerifiedBy};

const NOW: u64 = 1_700_000_000;

/// The tests count Argon2 evaluations, which are counted process-wide: they
/// run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// RFC 4226 HOTP with RFC 6238's time counter, written out here rather than
/// taken from the crate.
fn totp(key: &[u8], algorithm: Algorithm, digits: u32, period: u64, t0: u64, at: u64) -> String {
    let counter = ((at - t0) / period).to_be_bytes();
    let mac: Vec<u8> = match algorithm {
        Algorithm::Sha1 => {
            let mut m = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).unwrap();
            m.update(&counter);
            m.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
            m.update(&counter);
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(key).unwrap();
            m.update(&counter);
            m.finalize().into_bytes().to_vec()
        }
    };
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let value = u32::from_be_bytes(mac[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!(
        "{:0width$}",
        value % 10u32.pow(digits),
        width = digits as usize
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base32(bytes: &[u8]) -> String {
    ::base32::encode(::base32::Alphabet::Rfc4648 { padding: false }, bytes)
}

struct Harness {
    mfa: Mfa<Arc<MemoryStore>>,
    store: Arc<MemoryStore>,
    clock: ManualClock,
    events: Arc<Mutex<Vec<SecurityEvent>>>,
}

fn harness() -> Harness {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(NOW);
    let events: Arc<Mutex<Vec<SecurityEvent>>> = Arc::default();
    let sink = Arc::clone(&events);
    let mfa = Mfa::new(Arc::clone(&store), test_config())
        .with_clock(clock.clone())
        .with_event_sink(move |_: &str, e: &SecurityEvent| sink.lock().unwrap().push(e.clone()));
    Harness {
        mfa,
        store,
        clock,
        events,
    }
}

/// The TOTP side of every source: the step the old system last accepted is
/// refused, the next one logs in once, a wrong code is counted.
struct Totp {
    key: Vec<u8>,
    algorithm: Algorithm,
    digits: u32,
    period: u64,
    t0: u64,
}

impl Totp {
    fn sha1(key: &[u8]) -> Self {
        Totp {
            key: key.to_vec(),
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            t0: 0,
        }
    }
    fn at(&self, t: u64) -> String {
        totp(
            &self.key,
            self.algorithm,
            self.digits,
            self.period,
            self.t0,
            t,
        )
    }
    fn step(&self, t: u64) -> u64 {
        (t - self.t0) / self.period
    }
}

async fn logs_in_with_totp(h: &Harness, user: &str, totp: &Totp) {
    let now = h.clock.get();
    // The old system accepted the current step already: refused, not counted.
    let replayed = h.mfa.verify(user, &totp.at(now)).await;
    assert!(matches!(replayed, Err(Error::InvalidCode)), "{replayed:?}");
    h.clock.advance(totp.period);
    let later = h.clock.get();
    let verified = h.mfa.verify(user, &totp.at(later)).await.unwrap();
    let VerifiedBy::Totp(matched) = verified.by else {
        panic!("not a TOTP match")
    };
    assert_eq!(matched.step, totp.step(later));
    assert!(matches!(
        h.mfa.verify(user, &totp.at(later)).await,
        Err(Error::InvalidCode)
    ));
    let record = h.mfa.load(user).await.unwrap();
    let mfa::FactorState::Active(active) = record.factor() else {
        panic!()
    };
    assert_eq!(active.attempts().failures(), 0, "a replay is not a failure");
}

async fn each_code_works_once(h: &Harness, user: &str, codes: &[&str]) {
    for (i, code) in codes.iter().enumerate() {
        let verified = h.mfa.verify(user, code).await.unwrap();
        assert_eq!(verified.by, VerifiedBy::BackupCode);
        assert_eq!(verified.backup_codes_remaining, codes.len() - i - 1);
        let again = h.mfa.verify(user, code).await;
        assert!(matches!(again, Err(Error::InvalidCode)), "{again:?}");
        h.mfa
            .operator_unlock(user, "test", "reused code")
            .await
            .unwrap();
    }
    assert_eq!(h.mfa.status(user).await.unwrap().backup_codes_remaining, 0);
}

#[tokio::test]
async fn django_otp_hex_key_t0_step_last_t_and_static_tokens() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    let key: Vec<u8> = (1..=20).collect();
    // A non-default step, T0 and 8 digits, as a TOTPDevice may have them.
    let totp = Totp {
        key: key.clone(),
        algorithm: Algorithm::Sha1,
        digits: 8,
        period: 60,
        t0: 1_000,
    };
    let params = TotpParams {
        digits: 8,
        period: 60,
        ..TotpParams::default()
    };
    // StaticToken.random_token(): b32encode(urandom(5)).lower().
    let tokens: Vec<String> = [[1u8, 2, 3, 4, 5], [250, 9, 8, 7, 6], [0, 0, 0, 0, 7]]
        .iter()
        .map(|b| base32(b).to_lowercase())
        .collect();
    let factor = ImportedFactor::from_hex(&hex(&key).to_uppercase(), params)
        .unwrap()
        .with_t0(1_000)
        .with_last_step(totp.step(NOW))
        .with_plain_backup_codes(&tokens, CodeCase::Insensitive)
        .unwrap();
    h.mfa.import("django", factor).await.unwrap();
    let status = h.mfa.status("django").await.unwrap();
    assert!(status.mfa_enabled);
    assert_eq!(
        (status.backup_codes_remaining, status.legacy_backup_codes),
        (3, 0)
    );
    assert_eq!(
        h.events.lock().unwrap().as_slice(),
        [SecurityEvent::FactorImported {
            backup_codes: 3,
            legacy_backup_codes: 0
        }]
    );
    logs_in_with_totp(&h, "django", &totp).await;
    // Upper case, as a user might type it: django-otp's tokens are single-case.
    let typed: Vec<String> = tokens.iter().map(|t| t.to_uppercase()).collect();
    let typed: Vec<&str> = typed.iter().map(String::as_str).collect();
    each_code_works_once(&h, "django", &typed).await;
}

#[tokio::test]
async fn devise_two_factor_base32_consumed_timestep_and_bcrypt_codes() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    let key = b"devise-two-factor-secret-bytes!!";
    let totp = Totp::sha1(key);
    let pepper = "a-devise-pepper";
    // SecureRandom.hex(otp_backup_code_length / 2): lower-case hex.
    let codes = ["0f1e2d3c4b5a6978", "8899aabbccddeeff", "0011223344556677"];
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| devise_backup_code_hash(c, pepper, 4))
        .collect();
    let factor = ImportedFactor::from_base32(&base32(key), TotpParams::default())
        .unwrap()
        .with_last_step(totp.step(NOW))
        .with_bcrypt_backup_codes(&hashes, pepper)
        .unwrap();
    h.mfa.import("devise", factor).await.unwrap();
    let status = h.mfa.status("devise").await.unwrap();
    assert_eq!(
        (status.backup_codes_remaining, status.legacy_backup_codes),
        (3, 3)
    );
    logs_in_with_totp(&h, "devise", &totp).await;
    // The pepper is sealed, never stored in clear.
    let json = h
        .store
        .load("devise")
        .await
        .unwrap()
        .unwrap()
        .record
        .to_json();
    assert!(!json.contains(pepper), "{json}");
    h.events.lock().unwrap().clear();
    // Hex typed in upper case still matches: the source's codes are lower-case hex.
    let typed: Vec<String> = codes.iter().map(|c| c.to_uppercase()).collect();
    let typed: Vec<&str> = typed.iter().map(String::as_str).collect();
    each_code_works_once(&h, "devise", &typed).await;
    let events = h.events.lock().unwrap().clone();
    let legacy: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            SecurityEvent::LegacyBackupCodeUsed { legacy_remaining } => Some(*legacy_remaining),
            _ => None,
        })
        .collect();
    assert_eq!(legacy, [2, 1, 0]);
    // Without the pepper the hashes match nothing.
    let h = harness();
    let factor = ImportedFactor::from_base32(&base32(key), TotpParams::default())
        .unwrap()
        .with_bcrypt_backup_codes(&hashes, "")
        .unwrap();
    h.mfa.import("devise", factor).await.unwrap();
    assert!(matches!(
        h.mfa.verify("devise", codes[0]).await,
        Err(Error::InvalidCode)
    ));
}

#[tokio::test]
async fn gitlab_base32_and_pbkdf2_sha512_codes() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    let key = b"gitlab-otp-secret-twenty";
    let totp = Totp::sha1(key);
    // Devise.friendly_token(64): URL-safe base64 characters, not hex.
    let tokens = [
        "q3Zk-9xV_aPw7LmN2bYc4RtE6uHj8KsD0fGhJ1lOiUyTrEwQaSdFgHjKlZxCvBnM",
        "AbCdEfGh0123456789-_IjKlMnOpQrStUvWxYz-_aBcDeFgHiJkLmNoPqRsTuVwX",
    ];
    let codes = ["a1b2c3d4e5f60718", "f0e1d2c3b4a59687"];
    let hashes = [
        // One at GitLab's real cost, one cheap.
        gitlab_backup_code_hash(codes[0], tokens[0], 20_000),
        gitlab_backup_code_hash(codes[1], tokens[1], 2),
    ];
    let factor = ImportedFactor::from_base32(&base32(key), TotpParams::default())
        .unwrap()
        .with_last_step(totp.step(NOW))
        .with_pbkdf2_sha512_backup_codes(&hashes)
        .unwrap();
    h.mfa.import("gitlab", factor).await.unwrap();
    assert_eq!(h.mfa.status("gitlab").await.unwrap().legacy_backup_codes, 2);
    logs_in_with_totp(&h, "gitlab", &totp).await;
    // A wrong code is counted; legacy attempts run no Argon2.
    let before = argon2_evaluations();
    assert!(matches!(
        h.mfa.verify("gitlab", "0000aaaa1111bbbb").await,
        Err(Error::InvalidCode)
    ));
    assert_eq!(argon2_evaluations(), before);
    let record = h.mfa.load("gitlab").await.unwrap();
    assert!(record.status(h.mfa.context(), h.clock.get()).mfa_enabled);
    h.mfa
        .operator_unlock("gitlab", "test", "wrong code")
        .await
        .unwrap();
    each_code_works_once(&h, "gitlab", &codes).await;
    // Regenerating replaces the legacy hashes with the crate's own codes.
    h.clock.advance(30);
    let code = totp.at(h.clock.get());
    let proof = h.mfa.verify("gitlab", &code).await.unwrap().proof;
    let fresh = h
        .mfa
        .regenerate_backup_codes("gitlab", mfa::Reauth::RecentProof(&proof))
        .await
        .unwrap();
    let status = h.mfa.status("gitlab").await.unwrap();
    assert_eq!(
        (status.backup_codes_remaining, status.legacy_backup_codes),
        (fresh.len(), 0)
    );
}

#[tokio::test]
async fn fortify_codes_keep_their_case_and_short_secrets_are_refused() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    let key = b"a fortify secret of 160 bits!";
    let totp = Totp::sha1(key);
    // RecoveryCode::generate(): Str::random(10).'-'.Str::random(10).
    let codes = ["aB3dE5gH7j-Kl9MnOp1Qr", "ZyXwVuTsRq-PoNmLkJiHg"];
    let factor = ImportedFactor::from_base32(&base32(key), TotpParams::default())
        .unwrap()
        .with_plain_backup_codes(codes, CodeCase::Sensitive)
        .unwrap();
    h.mfa.import("fortify", factor).await.unwrap();
    // No consumed step was exported: the current step still logs in once.
    let now = h.clock.get();
    assert!(h.mfa.verify("fortify", &totp.at(now)).await.is_ok());
    // The wrong case is a wrong code, hashing at most once.
    let before = argon2_evaluations();
    let lower = codes[0].to_lowercase();
    assert!(matches!(
        h.mfa.verify("fortify", &lower).await,
        Err(Error::InvalidCode)
    ));
    assert!(argon2_evaluations() - before <= 1);
    h.mfa.operator_unlock("fortify", "t", "case").await.unwrap();
    each_code_works_once(&h, "fortify", &codes).await;

    // Fortify's default secret is 16 base32 characters: 80 bits, refused.
    let short = ImportedFactor::from_base32("JBSWY3DPEHPK3PXP", TotpParams::default());
    assert!(matches!(short, Err(Error::WeakSecret { bits: 80 })));
}

#[tokio::test]
async fn aspnet_identity_recovery_codes_and_kratos_lookup_secrets() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    let key = [7u8; 20];
    let totp = Totp::sha1(&key);
    // "XXXXX-XXXXX" over "23456789BCDFGHJKMNPQRTVWXY"; stored ';'-separated.
    let stored = "B2C3D-F4G5H;JKMNP-QRTVW;XY234-56789";
    let factor = ImportedFactor::from_base32(&base32(&key), TotpParams::default())
        .unwrap()
        .with_plain_backup_codes(stored.split(';'), CodeCase::Insensitive)
        .unwrap();
    h.mfa.import("aspnet", factor).await.unwrap();
    // Identity keeps no consumed step: the current one logs in, once.
    let now = h.clock.get();
    assert!(h.mfa.verify("aspnet", &totp.at(now)).await.is_ok());
    assert!(h.mfa.verify("aspnet", &totp.at(now)).await.is_err());
    each_code_works_once(&h, "aspnet", &["b2c3d-f4g5h", "JKMNPQRTVW", "xy234 56789"]).await;

    // Kratos: the otpauth URI of the totp credential, lookup secrets unused.
    let uri = format!(
        "otpauth://totp/Kratos:user@example.com?secret={}&issuer=Kratos&algorithm=SHA256&digits=8&period=60",
        base32(&key)
    );
    let factor = ImportedFactor::from_otpauth_uri(&uri)
        .unwrap()
        .with_plain_backup_codes(["ab12cd34", "ef56gh78"], CodeCase::Insensitive)
        .unwrap();
    h.mfa.import("kratos", factor).await.unwrap();
    let totp = Totp {
        key: key.to_vec(),
        algorithm: Algorithm::Sha256,
        digits: 8,
        period: 60,
        t0: 0,
    };
    let now = h.clock.get();
    assert!(h.mfa.verify("kratos", &totp.at(now)).await.is_ok());
    each_code_works_once(&h, "kratos", &["ab12cd34", "EF56GH78"]).await;
}

#[tokio::test]
async fn otpauth_uris_without_codes_and_sha512() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    let key = [9u8; 64];
    // Key URI Format: an escaped label, the algorithm in any case, the secret
    // unpadded (padding, which the format says to omit, is refused).
    let padded = format!(
        "otpauth://totp/Acme%3Aalice?secret={}%3D%3D",
        base32(&key[..16])
    );
    assert!(matches!(
        ImportedFactor::from_otpauth_uri(&padded),
        Err(Error::InvalidImport(_))
    ));
    let uri = format!(
        "otpauth://totp/Acme%3Aalice?secret={}&algorithm=sha512",
        base32(&key)
    );
    let factor = ImportedFactor::from_otpauth_uri(&uri).unwrap();
    h.mfa.import("alice", factor).await.unwrap();
    let status = h.mfa.status("alice").await.unwrap();
    assert!(status.mfa_enabled);
    assert_eq!(status.backup_codes_remaining, 0);
    let totp = Totp {
        algorithm: Algorithm::Sha512,
        ..Totp::sha1(&key)
    };
    assert!(h.mfa.verify("alice", &totp.at(NOW)).await.is_ok());
}

#[tokio::test]
async fn bad_factors_are_typed_errors_and_write_nothing() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    let p = TotpParams::default();
    let invalid = |r: Result<ImportedFactor, Error>| matches!(r, Err(Error::InvalidImport(_)));
    assert!(invalid(ImportedFactor::from_hex("zz", p)));
    assert!(invalid(ImportedFactor::from_hex("abc", p)));
    assert!(matches!(
        ImportedFactor::from_hex(&hex(&[1; 15]), p),
        Err(Error::WeakSecret { bits: 120 })
    ));
    assert!(ImportedFactor::from_hex(&hex(&[1; 16]), p).is_ok());
    assert!(invalid(ImportedFactor::from_hex(&hex(&[1; 65]), p)));
    assert!(invalid(ImportedFactor::from_base32("not base32!", p)));
    assert!(invalid(ImportedFactor::from_hex(
        &hex(&[1; 20]),
        TotpParams { digits: 9, ..p }
    )));
    for uri in [
        "https://example.com",
        "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=1",
        "otpauth://totp/x?issuer=nosecret",
        "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=MD5",
        "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=x",
        "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=0",
        "otpauth://totp/x?secret=%zz",
        "otpauth://totp/x?secret=%+1",
    ] {
        assert!(invalid(ImportedFactor::from_otpauth_uri(uri)), "{uri}");
    }
    let ok = || ImportedFactor::from_hex(&hex(&[3; 20]), p).unwrap();
    let codes = |list: &[&str], case| ok().with_plain_backup_codes(list.to_vec(), case);
    assert!(invalid(codes(&[""], CodeCase::Sensitive)));
    assert!(invalid(codes(&["caf\u{e9}"], CodeCase::Sensitive)));
    assert!(invalid(codes(&[&"x".repeat(65)], CodeCase::Sensitive)));
    let many: Vec<String> = (0..65).map(|i| format!("code-x{i}")).collect();
    assert!(invalid(
        ok().with_plain_backup_codes(&many, CodeCase::Sensitive)
    ));
    assert!(invalid(ok().with_bcrypt_backup_codes(["$2a$04$short"], "")));
    assert!(invalid(ok().with_bcrypt_backup_codes(
        [devise_backup_code_hash("x", "", 15)],
        ""
    )));
    assert!(invalid(
        ok().with_pbkdf2_sha512_backup_codes(["$pbkdf2-sha256$1$AA$AA"])
    ));
    assert!(invalid(ok().with_pbkdf2_sha512_backup_codes([
        gitlab_backup_code_hash("x", "salt", 1_000_001)
    ])));
    let twice = ok()
        .with_plain_backup_codes(["abcdef"], CodeCase::Sensitive)
        .unwrap()
        .with_plain_backup_codes(["bcdefg"], CodeCase::Sensitive);
    assert!(invalid(twice));

    // Plain codes that could be guessed, or never used: under 6 characters,
    // under 20 bits by their shape, or read as a TOTP code of the factor
    // (the login step would check them as one).
    for weak in ["a", "7", "ab3de", "123456", "aaaa"] {
        assert!(
            invalid(codes(&["good-code-1", weak], CodeCase::Sensitive)),
            "{weak}"
        );
    }
    let eight = ImportedFactor::from_hex(&hex(&[3; 20]), TotpParams { digits: 8, ..p }).unwrap();
    assert!(invalid(
        eight.with_plain_backup_codes(["12345678"], CodeCase::Sensitive)
    ));
    // 20 bits and more, not a TOTP code: accepted (8 digits beside a
    // 6-digit app, 5 letters of one case and a digit).
    for fine in ["12345678", "abcde1", "a1-b2-c3-d4"] {
        assert!(codes(&[fine], CodeCase::Insensitive).is_ok(), "{fine}");
    }
    // A legacy set whose check of a wrong code would cost more than ten
    // native Argon2 attempts: bcrypt at cost 12 (Devise's default), or
    // three hashes at cost 10.
    assert_eq!(mfa::import::MAX_LEGACY_WORK_ATTEMPTS, 10);
    let devise = |cost, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| devise_backup_code_hash(&format!("code{i}"), "", cost))
            .collect()
    };
    assert!(invalid(ok().with_bcrypt_backup_codes(devise(12, 1), "")));
    assert!(invalid(ok().with_bcrypt_backup_codes(devise(10, 3), "")));
    assert!(ok().with_bcrypt_backup_codes(devise(10, 2), "").is_ok());
    assert!(ok().with_bcrypt_backup_codes(devise(4, 64), "").is_ok());
    assert!(invalid(ok().with_bcrypt_backup_codes(devise(4, 65), "")));
    let gitlab = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| gitlab_backup_code_hash(&format!("code{i}"), "salt", 20_000))
            .collect()
    };
    assert!(ok().with_pbkdf2_sha512_backup_codes(gitlab(16)).is_ok());
    assert!(invalid(ok().with_pbkdf2_sha512_backup_codes(gitlab(17))));

    // T0 or a last step more than one time step ahead: the factor would
    // accept no code until then. Refused when sealed, nothing written.
    let ctx = test_config();
    let seal = |f: ImportedFactor| f.seal(&ctx, "owner", NOW, &mut rand::rng());
    let step = NOW / 30;
    assert!(seal(ok().with_t0(NOW + 30)).is_ok());
    assert!(matches!(
        seal(ok().with_t0(NOW + 31)),
        Err(Error::InvalidImport(_))
    ));
    assert!(seal(ok().with_last_step(step + 1)).is_ok());
    assert!(matches!(
        seal(ok().with_last_step(step + 2)),
        Err(Error::InvalidImport(_))
    ));
    assert!(matches!(
        h.mfa.import("future", ok().with_last_step(u64::MAX)).await,
        Err(Error::InvalidImport(_))
    ));
    assert!(h.store.load("future").await.unwrap().is_none());

    // Equal codes once normalized: refused when sealed, nothing written.
    let dup = codes(&["abcdef", "ABCDEF"], CodeCase::Insensitive).unwrap();
    assert!(matches!(
        h.mfa.import("dup", dup).await,
        Err(Error::InvalidImport(_))
    ));
    assert!(h.store.load("dup").await.unwrap().is_none());
    // Codes that differ only in case are two codes where case matters.
    let two = codes(&["abcdef", "ABCDEF"], CodeCase::Sensitive).unwrap();
    h.mfa.import("two", two).await.unwrap();
    assert_eq!(h.mfa.status("two").await.unwrap().backup_codes_remaining, 2);

    // An active factor is never replaced.
    let before = h.store.load("two").await.unwrap().unwrap();
    assert!(matches!(
        h.mfa.import("two", ok()).await,
        Err(Error::MfaAlreadyEnabled)
    ));
    assert_eq!(
        h.store.load("two").await.unwrap().unwrap().version,
        before.version
    );

    // Run again on the same input, an importer can tell "this user holds
    // exactly that factor already" (done) from "another factor is on"
    // (refused): the same secret, parameters and T0.
    let record = h.mfa.load("two").await.unwrap();
    assert!(
        record
            .holds_imported(h.mfa.context(), "two", &ok())
            .unwrap()
    );
    let other = ImportedFactor::from_hex(&hex(&[4; 20]), p).unwrap();
    assert!(
        !record
            .holds_imported(h.mfa.context(), "two", &other)
            .unwrap()
    );
    assert!(
        !record
            .holds_imported(h.mfa.context(), "two", &ok().with_t0(30))
            .unwrap()
    );
    let eight = ImportedFactor::from_hex(&hex(&[3; 20]), TotpParams { digits: 8, ..p }).unwrap();
    assert!(
        !record
            .holds_imported(h.mfa.context(), "two", &eight)
            .unwrap()
    );
    assert!(
        !MfaEnrollment::default()
            .holds_imported(h.mfa.context(), "two", &ok())
            .unwrap()
    );

    // A sealed factor applies to its own user only.
    let sealed = ok().seal(&ctx, "owner", NOW, &mut rand::rng()).unwrap();
    let other = MfaEnrollment::default().import(&sealed, "someone-else", NOW);
    assert!(!other.changed && matches!(other.outcome, Err(Error::InvalidInput(_))));
    let own = MfaEnrollment::default().import(&sealed, "owner", NOW);
    assert!(own.changed && own.outcome.is_ok());
    assert_eq!(own.state.epoch().get(), 1);
    let again = own.state.import(&sealed, "owner", NOW);
    assert!(!again.changed && matches!(again.outcome, Err(Error::MfaAlreadyEnabled)));
}

#[tokio::test]
async fn an_import_replaces_a_pending_setup_and_moves_the_epoch() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    h.mfa.begin_setup("p", "p@example.com").await.unwrap();
    let factor = ImportedFactor::from_hex(&hex(&[5; 20]), TotpParams::default()).unwrap();
    h.mfa.import("p", factor).await.unwrap();
    let record = h.mfa.load("p").await.unwrap();
    assert!(record.is_active());
    assert_eq!(record.epoch().get(), 1);
    // The record round-trips through the format, imported fields included.
    assert_eq!(MfaEnrollment::from_json(&record.to_json()).unwrap(), record);
}

#[tokio::test]
async fn a_plain_code_attempt_costs_at_most_one_argon2_evaluation() {
    let _serial = SERIAL.lock().await;
    let h = harness();
    let codes: Vec<String> = (0..64).map(|i| format!("plain-code-{i:02}")).collect();
    let factor = ImportedFactor::from_hex(&hex(&[6; 20]), TotpParams::default())
        .unwrap()
        .with_plain_backup_codes(&codes, CodeCase::Sensitive)
        .unwrap();
    let before = argon2_evaluations();
    h.mfa.import("many", factor).await.unwrap();
    assert_eq!(argon2_evaluations() - before, 64, "one evaluation per code");
    for guess in 0..40 {
        let before = argon2_evaluations();
        let _ = h.mfa.verify("many", &format!("guess-{guess}")).await;
        assert!(argon2_evaluations() - before <= 1);
        h.mfa.operator_unlock("many", "t", "guess").await.unwrap();
    }
    let before = argon2_evaluations();
    assert!(h.mfa.verify("many", &codes[63]).await.is_ok());
    assert_eq!(argon2_evaluations() - before, 1);
}

#[tokio::test]
async fn an_import_hashes_its_codes_once_through_conflicts_and_not_over_an_active_factor() {
    let _serial = SERIAL.lock().await;
    use mfa::testkit::{FaultyStore, SaveFault};
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let mfa = Mfa::new(Arc::clone(&store), test_config()).with_clock(ManualClock::new(NOW));
    let factor = || {
        ImportedFactor::from_hex(&hex(&[8; 20]), TotpParams::default())
            .unwrap()
            .with_plain_backup_codes(["one-code", "two-code", "three-code"], CodeCase::Sensitive)
            .unwrap()
    };
    store.plan_saves([Some(SaveFault::Conflict); 3]);
    let before = argon2_evaluations();
    mfa.import("conflicted", factor()).await.unwrap();
    assert_eq!(argon2_evaluations() - before, 3, "hashed again on a retry");
    assert_eq!(store.pending_faults(), 0);
    let before = argon2_evaluations();
    assert!(matches!(
        mfa.import("conflicted", factor()).await,
        Err(Error::MfaAlreadyEnabled)
    ));
    assert_eq!(argon2_evaluations(), before, "hashed over an active factor");
}
