//! The pure transitions of [`MfaEnrollment`]: setup, verification,
//! regeneration and disabling.

use rand::CryptoRng;

use super::charge::{CodeCheck, Paid};
use super::effects::{Effects, first_code, new_secret, proof_of, unchanged};
use super::verify::Accept;
use super::{
    ActiveFactor, Enabled, FactorState, MfaEnrollment, PendingSetup, Reauth, TotpApp, TotpSetup,
    Transition, Verified,
};
use crate::backup::{BackupCodes, FreshCodes};
use crate::error::Error;
use crate::event::SecurityEvent;
use crate::lockout::Attempts;
use crate::policy::MfaContext;
use crate::session::{Proof, ProofMethod};

/// Declares the public verifications of a code the user typed, which
/// differ only in the kinds of code they accept ([`Accept`]): each is
/// [`MfaEnrollment::verify_as`] with a code not yet charged.
macro_rules! verify_code {
    ($($(#[$doc:meta])* pub fn $name:ident => $accept:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name<R: CryptoRng + ?Sized>(
            self,
            config: &MfaContext,
            user_id: &str,
            code: &str,
            now: u64,
            rng: &mut R,
        ) -> Transition<Verified> {
            let check = CodeCheck::unpaid(code);
            self.verify_as($accept, config, user_id, check, now, rng)
        }
    )*};
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
        let checked = pending.attempts.check(&policy.lockout, now).and_then(|()| {
            first_code(
                config,
                user_id,
                &pending.secret,
                pending.totp,
                pending.expires_at,
                code,
                now,
            )
        });
        let mut effects = Effects::none();
        let outcome = match checked {
            Err(e) => Err(e),
            Ok(Some(step)) => {
                let generated =
                    fresh.get(config.keyring(), policy.backup_codes.new_set(), now, rng);
                match generated {
                    Ok((backup_codes, codes)) => {
                        let app = TotpApp::confirmed(pending.secret, pending.totp, step);
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
            Ok(None) => Err(effects.fail(&mut pending.attempts, None, config, now)),
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

    verify_code! {
        /// Verifies a TOTP code for login (the second step). A time step is
        /// accepted at most once (I2); replays are refused without counting as failures.
        ///
        /// Errors: [`Error::MfaNotEnabled`] (also while only pending), [`Error::LockedOut`],
        /// [`Error::MalformedCode`], [`Error::InvalidCode`].
        pub fn verify_totp => Accept::Totp;

        /// Verifies and consumes a backup code (I3). Costs at most one Argon2
        /// evaluation, and none when the code's locator matches no unused code.
        ///
        /// Errors: as [`MfaEnrollment::verify_totp`].
        pub fn verify_backup_code => Accept::BackupCode;

        /// Verifies either kind of code, telling them apart by shape (TOTP codes
        /// are 6 to 8 digits, backup codes 10 or 15 characters).
        ///
        /// Errors: as [`MfaEnrollment::verify_totp`].
        pub fn verify => Accept::Either;
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
}
