//! Charge before work (I16): a code whose check runs a slow hash is counted
//! toward the lockout, and that count saved, before the hash runs. The hash
//! then runs once for the operation (I13), against the record as it stands
//! after the wait for a hashing permit, and what it found is applied by the
//! operation's transition (and by every retry of it) without hashing again.
//! A success gives the charge back in the save that consumes the code; a
//! wrong code leaves it counted, with nothing more to save.
//!
//! The pure transitions that take a `&str` code check it in one go (hash,
//! then count); [`Mfa`](crate::Mfa) drives this module's two halves.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::{FactorState, MfaEnrollment, Transition};
use crate::backup::{Found, Reissue};
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::lockout::Lock;
use crate::policy::MfaContext;

/// A failure counted before the slow hash of its attempt ran.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Charge {
    /// Consecutive failures, this one included.
    failures: u32,
    /// The lock this failure started, if any.
    lock: Option<Lock>,
}

impl Charge {
    /// The events of this failure, reported once the hash found the code
    /// wrong (a right code gives the charge back and reports none of them).
    pub(super) fn events(self) -> impl Iterator<Item = SecurityEvent> {
        let consecutive_failures = self.failures;
        std::iter::once(SecurityEvent::AttemptFailed {
            consecutive_failures,
        })
        .chain(self.lock.map(|lock| SecurityEvent::LockoutStarted {
            retry_after: lock.retry_after(),
            consecutive_failures,
        }))
    }
}

/// An attempt that was charged and hashed: what its operation applies, on
/// any retry, without hashing again.
#[derive(Debug)]
pub(crate) struct Paid {
    pub(super) charge: Charge,
    pub(super) found: Found,
    /// The new code for the place of the one found, when the policy
    /// reissues codes and the operation shows it ([`SubmittedCode::new`]).
    pub(super) reissue: Option<Reissue>,
}

/// A submitted code as a transition checks it: the code, and what its
/// charge and hash found if the service ran them first.
#[derive(Clone, Copy)]
pub(crate) struct CodeCheck<'a> {
    pub(crate) code: &'a str,
    pub(crate) paid: Option<&'a Paid>,
}

impl<'a> CodeCheck<'a> {
    /// A code checked in one go: hashed, then counted if wrong.
    pub(crate) fn unpaid(code: &'a str) -> Self {
        CodeCheck { code, paid: None }
    }
}

/// A code submitted to one operation of the service, shared by its
/// retries: charged and hashed at most once.
pub(crate) struct SubmittedCode {
    code: Zeroizing<String>,
    paid: OnceLock<Paid>,
    shows_new_code: bool,
}

impl SubmittedCode {
    /// A code for an operation; `shows_new_code` when its output can show a
    /// backup code reissued in the used one's place (a login or step-up,
    /// not the re-authentication of a management operation).
    pub(crate) fn new(code: &str, shows_new_code: bool) -> Self {
        SubmittedCode {
            code: Zeroizing::new(code.to_owned()),
            paid: OnceLock::new(),
            shows_new_code,
        }
    }

    /// Whether a backup code found for it is reissued.
    pub(crate) fn shows_new_code(&self) -> bool {
        self.shows_new_code
    }

    /// The code, with its charge and what its hash found once they exist.
    pub(crate) fn check(&self) -> CodeCheck<'_> {
        CodeCheck {
            code: &self.code,
            paid: self.paid.get(),
        }
    }

    /// Records the charge, the hash's finding and the code reissued for it;
    /// the first record stands.
    pub(crate) fn pay(&self, charge: Charge, found: Found, reissue: Option<Reissue>) {
        let _ = self.paid.set(Paid {
            charge,
            found,
            reissue,
        });
    }
}

impl MfaEnrollment {
    /// Counts one failure on the active factor before the slow hash of an
    /// attempt runs (I16); the service saves it, then hashes. The charge
    /// may start a lock, which refuses every later attempt without hashing.
    pub(crate) fn charge(self, config: &MfaContext, now: u64) -> Transition<Charge> {
        let mut state = self;
        let FactorState::Active(active) = &mut state.factor else {
            return Transition {
                state,
                changed: false,
                outcome: Err(Error::MfaNotEnabled),
                events: Vec::new(),
            };
        };
        let lock = active
            .attempts
            .record_failure(&config.policy().lockout, now);
        let charge = Charge {
            failures: active.attempts.failures(),
            lock,
        };
        Transition {
            state,
            changed: true,
            outcome: Ok(charge),
            events: Vec::new(),
        }
    }

    /// The slow half of checking a backup code: what its hash finds in the
    /// record as it stands ([`Found::Nothing`] without an active factor or
    /// for a code that is not a backup code of the set's shape).
    ///
    /// # Errors
    /// Those of [`StoredBackupCodes::find`](crate::backup::StoredBackupCodes).
    pub(crate) fn find_backup_code(
        &self,
        config: &MfaContext,
        user_id: &str,
        code: &str,
    ) -> Result<Found> {
        let FactorState::Active(active) = &self.factor else {
            return Ok(Found::Nothing);
        };
        match active.backup_codes.parse_attempt(code) {
            Ok(input) => active.backup_codes.find(&input, config.keyring(), user_id),
            Err(_) => Ok(Found::Nothing),
        }
    }

    /// The new code for the place of the backup code `found` names, when the
    /// policy reissues codes: one more Argon2 evaluation, on the same permit
    /// as the hash that found it, and only for a right code.
    ///
    /// # Errors
    /// Those of hashing the new code.
    pub(crate) fn reissue_backup_code<R: rand::CryptoRng + ?Sized>(
        &self,
        config: &MfaContext,
        found: &Found,
        rng: &mut R,
    ) -> Result<Option<Reissue>> {
        match &self.factor {
            FactorState::Active(active) if config.policy().backup_codes.reissue_on_use => {
                active.backup_codes.reissue(found, config.keyring(), rng)
            }
            _ => Ok(None),
        }
    }
}
