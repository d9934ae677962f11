//! The login challenge (I12): begun after the password, completed at most once.

use rand::CryptoRng;

use super::charge::CodeCheck;
use super::effects::unchanged;
use super::verify::Accept;
use super::{MfaEnrollment, Transition, Verified};
use crate::error::Error;
use crate::policy::MfaContext;
use crate::session::{LoginChallenge, LoginStep};

impl MfaEnrollment {
    /// The step after a correct password: a [`LoginChallenge`] for a user with
    /// an active factor, otherwise the epoch to bind a session to. With the
    /// token of a remembered device
    /// ([`MfaEnrollment::remember_device`]) that is valid for this record,
    /// [`LoginStep::RememberedDevice`]; any other token — expired, revoked,
    /// another user's, garbage — is ignored, indistinguishable from none. A
    /// remembered device logs in also while codes are locked out: the device
    /// and the password are the two factors, and the lock is about guessing
    /// codes. Changes nothing, so a flood of password logins writes nothing.
    /// When the set has passkeys (and the context a relying party), the
    /// challenge carries the passkey request
    /// ([`LoginChallenge::accepts_passkey`]).
    pub fn begin_login(
        &self,
        config: &MfaContext,
        user_id: &str,
        device_token: Option<&str>,
        now: u64,
    ) -> LoginStep {
        if !self.is_active() {
            return LoginStep::Complete(self.epoch);
        }
        if device_token.is_some_and(|token| self.is_remembered_device(token, now)) {
            return LoginStep::RememberedDevice(self.epoch);
        }
        #[cfg(feature = "passkeys")]
        let (passkey_options, passkey) = self
            .passkey_request(config)
            .map(|(options, state)| (Box::new(options), state))
            .unzip();
        #[cfg(not(feature = "passkeys"))]
        let passkey = None;
        LoginStep::SecondFactor(LoginChallenge {
            user_id: user_id.to_owned(),
            epoch: self.epoch,
            serial: self.logins,
            expires_at: now.saturating_add(config.policy().login_challenge_ttl_secs),
            passkey,
            #[cfg(feature = "passkeys")]
            passkey_options,
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
        let check = CodeCheck::unpaid(code);
        self.complete_login_checked(config, user_id, challenge, check, now, rng)
    }

    /// [`MfaEnrollment::complete_login`] with a code the service may have
    /// charged and hashed first (I16).
    pub(crate) fn complete_login_checked<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        challenge: &LoginChallenge,
        check: CodeCheck<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        if challenge.user_id != user_id || !self.is_open(challenge, now) {
            return unchanged(self, Error::InvalidChallenge);
        }
        let mut step = self.verify_as(Accept::Either, config, user_id, check, now, rng);
        if step.outcome.is_ok() {
            step.state.logins = step.state.logins.saturating_add(1);
        }
        step
    }

    /// Whether `challenge` can still complete a login on this record: under
    /// an active factor, at the current epoch, begun after the last completed
    /// login, unexpired.
    pub(crate) fn is_open(&self, challenge: &LoginChallenge, now: u64) -> bool {
        self.is_active()
            && challenge.epoch == self.epoch
            && challenge.serial == self.logins
            && now < challenge.expires_at
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use crate::enrollment::{Argon2Work, Hashing, SubmittedCode};
    use crate::session::LoginStep;
    use crate::testkit::{fixtures::Enrolled, test_config};

    /// A closed challenge never reaches the hashing pool, whatever the code:
    /// a flood of stale `mfaToken`s cannot queue behind real Argon2 work (I13).
    #[test]
    fn only_an_open_challenge_sends_a_backup_code_to_argon2() {
        let ctx = test_config();
        let user = Enrolled::new(&ctx, "u", 1_700_000_000);
        let now = user.confirmed_at + 1;
        let LoginStep::SecondFactor(challenge) = user.active.begin_login(&ctx, "u", None, now)
        else {
            panic!("an active factor asks for a code");
        };
        let code = user.codes.as_strs()[0];
        let submitted = SubmittedCode::new(code, true);
        let work = |code| Argon2Work {
            code: Some(code),
            challenge: Some(&challenge),
            ..Argon2Work::default()
        };
        let charge = user.active.needs_argon2(work(&submitted), &ctx, now);
        assert_eq!(charge, Hashing::ChargeFirst);
        let expired = challenge.expires_at;
        let closed = user.active.needs_argon2(work(&submitted), &ctx, expired);
        assert_eq!(closed, Hashing::None);
        let done =
            user.active
                .clone()
                .complete_login(&ctx, "u", &challenge, code, now, &mut rand::rng());
        assert!(done.outcome.is_ok());
        let used = SubmittedCode::new(user.codes.as_strs()[1], true);
        let after = done.state.needs_argon2(work(&used), &ctx, now);
        assert_eq!(after, Hashing::None);
    }
}
