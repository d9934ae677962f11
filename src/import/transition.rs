//! The record's import transition, and whether a record holds an imported
//! factor already (for an importer run again on the same input).

use super::{ImportedFactor, SealedImport};
use crate::enrollment::{ActiveFactor, FactorState, MfaEnrollment, TotpApp, Transition, unchanged};
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::policy::MfaContext;

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
            return unchanged(self, error);
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
