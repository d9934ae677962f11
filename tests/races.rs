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
//! - regenerate with a recent proof: all win in turn; every set handed out
//!   was stored at some point, and only the last one stored works (I1);
//! - send wrong codes: no increment of the failure counter is lost (I4);
//! - send wrong and then right codes around the lockout threshold: no state is
//!   ever saved on top of a locked one, and nothing succeeds while locked (I4);
//! - complete one login challenge 16 times at once, with 16 different backup
//!   codes, or with the same TOTP code: exactly one completes, every other
//!   answer is `InvalidChallenge`, one code is used and one login counted (I12);
//! - an operator reset against completions of a login challenge: a login that
//!   completes was saved before the reset, and the reset revokes its proof by
//!   epoch; every other completion is refused (I12);
//! - disable against regenerations with a recent proof: a regeneration either
//!   lands before the disable (and its codes were stored) or is refused; the
//!   disable always wins and revokes the proof (I1, I12);
//! - confirm a replacement against logins and TOTP verifications with the
//!   old app's code: an old code is accepted only by a save that precedes
//!   the swap, under the old epoch, and refused (counted) after it;
//! - confirm one replacement 16 times at once with the same new-app code:
//!   exactly one swap, every other answer is `NoPendingSetup`;
//! - forget devices against remembering devices: the forget counts what was
//!   saved before it, and exactly the devices saved after it are left;
//! - imports of different factors against confirmations of the pending
//!   setup: exactly one enables the factor (one epoch), and the stored
//!   factor is the winner's: its secret and codes work, no loser's does.
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

use mfa::import::{CodeCase, ImportedFactor};
use mfa::testkit::conformance::user;
use mfa::testkit::{ManualClock, test_config, test_config_with};
use mfa::{
    Epoch, Error, FactorState, LoginChallenge, LoginStep, MemoryStore, Mfa, MfaContext,
    MfaEnrollment, MfaStore, PostgresStore, Proof, Reauth, SqliteStore, VerifiedBy,
    store::{Versioned, WriteId},
    totp::{self, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};

const T0: u64 = 1_700_000_000;
/// Rounds per store, over all races: 100 of each.
const ROUNDS: usize = 1_500;
/// Contenders per round.
const CONTENDERS: usize = 8;
/// Contenders completing one login challenge.
const WIDE: usize = 16;

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

    fn passkey_owner(
        &self,
        credential_id: &[u8],
    ) -> impl Future<Output = mfa::Result<Option<String>>> + Send {
        self.inner.passkey_owner(credential_id)
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
    /// `WIDE` backup codes per set.
    wide: Arc<Mfa<Arc<Recording<S>>>>,
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
        let wide = make(test_config_with(|p| p.backup_codes.count = WIDE));
        Suite {
            store,
            mfa,
            lenient,
            wide,
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

    async fn enroll(&self, id: &str) -> (TotpSecret, Vec<String>, Proof) {
        self.enroll_with(&self.mfa, id).await
    }

    /// Enrolls `id` through `mfa`: the secret, the codes and the proof of
    /// the confirmation; the clock then moves to the next step.
    async fn enroll_with(
        &self,
        mfa: &Mfa<Arc<Recording<S>>>,
        id: &str,
    ) -> (TotpSecret, Vec<String>, Proof) {
        let secret = self.begin(id).await;
        let enabled = mfa.confirm_setup(id, &self.totp(&secret)).await.unwrap();
        self.clock.advance(30);
        (secret, strings(&enabled.backup_codes), enabled.proof)
    }

    async fn challenge(&self, id: &str) -> LoginChallenge {
        match self.mfa.begin_login(id, None).await.unwrap() {
            LoginStep::SecondFactor(challenge) => challenge,
            other => panic!("no challenge for an active factor: {other:?}"),
        }
    }

    async fn record(&self, id: &str) -> Versioned<MfaEnrollment> {
        self.store.load(id).await.unwrap().expect("a record")
    }

    /// The active factor of the stored record.
    async fn active(&self, id: &str) -> mfa::enrollment::ActiveFactor {
        match self.record(id).await.record.factor() {
            FactorState::Active(a) => a.clone(),
            other => panic!("{id}: not active: {other:?}"),
        }
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
                let (_, codes, _) = self.enroll(&id).await;
                let (mfa, uid, code) = (Arc::clone(&self.mfa), id.clone(), codes[3].clone());
                let results = contend(mode, CONTENDERS, move |_| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), code.clone());
                    async move { mfa.verify_backup_code(&uid, &code).await }
                })
                .await;
                // Charged before its hash (I16), a submission past the lock
                // threshold is refused unhashed.
                exactly_one_winner(&ctx, &results, |e| {
                    matches!(e, Error::InvalidCode | Error::LockedOut { .. })
                });
                let a = self.active(&id).await;
                assert_eq!(a.backup_codes().remaining(), 9, "{ctx}");
                assert_eq!(
                    a.attempts().failures(),
                    0,
                    "{ctx}: a used code counted as a failure"
                );
            }
            Race::SameTotpCode => {
                let (secret, _, _) = self.enroll(&id).await;
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
                let a = self.active(&id).await;
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
                    async move {
                        mfa.confirm_setup(&uid, &code)
                            .await
                            .map(|e| strings(&e.backup_codes))
                    }
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
                let (secret, old, _) = self.enroll(&id).await;
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
            Race::RegenerateWithProof => {
                let (_, _, proof) = self.enroll(&id).await;
                let start = self.record(&id).await.version;
                let (mfa, uid) = (Arc::clone(&self.mfa), id.clone());
                let results = contend(mode, CONTENDERS, move |_| {
                    let (mfa, uid) = (Arc::clone(&mfa), uid.clone());
                    async move {
                        mfa.regenerate_backup_codes(&uid, Reauth::RecentProof(&proof))
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
                let (secret, _, _) = self.enroll(&id).await;
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
                let a = self.active(&id).await;
                assert_eq!(
                    a.attempts().failures() as usize,
                    n,
                    "{ctx}: a failure was lost"
                );
                // With the default policy the counter stops at the lock: the
                // free failures are counted and every other attempt is refused.
                let strict = format!("{id}-strict");
                let (secret, _, _) = self.enroll(&strict).await;
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
                let a = self.active(&strict).await;
                assert_eq!(a.attempts().failures() as usize, free, "{ctx}");
            }
            Race::LockoutThreshold => {
                let (secret, codes, _) = self.enroll(&id).await;
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
                    let (FactorState::Active(before), FactorState::Active(after)) =
                        (previous.factor(), saved.record.factor())
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
                let FactorState::Active(a) = final_record.factor() else {
                    panic!("{ctx}: not active")
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
            Race::CompleteChallengeBackupCodes => {
                let (_, codes, _) = self.enroll_with(&self.wide, &id).await;
                let challenge = self.challenge(&id).await;
                let start = self.record(&id).await;
                let (mfa, submitted) = (Arc::clone(&self.mfa), codes.clone());
                let results = contend(mode, WIDE, move |i| {
                    let (mfa, challenge, code) =
                        (Arc::clone(&mfa), challenge.clone(), submitted[i].clone());
                    async move { mfa.complete_login(&challenge, &code).await }
                })
                .await;
                let winner = exactly_one_winner(&ctx, &results, |e| {
                    matches!(e, Error::InvalidChallenge | Error::LockedOut { .. })
                });
                assert_eq!(winner.by, VerifiedBy::BackupCode, "{ctx}");
                assert_eq!(winner.backup_codes_remaining, WIDE - 1, "{ctx}");
                let record = self.record(&id).await;
                // The login's save, and before it a charge (I16) for each
                // submission admitted while the lock had not engaged.
                let history = self.store.history(&id, start.version);
                let logged_in = history
                    .iter()
                    .filter(|v| logins(&v.record) != logins(&start.record))
                    .count();
                assert_eq!(logged_in, 1, "{ctx}: one save for one login");
                let lock = self.config.policy().lockout.lock_after_failures as usize;
                assert!(history.len() <= 1 + lock, "{ctx}: charged past the lock");
                assert_eq!(logins(&record.record), logins(&start.record) + 1, "{ctx}");
                // The winner's code is the one used; every other code still works.
                let won = results.iter().position(Result::is_ok).unwrap();
                for (i, code) in codes.iter().enumerate() {
                    assert_eq!(
                        self.backup_code_works(&record.record, &id, code),
                        i != won,
                        "{ctx}: code {i} (the winner's is {won})"
                    );
                }
                let a = self.active(&id).await;
                assert_eq!(a.backup_codes().remaining(), WIDE - 1, "{ctx}: I3");
                assert_eq!(a.attempts().failures(), 0, "{ctx}: a refusal counted");
            }
            Race::CompleteChallengeSameTotp => {
                let (secret, _, _) = self.enroll(&id).await;
                let challenge = self.challenge(&id).await;
                let start = self.record(&id).await;
                let (mfa, code) = (Arc::clone(&self.mfa), self.totp(&secret));
                let results = contend(mode, WIDE, move |_| {
                    let (mfa, challenge, code) =
                        (Arc::clone(&mfa), challenge.clone(), code.clone());
                    async move { mfa.complete_login(&challenge, &code).await }
                })
                .await;
                // A racer that checked the code before the winner saved loses
                // its save, and its retry finds the challenge closed: no racer
                // ever meets an open challenge with a used step.
                let winner =
                    exactly_one_winner(&ctx, &results, |e| matches!(e, Error::InvalidChallenge));
                let VerifiedBy::Totp(matched) = winner.by else {
                    panic!("{ctx}: {winner:?}")
                };
                let record = self.record(&id).await;
                assert_eq!(
                    self.store.history(&id, start.version).len(),
                    1,
                    "{ctx}: one save for one login"
                );
                assert_eq!(logins(&record.record), logins(&start.record) + 1, "{ctx}");
                let a = self.active(&id).await;
                assert_eq!(a.last_step(), Some(matched.step), "{ctx}: I2");
                assert_eq!(a.attempts().failures(), 0, "{ctx}: a refusal counted");
            }
            Race::ResetVersusLogin => {
                let (_, codes, proof) = self.enroll(&id).await;
                let challenge = self.challenge(&id).await;
                let start = self.record(&id).await;
                let epoch = start.record.epoch();
                let (mfa, submitted) = (Arc::clone(&self.mfa), codes.clone());
                let results = contend(mode, CONTENDERS, move |i| {
                    let (mfa, uid) = (Arc::clone(&mfa), challenge.user_id().to_owned());
                    let (challenge, code) = (challenge.clone(), submitted[i].clone());
                    async move {
                        if i == 0 {
                            mfa.operator_reset(&uid, "support:1", "account recovery")
                                .await
                                .map(|()| None)
                        } else {
                            mfa.complete_login(&challenge, &code).await.map(Some)
                        }
                    }
                })
                .await;
                assert!(matches!(results[0], Ok(None)), "{ctx}: {:?}", results[0]);
                let logins_won: Vec<_> = results[1..]
                    .iter()
                    .filter_map(|r| match r {
                        Ok(Some(v)) => Some(v.proof),
                        Ok(None) => panic!("{ctx}"),
                        Err(Error::InvalidChallenge | Error::LockedOut { .. }) => None,
                        Err(e) => panic!("{ctx}: a completion failed with {e:?}"),
                    })
                    .collect();
                assert!(logins_won.len() <= 1, "{ctx}: {results:?}");
                // The history: charges (I16) and at most one login, all
                // saved before the reset, which is the last save.
                let history = self.store.history(&id, start.version);
                let kinds: Vec<bool> = history.iter().map(|v| v.record.is_active()).collect();
                let mut expected = vec![true; history.len() - 1];
                expected.push(false);
                assert_eq!(
                    kinds, expected,
                    "{ctx}: saves in order (active = a login or a charge)"
                );
                let logins_saved = history
                    .windows(2)
                    .filter(|w| logins(&w[0].record) != logins(&w[1].record))
                    .count()
                    + usize::from(logins(&history[0].record) != logins(&start.record));
                assert_eq!(logins_saved, logins_won.len(), "{ctx}: logins saved");
                let record = self.record(&id).await.record;
                assert!(matches!(record.factor(), FactorState::Disabled), "{ctx}");
                assert_eq!(record.epoch(), Epoch::new(epoch.get() + 1), "{ctx}: I12");
                for v in logins_won.iter().copied().chain([proof]) {
                    assert_eq!(v.epoch, epoch, "{ctx}");
                    assert!(
                        matches!(record.check_epoch(v.epoch), Err(Error::Revoked)),
                        "{ctx}: a session survived the reset (I12)"
                    );
                    assert!(
                        matches!(
                            record.check_proof(&self.config, &id, &v, self.clock.get()),
                            Err(Error::Revoked)
                        ),
                        "{ctx}: a proof survived the reset (I12)"
                    );
                }
            }
            Race::DisableVersusRegenerate => {
                let (secret, _, proof) = self.enroll(&id).await;
                let start = self.record(&id).await;
                let epoch = start.record.epoch();
                let (mfa, uid, code) = (Arc::clone(&self.mfa), id.clone(), self.totp(&secret));
                let results = contend(mode, CONTENDERS, move |i| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), code.clone());
                    async move {
                        if i == 0 {
                            mfa.disable(&uid, &code).await.map(Managed::Disabled)
                        } else {
                            mfa.regenerate_backup_codes(&uid, Reauth::RecentProof(&proof))
                                .await
                                .map(|c| Managed::Regenerated(strings(&c)))
                        }
                    }
                })
                .await;
                let Ok(Managed::Disabled(disabled)) = &results[0] else {
                    panic!("{ctx}: the disable: {:?}", results[0])
                };
                assert_eq!(disabled.epoch, Epoch::new(epoch.get() + 1), "{ctx}: I12");
                let sets: Vec<&Vec<String>> = results[1..]
                    .iter()
                    .filter_map(|r| match r {
                        Ok(Managed::Regenerated(set)) => Some(set),
                        Err(Error::MfaNotEnabled) => None,
                        other => panic!("{ctx}: a regeneration answered {other:?}"),
                    })
                    .collect();
                // Every regeneration that answered was saved before the
                // disable (I1), and none after it.
                let history = self.store.history(&id, start.version);
                let kinds: Vec<bool> = history.iter().map(|v| v.record.is_active()).collect();
                let mut expected = vec![true; sets.len()];
                expected.push(false);
                assert_eq!(
                    kinds, expected,
                    "{ctx}: saves in order (active = a regeneration)"
                );
                for set in &sets {
                    assert!(
                        history
                            .iter()
                            .any(|v| self.backup_code_works(&v.record, &id, &set[0])),
                        "{ctx}: a set was shown that was never stored"
                    );
                }
                let record = self.record(&id).await.record;
                assert!(matches!(record.factor(), FactorState::Disabled), "{ctx}");
                assert!(
                    matches!(
                        record.check_proof(&self.config, &id, &proof, self.clock.get()),
                        Err(Error::Revoked)
                    ),
                    "{ctx}: the proof survived the disable (I12)"
                );
            }
            Race::SwapVersusOldApp => {
                // Lenient: the old app's refused codes after the swap all count.
                let mfa = Arc::clone(&self.lenient);
                let (old, _, proof) = self.enroll_with(&mfa, &id).await;
                let setup = mfa
                    .begin_replacement(&id, "user@example.com", Reauth::RecentProof(&proof))
                    .await
                    .unwrap();
                let new = TotpSecret::from_base32(setup.secret_base32()).unwrap();
                let challenge = self.challenge(&id).await;
                let start = self.record(&id).await;
                let epoch = start.record.epoch();
                let (old_code, new_code) = (self.totp(&old), self.totp(&new));
                let uid = id.clone();
                let old_submitted = old_code.clone();
                let results = contend(mode, CONTENDERS, move |i| {
                    let (mfa, uid, challenge) = (Arc::clone(&mfa), uid.clone(), challenge.clone());
                    let (old, new) = (old_submitted.clone(), new_code.clone());
                    async move {
                        match i {
                            0 => mfa
                                .confirm_replacement(&uid, &new)
                                .await
                                .map(Lifecycle::Replaced),
                            1..=3 => mfa
                                .complete_login(&challenge, &old)
                                .await
                                .map(|v| Lifecycle::OldApp(v.proof)),
                            _ => mfa
                                .verify_totp(&uid, &old)
                                .await
                                .map(|v| Lifecycle::OldApp(v.proof)),
                        }
                    }
                })
                .await;
                let Ok(Lifecycle::Replaced(replaced)) = &results[0] else {
                    panic!("{ctx}: the swap: {:?}", results[0])
                };
                assert_eq!(replaced.epoch, Epoch::new(epoch.get() + 1), "{ctx}: I12");
                let mut accepted = Vec::new();
                let mut counted = 0;
                for r in &results[1..] {
                    match r {
                        Ok(Lifecycle::OldApp(p)) => accepted.push(*p),
                        Err(Error::InvalidCode) => counted += 1,
                        Err(Error::InvalidChallenge) => {}
                        other => panic!("{ctx}: an old-app racer answered {other:?}"),
                    }
                }
                assert!(
                    accepted.len() <= 1,
                    "{ctx}: one step, accepted twice: {results:?}"
                );
                for p in &accepted {
                    assert_eq!(p.epoch, epoch, "{ctx}: the old app accepted after the swap");
                }
                // The history: the accepted old code (if any) under the old
                // epoch, then the swap, then only counted failures.
                let history = self.store.history(&id, start.version);
                let epochs: Vec<u64> = history.iter().map(|v| v.record.epoch().get()).collect();
                let swap = epochs
                    .iter()
                    .position(|e| *e == epoch.get() + 1)
                    .unwrap_or_else(|| panic!("{ctx}: no swap saved: {epochs:?}"));
                assert_eq!(
                    swap,
                    accepted.len(),
                    "{ctx}: saves before the swap {epochs:?}"
                );
                assert!(
                    epochs[swap..].iter().all(|e| *e == epoch.get() + 1),
                    "{ctx}: {epochs:?}"
                );
                let after_swap: Vec<u32> = history[swap..]
                    .iter()
                    .map(|v| match v.record.factor() {
                        FactorState::Active(a) => a.attempts().failures(),
                        other => panic!("{ctx}: {other:?}"),
                    })
                    .collect();
                let expected: Vec<u32> = (0..).take(after_swap.len()).collect();
                assert_eq!(
                    after_swap, expected,
                    "{ctx}: one failure per save after the swap"
                );
                // Every save after the swap is a refusal (counted); an
                // `InvalidCode` before the swap is a replay, not saved.
                assert!(
                    after_swap.len() - 1 <= counted,
                    "{ctx}: {} failures saved, {counted} refused",
                    after_swap.len() - 1
                );
                let record = self.record(&id).await.record;
                let t = record.clone().verify_totp(
                    &self.config,
                    &id,
                    &old_code,
                    self.clock.get(),
                    &mut StdRng::seed_from_u64(0),
                );
                assert!(
                    matches!(t.outcome, Err(Error::InvalidCode)),
                    "{ctx}: old app works"
                );
            }
            Race::ConfirmReplacementSameCode => {
                let (_, _, proof) = self.enroll(&id).await;
                let setup = self
                    .mfa
                    .begin_replacement(&id, "user@example.com", Reauth::RecentProof(&proof))
                    .await
                    .unwrap();
                let new = TotpSecret::from_base32(setup.secret_base32()).unwrap();
                let start = self.record(&id).await;
                let (mfa, uid, code) = (Arc::clone(&self.mfa), id.clone(), self.totp(&new));
                let results = contend(mode, WIDE, move |_| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), code.clone());
                    async move { mfa.confirm_replacement(&uid, &code).await }
                })
                .await;
                let winner =
                    exactly_one_winner(&ctx, &results, |e| matches!(e, Error::NoPendingSetup));
                let epoch = Epoch::new(start.record.epoch().get() + 1);
                assert_eq!(winner.epoch, epoch, "{ctx}");
                assert_eq!(
                    self.store.history(&id, start.version).len(),
                    1,
                    "{ctx}: one save for one swap"
                );
                let a = self.active(&id).await;
                assert!(a.replacement().is_none(), "{ctx}");
                assert_eq!(a.attempts().failures(), 0, "{ctx}: a refusal counted");
                assert_eq!(a.last_step(), Some(self.clock.get() / 30), "{ctx}");
                assert_eq!(self.record(&id).await.record.epoch(), epoch, "{ctx}");
            }
            Race::ImportVersusEnroll => {
                let pending = self.begin(&id).await;
                let (mfa, uid, code) = (Arc::clone(&self.mfa), id.clone(), self.totp(&pending));
                let results = contend(mode, CONTENDERS, move |i| {
                    let (mfa, uid, code) = (Arc::clone(&mfa), uid.clone(), code.clone());
                    async move {
                        if i % 2 == 0 {
                            mfa.confirm_setup(&uid, &code)
                                .await
                                .map(|e| Enabling::Confirmed(strings(&e.backup_codes)))
                        } else {
                            mfa.import(&uid, imported_factor(i))
                                .await
                                .map(|()| Enabling::Imported(i))
                        }
                    }
                })
                .await;
                let winner =
                    exactly_one_winner(&ctx, &results, |e| matches!(e, Error::MfaAlreadyEnabled));
                let record = self.record(&id).await.record;
                assert_eq!(record.epoch(), Epoch::new(1), "{ctx}: enabled twice");
                let now = self.clock.get();
                let totp_works = |secret: &TotpSecret| {
                    let code = self.totp(secret);
                    let mut rng = StdRng::seed_from_u64(0);
                    let t = record
                        .clone()
                        .verify_totp(&self.config, &id, &code, now, &mut rng);
                    t.outcome.is_ok()
                };
                let importers = (1..CONTENDERS).step_by(2);
                match winner {
                    Enabling::Confirmed(codes) => {
                        for code in codes {
                            assert!(self.backup_code_works(&record, &id, code), "{ctx}: I1");
                        }
                        for i in importers {
                            assert!(!self.backup_code_works(&record, &id, &imported_code(i)));
                        }
                    }
                    Enabling::Imported(winner) => {
                        assert!(totp_works(&imported_secret(*winner)), "{ctx}");
                        assert!(!totp_works(&pending), "{ctx}: the pending secret works");
                        for i in importers {
                            let works = self.backup_code_works(&record, &id, &imported_code(i));
                            assert_eq!(works, i == *winner, "{ctx}: racer {i}'s code");
                        }
                    }
                }
            }
            Race::RememberVersusForget => {
                let (_, _, proof) = self.enroll(&id).await;
                let first = self.mfa.remember_device(&id, &proof).await.unwrap();
                let start = self.record(&id).await;
                let (mfa, uid) = (Arc::clone(&self.mfa), id.clone());
                let results = contend(mode, CONTENDERS, move |i| {
                    let (mfa, uid) = (Arc::clone(&mfa), uid.clone());
                    async move {
                        if i == 0 {
                            mfa.forget_devices(&uid, Reauth::RecentProof(&proof))
                                .await
                                .map(Lifecycle::Forgot)
                        } else {
                            mfa.remember_device(&uid, &proof)
                                .await
                                .map(|t| Lifecycle::Remembered(t.as_str().to_owned()))
                        }
                    }
                })
                .await;
                let Ok(Lifecycle::Forgot(forgot)) = results[0] else {
                    panic!("{ctx}: the forget: {:?}", results[0])
                };
                let tokens: Vec<&String> = results[1..]
                    .iter()
                    .map(|r| match r {
                        Ok(Lifecycle::Remembered(t)) => t,
                        other => panic!("{ctx}: a remember answered {other:?}"),
                    })
                    .collect();
                let history = self.store.history(&id, start.version);
                let counts: Vec<usize> = history.iter().map(|v| devices(&v.record)).collect();
                assert_eq!(counts.len(), CONTENDERS, "{ctx}: one save each {counts:?}");
                let at = counts
                    .iter()
                    .position(|c| *c == 0)
                    .unwrap_or_else(|| panic!("{ctx}: no forget saved: {counts:?}"));
                // Before the forget one more device per save, from the first;
                // the forget counts them; after it, one more per save from none.
                let expected: Vec<usize> =
                    (2..2 + at).chain([0]).chain(1..CONTENDERS - at).collect();
                assert_eq!(counts, expected, "{ctx}: devices per save");
                assert_eq!(forgot, 1 + at, "{ctx}: the forget's count");
                let record = self.record(&id).await.record;
                let now = self.clock.get();
                let left = |token: &str| {
                    matches!(
                        record.begin_login(&self.config, &id, Some(token), now),
                        LoginStep::RememberedDevice(_)
                    )
                };
                assert!(!left(first.as_str()), "{ctx}: the device before the forget");
                let survivors = tokens.iter().filter(|t| left(t)).count();
                assert_eq!(survivors, CONTENDERS - 1 - at, "{ctx}: devices left");
                assert_eq!(devices(&record), survivors, "{ctx}");
                // Every token shown was stored: those not left were saved
                // before the forget and recognised there.
                let before = at.checked_sub(1).map(|i| &history[i].record);
                for token in tokens.iter().filter(|t| !left(t)) {
                    assert!(
                        before.is_some_and(|r| matches!(
                            r.begin_login(&self.config, &id, Some(token), now),
                            LoginStep::RememberedDevice(_)
                        )),
                        "{ctx}: a token was shown that was never stored"
                    );
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
    RegenerateWithProof,
    WrongCodesCount,
    LockoutThreshold,
    CompleteChallengeBackupCodes,
    CompleteChallengeSameTotp,
    ResetVersusLogin,
    DisableVersusRegenerate,
    SwapVersusOldApp,
    ConfirmReplacementSameCode,
    RememberVersusForget,
    ImportVersusEnroll,
}

const RACES: [Race; 15] = [
    Race::SameBackupCode,
    Race::SameTotpCode,
    Race::ConfirmSameSetup,
    Race::RegenerateSameTotp,
    Race::RegenerateWithProof,
    Race::WrongCodesCount,
    Race::LockoutThreshold,
    Race::CompleteChallengeBackupCodes,
    Race::CompleteChallengeSameTotp,
    Race::ResetVersusLogin,
    Race::DisableVersusRegenerate,
    Race::SwapVersusOldApp,
    Race::ConfirmReplacementSameCode,
    Race::RememberVersusForget,
    Race::ImportVersusEnroll,
];

/// The secret of the factor racer `i` imports.
fn imported_secret(i: usize) -> TotpSecret {
    TotpSecret::from_bytes(&[u8::try_from(i + 1).unwrap(); 20]).unwrap()
}

/// The one plain backup code racer `i` imports.
fn imported_code(i: usize) -> String {
    format!("imported-code-{i}")
}

fn imported_factor(i: usize) -> ImportedFactor {
    let secret = imported_secret(i);
    ImportedFactor::new(secret, mfa::totp::TotpParams::default())
        .unwrap()
        .with_plain_backup_codes([imported_code(i)], CodeCase::Sensitive)
        .unwrap()
}

/// What a racer enabling the factor got.
#[derive(Debug)]
enum Enabling {
    Confirmed(Vec<String>),
    Imported(usize),
}

fn strings(codes: &mfa::BackupCodes) -> Vec<String> {
    codes.as_strs().into_iter().map(str::to_owned).collect()
}

/// What a racer managing the factor got.
#[derive(Debug)]
enum Managed {
    Disabled(Proof),
    Regenerated(Vec<String>),
}

/// What a racer around a replacement or remembered devices got.
#[derive(Debug)]
enum Lifecycle {
    Replaced(Proof),
    OldApp(Proof),
    Remembered(String),
    Forgot(usize),
}

fn devices(record: &MfaEnrollment) -> usize {
    match record.factor() {
        FactorState::Active(a) => a.devices().len(),
        _ => 0,
    }
}

/// The record's count of completed logins, as it stores it.
fn logins(record: &MfaEnrollment) -> u64 {
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    json["logins"].as_u64().expect("a login count")
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
        "races on {name}: {ROUNDS} rounds × {CONTENDERS} contenders ({WIDE} on one login challenge) in {:.1?}",
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
