//! Passkey ceremonies under races, on every store (I14, I15, I16).
//!
//! Each round starts a fresh user with a soft passkey and lets contenders
//! (tokio tasks released together by a barrier) submit at once:
//!
//! - one assertion to one login challenge, 16 times: exactly one login
//!   completes, one login is counted, every other answer is a refusal;
//! - one assertion to one passwordless challenge, 16 times: exactly one
//!   session (the challenge is spent in the record, I14);
//! - one assertion to one step-up challenge, 16 times: exactly one;
//! - one registration confirmed 8 times at once: exactly one passkey is
//!   added, every other answer is `NoPendingSetup` (the ceremony state is
//!   consumed by the winner's save);
//! - the removal of a passkey against logins with it: a login that
//!   completes was saved before the removal, whose epoch revokes its proof;
//!   after it the credential authenticates nothing.
//!
//! Every contender's attempt is charged before its check (I16), so losers
//! may also meet the lock their own charges set.

mod common;
mod db_common;

use std::future::Future;
use std::sync::Arc;

use common::passkey::Authenticator;
use mfa::testkit::conformance::user;
use mfa::testkit::{ManualClock, test_config};
use mfa::{Error, LoginChallenge, LoginStep, MemoryStore, Mfa, MfaStore, Reauth};

const T0: u64 = 1_700_000_000;
/// Rounds of each race per store.
const ROUNDS: usize = 12;
/// Contenders submitting one assertion.
const WIDE: usize = 16;

async fn contend<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let f = Arc::new(f);
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

/// Exactly one `Ok`; every other result an error `loser` accepts.
fn exactly_one<T: std::fmt::Debug>(
    ctx: &str,
    results: &[mfa::Result<T>],
    loser: impl Fn(&Error) -> bool,
) {
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{ctx}: {wins} winners: {results:?}");
    for r in results {
        if let Err(e) = r {
            assert!(loser(e), "{ctx}: unexpected {e:?}");
        }
    }
}

fn logins(record: &mfa::MfaEnrollment) -> u64 {
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    json["logins"].as_u64().unwrap()
}

struct Suite<S> {
    mfa: Arc<Mfa<S>>,
}

impl<S: MfaStore + 'static> Suite<S> {
    fn new(store: S) -> Self {
        let mfa = Mfa::new(store, test_config())
            .with_clock(ManualClock::new(T0))
            .with_conflict_retries(64);
        Suite { mfa: Arc::new(mfa) }
    }

    /// A user whose only factor is a passkey on `key`; the proof.
    async fn enroll(&self, id: &str, key: &mut Authenticator) -> mfa::Proof {
        let options = self
            .mfa
            .begin_passkey_registration(id, "user@example.com", None)
            .await
            .unwrap();
        let created = key.register(&options);
        let added = self
            .mfa
            .confirm_passkey_registration(id, "Key", &created, None)
            .await
            .unwrap();
        added.proof
    }

    async fn challenge(&self, id: &str) -> LoginChallenge {
        match self.mfa.begin_login(id, None).await.unwrap() {
            LoginStep::SecondFactor(c) => c,
            other => panic!("{other:?}"),
        }
    }

    async fn same_login_assertion(&self, round: usize) {
        let id = user(&format!("pk-login-{round}"));
        let ctx = format!("round {round}: one login assertion");
        let mut key = Authenticator::default();
        self.enroll(&id, &mut key).await;
        let challenge = self.challenge(&id).await;
        let assertion = key.assert(challenge.passkey_options().unwrap());
        let before = logins(&self.mfa.load(&id).await.unwrap());
        let mfa = Arc::clone(&self.mfa);
        let results = contend(WIDE, move |_| {
            let (mfa, challenge, assertion) =
                (Arc::clone(&mfa), challenge.clone(), assertion.clone());
            async move {
                mfa.complete_login_with_passkey(&challenge, &assertion)
                    .await
            }
        })
        .await;
        exactly_one(&ctx, &results, |e| {
            matches!(
                e,
                Error::InvalidChallenge | Error::InvalidPasskey | Error::LockedOut { .. }
            )
        });
        let after = logins(&self.mfa.load(&id).await.unwrap());
        assert_eq!(after, before + 1, "{ctx}: one login counted");
    }

    async fn same_passwordless_assertion(&self, round: usize) {
        let id = user(&format!("pk-pwless-{round}"));
        let ctx = format!("round {round}: one passwordless assertion");
        let mut key = Authenticator::default();
        self.enroll(&id, &mut key).await;
        let challenge = self.mfa.begin_passwordless().unwrap();
        let assertion = key.assert(challenge.options().unwrap());
        let mfa = Arc::clone(&self.mfa);
        let results = contend(WIDE, move |_| {
            let (mfa, challenge, assertion) =
                (Arc::clone(&mfa), challenge.clone(), assertion.clone());
            async move { mfa.complete_passwordless(&challenge, &assertion).await }
        })
        .await;
        exactly_one(&ctx, &results, |e| {
            matches!(e, Error::InvalidPasskey | Error::LockedOut { .. })
        });
        let (user, _) = results.into_iter().find_map(Result::ok).unwrap();
        assert_eq!(user, id, "{ctx}: the index names the owner");
    }

    async fn same_step_up_assertion(&self, round: usize) {
        let id = user(&format!("pk-stepup-{round}"));
        let ctx = format!("round {round}: one step-up assertion");
        let mut key = Authenticator::default();
        self.enroll(&id, &mut key).await;
        let challenge = self.mfa.begin_passkey_step_up(&id).await.unwrap();
        let assertion = key.assert(challenge.options().unwrap());
        let (mfa, uid) = (Arc::clone(&self.mfa), id.clone());
        let results = contend(WIDE, move |_| {
            let (mfa, uid, challenge, assertion) = (
                Arc::clone(&mfa),
                uid.clone(),
                challenge.clone(),
                assertion.clone(),
            );
            async move { mfa.step_up_with_passkey(&uid, &challenge, &assertion).await }
        })
        .await;
        exactly_one(&ctx, &results, |e| {
            matches!(
                e,
                Error::InvalidChallenge | Error::InvalidPasskey | Error::LockedOut { .. }
            )
        });
    }

    async fn same_registration(&self, round: usize) {
        let id = user(&format!("pk-register-{round}"));
        let ctx = format!("round {round}: one registration confirmed at once");
        let mut key = Authenticator::default();
        let options = self
            .mfa
            .begin_passkey_registration(&id, "user@example.com", None)
            .await
            .unwrap();
        let created = key.register(&options);
        let (mfa, uid) = (Arc::clone(&self.mfa), id.clone());
        let results = contend(8, move |_| {
            let (mfa, uid, created) = (Arc::clone(&mfa), uid.clone(), created.clone());
            async move {
                mfa.confirm_passkey_registration(&uid, "Key", &created, None)
                    .await
                    .map(|added| added.backup_codes.map(|c| c.len()))
            }
        })
        .await;
        exactly_one(&ctx, &results, |e| matches!(e, Error::NoPendingSetup));
        let record = self.mfa.load(&id).await.unwrap();
        assert_eq!(record.passkeys().len(), 1, "{ctx}: one passkey stored");
        assert_eq!(
            results
                .iter()
                .find_map(|r| r.as_ref().ok())
                .copied()
                .flatten(),
            Some(record.status(self.mfa.context(), T0).backup_codes_remaining),
            "{ctx}: the winner's codes are the stored ones"
        );
    }

    async fn removal_against_logins(&self, round: usize) {
        let id = user(&format!("pk-remove-{round}"));
        let ctx = format!("round {round}: removal against logins");
        let mut key = Authenticator::default();
        let mut second = Authenticator::default();
        let proof = self.enroll(&id, &mut key).await;
        // A second passkey, so that the first is not the last factor.
        let options = self
            .mfa
            .begin_passkey_registration(&id, "user@example.com", Some(&proof))
            .await
            .unwrap();
        let created = second.register(&options);
        let proof = self
            .mfa
            .confirm_passkey_registration(&id, "Spare", &created, Some(&proof))
            .await
            .unwrap()
            .proof;
        let record = self.mfa.load(&id).await.unwrap();
        let first = record.passkeys()[0].id().to_owned();
        let mut logins = Vec::new();
        for _ in 0..4 {
            let challenge = self.challenge(&id).await;
            let assertion = key.assert(challenge.passkey_options().unwrap());
            logins.push((challenge, assertion));
        }
        let (mfa, uid) = (Arc::clone(&self.mfa), id.clone());
        let logins = Arc::new(logins);
        let results = contend(5, move |i| {
            let (mfa, uid, logins, first) = (
                Arc::clone(&mfa),
                uid.clone(),
                Arc::clone(&logins),
                first.clone(),
            );
            async move {
                if i == 4 {
                    mfa.remove_passkey(&uid, &first, Reauth::RecentProof(&proof))
                        .await
                        .map(|p| (true, p.epoch))
                } else {
                    let (challenge, assertion) = &logins[i];
                    mfa.complete_login_with_passkey(challenge, assertion)
                        .await
                        .map(|v| (false, v.proof.epoch))
                }
            }
        })
        .await;
        let removed = results[4].as_ref().expect("the removal succeeds");
        let record = self.mfa.load(&id).await.unwrap();
        assert_eq!(record.passkeys().len(), 1, "{ctx}");
        assert_eq!(
            record.epoch(),
            removed.1,
            "{ctx}: the removal moved the epoch last"
        );
        for r in &results[..4] {
            match r {
                Ok((_, epoch)) => assert!(
                    record.check_epoch(*epoch).is_err(),
                    "{ctx}: a login after the removal"
                ),
                Err(e) => assert!(
                    matches!(
                        e,
                        Error::InvalidChallenge | Error::InvalidPasskey | Error::LockedOut { .. }
                    ),
                    "{ctx}: {e:?}"
                ),
            }
        }
        // After it, the removed credential is offered nowhere and names
        // no user: it authenticates nothing.
        let challenge = self.challenge(&id).await;
        let offered = &challenge
            .passkey_options()
            .unwrap()
            .public_key
            .allow_credentials;
        assert_eq!(offered.len(), 1, "{ctx}");
        let challenge = self.mfa.begin_passwordless().unwrap();
        let assertion = key.assert(challenge.options().unwrap());
        assert!(
            matches!(
                self.mfa.complete_passwordless(&challenge, &assertion).await,
                Err(Error::InvalidPasskey)
            ),
            "{ctx}"
        );
    }
}

async fn run_suite<S: MfaStore + 'static>(store: S) {
    let suite = Suite::new(store);
    for round in 0..ROUNDS {
        suite.same_login_assertion(round).await;
        suite.same_passwordless_assertion(round).await;
        suite.same_step_up_assertion(round).await;
        suite.same_registration(round).await;
        suite.removal_against_logins(round).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store() {
    run_suite(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("races.db").display()
    );
    run_suite(mfa::SqliteStore::connect(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store() {
    if let Some(url) = db_common::Server::Postgres.url() {
        run_suite(mfa::PostgresStore::connect(&url).await.unwrap()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_store() {
    if let Some(url) = db_common::Server::Mysql.url() {
        run_suite(mfa::MysqlStore::connect(&url).await.unwrap()).await;
    }
}
