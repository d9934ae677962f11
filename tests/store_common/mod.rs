//! Checks shared by the SQL store tests: the service over a store, and two
//! stores (two pools, as two processes would have) on one database.
#![allow(dead_code)]

use std::sync::Arc;

use mfa::testkit::conformance::user;
use mfa::{Error, LoginStep, MfaStore, Reauth, VerifiedBy, store::WriteId};

use crate::common::{Harness, wrong_code};

/// The rows of `mfa_schema_migrations` once every step of this release is applied.
pub fn migrations() -> Vec<(i64, String)> {
    vec![
        (1, "mfa_enrollments".to_owned()),
        (2, "mfa_enrollments.write_id".to_owned()),
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
