//! Checks shared by the SQL store tests: the service over a store, and two
//! stores (two pools, as two processes would have) on one database.
#![allow(dead_code)]

use std::sync::Arc;

use mfa::testkit::conformance::{sample_records, user};
use mfa::testkit::fixtures::with_passkeys;
use mfa::{Error, LoginStep, MfaEnrollment, MfaStore, Reauth, VerifiedBy, store::WriteId};

use crate::common::{Harness, wrong_code};

/// The rows of `mfa_schema_migrations` once every step of this release is applied.
pub fn migrations() -> Vec<(i64, String)> {
    vec![
        (1, "mfa_enrollments".to_owned()),
        (2, "mfa_enrollments.write_id".to_owned()),
        (3, "mfa_passkey_credentials".to_owned()),
    ]
}

/// The documented flow through `Mfa` over `store`.
pub async fn service_flow<S: MfaStore + 'static>(store: S) {
    let h = Harness::new(store, |_| {});
    let id = user("flow");
    assert!(!h.mfa.status(&id).await.unwrap().mfa_enabled);
    let (secret, codes) = h.enroll(&id).await;
    let status = h.mfa.status(&id).await.unwrap();
    assert!(status.mfa_enabled);
    assert_eq!(status.backup_codes_remaining, 10);

    let code = h.code(&secret);
    let login = h.mfa.verify(&id, &code).await.unwrap();
    assert!(matches!(login.by, VerifiedBy::Totp(_)));
    assert!(
        matches!(h.mfa.verify(&id, &code).await, Err(Error::InvalidCode)),
        "a TOTP step is accepted once"
    );

    let used = h.mfa.verify(&id, &codes[0]).await.unwrap();
    assert_eq!(used.backup_codes_remaining, 9);
    assert!(matches!(
        h.mfa.verify(&id, &codes[0]).await,
        Err(Error::InvalidCode)
    ));

    h.clock.advance(30);
    let fresh = h
        .mfa
        .regenerate_backup_codes(&id, Reauth::TotpCode(&h.code(&secret)))
        .await
        .unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(matches!(
        h.mfa.verify(&id, &codes[1]).await,
        Err(Error::InvalidCode)
    ));
    assert!(h.mfa.verify(&id, fresh.as_strs()[0]).await.is_ok());

    h.clock.advance(30);
    let wrong = wrong_code(&secret, h.clock.get());
    assert!(matches!(
        h.mfa.disable(&id, &wrong).await,
        Err(Error::InvalidCode)
    ));
    h.mfa.disable(&id, &h.code(&secret)).await.unwrap();
    let status = h.mfa.status(&id).await.unwrap();
    assert!(!status.mfa_enabled && !status.pending_setup);
}

/// Two services, each over its own store on the same database, race 16
/// requests with one backup code and then with one TOTP code, then 8
/// completions of one login challenge: exactly one request wins each race.
/// Setup begun on one is confirmed on the other.
pub async fn races_across_stores<S: MfaStore + 'static>(a: S, b: S) {
    let (a, b) = (Harness::new(a, |_| {}), Harness::new(b, |_| {}));
    let id = user("across");

    // Setup on one, confirm on the other.
    let setup = a.mfa.begin_setup(&id, "user@example.com").await.unwrap();
    let secret = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let enabled = b.mfa.confirm_setup(&id, &b.code(&secret)).await.unwrap();
    let codes: Vec<String> = enabled
        .backup_codes
        .as_strs()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(a.mfa.status(&id).await.unwrap().mfa_enabled);

    a.clock.advance(30);
    b.clock.set(a.clock.get());
    let totp = a.code(&secret);
    for code in [codes[0].clone(), totp] {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let mfa = if i % 2 == 0 {
                    Arc::clone(&a.mfa)
                } else {
                    Arc::clone(&b.mfa)
                };
                let (id, code) = (id.clone(), code.clone());
                tokio::spawn(async move { mfa.verify(&id, &code).await })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => wins += 1,
                // A backup code is charged before its hash (I16): past the
                // lock threshold a submission is refused unhashed.
                Err(Error::InvalidCode | Error::LockedOut { .. }) => {}
                Err(e) => panic!("unexpected error in the race: {e:?}"),
            }
        }
        assert_eq!(wins, 1, "exactly one of 16 concurrent requests wins");
    }
    let status = b.mfa.status(&id).await.unwrap();
    assert_eq!(status.backup_codes_remaining, 9);

    // One login challenge, completed at once on both with different valid
    // backup codes: one login, one code used (I12).
    let LoginStep::SecondFactor(challenge) = a.mfa.begin_login(&id, None).await.unwrap() else {
        panic!("an active factor asks for a second step")
    };
    let tasks: Vec<_> = codes[1..9]
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let mfa = Arc::clone(if i % 2 == 0 { &a.mfa } else { &b.mfa });
            let (challenge, code) = (challenge.clone(), code.clone());
            tokio::spawn(async move { mfa.complete_login(&challenge, &code).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::InvalidChallenge | Error::LockedOut { .. }) => {}
            Err(e) => panic!("unexpected error in the challenge race: {e:?}"),
        }
    }
    assert_eq!(wins, 1, "a login challenge completes once across stores");
    assert_eq!(b.mfa.status(&id).await.unwrap().backup_codes_remaining, 8);
}

/// 16 first saves of one new user, split across two stores on one database,
/// race: exactly one stores version 1, the others conflict.
pub async fn first_saves_have_one_winner<S: MfaStore + 'static>(a: Arc<S>, b: Arc<S>) {
    for round in 0..5 {
        let id = user(&format!("first-save{round}"));
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
                let (id, barrier) = (id.clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    let write_id = WriteId::random();
                    barrier.wait().await;
                    let saved = store
                        .save(&id, None, &mfa::MfaEnrollment::default(), write_id)
                        .await;
                    (saved, write_id)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (Ok(1), write_id) => winners.push(write_id),
                (Err(Error::StoreConflict), _) => {}
                (other, _) => panic!("unexpected outcome of a first save: {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one first save wins");
        let stored = b.load(&id).await.unwrap().unwrap();
        assert_eq!((stored.version, stored.write_id), (1, winners[0]));
    }
}

/// Two stores on one database increment one record concurrently; no update is lost.
pub async fn no_lost_updates_across_stores<S: MfaStore + 'static>(a: Arc<S>, b: Arc<S>) {
    let id = user("shared-counter");
    a.save(&id, None, &mfa::MfaEnrollment::default(), WriteId::random())
        .await
        .unwrap();
    let (tasks, per_task) = (8u64, 20u64);
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let store = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            let id = id.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    loop {
                        let current = store.load(&id).await.unwrap().unwrap();
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
                            Err(e) => panic!("save failed: {e:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    let version = b.load(&id).await.unwrap().unwrap().version;
    assert_eq!(version, 1 + tasks * per_task);
}

/// A random credential id of `len` bytes.
pub fn credential(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

/// The credential index of a SQL store along each way a save can take: a
/// save that keeps the record's set of credential ids (one statement), one
/// that changes it (a transaction), each against a stale version, a taken
/// id, and racing saves of the same user; ids the index cannot hold.
pub async fn credential_index_paths<S: MfaStore + 'static>(store: Arc<S>) {
    let (alice, bob) = (user("paths-a"), user("paths-b"));
    let (a, b, c) = (credential(16), credential(64), credential(1023));
    // Active records, which load (the records of `with_passkeys` alone
    // hold a placeholder backup-code set that does not).
    let active = sample_records(&alice).remove(2);
    let record = |ids: &[&[u8]]| with_passkeys(active.clone(), ids);
    let owner = async |id: &[u8]| store.passkey_owner(id).await.unwrap();

    // An id twice in one record is one index row.
    let saved = store
        .save(&alice, None, &record(&[&a, &a]), WriteId::random())
        .await;
    assert_eq!(saved.unwrap(), 1);
    store
        .save(&bob, None, &record(&[&b]), WriteId::random())
        .await
        .unwrap();
    // The same set again: the index is as it was.
    let same = record(&[&a]);
    assert_eq!(
        store
            .save(&alice, Some(1), &same, WriteId::random())
            .await
            .unwrap(),
        2
    );
    assert_eq!(owner(&a).await.as_deref(), Some(alice.as_str()));

    // A stale version conflicts, whether or not the set changes, and
    // whether or not the new id is taken: the version is checked first.
    for ids in [vec![&a[..]], vec![&a[..], &c[..]], vec![&a[..], &b[..]]] {
        let stale = store
            .save(&alice, Some(1), &record(&ids), WriteId::random())
            .await;
        assert!(matches!(stale, Err(Error::StoreConflict)), "{}", ids.len());
    }
    // A taken id writes nothing: neither the record nor the index.
    let taken = store
        .save(&alice, Some(2), &record(&[&c, &b]), WriteId::random())
        .await;
    assert!(matches!(taken, Err(Error::PasskeyAlreadyRegistered)));
    let stored = store.load(&alice).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.record), (2, same));
    assert_eq!(owner(&c).await, None);
    assert_eq!(owner(&b).await.as_deref(), Some(bob.as_str()));

    // A new set replaces the old one.
    store
        .save(&alice, Some(2), &record(&[&c]), WriteId::random())
        .await
        .unwrap();
    assert_eq!(owner(&a).await, None);
    assert_eq!(owner(&c).await.as_deref(), Some(alice.as_str()));

    // Eight saves of one user, each with a set of its own, race: one wins,
    // and the index holds its set only.
    let sets: Vec<Vec<u8>> = (0..8).map(|_| credential(32)).collect();
    let tasks: Vec<_> = sets
        .iter()
        .map(|id| {
            let (store, alice, record) = (Arc::clone(&store), alice.clone(), record(&[id]));
            tokio::spawn(async move {
                store
                    .save(&alice, Some(3), &record, WriteId::random())
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (id, task) in sets.iter().zip(tasks) {
        match task.await.unwrap() {
            Ok(4) => winners.push(id),
            Err(Error::StoreConflict) => {}
            other => panic!("a racing save of one user gave {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "one of the racing saves wins");
    for id in sets.iter().chain([&c]) {
        let expected = (id == winners[0]).then_some(alice.as_str());
        assert_eq!(owner(id).await.as_deref(), expected);
    }

    // Ids no index holds.
    assert_eq!(owner(&[]).await, None);
    assert_eq!(owner(&credential(1024)).await, None);
    let too_long = record(&[&credential(1024)]);
    let saved = store
        .save(&bob, Some(1), &too_long, WriteId::random())
        .await;
    assert!(matches!(saved, Err(Error::InvalidInput(_))));
    assert_eq!(owner(&b).await.as_deref(), Some(bob.as_str()));
}

/// Users on two stores (two pools on one database) race to register one
/// credential id: exactly one wins.
pub async fn one_credential_one_owner_across_stores<S: MfaStore + 'static>(a: Arc<S>, b: Arc<S>) {
    for round in 0..5 {
        let shared = credential(32);
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
                let id = user(&format!("claim-across{round}-{i}"));
                let record = with_passkeys(MfaEnrollment::default(), &[&shared]);
                let barrier = Arc::clone(&barrier);
                tokio::spawn(async move {
                    barrier.wait().await;
                    let saved = store.save(&id, None, &record, WriteId::random()).await;
                    (id, saved)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (id, Ok(1)) => winners.push(id),
                (_, Err(Error::PasskeyAlreadyRegistered)) => {}
                (_, other) => panic!("a racing registration gave {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one registration wins");
        assert_eq!(b.passkey_owner(&shared).await.unwrap(), winners.pop());
    }
}
