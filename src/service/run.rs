//! How every operation of [`Mfa`] runs: load, a pure transition, a
//! compare-and-swap save, retried on conflict; a guess charged before its
//! slow hash (I16); new codes hashed once on the bounded pool (I13); and
//! whether a save whose answer was lost landed (I11).

use std::sync::Arc;

use zeroize::Zeroizing;

use super::observe::{Observation, code_method};
use super::{Call, Mfa, Minted, Op, Permit};
use crate::backup::FreshCodes;
use crate::enrollment::{
    Argon2Work, Charge, CodeCheck, Hashing, MfaEnrollment, SubmittedCode, Transition,
};
use crate::error::{Error, Result};
use crate::policy::MfaContext;
use crate::session::LoginChallenge;
use crate::store::{MfaStore, WriteId};

impl<S: MfaStore> Mfa<S> {
    /// Runs a transition that issues new backup codes: they are generated and
    /// hashed at most once for the operation, however often it is retried (I13).
    pub(super) async fn run_minting<T, F>(&self, call: Call<'_>, transition: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(MfaEnrollment, &MfaContext, &mut FreshCodes, u64) -> Transition<T>
            + Send
            + Sync
            + 'static,
    {
        let fresh = Minted::default();
        let codes = Arc::clone(&fresh);
        let work = Argon2Work {
            mint: Some(&fresh),
            ..call.work
        };
        self.run(Call { work, ..call }, move |record, config, now| {
            transition(record, config, &mut FreshCodes::lock(&codes), now)
        })
        .await
    }

    /// Runs a transition that checks the user's code, which the service
    /// charges and hashes first when it may be a backup code (I16); with the
    /// login challenge it completes, if any.
    pub(super) async fn run_with_code<T, F>(
        &self,
        op: impl Into<Op>,
        user_id: &str,
        code: &str,
        challenge: Option<&LoginChallenge>,
        transition: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(MfaEnrollment, &MfaContext, &str, CodeCheck<'_>, u64) -> Transition<T>
            + Send
            + Sync
            + 'static,
    {
        let submitted = Arc::new(SubmittedCode::new(code, true));
        let (user, shared) = (user_id.to_owned(), Arc::clone(&submitted));
        let work = Argon2Work {
            code: Some(&submitted),
            challenge,
            ..Argon2Work::default()
        };
        let call = Call::new(op, user_id).with(work);
        self.run(call, move |record, config, now| {
            transition(record, config, &user, shared.check(), now)
        })
        .await
    }

    /// Runs one operation, observed (its span and metrics, `observe.rs`):
    /// rounds of load, transition and compare-and-swap save until one lands.
    pub(super) async fn run<T, F>(&self, call: Call<'_>, transition: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(MfaEnrollment, &MfaContext, u64) -> Transition<T> + Send + Sync + 'static,
    {
        let Call { op, user_id, work } = call;
        let method = op.method.or_else(|| {
            #[cfg(feature = "passkeys")]
            if work.assertion.is_some() {
                return Some("passkey");
            }
            work.code.map(|code| code_method(code.check().code))
        });
        let obs = Observation::start(op.name, user_id, method);
        let obs = &obs;
        let transition = Arc::new(transition);
        let rounds = async move {
            for _ in 0..=self.conflict_retries {
                let (expected, record) = match obs.store("load", self.store.load(user_id)).await? {
                    Some(stored) => (Some(stored.version), stored.record),
                    None => (None, MfaEnrollment::default()),
                };
                let now = self.clock.now();
                let step = match record.needs_argon2(work, &self.config, now) {
                    Hashing::None => transition(record, &self.config, now),
                    Hashing::Pool => {
                        self.run_hashing(obs, Arc::clone(&transition), record)
                            .await?
                    }
                    Hashing::ChargeFirst => {
                        let charge = record.charge(&self.config, now);
                        let paid = charge.outcome?;
                        // After a conflict nothing was charged: a new round.
                        if self.save(obs, user_id, expected, &charge.state).await? {
                            self.spend_charge(obs, user_id, work, charge.state, paid)
                                .await?;
                        }
                        // The next round applies what the charged work found.
                        continue;
                    }
                };
                if step.changed && !self.save(obs, user_id, expected, &step.state).await? {
                    continue;
                }
                for event in &step.events {
                    obs.event(event);
                    self.events.record(user_id, event);
                }
                return step.outcome;
            }
            Err(Error::StoreConflict)
        };
        #[cfg(feature = "tracing")]
        let result = tracing::Instrument::instrument(rounds, obs.span()).await;
        #[cfg(not(feature = "tracing"))]
        let result = rounds.await;
        obs.finish(&result);
        result
    }

    /// Charge before work (I16): once the attempt's charge is saved (as
    /// `charged`), its slow work runs once — a passkey's signature check
    /// against the record just saved (no wait stands between the two, so it
    /// is not loaded back), or a code's hash under a hashing permit against
    /// the record as it stands after the wait — and what it found is kept
    /// for the operation to apply.
    async fn spend_charge(
        &self,
        obs: &Observation,
        user_id: &str,
        work: Argon2Work<'_>,
        charged: MfaEnrollment,
        charge: Charge,
    ) -> Result<()> {
        #[cfg(feature = "passkeys")]
        if let Some(assertion) = work.assertion {
            let asserted = charged.check_assertion(&self.config, assertion);
            assertion.pay(charge, asserted);
            return Ok(());
        }
        drop(charged);
        let code = work
            .code
            .ok_or(Error::Internal("a charge without a code"))?;
        let permit = self.hash_permit(obs).await?;
        let record = obs.store("load", self.load(user_id)).await?;
        let (user, attempt) = (
            user_id.to_owned(),
            Zeroizing::new(code.check().code.to_owned()),
        );
        let shows_new_code = code.shows_new_code();
        let (found, reissue) = self
            .run_blocking(permit, move |config| {
                let found = record.find_backup_code(config, &user, &attempt)?;
                let reissue = match shows_new_code {
                    true => record.reissue_backup_code(config, &found, &mut rand::rng())?,
                    false => None,
                };
                Ok::<_, Error>((found, reissue))
            })
            .await??;
        code.pay(charge, found, reissue);
        Ok(())
    }

    /// Saves `state` if the stored version is still `expected`. False after
    /// a conflict (nothing was written); an error only when the write is not
    /// found to have landed (I11).
    pub(super) async fn save(
        &self,
        obs: &Observation,
        user_id: &str,
        expected: Option<u64>,
        state: &MfaEnrollment,
    ) -> Result<bool> {
        let write_id = WriteId::random();
        let saved = self.store.save(user_id, expected, state, write_id);
        match obs.store("save", saved).await {
            Ok(_) => Ok(true),
            Err(Error::StoreConflict) => {
                obs.conflict();
                yield_now().await;
                Ok(false)
            }
            Err(e) if !self.landed(obs, user_id, write_id).await => Err(e),
            Err(_) => Ok(true),
        }
    }

    /// After a save failed without a verdict: whether the write identified by
    /// `write_id` nonetheless landed (I11). Never judged by content: a racing
    /// twin may have stored a byte-identical record.
    pub(super) async fn landed(&self, obs: &Observation, user_id: &str, write_id: WriteId) -> bool {
        matches!(
            obs.store("load", self.store.load(user_id)).await,
            Ok(Some(stored)) if stored.write_id == write_id
        )
    }

    /// Runs a transition that hashes new codes or an import, under a hashing
    /// permit, with the time read after the wait for it.
    pub(super) async fn run_hashing<T, F>(
        &self,
        obs: &Observation,
        transition: Arc<F>,
        record: MfaEnrollment,
    ) -> Result<Transition<T>>
    where
        T: Send + 'static,
        F: Fn(MfaEnrollment, &MfaContext, u64) -> Transition<T> + Send + Sync + 'static,
    {
        let permit = self.hash_permit(obs).await?;
        let clock = Arc::clone(&self.clock);
        self.run_blocking(permit, move |config| {
            transition(record, config, clock.now())
        })
        .await
    }

    /// One of the service's hashing permits, waiting for it (I13).
    pub(super) async fn hash_permit(&self, obs: &Observation) -> Result<Permit> {
        let started = std::time::Instant::now();
        #[cfg(feature = "tokio")]
        let held = Arc::clone(&self.hash_permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("the hashing limiter was closed"))?;
        obs.waited_for_permit(started.elapsed());
        Ok(Permit {
            #[cfg(feature = "tokio")]
            _held: held,
            _gauge: super::observe::PermitGauge::held(),
        })
    }

    /// Runs slow hashing work on tokio's blocking pool; the permit travels
    /// with the work (I13).
    #[cfg(feature = "tokio")]
    pub(super) async fn run_blocking<T, W>(&self, permit: Permit, work: W) -> Result<T>
    where
        T: Send + 'static,
        W: FnOnce(&MfaContext) -> T + Send + 'static,
    {
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
    pub(super) async fn run_blocking<T, W>(&self, _permit: Permit, work: W) -> Result<T>
    where
        T: Send + 'static,
        W: FnOnce(&MfaContext) -> T + Send + 'static,
    {
        Ok(work(&self.config))
    }
}

pub(super) async fn yield_now() {
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::yield_now().await;
    }
}
