//! Registering a passkey: the creation options, and confirming what the
//! browser answers (the first passkey of a set turns MFA on, with backup
//! codes).

use rand::CryptoRng;

use crate::backup::FreshCodes;
use crate::enrollment::effects::{Effects, unchanged};
use crate::enrollment::{ActiveFactor, FactorState, MfaEnrollment, Transition, check_proof};
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::passkey::{
    CreationChallengeResponse, PasskeyAdded, PasskeyPolicy, PendingPasskey,
    RegisterPublicKeyCredential, StoredPasskey,
};
use crate::policy::MfaContext;
use crate::session::{Proof, ProofMethod};

use super::{challenge_id, passkey_id};

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
}
