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
mod foreign;
mod memory;
mod reissue;

pub(crate) use check::Found;
pub(crate) use reissue::Reissue;

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

use std::fmt;

use argon2::Argon2;
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{CodeFormatError, Error, Result};
use crate::keys::{KeyId, Keyring};
use memory::with_memory;

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

/// Argon2id cost parameters for backup-code hashes.
///
/// [`Argon2Params::default`] is OWASP's first recommendation (m = 19456 KiB,
/// t = 2, p = 1). [`Argon2Params::new`] refuses anything weaker than OWASP's
/// table; only [`Argon2Params::insecure_for_tests`] goes below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Params {
    #[serde(rename = "m")]
    m_cost: u32,
    #[serde(rename = "t")]
    t_cost: u32,
    #[serde(rename = "p")]
    p_cost: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            m_cost: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl Argon2Params {
    /// Parameters at least as strong as OWASP's table (memory ≥ 7 MiB and
    /// memory × passes ≥ 7168 KiB × 5).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for weaker or invalid parameters.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        if m_cost_kib < 7_168 || u64::from(m_cost_kib) * u64::from(t_cost) < 7_168 * 5 {
            return Err(Error::InvalidConfig(
                "Argon2 parameters are below OWASP's recommendations",
            ));
        }
        Self::insecure_for_tests(m_cost_kib, t_cost, p_cost)
    }

    /// **Insecure.** Any parameters Argon2 accepts, however weak: only for
    /// tests that are not about the parameters themselves.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if Argon2 itself refuses them.
    pub fn insecure_for_tests(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Argon2Params {
            m_cost: m_cost_kib,
            t_cost,
            p_cost,
        };
        params.argon2_params()?;
        if m_cost_kib > 4 * 1024 * 1024 {
            return Err(Error::InvalidConfig("Argon2 memory above 4 GiB"));
        }
        Ok(params)
    }

    /// Memory cost in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.m_cost
    }
    /// Number of passes.
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }
    /// Degree of parallelism.
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }

    fn argon2_params(&self) -> Result<argon2::Params> {
        argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(HASH_LEN))
            .map_err(|_| Error::InvalidConfig("Argon2 refused the parameters"))
    }
}

/// How long backup codes are, and so how many secret bits each carries: the
/// preset of [`BackupCodePolicy::strength`](crate::policy::BackupCodePolicy::strength).
///
/// | preset | shown as | characters | locator (in clear) | secret part |
/// |---|---|---|---|---|
/// | [`Standard`](Self::Standard) (default) | `xxxxx-xxxxx` | 10 | 2 | 8 characters, **40 bits** |
/// | [`NistRecovery`](Self::NistRecovery) | `xxxxx-xxxxx-xxxxx` | 15 | 2 | 13 characters, **65 bits** |
///
/// Every character is drawn uniformly from 32 (5 bits). The locator's 10 bits
/// are stored in clear beside each hash, so they are not counted: the figures
/// above are what an attacker holding the database and the pepper must still
/// guess, one Argon2id evaluation per guess and code.
///
/// NIST SP 800-63B-4 (August 2025), §4.2.1.1 "Saved Recovery Codes", says:
/// "The recovery code **SHALL** include at least 64 bits from an approved
/// random bit generator." [`NistRecovery`](Self::NistRecovery) has 65 secret
/// bits; [`Standard`](Self::Standard) has 40 and does not qualify as a saved
/// recovery code: it meets the look-up secret floor of §3.1.2.1 (at least six
/// decimal digits or equivalent), which §3.1.2.2 pairs with salted password
/// hashing and the rate limiting of §3.2.2, both of which the crate applies
/// to every preset. The bits come from the RNG the transitions are given
/// ([`Mfa`](crate::Mfa) uses `rand::rng()`); a host that must use an approved
/// generator passes its own to the transitions. §4.2.1.1 also wants a
/// notification when codes are replaced and a new code issued once one is
/// used: that is the host's part, on
/// [`SecurityEvent::BackupCodesRegenerated`](crate::event::SecurityEvent::BackupCodesRegenerated)
/// and [`SecurityEvent::BackupCodeUsed`](crate::event::SecurityEvent::BackupCodeUsed).
///
/// A stored set remembers its preset: changing the policy affects only sets
/// generated afterwards (confirmed setups and regenerations), and a set keeps
/// accepting codes of its own length. An attempt costs at most one Argon2
/// evaluation with either preset; a code of the other preset's length is a
/// wrong code, refused and counted without hashing.
///
/// ```
/// use mfa::backup::BackupCodeStrength;
/// assert_eq!(BackupCodeStrength::default(), BackupCodeStrength::Standard);
/// assert_eq!(BackupCodeStrength::Standard.code_len(), 10);
/// assert_eq!(BackupCodeStrength::Standard.secret_bits(), 40);
/// assert_eq!(BackupCodeStrength::NistRecovery.code_len(), 15);
/// assert_eq!(BackupCodeStrength::NistRecovery.secret_bits(), 65);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackupCodeStrength {
    /// 10 characters `xxxxx-xxxxx`: a 2-character locator and 40 secret bits.
    /// The default, and the shape of every set stored before presets existed.
    #[default]
    Standard,
    /// 15 characters `xxxxx-xxxxx-xxxxx`: a 2-character locator and 65 secret
    /// bits, at least the 64 bits NIST SP 800-63B-4 §4.2.1.1 asks of a saved
    /// recovery code.
    NistRecovery,
}

impl BackupCodeStrength {
    /// Every preset, shortest first.
    pub const ALL: [BackupCodeStrength; 2] = [Self::Standard, Self::NistRecovery];

    /// Significant characters in a code of this preset (dashes and spaces
    /// aside), the locator included.
    pub const fn code_len(self) -> usize {
        match self {
            BackupCodeStrength::Standard => 10,
            BackupCodeStrength::NistRecovery => 15,
        }
    }

    /// Secret bits of a code of this preset: 5 per character after the
    /// locator.
    pub const fn secret_bits(self) -> u32 {
        // At most 15 characters: the cast cannot truncate.
        ((self.code_len() - LOCATOR_LEN) * 5) as u32
    }

    /// Characters of a code as shown, dashes included.
    const fn shown_len(self) -> usize {
        self.code_len() + self.code_len() / GROUP_LEN - 1
    }

    /// The preset whose codes have `len` significant characters.
    fn from_code_len(len: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code_len() == len)
    }

    fn is_standard(&self) -> bool {
        *self == BackupCodeStrength::Standard
    }
}

/// One plaintext backup code, shown to the user once and never stored.
///
/// Wiped on drop; `Debug` and `Display` print `REDACTED`; no `Clone`, no
/// `Serialize`. Read it with [`BackupCode::as_str`] to hand it to the user.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BackupCode {
    text: [u8; MAX_SHOWN_LEN],
    #[zeroize(skip)]
    strength: BackupCodeStrength,
}

impl BackupCode {
    /// The alphabet of backup codes: Crockford's base32 in lower case.
    pub const ALPHABET: &'static [u8; 32] = ALPHABET;
    /// Significant characters in a backup code of the default preset,
    /// [`BackupCodeStrength::Standard`] (dashes and spaces aside); every
    /// preset's is [`BackupCodeStrength::code_len`].
    pub const LEN: usize = BackupCodeStrength::Standard.code_len();
    /// Leading characters that locate a code's hash (not secret), in every
    /// preset.
    pub const LOCATOR_LEN: usize = LOCATOR_LEN;

    /// The code as shown to users: `xxxxx-xxxxx`, or `xxxxx-xxxxx-xxxxx` with
    /// [`BackupCodeStrength::NistRecovery`].
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text[..self.strength.shown_len()]).expect("ASCII")
    }

    /// The preset the code was generated under.
    pub fn strength(&self) -> BackupCodeStrength {
        self.strength
    }
}

impl fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupCode(REDACTED)")
    }
}

impl fmt::Display for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// A freshly generated set of plaintext codes: the one-time output of
/// confirming setup or regenerating. Show them once; they cannot be recovered.
pub struct BackupCodes(Vec<BackupCode>);

impl BackupCodes {
    /// The codes.
    pub fn iter(&self) -> std::slice::Iter<'_, BackupCode> {
        self.0.iter()
    }
    /// The codes as strings, for a JSON response.
    pub fn as_strs(&self) -> Vec<&str> {
        self.0.iter().map(BackupCode::as_str).collect()
    }
    /// How many codes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl BackupCodes {
    /// A second copy, for handing out codes whose save is retried. Crate-only:
    /// one-time secrets have no public `Clone`.
    fn duplicate(&self) -> Self {
        BackupCodes(
            self.0
                .iter()
                .map(|c| BackupCode {
                    text: c.text,
                    strength: c.strength,
                })
                .collect(),
        )
    }
}

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

impl<'a> IntoIterator for &'a BackupCodes {
    type Item = &'a BackupCode;
    type IntoIter = std::slice::Iter<'a, BackupCode>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for BackupCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupCodes({} × REDACTED)", self.0.len())
    }
}

/// A submitted backup code in canonical form (lower case, look-alikes mapped,
/// separators dropped). Wiped on drop, never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SubmittedBackupCode {
    chars: [u8; MAX_LEN],
    #[zeroize(skip)]
    strength: BackupCodeStrength,
}

impl SubmittedBackupCode {
    /// Normalizes user input: case-insensitive, spaces and dashes ignored,
    /// `o` read as `0` and `i`/`l` as `1`. Accepts the length of every
    /// preset (10 or 15 characters); whether the length is that of the stored
    /// set is decided when the code is checked against it.
    ///
    /// ```
    /// use mfa::backup::{BackupCodeStrength, SubmittedBackupCode};
    /// assert!(SubmittedBackupCode::parse(" A1B2C-D3E4F ").is_ok());
    /// let long = SubmittedBackupCode::parse("a1b2c-d3e4f-g5h6j").unwrap();
    /// assert_eq!(long.strength(), BackupCodeStrength::NistRecovery);
    /// assert!(SubmittedBackupCode::parse("a1b2c-d3e4").is_err());
    /// assert!(SubmittedBackupCode::parse("a1b2c-d3e4f-g5h6").is_err());
    /// assert!(SubmittedBackupCode::parse("a1b2c-d3e4u").is_err()); // `u` is not in the alphabet
    /// ```
    ///
    /// # Errors
    /// A [`CodeFormatError`] describing the shape of the input; for a wrong
    /// length, `expected` is the nearer preset's length.
    pub fn parse(input: &str) -> std::result::Result<Self, CodeFormatError> {
        let mut chars = [0; MAX_LEN];
        let mut found = 0usize;
        for c in input.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let byte = canonical(c).ok_or(CodeFormatError::InvalidCharacter)?;
            if let Some(slot) = chars.get_mut(found) {
                *slot = byte;
            }
            found = found.saturating_add(1);
        }
        if found == 0 {
            return Err(CodeFormatError::Empty);
        }
        match BackupCodeStrength::from_code_len(found) {
            Some(strength) => Ok(SubmittedBackupCode { chars, strength }),
            None => {
                chars.zeroize();
                Err(CodeFormatError::WrongLength {
                    expected: nearest_len(found),
                    found,
                })
            }
        }
    }

    /// The preset whose length the code has.
    pub fn strength(&self) -> BackupCodeStrength {
        self.strength
    }

    /// The significant characters, hashed by Argon2.
    fn significant(&self) -> &[u8] {
        &self.chars[..self.strength.code_len()]
    }

    fn locator(&self) -> [u8; LOCATOR_LEN] {
        [self.chars[0], self.chars[1]]
    }
}

/// The length of the preset nearest to `found` characters (the shorter on a
/// tie), for error messages.
fn nearest_len(found: usize) -> usize {
    BackupCodeStrength::ALL
        .into_iter()
        .map(BackupCodeStrength::code_len)
        .min_by_key(|len| len.abs_diff(found))
        .unwrap_or(BackupCode::LEN)
}

impl fmt::Debug for SubmittedBackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubmittedBackupCode(REDACTED)")
    }
}

fn canonical(c: char) -> Option<u8> {
    if !c.is_ascii() {
        return None;
    }
    let c = match c.to_ascii_lowercase() {
        'o' => '0',
        'i' | 'l' => '1',
        c => c,
    } as u8;
    ALPHABET.contains(&c).then_some(c)
}

/// The stored, hashed form of a set of backup codes.
///
/// The set remembers its [`BackupCodeStrength`]: serialized as `"code_len"`
/// (the significant characters of its codes), which is left out for the
/// default preset, so sets stored before presets existed load as
/// [`BackupCodeStrength::Standard`] and are written back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBackupCodes {
    key_id: KeyId,
    argon2: Argon2Params,
    #[serde(
        rename = "code_len",
        default,
        skip_serializing_if = "BackupCodeStrength::is_standard",
        with = "strength_as_len"
    )]
    strength: BackupCodeStrength,
    generated_at: u64,
    codes: Vec<StoredCode>,
    /// Set only for an imported set: how its codes are located, or the old
    /// system's hashes it keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    imported: Option<Box<ImportedCodes>>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredCode {
    #[serde(with = "locator_text")]
    locator: [u8; LOCATOR_LEN],
    #[serde(with = "crate::encoding::base64_array")]
    salt: [u8; SALT_LEN],
    #[serde(with = "crate::encoding::base64_array")]
    hash: [u8; HASH_LEN],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    used_at: Option<u64>,
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

/// The code as shown: groups of five characters joined by dashes.
/// A new code of the preset `strength`, every character drawn from `rng`.
fn random_code<R: CryptoRng + ?Sized>(
    strength: BackupCodeStrength,
    rng: &mut R,
) -> SubmittedBackupCode {
    let len = strength.code_len();
    let mut input = SubmittedBackupCode {
        chars: [0; MAX_LEN],
        strength,
    };
    let mut random = Zeroizing::new([0u8; MAX_LEN]);
    rng.fill_bytes(&mut random[..len]);
    for (out, byte) in input.chars[..len].iter_mut().zip(random.iter()) {
        // 256 is a multiple of 32: no modulo bias.
        *out = ALPHABET[usize::from(byte % 32)];
    }
    input
}

fn display_form(input: &SubmittedBackupCode) -> BackupCode {
    let mut text = [b'-'; MAX_SHOWN_LEN];
    for (group, chars) in input.significant().chunks(GROUP_LEN).enumerate() {
        let start = group * (GROUP_LEN + 1);
        text[start..start + chars.len()].copy_from_slice(chars);
    }
    BackupCode {
        text,
        strength: input.strength,
    }
}

fn hash_code(
    keyring: &Keyring,
    key_id: KeyId,
    params: &Argon2Params,
    input: &[u8],
    salt: &[u8; SALT_LEN],
) -> Result<Zeroizing<[u8; HASH_LEN]>> {
    let argon = Argon2::new_with_secret(
        keyring.pepper(key_id)?,
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.argon2_params()?,
    )
    .map_err(|_| Error::Internal("Argon2 set-up failed"))?;
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    with_memory(argon.params().block_count(), |memory| {
        argon.hash_password_into_with_memory(input, salt, out.as_mut(), memory)
    })
    .map_err(|_| Error::Internal("Argon2 hashing failed"))?;
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;

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
            let Lookup::Candidate(i) = set.lookup(&att(&input), &ring).unwrap() else {
                panic!("no candidate")
            };
            assert!(set.verify(i, &att(&input), &ring).unwrap());
            set.mark_used(i, 6);
            assert_eq!(set.lookup(&att(&input), &ring).unwrap(), Lookup::Used);
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
            let Lookup::Candidate(i) = set.lookup(&att(&input), &ring).unwrap() else {
                panic!("no candidate")
            };
            assert!(set.verify(i, &att(&input), &ring).unwrap());
            set.mark_used(i, 6);
            assert_eq!(set.lookup(&att(&input), &ring).unwrap(), Lookup::Used);
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
