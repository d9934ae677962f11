//! The stored set: hashes, locators and salts, lookup of an attempt, and
//! generating a new set (once per operation, however often it is retried).

use std::fmt;

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
#[cfg(feature = "import")]
use zeroize::Zeroizing;

use crate::error::{CodeFormatError, Error, Result};
use crate::keys::{KeyId, Keyring};

use super::{
    Argon2Params, BackupCodeStrength, BackupCodes, ForeignCode, HASH_LEN, ImportedCodes,
    LOCATOR_LEN, MAX_CODES, SALT_LEN, SubmittedBackupCode, canonical, display_form, hash_code,
    random_code,
};
#[cfg(feature = "import")]
use super::{keyed_locator, locator_salt};

/// New backup codes for one operation, generated and hashed at most once
/// however often the operation's transition is re-run after a
/// compare-and-swap conflict (I13): the hashes do not depend on the record,
/// so a retry only re-runs the cheap swap.
#[derive(Default)]
pub(crate) struct FreshCodes(Option<(StoredBackupCodes, BackupCodes)>);

impl FreshCodes {
    /// Locks codes shared by an operation's retries. Generation stores a
    /// whole set or nothing, so a poisoned lock holds a consistent value.
    pub(crate) fn lock(shared: &std::sync::Mutex<Self>) -> std::sync::MutexGuard<'_, Self> {
        shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether codes were generated already, so that using them hashes nothing.
    pub(crate) fn is_minted(&self) -> bool {
        self.0.is_some()
    }

    /// The operation's `count` codes of the preset `strength`, hashed with
    /// `params`, as the policy asks: generated (with `count` Argon2
    /// evaluations) on the first call, the same set again on later ones.
    pub(crate) fn get<R: CryptoRng + ?Sized>(
        &mut self,
        keyring: &Keyring,
        (params, strength, count): (Argon2Params, BackupCodeStrength, usize),
        now: u64,
        rng: &mut R,
    ) -> Result<(StoredBackupCodes, BackupCodes)> {
        if self.0.is_none() {
            self.0 = Some(StoredBackupCodes::generate(
                keyring, params, strength, count, now, rng,
            )?);
        }
        let (set, codes) = self.0.as_ref().expect("generated above");
        Ok((set.clone(), codes.duplicate()))
    }
}

/// The stored, hashed form of a set of backup codes.
///
/// The set remembers its [`BackupCodeStrength`]: serialized as `"code_len"`
/// (the significant characters of its codes), which is left out for the
/// default preset, so sets stored before presets existed load as
/// [`BackupCodeStrength::Standard`] and are written back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBackupCodes {
    pub(super) key_id: KeyId,
    pub(super) argon2: Argon2Params,
    #[serde(
        rename = "code_len",
        default,
        skip_serializing_if = "BackupCodeStrength::is_standard",
        with = "strength_as_len"
    )]
    pub(super) strength: BackupCodeStrength,
    pub(super) generated_at: u64,
    pub(super) codes: Vec<StoredCode>,
    /// Set only for an imported set: how its codes are located, or the old
    /// system's hashes it keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) imported: Option<Box<ImportedCodes>>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredCode {
    #[serde(with = "locator_text")]
    pub(super) locator: [u8; LOCATOR_LEN],
    #[serde(with = "crate::encoding::base64_array")]
    pub(super) salt: [u8; SALT_LEN],
    #[serde(with = "crate::encoding::base64_array")]
    pub(super) hash: [u8; HASH_LEN],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) used_at: Option<u64>,
}

impl fmt::Debug for StoredCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCode")
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// Where an attempt's locator points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// No code has this locator, or the code's length is not the set's
    /// preset: a guess, refused without hashing.
    NoMatch,
    /// The code with this locator was already used: refused without hashing.
    Used,
    /// One unused code to check with one Argon2 evaluation.
    Candidate(usize),
    /// Unused legacy hashes to check, one slow hash each.
    Legacy,
}

impl Lookup {
    /// Whether checking the attempt runs a slow hash.
    pub(crate) fn hashes(self) -> bool {
        matches!(self, Lookup::Candidate(_) | Lookup::Legacy)
    }
}

/// A submitted backup code, normalized as the set it is checked against
/// wants it: the crate's own shape, or an imported set's.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// A code of the crate's own shape.
    Native(SubmittedBackupCode),
    /// A code for an imported set.
    Foreign(ForeignCode),
}

impl Attempt {
    /// The bytes Argon2 hashes.
    fn significant(&self) -> &[u8] {
        match self {
            Attempt::Native(code) => code.significant(),
            Attempt::Foreign(code) => code.significant(),
        }
    }
}

impl StoredBackupCodes {
    /// The largest number of codes a set may hold.
    pub const MAX: usize = MAX_CODES;

    /// Generates `count` codes of the preset `strength`, hashing each once.
    /// Returns the stored set and the plaintext codes.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(
        keyring: &Keyring,
        params: Argon2Params,
        strength: BackupCodeStrength,
        count: usize,
        now: u64,
        rng: &mut R,
    ) -> Result<(Self, BackupCodes)> {
        if !(1..=MAX_CODES).contains(&count) {
            return Err(Error::InvalidConfig("a backup-code set has 1 to 64 codes"));
        }
        let key_id = keyring.primary_id();
        let mut codes = Vec::with_capacity(count);
        let mut plain = Vec::with_capacity(count);
        while codes.len() < count {
            let input = random_code(strength, rng);
            if codes
                .iter()
                .any(|c: &StoredCode| c.locator == input.locator())
            {
                continue;
            }
            let mut salt = [0u8; SALT_LEN];
            rng.fill_bytes(&mut salt);
            let hash = hash_code(keyring, key_id, &params, input.significant(), &salt)?;
            codes.push(StoredCode {
                locator: input.locator(),
                salt,
                hash: *hash,
                used_at: None,
            });
            plain.push(display_form(&input));
        }
        let set = StoredBackupCodes {
            key_id,
            argon2: params,
            strength,
            generated_at: now,
            codes,
            imported: None,
        };
        Ok((set, BackupCodes(plain)))
    }

    /// An imported set of plain codes, each already normalized as its
    /// source compares it (see [`ForeignCode`]), hashed once with Argon2id
    /// under a keyed locator; the locator salt is drawn again until the
    /// locators are unique.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] for more than 64 codes or two equal codes;
    /// [`Error::Internal`] if no salt separates the locators.
    #[cfg(feature = "import")]
    pub(crate) fn import_plain<R: CryptoRng + ?Sized>(
        keyring: &Keyring,
        params: Argon2Params,
        plain: &[Zeroizing<Vec<u8>>],
        case_sensitive: bool,
        now: u64,
        rng: &mut R,
    ) -> Result<Self> {
        if plain.len() > MAX_CODES {
            return Err(Error::InvalidImport("more than 64 backup codes"));
        }
        for (i, code) in plain.iter().enumerate() {
            if plain[..i].iter().any(|c| bool::from(c.ct_eq(code))) {
                return Err(Error::InvalidImport("two backup codes are the same"));
            }
        }
        let key_id = keyring.primary_id();
        let mut tries = 0;
        let (locator_salt, locators) = loop {
            tries += 1;
            if tries > 10_000 {
                return Err(Error::Internal("no salt separates the imported locators"));
            }
            let salt = locator_salt(rng);
            let locators = plain
                .iter()
                .map(|code| keyed_locator(keyring, key_id, &salt, code))
                .collect::<Result<Vec<_>>>()?;
            let unique = locators
                .iter()
                .enumerate()
                .all(|(i, l)| !locators[..i].contains(l));
            if unique {
                break (salt, locators);
            }
        };
        let mut codes = Vec::with_capacity(plain.len());
        for (code, locator) in plain.iter().zip(locators) {
            let mut salt = [0u8; SALT_LEN];
            rng.fill_bytes(&mut salt);
            let hash = hash_code(keyring, key_id, &params, code, &salt)?;
            codes.push(StoredCode {
                locator,
                salt,
                hash: *hash,
                used_at: None,
            });
        }
        Ok(StoredBackupCodes {
            key_id,
            argon2: params,
            strength: BackupCodeStrength::Standard,
            generated_at: now,
            codes,
            imported: Some(Box::new(ImportedCodes::Plain {
                locator_salt,
                case_sensitive,
            })),
        })
    }

    /// A set without codes, for test records that need an active set.
    #[cfg(feature = "testkit")]
    pub(crate) fn placeholder() -> Self {
        StoredBackupCodes {
            key_id: KeyId(1),
            argon2: Argon2Params::default(),
            strength: BackupCodeStrength::Standard,
            generated_at: 0,
            codes: Vec::new(),
            imported: None,
        }
    }

    /// An imported set that keeps the old system's hashes.
    #[cfg(feature = "import")]
    pub(crate) fn import_legacy(
        keyring: &Keyring,
        params: Argon2Params,
        legacy: ImportedCodes,
        now: u64,
    ) -> Self {
        StoredBackupCodes {
            key_id: keyring.primary_id(),
            argon2: params,
            strength: BackupCodeStrength::Standard,
            generated_at: now,
            codes: Vec::new(),
            imported: Some(Box::new(legacy)),
        }
    }

    /// Normalizes a submitted code for this set: the crate's shape for its
    /// own sets, the source's rules for an imported one.
    pub(crate) fn parse_attempt(
        &self,
        code: &str,
    ) -> std::result::Result<Attempt, CodeFormatError> {
        match &self.imported {
            None => SubmittedBackupCode::parse(code).map(Attempt::Native),
            Some(imported) => ForeignCode::parse(code, imported.folds_case()).map(Attempt::Foreign),
        }
    }

    /// Finds the one stored code an attempt could match, without a slow
    /// hash: a code of another preset's length matches none; an imported
    /// plain code is found by its keyed locator (one HMAC); a set of legacy
    /// hashes sends every attempt to [`StoredBackupCodes::find`] while
    /// one is unused.
    ///
    /// # Errors
    /// [`Error::UnknownKey`] if an imported set's pepper is not in the keyring.
    pub(crate) fn lookup(&self, input: &Attempt, keyring: &Keyring) -> Result<Lookup> {
        let locator = match (input, &self.imported) {
            (Attempt::Native(input), None) if input.strength == self.strength => input.locator(),
            (Attempt::Foreign(input), Some(imported)) if imported.is_plain() => {
                input.locator(keyring, self.key_id, imported.locator_salt())?
            }
            (Attempt::Foreign(_), Some(imported)) => {
                let unused = imported.legacy().iter().any(|h| h.used_at.is_none());
                return Ok(if unused {
                    Lookup::Legacy
                } else {
                    Lookup::NoMatch
                });
            }
            _ => return Ok(Lookup::NoMatch),
        };
        Ok(match self.codes.iter().position(|c| c.locator == locator) {
            None => Lookup::NoMatch,
            Some(i) if self.codes[i].used_at.is_some() => Lookup::Used,
            Some(i) => Lookup::Candidate(i),
        })
    }

    /// Checks a candidate with exactly one Argon2 evaluation and a
    /// constant-time comparison.
    pub(crate) fn verify(&self, index: usize, input: &Attempt, keyring: &Keyring) -> Result<bool> {
        let stored = self
            .codes
            .get(index)
            .ok_or(Error::Internal("backup-code index out of range"))?;
        match input {
            Attempt::Native(code) if code.strength != self.strength || self.imported.is_some() => {
                return Ok(false);
            }
            Attempt::Foreign(_) if self.imported.is_none() => return Ok(false),
            _ => {}
        }
        let hash = hash_code(
            keyring,
            self.key_id,
            &self.argon2,
            input.significant(),
            &stored.salt,
        )?;
        Ok(bool::from(hash.ct_eq(&stored.hash)))
    }

    #[cfg(test)]
    pub(crate) fn mark_used(&mut self, index: usize, now: u64) {
        if let Some(code) = self.codes.get_mut(index) {
            code.used_at = Some(now);
        }
    }

    /// Unused codes left, legacy ones included.
    pub fn remaining(&self) -> usize {
        self.codes.iter().filter(|c| c.used_at.is_none()).count() + self.legacy_remaining()
    }

    /// Unused codes imported as another system's hashes (bcrypt, PBKDF2):
    /// while there are any, the host should prompt the user to regenerate.
    pub fn legacy_remaining(&self) -> usize {
        self.imported.as_ref().map_or(0, |imported| {
            imported
                .legacy()
                .iter()
                .filter(|h| h.used_at.is_none())
                .count()
        })
    }

    /// Whether the set was imported from another system.
    pub fn is_imported(&self) -> bool {
        self.imported.is_some()
    }

    /// When the set was generated (unix seconds).
    pub fn generated_at(&self) -> u64 {
        self.generated_at
    }

    /// The key whose pepper the hashes were made with.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Argon2 parameters the hashes were made with.
    pub fn argon2_params(&self) -> Argon2Params {
        self.argon2
    }

    /// The preset the set was generated under: the only length its codes
    /// are checked at.
    pub fn strength(&self) -> BackupCodeStrength {
        self.strength
    }

    /// Structural checks applied when a record is loaded.
    pub(crate) fn validate(&self) -> std::result::Result<(), &'static str> {
        // An imported set may hold no code of the crate's scheme: its codes
        // are legacy hashes, or the old system had none.
        let fewest = usize::from(self.imported.is_none());
        if self.codes.len() < fewest || self.codes.len() > MAX_CODES {
            return Err("a backup-code set has 1 to 64 codes");
        }
        if let Some(imported) = &self.imported {
            imported.validate()?;
            if !imported.legacy().is_empty() && !self.codes.is_empty() {
                return Err("an imported set holds plain codes or legacy hashes, not both");
            }
        }
        for (i, code) in self.codes.iter().enumerate() {
            if self.codes[..i].iter().any(|c| c.locator == code.locator) {
                return Err("duplicate backup-code locator");
            }
        }
        self.argon2
            .argon2_params()
            .map_err(|_| "invalid Argon2 parameters")?;
        Ok(())
    }
}

/// A set's preset as the significant characters of its codes.
mod strength_as_len {
    use super::BackupCodeStrength;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(
        strength: &BackupCodeStrength,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(strength.code_len() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BackupCodeStrength, D::Error> {
        let len = u64::deserialize(d)?;
        usize::try_from(len)
            .ok()
            .and_then(BackupCodeStrength::from_code_len)
            .ok_or_else(|| D::Error::custom("no backup-code preset has this length"))
    }
}

mod locator_text {
    use super::{LOCATOR_LEN, canonical};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(locator: &[u8; LOCATOR_LEN], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(std::str::from_utf8(locator).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; LOCATOR_LEN], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; LOCATOR_LEN];
        let mut chars = text.chars();
        for slot in &mut out {
            let c = chars
                .next()
                .ok_or_else(|| D::Error::custom("locator too short"))?;
            *slot = canonical(c)
                .filter(|b| *b as char == c)
                .ok_or_else(|| D::Error::custom("locator has a character outside the alphabet"))?;
        }
        if chars.next().is_some() {
            return Err(D::Error::custom("locator too long"));
        }
        Ok(out)
    }
}
