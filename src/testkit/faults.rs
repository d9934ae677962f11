//! A store wrapper that fails chosen operations, for testing what a service
//! does when its store misbehaves.
//!
//! [`FaultyStore`] passes every call to the store it wraps, except the ones a
//! test scripted to fail. Operations are counted per kind (loads and saves,
//! from 1), and a fault is attached to one numbered operation, either directly
//! ([`FaultyStore::fail_load`], [`FaultyStore::fail_save`]) or as a queue of
//! planned outcomes for the next operations of a kind
//! ([`FaultyStore::plan_loads`], [`FaultyStore::plan_saves`]).
//!
//!
//! A scripted save fault is injected only once every earlier save has
//! finished, so when racers save at once the faulted save is always the later
//! one; with [`FaultyStore::gate_loads`] racers can also be made to load the
//! same version first. Together they script a race meeting a failing
//! database deterministically, without timing luck.
//!
//! ```
//! use mfa::testkit::faults::{FaultyStore, SaveFault};
//! use mfa::{Error, MemoryStore, MfaEnrollment, MfaStore, store::WriteId};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = FaultyStore::new(MemoryStore::new());
//! // The next save is written, but reported as failed.
//! store.fail_save(1, SaveFault::WrittenButFailed);
//! let saved = store.save("u", None, &MfaEnrollment::default(), WriteId::random()).await;
//! assert!(matches!(saved, Err(Error::StoreUnavailable(_))));
//! assert_eq!(store.load("u").await.unwrap().unwrap().version, 1);
//! assert_eq!((store.saves(), store.loads(), store.faults_injected()), (1, 1, 1));
//! # });
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{Barrier, watch};

use crate::enrollment::MfaEnrollment;
use crate::error::{Error, Result};
use crate::store::{MfaStore, Versioned, WriteId};

/// How a scripted load fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadFault {
    /// The backend cannot be reached: [`Error::StoreUnavailable`].
    Unavailable,
    /// The stored record cannot be read: [`Error::CorruptRecord`].
    Corrupt,
}

/// How a scripted save fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaveFault {
    /// Nothing is written and the save reports [`Error::StoreUnavailable`].
    Unavailable,
    /// The record is written (with the usual compare-and-swap), but the save
    /// reports [`Error::StoreUnavailable`], as when a connection drops after
    /// the commit: the caller cannot tell whether the write landed.
    WrittenButFailed,
    /// Just before the save, another writer stores the current record again
    /// (bumping its version), so the save's compare-and-swap genuinely conflicts.
    Conflict,
    /// The save times out: it reports [`Error::StoreUnavailable`] without
    /// having written, and the write (with the usual compare-and-swap) lands
    /// late, right after the next load of this store has read — as when a
    /// statement the client gave up on still commits on the server. A
    /// read-back cannot see it; the one after can.
    TimedOut,
}

/// Which kind of operation a count refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Load,
    Save,
}

/// A save that timed out and has not landed yet.
#[derive(Debug)]
struct LateWrite {
    user_id: String,
    expected: Option<u64>,
    record: MfaEnrollment,
    write_id: WriteId,
}

/// Loads that wait for each other.
#[derive(Debug)]
struct Gate {
    barrier: Arc<Barrier>,
    remaining: usize,
}

#[derive(Debug, Default)]
struct Script {
    loads: u64,
    saves: u64,
    injected: u64,
    load_faults: BTreeMap<u64, LoadFault>,
    save_faults: BTreeMap<u64, SaveFault>,
    late_writes: Vec<LateWrite>,
    gate: Option<Gate>,
}

impl Script {
    fn count(&mut self, kind: Kind) -> u64 {
        let counter = match kind {
            Kind::Load => &mut self.loads,
            Kind::Save => &mut self.saves,
        };
        *counter += 1;
        *counter
    }
}

/// Wraps a store and fails the operations a test scripted; see the [module docs](self).
///
/// Clone-free and `Sync`: share it behind an `Arc` like any store, and keep
/// the `Arc` to script faults while a service uses it.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    script: Mutex<Script>,
    /// How many saves have finished, for ordering faulted saves after them.
    saves_done: watch::Sender<u64>,
}

/// Counts a save as finished when dropped, even if its future is cancelled.
struct SaveDone<'a>(&'a watch::Sender<u64>);

impl Drop for SaveDone<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|done| *done += 1);
    }
}

impl<S> FaultyStore<S> {
    /// Wraps `inner` with no faults scripted.
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            script: Mutex::new(Script::default()),
            saves_done: watch::Sender::new(0),
        }
    }

    /// Makes the next `n` loads wait for each other: each returns only once
    /// all `n` have read, so `n` concurrent operations start from the same
    /// version. Needs a multi-threaded runtime (or `n` tasks) to make progress.
    pub fn gate_loads(&self, n: usize) {
        self.script().gate = (n > 0).then(|| Gate {
            barrier: Arc::new(Barrier::new(n)),
            remaining: n,
        });
    }

    /// The wrapped store, for reading state behind the faults' back.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails the `n`-th load from now (`1` is the next one) with `fault`.
    pub fn fail_load(&self, n: u64, fault: LoadFault) {
        let mut script = self.script();
        let at = script.loads + n.max(1);
        script.load_faults.insert(at, fault);
    }

    /// Fails the `n`-th save from now (`1` is the next one) with `fault`.
    pub fn fail_save(&self, n: u64, fault: SaveFault) {
        let mut script = self.script();
        let at = script.saves + n.max(1);
        script.save_faults.insert(at, fault);
    }

    /// Plans the next loads in order: `None` passes through, `Some` fails.
    pub fn plan_loads(&self, plan: impl IntoIterator<Item = Option<LoadFault>>) {
        let mut script = self.script();
        let base = script.loads;
        for (i, fault) in plan.into_iter().enumerate() {
            if let Some(fault) = fault {
                script.load_faults.insert(base + 1 + i as u64, fault);
            }
        }
    }

    /// Plans the next saves in order: `None` passes through, `Some` fails.
    pub fn plan_saves(&self, plan: impl IntoIterator<Item = Option<SaveFault>>) {
        let mut script = self.script();
        let base = script.saves;
        for (i, fault) in plan.into_iter().enumerate() {
            if let Some(fault) = fault {
                script.save_faults.insert(base + 1 + i as u64, fault);
            }
        }
    }

    /// Drops every fault not yet injected.
    pub fn clear_faults(&self) {
        let mut script = self.script();
        script.load_faults.clear();
        script.save_faults.clear();
    }

    /// Faults scripted but not yet injected.
    pub fn pending_faults(&self) -> usize {
        let script = self.script();
        script.load_faults.len() + script.save_faults.len()
    }

    /// Loads so far (failed ones included).
    pub fn loads(&self) -> u64 {
        self.script().loads
    }

    /// Saves so far (failed ones included).
    pub fn saves(&self) -> u64 {
        self.script().saves
    }

    /// Faults injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.script().injected
    }

    fn next_load(&self) -> (Option<LoadFault>, Option<Arc<Barrier>>) {
        let mut script = self.script();
        let n = script.count(Kind::Load);
        let fault = script.load_faults.remove(&n);
        script.injected += u64::from(fault.is_some());
        let barrier = script.gate.as_mut().map(|gate| {
            gate.remaining -= 1;
            Arc::clone(&gate.barrier)
        });
        if script.gate.as_ref().is_some_and(|g| g.remaining == 0) {
            script.gate = None;
        }
        (fault, barrier)
    }

    fn next_save(&self) -> (u64, Option<SaveFault>) {
        let mut script = self.script();
        let n = script.count(Kind::Save);
        let fault = script.save_faults.remove(&n);
        script.injected += u64::from(fault.is_some());
        (n, fault)
    }

    /// Waits until every save before the `n`-th has finished.
    async fn after_earlier_saves(&self, n: u64) {
        let mut done = self.saves_done.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = done.wait_for(|done| *done + 1 >= n).await;
    }
}

impl<S: MfaStore> FaultyStore<S> {
    /// Lands the writes that timed out, each with its compare-and-swap.
    async fn land_late_writes(&self) {
        let late = std::mem::take(&mut self.script().late_writes);
        for w in late {
            // A late write that conflicts is simply lost, as on a real server.
            let _ = self
                .inner
                .save(&w.user_id, w.expected, &w.record, w.write_id)
                .await;
        }
    }
}

fn injected() -> Error {
    Error::store_unavailable("injected fault")
}

impl<S: MfaStore> MfaStore for FaultyStore<S> {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<MfaEnrollment>>>> + Send {
        let (fault, gate) = self.next_load();
        async move {
            let loaded = match fault {
                None => self.inner.load(user_id).await,
                Some(LoadFault::Unavailable) => Err(injected()),
                Some(LoadFault::Corrupt) => Err(Error::CorruptRecord("injected fault".to_owned())),
            };
            self.land_late_writes().await;
            if let Some(barrier) = gate {
                barrier.wait().await;
            }
            loaded
        }
    }

    fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> impl Future<Output = Result<u64>> + Send {
        let (n, fault) = self.next_save();
        async move {
            let _done = SaveDone(&self.saves_done);
            if fault.is_some() {
                self.after_earlier_saves(n).await;
            }
            match fault {
                None => self.inner.save(user_id, expected, record, write_id).await,
                Some(SaveFault::Unavailable) => Err(injected()),
                Some(SaveFault::WrittenButFailed) => {
                    self.inner.save(user_id, expected, record, write_id).await?;
                    Err(injected())
                }
                Some(SaveFault::Conflict) => {
                    let current = self.inner.load(user_id).await?;
                    let (version, other) = match current {
                        Some(v) => (Some(v.version), v.record),
                        None => (None, MfaEnrollment::default()),
                    };
                    self.inner
                        .save(user_id, version, &other, WriteId::random())
                        .await?;
                    self.inner.save(user_id, expected, record, write_id).await
                }
                Some(SaveFault::TimedOut) => {
                    self.script().late_writes.push(LateWrite {
                        user_id: user_id.to_owned(),
                        expected,
                        record: record.clone(),
                        write_id,
                    });
                    Err(Error::store_unavailable("injected fault: timed out"))
                }
            }
        }
    }

    fn passkey_owner(
        &self,
        credential_id: &[u8],
    ) -> impl Future<Output = Result<Option<String>>> + Send {
        self.inner.passkey_owner(credential_id)
    }
}
