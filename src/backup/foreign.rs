//! Backup codes imported from other systems.
//!
//! Two kinds, never mixed in one set:
//!
//! - **Plain codes** (django-otp static tokens, Laravel Fortify, ASP.NET Core
//!   Identity, Ory Kratos lookup secrets, a list beside an otpauth URI) are
//!   hashed at import with the crate's own scheme (Argon2id, a salt per code,
//!   the keyring's pepper). Their shapes differ from the crate's codes and
//!   their first characters are secret, so the locator cannot be read from
//!   the code in clear: it is a **keyed locator**, two characters of the
//!   crate's alphabet taken from HMAC-SHA-256 under the pepper of a per-set
//!   random salt and the normalized code. Without the pepper it says nothing
//!   about the code; with it, it filters 10 bits as the crate's own clear
//!   locator does. Import draws the salt again until the locators of the set
//!   are unique, so an attempt still costs at most one Argon2 evaluation.
//! - **Legacy hashes** (devise-two-factor: bcrypt of the code followed by a
//!   pepper; GitLab: PBKDF2-SHA-512 in its `$pbkdf2-sha512$` encoding) are
//!   kept as they are and checked with their own scheme until the user
//!   regenerates. They have no locator: a failed attempt costs one slow hash
//!   per unused legacy code, run on the same bounded hashing pool as Argon2.
//!
//! Input for an imported set is normalized as its source compared it:
//! white space and dashes are dropped (no source puts either inside a code's
//! secret characters), and ASCII letters are folded to lower case only when
//! the source's codes are single-case (django-otp, ASP.NET Core Identity,
//! Kratos, the hex codes of devise-two-factor and GitLab); Fortify's
//! mixed-case codes, and plain lists of unknown origin, keep their case.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::ALPHABET;
use crate::error::{CodeFormatError, Error, Result};
use crate::keys::{Envelope, KeyId, Keyring};

/// The most significant characters an imported code may have.
pub(crate) const MAX_FOREIGN_LEN: usize = 64;
/// The purpose label of a sealed devise-two-factor pepper.
pub(crate) const LEGACY_PEPPER: &str = "legacy-backup-code-pepper";
/// The highest bcrypt cost accepted at import (Devise's default is 12).
pub(crate) const MAX_BCRYPT_COST: u32 = 14;
/// The most PBKDF2 iterations accepted at import (GitLab uses 20 000).
pub(crate) const MAX_PBKDF2_ROUNDS: u32 = 1_000_000;
const LOCATOR_SALT_LEN: usize = 16;
const LOCATOR_LABEL: &[u8] = b"mfa/v1/imported-code-locator";

/// How an imported set's codes are stored and located. Serialized inside
/// the set as `"imported": {"kind": …}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum ImportedCodes {
    /// Plain codes hashed with Argon2id at import, in the set's `codes`,
    /// each under its keyed locator.
    Plain {
        #[serde(with = "crate::encoding::base64_array")]
        locator_salt: [u8; LOCATOR_SALT_LEN],
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        case_sensitive: bool,
    },
    /// devise-two-factor: bcrypt of the code followed by Devise's pepper
    /// (sealed for the user, absent when the application had none).
    Bcrypt {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pepper: Option<Envelope>,
        hashes: Vec<LegacyHash>,
    },
    /// GitLab: `$pbkdf2-sha512$rounds$salt$checksum`, salt and checksum in
    /// passlib's adapted base64.
    Pbkdf2Sha512 { hashes: Vec<LegacyHash> },
}

/// One legacy hash, as the old system stored it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacyHash {
    pub(crate) hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) used_at: Option<u64>,
}

impl fmt::Debug for LegacyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyHash")
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// Neither salts nor hashes, as for the crate's own codes.
impl fmt::Debug for ImportedCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportedCodes::Plain { case_sensitive, .. } => f
                .debug_struct("Plain")
                .field("case_sensitive", case_sensitive)
                .finish_non_exhaustive(),
            ImportedCodes::Bcrypt { pepper, hashes } => f
                .debug_struct("Bcrypt")
                .field("peppered", &pepper.is_some())
                .field("hashes", hashes)
                .finish(),
            ImportedCodes::Pbkdf2Sha512 { hashes } => f
                .debug_struct("Pbkdf2Sha512")
                .field("hashes", hashes)
                .finish(),
        }
    }
}

impl ImportedCodes {
    /// The legacy hashes, if the set keeps any.
    pub(crate) fn legacy(&self) -> &[LegacyHash] {
        match self {
            ImportedCodes::Plain { .. } => &[],
            ImportedCodes::Bcrypt { hashes, .. } | ImportedCodes::Pbkdf2Sha512 { hashes } => hashes,
        }
    }

    pub(crate) fn legacy_mut(&mut self) -> &mut [LegacyHash] {
        match self {
            ImportedCodes::Plain { .. } => &mut [],
            ImportedCodes::Bcrypt { hashes, .. } | ImportedCodes::Pbkdf2Sha512 { hashes } => hashes,
        }
    }

    /// Whether the set's codes are plain codes hashed at import.
    pub(crate) fn is_plain(&self) -> bool {
        matches!(self, ImportedCodes::Plain { .. })
    }

    /// The salt of the keyed locators (all zero for legacy hashes, which
    /// have none).
    pub(crate) fn locator_salt(&self) -> &[u8; LOCATOR_SALT_LEN] {
        match self {
            ImportedCodes::Plain { locator_salt, .. } => locator_salt,
            _ => &[0; LOCATOR_SALT_LEN],
        }
    }

    /// Whether typed input is folded to lower case before it is compared.
    pub(crate) fn folds_case(&self) -> bool {
        match self {
            ImportedCodes::Plain { case_sensitive, .. } => !case_sensitive,
            // Both generate lower-case hex (`SecureRandom.hex`).
            ImportedCodes::Bcrypt { .. } | ImportedCodes::Pbkdf2Sha512 { .. } => true,
        }
    }

    /// Structural checks applied when a record is loaded.
    pub(crate) fn validate(&self) -> std::result::Result<(), &'static str> {
        if self.legacy().len() > super::MAX_CODES {
            return Err("an imported set has at most 64 legacy hashes");
        }
        for hash in self.legacy() {
            let ok = match self {
                ImportedCodes::Plain { .. } => true,
                ImportedCodes::Bcrypt { .. } => bcrypt_cost(&hash.hash).is_some(),
                ImportedCodes::Pbkdf2Sha512 { .. } => Pbkdf2Hash::parse(&hash.hash).is_some(),
            };
            if !ok {
                return Err("a legacy backup-code hash is malformed");
            }
        }
        Ok(())
    }

    /// Checks `input` against every unused legacy hash, one slow hash each,
    /// and returns the index of the one it matches.
    pub(crate) fn verify_legacy(
        &self,
        input: &ForeignCode,
        keyring: &Keyring,
        user_id: &str,
    ) -> Result<Option<usize>> {
        let code = input.significant();
        match self {
            ImportedCodes::Plain { .. } => Ok(None),
            ImportedCodes::Bcrypt { pepper, hashes } => {
                let pepper = match pepper {
                    Some(sealed) => sealed.open(keyring, LEGACY_PEPPER, user_id)?,
                    None => Zeroizing::new(Vec::new()),
                };
                let mut peppered = Zeroizing::new(Vec::with_capacity(code.len() + pepper.len()));
                peppered.extend_from_slice(code);
                peppered.extend_from_slice(&pepper);
                Ok(first_unused(hashes, |hash| {
                    bcrypt::verify(&peppered[..], hash).unwrap_or(false)
                }))
            }
            ImportedCodes::Pbkdf2Sha512 { hashes } => Ok(first_unused(hashes, |hash| {
                Pbkdf2Hash::parse(hash).is_some_and(|h| h.matches(code))
            })),
        }
    }
}

fn first_unused(hashes: &[LegacyHash], matches: impl Fn(&str) -> bool) -> Option<usize> {
    hashes.iter().position(|h| {
        h.used_at.is_none() && {
            LEGACY_EVALUATIONS.fetch_add(1, Ordering::Relaxed);
            matches(&h.hash)
        }
    })
}

/// Legacy hashes (bcrypt, PBKDF2) checked in this process.
static LEGACY_EVALUATIONS: AtomicU64 = AtomicU64::new(0);

/// How many legacy hashes this process has checked.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub(crate) fn legacy_evaluations() -> u64 {
    LEGACY_EVALUATIONS.load(Ordering::Relaxed)
}

/// What a wrong code may cost checking an imported set of legacy hashes,
/// in hundredths of a native Argon2 attempt (OWASP's parameters): ten
/// attempts. A legacy set costs every one of its unused hashes per wrong
/// code, and the lockout admits only so many attempts (I16); beyond this a
/// set is refused at import, and the user's secret comes alone.
#[cfg(feature = "import")]
pub(crate) const MAX_LEGACY_WORK: u64 = 1_000;

/// What checking one legacy hash costs, in hundredths of a native Argon2
/// attempt, as measured side by side (BENCHMARKS.md section 7): bcrypt at
/// cost 10 about four attempts (3.5 measured), twice that with each cost
/// step; PBKDF2-SHA-512 about 0.9 attempts per 20 000 rounds. At least 1.
#[cfg(feature = "import")]
pub(crate) fn bcrypt_work(cost: u32) -> u64 {
    ((400u64 << cost) >> 10).max(1)
}

/// The cost of a bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$`), if it is one
/// the crate accepts.
pub(crate) fn bcrypt_cost(hash: &str) -> Option<u32> {
    let parts: bcrypt::HashParts = hash.parse().ok()?;
    let cost = parts.get_cost();
    (cost <= MAX_BCRYPT_COST).then_some(cost)
}

/// A parsed `$pbkdf2-sha512$rounds$salt$checksum` hash (GitLab's
/// devise-pbkdf2-encryptable): salt and checksum in passlib's adapted base64
/// (`.` for `+`, no padding), the checksum 64 bytes.
pub(crate) struct Pbkdf2Hash {
    rounds: u32,
    salt: Vec<u8>,
    checksum: [u8; 64],
}

impl Pbkdf2Hash {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('$');
        let (Some(""), Some("pbkdf2-sha512"), Some(rounds), Some(salt), Some(checksum), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let rounds: u32 = rounds.parse().ok()?;
        if !(1..=MAX_PBKDF2_ROUNDS).contains(&rounds) {
            return None;
        }
        let decode = |part: &str| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(part.replace('.', "+"))
        };
        let salt = decode(salt)
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 256)?;
        let checksum = decode(checksum).ok()?.try_into().ok()?;
        Some(Pbkdf2Hash {
            rounds,
            salt,
            checksum,
        })
    }

    /// What checking this hash costs, as [`bcrypt_work`] counts it.
    #[cfg(feature = "import")]
    pub(crate) fn work(&self) -> u64 {
        (u64::from(self.rounds) * 90 / 20_000).max(1)
    }

    fn matches(&self, code: &[u8]) -> bool {
        let mut out = Zeroizing::new([0u8; 64]);
        pbkdf2::pbkdf2_hmac::<Sha512>(code, &self.salt, self.rounds, out.as_mut());
        bool::from(out.ct_eq(&self.checksum))
    }
}

/// A code submitted against an imported set: white space and dashes
/// dropped, printable ASCII only, case kept (see [`ForeignCode::folded`]).
/// Wiped on drop, never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct ForeignCode {
    chars: [u8; MAX_FOREIGN_LEN],
    len: u8,
}

impl ForeignCode {
    /// Normalizes `input` for a set that folds case or not.
    pub(crate) fn parse(input: &str, fold: bool) -> std::result::Result<Self, CodeFormatError> {
        let mut code = ForeignCode {
            chars: [0; MAX_FOREIGN_LEN],
            len: 0,
        };
        let mut found = 0usize;
        for c in input.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            if !c.is_ascii_graphic() {
                return Err(CodeFormatError::InvalidCharacter);
            }
            let byte = if fold { c.to_ascii_lowercase() } else { c } as u8;
            if let Some(slot) = code.chars.get_mut(found) {
                *slot = byte;
            }
            found = found.saturating_add(1);
        }
        if found == 0 {
            return Err(CodeFormatError::Empty);
        }
        if found > MAX_FOREIGN_LEN {
            return Err(CodeFormatError::WrongLength {
                expected: MAX_FOREIGN_LEN,
                found,
            });
        }
        code.len = found as u8;
        Ok(code)
    }

    /// The significant characters as normalized for the set.
    pub(crate) fn significant(&self) -> &[u8] {
        &self.chars[..usize::from(self.len)]
    }

    /// The keyed locator of this code in a set imported under `salt`.
    pub(crate) fn locator(
        &self,
        keyring: &Keyring,
        key_id: KeyId,
        salt: &[u8; LOCATOR_SALT_LEN],
    ) -> Result<[u8; super::LOCATOR_LEN]> {
        keyed_locator(keyring, key_id, salt, self.significant())
    }
}

impl fmt::Debug for ForeignCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ForeignCode(REDACTED)")
    }
}

/// Two characters of the crate's alphabet from HMAC-SHA-256, keyed with the
/// pepper of `key_id`, of a label, the set's salt and the normalized code.
pub(crate) fn keyed_locator(
    keyring: &Keyring,
    key_id: KeyId,
    salt: &[u8; LOCATOR_SALT_LEN],
    code: &[u8],
) -> Result<[u8; super::LOCATOR_LEN]> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(keyring.pepper(key_id)?)
        .map_err(|_| Error::Internal("HMAC set-up failed"))?;
    mac.update(LOCATOR_LABEL);
    mac.update(salt);
    mac.update(code);
    let tag = mac.finalize().into_bytes();
    Ok([
        ALPHABET[usize::from(tag[0] % 32)],
        ALPHABET[usize::from(tag[1] % 32)],
    ])
}

/// A random salt for a set's keyed locators.
#[cfg(feature = "import")]
pub(crate) fn locator_salt<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> [u8; LOCATOR_SALT_LEN] {
    let mut salt = [0u8; LOCATOR_SALT_LEN];
    rng.fill_bytes(&mut salt);
    salt
}
