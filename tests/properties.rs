//! Property tests: normalization, envelopes and transitions.

use mfa::testkit::strategies::{code_input, seeded_rng, totp_params};
use mfa::testkit::{test_config, test_keyring};
use mfa::{
    Error, MfaEnrollment,
    backup::SubmittedBackupCode,
    keys::Envelope,
    totp::{self, TotpCode, TotpSecret},
};
use proptest::prelude::*;
use rand::SeedableRng;

const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// Inserts white space between the characters of `code` according to `gaps`.
fn spaced(code: &str, gaps: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in code.chars().enumerate() {
        match gaps.get(i).copied().unwrap_or(0) % 4 {
            1 => out.push(' '),
            2 => out.push('\t'),
            _ => {}
        }
        out.push(c);
    }
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn totp_code_ignores_white_space_only(digits in 6u8..=8, n in any::<u64>(), gaps in prop::collection::vec(any::<u8>(), 9)) {
        let code = format!("{:0width$}", n % 10u64.pow(u32::from(digits)), width = usize::from(digits));
        let parsed = TotpCode::parse(&spaced(&code, &gaps), digits).unwrap();
        prop_assert_eq!(parsed.as_str(), code.as_str());
    }

    #[test]
    fn totp_code_accepts_exactly_ascii_digits(input in "\\PC{0,12}", digits in 6u8..=8) {
        let significant: Vec<char> = input.chars().filter(|c| !c.is_whitespace()).collect();
        let valid = significant.len() == usize::from(digits) && significant.iter().all(char::is_ascii_digit);
        prop_assert_eq!(TotpCode::parse(&input, digits).is_ok(), valid);
    }

    #[test]
    fn backup_code_input_is_case_and_separator_insensitive(chars in "[0-9a-hjkmnp-tv-z]{10}", gaps in prop::collection::vec(any::<u8>(), 11), upper in any::<bool>()) {
        let with_dash = format!("{}-{}", &chars[..5], &chars[5..]);
        let variant = if upper { with_dash.to_uppercase() } else { with_dash.clone() };
        let a = SubmittedBackupCode::parse(&spaced(&variant, &gaps));
        prop_assert!(a.is_ok());
        prop_assert!(SubmittedBackupCode::parse(&chars).is_ok());
    }

    #[test]
    fn parsers_never_panic(input in code_input(), digits in any::<u8>()) {
        let _ = TotpCode::parse(&input, digits);
        let _ = SubmittedBackupCode::parse(&input);
        let _ = TotpSecret::from_base32(&input);
        let _ = mfa::MasterKey::from_base64(&input);
        let _ = Envelope::from_base64(&input);
        let _ = MfaEnrollment::from_json(&input);
        // Imports: every secret encoding, and plain codes of any text.
        let params = mfa::totp::TotpParams::default();
        let _ = mfa::import::ImportedFactor::from_hex(&input, params);
        let _ = mfa::import::ImportedFactor::from_base32(&input, params);
        let _ = mfa::import::ImportedFactor::from_otpauth_uri(&input);
        let _ = mfa::import::ImportedFactor::from_otpauth_uri(&format!("otpauth://totp/x?{input}"));
        let _ = mfa::import::ImportedFactor::from_otpauth_uri(&format!("otpauth://tot{input}"));
        let factor = || mfa::import::ImportedFactor::from_hex("00112233445566778899aabbccddeeff", params).unwrap();
        let _ = factor().with_plain_backup_codes([input.as_str()], mfa::import::CodeCase::Insensitive);
        let _ = factor().with_bcrypt_backup_codes([input.as_str()], &input);
        let _ = factor().with_pbkdf2_sha512_backup_codes([input.as_str()]);
    }

    #[test]
    fn envelope_round_trips_and_any_flip_fails(plain in prop::collection::vec(any::<u8>(), 0..128), user in "\\PC{0,32}", flip in any::<usize>(), bit in 0u8..8, mut rng in seeded_rng()) {
        let keyring = test_keyring();
        let sealed = Envelope::seal(&keyring, "prop", &user, &plain, &mut rng).unwrap();
        prop_assert_eq!(&**sealed.open(&keyring, "prop", &user).unwrap(), plain.as_slice());
        let back = Envelope::from_base64(&sealed.to_base64()).unwrap();
        prop_assert_eq!(&back, &sealed);
        let mut bytes = sealed.to_bytes();
        let i = flip % bytes.len();
        bytes[i] ^= 1 << bit;
        match Envelope::from_bytes(&bytes) {
            Ok(tampered) => prop_assert!(tampered.open(&keyring, "prop", &user).is_err()),
            Err(e) => prop_assert!(matches!(e, Error::CorruptRecord(_))),
        }
        let other_user = format!("{user}x");
        prop_assert!(sealed.open(&keyring, "prop", &other_user).is_err());
    }

    #[test]
    fn envelope_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(envelope) = Envelope::from_bytes(&bytes) {
            prop_assert!(envelope.open(&test_keyring(), "prop", "u").is_err());
        }
    }

    #[test]
    fn totp_check_accepts_its_own_codes(params in totp_params(), now in 0u64..4_000_000_000, key in prop::collection::vec(any::<u8>(), 16..=64)) {
        let secret = TotpSecret::from_bytes(&key).unwrap();
        let code = mfa::totp::generate(&secret, params, now).unwrap();
        let parsed = TotpCode::parse(&code, params.digits).unwrap();
        let step = now / params.period;
        match totp::check(&secret, params, 1, &parsed, now, None).unwrap() {
            mfa::totp::TotpCheck::Accepted(m) => prop_assert!(m.step.abs_diff(step) <= 1),
            other => prop_assert!(false, "own code refused: {other:?}"),
        }
        prop_assert!(!matches!(totp::check(&secret, params, 1, &parsed, now, Some(step + 1)).unwrap(), mfa::totp::TotpCheck::Accepted(_)));
    }
}

proptest! {
    #![proptest_config(config())]

    /// The crate's HOTP (HMAC keyed once) agrees with `totp-rs`'s `check` on
    /// codes from anywhere near the window, for every algorithm and length.
    #[test]
    fn totp_check_agrees_with_totp_rs(params in totp_params(), now in 1_000u64..4_000_000_000, offset in -3i64..=3, skew in 0u8..=2, key in prop::collection::vec(any::<u8>(), 16..=64)) {
        let secret = TotpSecret::from_bytes(&key).unwrap();
        let reference = totp_rs::Builder::new()
            .with_algorithm(match params.algorithm {
                mfa::totp::Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
                mfa::totp::Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
                _ => totp_rs::Algorithm::SHA512,
            })
            .with_digits(params.digits)
            .with_step_duration(params.period)
            .with_skew(u16::from(skew))
            .with_secret(key.clone())
            .build()
            .unwrap();
        let at = now.saturating_add_signed(offset * params.period as i64);
        let code = reference.generate(at).to_string();
        let parsed = TotpCode::parse(&code, params.digits).unwrap();
        let ours = match totp::check(&secret, params, skew, &parsed, now, None).unwrap() {
            mfa::totp::TotpCheck::Accepted(m) => Some(m.step),
            _ => None,
        };
        prop_assert_eq!(ours, reference.check(&code, now));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any input to any verification leaves the record consistent: a change
    /// is saved only with an outcome that explains it, and a malformed code
    /// changes nothing.
    #[test]
    fn transitions_on_hostile_input_are_consistent(input in code_input(), seed in any::<u64>(), now_offset in 0u64..100_000) {
        let config = test_config();
        let record = mfa::testkit::conformance::sample_records("prop-user").swap_remove(2);
        let now = 1_700_000_000 + now_offset;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let before = record.clone();
        let t = record.verify(&config, "prop-user", &input, now, &mut rng);
        match &t.outcome {
            Ok(_) => prop_assert!(t.changed),
            Err(Error::MalformedCode(_)) | Err(Error::LockedOut { .. }) => {
                prop_assert!(!t.changed);
                prop_assert_eq!(&t.state, &before);
            }
            Err(Error::InvalidCode) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
        prop_assert!(t.state.is_active());
    }
}

/// Imported records (plain codes, and legacy bcrypt hashes at bcrypt's
/// cheapest cost), built once for the property below.
fn imported_records() -> &'static [MfaEnrollment; 2] {
    use mfa::import::{CodeCase, ImportedFactor};
    static RECORDS: std::sync::OnceLock<[MfaEnrollment; 2]> = std::sync::OnceLock::new();
    RECORDS.get_or_init(|| {
        let config = test_config();
        let factor = || {
            ImportedFactor::from_hex(
                "3132333435363738393031323334353637383930",
                totp::TotpParams::default(),
            )
            .unwrap()
        };
        let hashes = [mfa::testkit::legacy::devise_backup_code_hash(
            "0a1b2c3d", "p", 4,
        )];
        let import = |f: ImportedFactor| {
            let sealed = f
                .seal(&config, "u", 1_700_000_000, &mut rand::rng())
                .unwrap();
            MfaEnrollment::default()
                .import(&sealed, "u", 1_700_000_000)
                .state
        };
        [
            import(
                factor()
                    .with_plain_backup_codes(["Ab-12 cd", "efgh5678"], CodeCase::Sensitive)
                    .unwrap(),
            ),
            import(factor().with_bcrypt_backup_codes(hashes, "p").unwrap()),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any input against an imported set is a typed answer: a malformed code
    /// changes nothing; anything else is refused and counted, or accepted
    /// once; the record still serializes and loads.
    #[test]
    fn imported_sets_answer_any_input(input in code_input(), which in 0usize..2) {
        let config = test_config();
        let record = imported_records()[which].clone();
        let t = record.verify(&config, "u", &input, 1_700_000_000, &mut rand::rng());
        match &t.outcome {
            Err(Error::MalformedCode(_)) => prop_assert!(!t.changed),
            // A wrong code is counted; a TOTP replay or a used code is not.
            Err(Error::InvalidCode) => {}
            Ok(_) => prop_assert!(t.changed),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
        prop_assert_eq!(MfaEnrollment::from_json(&t.state.to_json()).unwrap(), t.state);
    }
}
