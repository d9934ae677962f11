//! A backup code as the user sees it: the presets, the plaintext codes
//! shown once, a submitted code normalized, and new codes drawn.

use std::fmt;

use rand::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CodeFormatError;

use super::{ALPHABET, GROUP_LEN, LOCATOR_LEN, MAX_LEN, MAX_SHOWN_LEN};

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
/// generator passes its own to the transitions. §4.2.1.1 also wants a new
/// code issued once one is used, which
/// [`BackupCodePolicy::reissue_on_use`](crate::policy::BackupCodePolicy::reissue_on_use)
/// does, and a notification when codes are replaced: that is the host's
/// part, on
/// [`SecurityEvent::BackupCodesRegenerated`](crate::event::SecurityEvent::BackupCodesRegenerated)
/// and [`SecurityEvent::BackupCodeReissued`](crate::event::SecurityEvent::BackupCodeReissued).
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
    pub(super) const fn shown_len(self) -> usize {
        self.code_len() + self.code_len() / GROUP_LEN - 1
    }

    /// The preset whose codes have `len` significant characters.
    pub(super) fn from_code_len(len: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code_len() == len)
    }

    pub(super) fn is_standard(&self) -> bool {
        *self == BackupCodeStrength::Standard
    }
}

/// One plaintext backup code, shown to the user once and never stored.
///
/// Wiped on drop; `Debug` and `Display` print `REDACTED`; no `Clone`, no
/// `Serialize`. Read it with [`BackupCode::as_str`] to hand it to the user.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BackupCode {
    pub(super) text: [u8; MAX_SHOWN_LEN],
    #[zeroize(skip)]
    pub(super) strength: BackupCodeStrength,
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
pub struct BackupCodes(pub(super) Vec<BackupCode>);

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
    pub(super) fn duplicate(&self) -> Self {
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
    pub(super) chars: [u8; MAX_LEN],
    #[zeroize(skip)]
    pub(super) strength: BackupCodeStrength,
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
    pub(super) fn significant(&self) -> &[u8] {
        &self.chars[..self.strength.code_len()]
    }

    pub(super) fn locator(&self) -> [u8; LOCATOR_LEN] {
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

pub(super) fn canonical(c: char) -> Option<u8> {
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

/// A new code of the preset `strength`, every character drawn from `rng`.
pub(super) fn random_code<R: CryptoRng + ?Sized>(
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

/// The code as shown: groups of five characters joined by dashes.
pub(super) fn display_form(input: &SubmittedBackupCode) -> BackupCode {
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
