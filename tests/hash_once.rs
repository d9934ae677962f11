//! Hashing work that does not multiply (I13): confirm and regenerate hash their
//! new backup codes once per operation, however many compare-and-swap
//! conflicts they retry through, and hash nothing when their code is wrong.
//!
//! Counted with `mfa::testkit::argon2_evaluations`, which is process-wide: this
//! binary holds one test, so nothing else hashes while it counts.

use std::sync::Arc;

use mfa::testkit::{FaultyStore, ManualClock, SaveFault, argon2_evaluations, test_config};
use mfa::{
    Error, MemoryStore, Mfa, Reauth,
    totp::{self, TotpSecret},
};

const T0: u64 = 1_700_000_000;

/// Runs `op` and returns its result with the Argon2 evaluations it cost.
async fn counted<T>(op: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = argon2_evaluations();
    let out = op.await;
    (out, argon2_evaluations() - before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_codes_are_hashed_once_per_operation() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let clock = ManualClock::new(T0);
    let mfa = Arc::new(
        Mfa::new(Arc::clone(&store), test_config())
            .with_clock(clock.clone())
            .with_conflict_retries(16),
    );
    let config = test_config();
    let user = "hash-once";
    let setup = mfa.begin_setup(user, "u@example.com").await.unwrap();
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let code_at = |t: u64| totp::generate(&secret, config.policy().totp.params(), t).unwrap();
    let wrong = if code_at(T0) == "000000" {
        "111111"
    } else {
        "000000"
    };

    // A wrong confirm code hashes nothing.
    let (wrong_confirm, cost) = counted(mfa.confirm_setup(user, wrong)).await;
    assert!(matches!(wrong_confirm, Err(Error::InvalidCode)));
    assert_eq!(cost, 0, "a wrong confirm code must not hash new codes");

    // Three conflicts, then the save lands: 10 hashes, not 40.
    store.plan_saves([Some(SaveFault::Conflict); 3]);
    let (enabled, cost) = counted(mfa.confirm_setup(user, &code_at(T0))).await;
    let enabled = enabled.unwrap();
    assert_eq!(enabled.backup_codes.len(), 10);
    assert_eq!(cost, 10, "confirm hashed its codes again on a retry");
    assert_eq!(store.pending_faults(), 0);

    clock.advance(30);
    store.plan_saves([Some(SaveFault::Conflict); 3]);
    let (regenerated, cost) =
        counted(mfa.regenerate_backup_codes(user, Reauth::TotpCode(&code_at(T0 + 30)))).await;
    assert_eq!(regenerated.unwrap().len(), 10);
    assert_eq!(cost, 10, "regenerate hashed its codes again on a retry");

    // A failed re-authentication hashes nothing.
    let (refused, cost) = counted(mfa.regenerate_backup_codes(user, Reauth::TotpCode(wrong))).await;
    assert!(matches!(refused, Err(Error::InvalidCode)));
    assert_eq!(cost, 0, "a refused regeneration must not hash");

    // 20 at once: 20 sets of 10, every one answered, none a conflict.
    let (answers, cost) = counted(async {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let mfa = Arc::clone(&mfa);
                let proof = enabled.proof;
                tokio::spawn(async move {
                    mfa.regenerate_backup_codes(user, Reauth::RecentProof(&proof))
                        .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        answers
    })
    .await;
    for answer in &answers {
        assert!(answer.is_ok(), "{answer:?}");
    }
    assert_eq!(
        cost, 200,
        "concurrent regenerations hashed more than once each"
    );
}
