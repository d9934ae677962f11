//! Replacing the authenticator (a new phone) without dropping protection.

use rand::CryptoRng;

use super::transitions::{Effects, new_secret, unchanged};
use super::{FactorState, MfaEnrollment, Reauth, Replacement, TotpSetup, Transition};
use crate::error::Error;
use crate::event::SecurityEvent;
use crate::policy::MfaContext;
use crate::session::{Proof, ProofMethod};
use crate::totp::{self, TotpCheck, TotpCode};

impl MfaEnrollment {
    /// Begins replacing the authenticator app: a new secret waits beside the
    /// active one, which keeps working until a code of the new app confirms
    /// the replacement ([`MfaEnrollment::confirm_replacement`]). The pending
    /// secret authenticates nothing; it expires after
    /// [`Policy::pending_ttl_secs`](crate::Policy::pending_ttl_secs), and
    /// beginning again replaces it. Demands a recent proof or a current code
    /// ([`Reauth`]), as regenerating backup codes does.
    ///
    /// Errors: [`Error::MfaNotEnabled`]; those of the [`Reauth`];
    /// [`Error::InvalidInput`] for a bad account name.
    pub fn begin_replacement<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        account_name: &str,
        reauth: Reauth<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<TotpSetup> {
        let mut active = match self.factor {
            FactorState::Active(active) => active,
            _ => return unchanged(self, Error::MfaNotEnabled),
        };
        let mut effects = Effects::none();
        let outcome = active
            .reauthenticate(reauth, config, user_id, self.epoch, now, &mut effects)
            .and_then(|()| new_secret(config, user_id, account_name, now, rng))
            .map(|(secret, setup)| {
                active.replacement = Some(Replacement {
                    secret,
                    totp: config.policy().totp.params(),
                    created_at: now,
                    expires_at: setup.expires_at,
                });
                effects.changed = true;
                effects.events.push(SecurityEvent::ReplacementStarted {
                    expires_at: setup.expires_at,
                });
                setup
            });
        let state = MfaEnrollment {
            factor: FactorState::Active(active),
            ..self
        };
        effects.finish(state, outcome, config, user_id, rng)
    }

    /// Confirms the replacement with a code of the new app: in one write the
    /// new secret becomes the active one (codes of the old app stop working),
    /// the confirming time step counts as used, the backup codes stay,
    /// remembered devices are forgotten and the epoch moves on (I12). Returns
    /// a proof under the new epoch.
    ///
    /// Errors: [`Error::MfaNotEnabled`], [`Error::NoPendingSetup`] (no
    /// replacement), [`Error::LockedOut`], [`Error::PendingExpired`],
    /// [`Error::MalformedCode`], [`Error::InvalidCode`] (counted; nothing
    /// changes but the counter).
    pub fn confirm_replacement<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Proof> {
        let mut active = match self.factor {
            FactorState::Active(active) => active,
            _ => return unchanged(self, Error::MfaNotEnabled),
        };
        let Some(replacement) = active.replacement.clone() else {
            let state = MfaEnrollment {
                factor: FactorState::Active(active),
                ..self
            };
            return unchanged(state, Error::NoPendingSetup);
        };
        let policy = config.policy();
        let checked = (|| {
            active.attempts.check(&policy.lockout, now)?;
            if now >= replacement.expires_at {
                return Err(Error::PendingExpired);
            }
            let code = TotpCode::parse(code, replacement.totp.digits)?;
            let secret = replacement.secret.open_secret(config.keyring(), user_id)?;
            totp::check(
                &secret,
                replacement.totp,
                policy.totp.skew,
                &code,
                now,
                None,
            )
        })();
        let mut effects = Effects::none();
        let (epoch, outcome) = match checked {
            Ok(TotpCheck::Accepted(matched)) => {
                active.secret = replacement.secret;
                active.totp = replacement.totp;
                active.last_step = Some(matched.step);
                active.t0 = 0;
                active.attempts.reset();
                active.replacement = None;
                active.devices.clear();
                effects.changed = true;
                effects.events.push(SecurityEvent::AuthenticatorReplaced);
                let epoch = self.epoch.next();
                let proof = Proof::new(ProofMethod::SetupConfirmation, now, epoch);
                (epoch, Ok(proof))
            }
            Ok(TotpCheck::Replayed { .. } | TotpCheck::Rejected) => (
                self.epoch,
                Err(effects.fail(&mut active.attempts, config, now)),
            ),
            Err(e) => (self.epoch, Err(e)),
        };
        let state = MfaEnrollment {
            factor: FactorState::Active(active),
            epoch,
            ..self
        };
        effects.finish(state, outcome, config, user_id, rng)
    }
}
