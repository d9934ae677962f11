//! The pure transitions of [`MfaEnrollment`].

use std::sync::Mutex;

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::charge::{Charge, CodeCheck, Paid, SubmittedCode};
use super::check_proof;
use super::{
    ActiveFactor, Enabled, FactorState, MfaEnrollment, PendingSetup, Reauth, TotpApp, TotpSetup,
    Transition, Verified, VerifiedBy,
};
use crate::backup::{BackupCode, BackupCodes, FreshCodes, Lookup};
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::keys::Envelope;
use crate::lockout::Attempts;
use crate::policy::MfaContext;
use crate::session::{Epoch, LoginChallenge, Proof, ProofMethod};
use crate::totp::TotpSecret;
use crate::totp::{self, TotpCheck, TotpCode, labelled};

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

/// A transition that refuses before changing anything.
pub(super) fn unchanged<T>(state: MfaEnrollment, error: Error) -> Transition<T> {
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

impl MfaEnrollment {
    /// Begins setup: draws a secret, encrypts it as a pending setup, and returns
    /// what the authenticator app needs. Replaces an earlier pending setup (its
    /// failure counter carries over) but never an active factor (I5).
    ///
    /// Errors: [`Error::MfaAlreadyEnabled`]; [`Error::InvalidInput`] for an
    /// account name that is empty or contains `:`.
    pub fn begin_setup<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        account_name: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<TotpSetup> {
        let attempts = match &self.factor {
            FactorState::Active(_) => return unchanged(self, Error::MfaAlreadyEnabled),
            FactorState::Pending(p) => p.attempts,
            FactorState::Disabled => Attempts::default(),
        };
        let built = new_secret(config, user_id, account_name, now, rng).map(|(secret, setup)| {
            let pending = PendingSetup {
                secret,
                totp: config.policy().totp.params(),
                created_at: now,
                expires_at: setup.expires_at,
                attempts,
            };
            (pending, setup)
        });
        match built {
            Ok((pending, setup)) => Effects::changed(vec![SecurityEvent::SetupStarted {
                expires_at: pending.expires_at,
            }])
            .exit(
                MfaEnrollment {
                    factor: FactorState::Pending(pending),
                    ..self
                },
                Ok(setup),
            ),
            Err(e) => unchanged(self, e),
        }
    }

    /// Confirms a pending setup with the first code from the app. On success
    /// the factor becomes active, the confirming time step counts as used (I2),
    /// the epoch moves on (I12), and a fresh set of backup codes is returned:
    /// the only time they are shown.
    ///
    /// Errors: [`Error::NoPendingSetup`], [`Error::MfaAlreadyEnabled`],
    /// [`Error::LockedOut`], [`Error::PendingExpired`], [`Error::MalformedCode`],
    /// [`Error::InvalidCode`] (counted; nothing is enabled).
    pub fn confirm_setup<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Enabled> {
        self.confirm_setup_with(config, user_id, code, &mut FreshCodes::default(), now, rng)
    }

    /// [`MfaEnrollment::confirm_setup`] with the operation's new codes, so
    /// that a retry does not hash them again.
    pub(crate) fn confirm_setup_with<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        code: &str,
        fresh: &mut FreshCodes,
        now: u64,
        rng: &mut R,
    ) -> Transition<Enabled> {
        let mut pending = match self.factor {
            FactorState::Pending(p) => p,
            FactorState::Disabled => return unchanged(self, Error::NoPendingSetup),
            FactorState::Active(_) => return unchanged(self, Error::MfaAlreadyEnabled),
        };
        let policy = config.policy();
        let checked = (|| {
            pending.attempts.check(&policy.lockout, now)?;
            if now >= pending.expires_at {
                return Err(Error::PendingExpired);
            }
            let code = TotpCode::parse(code, pending.totp.digits)?;
            let secret = pending.secret.open_secret(config.keyring(), user_id)?;
            totp::check(&secret, pending.totp, policy.totp.skew, &code, now, None)
        })();
        let mut effects = Effects::none();
        let outcome = match checked {
            Err(e) => Err(e),
            Ok(TotpCheck::Accepted(matched)) => {
                let generated =
                    fresh.get(config.keyring(), policy.backup_codes.new_set(), now, rng);
                match generated {
                    Ok((backup_codes, codes)) => {
                        let app = TotpApp {
                            secret: pending.secret,
                            totp: pending.totp,
                            last_step: Some(matched.step),
                            t0: 0,
                        };
                        let active = ActiveFactor::new(now, Some(app), backup_codes);
                        let epoch = self.epoch.next();
                        let enabled = Enabled {
                            backup_codes: codes,
                            proof: Proof::new(ProofMethod::SetupConfirmation, now, epoch, user_id),
                        };
                        let effects = Effects::changed(vec![SecurityEvent::FactorEnabled]);
                        let state = MfaEnrollment {
                            factor: FactorState::Active(active),
                            epoch,
                            ..self
                        };
                        return effects.finish(state, Ok(enabled), config, user_id, rng);
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(TotpCheck::Replayed { .. } | TotpCheck::Rejected) => {
                Err(effects.fail(&mut pending.attempts, None, config, now))
            }
        };
        let state = MfaEnrollment {
            factor: FactorState::Pending(pending),
            ..self
        };
        effects.finish(state, outcome, config, user_id, rng)
    }

    /// Abandons a pending setup.
    ///
    /// Errors: [`Error::NoPendingSetup`] unless a setup is pending.
    pub fn cancel_setup(self) -> Transition<()> {
        match self.factor {
            FactorState::Pending(_) => Effects::changed(Vec::new()).exit(
                MfaEnrollment {
                    factor: FactorState::Disabled,
                    ..self
                },
                Ok(()),
            ),
            _ => unchanged(self, Error::NoPendingSetup),
        }
    }

    /// Verifies a TOTP code for login (the second step). A time step is
    /// accepted at most once (I2); replays are refused without counting as failures.
    ///
    /// Errors: [`Error::MfaNotEnabled`] (also while only pending), [`Error::LockedOut`],
    /// [`Error::MalformedCode`], [`Error::InvalidCode`].
    pub fn verify_totp<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        self.verify_as(
            Accept::Totp,
            config,
            user_id,
            CodeCheck::unpaid(code),
            now,
            rng,
        )
    }

    /// Verifies and consumes a backup code (I3). Costs at most one Argon2
    /// evaluation, and none when the code's locator matches no unused code.
    ///
    /// Errors: as [`MfaEnrollment::verify_totp`].
    pub fn verify_backup_code<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        let check = CodeCheck::unpaid(code);
        self.verify_as(Accept::BackupCode, config, user_id, check, now, rng)
    }

    /// Verifies either kind of code, telling them apart by shape (TOTP codes
    /// are 6 to 8 digits, backup codes 10 or 15 characters).
    ///
    /// Errors: as [`MfaEnrollment::verify_totp`].
    pub fn verify<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        self.verify_as(
            Accept::Either,
            config,
            user_id,
            CodeCheck::unpaid(code),
            now,
            rng,
        )
    }

    pub(crate) fn verify_as<R: CryptoRng + ?Sized>(
        self,
        accept: Accept,
        config: &MfaContext,
        user_id: &str,
        check: CodeCheck<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<Verified> {
        self.change_active(config, user_id, rng, |active, epoch, effects, rng| {
            let by = active.check_code(accept, config, user_id, check, now, effects, Some(rng))?;
            Ok(Verified {
                by,
                backup_codes_remaining: active.backup_codes.remaining(),
                proof: proof_of(by, now, *epoch, user_id),
                new_backup_code: effects.reissued.take(),
            })
        })
    }

    /// Replaces every backup code, used or not, with a fresh set returned once.
    ///
    /// Errors: [`Error::MfaNotEnabled`]; [`Error::LockedOut`]; with
    /// [`Reauth::RecentProof`], those of [`MfaEnrollment::check_proof`]; with
    /// [`Reauth::TotpCode`], those of [`MfaEnrollment::verify_totp`]. Nothing
    /// is regenerated then.
    pub fn regenerate_backup_codes<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        reauth: Reauth<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<BackupCodes> {
        self.regenerate_backup_codes_with(
            config,
            user_id,
            (reauth, None),
            &mut FreshCodes::default(),
            now,
            rng,
        )
    }

    /// [`MfaEnrollment::regenerate_backup_codes`] with the operation's new
    /// codes, so that a retry does not hash them again, and what the charge
    /// and hash of a [`Reauth::Code`] found.
    pub(crate) fn regenerate_backup_codes_with<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        reauth: (Reauth<'_>, Option<&Paid>),
        fresh: &mut FreshCodes,
        now: u64,
        rng: &mut R,
    ) -> Transition<BackupCodes> {
        self.change_active(config, user_id, rng, |active, epoch, effects, rng| {
            active.reauthenticate(reauth, config, user_id, *epoch, now, effects)?;
            let new_set = config.policy().backup_codes.new_set();
            let (set, codes) = fresh.get(config.keyring(), new_set, now, rng)?;
            active.backup_codes = set;
            effects.changed = true;
            effects
                .events
                .push(SecurityEvent::BackupCodesRegenerated { count: codes.len() });
            Ok(codes)
        })
    }

    /// Turns the factor off after a current TOTP or backup code; the secret
    /// and every backup code are deleted and the epoch moves on (I12). The
    /// proof returned belongs to the new epoch, for the session the host
    /// issues now.
    ///
    /// Errors: as [`MfaEnrollment::verify`].
    pub fn disable<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        code: &str,
        now: u64,
        rng: &mut R,
    ) -> Transition<Proof> {
        self.disable_with(config, user_id, Reauth::Code(code), now, rng)
    }

    /// Turns MFA off after re-authentication ([`Reauth`]): a current code,
    /// or a recent proof (a user of passkeys alone has no code to type; the
    /// host checks the password too). Everything goes: the app, every
    /// passkey, the backup codes, remembered devices, a pending
    /// registration; the epoch moves on (I12). The proof returned carries
    /// the verification into the new epoch.
    ///
    /// Errors: [`Error::MfaNotEnabled`]; those of the [`Reauth`].
    pub fn disable_with<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        reauth: Reauth<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<Proof> {
        self.disable_reauthenticated(config, user_id, (reauth, None), now, rng)
    }

    /// [`MfaEnrollment::disable_with`] with what the service's charge and
    /// hash of a [`Reauth::Code`] found (I16).
    pub(crate) fn disable_reauthenticated<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        reauth: (Reauth<'_>, Option<&Paid>),
        now: u64,
        rng: &mut R,
    ) -> Transition<Proof> {
        let mut active = match self.factor {
            FactorState::Active(active) => active,
            _ => return unchanged(self, Error::MfaNotEnabled),
        };
        let mut effects = Effects::none();
        match active.reauthenticate(reauth, config, user_id, self.epoch, now, &mut effects) {
            Ok(by) => {
                effects.changed = true;
                effects.events.push(SecurityEvent::FactorDisabled);
                let epoch = self.epoch.next();
                let state = MfaEnrollment {
                    factor: FactorState::Disabled,
                    epoch,
                    passkey_registration: None,
                    ..self
                };
                let proof = by.proof_under(epoch, now, user_id);
                effects.finish(state, Ok(proof), config, user_id, rng)
            }
            Err(e) => {
                let state = MfaEnrollment {
                    factor: FactorState::Active(active),
                    ..self
                };
                effects.finish(state, Err(e), config, user_id, rng)
            }
        }
    }

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
