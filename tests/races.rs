//! Races through the service (I2, I3, I4, and I1 under concurrency), generic
//! over the store.
//!
//! Each round starts a fresh user and lets several contenders (tokio tasks on
//! a multi-threaded runtime in even rounds, OS threads in odd rounds, all
//! released together by a barrier) do the same thing at once:
//!
//! - use the same backup code: exactly one wins (I3);
//! - use the same TOTP code: exactly one wins (I2);
//! - confirm the same pending setup: exactly one wins, and its codes are the stored ones;
//! - regenerate with the same TOTP code: exactly one wins;
//! - regenerate with the session only: all win in turn; every set handed out
//!   was stored at some point, and only the last one stored works (I1);
//! - send wrong codes: no increment of the failure counter is lost (I4);
//! - send wrong and then right codes around the lockout threshold: no state is
//!   ever saved on top of a locked one, and nothing succeeds while locked (I4).
//!
//! A recording wrapper keeps every record saved, by version, so the history of
//! each race can be checked in the order the store serialized it.
//!
//! Adding a store is one line at the bottom: `race_suite!(name, async { Some((store, guard)) })`.

mod db_common;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mfa::testkit::conformance::user;
use mfa::testkit::{ManualClock, test_config, test_config_with};
use mfa::{
    Error, MemoryStore, Mfa, MfaContext, MfaEnrollment, MfaStore, PostgresStore, Reauth,
    SqliteStore,
    store::{Versioned, WriteId},
    totp::{self, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};

const T0: u64 = 1_700_000_000;
/// Rounds per store, over all races.
const ROUNDS: usize = 1_001;
/// Contenders per round.
const CONTENDERS: usize = 8;

/// Keeps every successfully saved record per user, keyed by version.
struct Recording<S> {
    inner: S,
    saved: Mutex<HashMap<String, Vec<Versioned<MfaEnrollment>>>>,
}

impl<S: MfaStore> MfaStore for Recording<S> {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = mfa::Result<Option<Versioned<MfaEnrollment>>>> + Send {
        self.inner.load(user_id)
    }

    async fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> mfa::Result<u64> {
        let version = self.inner.save(user_id, expected, record, write_id).await?;
        self.saved
            .lock()
            .unwrap()
            .entry(user_id.to_owned())
            .or_default()
            .push(Versioned::new(version, write_id, record.clone()));
        Ok(version)
    }
}

impl<S> Recording<S> {
    /// The records saved for `user_id` after version `from`, in version order.
    fn history(&self, user_id: &str, from: u64) -> Vec<Versioned<MfaEnrollment>> {
        let mut saved: Vec<_> = self
            .saved
            .lock()
            .unwrap()
            .get(user_id)
            .into_iter()
            .flatten()
            .filter(|v| v.version > from)
            .cloned()
            .collect();
        saved.sort_by_key(|v| v.version);
        for pair in saved.windows(2) {
            assert_eq!(
                pair[1].version,
                pair[0].version + 1,
                "a version was skipped"
            );
        }
        saved
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Tasks,
    Threads,
}

/// Runs `f(0..n)` all at once, as tokio tasks or as OS threads.
async fn contend<T, F, Fut>(mode: Mode, n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let f = Arc::new(f);
    match mode {
        Mode::Tasks => {
            let barrier = Arc::new(tokio::sync::Barrier::new(n));
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let (f, barrier) = (Arc::clone(&f), Arc::clone(&barrier));
                    tokio::spawn(async move {
                        barrier.wait().await;
                        f(i).await
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(n);
            for task in tasks {
                out.push(task.await.expect("task"));
            }
            out
        }
        Mode::Threads => {
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let barrier = Arc::new(std::sync::Barrier::new(n));
                let threads: Vec<_> = (0..n)
                    .map(|i| {
                        let (f, barrier, handle) =
                            (Arc::clone(&f), Arc::clone(&barrier), handle.clone());
                        std::thread::spawn(move || {
                            barrier.wait();
                            handle.block_on(f(i))
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("thread"))
                    .collect()
            })
            .await
            .expect("threads")
        }
    }
}

struct Suite<S> {
    store: Arc<Recording<S>>,
    /// The default policy: the 5th consecutive failure starts the delays.
    mfa: Arc<Mfa<Arc<Recording<S>>>>,
    /// No delays before the hard limit of 100 failures: counts every failure.
    lenient: Arc<Mfa<Arc<Recording<S>>>>,
    clock: ManualClock,
    config: MfaContext,
}

impl<S: MfaStore + 'static> Suite<S> {
    fn new(inner: S) -> Self {
        let store = Arc::new(Recording {
            inner,
            saved: Mutex::new(HashMap::new()),
        });
        let clock = ManualClock::new(T0);
        let make = |config| {
            Arc::new(
                Mfa::new(Arc::clone(&store), config)
                    .with_clock(clock.clone())
                    .with_conflict_retries(64),
            )
        };
        let mfa = make(test_config());
        let lenient = make(test_config_with(|p| p.lockout.lock_after_failures = 100));
        Suite {
            store,
            mfa,
            lenient,
            clock,
            config: test_config(),
        }
    }

    fn totp(&self, secret: &TotpSecret) -> String {
        totp::generate(secret, self.config.policy().totp.params(), self.clock.get()).unwrap()
    }

    /// `n` distinct codes, all wrong for `secret` around now.
    fn wrong(&self, secret: &TotpSecret, n: usize) -> Vec<String> {
        let now = self.clock.get();
        let window: Vec<String> = [now - 30, now, now + 30]
            .iter()
            .map(|t| totp::generate(secret, self.config.policy().totp.params(), *t).unwrap())
            .collect();
        (0..1_000_000u32)
            .map(|c| format!("{c:06}"))
            .filter(|c| !window.contains(c))
            .take(n)
            .collect()
    }

    async fn begin(&self, id: &str) -> TotpSecret {
        let setup = self.mfa.begin_setup(id, "user@example.com").await.unwrap();
        TotpSecret::from_base32(setup.secret_base32()).unwrap()
    }

    async fn enroll(&self, id: &str) -> (TotpSecret, Vec<String>) {
        let secret = self.begin(id).await;
        let codes = self
            .mfa
            .confirm_setup(id, &self.totp(&secret))
            .await
            .unwrap();
        self.clock.advance(30);
        (secret, strings(&codes))
    }

    async fn record(&self, id: &str) -> Versioned<MfaEnrollment> {
        self.store.load(id).await.unwrap().expect("a record")
    }

    fn backup_code_works(&self, record: &MfaEnrollment, id: &str, code: &str) -> bool {
        let mut rng = StdRng::seed_from_u64(0);
        let now = self.clock.get();
        let t = record
            .clone()
            .verify_backup_code(&self.config, id, code, now, &mut rng);
        t.outcome.is_ok()
    }

    async fn round(&self, race: Race, mode: Mode, round: usize) {
        let id = user(&format!("race-{race:?}-{round}"));
        let ctx = format!("round {round}, {race:?} with {mode:?}");
        match race {
            Race::SameBackupCode => {
                let (_, codes) = self.enroll(&id).await;
                let (mfa, uid, code) = (Arc::clone(&self.mfa), id.clone(), codes[3].clone());
                let results = contend(mode, CONTENDERS, move |_| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), code.clone());
                    async move { mfa.verify_backup_code(&uid, &code).await }
                })
                .await;
                exactly_one_winner(&ctx, &results, |e| matches!(e, Error::InvalidCode));
                let MfaEnrollment::Active(a) = self.record(&id).await.record else {
                    panic!("{ctx}: not active")
                };
                assert_eq!(a.backup_codes().remaining(), 9, "{ctx}");
                assert_eq!(
                    a.attempts().failures(),
                    0,
                    "{ctx}: a used code counted as a failure"
                );
            }
            Race::SameTotpCode => {
                let (secret, _) = self.enroll(&id).await;
                let (mfa, uid, code) = (Arc::clone(&self.mfa), id.clone(), self.totp(&secret));
                let results = contend(mode, CONTENDERS, move |i| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), code.clone());
                    async move {
                        // Both entry points share one replay mark.
                        if i % 2 == 0 {
                            mfa.verify_totp(&uid, &code).await
                        } else {
                            mfa.verify(&uid, &code).await
                        }
                    }
                })
                .await;
                exactly_one_winner(&ctx, &results, |e| matches!(e, Error::InvalidCode));
                let MfaEnrollment::Active(a) = self.record(&id).await.record else {
                    panic!("{ctx}: not active")
                };
                assert_eq!(
                    a.attempts().failures(),
                    0,
                    "{ctx}: a replay counted as a failure"
                );
            }
            Race::ConfirmSameSetup => {
                let secret = self.begin(&id).await;
                let (mfa, uid, code) = (Arc::clone(&self.mfa), id.clone(), self.totp(&secret));
                let results = contend(mode, CONTENDERS, move |_| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), code.clone());
                    async move { mfa.confirm_setup(&uid, &code).await.map(|c| strings(&c)) }
                })
                .await;
                let winner =
                    exactly_one_winner(&ctx, &results, |e| matches!(e, Error::MfaAlreadyEnabled));
                let record = self.record(&id).await.record;
                for code in winner {
                    assert!(self.backup_code_works(&record, &id, code), "{ctx}: I1");
                }
                // The confirming step is used (I2).
                let again = self.mfa.verify_totp(&id, &self.totp(&secret)).await;
                assert!(matches!(again, Err(Error::InvalidCode)), "{ctx}: {again:?}");
            }
            Race::RegenerateSameTotp => {
                let (secret, old) = self.enroll(&id).await;
                let (mfa, uid, code) = (Arc::clone(&self.mfa), id.clone(), self.totp(&secret));
                let results = contend(mode, CONTENDERS, move |_| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), code.clone());
                    async move {
                        mfa.regenerate_backup_codes(&uid, Reauth::TotpCode(&code))
                            .await
                            .map(|c| strings(&c))
                    }
                })
                .await;
                let winner =
                    exactly_one_winner(&ctx, &results, |e| matches!(e, Error::InvalidCode));
                let record = self.record(&id).await.record;
                assert!(self.backup_code_works(&record, &id, &winner[0]), "{ctx}");
                assert!(!self.backup_code_works(&record, &id, &old[0]), "{ctx}");
            }
            Race::RegenerateSessionOnly => {
                let _ = self.enroll(&id).await;
                let start = self.record(&id).await.version;
                let (mfa, uid) = (Arc::clone(&self.mfa), id.clone());
                let results = contend(mode, CONTENDERS, move |_| {
                    let (mfa, uid) = (Arc::clone(&mfa), uid.clone());
                    async move {
                        mfa.regenerate_backup_codes(&uid, Reauth::SessionOnly)
                            .await
                            .map(|c| strings(&c))
                    }
                })
                .await;
                let sets: Vec<Vec<String>> = results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| panic!("{ctx}: {e:?}")))
                    .collect();
                let history = self.store.history(&id, start);
                assert_eq!(
                    history.len(),
                    CONTENDERS,
                    "{ctx}: one save per regeneration"
                );
                // Every set handed out was stored at some point (I1)...
                for set in &sets {
                    assert!(
                        history
                            .iter()
                            .any(|v| self.backup_code_works(&v.record, &id, &set[0])),
                        "{ctx}: a set was shown that was never stored"
                    );
                }
                // ...and only the last one stored works now.
                let record = self.record(&id).await.record;
                let live = sets
                    .iter()
                    .filter(|set| self.backup_code_works(&record, &id, &set[0]))
                    .count();
                assert_eq!(live, 1, "{ctx}: {live} live sets");
            }
            Race::WrongCodesCount => {
                let (secret, _) = self.enroll(&id).await;
                let (mfa, uid, wrong) = (
                    Arc::clone(&self.lenient),
                    id.clone(),
                    self.wrong(&secret, 16),
                );
                let n = wrong.len();
                let results = contend(mode, n, move |i| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), wrong[i].clone());
                    async move { mfa.verify(&uid, &code).await }
                })
                .await;
                for r in &results {
                    assert!(matches!(r, Err(Error::InvalidCode)), "{ctx}: {r:?}");
                }
                let MfaEnrollment::Active(a) = self.record(&id).await.record else {
                    panic!("{ctx}: not active")
                };
                assert_eq!(
                    a.attempts().failures() as usize,
                    n,
                    "{ctx}: a failure was lost"
                );
                // With the default policy the counter stops at the lock: the
                // free failures are counted and every other attempt is refused.
                let strict = format!("{id}-strict");
                let (secret, _) = self.enroll(&strict).await;
                let (mfa, uid, wrong) = (
                    Arc::clone(&self.mfa),
                    strict.clone(),
                    self.wrong(&secret, 12),
                );
                let n = wrong.len();
                let results = contend(mode, n, move |i| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), wrong[i].clone());
                    async move { mfa.verify(&uid, &code).await }
                })
                .await;
                let free = self.config.policy().lockout.lock_after_failures as usize;
                let counted = results
                    .iter()
                    .filter(|r| matches!(r, Err(Error::InvalidCode)))
                    .count();
                let locked = results
                    .iter()
                    .filter(|r| matches!(r, Err(Error::LockedOut { .. })))
                    .count();
                assert_eq!((counted, locked), (free, n - free), "{ctx}: {results:?}");
                let MfaEnrollment::Active(a) = self.record(&strict).await.record else {
                    panic!("{ctx}: not active")
                };
                assert_eq!(a.attempts().failures() as usize, free, "{ctx}");
            }
            Race::LockoutThreshold => {
                let (secret, codes) = self.enroll(&id).await;
                let free = self.config.policy().lockout.lock_after_failures as usize;
                // One failure short of the lock.
                for code in self.wrong(&secret, free - 1) {
                    let r = self.mfa.verify(&id, &code).await;
                    assert!(matches!(r, Err(Error::InvalidCode)), "{ctx}: {r:?}");
                }
                let start = self.record(&id).await.version;
                let wrong = self.wrong(&secret, CONTENDERS);
                let (mfa, uid, good) = (Arc::clone(&self.mfa), id.clone(), codes.clone());
                let results = contend(mode, CONTENDERS, move |i| {
                    let (mfa, uid) = (Arc::clone(&mfa), uid.clone());
                    let (bad, good) = (wrong[i].clone(), good[i].clone());
                    async move {
                        let first = mfa.verify(&uid, &bad).await;
                        let second = mfa.verify_backup_code(&uid, &good).await;
                        (first, second)
                    }
                })
                .await;
                let history = self.store.history(&id, start);
                let now = self.clock.get();
                let mut previous = self.store.history(&id, start - 1).remove(0).record;
                let (mut successes, mut failures) = (0, 0);
                for saved in &history {
                    let (MfaEnrollment::Active(before), MfaEnrollment::Active(after)) =
                        (&previous, &saved.record)
                    else {
                        panic!("{ctx}: not active")
                    };
                    assert!(
                        !previous.status(&self.config, now).locked_out,
                        "{ctx}: version {} was saved on top of a locked record (I4)",
                        saved.version
                    );
                    if after.backup_codes().remaining() < before.backup_codes().remaining() {
                        successes += 1;
                        assert_eq!(after.attempts().failures(), 0, "{ctx}");
                    } else {
                        failures += 1;
                        assert_eq!(
                            after.attempts().failures(),
                            before.attempts().failures() + 1,
                            "{ctx}: failure lost"
                        );
                    }
                    previous = saved.record.clone();
                }
                let oks = results
                    .iter()
                    .filter(|(a, b)| a.is_ok() || b.is_ok())
                    .count();
                let invalid = results
                    .iter()
                    .flat_map(|(a, b)| [a, b])
                    .filter(|r| matches!(r, Err(Error::InvalidCode)))
                    .count();
                assert_eq!(
                    oks, successes,
                    "{ctx}: successes and saved successes differ"
                );
                assert_eq!(
                    invalid, failures,
                    "{ctx}: failures and saved failures differ"
                );
                for (first, second) in &results {
                    assert!(first.is_err(), "{ctx}: a wrong code succeeded");
                    if let Err(e) = second {
                        assert!(
                            matches!(e, Error::LockedOut { .. }),
                            "{ctx}: a right code failed with {e:?}"
                        );
                    }
                }
                // If the race ended locked, even a right code is refused now.
                let final_record = self.record(&id).await.record;
                let MfaEnrollment::Active(a) = &final_record else {
                    panic!()
                };
                assert!(
                    a.attempts().failures() as usize <= free,
                    "{ctx}: counted past the lock"
                );
                if final_record.status(&self.config, now).locked_out {
                    let r = self.mfa.verify_backup_code(&id, &codes[CONTENDERS]).await;
                    assert!(matches!(r, Err(Error::LockedOut { .. })), "{ctx}: {r:?}");
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Race {
    SameBackupCode,
    SameTotpCode,
    ConfirmSameSetup,
    RegenerateSameTotp,
    RegenerateSessionOnly,
    WrongCodesCount,
    LockoutThreshold,
}

const RACES: [Race; 7] = [
    Race::SameBackupCode,
    Race::SameTotpCode,
    Race::ConfirmSameSetup,
    Race::RegenerateSameTotp,
    Race::RegenerateSessionOnly,
    Race::WrongCodesCount,
    Race::LockoutThreshold,
];

fn strings(codes: &mfa::BackupCodes) -> Vec<String> {
    codes.as_strs().into_iter().map(str::to_owned).collect()
}

/// Exactly one `Ok`; every other result is an error `loser` accepts. Returns the winner.
fn exactly_one_winner<'a, T: std::fmt::Debug>(
    ctx: &str,
    results: &'a [mfa::Result<T>],
    loser: impl Fn(&Error) -> bool,
) -> &'a T {
    let winners: Vec<&T> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "{ctx}: {} winners: {results:?}",
        winners.len()
    );
    for r in results {
        if let Err(e) = r {
            assert!(loser(e), "{ctx}: unexpected error {e:?}");
        }
    }
    winners[0]
}

/// Runs `ROUNDS` rounds, cycling through the races and alternating tasks and threads.
async fn run_suite<S: MfaStore + 'static>(store: S, name: &str) {
    let started = Instant::now();
    let suite = Suite::new(store);
    for round in 0..ROUNDS {
        let race = RACES[round % RACES.len()];
        let mode = if (round / RACES.len()).is_multiple_of(2) {
            Mode::Tasks
        } else {
            Mode::Threads
        };
        suite.round(race, mode, round).await;
    }
    eprintln!(
        "races on {name}: {ROUNDS} rounds × {CONTENDERS} contenders in {:.1?}",
        started.elapsed()
    );
}

/// One test per store; the body makes the store.
macro_rules! race_suite {
    ($name:ident, $store:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            if let Some((store, _guard)) = $store.await {
                run_suite(store, stringify!($name)).await;
            }
        }
    };
}

/// Removes a temporary directory on drop.
struct TempDir(Option<std::path::PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A database file, so that the pool's several connections really run at once.
async fn sqlite_file() -> Option<(SqliteStore, TempDir)> {
    let dir = std::env::temp_dir().join(user("mfa-races"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("races.db").display());
    let store = SqliteStore::connect(&url).await.expect("sqlite");
    Some((store, TempDir(Some(dir))))
}

async fn postgres() -> Option<(PostgresStore, TempDir)> {
    let url = db_common::Server::Postgres.url()?;
    let store = PostgresStore::connect(&url).await.expect("postgres");
    Some((store, TempDir(None)))
}

async fn mysql() -> Option<(mfa::MysqlStore, TempDir)> {
    let url = db_common::Server::Mysql.url()?;
    let store = mfa::MysqlStore::connect(&url).await.expect("mysql");
    Some((store, TempDir(None)))
}

race_suite!(memory_store, async {
    Some((MemoryStore::new(), TempDir(None)))
});
race_suite!(sqlite_store, sqlite_file());
race_suite!(postgres_store, postgres());
race_suite!(mysql_store, mysql());
