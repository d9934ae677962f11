//! Asserting with a passkey: the second step of a login, a step-up and a
//! passwordless login, each charged before its signature is checked (I16)
//! and single-use (I14).

use std::sync::OnceLock;

use rand::CryptoRng;

use crate::enrollment::charge::Charge;
use crate::enrollment::effects::{Effects, proof_of, unchanged};
use crate::enrollment::{
    ActiveFactor, FactorState, MfaEnrollment, Transition, Verified, VerifiedBy,
};
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::passkey::{Asserted, ChallengeKind, PasskeyChallenge, PublicKeyCredential};
use crate::policy::MfaContext;
use crate::session::{LoginChallenge, user_digest};

use super::challenge_id;

/// Declares the public completions of a challenge the host kept
/// ([`PasskeyChallenge`]), which differ only in the kind of challenge they
/// accept: each checks the assertion and spends the challenge
/// ([`MfaEnrollment::spend_checked`]).
macro_rules! spend_challenge {
    ($($(#[$doc:meta])* pub fn $name:ident => $kind:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name<R: CryptoRng + ?Sized>(
            self,
            config: &MfaContext,
            user_id: &str,
            challenge: &PasskeyChallenge,
            credential: &PublicKeyCredential,
            now: u64,
            rng: &mut R,
        ) -> Transition<Verified> {
            let assertion = Assertion::unpaid(credential);
            self.spend_checked(config, user_id, $kind, challenge, assertion, now, rng)
        }
    )*};
}

/// An assertion that was charged and checked: what its operation
/// applies, on any retry, without checking again.
#[derive(Debug)]
pub(crate) struct PaidAssertion {
    pub(crate) charge: Charge,
    pub(crate) asserted: Option<Asserted>,
}

/// A submitted assertion as a transition checks it: the browser's
/// answer, and what its charge and check found if the service ran them
/// first (I16).
#[derive(Clone, Copy)]
pub(crate) struct Assertion<'a> {
    pub(crate) credential: &'a PublicKeyCredential,
    pub(crate) paid: Option<&'a PaidAssertion>,
}

impl<'a> Assertion<'a> {
    pub(crate) fn unpaid(credential: &'a PublicKeyCredential) -> Self {
        Assertion {
            credential,
            paid: None,
        }
    }
}

/// An assertion submitted to one operation of the service, shared by
/// its retries: charged and checked at most once.
pub(crate) struct SubmittedAssertion {
    pub(crate) credential: PublicKeyCredential,
    pub(crate) kind: ChallengeKind,
    pub(crate) state: serde_json::Value,
    paid: OnceLock<PaidAssertion>,
}

impl SubmittedAssertion {
    pub(crate) fn new(
        credential: &PublicKeyCredential,
        kind: ChallengeKind,
        state: &serde_json::Value,
    ) -> Self {
        SubmittedAssertion {
            credential: credential.clone(),
            kind,
            state: state.clone(),
            paid: OnceLock::new(),
        }
    }

    pub(crate) fn assertion(&self) -> Assertion<'_> {
        Assertion {
            credential: &self.credential,
            paid: self.paid.get(),
        }
    }

    /// Records the charge and the check's finding; the first stands.
    pub(crate) fn pay(&self, charge: Charge, asserted: Option<Asserted>) {
        let _ = self.paid.set(PaidAssertion { charge, asserted });
    }

    pub(crate) fn is_paid(&self) -> bool {
        self.paid.get().is_some()
    }
}

impl MfaContext {
    /// Begins a passwordless login: request options for any
    /// discoverable credential (no user named), and the challenge to
    /// keep until the browser answers
    /// ([`MfaEnrollment::complete_passwordless`]). Writes nothing.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] without a relying party, or when the
    /// policy turned passwordless login off.
    pub fn begin_passwordless<R: CryptoRng + ?Sized>(
        &self,
        now: u64,
        rng: &mut R,
    ) -> Result<PasskeyChallenge> {
        if !self.policy().passkeys.passwordless {
            return Err(Error::InvalidConfig("passwordless login is off"));
        }
        let (options, state) = self.relying_party()?.start_discoverable()?;
        Ok(PasskeyChallenge {
            id: challenge_id(rng),
            kind: ChallengeKind::Passwordless,
            user: None,
            epoch: None,
            expires_at: now.saturating_add(self.policy().login_challenge_ttl_secs),
            state,
            options: Some(options),
        })
    }
}

impl PasskeyChallenge {
    /// Whether this challenge completes the given ceremony for this
    /// record now: its kind, its user and epoch (a step-up), unexpired,
    /// not spent (I14).
    pub(crate) fn is_open(
        &self,
        kind: ChallengeKind,
        record: &MfaEnrollment,
        user_id: &str,
        now: u64,
    ) -> bool {
        let bound = match kind {
            ChallengeKind::StepUp => {
                self.user == Some(user_digest(user_id)) && self.epoch == Some(record.epoch)
            }
            _ => true,
        };
        record.is_active()
            && self.kind == kind
            && bound
            && now < self.expires_at
            && !record.spent.is_spent(&self.id, self.expires_at)
    }
}

impl MfaEnrollment {
    /// Begins a step-up with a passkey: request options allowing the
    /// user's passkeys, and the challenge to keep until the browser
    /// answers ([`MfaEnrollment::step_up_with_passkey`]). Writes nothing.
    ///
    /// # Errors
    /// [`Error::MfaNotEnabled`] without passkeys; [`Error::InvalidConfig`]
    /// without a relying party.
    pub fn begin_passkey_step_up<R: CryptoRng + ?Sized>(
        &self,
        config: &MfaContext,
        user_id: &str,
        now: u64,
        rng: &mut R,
    ) -> Result<PasskeyChallenge> {
        if self.passkeys().is_empty() {
            return Err(Error::MfaNotEnabled);
        }
        let (options, state) = config
            .relying_party()?
            .start_authentication(self.passkeys())?;
        Ok(PasskeyChallenge {
            id: challenge_id(rng),
            kind: ChallengeKind::StepUp,
            user: Some(user_digest(user_id)),
            epoch: Some(self.epoch),
            expires_at: now.saturating_add(config.policy().login_challenge_ttl_secs),
            state,
            options: Some(options),
        })
    }

    /// The passkey request of a login's second step, when the set has
    /// passkeys and the context a relying party.
    pub(crate) fn passkey_request(
        &self,
        config: &MfaContext,
    ) -> Option<(crate::passkey::RequestChallengeResponse, serde_json::Value)> {
        let passkeys = self.passkeys();
        if passkeys.is_empty() {
            return None;
        }
        config
            .relying_party()
            .ok()?
            .start_authentication(passkeys)
            .ok()
    }

    /// Completes a login's second step with a passkey, under a challenge
    /// still open (as [`MfaEnrollment::complete_login`]): success uses it
    /// up (I12, I14) and gives a proof of method
    /// [`ProofMethod::Passkey`](crate::ProofMethod::Passkey); a failed assertion counts toward the
    /// shared lockout.
    ///
    /// Errors: [`Error::InvalidChallenge`] (nothing counted; also for a
    /// challenge begun without passkeys), [`Error::LockedOut`],
    /// [`Error::InvalidPasskey`] (counted).
    pub fn complete_login_with_passkey<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        challenge: &LoginChallenge,
        credential: &PublicKeyCredential,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        let assertion = Assertion::unpaid(credential);
        self.complete_login_with_passkey_checked(config, user_id, challenge, assertion, now, rng)
    }

    pub(crate) fn complete_login_with_passkey_checked<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        challenge: &LoginChallenge,
        assertion: Assertion<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        let Some(state) = challenge.passkey.as_ref() else {
            return unchanged(self, Error::InvalidChallenge);
        };
        if challenge.user_id != user_id || !self.is_open(challenge, now) {
            return unchanged(self, Error::InvalidChallenge);
        }
        let mut step = self.assert(
            config,
            user_id,
            ChallengeKind::Login,
            state,
            assertion,
            now,
            rng,
        );
        if step.outcome.is_ok() {
            step.state.logins = step.state.logins.saturating_add(1);
        }
        step
    }

    spend_challenge! {
        /// Steps up with a passkey under a challenge of
        /// [`MfaEnrollment::begin_passkey_step_up`], at most once (I14).
        ///
        /// Errors: [`Error::InvalidChallenge`] (another user's, another
        /// epoch's, expired or spent; nothing counted), [`Error::LockedOut`],
        /// [`Error::InvalidPasskey`] (counted).
        pub fn step_up_with_passkey => ChallengeKind::StepUp;

        /// Completes a passwordless login for `user_id`, the owner of the
        /// asserted credential (the store's index names it, I15), at most
        /// once (I14). Every failure is [`Error::InvalidPasskey`], so that it
        /// tells nothing about which credentials exist; a failed assertion
        /// counts toward the user's lockout, and a locked set refuses.
        ///
        /// Errors: [`Error::InvalidPasskey`], [`Error::LockedOut`].
        pub fn complete_passwordless => ChallengeKind::Passwordless;
    }

    /// A step-up or passwordless completion: the challenge open, the
    /// assertion checked, the challenge spent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spend_checked<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        kind: ChallengeKind,
        challenge: &PasskeyChallenge,
        assertion: Assertion<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        let closed = match kind {
            ChallengeKind::Passwordless => Error::InvalidPasskey,
            _ => Error::InvalidChallenge,
        };
        if kind == ChallengeKind::Passwordless && !config.policy().passkeys.passwordless {
            return unchanged(self, closed);
        }
        if !challenge.is_open(kind, &self, user_id, now) {
            return unchanged(self, closed);
        }
        let mut step = self.assert(config, user_id, kind, &challenge.state, assertion, now, rng);
        // Never full for a person; refuse rather than forget.
        if step.outcome.is_ok()
            && !step
                .state
                .spent
                .spend(challenge.id, challenge.expires_at, now)
        {
            return unchanged(step.state, closed);
        }
        step
    }

    /// Checks an assertion on the active set and builds the
    /// verification.
    #[allow(clippy::too_many_arguments)]
    fn assert<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        kind: ChallengeKind,
        state: &serde_json::Value,
        assertion: Assertion<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        let step = self.change_active(config, user_id, rng, |active, epoch, effects, _| {
            let by = active.check_passkey(config, kind, state, assertion, now, effects)?;
            Ok(Verified {
                by,
                backup_codes_remaining: active.backup_codes.remaining(),
                proof: proof_of(by, now, *epoch, user_id),
                new_backup_code: None,
            })
        });
        if kind == ChallengeKind::Passwordless {
            // One answer for every failure but the lock.
            return Transition {
                outcome: step.outcome.map_err(|e| match e {
                    Error::LockedOut { .. } => e,
                    _ => Error::InvalidPasskey,
                }),
                ..step
            };
        }
        step
    }

    /// The slow half of checking an assertion: what `webauthn-rs` finds
    /// against the record as it stands (`None` for any failure).
    pub(crate) fn check_assertion(
        &self,
        config: &MfaContext,
        submitted: &SubmittedAssertion,
    ) -> Option<Asserted> {
        let FactorState::Active(active) = &self.factor else {
            return None;
        };
        active.verify_assertion(
            config,
            submitted.kind,
            &submitted.state,
            &submitted.credential,
        )
    }
}

impl ActiveFactor {
    fn verify_assertion(
        &self,
        config: &MfaContext,
        kind: ChallengeKind,
        state: &serde_json::Value,
        credential: &PublicKeyCredential,
    ) -> Option<Asserted> {
        let id = credential.get_credential_id();
        let stored = self.passkeys.iter().find(|p| p.credential_id() == id)?;
        config
            .relying_party()
            .ok()?
            .verify(credential, kind, state, stored, self.passkey_handle)
            .ok()
    }

    /// Checks one assertion, updating the passkey's counter and the
    /// failure counter in place. An assertion charged before its check
    /// (I16) was admitted while the set was unlocked.
    fn check_passkey(
        &mut self,
        config: &MfaContext,
        kind: ChallengeKind,
        state: &serde_json::Value,
        assertion: Assertion<'_>,
        now: u64,
        effects: &mut Effects,
    ) -> Result<VerifiedBy> {
        let paid = assertion.paid;
        let asserted = match paid {
            Some(paid) => paid.asserted.clone(),
            None => {
                self.attempts.check(&config.policy().lockout, now)?;
                config.relying_party()?;
                self.verify_assertion(config, kind, state, assertion.credential)
            }
        };
        let index = asserted.as_ref().and_then(|asserted| {
            self.passkeys
                .iter()
                .position(|p| p.credential_id == asserted.credential_id)
        });
        let (Some(asserted), Some(index)) = (asserted, index) else {
            effects.fail_charged(&mut self.attempts, paid.map(|p| p.charge), config, now);
            return Err(Error::InvalidPasskey);
        };
        let passkey = &mut self.passkeys[index];
        if (asserted.counter > 0 || passkey.counter > 0) && asserted.counter <= passkey.counter {
            let id = passkey.id.clone();
            effects.fail_charged(&mut self.attempts, paid.map(|p| p.charge), config, now);
            effects
                .events
                .push(SecurityEvent::PasskeyCloneSuspected { passkey: id });
            return Err(Error::InvalidPasskey);
        }
        passkey.counter = asserted.counter;
        passkey.backed_up = asserted.backed_up;
        passkey.last_used_at = Some(now);
        let id = passkey.id.clone();
        self.attempts.reset();
        effects.changed = true;
        effects
            .events
            .push(SecurityEvent::PasskeyUsed { passkey: id });
        Ok(VerifiedBy::Passkey)
    }
}
