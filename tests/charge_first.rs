//! Charge before work (I16): concurrency buys neither guesses nor hashes.
//!
//! A backup code whose check runs a slow hash is counted toward the lockout,
//! and the count saved, before the hash runs. So `N` concurrent wrong codes
//! (the right locator, a wrong secret part: each would cost a hash) are
//! hashed at most as often as the lock lets attempts through, however many
//! arrive at once and on every store; the rest are refused unhashed. The same
//! holds for an imported set of legacy (bcrypt) hashes, whose every attempt
//! checks each unused hash. A right code that arrives once the lock engaged
//! is refused unhashed too; one that got its charge in first succeeds and
//! gives the charges back.
//!
//! The time an attempt is judged at is read after its wait for a hashing
//! permit: a login challenge that expired while the attempt queued does not
//! complete.
//!
//! A passkey assertion is charged before its signature check the same way:
//! a flood of wrong assertions is checked at most as often as the lock lets
//! attempts through, and the lock it sets refuses codes too.
//!
//! The slow hashes are counted process-wide
//! ([`mfa::testkit::argon2_evaluations`]), so this binary runs one check at a
//! time.

mod common;
mod db_common;

use std::sync::Arc;

use mfa::import::ImportedFactor;
use mfa::testkit::legacy::devise_backup_code_hash;
use mfa::testkit::{argon2_evaluations, conformance::user, legacy_hash_evaluations, test_config};
use mfa::totp::{self, TotpParams, TotpSecret};
use mfa::{Error, LoginStep, MemoryStore, Mfa, MfaStore, SqliteStore};

const T0: u64 = 1_700_000_000;
/// Concurrent wrong codes per flood.
const FLOOD: usize = 300;
/// devise-two-factor codes of the imported set, and its pepper.
const DEVISE_CODES: [&str; 4] = ["4f1c9a2b7e", "8d3e6b0a1c", "b7a2c4e9f0", "0c5d8e1f2a"];
const PEPPER: &str = "a-devise-pepper";

/// One check at a time: the hash counters are the process's.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// The lock threshold of the test policy: attempts through before the lock.
fn threshold<S: MfaStore>(mfa: &Mfa<S>) -> u64 {
    u64::from(mfa.context().policy().lockout.lock_after_failures)
}

/// A user with MFA on: the secret and the backup codes.
async fn enroll<S: MfaStore>(mfa: &Mfa<S>, id: &str) -> (String, Vec<String>) {
    let setup = mfa.begin_setup(id, "user@example.com").await.unwrap();
    let secret = setup.secret_base32().to_owned();
    let parsed = TotpSecret::from_base32(&secret).unwrap();
    let code = totp::generate(&parsed, TotpParams::default(), mfa.now()).unwrap();
    let enabled = mfa.confirm_setup(id, &code).await.unwrap();
    let codes = enabled
        .backup_codes
        .as_strs()
        .iter()
        .map(|c| c.to_string())
        .collect();
    (secret, codes)
}

/// `code` with its secret part changed: its locator still names a stored
/// code, so checking it costs a hash.
fn wrong_secret_part(code: &str) -> String {
    let mut wrong: Vec<char> = code.chars().collect();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == '2' { '3' } else { '2' };
    wrong.into_iter().collect()
}

/// `FLOOD` concurrent verifications of `code` (and `right`, if given, among
/// them); the answers in order, `right`'s last.
async fn flood<S: MfaStore + 'static>(
    mfa: &Arc<Mfa<S>>,
    id: &str,
    code: &str,
    right: Option<&str>,
) -> Vec<mfa::Result<()>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(
        FLOOD + usize::from(right.is_some()),
    ));
    let submissions = std::iter::repeat_n(code, FLOOD).chain(right);
    let tasks: Vec<_> = submissions
        .map(|code| {
            let (mfa, id, code) = (Arc::clone(mfa), id.to_owned(), code.to_owned());
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                mfa.verify(&id, &code).await.map(drop)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Every answer to a wrong code: counted, refused by the lock, or (under so
/// many writers at once) out of retries; never a success.
fn assert_refused(ctx: &str, answers: &[mfa::Result<()>]) {
    for answer in answers {
        assert!(
            matches!(
                answer,
                Err(Error::InvalidCode | Error::LockedOut { .. } | Error::StoreConflict)
            ),
            "{ctx}: {answer:?}"
        );
    }
}

async fn failures<S: MfaStore>(mfa: &Mfa<S>, id: &str) -> u32 {
    match mfa.load(id).await.unwrap().factor() {
        mfa::FactorState::Active(active) => active.attempts().failures(),
        other => panic!("not active: {other:?}"),
    }
}

/// The checks, on one store.
async fn on_store<S: MfaStore + 'static>(store: S, tag: &str) {
    let mfa = Arc::new(Mfa::new(store, test_config()).with_max_concurrent_hashes(2));
    let limit = threshold(&mfa);

    // A flood of one wrong code: hashed at most `limit` times.
    let id = user(&format!("charge-{tag}-flood"));
    let (_, codes) = enroll(&mfa, &id).await;
    let before = argon2_evaluations();
    let answers = flood(&mfa, &id, &wrong_secret_part(&codes[0]), None).await;
    let hashed = argon2_evaluations() - before;
    assert_refused(tag, &answers);
    assert!(
        hashed <= limit,
        "{tag}: {FLOOD} concurrent wrong codes cost {hashed} Argon2 evaluations (limit {limit})"
    );
    assert!(
        answers
            .iter()
            .any(|a| matches!(a, Err(Error::LockedOut { .. }))),
        "{tag}: the flood never met the lock"
    );
    assert_eq!(
        u64::from(failures(&mfa, &id).await),
        limit,
        "{tag}: charges"
    );

    // The right code once the lock engaged: refused, and not hashed.
    let before = argon2_evaluations();
    let late = mfa.verify(&id, &codes[1]).await;
    assert!(
        matches!(late, Err(Error::LockedOut { .. })),
        "{tag}: {late:?}"
    );
    assert_eq!(
        argon2_evaluations(),
        before,
        "{tag}: a locked attempt hashed"
    );

    // A right code among wrong ones: it succeeds exactly when its charge got
    // in before the lock, and then it is the one code used.
    let id = user(&format!("charge-{tag}-among"));
    let (_, codes) = enroll(&mfa, &id).await;
    let before = argon2_evaluations();
    let mut answers = flood(&mfa, &id, &wrong_secret_part(&codes[0]), Some(&codes[1])).await;
    let hashed = argon2_evaluations() - before;
    let right = answers.pop().unwrap();
    assert_refused(tag, &answers);
    let status = mfa.status(&id).await.unwrap();
    match right {
        Ok(()) => assert_eq!(status.backup_codes_remaining, 9, "{tag}"),
        Err(Error::LockedOut { .. } | Error::StoreConflict) => {
            assert_eq!(
                status.backup_codes_remaining, 10,
                "{tag}: a refused code was used"
            )
        }
        Err(e) => panic!("{tag}: the right code: {e:?}"),
    }
    // Its success gives the charges back: at most one more lock's worth.
    assert!(hashed <= 2 * limit + 1, "{tag}: {hashed} evaluations");

    // A legacy set: each admitted attempt checks every unused hash, and no
    // more attempts are admitted than the lock lets through.
    let id = user(&format!("charge-{tag}-legacy"));
    let hashes: Vec<String> = DEVISE_CODES
        .iter()
        .map(|code| devise_backup_code_hash(code, PEPPER, 4))
        .collect();
    let factor =
        ImportedFactor::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", TotpParams::default())
            .unwrap()
            .with_bcrypt_backup_codes(&hashes, PEPPER)
            .unwrap();
    mfa.import(&id, factor).await.unwrap();
    let before = legacy_hash_evaluations();
    let answers = flood(&mfa, &id, "ffffffffff", None).await;
    let hashed = legacy_hash_evaluations() - before;
    assert_refused(tag, &answers);
    let cap = limit * DEVISE_CODES.len() as u64;
    assert!(
        hashed <= cap,
        "{tag}: {FLOOD} wrong codes cost {hashed} bcrypt hashes (limit {cap})"
    );
    assert_eq!(
        u64::from(failures(&mfa, &id).await),
        limit,
        "{tag}: legacy charges"
    );

    passkey_flood(&mfa, tag).await;
}

/// A flood of one wrong passkey assertion (signed for another challenge):
/// checked at most as often as the lock lets attempts through; the right
/// assertion after the lock is refused unchecked; the codes are locked too
/// (one lockout for the whole set).
async fn passkey_flood<S: MfaStore + 'static>(mfa: &Arc<Mfa<S>>, tag: &str) {
    let limit = threshold(mfa);
    let id = user(&format!("charge-{tag}-passkey"));
    let mut key = common::passkey::Authenticator::default();
    let options = mfa
        .begin_passkey_registration(&id, "user@example.com", None)
        .await
        .unwrap();
    let created = key.register(&options);
    let added = mfa
        .confirm_passkey_registration(&id, "Key", &created, None)
        .await
        .unwrap();
    let codes = added.backup_codes.unwrap();
    let LoginStep::SecondFactor(target) = mfa.begin_login(&id, None).await.unwrap() else {
        panic!("a passkey asks for a second step")
    };
    let LoginStep::SecondFactor(other) = mfa.begin_login(&id, None).await.unwrap() else {
        panic!("a passkey asks for a second step")
    };
    let wrong = key.assert(other.passkey_options().unwrap());
    let right = key.assert(target.passkey_options().unwrap());
    let before = mfa::testkit::passkey_verifications();
    let barrier = Arc::new(tokio::sync::Barrier::new(FLOOD));
    let tasks: Vec<_> = (0..FLOOD)
        .map(|_| {
            let (mfa, target, wrong) = (Arc::clone(mfa), target.clone(), wrong.clone());
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                mfa.complete_login_with_passkey(&target, &wrong).await
            })
        })
        .collect();
    for task in tasks {
        let answer = task.await.unwrap();
        assert!(
            matches!(
                answer,
                Err(Error::InvalidPasskey | Error::LockedOut { .. } | Error::StoreConflict)
            ),
            "{tag}: {answer:?}"
        );
    }
    let checked = mfa::testkit::passkey_verifications() - before;
    assert!(
        checked <= limit,
        "{tag}: {FLOOD} concurrent wrong assertions cost {checked} checks (limit {limit})"
    );
    assert_eq!(u64::from(failures(mfa, &id).await), limit, "{tag}: charges");
    let before = mfa::testkit::passkey_verifications();
    let late = mfa.complete_login_with_passkey(&target, &right).await;
    assert!(
        matches!(late, Err(Error::LockedOut { .. })),
        "{tag}: {late:?}"
    );
    assert_eq!(
        mfa::testkit::passkey_verifications(),
        before,
        "{tag}: checked while locked"
    );
    let code = mfa.complete_login(&target, codes.as_strs()[0]).await;
    assert!(
        matches!(code, Err(Error::LockedOut { .. })),
        "{tag}: one lockout: {code:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_charges_before_hashing() {
    let _serial = serial().await;
    on_store(MemoryStore::new(), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_charges_before_hashing() {
    let _serial = serial().await;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(dir.path().join("charge.db"))
        .await
        .unwrap();
    on_store(store, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_charges_before_hashing() {
    let Some(url) = db_common::Server::Postgres.url() else {
        return;
    };
    let _serial = serial().await;
    on_store(mfa::PostgresStore::connect(&url).await.unwrap(), "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_store_charges_before_hashing() {
    let Some(url) = db_common::Server::Mysql.url() else {
        return;
    };
    let _serial = serial().await;
    on_store(mfa::MysqlStore::connect(&url).await.unwrap(), "mysql").await;
}

/// The time an attempt is judged at is read after its wait for a hashing
/// permit: a challenge that expired meanwhile does not complete, and its
/// charge stays. Scripted with a clock that, once armed, shows the
/// challenge's expiry from its second reading on: the completion reads it
/// once before its charge and once after its hash.
#[tokio::test]
async fn a_challenge_that_expired_in_the_queue_does_not_complete() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let _serial = serial().await;
    let ttl = test_config().policy().login_challenge_ttl_secs;
    // 0: not armed; then 1 + the readings since it was armed.
    let armed = Arc::new(AtomicU64::new(0));
    let readings = Arc::clone(&armed);
    let clock = move || match readings.load(Ordering::SeqCst) {
        0 => T0,
        n => {
            readings.store(n + 1, Ordering::SeqCst);
            if n == 1 { T0 } else { T0 + ttl }
        }
    };
    let mfa = Mfa::new(MemoryStore::new(), test_config()).with_clock(clock);
    let id = "queued";
    let (_, codes) = enroll(&mfa, id).await;
    let LoginStep::SecondFactor(challenge) = mfa.begin_login(id, None).await.unwrap() else {
        panic!("an active factor asks for a code")
    };
    assert_eq!(challenge.expires_at(), T0 + ttl);
    armed.store(1, Ordering::SeqCst);
    let done = mfa.complete_login(&challenge, &codes[0]).await;
    assert!(matches!(done, Err(Error::InvalidChallenge)), "{done:?}");
    assert_eq!(armed.load(Ordering::SeqCst), 3, "two readings of the time");
    armed.store(0, Ordering::SeqCst);
    assert_eq!(mfa.status(id).await.unwrap().backup_codes_remaining, 10);
    assert_eq!(failures(&mfa, id).await, 1, "the charge stays");
}
