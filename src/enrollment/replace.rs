//! Replacing the authenticator (a new phone) without dropping protection.

use rand::CryptoRng;

use super::charge::Paid;
use super::effects::{first_code, new_secret};
use super::{MfaEnrollment, Reauth, Replacement, TotpApp, TotpSetup, Transition};
use crate::error::Error;
use crate::event::SecurityEvent;
use crate::policy::MfaContext;
use crate::session::{Proof, ProofMethod};

impl MfaEnrollment {
    /// Begins replacing the authenticator app: a new secret waits beside the
    /// active one, which keeps working until a code of the new app confirms
    /// the replacement ([`MfaEnrollment::confirm_replacement`]). The pending
    /// secret authenticates nothing; it expires after
    /// [`Policy::pending_ttl_secs`](crate::Policy::pending_ttl_secs), and
    /// beginning again replaces it. Demands re-authentication ([`Reauth`]):
    /// a host that lets a session alone begin a replacement lets a stolen
    /// session take the factor over, so it should ask for
    /// [`Reauth::Code`] (the app's code, or a backup code when the phone is
    /// lost) beside the password (I17).
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
        let reauth = (reauth, None);
        self.begin_replacement_with(config, user_id, account_name, reauth, now, rng)
    }

    /// [`MfaEnrollment::begin_replacement`] with what the service's charge
    /// and hash of a [`Reauth::Code`] found (I16).
    pub(crate) fn begin_replacement_with<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        account_name: &str,
        reauth: (Reauth<'_>, Option<&Paid>),
        now: u64,
        rng: &mut R,
    ) -> Transition<TotpSetup> {
        self.change_active(config, user_id, rng, |active, epoch, effects, rng| {
            active.reauthenticate(reauth, config, user_id, *epoch, now, effects)?;
            let (secret, setup) = new_secret(config, user_id, account_name, now, rng)?;
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
            Ok(setup)
        })
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
        self.change_active(config, user_id, rng, |active, epoch, effects, _| {
            let Some(replacement) = active.replacement.clone() else {
                return Err(Error::NoPendingSetup);
            };
            active.attempts.check(&config.policy().lockout, now)?;
            let Replacement {
                secret,
                totp,
                expires_at,
                ..
            } = replacement;
            let step = first_code(config, user_id, &secret, totp, expires_at, code, now)?;
            let Some(step) = step else {
                return Err(effects.fail(&mut active.attempts, None, config, now));
            };
            let app = TotpApp::confirmed(secret, totp, step);
            // Beside passkeys, the set's first app is added, not replaced.
            let event = match active.app.replace(app) {
                Some(_) => SecurityEvent::AuthenticatorReplaced,
                None => SecurityEvent::FactorEnabled,
            };
            active.attempts.reset();
            active.replacement = None;
            active.devices.clear();
            effects.changed = true;
            effects.events.push(event);
            *epoch = epoch.next();
            Ok(Proof::new(
                ProofMethod::SetupConfirmation,
                now,
                *epoch,
                user_id,
            ))
        })
    }
}
