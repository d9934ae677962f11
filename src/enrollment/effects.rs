//! What every transition shares: the effects it collects (changed, events,
//! a reissued code), how it exits, the shape of a change to an active
//! factor, a new secret, and the proofs it returns.

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::charge::{Charge, Paid};
use super::{ActiveFactor, FactorState, MfaEnrollment, TotpSetup, Transition, VerifiedBy};
use crate::backup::BackupCode;
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::keys::Envelope;
use crate::lockout::Attempts;
use crate::policy::MfaContext;
use crate::session::{Epoch, Proof, ProofMethod};
use crate::totp::{self, TotpCheck, TotpCode, TotpParams, TotpSecret, labelled};

/// Collects what a transition did before it is turned into a [`Transition`].
pub(super) struct Effects {
    pub(super) changed: bool,
    pub(super) events: Vec<SecurityEvent>,
    /// A backup code reissued in the place of the one used, to show once.
    pub(super) reissued: Option<BackupCode>,
}

impl Effects {
    pub(super) fn none() -> Self {
        Effects {
            changed: false,
            events: Vec::new(),
            reissued: None,
        }
    }

    pub(super) fn changed(events: Vec<SecurityEvent>) -> Self {
        Effects {
            changed: true,
            events,
            reissued: None,
        }
    }

    /// Counts a failed attempt — unless it was charged before its hash ran
    /// (I16), when only its events are left to report — and returns the
    /// error to report.
    pub(super) fn fail(
        &mut self,
        attempts: &mut Attempts,
        paid: Option<&Paid>,
        config: &MfaContext,
        now: u64,
    ) -> Error {
        self.fail_charged(attempts, paid.map(|paid| paid.charge), config, now);
        Error::InvalidCode
    }

    /// [`Effects::fail`] for any kind of attempt, with its charge if it was
    /// charged first.
    pub(super) fn fail_charged(
        &mut self,
        attempts: &mut Attempts,
        charge: Option<Charge>,
        config: &MfaContext,
        now: u64,
    ) {
        if let Some(charge) = charge {
            self.events.extend(charge.events());
            return;
        }
        let lock = attempts.record_failure(&config.policy().lockout, now);
        self.changed = true;
        let consecutive_failures = attempts.failures();
        self.events.push(SecurityEvent::AttemptFailed {
            consecutive_failures,
        });
        if let Some(lock) = lock {
            self.events.push(SecurityEvent::LockoutStarted {
                retry_after: lock.retry_after(),
                consecutive_failures,
            });
        }
    }

    /// Ends a transition that may have changed a record holding a secret:
    /// a changed record is about to be written, so it first gets the named
    /// step [`Effects::reseal_under_primary`]; then the one exit.
    pub(super) fn finish<T, R: CryptoRng + ?Sized>(
        mut self,
        mut state: MfaEnrollment,
        outcome: Result<T>,
        ctx: &MfaContext,
        user_id: &str,
        rng: &mut R,
    ) -> Transition<T> {
        if self.changed {
            self.reseal_under_primary(&mut state, ctx, user_id, rng);
        }
        self.exit(state, outcome)
    }

    /// Key rotation (I7): a secret still sealed under an older key is
    /// re-encrypted under the keyring's primary key, on the write that
    /// happens anyway. Left as it is if it cannot be opened (the outcome of
    /// the transition reports that already).
    fn reseal_under_primary<R: CryptoRng + ?Sized>(
        &mut self,
        state: &mut MfaEnrollment,
        ctx: &MfaContext,
        user_id: &str,
        rng: &mut R,
    ) {
        let keyring = ctx.keyring();
        // Without a collection: this runs on every verification's write, and
        // that path allocates nothing but its event list.
        let (secret, replacement) = match &mut state.factor {
            FactorState::Pending(p) => (Some(&mut p.secret), None),
            FactorState::Active(a) => (
                a.app.as_mut().map(|app| &mut app.secret),
                a.replacement.as_mut().map(|r| &mut r.secret),
            ),
            FactorState::Disabled => return,
        };
        for envelope in secret.into_iter().chain(replacement) {
            if envelope.key_id() != keyring.primary_id()
                && let Ok(secret) = envelope.open_secret(keyring, user_id)
                && let Ok(resealed) = Envelope::seal_secret(keyring, user_id, &secret, rng)
            {
                *envelope = resealed;
                self.events.push(SecurityEvent::SecretReencrypted);
            }
        }
    }

    /// The one exit of every transition.
    pub(super) fn exit<T>(self, state: MfaEnrollment, outcome: Result<T>) -> Transition<T> {
        Transition {
            state,
            changed: self.changed,
            outcome,
            events: self.events,
        }
    }
}

/// Draws a new TOTP secret under the policy, sealed for `user_id`, and what
/// the user's app needs to add it; pending until `now` plus the policy's
/// pending lifetime.
pub(super) fn new_secret<R: CryptoRng + ?Sized>(
    config: &MfaContext,
    user_id: &str,
    account_name: &str,
    now: u64,
    rng: &mut R,
) -> Result<(Envelope, TotpSetup)> {
    let policy = config.policy();
    let secret = TotpSecret::generate_with_len(policy.totp.secret_len, rng)?;
    let labelled = labelled(&secret, policy.totp.params(), &policy.issuer, account_name)?;
    let uri = labelled
        .to_url()
        .map_err(|_| Error::InvalidInput("the account name is not allowed"))?;
    let sealed = Envelope::seal_secret(config.keyring(), user_id, &secret, rng)?;
    let setup = TotpSetup {
        totp: labelled,
        uri: Zeroizing::new(uri),
        secret_base32: secret.to_base32(),
        expires_at: now.saturating_add(policy.pending_ttl_secs),
    };
    Ok((sealed, setup))
}

/// Checks the first code of an app that waits for one (a setup, or a
/// replacement): its sealed `secret` and parameters, pending until
/// `expires_at`. The step the code matched, or `None` for a code of no step
/// of the window; the caller has checked the failure counter.
pub(super) fn first_code(
    config: &MfaContext,
    user_id: &str,
    secret: &Envelope,
    totp: TotpParams,
    expires_at: u64,
    code: &str,
    now: u64,
) -> Result<Option<u64>> {
    if now >= expires_at {
        return Err(Error::PendingExpired);
    }
    let code = TotpCode::parse(code, totp.digits)?;
    let secret = secret.open_secret(config.keyring(), user_id)?;
    let skew = config.policy().totp.skew;
    Ok(match totp::check(&secret, totp, skew, &code, now, None)? {
        TotpCheck::Accepted(matched) => Some(matched.step),
        // A new app has no used step: a replay is a code of no step.
        TotpCheck::Replayed { .. } | TotpCheck::Rejected => None,
    })
}

/// A transition that refuses before changing anything.
pub(crate) fn unchanged<T>(state: MfaEnrollment, error: Error) -> Transition<T> {
    Effects::none().exit(state, Err(error))
}

impl MfaEnrollment {
    /// The shape of every transition of an active factor that keeps it
    /// active: takes the factor out (answering [`Error::MfaNotEnabled`] and
    /// changing nothing if there is none), lets `change` act on it and on the
    /// epoch, recording what it did in the effects, then puts the record back
    /// together and finishes the transition.
    pub(super) fn change_active<T, R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        rng: &mut R,
        change: impl FnOnce(&mut ActiveFactor, &mut Epoch, &mut Effects, &mut R) -> Result<T>,
    ) -> Transition<T> {
        let mut active = match self.factor {
            FactorState::Active(active) => active,
            _ => return unchanged(self, Error::MfaNotEnabled),
        };
        let mut epoch = self.epoch;
        let mut effects = Effects::none();
        let outcome = change(&mut active, &mut epoch, &mut effects, rng);
        let state = MfaEnrollment {
            factor: FactorState::Active(active),
            epoch,
            ..self
        };
        effects.finish(state, outcome, config, user_id, rng)
    }
}

/// What proved the user in a re-authentication ([`Reauth`]).
pub(super) enum Reauthenticated {
    /// A recent proof from the session.
    Proof(Proof),
    /// A code, checked now.
    Code(VerifiedBy),
}

impl Reauthenticated {
    /// The proof to keep once the operation moved the record to `epoch`:
    /// the session's, carried over, or the code's, verified `now`.
    pub(super) fn proof_under(self, epoch: Epoch, now: u64, user_id: &str) -> Proof {
        match self {
            Reauthenticated::Proof(proof) => proof.under(epoch),
            Reauthenticated::Code(by) => proof_of(by, now, epoch, user_id),
        }
    }
}

/// The proof a successful check of a code by `user_id` gives.
pub(super) fn proof_of(by: VerifiedBy, now: u64, epoch: Epoch, user_id: &str) -> Proof {
    let method = match by {
        VerifiedBy::Totp(_) => ProofMethod::Totp,
        VerifiedBy::BackupCode => ProofMethod::BackupCode,
        VerifiedBy::Passkey => ProofMethod::Passkey,
    };
    Proof::new(method, now, epoch, user_id)
}
