//! Checking a code against an active factor (TOTP, backup code, or a
//! re-authentication), and deciding where an operation's slow work runs:
//! charged first (I16), on the bounded pool (I13), or nowhere.

use std::sync::Mutex;

use rand::CryptoRng;

use super::charge::{CodeCheck, Paid, SubmittedCode};
use super::check_proof;
use super::effects::{Effects, Reauthenticated};
use super::{ActiveFactor, FactorState, MfaEnrollment, Reauth, VerifiedBy};
use crate::backup::{FreshCodes, Lookup};
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::policy::MfaContext;
use crate::session::{Epoch, LoginChallenge};
use crate::totp::{self, TotpCheck, TotpCode};

/// The slow work an operation may do, for [`MfaEnrollment::needs_argon2`]:
/// none by default (setup, cancel, TOTP codes, resets).
#[derive(Clone, Copy, Default)]
pub(crate) struct Argon2Work<'a> {
    /// A submitted code that may be checked against a stored backup-code
    /// hash: charged first (I16).
    pub(crate) code: Option<&'a SubmittedCode>,
    /// The login challenge the code completes: a closed one hashes nothing.
    pub(crate) challenge: Option<&'a LoginChallenge>,
    /// Hashing the operation's new backup codes (confirm, regenerate),
    /// shared by the operation's retries.
    pub(crate) mint: Option<&'a Mutex<FreshCodes>>,
    /// Mint only for a record without an active set (a passkey that may be
    /// the first factor).
    pub(crate) mint_first_factor_only: bool,
    /// A submitted passkey assertion: charged first (I16), and only while
    /// `passkey_challenge` (a step-up or passwordless challenge, for its
    /// user) or `challenge` is open.
    #[cfg(feature = "passkeys")]
    pub(crate) assertion: Option<&'a crate::enrollment::SubmittedAssertion>,
    #[cfg(feature = "passkeys")]
    pub(crate) passkey_challenge: Option<(&'a crate::passkey::PasskeyChallenge, &'a str)>,
    /// Sealing an imported factor (its plain backup codes hashed), once for
    /// the operation and only while the record has no active factor.
    #[cfg(feature = "import")]
    pub(crate) import: Option<&'a Mutex<crate::import::Sealing>>,
}

/// Where an operation's slow work runs, as [`MfaEnrollment::needs_argon2`]
/// decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashing {
    /// Nowhere: the transition runs at once.
    None,
    /// A guess to check: charged to the lockout and saved, then hashed once
    /// (I16).
    ChargeFirst,
    /// New codes or an import to hash, on the bounded pool (I13).
    Pool,
}

/// Which codes a verification accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    Totp,
    BackupCode,
    Either,
}

impl MfaEnrollment {
    /// Whether verifying `code` against this record would run Argon2: only for
    /// a well-formed backup code whose locator names an unused code of an
    /// unlocked factor. Lets a service keep cheap attempts off its hashing pool.
    pub fn would_hash(&self, config: &MfaContext, code: &str, now: u64) -> bool {
        self.hashes_code(CodeCheck::unpaid(code), config, now)
    }

    /// The one place that decides where an operation's slow work on this
    /// record runs, so that a service charges every guess before its hash
    /// (I16) and sends exactly the slow work to its bounded pool (I13).
    pub(crate) fn needs_argon2(
        &self,
        work: Argon2Work<'_>,
        config: &MfaContext,
        now: u64,
    ) -> Hashing {
        let open = work.challenge.is_none_or(|c| self.is_open(c, now));
        if open
            && work
                .code
                .is_some_and(|code| self.hashes_code(code.check(), config, now))
        {
            return Hashing::ChargeFirst;
        }
        #[cfg(feature = "passkeys")]
        if let Some(assertion) = work.assertion {
            let open = open
                && work
                    .passkey_challenge
                    .is_none_or(|(c, user_id)| c.is_open(assertion.kind, self, user_id, now));
            return if open && !assertion.is_paid() && self.admits_attempts(config, now) {
                Hashing::ChargeFirst
            } else {
                Hashing::None
            };
        }
        // New codes are hashed once per operation: only until they exist.
        let mint = work
            .mint
            .is_some_and(|fresh| !FreshCodes::lock(fresh).is_minted())
            && !(work.mint_first_factor_only && self.is_active());
        #[cfg(feature = "import")]
        let mint = mint
            || work
                .import
                .is_some_and(|sealing| crate::import::Sealing::lock(sealing).needs_hashing(self));
        if open && mint {
            Hashing::Pool
        } else {
            Hashing::None
        }
    }

    /// Whether the active set takes attempts now (it exists and is not
    /// locked).
    #[cfg(feature = "passkeys")]
    fn admits_attempts(&self, config: &MfaContext, now: u64) -> bool {
        matches!(&self.factor, FactorState::Active(active)
            if active.attempts.check(&config.policy().lockout, now).is_ok())
    }

    /// Whether checking `check` runs a slow hash: a backup code not yet
    /// charged and hashed, whose locator names an unused code of an
    /// unlocked factor (or an unused legacy hash).
    fn hashes_code(&self, check: CodeCheck<'_>, config: &MfaContext, now: u64) -> bool {
        let FactorState::Active(active) = &self.factor else {
            return false;
        };
        check.paid.is_none()
            && active.attempts.check(&config.policy().lockout, now).is_ok()
            && TotpCode::parse(check.code, active.totp_digits(config)).is_err()
            && active
                .backup_codes
                .parse_attempt(check.code)
                .is_ok_and(|input| {
                    active
                        .backup_codes
                        .lookup(&input, config.keyring())
                        .is_ok_and(Lookup::hashes)
                })
    }
}

impl ActiveFactor {
    /// The digits of the set's TOTP codes: the app's, or the policy's for a
    /// set without an app (whose TOTP-shaped codes all fail).
    pub(super) fn totp_digits(&self, config: &MfaContext) -> u8 {
        self.app
            .as_ref()
            .map_or(config.policy().totp.digits, |app| app.totp.digits)
    }

    /// Checks what a management operation demands ([`Reauth`]): a recent
    /// proof of `user_id` under `epoch` while the factor is unlocked, or a
    /// current code (checked, counted and consumed like a login), with what
    /// the service's charge and hash of a [`Reauth::Code`] found. Returns
    /// what proved the user.
    pub(super) fn reauthenticate(
        &mut self,
        (reauth, paid): (Reauth<'_>, Option<&Paid>),
        config: &MfaContext,
        user_id: &str,
        epoch: Epoch,
        now: u64,
        effects: &mut Effects,
    ) -> Result<Reauthenticated> {
        let (accept, code) = match reauth {
            Reauth::RecentProof(proof) => {
                return self
                    .attempts
                    .check(&config.policy().lockout, now)
                    .and_then(|()| check_proof(config, epoch, user_id, proof, now))
                    .map(|()| Reauthenticated::Proof(*proof));
            }
            Reauth::TotpCode(code) => (Accept::Totp, code),
            Reauth::Code(code) => (Accept::Either, code),
        };
        let check = CodeCheck { code, paid };
        // A management operation shows no new code: none is reissued.
        let no_reissue: Option<&mut rand::rngs::ThreadRng> = None;
        self.check_code(accept, config, user_id, check, now, effects, no_reissue)
            .map(Reauthenticated::Code)
    }

    /// Checks one code, updating the replay mark and failure counter in
    /// place. A code charged before its hash (I16) was admitted while the
    /// factor was unlocked, so the lock its own charge (or a later one)
    /// started does not refuse it.
    ///
    /// With `reissue` (an operation that shows a new code) and a policy that
    /// reissues codes, a backup code used is replaced by a new one, in
    /// `effects.reissued`: the one the service hashed beside the code, or one
    /// hashed here with `reissue`'s RNG.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_code<R: CryptoRng + ?Sized>(
        &mut self,
        accept: Accept,
        config: &MfaContext,
        user_id: &str,
        check: CodeCheck<'_>,
        now: u64,
        effects: &mut Effects,
        reissue: Option<&mut R>,
    ) -> Result<VerifiedBy> {
        if check.paid.is_none() {
            self.attempts.check(&config.policy().lockout, now)?;
        }
        let code = check.code;
        let digits = self.totp_digits(config);
        let totp_code = match accept {
            Accept::BackupCode => None,
            Accept::Totp => Some(TotpCode::parse(code, digits)?),
            Accept::Either => match TotpCode::parse(code, digits) {
                Ok(c) => Some(c),
                Err(totp_err) => match self.backup_codes.parse_attempt(code) {
                    Ok(_) => None,
                    Err(_) if TotpCode::is_shaped(code) => return Err(totp_err.into()),
                    Err(backup_err) => return Err(backup_err.into()),
                },
            },
        };
        match totp_code {
            Some(totp_code) => {
                self.check_totp(&totp_code, check.paid, config, user_id, now, effects)
            }
            None => self.check_backup_code(check, config, user_id, now, effects, reissue),
        }
    }

    fn check_totp(
        &mut self,
        code: &TotpCode,
        paid: Option<&Paid>,
        config: &MfaContext,
        user_id: &str,
        now: u64,
        effects: &mut Effects,
    ) -> Result<VerifiedBy> {
        // A set without an app (passkeys only) has no TOTP code to match.
        let Some(app) = &mut self.app else {
            return Err(effects.fail(&mut self.attempts, paid, config, now));
        };
        let secret = app.secret.open_secret(config.keyring(), user_id)?;
        // Steps count from the app's T0 (0 unless imported with another).
        match totp::check(
            &secret,
            app.totp,
            config.policy().totp.skew,
            code,
            now.saturating_sub(app.t0),
            app.last_step,
        )? {
            TotpCheck::Accepted(matched) => {
                app.last_step = Some(matched.step);
                self.attempts.reset();
                effects.changed = true;
                effects.events.push(SecurityEvent::TotpAccepted(matched));
                Ok(VerifiedBy::Totp(matched))
            }
            TotpCheck::Replayed { step } => {
                effects.events.push(SecurityEvent::ReplayRefused { step });
                Err(Error::InvalidCode)
            }
            TotpCheck::Rejected => Err(effects.fail(&mut self.attempts, paid, config, now)),
        }
    }

    /// Checks a backup code: hashes it here, or applies what the service's
    /// hash found after charging it (I16). Success gives every charge back
    /// (a success ends a run of consecutive failures, as without charges).
    fn check_backup_code<R: CryptoRng + ?Sized>(
        &mut self,
        check: CodeCheck<'_>,
        config: &MfaContext,
        user_id: &str,
        now: u64,
        effects: &mut Effects,
        reissue: Option<&mut R>,
    ) -> Result<VerifiedBy> {
        let input = self.backup_codes.parse_attempt(check.code)?;
        let keyring = config.keyring();
        let (redeemed, found_here) = match self.backup_codes.lookup(&input, keyring)? {
            // A used code can never succeed again: refused, but not a guess.
            Lookup::Used => return Err(Error::InvalidCode),
            Lookup::NoMatch => (None, None),
            // A used legacy code cannot be told from a wrong one without
            // hashing against used hashes too: it is counted as a guess.
            Lookup::Candidate(_) | Lookup::Legacy => match check.paid {
                Some(paid) => (self.backup_codes.redeem(&paid.found, now), None),
                None => {
                    let found = self.backup_codes.find(&input, keyring, user_id)?;
                    (self.backup_codes.redeem(&found, now), Some(found))
                }
            },
        };
        let Some(legacy) = redeemed else {
            return Err(effects.fail(&mut self.attempts, check.paid, config, now));
        };
        if let Some(rng) = reissue.filter(|_| config.policy().backup_codes.reissue_on_use) {
            let minted = match &found_here {
                Some(found) => self.backup_codes.reissue(found, keyring, rng)?,
                None => None,
            };
            let new = check
                .paid
                .and_then(|p| p.reissue.as_ref())
                .or(minted.as_ref());
            if let Some(new) = new {
                effects.reissued = self.backup_codes.apply_reissue(new);
            }
        }
        self.attempts.reset();
        effects.changed = true;
        let remaining = self.backup_codes.remaining();
        effects
            .events
            .push(SecurityEvent::BackupCodeUsed { remaining });
        if remaining <= config.policy().backup_codes.low_threshold {
            effects
                .events
                .push(SecurityEvent::BackupCodesRunningLow { remaining });
        }
        if legacy {
            effects.events.push(SecurityEvent::LegacyBackupCodeUsed {
                legacy_remaining: self.backup_codes.legacy_remaining(),
            });
        }
        if effects.reissued.is_some() {
            effects.events.push(SecurityEvent::BackupCodeReissued);
        }
        Ok(VerifiedBy::BackupCode)
    }
}
