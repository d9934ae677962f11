//! The backup codes a factor brings: plain ones, hashed into the crate's
//! scheme at sealing, or the old system's bcrypt and PBKDF2 hashes, each
//! held to the bounds that keep a wrong code cheap and every code usable.

use zeroize::Zeroizing;

use super::factor::Codes;
use super::{
    CodeCase, ImportedFactor, MAX_IMPORTED_CODES, MIN_PLAIN_CODE_BITS, MIN_PLAIN_CODE_LEN,
};
use crate::backup::{
    ForeignCode, MAX_FOREIGN_LEN, MAX_LEGACY_WORK, Pbkdf2Hash, bcrypt_cost, bcrypt_work,
};
use crate::error::{Error, Result};

impl ImportedFactor {
    /// Adds the old system's plain backup codes (the unused ones), to be
    /// hashed with Argon2id at import. White space and dashes are dropped;
    /// `case` says whether letters are folded.
    ///
    /// Every code accepted can be redeemed at the login step, and none is
    /// guessable: a code must have at least [`MIN_PLAIN_CODE_LEN`]
    /// characters and [`MIN_PLAIN_CODE_BITS`] bits by its shape (its length
    /// times the log₂ of the character classes it uses: digits 10, each case
    /// of letters 26, other printable characters 33), and must not read as a
    /// TOTP code of the factor (that many digits), which the login step
    /// would check as one.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] for a code that is empty, longer than 64
    /// characters or not printable ASCII, too short or too weak, shaped as a
    /// TOTP code; two equal codes, more than 64 codes, or codes already
    /// given.
    pub fn with_plain_backup_codes<I, S>(mut self, codes: I, case: CodeCase) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.no_codes_yet()?;
        let fold = case == CodeCase::Insensitive;
        let mut plain = Vec::new();
        for code in codes {
            let code = ForeignCode::parse(code.as_ref(), fold).map_err(|_| {
                Error::InvalidImport(
                    "a backup code is empty, longer than 64 characters or not printable ASCII",
                )
            })?;
            if plain.len() == MAX_IMPORTED_CODES {
                return Err(Error::InvalidImport("more than 64 backup codes"));
            }
            self.check_plain(code.significant())?;
            plain.push(Zeroizing::new(code.significant().to_vec()));
        }
        debug_assert!(plain.iter().all(|c| c.len() <= MAX_FOREIGN_LEN));
        self.codes = Codes::Plain {
            codes: plain,
            case_sensitive: !fold,
        };
        Ok(self)
    }

    /// Adds devise-two-factor's hashed backup codes (`otp_backup_codes`):
    /// bcrypt hashes of each code followed by Devise's `pepper` (empty if
    /// the application had none). They stay bcrypt until the user
    /// regenerates; the pepper is sealed for the user in the record.
    ///
    /// Each wrong code checks every unused hash, so a set whose check would
    /// cost more than [`MAX_LEGACY_WORK_ATTEMPTS`](super::MAX_LEGACY_WORK_ATTEMPTS) native Argon2 attempts is
    /// refused: bcrypt at cost 10 costs about four, and each cost step
    /// doubles it, so at most two hashes at cost 10, one at cost 11, none
    /// from cost 12 (Devise's default) on. Import such a factor's secret
    /// alone, and ask the user to regenerate.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] for a hash that is not bcrypt (`$2a$`,
    /// `$2b$`, `$2x$`, `$2y$`) at a cost of at most 14, a set over the
    /// bound, more than 64 hashes, or codes already given.
    pub fn with_bcrypt_backup_codes<I, S>(mut self, hashes: I, pepper: &str) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.no_codes_yet()?;
        let hashes = collect_hashes(hashes, |h| bcrypt_cost(h).map(bcrypt_work))?;
        self.codes = Codes::Bcrypt {
            hashes,
            pepper: Zeroizing::new(pepper.to_owned()),
        };
        Ok(self)
    }

    /// Adds GitLab's hashed backup codes (`otp_backup_codes`):
    /// `$pbkdf2-sha512$rounds$salt$checksum`, salt and checksum in passlib's
    /// adapted base64. They stay PBKDF2 until the user regenerates.
    ///
    /// Bounded as [`ImportedFactor::with_bcrypt_backup_codes`] is: GitLab's
    /// 20 000 rounds cost about 0.9 of a native Argon2 attempt, so up to 11
    /// such hashes are accepted.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] for a hash in another encoding, with more than
    /// 1 000 000 rounds, a set over the bound, more than 64 hashes, or codes
    /// already given.
    pub fn with_pbkdf2_sha512_backup_codes<I, S>(mut self, hashes: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.no_codes_yet()?;
        let hashes = collect_hashes(hashes, |h| Pbkdf2Hash::parse(h).map(|h| h.work()))?;
        self.codes = Codes::Pbkdf2Sha512 { hashes };
        Ok(self)
    }

    /// Refuses a plain code that is too short, too weak, or that the login
    /// step would check as a TOTP code.
    fn check_plain(&self, code: &[u8]) -> Result<()> {
        if code.len() < MIN_PLAIN_CODE_LEN {
            return Err(Error::InvalidImport(
                "a backup code has fewer than 6 characters",
            ));
        }
        if plain_code_bits(code) < MIN_PLAIN_CODE_BITS {
            return Err(Error::InvalidImport(
                "a backup code has fewer than 20 bits (too few characters of too few kinds)",
            ));
        }
        let text = std::str::from_utf8(code).unwrap_or_default();
        if crate::totp::TotpCode::parse(text, self.params.digits).is_ok() {
            return Err(Error::InvalidImport(
                "a backup code reads as a TOTP code of the factor, so it could never be used",
            ));
        }
        Ok(())
    }

    fn no_codes_yet(&self) -> Result<()> {
        match self.codes {
            Codes::None => Ok(()),
            _ => Err(Error::InvalidImport("backup codes were given twice")),
        }
    }
}

/// The hashes, each checked by `work` (what checking it costs, or `None`
/// if it is not in the source's encoding), within [`MAX_LEGACY_WORK`].
fn collect_hashes<I, S>(hashes: I, work: impl Fn(&str) -> Option<u64>) -> Result<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = Vec::new();
    let mut total = 0u64;
    for hash in hashes {
        let hash = hash.as_ref().trim();
        let Some(cost) = work(hash) else {
            return Err(Error::InvalidImport(
                "a backup-code hash is not in the source's encoding",
            ));
        };
        if out.len() == MAX_IMPORTED_CODES {
            return Err(Error::InvalidImport("more than 64 backup codes"));
        }
        total = total.saturating_add(cost);
        if total > MAX_LEGACY_WORK {
            return Err(Error::InvalidImport(
                "checking these backup-code hashes would cost more than 10 Argon2 attempts per wrong code: import the secret alone and let the user regenerate",
            ));
        }
        out.push(hash.to_owned());
    }
    Ok(out)
}

/// A plain code's bits as its shape tells them: its length times the log₂
/// of the character classes it uses (digits 10, lower-case letters 26,
/// upper-case letters 26, other printable characters 33). An upper bound
/// on what one sample can show, enough to refuse codes no system should
/// have issued.
fn plain_code_bits(code: &[u8]) -> f64 {
    /// A character class: who belongs, and how many do.
    type Class = (fn(&u8) -> bool, u32);
    const CLASSES: [Class; 4] = [
        (u8::is_ascii_digit, 10),
        (u8::is_ascii_lowercase, 26),
        (u8::is_ascii_uppercase, 26),
        (u8::is_ascii_punctuation, 33),
    ];
    let alphabet: u32 = CLASSES
        .iter()
        .filter(|(is, _)| code.iter().any(is))
        .map(|(_, size)| size)
        .sum();
    code.len() as f64 * f64::from(alphabet.max(1)).log2()
}
