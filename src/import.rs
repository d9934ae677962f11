//! Adopting users from other systems without enrolling them again (feature
//! `import`): a factor exported from devise-two-factor, django-otp, Laravel
//! Fortify, ASP.NET Core Identity, GitLab, Ory Kratos or a store of otpauth
//! URIs becomes an active enrollment, and the user goes on with the same
//! authenticator app and the same backup codes.
//!
//! 1. Describe the factor: an [`ImportedFactor`] from the secret (base32,
//!    hex or an otpauth URI) and its [`TotpParams`], then optionally its
//!    `T0` ([`ImportedFactor::with_t0`]), the last time step the old system
//!    accepted ([`ImportedFactor::with_last_step`], so a code it already took
//!    is refused: I2 holds across the migration), and its backup codes:
//!    plain ([`ImportedFactor::with_plain_backup_codes`]), or the old
//!    system's hashes ([`ImportedFactor::with_bcrypt_backup_codes`],
//!    [`ImportedFactor::with_pbkdf2_sha512_backup_codes`]).
//! 2. [`Mfa::import`](crate::Mfa::import) seals and hashes it once and saves
//!    it with a compare-and-swap; a host driving the core itself calls
//!    [`ImportedFactor::seal`], then [`MfaEnrollment::import`] on the user's
//!    record.
//!
//! Every conversion is checked: a secret under 128 bits is
//! [`Error::WeakSecret`] (RFC 4226, requirement R6), anything that cannot be
//! converted is [`Error::InvalidImport`], a user whose factor is already
//! active is [`Error::MfaAlreadyEnabled`]. Nothing is written on an error.
//!
//! **Plain codes** are hashed into the crate's scheme at import (Argon2id, a
//! salt per code, the pepper) under a keyed locator, so an attempt still
//! costs at most one Argon2 evaluation; [`CodeCase`] says whether typed input
//! is folded to lower case, which is right only when the source's codes are
//! single-case. **Hashed codes** keep their scheme until the user
//! regenerates: each works once, a failed attempt costs one slow hash per
//! unused legacy code on the service's bounded hashing pool, and
//! [`MfaStatus::legacy_backup_codes`](crate::MfaStatus::legacy_backup_codes)
//! and [`SecurityEvent::LegacyBackupCodeUsed`] tell the host to prompt
//! regeneration.
//!
//! ```
//! use mfa::import::{CodeCase, ImportedFactor};
//! use mfa::totp::TotpParams;
//! # let ctx = mfa::testkit::test_config();
//! # let now = 1_700_000_000;
//!
//! // django-otp: a hex key, the last step it accepted, static tokens.
//! let factor = ImportedFactor::from_hex("3132333435363738393031323334353637383930", TotpParams::default())?
//!     .with_last_step(56_666_665)
//!     .with_plain_backup_codes(["abcd2345", "efgh6723"], CodeCase::Insensitive)?;
//! let sealed = factor.seal(&ctx, "user-1", now, &mut rand::rng())?;
//! let step = mfa::MfaEnrollment::default().import(&sealed, "user-1", now);
//! assert!(step.outcome.is_ok() && step.state.is_active());
//! assert_eq!(step.state.status(&ctx, now).backup_codes_remaining, 2);
//!
//! // Too short a secret is refused with a typed error.
//! let short = ImportedFactor::from_base32("JBSWY3DPEHPK3PXP", TotpParams::default());
//! assert!(matches!(short, Err(mfa::Error::WeakSecret { bits: 80 })));
//! # Ok::<(), mfa::Error>(())
//! ```

use std::fmt;

use rand::CryptoRng;
use zeroize::Zeroizing;

use crate::backup::{
    ForeignCode, ImportedCodes, LEGACY_PEPPER, LegacyHash, MAX_FOREIGN_LEN, MAX_LEGACY_WORK,
    Pbkdf2Hash, StoredBackupCodes, bcrypt_cost, bcrypt_work,
};
use crate::enrollment::{ActiveFactor, FactorState, MfaEnrollment, TotpApp, Transition};
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::keys::Envelope;
use crate::policy::MfaContext;
use crate::totp::{Algorithm, TotpParams, TotpSecret};

/// The most backup codes one factor may bring.
const MAX_IMPORTED_CODES: usize = crate::backup::StoredBackupCodes::MAX;
/// The fewest characters of a plain backup code.
pub const MIN_PLAIN_CODE_LEN: usize = 6;
/// The fewest secret bits a plain backup code may have, as its shape tells
/// them ([`ImportedFactor::with_plain_backup_codes`]).
pub const MIN_PLAIN_CODE_BITS: f64 = 20.0;
/// What a wrong code may cost an imported set of legacy hashes (bcrypt,
/// PBKDF2), in native Argon2 attempts (OWASP's parameters): each wrong code
/// checks every unused legacy hash, so a set that would cost more is
/// refused ([`ImportedFactor::with_bcrypt_backup_codes`]).
pub const MAX_LEGACY_WORK_ATTEMPTS: u64 = MAX_LEGACY_WORK / 100;

/// Whether typed backup codes are compared with their case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeCase {
    /// Case matters: mixed-case codes (Laravel Fortify's `Str::random`), or
    /// codes of unknown origin. What the user typed is compared as it is.
    Sensitive,
    /// Letters are folded to lower case, at import and on every attempt:
    /// only for sources whose codes are single-case (django-otp, ASP.NET
    /// Core Identity, Ory Kratos), where folding loses no entropy and
    /// forgives a user who types the other case.
    Insensitive,
}

/// A factor exported from another system, checked and ready to seal.
///
/// Holds the TOTP secret and any plain backup codes: wiped on drop, `Debug`
/// prints no secret, no `Clone`, no `Serialize`.
pub struct ImportedFactor {
    secret: TotpSecret,
    params: TotpParams,
    t0: u64,
    last_step: Option<u64>,
    codes: Codes,
}

enum Codes {
    None,
    Plain {
        codes: Vec<Zeroizing<Vec<u8>>>,
        case_sensitive: bool,
    },
    Bcrypt {
        hashes: Vec<String>,
        pepper: Zeroizing<String>,
    },
    Pbkdf2Sha512 {
        hashes: Vec<String>,
    },
}

impl ImportedFactor {
    /// A factor with `secret` and its `params`.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] for parameters outside RFC 6238's ranges
    /// (6 to 8 digits, a step of 1 to 300 seconds).
    pub fn new(secret: TotpSecret, params: TotpParams) -> Result<Self> {
        params
            .validate()
            .map_err(|_| Error::InvalidImport("the TOTP parameters are out of range"))?;
        Ok(ImportedFactor {
            secret,
            params,
            t0: 0,
            last_step: None,
            codes: Codes::None,
        })
    }

    /// A factor whose secret is RFC 4648 base32 (case-insensitive, spaces
    /// and padding ignored), as devise-two-factor, GitLab, Fortify, ASP.NET
    /// Core Identity and otpauth URIs keep it.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] if the text is not base32 or the parameters
    /// are out of range; [`Error::WeakSecret`] under 128 bits.
    pub fn from_base32(text: &str, params: TotpParams) -> Result<Self> {
        let bytes = crate::totp::base32_bytes(text)
            .ok_or(Error::InvalidImport("the secret is not base32"))?;
        Self::new(secret_from_bytes(&bytes)?, params)
    }

    /// A factor whose secret is hexadecimal, as django-otp keeps it
    /// (`TOTPDevice.key`).
    ///
    /// # Errors
    /// [`Error::InvalidImport`] if the text is not hex or the parameters are
    /// out of range; [`Error::WeakSecret`] under 128 bits.
    pub fn from_hex(text: &str, params: TotpParams) -> Result<Self> {
        let text = text.trim();
        if !text.len().is_multiple_of(2) {
            return Err(Error::InvalidImport("the secret is not hex"));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(text.len() / 2));
        for pair in text.as_bytes().chunks(2) {
            let digit = |b: u8| (b as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => bytes.push((high * 16 + low) as u8),
                _ => return Err(Error::InvalidImport("the secret is not hex")),
            }
        }
        Self::new(secret_from_bytes(&bytes)?, params)
    }

    /// A factor from an `otpauth://totp/…?secret=…` URI (Google's Key URI
    /// Format), parsed by `totp-rs`: `secret` (unpadded base32, as the format
    /// asks), and `algorithm` (`SHA1`, `SHA256`, `SHA512`, any case), `digits`
    /// and `period` where given (RFC 6238's defaults otherwise); a label's
    /// issuer must agree with an `issuer` parameter; other parameters are
    /// ignored.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] for anything but a TOTP otpauth URI with a
    /// base32 secret and parameters in range; [`Error::WeakSecret`] under
    /// 128 bits.
    pub fn from_otpauth_uri(uri: &str) -> Result<Self> {
        let parsed = totp_rs::Totp::from_url_unchecked(uri.trim())
            .map_err(|_| Error::InvalidImport("not an otpauth://totp/ URI with a base32 secret"))?;
        let algorithm = match parsed.algorithm() {
            totp_rs::Algorithm::SHA1 => Algorithm::Sha1,
            totp_rs::Algorithm::SHA256 => Algorithm::Sha256,
            totp_rs::Algorithm::SHA512 => Algorithm::Sha512,
            _ => return Err(Error::InvalidImport("unsupported TOTP algorithm")),
        };
        let params = TotpParams {
            algorithm,
            digits: parsed.digits(),
            period: parsed.step(),
        };
        Self::new(secret_from_bytes(parsed.secret().as_ref())?, params)
    }

    /// Sets the unix time at which the old system's step 0 began
    /// (django-otp's `t0`; 0 everywhere else).
    pub fn with_t0(mut self, t0: u64) -> Self {
        self.t0 = t0;
        self
    }

    /// Sets the last time step the old system accepted, counted as it
    /// counted them (`(unix time − t0) / step`: django-otp's `last_t`,
    /// devise-two-factor's `consumed_timestep`): a code of that step or an
    /// earlier one is refused after the import, as it was before.
    pub fn with_last_step(mut self, step: u64) -> Self {
        self.last_step = Some(step);
        self
    }

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
    /// cost more than [`MAX_LEGACY_WORK_ATTEMPTS`] native Argon2 attempts is
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

    /// Refuses a `T0` or a last step more than one time step after `now`:
    /// the factor would silently accept no code until then.
    fn check_time(&self, now: u64) -> Result<()> {
        let step = self.params.period;
        if self.t0 > now.saturating_add(step) {
            return Err(Error::InvalidImport(
                "T0 is more than one time step in the future",
            ));
        }
        let current = now.saturating_sub(self.t0) / step;
        if self
            .last_step
            .is_some_and(|last| last > current.saturating_add(1))
        {
            return Err(Error::InvalidImport(
                "the last step used is more than one time step in the future",
            ));
        }
        Ok(())
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

    /// Plain backup codes to hash with Argon2id at sealing.
    pub fn plain_backup_codes(&self) -> usize {
        match &self.codes {
            Codes::Plain { codes, .. } => codes.len(),
            _ => 0,
        }
    }

    /// Backup codes kept as the old system's hashes.
    pub fn legacy_backup_codes(&self) -> usize {
        match &self.codes {
            Codes::Bcrypt { hashes, .. } | Codes::Pbkdf2Sha512 { hashes } => hashes.len(),
            _ => 0,
        }
    }

    /// Seals the factor for `user_id`: the secret encrypted under the
    /// keyring's primary key, plain backup codes hashed with the policy's
    /// Argon2 parameters (one evaluation each: this is the slow step, done
    /// once however often the save is retried), a devise pepper sealed.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] for two equal plain codes, and for a `T0` or
    /// a last step more than one time step after `now` (the factor would
    /// accept no code until then); key and hashing failures.
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        config: &MfaContext,
        user_id: &str,
        now: u64,
        rng: &mut R,
    ) -> Result<SealedImport> {
        self.check_time(now)?;
        let keyring = config.keyring();
        let argon2 = config.policy().backup_codes.argon2;
        let legacy = |hashes: &[String]| {
            hashes
                .iter()
                .map(|hash| LegacyHash {
                    hash: hash.clone(),
                    used_at: None,
                })
                .collect()
        };
        let backup_codes = match &self.codes {
            Codes::None => StoredBackupCodes::import_plain(keyring, argon2, &[], true, now, rng)?,
            Codes::Plain {
                codes,
                case_sensitive,
            } => {
                StoredBackupCodes::import_plain(keyring, argon2, codes, *case_sensitive, now, rng)?
            }
            Codes::Bcrypt { hashes, pepper } => {
                let pepper = if pepper.is_empty() {
                    None
                } else {
                    Some(Envelope::seal(
                        keyring,
                        LEGACY_PEPPER,
                        user_id,
                        pepper.as_bytes(),
                        rng,
                    )?)
                };
                let codes = ImportedCodes::Bcrypt {
                    pepper,
                    hashes: legacy(hashes),
                };
                StoredBackupCodes::import_legacy(keyring, argon2, codes, now)
            }
            Codes::Pbkdf2Sha512 { hashes } => {
                let codes = ImportedCodes::Pbkdf2Sha512 {
                    hashes: legacy(hashes),
                };
                StoredBackupCodes::import_legacy(keyring, argon2, codes, now)
            }
        };
        Ok(SealedImport {
            user_id: user_id.to_owned(),
            secret: Envelope::seal_secret(keyring, user_id, &self.secret, rng)?,
            totp: self.params,
            t0: self.t0,
            last_step: self.last_step,
            backup_codes,
        })
    }
}

impl fmt::Debug for ImportedFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedFactor")
            .field("params", &self.params)
            .field("t0", &self.t0)
            .field("last_step", &self.last_step)
            .field("plain_backup_codes", &self.plain_backup_codes())
            .field("legacy_backup_codes", &self.legacy_backup_codes())
            .finish_non_exhaustive()
    }
}

/// An [`ImportedFactor`] sealed for one user: the secret encrypted, the
/// backup codes hashed. Holds nothing in clear, so a retry may apply it
/// again; apply it with [`MfaEnrollment::import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedImport {
    user_id: String,
    secret: Envelope,
    totp: TotpParams,
    t0: u64,
    last_step: Option<u64>,
    backup_codes: StoredBackupCodes,
}

impl SealedImport {
    /// The backup codes it brings, legacy ones included.
    pub fn backup_codes(&self) -> &StoredBackupCodes {
        &self.backup_codes
    }
}

impl MfaEnrollment {
    /// Makes an imported factor the user's active factor: from no factor or
    /// a pending setup (which it replaces), never over an active one. The
    /// epoch moves on as when a setup is confirmed (I12); the last step the
    /// old system accepted is the replay mark (I2). Reports
    /// [`SecurityEvent::FactorImported`].
    ///
    /// Errors: [`Error::MfaAlreadyEnabled`]; [`Error::InvalidInput`] if
    /// `sealed` was sealed for another user. Nothing changes then.
    pub fn import(self, sealed: &SealedImport, user_id: &str, now: u64) -> Transition<()> {
        let refused = match &self.factor {
            FactorState::Active(_) => Some(Error::MfaAlreadyEnabled),
            _ if sealed.user_id != user_id => Some(Error::InvalidInput(
                "the factor was sealed for another user",
            )),
            _ => None,
        };
        if let Some(error) = refused {
            return refuse(self, error);
        }
        let codes = &sealed.backup_codes;
        let event = SecurityEvent::FactorImported {
            backup_codes: codes.remaining() - codes.legacy_remaining(),
            legacy_backup_codes: codes.legacy_remaining(),
        };
        let app = TotpApp {
            secret: sealed.secret.clone(),
            totp: sealed.totp,
            last_step: sealed.last_step,
            t0: sealed.t0,
        };
        let active = ActiveFactor::new(now, Some(app), sealed.backup_codes.clone());
        Transition {
            state: MfaEnrollment {
                factor: FactorState::Active(active),
                epoch: self.epoch.next(),
                logins: self.logins,
                passkey_registration: None,
                spent: self.spent,
            },
            changed: true,
            outcome: Ok(()),
            events: vec![event],
        }
    }
}

impl MfaEnrollment {
    /// Whether this record's active factor is `factor` already: the same
    /// secret (compared in constant time), parameters and `T0`. An importer
    /// run again on the same input (after a crash, say) counts such a user
    /// as done, where [`MfaEnrollment::import`] answers
    /// [`Error::MfaAlreadyEnabled`]; any other active factor stays a
    /// refusal. Backup codes are not compared: they may have been used or
    /// regenerated since.
    ///
    /// # Errors
    /// Those of opening the stored secret ([`Error::UnknownKey`], or
    /// [`Error::CorruptRecord`] for a secret sealed for another user).
    pub fn holds_imported(
        &self,
        config: &MfaContext,
        user_id: &str,
        factor: &ImportedFactor,
    ) -> Result<bool> {
        let FactorState::Active(ActiveFactor { app: Some(app), .. }) = &self.factor else {
            return Ok(false);
        };
        if app.totp != factor.params || app.t0 != factor.t0 {
            return Ok(false);
        }
        let secret = app.secret.open_secret(config.keyring(), user_id)?;
        Ok(bool::from(subtle::ConstantTimeEq::ct_eq(
            secret.as_bytes(),
            factor.secret.as_bytes(),
        )))
    }
}

/// An import run by [`Mfa::import`](crate::Mfa::import): the factor, sealed
/// on the first run of the transition that finds no active factor, and the
/// same sealed factor on every retry after a conflict (I13: its plain codes
/// are hashed once).
pub(crate) struct Sealing {
    factor: ImportedFactor,
    sealed: Option<SealedImport>,
}

impl Sealing {
    pub(crate) fn new(factor: ImportedFactor) -> Self {
        Sealing {
            factor,
            sealed: None,
        }
    }

    /// Locks a sealing shared by an operation's retries. Sealing stores a
    /// whole sealed factor or nothing, so a poisoned lock holds a consistent value.
    pub(crate) fn lock(shared: &std::sync::Mutex<Self>) -> std::sync::MutexGuard<'_, Self> {
        shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the transition on `record` would run Argon2: only to seal
    /// plain codes, once, and not over an active factor.
    pub(crate) fn needs_hashing(&self, record: &MfaEnrollment) -> bool {
        !record.is_active() && self.sealed.is_none() && self.factor.plain_backup_codes() > 0
    }

    /// [`MfaEnrollment::import`], sealing the factor first if this is the
    /// first run that gets that far.
    pub(crate) fn apply<R: CryptoRng + ?Sized>(
        &mut self,
        record: MfaEnrollment,
        config: &MfaContext,
        user_id: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<()> {
        if !record.is_active() && self.sealed.is_none() {
            match self.factor.seal(config, user_id, now, rng) {
                Ok(sealed) => self.sealed = Some(sealed),
                Err(error) => return refuse(record, error),
            }
        }
        match &self.sealed {
            Some(sealed) => record.import(sealed, user_id, now),
            None => refuse(record, Error::MfaAlreadyEnabled),
        }
    }
}

fn refuse(state: MfaEnrollment, error: Error) -> Transition<()> {
    Transition {
        state,
        changed: false,
        outcome: Err(error),
        events: Vec::new(),
    }
}

/// A secret of `bytes`, refused as weak under 128 bits.
fn secret_from_bytes(bytes: &[u8]) -> Result<TotpSecret> {
    if bytes.len() < TotpSecret::MIN_LEN {
        return Err(Error::WeakSecret {
            bits: bytes.len() * 8,
        });
    }
    TotpSecret::from_bytes(bytes).map_err(|_| Error::InvalidImport("the secret is over 512 bits"))
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
