//! The service: every operation as load → pure transition → compare-and-swap save.

use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::backup::{BackupCodes, FreshCodes};
use crate::enrollment::{
    Accept, Argon2Work, Enabled, MfaEnrollment, MfaStatus, Reauth, TotpSetup, Verified,
};
use crate::error::Result;
use crate::event::{EventSink, SecurityEvent};
use crate::policy::MfaContext;
use crate::session::{DeviceToken, LoginChallenge, LoginStep, Proof};
use crate::store::MfaStore;

mod clock;
mod observe;
mod passkeys;
mod reauth;
mod run;

pub use clock::{Clock, SystemClock};
use reauth::OwnedReauth;

/// A hashing permit of the service (I13), counted while held. Without
/// tokio, work runs inline: there is nothing to wait for.
struct Permit {
    #[cfg(feature = "tokio")]
    _held: tokio::sync::OwnedSemaphorePermit,
    _gauge: observe::PermitGauge,
}

/// An operation's name for its span and metrics, and the second factor it
/// checks when that is not read from its work (a TOTP code).
#[derive(Clone, Copy)]
struct Op {
    name: &'static str,
    method: Option<&'static str>,
}

impl Op {
    /// An operation that checks a TOTP code.
    const fn totp(name: &'static str) -> Op {
        Op {
            name,
            method: Some("totp"),
        }
    }
}

/// One operation to run: its name, the user, and the slow work it may do.
struct Call<'a> {
    op: Op,
    user_id: &'a str,
    work: Argon2Work<'a>,
}

impl<'a> Call<'a> {
    /// `op` for `user_id`, with no slow work.
    fn new(op: impl Into<Op>, user_id: &'a str) -> Self {
        Call {
            op: op.into(),
            user_id,
            work: Argon2Work::default(),
        }
    }

    /// The same, with `work`.
    fn with(self, work: Argon2Work<'a>) -> Self {
        Call { work, ..self }
    }
}

impl From<&'static str> for Op {
    fn from(name: &'static str) -> Op {
        Op { name, method: None }
    }
}

/// The new backup codes of one operation, shared by its retries.
type Minted = Arc<Mutex<FreshCodes>>;

/// Runs MFA operations against a store.
///
/// Each operation loads the user's record, runs the pure transition, saves the
/// result with a compare-and-swap, and re-runs the transition on fresh state
/// after a conflict (up to [`Mfa::with_conflict_retries`] times). One-time
/// output is returned only after its state was saved (I1); failed attempts are
/// saved too (I4). If a save fails in a way that leaves its fate unknown, the
/// record is read back: output is returned only if the write is found to have
/// landed.
///
/// With the `tokio` feature, transitions that run Argon2 go to tokio's blocking
/// pool, at most [`Mfa::with_max_concurrent_hashes`] at a time (default: the
/// number of CPUs), so memory stays bounded under a flood of attempts and the
/// executor never stalls. Attempts that need no Argon2 (TOTP codes, and backup
/// codes whose locator matches no unused code) never wait for that pool.
///
/// Share one `Mfa` behind an `Arc` (or your framework's state).
pub struct Mfa<S> {
    store: S,
    config: Arc<MfaContext>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    conflict_retries: u32,
    #[cfg(feature = "tokio")]
    hash_permits: Arc<tokio::sync::Semaphore>,
}

impl<S: MfaStore> Mfa<S> {
    /// A service over `store` with the system clock, no event sink, 16 conflict
    /// retries and one concurrent Argon2 evaluation per CPU.
    pub fn new(store: S, config: MfaContext) -> Self {
        Mfa {
            store,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            events: Arc::new(|_: &str, _: &SecurityEvent| {}),
            conflict_retries: 16,
            #[cfg(feature = "tokio")]
            hash_permits: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
        }
    }

    /// Replaces the clock (tests use [`testkit::ManualClock`](crate::testkit::ManualClock)).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sends security events to `sink`.
    pub fn with_event_sink(mut self, sink: impl EventSink) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// How many times an operation is re-run after a compare-and-swap conflict
    /// before it fails with [`Error::StoreConflict`](crate::Error::StoreConflict).
    pub fn with_conflict_retries(mut self, retries: u32) -> Self {
        self.conflict_retries = retries;
        self
    }

    /// How many Argon2-running transitions may be in flight at once (at least 1).
    /// Each holds Argon2's memory (19 MiB by default) while it runs.
    pub fn with_max_concurrent_hashes(self, limit: usize) -> Self {
        #[cfg(feature = "tokio")]
        {
            let limit = limit.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
            let mut this = self;
            this.hash_permits = Arc::new(tokio::sync::Semaphore::new(limit));
            this
        }
        #[cfg(not(feature = "tokio"))]
        {
            let _ = limit;
            self
        }
    }

    /// The context: keys and policy.
    pub fn context(&self) -> &MfaContext {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Starts (or restarts) setup; see [`MfaEnrollment::begin_setup`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn begin_setup(&self, user_id: &str, account_name: &str) -> Result<TotpSetup> {
        let (user, account) = (user_id.to_owned(), account_name.to_owned());
        self.run(
            Call::new("begin_setup", user_id),
            move |record, config, now| {
                record.begin_setup(config, &user, &account, now, &mut rand::rng())
            },
        )
        .await
    }

    /// Confirms setup and returns the backup codes, once; see [`MfaEnrollment::confirm_setup`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn confirm_setup(&self, user_id: &str, code: &str) -> Result<Enabled> {
        let (user, code) = (user_id.to_owned(), Zeroizing::new(code.to_owned()));
        let work = Argon2Work::default();
        self.run_minting(
            Call::new(Op::totp("confirm_setup"), user_id).with(work),
            move |record, config, codes, now| {
                record.confirm_setup_with(config, &user, &code, codes, now, &mut rand::rng())
            },
        )
        .await
    }

    /// Abandons a pending setup; see [`MfaEnrollment::cancel_setup`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn cancel_setup(&self, user_id: &str) -> Result<()> {
        self.run(Call::new("cancel_setup", user_id), |record, _, _| {
            record.cancel_setup()
        })
        .await
    }

    /// The step after a correct password, with the client's remembered-device
    /// token if it sent one; see [`MfaEnrollment::begin_login`]. Reads the
    /// record and writes nothing; a remembered device that skips the second
    /// step while codes are locked out is reported
    /// ([`SecurityEvent::RememberedDeviceLoginDuringLockout`]).
    ///
    /// # Errors
    /// Store errors.
    pub async fn begin_login(
        &self,
        user_id: &str,
        device_token: Option<&str>,
    ) -> Result<LoginStep> {
        let record = self.load(user_id).await?;
        let now = self.clock.now();
        let step = record.begin_login(&self.config, user_id, device_token, now);
        let remembered = matches!(step, LoginStep::RememberedDevice(_));
        if device_token.is_some() {
            let outcome = if remembered { "ok" } else { "NOT_REMEMBERED" };
            observe::verification("remembered_device", outcome);
        }
        if remembered && record.status(&self.config, now).locked_out {
            let event = SecurityEvent::RememberedDeviceLoginDuringLockout;
            observe::count_event(&event);
            self.events.record(user_id, &event);
        }
        Ok(step)
    }

    /// Remembers the device a login came from, on that login's proof; see
    /// [`MfaEnrollment::remember_device`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn remember_device(&self, user_id: &str, proof: &Proof) -> Result<DeviceToken> {
        let (user, proof) = (user_id.to_owned(), *proof);
        self.run(
            Call::new("remember_device", user_id),
            move |record, config, now| {
                record.remember_device(config, &user, &proof, now, &mut rand::rng())
            },
        )
        .await
    }

    /// Forgets every remembered device of the user; see
    /// [`MfaEnrollment::forget_devices`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn forget_devices(&self, user_id: &str, reauth: Reauth<'_>) -> Result<usize> {
        let (user, reauth) = (user_id.to_owned(), Arc::new(OwnedReauth::from(reauth)));
        let shared = Arc::clone(&reauth);
        self.run(
            Call::new("forget_devices", user_id).with(reauth.work()),
            move |record, config, now| {
                record.forget_devices_with(config, &user, shared.as_reauth(), now)
            },
        )
        .await
    }

    /// Begins replacing the authenticator app; see
    /// [`MfaEnrollment::begin_replacement`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn begin_replacement(
        &self,
        user_id: &str,
        account_name: &str,
        reauth: Reauth<'_>,
    ) -> Result<TotpSetup> {
        let (user, account) = (user_id.to_owned(), account_name.to_owned());
        let reauth = Arc::new(OwnedReauth::from(reauth));
        let shared = Arc::clone(&reauth);
        self.run(
            Call::new("begin_replacement", user_id).with(reauth.work()),
            move |record, config, now| {
                let reauth = shared.as_reauth();
                record.begin_replacement_with(
                    config,
                    &user,
                    &account,
                    reauth,
                    now,
                    &mut rand::rng(),
                )
            },
        )
        .await
    }

    /// Confirms the replacement with a code of the new app; see
    /// [`MfaEnrollment::confirm_replacement`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn confirm_replacement(&self, user_id: &str, code: &str) -> Result<Proof> {
        let (user, code) = (user_id.to_owned(), Zeroizing::new(code.to_owned()));
        self.run(
            Call::new(Op::totp("confirm_replacement"), user_id),
            move |record, config, now| {
                record.confirm_replacement(config, &user, &code, now, &mut rand::rng())
            },
        )
        .await
    }

    /// Completes the login `challenge` with a TOTP or backup code, at most
    /// once; see [`MfaEnrollment::complete_login`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn complete_login(&self, challenge: &LoginChallenge, code: &str) -> Result<Verified> {
        let shared = Arc::new(challenge.clone());
        let open = Arc::clone(&shared);
        self.run_with_code(
            "complete_login",
            challenge.user_id(),
            code,
            Some(challenge),
            move |record, config, user, check, now| {
                record.complete_login_checked(config, user, &open, check, now, &mut rand::rng())
            },
        )
        .await
    }

    /// Verifies a TOTP code; see [`MfaEnrollment::verify_totp`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn verify_totp(&self, user_id: &str, code: &str) -> Result<Verified> {
        // A TOTP code never runs a slow hash: nothing to charge first.
        let (user, code) = (user_id.to_owned(), Zeroizing::new(code.to_owned()));
        self.run(
            Call::new(Op::totp("verify_totp"), user_id),
            move |record, config, now| {
                record.verify_totp(config, &user, &code, now, &mut rand::rng())
            },
        )
        .await
    }

    /// Verifies and consumes a backup code; see [`MfaEnrollment::verify_backup_code`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn verify_backup_code(&self, user_id: &str, code: &str) -> Result<Verified> {
        self.verify_as("verify_backup_code", Accept::BackupCode, user_id, code)
            .await
    }

    /// Verifies a TOTP or backup code, told apart by shape; see [`MfaEnrollment::verify`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn verify(&self, user_id: &str, code: &str) -> Result<Verified> {
        self.verify_as("verify", Accept::Either, user_id, code)
            .await
    }

    async fn verify_as(
        &self,
        op: &'static str,
        accept: Accept,
        user_id: &str,
        code: &str,
    ) -> Result<Verified> {
        self.run_with_code(
            op,
            user_id,
            code,
            None,
            move |record, config, user, check, now| {
                record.verify_as(accept, config, user, check, now, &mut rand::rng())
            },
        )
        .await
    }

    /// Replaces the backup codes and returns the new ones, once; see
    /// [`MfaEnrollment::regenerate_backup_codes`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn regenerate_backup_codes(
        &self,
        user_id: &str,
        reauth: Reauth<'_>,
    ) -> Result<BackupCodes> {
        let (user, reauth) = (user_id.to_owned(), Arc::new(OwnedReauth::from(reauth)));
        let shared = Arc::clone(&reauth);
        let work = reauth.work();
        self.run_minting(
            Call::new("regenerate_backup_codes", user_id).with(work),
            move |record, config, codes, now| {
                let reauth = shared.as_reauth();
                record.regenerate_backup_codes_with(
                    config,
                    &user,
                    reauth,
                    codes,
                    now,
                    &mut rand::rng(),
                )
            },
        )
        .await
    }

    /// Disables MFA after a current TOTP or backup code; see [`MfaEnrollment::disable`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn disable(&self, user_id: &str, code: &str) -> Result<Proof> {
        self.disable_with(user_id, Reauth::Code(code)).await
    }

    /// Disables MFA after re-authentication, a code or a recent proof; see
    /// [`MfaEnrollment::disable_with`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn disable_with(&self, user_id: &str, reauth: Reauth<'_>) -> Result<Proof> {
        let (user, reauth) = (user_id.to_owned(), Arc::new(OwnedReauth::from(reauth)));
        let shared = Arc::clone(&reauth);
        self.run(
            Call::new("disable", user_id).with(reauth.work()),
            move |record, config, now| {
                let reauth = shared.as_reauth();
                record.disable_reauthenticated(config, &user, reauth, now, &mut rand::rng())
            },
        )
        .await
    }

    /// Imports a factor exported from another system as the user's active
    /// factor; see [`crate::import`]. The factor is sealed and its plain
    /// backup codes hashed once (on the bounded hashing pool) by the first
    /// run of [`MfaEnrollment::import`] that finds no active factor, however
    /// often the save is retried; over an active factor nothing is hashed.
    ///
    /// # Errors
    /// [`Error::MfaAlreadyEnabled`](crate::Error::MfaAlreadyEnabled); those of
    /// [`ImportedFactor::seal`](crate::import::ImportedFactor::seal); store errors.
    #[cfg(feature = "import")]
    #[cfg_attr(docsrs, doc(cfg(feature = "import")))]
    pub async fn import(&self, user_id: &str, factor: crate::import::ImportedFactor) -> Result<()> {
        let sealing = Arc::new(Mutex::new(crate::import::Sealing::new(factor)));
        let shared = Arc::clone(&sealing);
        let user = user_id.to_owned();
        let work = Argon2Work {
            import: Some(&sealing),
            ..Argon2Work::default()
        };
        self.run(
            Call::new("import", user_id).with(work),
            move |record, config, now| {
                crate::import::Sealing::lock(&shared).apply(
                    record,
                    config,
                    &user,
                    now,
                    &mut rand::rng(),
                )
            },
        )
        .await
    }

    /// Clears the lockout, on an operator's word; see
    /// [`MfaEnrollment::operator_unlock`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn operator_unlock(&self, user_id: &str, actor: &str, reason: &str) -> Result<()> {
        let (actor, reason) = (actor.to_owned(), reason.to_owned());
        self.run(
            Call::new("operator_unlock", user_id),
            move |record, _, _| record.operator_unlock(&actor, &reason),
        )
        .await
    }

    /// Resets the user's MFA and revokes everything bound to its epoch, on an
    /// operator's word; see [`MfaEnrollment::operator_reset`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn operator_reset(&self, user_id: &str, actor: &str, reason: &str) -> Result<()> {
        let (actor, reason) = (actor.to_owned(), reason.to_owned());
        self.run(Call::new("operator_reset", user_id), move |record, _, _| {
            record.operator_reset(&actor, &reason)
        })
        .await
    }

    /// The user's record as stored now ([`MfaEnrollment::default`] if there is
    /// none): for the per-request checks of a session,
    /// [`MfaEnrollment::check_epoch`] and [`MfaEnrollment::check_proof`].
    ///
    /// # Errors
    /// Store errors.
    pub async fn load(&self, user_id: &str) -> Result<MfaEnrollment> {
        Ok(self
            .store
            .load(user_id)
            .await?
            .map(|v| v.record)
            .unwrap_or_default())
    }

    /// The user's status.
    ///
    /// # Errors
    /// Store errors.
    pub async fn status(&self, user_id: &str) -> Result<MfaStatus> {
        let record = self.load(user_id).await?;
        Ok(record.status(&self.config, self.clock.now()))
    }

    /// The current time by the service's clock, for
    /// [`MfaEnrollment::check_proof`].
    pub fn now(&self) -> u64 {
        self.clock.now()
    }
}

impl<S> std::fmt::Debug for Mfa<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mfa")
            .field("config", &self.config)
            .field("conflict_retries", &self.conflict_retries)
            .finish_non_exhaustive()
    }
}
