//! The service: every operation as load → pure transition → compare-and-swap save.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::ThreadRng;
use zeroize::Zeroizing;

use crate::backup::{BackupCodes, FreshCodes};
use crate::enrollment::{
    Argon2Work, Enabled, MfaEnrollment, MfaStatus, Reauth, TotpSetup, Transition, Verified,
};
use crate::error::{Error, Result};
use crate::event::{EventSink, SecurityEvent};
use crate::policy::MfaContext;
use crate::session::{DeviceToken, LoginChallenge, LoginStep, Proof};
use crate::store::{MfaStore, WriteId};

/// The current time in unix seconds.
pub trait Clock: Send + Sync + 'static {
    /// Now, in seconds since the unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

impl<F: Fn() -> u64 + Send + Sync + 'static> Clock for F {
    fn now(&self) -> u64 {
        self()
    }
}

/// A transition that takes the user id and a submitted code.
type CodeTransition<T> =
    fn(MfaEnrollment, &MfaContext, &str, &str, u64, &mut ThreadRng) -> Transition<T>;

/// A [`Reauth`] that outlives the caller's borrow, for an operation's retries.
enum OwnedReauth {
    RecentProof(Proof),
    TotpCode(Zeroizing<String>),
}

impl From<Reauth<'_>> for OwnedReauth {
    fn from(reauth: Reauth<'_>) -> Self {
        match reauth {
            Reauth::RecentProof(proof) => OwnedReauth::RecentProof(*proof),
            Reauth::TotpCode(code) => OwnedReauth::TotpCode(Zeroizing::new(code.to_owned())),
        }
    }
}

impl OwnedReauth {
    fn as_reauth(&self) -> Reauth<'_> {
        match self {
            OwnedReauth::RecentProof(proof) => Reauth::RecentProof(proof),
            OwnedReauth::TotpCode(code) => Reauth::TotpCode(code),
        }
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
    /// before it fails with [`Error::StoreConflict`].
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
        self.run(user_id, Argon2Work::None, move |record, config, now| {
            record.begin_setup(config, &user, &account, now, &mut rand::rng())
        })
        .await
    }

    /// Confirms setup and returns the backup codes, once; see [`MfaEnrollment::confirm_setup`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn confirm_setup(&self, user_id: &str, code: &str) -> Result<Enabled> {
        let (user, code) = (user_id.to_owned(), Zeroizing::new(code.to_owned()));
        self.run_minting(user_id, move |record, config, codes, now| {
            record.confirm_setup_with(config, &user, &code, codes, now, &mut rand::rng())
        })
        .await
    }

    /// Abandons a pending setup; see [`MfaEnrollment::cancel_setup`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn cancel_setup(&self, user_id: &str) -> Result<()> {
        self.run(user_id, Argon2Work::None, |record, _, _| {
            record.cancel_setup()
        })
        .await
    }

    /// The step after a correct password, with the client's remembered-device
    /// token if it sent one; see [`MfaEnrollment::begin_login`]. Reads the
    /// record and writes nothing.
    ///
    /// # Errors
    /// Store errors.
    pub async fn begin_login(
        &self,
        user_id: &str,
        device_token: Option<&str>,
    ) -> Result<LoginStep> {
        let record = self.load(user_id).await?;
        Ok(record.begin_login(&self.config, user_id, device_token, self.clock.now()))
    }

    /// Remembers the device a login came from, on that login's proof; see
    /// [`MfaEnrollment::remember_device`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn remember_device(&self, user_id: &str, proof: &Proof) -> Result<DeviceToken> {
        let proof = *proof;
        self.run(user_id, Argon2Work::None, move |record, config, now| {
            record.remember_device(config, &proof, now, &mut rand::rng())
        })
        .await
    }

    /// Forgets every remembered device of the user; see
    /// [`MfaEnrollment::forget_devices`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn forget_devices(&self, user_id: &str, reauth: Reauth<'_>) -> Result<usize> {
        let (user, reauth) = (user_id.to_owned(), OwnedReauth::from(reauth));
        self.run(user_id, Argon2Work::None, move |record, config, now| {
            record.forget_devices(config, &user, reauth.as_reauth(), now)
        })
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
        let reauth = OwnedReauth::from(reauth);
        self.run(user_id, Argon2Work::None, move |record, config, now| {
            record.begin_replacement(
                config,
                &user,
                &account,
                reauth.as_reauth(),
                now,
                &mut rand::rng(),
            )
        })
        .await
    }

    /// Confirms the replacement with a code of the new app; see
    /// [`MfaEnrollment::confirm_replacement`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn confirm_replacement(&self, user_id: &str, code: &str) -> Result<Proof> {
        self.run_with_code(
            user_id,
            code,
            Argon2Work::None,
            MfaEnrollment::confirm_replacement,
        )
        .await
    }

    /// Completes the login `challenge` with a TOTP or backup code, at most
    /// once; see [`MfaEnrollment::complete_login`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn complete_login(&self, challenge: &LoginChallenge, code: &str) -> Result<Verified> {
        let hashing = Argon2Work::Login(challenge, code);
        let user_id = challenge.user_id().to_owned();
        let (challenge, code) = (challenge.clone(), Zeroizing::new(code.to_owned()));
        let user = user_id.clone();
        self.run(&user_id, hashing, move |record, config, now| {
            record.complete_login(config, &user, &challenge, &code, now, &mut rand::rng())
        })
        .await
    }

    /// Verifies a TOTP code; see [`MfaEnrollment::verify_totp`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn verify_totp(&self, user_id: &str, code: &str) -> Result<Verified> {
        self.run_with_code(user_id, code, Argon2Work::None, MfaEnrollment::verify_totp)
            .await
    }

    /// Verifies and consumes a backup code; see [`MfaEnrollment::verify_backup_code`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn verify_backup_code(&self, user_id: &str, code: &str) -> Result<Verified> {
        self.run_with_code(
            user_id,
            code,
            Argon2Work::Code(code),
            MfaEnrollment::verify_backup_code,
        )
        .await
    }

    /// Verifies a TOTP or backup code, told apart by shape; see [`MfaEnrollment::verify`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn verify(&self, user_id: &str, code: &str) -> Result<Verified> {
        self.run_with_code(user_id, code, Argon2Work::Code(code), MfaEnrollment::verify)
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
        let (user, reauth) = (user_id.to_owned(), OwnedReauth::from(reauth));
        self.run_minting(user_id, move |record, config, codes, now| {
            let reauth = reauth.as_reauth();
            record.regenerate_backup_codes_with(config, &user, reauth, codes, now, &mut rand::rng())
        })
        .await
    }

    /// Disables MFA after a current TOTP or backup code; see [`MfaEnrollment::disable`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn disable(&self, user_id: &str, code: &str) -> Result<Proof> {
        self.run_with_code(
            user_id,
            code,
            Argon2Work::Code(code),
            MfaEnrollment::disable,
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
    /// [`Error::MfaAlreadyEnabled`]; those of
    /// [`ImportedFactor::seal`](crate::import::ImportedFactor::seal); store errors.
    #[cfg(feature = "import")]
    #[cfg_attr(docsrs, doc(cfg(feature = "import")))]
    pub async fn import(&self, user_id: &str, factor: crate::import::ImportedFactor) -> Result<()> {
        let sealing = Arc::new(Mutex::new(crate::import::Sealing::new(factor)));
        let shared = Arc::clone(&sealing);
        let user = user_id.to_owned();
        self.run(
            user_id,
            Argon2Work::Import(&sealing),
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
        self.run(user_id, Argon2Work::None, move |record, _, _| {
            record.operator_unlock(&actor, &reason)
        })
        .await
    }

    /// Resets the user's MFA and revokes everything bound to its epoch, on an
    /// operator's word; see [`MfaEnrollment::operator_reset`].
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn operator_reset(&self, user_id: &str, actor: &str, reason: &str) -> Result<()> {
        let (actor, reason) = (actor.to_owned(), reason.to_owned());
        self.run(user_id, Argon2Work::None, move |record, _, _| {
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

    /// Runs a transition that issues new backup codes: they are generated and
    /// hashed at most once for the operation, however often it is retried (I13).
    async fn run_minting<T, F>(&self, user_id: &str, transition: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(MfaEnrollment, &MfaContext, &mut FreshCodes, u64) -> Transition<T>
            + Send
            + Sync
            + 'static,
    {
        let fresh = Minted::default();
        let codes = Arc::clone(&fresh);
        self.run(
            user_id,
            Argon2Work::NewCodes(&fresh),
            move |record, config, now| {
                transition(record, config, &mut FreshCodes::lock(&codes), now)
            },
        )
        .await
    }

    /// Runs a transition that takes the user's code.
    async fn run_with_code<T: Send + 'static>(
        &self,
        user_id: &str,
        code: &str,
        hashing: Argon2Work<'_>,
        transition: CodeTransition<T>,
    ) -> Result<T> {
        let (user, code) = (user_id.to_owned(), Zeroizing::new(code.to_owned()));
        self.run(user_id, hashing, move |record, config, now| {
            transition(record, config, &user, &code, now, &mut rand::rng())
        })
        .await
    }

    async fn run<T, F>(&self, user_id: &str, hashing: Argon2Work<'_>, transition: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(MfaEnrollment, &MfaContext, u64) -> Transition<T> + Send + Sync + 'static,
    {
        let transition = Arc::new(transition);
        for _ in 0..=self.conflict_retries {
            let (expected, record) = match self.store.load(user_id).await? {
                Some(stored) => (Some(stored.version), stored.record),
                None => (None, MfaEnrollment::default()),
            };
            let now = self.clock.now();
            let hashes = record.needs_argon2(hashing, &self.config, now);
            let step = if hashes {
                self.run_hashing(Arc::clone(&transition), record, now)
                    .await?
            } else {
                transition(record, &self.config, now)
            };
            if step.changed {
                let write_id = WriteId::random();
                match self
                    .store
                    .save(user_id, expected, &step.state, write_id)
                    .await
                {
                    Ok(_) => {}
                    Err(Error::StoreConflict) => {
                        yield_now().await;
                        continue;
                    }
                    Err(e) if !self.landed(user_id, write_id).await => return Err(e),
                    Err(_) => {}
                }
            }
            for event in &step.events {
                self.events.record(user_id, event);
            }
            return step.outcome;
        }
        Err(Error::StoreConflict)
    }

    /// After a save failed without a verdict: whether the write identified by
    /// `write_id` nonetheless landed (I11). Never judged by content: a racing
    /// twin may have stored a byte-identical record.
    async fn landed(&self, user_id: &str, write_id: WriteId) -> bool {
        matches!(
            self.store.load(user_id).await,
            Ok(Some(stored)) if stored.write_id == write_id
        )
    }

    async fn run_hashing<T, F>(
        &self,
        transition: Arc<F>,
        record: MfaEnrollment,
        now: u64,
    ) -> Result<Transition<T>>
    where
        T: Send + 'static,
        F: Fn(MfaEnrollment, &MfaContext, u64) -> Transition<T> + Send + Sync + 'static,
    {
        self.run_blocking(move |config| transition(record, config, now))
            .await
    }

    /// Runs slow hashing work on tokio's blocking pool under one of the
    /// service's hashing permits, which travels with the work (I13).
    #[cfg(feature = "tokio")]
    async fn run_blocking<T, W>(&self, work: W) -> Result<T>
    where
        T: Send + 'static,
        W: FnOnce(&MfaContext) -> T + Send + 'static,
    {
        let permit = Arc::clone(&self.hash_permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("the hashing limiter was closed"))?;
        let config = Arc::clone(&self.config);
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(work(&config));
        }
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&config)
        })
        .await
        .map_err(|_| Error::Internal("a hashing task failed"))
    }

    #[cfg(not(feature = "tokio"))]
    async fn run_blocking<T, W>(&self, work: W) -> Result<T>
    where
        T: Send + 'static,
        W: FnOnce(&MfaContext) -> T + Send + 'static,
    {
        Ok(work(&self.config))
    }
}

async fn yield_now() {
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::yield_now().await;
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
