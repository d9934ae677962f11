//! The pure transitions of [`MfaEnrollment`].

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::{
    ActiveFactor, MfaEnrollment, PendingSetup, Reauth, TotpSetup, Transition, Verified, VerifiedBy,
};
use crate::backup_codes::{BackupCodeInput, BackupCodes, FreshCodes, Lookup};
use crate::envelope::Envelope;
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::lockout::Attempts;
use crate::policy::MfaConfig;
use crate::secret::TotpSecret;
use crate::totp::{TotpCheck, TotpCode, labelled, totp_check};

/// Which codes a verification accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accept {
    Totp,
    BackupCode,
    Either,
}

/// Collects what a transition did before it is turned into a [`Transition`].
struct Effects {
    changed: bool,
    events: Vec<SecurityEvent>,
}

impl Effects {
    fn none() -> Self {
        Effects {
            changed: false,
            events: Vec::new(),
        }
    }

    fn changed(events: Vec<SecurityEvent>) -> Self {
        Effects {
            changed: true,
            events,
        }
    }

    /// Counts a failed attempt and returns the error to report.
    fn fail(&mut self, attempts: &mut Attempts, config: &MfaConfig, now: u64) -> Error {
        let lock = attempts.record_failure(&config.policy().lockout, now);
        self.changed = true;
        let consecutive_failures = attempts.failures();
        self.events.push(SecurityEvent::AttemptFailed {
            consecutive_failures,
        });
        if let Some(retry_after) = lock {
            self.events.push(SecurityEvent::LockoutStarted {
                retry_after,
                consecutive_failures,
            });
        }
        Error::InvalidCode
    }

    /// Re-encrypts a secret left under an old key (I7), then builds the transition.
    fn finish<T, R: CryptoRng + ?Sized>(
        mut self,
        mut state: MfaEnrollment,
        outcome: Result<T>,
        config: &MfaConfig,
        user_id: &str,
        rng: &mut R,
    ) -> Transition<T> {
        if self.changed {
            let keyring = config.keyring();
            let envelope = match &mut state {
                MfaEnrollment::Pending(p) => Some(&mut p.secret),
                MfaEnrollment::Active(a) => Some(&mut a.secret),
                MfaEnrollment::Disabled => None,
            };
            if let Some(envelope) = envelope.filter(|e| e.key_id() != keyring.primary_id())
                && let Ok(secret) = envelope.open_secret(keyring, user_id)
                && let Ok(resealed) = Envelope::seal_secret(keyring, user_id, &secret, rng)
            {
                *envelope = resealed;
                self.events.push(SecurityEvent::SecretReencrypted);
            }
        }
        Transition {
            state,
            changed: self.changed,
            outcome,
            events: self.events,
        }
    }
}

fn unchanged<T>(state: MfaEnrollment, error: Error) -> Transition<T> {
    Transition {
        state,
        changed: false,
        outcome: Err(error),
        events: Vec::new(),
    }
}

impl MfaEnrollment {
    /// Begins setup: draws a secret, encrypts it as a pending setup, and returns
    /// what the authenticator app needs. Replaces an earlier pending setup (its
    /// failure counter carries over) but never an active factor (I5).
    ///
    /// Errors: [`Error::MfaAlreadyEnabled`]; [`Error::InvalidInput`] for an
    /// account name that is empty or contains `:`.
    pub fn begin_setup<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        account_name: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<TotpSetup> {
        let attempts = match &self {
            MfaEnrollment::Active(_) => return unchanged(self, Error::MfaAlreadyEnabled),
            MfaEnrollment::Pending(p) => p.attempts,
            MfaEnrollment::Disabled => Attempts::default(),
        };
        let policy = config.policy();
        let built = (|| {
            let secret = TotpSecret::generate_with_len(policy.totp.secret_len, rng)?;
            let totp = policy.totp.params();
            let labelled = labelled(&secret, totp, &policy.issuer, account_name)?;
            let uri = labelled
                .to_url()
                .map_err(|_| Error::InvalidInput("the account name is not allowed"))?;
            let expires_at = now.saturating_add(policy.pending_ttl_secs);
            let pending = PendingSetup {
                secret: Envelope::seal_secret(config.keyring(), user_id, &secret, rng)?,
                totp,
                created_at: now,
                expires_at,
                attempts,
            };
            let setup = TotpSetup {
                totp: labelled,
                uri: Zeroizing::new(uri),
                secret_base32: secret.to_base32(),
                expires_at,
            };
            Ok((pending, setup))
        })();
        match built {
            Ok((pending, setup)) => Transition {
                events: vec![SecurityEvent::SetupStarted {
                    expires_at: pending.expires_at,
                }],
                state: MfaEnrollment::Pending(pending),
                changed: true,
                outcome: Ok(setup),
            },
            Err(e) => unchanged(self, e),
        }
    }

    /// Confirms a pending setup with the first code from the app. On success
    /// the factor becomes active, the confirming time step counts as used (I2),
    /// and a fresh set of backup codes is returned: the only time they are shown.
    ///
    /// Errors: [`Error::NoPendingSecret`], [`Error::MfaAlreadyEnabled`],
    /// [`Error::LockedOut`], [`Error::PendingExpired`], [`Error::MalformedCode`],
    /// [`Error::InvalidCode`] (counted; nothing is enabled).
    pub fn confirm_setup<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<BackupCodes> {
        self.confirm_setup_with(config, user_id, code, &mut FreshCodes::default(), now, rng)
    }

    /// [`MfaEnrollment::confirm_setup`] with the operation's new codes, so
    /// that a retry does not hash them again.
    pub(crate) fn confirm_setup_with<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        code: &str,
        fresh: &mut FreshCodes,
        now: u64,
        rng: &mut R,
    ) -> Transition<BackupCodes> {
        let mut pending = match self {
            MfaEnrollment::Pending(p) => p,
            MfaEnrollment::Disabled => return unchanged(self, Error::NoPendingSecret),
            MfaEnrollment::Active(_) => return unchanged(self, Error::MfaAlreadyEnabled),
        };
        let policy = config.policy();
        let checked = (|| {
            pending.attempts.check(&policy.lockout, now)?;
            if now >= pending.expires_at {
                return Err(Error::PendingExpired);
            }
            let code = TotpCode::parse(code, pending.totp.digits)?;
            let secret = pending.secret.open_secret(config.keyring(), user_id)?;
            totp_check(&secret, pending.totp, policy.totp.skew, &code, now, None)
        })();
        let mut effects = Effects::none();
        let outcome = match checked {
            Err(e) => Err(e),
            Ok(TotpCheck::Accepted(matched)) => {
                let generated = fresh.get(
                    config.keyring(),
                    policy.backup_codes.argon2,
                    policy.backup_codes.count,
                    now,
                    rng,
                );
                match generated {
                    Ok((backup_codes, codes)) => {
                        let active = ActiveFactor {
                            secret: pending.secret,
                            totp: pending.totp,
                            enabled_at: now,
                            last_step: Some(matched.step),
                            backup_codes,
                            attempts: Attempts::default(),
                        };
                        let effects = Effects::changed(vec![SecurityEvent::FactorEnabled]);
                        return effects.finish(
                            MfaEnrollment::Active(active),
                            Ok(codes),
                            config,
                            user_id,
                            rng,
                        );
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(TotpCheck::Replayed { .. } | TotpCheck::Rejected) => {
                Err(effects.fail(&mut pending.attempts, config, now))
            }
        };
        effects.finish(
            MfaEnrollment::Pending(pending),
            outcome,
            config,
            user_id,
            rng,
        )
    }

    /// Abandons a pending setup.
    ///
    /// Errors: [`Error::NoPendingSecret`] unless a setup is pending.
    pub fn cancel_setup(self) -> Transition<()> {
        match self {
            MfaEnrollment::Pending(_) => Transition {
                state: MfaEnrollment::Disabled,
                changed: true,
                outcome: Ok(()),
                events: Vec::new(),
            },
            other => unchanged(other, Error::NoPendingSecret),
        }
    }

    /// Verifies a TOTP code for login (the second step). A time step is
    /// accepted at most once (I2); replays are refused without counting as failures.
    ///
    /// Errors: [`Error::MfaNotEnabled`] (also while only pending), [`Error::LockedOut`],
    /// [`Error::MalformedCode`], [`Error::InvalidCode`].
    pub fn verify_totp<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        self.verify_as(Accept::Totp, config, user_id, code, now, rng)
    }

    /// Verifies and consumes a backup code (I3). Costs at most one Argon2
    /// evaluation, and none when the code's locator matches no unused code.
    ///
    /// Errors: as [`MfaEnrollment::verify_totp`].
    pub fn verify_backup_code<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        self.verify_as(Accept::BackupCode, config, user_id, code, now, rng)
    }

    /// Verifies either kind of code, telling them apart by shape (TOTP codes
    /// are 6 to 8 digits, backup codes 10 characters).
    ///
    /// Errors: as [`MfaEnrollment::verify_totp`].
    pub fn verify<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        self.verify_as(Accept::Either, config, user_id, code, now, rng)
    }

    fn verify_as<R: CryptoRng + ?Sized>(
        self,
        accept: Accept,
        config: &MfaConfig,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        let MfaEnrollment::Active(mut active) = self else {
            return unchanged(self, Error::MfaNotEnabled);
        };
        let mut effects = Effects::none();
        let outcome = active
            .check_code(accept, config, user_id, code, now, &mut effects)
            .map(|by| Verified {
                by,
                backup_codes_remaining: active.backup_codes.remaining(),
            });
        effects.finish(MfaEnrollment::Active(active), outcome, config, user_id, rng)
    }

    /// Replaces every backup code, used or not, with a fresh set returned once.
    ///
    /// Errors: [`Error::MfaNotEnabled`]; with [`Reauth::TotpCode`], those of
    /// [`MfaEnrollment::verify_totp`] (nothing is regenerated then).
    pub fn regenerate_backup_codes<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        reauth: Reauth<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<BackupCodes> {
        self.regenerate_backup_codes_with(
            config,
            user_id,
            reauth,
            &mut FreshCodes::default(),
            now,
            rng,
        )
    }

    /// [`MfaEnrollment::regenerate_backup_codes`] with the operation's new
    /// codes, so that a retry does not hash them again.
    pub(crate) fn regenerate_backup_codes_with<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        reauth: Reauth<'_>,
        fresh: &mut FreshCodes,
        now: u64,
        rng: &mut R,
    ) -> Transition<BackupCodes> {
        let MfaEnrollment::Active(mut active) = self else {
            return unchanged(self, Error::MfaNotEnabled);
        };
        let mut effects = Effects::none();
        if let Reauth::TotpCode(code) = reauth
            && let Err(e) =
                active.check_code(Accept::Totp, config, user_id, code, now, &mut effects)
        {
            return effects.finish(MfaEnrollment::Active(active), Err(e), config, user_id, rng);
        }
        let policy = &config.policy().backup_codes;
        let outcome = fresh
            .get(config.keyring(), policy.argon2, policy.count, now, rng)
            .map(|(set, codes)| {
                active.backup_codes = set;
                effects.changed = true;
                effects
                    .events
                    .push(SecurityEvent::BackupCodesRegenerated { count: codes.len() });
                codes
            });
        effects.finish(MfaEnrollment::Active(active), outcome, config, user_id, rng)
    }

    /// Turns the factor off after a current TOTP or backup code; the secret
    /// and every backup code are deleted.
    ///
    /// Errors: as [`MfaEnrollment::verify`].
    pub fn disable<R: CryptoRng + ?Sized>(
        self,
        config: &MfaConfig,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<()> {
        let MfaEnrollment::Active(mut active) = self else {
            return unchanged(self, Error::MfaNotEnabled);
        };
        let mut effects = Effects::none();
        match active.check_code(Accept::Either, config, user_id, code, now, &mut effects) {
            Ok(_) => {
                effects.events.push(SecurityEvent::FactorDisabled);
                effects.finish(MfaEnrollment::Disabled, Ok(()), config, user_id, rng)
            }
            Err(e) => effects.finish(MfaEnrollment::Active(active), Err(e), config, user_id, rng),
        }
    }

    /// Clears the failure counter and any lockout: an administrative action
    /// for after the user's identity was established another way.
    pub fn reset_lockout(self) -> Transition<()> {
        let mut state = self;
        let attempts = match &mut state {
            MfaEnrollment::Pending(p) => &mut p.attempts,
            MfaEnrollment::Active(a) => &mut a.attempts,
            MfaEnrollment::Disabled => {
                return Transition {
                    state,
                    changed: false,
                    outcome: Ok(()),
                    events: Vec::new(),
                };
            }
        };
        let changed = *attempts != Attempts::default();
        attempts.reset();
        Transition {
            state,
            changed,
            outcome: Ok(()),
            events: if changed {
                vec![SecurityEvent::LockoutReset]
            } else {
                Vec::new()
            },
        }
    }

    /// Whether verifying `code` against this record would run Argon2: only for
    /// a well-formed backup code whose locator names an unused code of an
    /// unlocked factor. Lets a service keep cheap attempts off its hashing pool.
    pub fn would_hash(&self, config: &MfaConfig, code: &str, now: u64) -> bool {
        let MfaEnrollment::Active(active) = self else {
            return false;
        };
        active.attempts.check(&config.policy().lockout, now).is_ok()
            && TotpCode::parse(code, active.totp.digits).is_err()
            && BackupCodeInput::parse(code).is_ok_and(|input| {
                matches!(active.backup_codes.lookup(&input), Lookup::Candidate(_))
            })
    }
}

impl ActiveFactor {
    /// Checks one code, updating the replay mark and failure counter in place.
    fn check_code(
        &mut self,
        accept: Accept,
        config: &MfaConfig,
        user_id: &str,
        code: &str,
        now: u64,
        effects: &mut Effects,
    ) -> Result<VerifiedBy> {
        self.attempts.check(&config.policy().lockout, now)?;
        let totp_code = match accept {
            Accept::BackupCode => None,
            Accept::Totp => Some(TotpCode::parse(code, self.totp.digits)?),
            Accept::Either => match TotpCode::parse(code, self.totp.digits) {
                Ok(c) => Some(c),
                Err(totp_err) => match BackupCodeInput::parse(code) {
                    Ok(_) => None,
                    Err(_)
                        if code
                            .chars()
                            .all(|c| c.is_ascii_digit() || c.is_whitespace()) =>
                    {
                        return Err(totp_err.into());
                    }
                    Err(backup_err) => return Err(backup_err.into()),
                },
            },
        };
        match totp_code {
            Some(code) => self.check_totp(&code, config, user_id, now, effects),
            None => self.check_backup_code(code, config, now, effects),
        }
    }

    fn check_totp(
        &mut self,
        code: &TotpCode,
        config: &MfaConfig,
        user_id: &str,
        now: u64,
        effects: &mut Effects,
    ) -> Result<VerifiedBy> {
        let secret = self.secret.open_secret(config.keyring(), user_id)?;
        match totp_check(
            &secret,
            self.totp,
            config.policy().totp.skew,
            code,
            now,
            self.last_step,
        )? {
            TotpCheck::Accepted(matched) => {
                self.last_step = Some(matched.step);
                self.attempts.reset();
                effects.changed = true;
                effects.events.push(SecurityEvent::TotpAccepted(matched));
                Ok(VerifiedBy::Totp(matched))
            }
            TotpCheck::Replayed { step } => {
                effects.events.push(SecurityEvent::ReplayRefused { step });
                Err(Error::InvalidCode)
            }
            TotpCheck::Rejected => Err(effects.fail(&mut self.attempts, config, now)),
        }
    }

    fn check_backup_code(
        &mut self,
        code: &str,
        config: &MfaConfig,
        now: u64,
        effects: &mut Effects,
    ) -> Result<VerifiedBy> {
        let input = BackupCodeInput::parse(code)?;
        match self.backup_codes.lookup(&input) {
            // A used code can never succeed again: refused, but not a guess.
            Lookup::Used => Err(Error::InvalidCode),
            Lookup::NoMatch => Err(effects.fail(&mut self.attempts, config, now)),
            Lookup::Candidate(index) => {
                if !self.backup_codes.verify(index, &input, config.keyring())? {
                    return Err(effects.fail(&mut self.attempts, config, now));
                }
                self.backup_codes.mark_used(index, now);
                self.attempts.reset();
                effects.changed = true;
                effects.events.push(SecurityEvent::BackupCodeUsed {
                    remaining: self.backup_codes.remaining(),
                });
                Ok(VerifiedBy::BackupCode)
            }
        }
    }
}
