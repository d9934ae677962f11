//! Sealing a factor for one user: the secret encrypted, the plain codes
//! hashed once, a devise pepper sealed; and the sealing an import operation
//! keeps across its retries.

use rand::CryptoRng;

use super::ImportedFactor;
use super::factor::Codes;
use crate::backup::{ImportedCodes, LEGACY_PEPPER, LegacyHash, StoredBackupCodes};
use crate::enrollment::{MfaEnrollment, Transition, unchanged};
use crate::error::{Error, Result};
use crate::keys::Envelope;
use crate::policy::MfaContext;
use crate::totp::TotpParams;

impl ImportedFactor {
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

/// An [`ImportedFactor`] sealed for one user: the secret encrypted, the
/// backup codes hashed. Holds nothing in clear, so a retry may apply it
/// again; apply it with [`MfaEnrollment::import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedImport {
    pub(super) user_id: String,
    pub(super) secret: Envelope,
    pub(super) totp: TotpParams,
    pub(super) t0: u64,
    pub(super) last_step: Option<u64>,
    pub(super) backup_codes: StoredBackupCodes,
}

impl SealedImport {
    /// The backup codes it brings, legacy ones included.
    pub fn backup_codes(&self) -> &StoredBackupCodes {
        &self.backup_codes
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
                Err(error) => return unchanged(record, error),
            }
        }
        match &self.sealed {
            Some(sealed) => record.import(sealed, user_id, now),
            None => unchanged(record, Error::MfaAlreadyEnabled),
        }
    }
}
