//! The store conformance suite: what every [`MfaStore`] must do.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! mfa::testkit::conformance::run(std::sync::Arc::new(mfa::MemoryStore::new())).await;
//! # });
//! ```
//!
//! Each check uses fresh, random user ids, so the suite can run repeatedly
//! against a shared database. A failed check panics with a message naming it.

use std::sync::Arc;

use rand::RngExt;

use super::fixtures::{Enrolled, with_passkeys};
use super::test_config;
use crate::enrollment::MfaEnrollment;
use crate::error::Error;
use crate::store::{MfaStore, WriteId};

/// Runs every check against `store`. Needs a multi-threaded tokio runtime.
pub async fn run<S: MfaStore + 'static>(store: Arc<S>) {
    missing_user_loads_none(&*store).await;
    insert_then_compare_and_swap(&*store).await;
    write_identity_is_the_last_writes(&*store).await;
    users_are_isolated(&*store).await;
    records_round_trip(&*store).await;
    awkward_user_ids(&*store).await;
    concurrent_saves_have_one_winner(Arc::clone(&store)).await;
    no_lost_updates(Arc::clone(&store)).await;
    credential_index(&*store).await;
    one_credential_one_owner(store).await;
}

/// A fresh user id.
pub fn user(tag: &str) -> String {
    format!("{tag}-{:016x}", rand::rng().random::<u64>())
}

/// One record in each state, with real ciphertext and hashes.
pub fn sample_records(user_id: &str) -> Vec<MfaEnrollment> {
    let enrolled = Enrolled::new(&test_config(), user_id, 1_700_000_000);
    vec![MfaEnrollment::default(), enrolled.pending, enrolled.active]
}

async fn missing_user_loads_none<S: MfaStore>(store: &S) {
    let loaded = store.load(&user("missing")).await.expect("load");
    assert!(
        loaded.is_none(),
        "conformance: a user without a record must load as None"
    );
}

async fn insert_then_compare_and_swap<S: MfaStore>(store: &S) {
    let id = user("cas");
    let records = sample_records(&id);
    let v1 = store
        .save(&id, None, &records[1], WriteId::random())
        .await
        .expect("insert");
    assert_eq!(v1, 1, "conformance: the first save stores version 1");
    let again = store.save(&id, None, &records[0], WriteId::random()).await;
    assert!(
        matches!(again, Err(Error::StoreConflict)),
        "conformance: inserting over an existing record must conflict, got {again:?}"
    );
    let wrong = store
        .save(&id, Some(7), &records[0], WriteId::random())
        .await;
    assert!(
        matches!(wrong, Err(Error::StoreConflict)),
        "conformance: a save with a wrong version must conflict, got {wrong:?}"
    );
    let loaded = store.load(&id).await.expect("load").expect("present");
    assert_eq!(loaded.version, 1, "conformance: a conflict must not write");
    assert_eq!(
        loaded.record, records[1],
        "conformance: a conflict must not write"
    );
    let v2 = store
        .save(&id, Some(1), &records[2], WriteId::random())
        .await
        .expect("update");
    assert_eq!(v2, 2, "conformance: each save increments the version");
    let stale = store
        .save(&id, Some(1), &records[0], WriteId::random())
        .await;
    assert!(
        matches!(stale, Err(Error::StoreConflict)),
        "conformance: a stale version must conflict, got {stale:?}"
    );
    let loaded = store.load(&id).await.expect("load").expect("present");
    assert_eq!((loaded.version, &loaded.record), (2, &records[2]));
    let v3 = store
        .save(&id, Some(2), &MfaEnrollment::default(), WriteId::random())
        .await
        .expect("disable");
    assert_eq!(v3, 3);
    let loaded = store.load(&id).await.expect("load").expect("present");
    assert_eq!(
        (loaded.version, loaded.record),
        (3, MfaEnrollment::default()),
        "conformance: a disabled record is kept, not deleted"
    );
}

async fn write_identity_is_the_last_writes<S: MfaStore>(store: &S) {
    let id = user("write-id");
    let record = sample_records(&id).remove(2);
    let (first, second, loser) = (WriteId::random(), WriteId::random(), WriteId::random());
    store.save(&id, None, &record, first).await.expect("insert");
    let loaded = store.load(&id).await.expect("load").expect("present");
    assert_eq!(
        loaded.write_id, first,
        "conformance: load must return the write identity the save stored"
    );
    // The same record again: only the write identity tells the writes apart.
    store
        .save(&id, Some(1), &record, second)
        .await
        .expect("update");
    let loaded = store.load(&id).await.expect("load").expect("present");
    assert_eq!(
        (loaded.version, loaded.write_id),
        (2, second),
        "conformance: an identical record saved again must carry the new write identity"
    );
    let stale = store.save(&id, Some(1), &record, loser).await;
    assert!(matches!(stale, Err(Error::StoreConflict)));
    let loaded = store.load(&id).await.expect("load").expect("present");
    assert_eq!(
        loaded.write_id, second,
        "conformance: a conflicting save must not store its write identity"
    );
}

async fn users_are_isolated<S: MfaStore>(store: &S) {
    let (a, b) = (user("iso-a"), user("iso-b"));
    store
        .save(&a, None, &sample_records(&a)[2], WriteId::random())
        .await
        .expect("insert a");
    assert!(
        store.load(&b).await.expect("load").is_none(),
        "conformance: users are isolated"
    );
    store
        .save(&b, None, &MfaEnrollment::default(), WriteId::random())
        .await
        .expect("insert b");
    assert!(
        store
            .load(&a)
            .await
            .expect("load")
            .expect("a")
            .record
            .is_active()
    );
}

async fn records_round_trip<S: MfaStore>(store: &S) {
    for (i, record) in sample_records("rt").into_iter().enumerate() {
        let id = user(&format!("rt{i}"));
        store
            .save(&id, None, &record, WriteId::random())
            .await
            .expect("insert");
        let loaded = store.load(&id).await.expect("load").expect("present");
        assert_eq!(
            loaded.record, record,
            "conformance: records round-trip exactly"
        );
    }
}

async fn awkward_user_ids<S: MfaStore>(store: &S) {
    let suffix = user("");
    let ids = [
        format!("ユーザー{suffix}"),
        format!("o'brien\"; DROP TABLE users; --{suffix}"),
        format!("{}{suffix}", "x".repeat(200)),
        // 255 characters, nearly all of them four bytes of UTF-8.
        format!("{}{suffix}", "𝄞".repeat(255 - suffix.chars().count())),
        format!("white space\tand\nnewline{suffix}"),
        format!("%_wildcards_%{suffix}"),
    ];
    for id in &ids {
        store
            .save(id, None, &MfaEnrollment::default(), WriteId::random())
            .await
            .expect("insert");
        let loaded = store.load(id).await.expect("load");
        assert!(
            loaded.is_some(),
            "conformance: user id {id:?} must round-trip"
        );
    }
    let prefix = &ids[5][..13];
    assert!(
        store.load(prefix).await.expect("load").is_none(),
        "conformance: user ids match exactly, not as patterns"
    );
    look_alike_user_ids(store).await;
}

/// Ids that a case-insensitive, space-padding or Unicode-normalizing
/// comparison (a database's default text collation, say) would take for one
/// another: each is a user of its own.
async fn look_alike_user_ids<S: MfaStore>(store: &S) {
    let suffix = user("");
    let groups = [
        // Case.
        vec![
            format!("Alice{suffix}"),
            format!("alice{suffix}"),
            format!("ALICE{suffix}"),
        ],
        // Trailing spaces.
        vec![
            format!("bob{suffix}"),
            format!("bob{suffix} "),
            format!("bob{suffix}  "),
        ],
        // Unicode normalization: composed and decomposed é, ß and ss, the fi
        // ligature and f i.
        vec![
            format!("caf\u{e9}{suffix}"),
            format!("cafe\u{301}{suffix}"),
            format!("stra\u{df}e{suffix}"),
            format!("strasse{suffix}"),
            format!("\u{fb01}le{suffix}"),
            format!("file{suffix}"),
        ],
    ];
    for ids in &groups {
        let mut saved = Vec::new();
        for id in ids {
            let write_id = WriteId::random();
            let result = store
                .save(id, None, &MfaEnrollment::default(), write_id)
                .await;
            assert!(
                matches!(result, Ok(1)),
                "conformance: user id {id:?} must be a user of its own, not one of {saved:?} \
                 (compare user ids byte for byte: no case folding, padding or normalization); \
                 its first save gave {result:?}",
                saved = saved.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            );
            saved.push((id, write_id));
        }
        for (id, write_id) in saved {
            let loaded = store.load(id).await.expect("load").expect("present");
            assert_eq!(
                (loaded.version, loaded.write_id),
                (1, write_id),
                "conformance: user id {id:?} must load its own record"
            );
        }
    }
}

async fn concurrent_saves_have_one_winner<S: MfaStore + 'static>(store: Arc<S>) {
    for round in 0..10 {
        let id = user(&format!("race{round}"));
        store
            .save(&id, None, &MfaEnrollment::default(), WriteId::random())
            .await
            .expect("insert");
        let record = sample_records(&id).remove(1);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (store, id, record) = (Arc::clone(&store), id.clone(), record.clone());
                tokio::spawn(
                    async move { store.save(&id, Some(1), &record, WriteId::random()).await },
                )
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(2) => wins += 1,
                Ok(v) => panic!("conformance: unexpected version {v}"),
                Err(Error::StoreConflict) => {}
                Err(e) => panic!("conformance: concurrent save failed: {e:?}"),
            }
        }
        assert_eq!(
            wins, 1,
            "conformance: exactly one concurrent compare-and-swap wins"
        );
    }
}

async fn no_lost_updates<S: MfaStore + 'static>(store: Arc<S>) {
    let id = user("counter");
    store
        .save(&id, None, &MfaEnrollment::default(), WriteId::random())
        .await
        .expect("insert");
    let (tasks, per_task) = (8, 25);
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (store, id) = (Arc::clone(&store), id.clone());
            tokio::spawn(async move {
                for _ in 0..per_task {
                    loop {
                        let current = store.load(&id).await.expect("load").expect("present");
                        match store
                            .save(
                                &id,
                                Some(current.version),
                                &current.record,
                                WriteId::random(),
                            )
                            .await
                        {
                            Ok(_) => break,
                            Err(Error::StoreConflict) => tokio::task::yield_now().await,
                            Err(e) => panic!("conformance: save failed: {e:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("task");
    }
    let version = store
        .load(&id)
        .await
        .expect("load")
        .expect("present")
        .version;
    assert_eq!(
        version,
        1 + tasks * per_task,
        "conformance: every successful compare-and-swap must count exactly once"
    );
}

/// A random credential id, as authenticators draw them.
fn credential() -> Vec<u8> {
    let mut id = vec![0; 32];
    rand::rng().fill(&mut id[..]);
    id
}

async fn credential_index<S: MfaStore>(store: &S) {
    let (alice, bob) = (user("index-a"), user("index-b"));
    let (first, second) = (credential(), credential());
    assert_eq!(
        store.passkey_owner(&first).await.expect("lookup"),
        None,
        "conformance: an unknown credential has no owner"
    );
    let both = with_passkeys(MfaEnrollment::default(), &[&first, &second]);
    store
        .save(&alice, None, &both, WriteId::random())
        .await
        .expect("insert with passkeys");
    for id in [&first, &second] {
        assert_eq!(
            store.passkey_owner(id).await.expect("lookup").as_deref(),
            Some(alice.as_str()),
            "conformance: a saved credential names its user"
        );
    }
    let taken = with_passkeys(MfaEnrollment::default(), &[&second]);
    assert!(
        matches!(
            store.save(&bob, None, &taken, WriteId::random()).await,
            Err(Error::PasskeyAlreadyRegistered)
        ),
        "conformance: another user's credential is refused"
    );
    assert!(
        store.load(&bob).await.expect("load").is_none(),
        "conformance: a refused save writes nothing"
    );
    let only_first = with_passkeys(MfaEnrollment::default(), &[&first]);
    store
        .save(&alice, Some(1), &only_first, WriteId::random())
        .await
        .expect("drop a passkey");
    assert_eq!(
        store.passkey_owner(&second).await.expect("lookup"),
        None,
        "conformance: a removed credential leaves the index"
    );
    store
        .save(&bob, None, &taken, WriteId::random())
        .await
        .expect("a freed credential can be registered again");
    store
        .save(
            &alice,
            Some(2),
            &MfaEnrollment::default(),
            WriteId::random(),
        )
        .await
        .expect("disable");
    assert_eq!(
        store.passkey_owner(&first).await.expect("lookup"),
        None,
        "conformance: a record without passkeys leaves nothing in the index"
    );
}

async fn one_credential_one_owner<S: MfaStore + 'static>(store: Arc<S>) {
    for round in 0..5 {
        let shared = credential();
        let tasks: Vec<_> = (0..8)
            .map(|n| {
                let store = Arc::clone(&store);
                let id = user(&format!("claim{round}-{n}"));
                let record = with_passkeys(MfaEnrollment::default(), &[&shared]);
                tokio::spawn(async move {
                    let saved = store.save(&id, None, &record, WriteId::random()).await;
                    (id, saved)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                (id, Ok(1)) => winners.push(id),
                (_, Err(Error::PasskeyAlreadyRegistered)) => {}
                (_, other) => panic!("conformance: a racing registration gave {other:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "conformance: of users racing for one credential, exactly one wins"
        );
        assert_eq!(
            store.passkey_owner(&shared).await.expect("lookup"),
            winners.pop(),
            "conformance: the index names the winner"
        );
    }
}
