//! The login challenge (I12): begun after the password, completed at most once.

use rand::CryptoRng;

use super::transitions::{Accept, unchanged};
use super::{MfaEnrollment, Transition, Verified};
use crate::error::Error;
use crate::policy::MfaContext;
use crate::session::{LoginChallenge, LoginStep};

impl MfaEnrollment {
    /// The step after a correct password: a [`LoginChallenge`] for a user with
    /// an active factor, otherwise the epoch to bind a session to. Changes
    /// nothing, so a flood of password logins writes nothing.
    pub fn begin_login(&self, config: &MfaContext, user_id: &str, now: u64) -> LoginStep {
        if !self.is_active() {
            return LoginStep::Complete(self.epoch);
        }
        LoginStep::SecondFactor(LoginChallenge {
            user_id: user_id.to_owned(),
            epoch: self.epoch,
            serial: self.logins,
            expires_at: now.saturating_add(config.policy().login_challenge_ttl_secs),
        })
    }

    /// Completes a login with a TOTP or backup code, as
    /// [`MfaEnrollment::verify`] does, but only under a challenge that is
    /// still open: for this user, under the current epoch, unexpired, and
    /// begun after the user's last completed login. Success uses up that
    /// challenge and every other one begun before it (I12); a wrong code
    /// counts toward the lockout and leaves the challenge open.
    ///
    /// Errors: [`Error::InvalidChallenge`] (nothing is counted), then those of
    /// [`MfaEnrollment::verify`].
    pub fn complete_login<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        challenge: &LoginChallenge,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        let open = self.is_active()
            && challenge.user_id == user_id
            && challenge.epoch == self.epoch
            && challenge.serial == self.logins
            && now < challenge.expires_at;
        if !open {
            return unchanged(self, Error::InvalidChallenge);
        }
        let mut step = self.verify_as(Accept::Either, config, user_id, code, now, rng);
        if step.outcome.is_ok() {
            step.state.logins = step.state.logins.saturating_add(1);
        }
        step
    }
}
