//! The factor described before sealing: its secret, parameters, `T0`, the
//! old system's last step, and the backup codes it brings.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::totp::{TotpParams, TotpSecret};

/// A factor exported from another system, checked and ready to seal.
///
/// Holds the TOTP secret and any plain backup codes: wiped on drop, `Debug`
/// prints no secret, no `Clone`, no `Serialize`.
pub struct ImportedFactor {
    pub(super) secret: TotpSecret,
    pub(super) params: TotpParams,
    pub(super) t0: u64,
    pub(super) last_step: Option<u64>,
    pub(super) codes: Codes,
}

/// The backup codes a factor brings: none, plain ones to hash at sealing, or
/// the old system's hashes.
pub(super) enum Codes {
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

    /// Refuses a `T0` or a last step more than one time step after `now`:
    /// the factor would silently accept no code until then.
    pub(super) fn check_time(&self, now: u64) -> Result<()> {
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
