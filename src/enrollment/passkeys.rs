//! Passkeys in the factor set: registering (I15), asserting (I14, I16),
//! renaming and removing. Listing, renaming and removing work without the
//! `passkeys` feature; the ceremonies need it.

use rand::CryptoRng;

use super::{FactorState, MfaEnrollment, Reauth, Transition};
use crate::enrollment::charge::Paid;
use crate::error::Error;
use crate::event::SecurityEvent;
use crate::passkey::{PasskeyPolicy, StoredPasskey};
use crate::policy::MfaContext;
use crate::session::Proof;

impl MfaEnrollment {
    /// The passkeys of the active set (none without one).
    pub fn passkeys(&self) -> &[StoredPasskey] {
        match &self.factor {
            FactorState::Active(active) => &active.passkeys,
            _ => &[],
        }
    }

    /// The WebAuthn credential ids the record holds: what a store indexes
    /// in the same atomic write as the record (I15).
    pub fn credential_ids(&self) -> impl Iterator<Item = &[u8]> {
        self.passkeys().iter().map(StoredPasskey::credential_id)
    }

    /// Renames a passkey of the set.
    ///
    /// Errors: [`Error::MfaNotEnabled`], [`Error::PasskeyNotFound`],
    /// [`Error::InvalidInput`] for a name [`PasskeyPolicy::check_name`]
    /// refuses.
    pub fn rename_passkey<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        id: &str,
        name: &str,
        rng: &mut R,
    ) -> Transition<StoredPasskey> {
        self.change_active(config, user_id, rng, |active, _, effects, _| {
            let name = PasskeyPolicy::check_name(name)?;
            let passkey = active
                .passkeys
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or(Error::PasskeyNotFound)?;
            if passkey.name != name {
                passkey.name = name.to_owned();
                effects.changed = true;
                effects.events.push(SecurityEvent::PasskeyRenamed {
                    passkey: passkey.id.clone(),
                });
            }
            Ok(passkey.clone())
        })
    }

    /// Removes a passkey after re-authentication ([`Reauth`]): the
    /// credential authenticates nowhere any more, remembered devices are
    /// forgotten and the epoch moves on (I12). Returns the proof to keep in
    /// the session, under the new epoch.
    ///
    /// Errors: [`Error::MfaNotEnabled`], [`Error::PasskeyNotFound`],
    /// [`Error::LastFactor`] when it is the set's only factor (disable MFA
    /// instead); those of the [`Reauth`].
    pub fn remove_passkey<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        id: &str,
        reauth: Reauth<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<Proof> {
        self.remove_passkey_with(config, user_id, id, (reauth, None), now, rng)
    }

    /// [`MfaEnrollment::remove_passkey`] with what the service's charge and
    /// hash of a [`Reauth::Code`] found (I16).
    pub(crate) fn remove_passkey_with<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        id: &str,
        reauth: (Reauth<'_>, Option<&Paid>),
        now: u64,
        rng: &mut R,
    ) -> Transition<Proof> {
        self.change_active(config, user_id, rng, |active, epoch, effects, _| {
            let index = active
                .passkeys
                .iter()
                .position(|p| p.id == id)
                .ok_or(Error::PasskeyNotFound)?;
            if active.app.is_none() && active.passkeys.len() == 1 {
                return Err(Error::LastFactor);
            }
            let by = active.reauthenticate(reauth, config, user_id, *epoch, now, effects)?;
            let removed = active.passkeys.remove(index);
            active.devices.clear();
            *epoch = epoch.next();
            effects.changed = true;
            effects.events.push(SecurityEvent::PasskeyRemoved {
                passkey: removed.id,
            });
            Ok(by.proof_under(*epoch, now, user_id))
        })
    }
}

#[cfg(feature = "passkeys")]
pub(crate) use ceremonies::SubmittedAssertion;

#[cfg(feature = "passkeys")]
mod ceremonies {
    use std::sync::OnceLock;

    use rand::CryptoRng;

    use crate::backup::FreshCodes;
    use crate::enrollment::charge::Charge;
    use crate::enrollment::effects::{Effects, proof_of, unchanged};
    use crate::enrollment::{
        ActiveFactor, FactorState, MfaEnrollment, Transition, Verified, VerifiedBy, check_proof,
    };
    use crate::error::{Error, Result};
    use crate::event::SecurityEvent;
    use crate::passkey::{
        Asserted, ChallengeKind, CreationChallengeResponse, PasskeyAdded, PasskeyChallenge,
        PasskeyPolicy, PendingPasskey, PublicKeyCredential, RegisterPublicKeyCredential,
        StoredPasskey,
    };
    use crate::policy::MfaContext;
    use crate::session::{LoginChallenge, Proof, ProofMethod, user_digest};

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

    /// A fresh 16-byte challenge id.
    fn challenge_id<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; 16] {
        let mut id = [0; 16];
        rng.fill_bytes(&mut id);
        id
    }

    /// The crate's short id of a new passkey: 64 random bits, base64url.
    fn passkey_id<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
        use base64::Engine as _;
        let mut id = [0u8; 8];
        rng.fill_bytes(&mut id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
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
        /// Begins registering a passkey: creation options excluding the
        /// user's credentials, requiring user verification and a
        /// discoverable credential; the ceremony state waits in the record
        /// (replacing an earlier one) until
        /// [`MfaEnrollment::confirm_passkey_registration`] or
        /// [`Policy::pending_ttl_secs`](crate::Policy::pending_ttl_secs).
        /// Binding a factor needs re-authentication: the host checks the
        /// password, and while MFA is on the session's `proof` must be
        /// recent (I17).
        ///
        /// Errors: [`Error::StepUpRequired`] (MFA on, no proof or an old
        /// one), [`Error::Revoked`], [`Error::LockedOut`],
        /// [`Error::TooManyPasskeys`], [`Error::InvalidConfig`] without a
        /// relying party, [`Error::InvalidInput`] for a bad account name.
        pub fn begin_passkey_registration<R: CryptoRng + ?Sized>(
            self,
            config: &MfaContext,
            user_id: &str,
            account_name: &str,
            proof: Option<&Proof>,
            now: u64,
            rng: &mut R,
        ) -> Transition<CreationChallengeResponse> {
            if let Err(e) = self.may_bind_passkey(config, user_id, proof, now) {
                return unchanged(self, e);
            }
            let rp = match config.relying_party() {
                Ok(rp) => rp,
                Err(e) => return unchanged(self, e),
            };
            let handle = match (&self.factor, &self.passkey_registration) {
                (
                    FactorState::Active(ActiveFactor {
                        passkey_handle: Some(h),
                        ..
                    }),
                    _,
                ) => *h,
                (_, Some(pending)) => pending.handle,
                _ => challenge_id(rng),
            };
            match rp.start_registration(handle, account_name, self.passkeys()) {
                Ok((options, state)) => {
                    let pending = PendingPasskey {
                        state,
                        handle,
                        created_at: now,
                        expires_at: now.saturating_add(config.policy().pending_ttl_secs),
                    };
                    let state = MfaEnrollment {
                        passkey_registration: Some(pending),
                        ..self
                    };
                    Effects::changed(Vec::new()).exit(state, Ok(options))
                }
                Err(e) => unchanged(self, e),
            }
        }

        /// Whether a passkey may be bound now: with MFA on, an unlocked set
        /// with room for one more and a recent proof of `user_id`.
        fn may_bind_passkey(
            &self,
            config: &MfaContext,
            user_id: &str,
            proof: Option<&Proof>,
            now: u64,
        ) -> Result<()> {
            let FactorState::Active(active) = &self.factor else {
                return Ok(());
            };
            active.attempts.check(&config.policy().lockout, now)?;
            let proof = proof.ok_or(Error::StepUpRequired)?;
            check_proof(config, self.epoch, user_id, proof, now)?;
            if active.passkeys.len() >= config.policy().passkeys.max_passkeys {
                return Err(Error::TooManyPasskeys);
            }
            Ok(())
        }

        /// Finishes a registration with the browser's answer, checked by
        /// `webauthn-rs` (origin, RP id, challenge, user verification;
        /// attestation `none` accepted, so synced passkeys work). The passkey
        /// joins the set under `name` and the epoch moves on (I12); as the
        /// set's first factor it turns MFA on and issues backup codes, shown
        /// this once (I1). The credential must not be in the record already;
        /// the store refuses one another user holds (I15).
        ///
        /// Errors: [`Error::NoPendingSetup`], [`Error::PendingExpired`],
        /// [`Error::InvalidPasskey`] (nothing stored),
        /// [`Error::PasskeyAlreadyRegistered`], [`Error::InvalidInput`] for
        /// the name, and those of
        /// [`MfaEnrollment::begin_passkey_registration`].
        #[allow(clippy::too_many_arguments)]
        pub fn confirm_passkey_registration<R: CryptoRng + ?Sized>(
            self,
            config: &MfaContext,
            user_id: &str,
            name: &str,
            credential: &RegisterPublicKeyCredential,
            proof: Option<&Proof>,
            now: u64,
            rng: &mut R,
        ) -> Transition<PasskeyAdded> {
            let mut fresh = FreshCodes::default();
            self.confirm_passkey_registration_with(
                config, user_id, name, credential, proof, &mut fresh, now, rng,
            )
        }

        /// [`MfaEnrollment::confirm_passkey_registration`] with the
        /// operation's new codes, so that a retry does not hash them again.
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn confirm_passkey_registration_with<R: CryptoRng + ?Sized>(
            self,
            config: &MfaContext,
            user_id: &str,
            name: &str,
            credential: &RegisterPublicKeyCredential,
            proof: Option<&Proof>,
            fresh: &mut FreshCodes,
            now: u64,
            rng: &mut R,
        ) -> Transition<PasskeyAdded> {
            let checked = (|| {
                let name = PasskeyPolicy::check_name(name)?.to_owned();
                let pending = self
                    .passkey_registration
                    .as_ref()
                    .ok_or(Error::NoPendingSetup)?;
                if now >= pending.expires_at {
                    return Err(Error::PendingExpired);
                }
                self.may_bind_passkey(config, user_id, proof, now)?;
                let registered = config
                    .relying_party()?
                    .finish_registration(credential, &pending.state)?;
                if self
                    .credential_ids()
                    .any(|id| id == registered.credential_id)
                {
                    return Err(Error::PasskeyAlreadyRegistered);
                }
                Ok((name, pending.handle, registered))
            })();
            let (name, handle, registered) = match checked {
                Ok(checked) => checked,
                Err(e) => return unchanged(self, e),
            };
            let passkey = StoredPasskey {
                id: passkey_id(rng),
                name,
                credential_id: registered.credential_id,
                created_at: now,
                last_used_at: None,
                backup_eligible: registered.backup_eligible,
                backed_up: registered.backed_up,
                counter: registered.counter,
                key: registered.key,
            };
            let mut events = Vec::new();
            let (mut set, backup_codes) = match self.factor {
                FactorState::Active(set) => (set, None),
                // The first factor: MFA turns on, with backup codes.
                _ => {
                    let new_set = config.policy().backup_codes.new_set();
                    match fresh.get(config.keyring(), new_set, now, rng) {
                        Ok((codes, shown)) => {
                            events.push(SecurityEvent::FactorEnabled);
                            (ActiveFactor::new(now, None, codes), Some(shown))
                        }
                        Err(e) => {
                            let state = MfaEnrollment { ..self };
                            return unchanged(state, e);
                        }
                    }
                }
            };
            set.passkeys.push(passkey.clone());
            set.passkey_handle = Some(handle);
            set.devices.clear();
            events.push(SecurityEvent::PasskeyAdded {
                passkey: passkey.id.clone(),
            });
            let epoch = self.epoch.next();
            let state = MfaEnrollment {
                factor: FactorState::Active(set),
                epoch,
                passkey_registration: None,
                ..self
            };
            let added = PasskeyAdded {
                passkey,
                backup_codes,
                proof: Proof::new(ProofMethod::Passkey, now, epoch, user_id),
            };
            Effects::changed(events).finish(state, Ok(added), config, user_id, rng)
        }

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
        /// [`ProofMethod::Passkey`]; a failed assertion counts toward the
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
            self.complete_login_with_passkey_checked(
                config, user_id, challenge, assertion, now, rng,
            )
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

        /// Steps up with a passkey under a challenge of
        /// [`MfaEnrollment::begin_passkey_step_up`], at most once (I14).
        ///
        /// Errors: [`Error::InvalidChallenge`] (another user's, another
        /// epoch's, expired or spent; nothing counted), [`Error::LockedOut`],
        /// [`Error::InvalidPasskey`] (counted).
        pub fn step_up_with_passkey<R: CryptoRng + ?Sized>(
            self,
            config: &MfaContext,
            user_id: &str,
            challenge: &PasskeyChallenge,
            credential: &PublicKeyCredential,
            now: u64,
            rng: &mut R,
        ) -> Transition<Verified> {
            let assertion = Assertion::unpaid(credential);
            self.spend_checked(
                config,
                user_id,
                ChallengeKind::StepUp,
                challenge,
                assertion,
                now,
                rng,
            )
        }

        /// Completes a passwordless login for `user_id`, the owner of the
        /// asserted credential (the store's index names it, I15), at most
        /// once (I14). Every failure is [`Error::InvalidPasskey`], so that it
        /// tells nothing about which credentials exist; a failed assertion
        /// counts toward the user's lockout, and a locked set refuses.
        ///
        /// Errors: [`Error::InvalidPasskey`], [`Error::LockedOut`].
        pub fn complete_passwordless<R: CryptoRng + ?Sized>(
            self,
            config: &MfaContext,
            user_id: &str,
            challenge: &PasskeyChallenge,
            credential: &PublicKeyCredential,
            now: u64,
            rng: &mut R,
        ) -> Transition<Verified> {
            let assertion = Assertion::unpaid(credential);
            let kind = ChallengeKind::Passwordless;
            self.spend_checked(config, user_id, kind, challenge, assertion, now, rng)
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
            let mut step =
                self.assert(config, user_id, kind, &challenge.state, assertion, now, rng);
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
            if (asserted.counter > 0 || passkey.counter > 0) && asserted.counter <= passkey.counter
            {
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
}
