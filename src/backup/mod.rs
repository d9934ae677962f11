//! Single-use backup codes: generation, normalization, Argon2id hashing and lookup.
//!
//! # Shape and entropy
//!
//! A code is made of Crockford's base32 alphabet in lower case (`0-9a-z`
//! without `i`, `l`, `o`, `u`), in groups of five joined by dashes. Its length
//! is a preset of the policy, [`BackupCodeStrength`]: 10 characters
//! `xxxxx-xxxxx` by default (for example `a1b2c-d3e4f`), or 15 characters
//! `xxxxx-xxxxx-xxxxx` for recovery codes of NIST SP 800-63B-4. Input is
//! case-insensitive, ignores spaces and dashes, and reads `o` as `0` and
//! `i`/`l` as `1`, so look-alikes cannot cause a failure.
//!
//! Each character carries 5 bits. The first two characters are a
//! **locator**: not secret, stored in clear, unique within the set, used to
//! pick the one stored hash an attempt is checked against. The secret part is
//! the rest: **40 bits** (8 characters, about 1.1 × 10¹² values) by default,
//! **65 bits** (13 characters, about 3.7 × 10¹⁹ values) with
//! [`BackupCodeStrength::NistRecovery`]. An online guesser without the
//! database must also hit a locator (10 in 1024 with 10 codes), and the
//! lockout caps them at 100 consecutive failures; a thief with the database
//! but without the pepper cannot test guesses offline at all; with both, each
//! guess of each code costs one Argon2id evaluation (2⁴⁰, or 2⁶⁵, of them per
//! code).
//!
//! # Storage
//!
//! Each code is hashed with Argon2id (OWASP's m = 19456 KiB, t = 2, p = 1 by
//! default), a per-code random 128-bit salt, and the keyring's pepper as
//! Argon2's secret input. An attempt costs at most one Argon2 evaluation
//! whatever the number of codes and whatever the preset, and none when its
//! locator matches no unused code or its length is not the set's.
//!
//! # Imported codes
//!
//! A set imported from another system (see `mfa::import`, feature `import`)
//! holds either plain codes of that system, hashed with the scheme above
//! under a keyed locator, or the old system's own hashes (bcrypt, PBKDF2),
//! checked with their scheme until the user regenerates; the first kind
//! still costs at most one Argon2 evaluation per attempt, the second one
//! slow hash per unused legacy code. Any feature set reads and checks both.

mod check;
mod code;
mod foreign;
mod hashing;
mod memory;
mod reissue;
mod set;

pub use code::{BackupCode, BackupCodeStrength, BackupCodes, SubmittedBackupCode};
pub use hashing::Argon2Params;
pub use set::StoredBackupCodes;

pub(crate) use check::Found;
pub(crate) use reissue::Reissue;
pub(crate) use set::{Attempt, FreshCodes, Lookup};

pub(crate) use foreign::{ForeignCode, ImportedCodes};
#[cfg(feature = "import")]
pub(crate) use foreign::{
    LEGACY_PEPPER, LegacyHash, MAX_FOREIGN_LEN, MAX_LEGACY_WORK, Pbkdf2Hash, bcrypt_cost,
    bcrypt_work, keyed_locator, locator_salt,
};

#[cfg(feature = "testkit")]
pub(crate) use foreign::legacy_evaluations;
#[cfg(feature = "testkit")]
pub(crate) use memory::evaluations;

use code::{canonical, display_form, random_code};
use hashing::hash_code;
use set::StoredCode;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const LOCATOR_LEN: usize = 2;
const MAX_CODES: usize = 64;
/// Characters shown between two dashes.
const GROUP_LEN: usize = 5;
/// Significant characters of the longest preset.
const MAX_LEN: usize = BackupCodeStrength::NistRecovery.code_len();
/// Characters of the longest preset as shown, dashes included.
const MAX_SHOWN_LEN: usize = BackupCodeStrength::NistRecovery.shown_len();

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CodeFormatError;
    use crate::keys::MasterKey;
    use crate::keys::{KeyId, Keyring};

    fn att(code: &SubmittedBackupCode) -> Attempt {
        Attempt::Native(SubmittedBackupCode {
            chars: code.chars,
            strength: code.strength,
        })
    }

    fn keyring() -> Keyring {
        Keyring::new(KeyId(1), MasterKey::from_bytes([1; 32]))
    }

    fn weak() -> Argon2Params {
        Argon2Params::insecure_for_tests(64, 1, 1).unwrap()
    }

    fn generate(
        ring: &Keyring,
        strength: BackupCodeStrength,
        count: usize,
    ) -> (StoredBackupCodes, BackupCodes) {
        StoredBackupCodes::generate(ring, weak(), strength, count, 5, &mut rand::rng()).unwrap()
    }

    /// Redeems `input`, which must be an unused code of `set`, and checks
    /// that it is used up.
    fn redeem_once(set: &mut StoredBackupCodes, ring: &Keyring, input: &SubmittedBackupCode) {
        let Lookup::Candidate(i) = set.lookup(&att(input), ring).unwrap() else {
            panic!("no candidate")
        };
        assert!(set.verify(i, &att(input), ring).unwrap());
        set.mark_used(i, 6);
        assert_eq!(set.lookup(&att(input), ring).unwrap(), Lookup::Used);
    }

    #[test]
    fn generate_and_verify() {
        let ring = keyring();
        let (mut set, codes) = generate(&ring, BackupCodeStrength::Standard, 10);
        assert_eq!(codes.len(), 10);
        assert_eq!(set.remaining(), 10);
        set.validate().unwrap();
        for code in &codes {
            let text = code.as_str();
            assert_eq!(text.len(), 11);
            assert_eq!(&text[5..6], "-");
            let input = SubmittedBackupCode::parse(&text.to_uppercase()).unwrap();
            redeem_once(&mut set, &ring, &input);
        }
        assert_eq!(set.remaining(), 0);
    }

    #[test]
    fn wrong_secret_part_fails_and_pepper_matters() {
        let ring = keyring();
        let (set, codes) = generate(&ring, BackupCodeStrength::Standard, 10);
        let text = codes.iter().next().unwrap().as_str().to_owned();
        let last = text.chars().last().unwrap();
        let other = if last == '2' { '3' } else { '2' };
        let wrong = format!("{}{}", &text[..10], other);
        let input = SubmittedBackupCode::parse(&wrong).unwrap();
        let Lookup::Candidate(i) = set.lookup(&att(&input), &ring).unwrap() else {
            panic!()
        };
        assert!(!set.verify(i, &att(&input), &ring).unwrap());
        let right = SubmittedBackupCode::parse(&text).unwrap();
        let other_pepper = Keyring::new(KeyId(1), MasterKey::from_bytes([2; 32]));
        assert!(!set.verify(i, &att(&right), &other_pepper).unwrap());
    }

    #[test]
    fn look_alikes_and_separators() {
        let a = SubmittedBackupCode::parse("o1i2l-3456a").unwrap();
        let b = SubmittedBackupCode::parse("0 1 1 2 1 3 4 5 6 A").unwrap();
        assert_eq!(a.chars, b.chars);
        assert_eq!(
            SubmittedBackupCode::parse("--").unwrap_err(),
            CodeFormatError::Empty
        );
        assert_eq!(
            SubmittedBackupCode::parse("abcde-fghjkm").unwrap_err(),
            CodeFormatError::WrongLength {
                expected: 10,
                found: 11
            }
        );
        assert_eq!(
            SubmittedBackupCode::parse("abcde-fghjé").unwrap_err(),
            CodeFormatError::InvalidCharacter
        );
    }

    #[test]
    fn params_floor() {
        assert!(Argon2Params::new(19_456, 2, 1).is_ok());
        assert!(Argon2Params::new(47_104, 1, 1).is_ok());
        assert!(Argon2Params::new(7_168, 5, 1).is_ok());
        assert!(Argon2Params::new(19_456, 1, 1).is_err());
        assert!(Argon2Params::new(4_096, 10, 1).is_err());
        assert!(Argon2Params::insecure_for_tests(0, 0, 0).is_err());
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let (set, _) = generate(&keyring(), BackupCodeStrength::Standard, 3);
        let json = serde_json::to_string(&set).unwrap();
        let back: StoredBackupCodes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        let bad = json.replacen("\"locator\":\"", "\"locator\":\"u", 1);
        assert!(serde_json::from_str::<StoredBackupCodes>(&bad).is_err());
        assert!(!format!("{set:?}").contains("salt"));
    }

    #[test]
    fn presets_shapes_and_entropy() {
        assert_eq!(BackupCodeStrength::default(), BackupCodeStrength::Standard);
        assert_eq!(BackupCode::LEN, BackupCodeStrength::Standard.code_len());
        let figures: Vec<_> = BackupCodeStrength::ALL
            .iter()
            .map(|s| (s.code_len(), s.shown_len(), s.secret_bits()))
            .collect();
        assert_eq!(figures, [(10, 11, 40), (15, 17, 65)]);
        assert!(BackupCodeStrength::NistRecovery.secret_bits() >= 64);
        assert_eq!(MAX_LEN, 15);
        assert_eq!(MAX_SHOWN_LEN, 17);
        for len in 0..40 {
            assert_eq!(
                BackupCodeStrength::from_code_len(len).map(BackupCodeStrength::code_len),
                [10, 15].contains(&len).then_some(len)
            );
        }
    }

    #[test]
    fn nist_preset_generates_and_verifies_long_codes() {
        let ring = keyring();
        let (mut set, codes) = generate(&ring, BackupCodeStrength::NistRecovery, 10);
        assert_eq!(set.strength(), BackupCodeStrength::NistRecovery);
        set.validate().unwrap();
        for code in &codes {
            assert_eq!(code.strength(), BackupCodeStrength::NistRecovery);
            let text = code.as_str();
            assert_eq!(text.len(), 17);
            assert_eq!((&text[5..6], &text[11..12]), ("-", "-"));
            assert!(
                text.bytes()
                    .enumerate()
                    .all(|(i, b)| (i % 6 == 5) == (b == b'-'))
            );
            // Spaces instead of dashes, upper case, look-alikes.
            let typed = text.replace('-', " ").to_uppercase().replace('0', "O");
            let input = SubmittedBackupCode::parse(&typed).unwrap();
            assert_eq!(input.strength(), BackupCodeStrength::NistRecovery);
            redeem_once(&mut set, &ring, &input);
        }
        assert_eq!(set.remaining(), 0);
    }

    #[test]
    fn a_code_of_the_other_length_matches_nothing_and_hashes_nothing() {
        let ring = keyring();
        let (short_set, short_codes) = generate(&ring, BackupCodeStrength::Standard, 10);
        let (long_set, long_codes) = generate(&ring, BackupCodeStrength::NistRecovery, 10);
        let short = short_codes.iter().next().unwrap().as_str().to_owned();
        let long = long_codes.iter().next().unwrap().as_str().to_owned();
        // A long code that begins with a short code (same locator) and a
        // short code cut from a long one: neither reaches a hash.
        let extended = SubmittedBackupCode::parse(&format!("{short}-23456")).unwrap();
        let cut = SubmittedBackupCode::parse(&long[..11]).unwrap();
        assert_eq!(
            short_set.lookup(&att(&extended), &ring).unwrap(),
            Lookup::NoMatch
        );
        assert_eq!(long_set.lookup(&att(&cut), &ring).unwrap(), Lookup::NoMatch);
        assert_eq!(extended.locator(), short_set.codes[0].locator);
        assert_eq!(cut.locator(), long_set.codes[0].locator);
        // Even at a candidate's index, a code of the other length is no match.
        assert!(!short_set.verify(0, &att(&extended), &ring).unwrap());
        assert!(!long_set.verify(0, &att(&cut), &ring).unwrap());
        // Each set still takes its own codes.
        let own = SubmittedBackupCode::parse(&short).unwrap();
        assert_eq!(
            short_set.lookup(&att(&own), &ring).unwrap(),
            Lookup::Candidate(0)
        );
        let own = SubmittedBackupCode::parse(&long).unwrap();
        assert_eq!(
            long_set.lookup(&att(&own), &ring).unwrap(),
            Lookup::Candidate(0)
        );
    }

    #[test]
    fn parse_accepts_both_lengths_only() {
        let long = SubmittedBackupCode::parse("o1i2l-3456a-bcdef").unwrap();
        let spaced = SubmittedBackupCode::parse(" 0 1 1 2 1 3 4 5 6 A B C D E F ").unwrap();
        assert_eq!(long.significant(), b"011213456abcdef");
        assert_eq!(long.significant(), spaced.significant());
        let short = SubmittedBackupCode::parse("o1i2l-3456a").unwrap();
        assert_eq!(short.significant(), b"011213456a");
        assert_eq!(short.strength(), BackupCodeStrength::Standard);
        let wrong = |text: &str| SubmittedBackupCode::parse(text).unwrap_err();
        for (text, expected, found) in [
            ("abcde-fghj", 10, 9),
            ("abcde-fghjk-m", 10, 11),
            ("abcde-fghjk-mn", 10, 12),
            ("abcde-fghjk-mnp", 15, 13),
            ("abcde-fghjk-mnpq", 15, 14),
            ("abcde-fghjk-mnpqr-s", 15, 16),
            ("abcde-fghjk-mnpqr-stvwx", 15, 20),
            ("a", 10, 1),
        ] {
            assert_eq!(
                wrong(text),
                CodeFormatError::WrongLength { expected, found },
                "{text}"
            );
        }
        let huge = "a".repeat(100_000);
        assert_eq!(
            wrong(&huge),
            CodeFormatError::WrongLength {
                expected: 15,
                found: 100_000
            }
        );
        assert_eq!(
            wrong("abcde-fghjk-mnpqu"),
            CodeFormatError::InvalidCharacter
        );
    }

    #[test]
    fn the_preset_is_stored_only_when_not_the_default() {
        let ring = keyring();
        let (short, _) = generate(&ring, BackupCodeStrength::Standard, 2);
        let json = serde_json::to_string(&short).unwrap();
        assert!(!json.contains("code_len"), "{json}");
        let (long, _) = generate(&ring, BackupCodeStrength::NistRecovery, 2);
        let json = serde_json::to_string(&long).unwrap();
        assert!(json.contains(r#""code_len":15,"#), "{json}");
        let back: StoredBackupCodes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, long);
        assert_eq!(back.strength(), BackupCodeStrength::NistRecovery);
        // A set without the field is a set of the default preset.
        let old = serde_json::to_string(&short).unwrap();
        let back: StoredBackupCodes = serde_json::from_str(&old).unwrap();
        assert_eq!(back.strength(), BackupCodeStrength::Standard);
        // An explicit 10 is understood too; unknown lengths are refused.
        let explicit = json.replace(r#""code_len":15"#, r#""code_len":10"#);
        let back: StoredBackupCodes = serde_json::from_str(&explicit).unwrap();
        assert_eq!(back.strength(), BackupCodeStrength::Standard);
        for bad in ["0", "11", "16", "-1", "\"15\"", "null", "1e99"] {
            let text = json.replace(r#""code_len":15"#, &format!(r#""code_len":{bad}"#));
            assert!(
                serde_json::from_str::<StoredBackupCodes>(&text).is_err(),
                "{bad}"
            );
        }
        assert!(!format!("{long:?}").contains("salt"));
    }
}
