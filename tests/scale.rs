//! The smoke run of the million-user bench (`benches/million.rs`): a few
//! thousand users seeded in bulk by its tool (`benches/scale/`) into each SQL
//! store — SQLite always, PostgreSQL and MariaDB when
//! `MFA_TEST_POSTGRES_URL` / `MFA_TEST_MYSQL_URL` are set (and failing, not
//! skipped, without them when `CI` is set) — then:
//!
//! - every seeded row loads through the store as a version-1 active record
//!   whose secret is sealed for its own user (a TOTP code of that user's
//!   secret verifies on it, another user's does not);
//! - logins (`begin_login`, `complete_login` with a fresh TOTP code) succeed
//!   through `Mfa` on users across the table and save version 2;
//! - the plans of the store's load and compare-and-swap update are
//!   primary-key lookups, not scans;
//! - the database's own size functions report at least the records' bytes
//!   per user, and less than eight times that.

mod db_common;
#[path = "../benches/scale/mod.rs"]
mod scale;

use std::sync::Arc;

use db_common::{Server, in_fresh_db};
use mfa::testkit::{ManualClock, test_config};
use mfa::{LoginStep, Mfa, MysqlStore, PostgresStore, SqliteStore};
use scale::{ScaleStore, Users};

const USERS: u64 = 3_000;
/// When the users were enrolled (unix seconds).
const ENROLLED_AT: u64 = 1_700_000_000;

async fn seeded_users_load_and_log_in<S: ScaleStore>(store: S) {
    let users = Arc::new(Users::new(test_config(), ENROLLED_AT));
    scale::seed(&store, &users, USERS).await;
    assert_eq!(store.count().await.unwrap(), USERS, "{}: rows", S::NAME);

    // Every row loads as the record of its own user.
    let later = ENROLLED_AT + 3_600;
    for i in 0..USERS {
        let user = Users::user_id(i);
        let stored = store.load(&user).await.unwrap().expect("a seeded row");
        assert_eq!(stored.version, 1, "{}: {user}", S::NAME);
        assert!(stored.record.is_active(), "{}: {user}", S::NAME);
        let own = stored.record.clone().verify_totp(
            users.context(),
            &user,
            &users.code(i, later),
            later,
            &mut rand::rng(),
        );
        assert!(own.outcome.is_ok(), "{}: {user}'s own code", S::NAME);
        if i % 500 == 0 {
            let other = (i + 1) % USERS;
            let theirs = stored.record.verify_totp(
                users.context(),
                &user,
                &users.code(other, later),
                later,
                &mut rand::rng(),
            );
            assert!(theirs.outcome.is_err(), "{}: another user's code", S::NAME);
        }
    }

    // Logins through the service, on users across the table.
    let clock = ManualClock::new(later);
    let mfa = Mfa::new(store.clone(), test_config()).with_clock(clock.clone());
    for i in [0, 1, USERS / 2, USERS - 1] {
        clock.advance(30);
        let user = Users::user_id(i);
        let LoginStep::SecondFactor(challenge) = mfa.begin_login(&user, None).await.unwrap() else {
            panic!("{}: {user} has an active factor", S::NAME);
        };
        let code = users.code(i, clock.get());
        mfa.complete_login(&challenge, &code)
            .await
            .unwrap_or_else(|e| panic!("{}: {user}'s login: {e}", S::NAME));
        let saved = store.load(&user).await.unwrap().expect("the row");
        assert_eq!(saved.version, 2, "{}: {user}'s login was saved", S::NAME);
        // The same code does not log in twice.
        let LoginStep::SecondFactor(again) = mfa.begin_login(&user, None).await.unwrap() else {
            panic!("{}: {user} still has an active factor", S::NAME);
        };
        assert!(mfa.complete_login(&again, &code).await.is_err());
    }

    // The load and the compare-and-swap find the row by primary key.
    store.analyze().await.unwrap();
    for plan in store.plans(&Users::user_id(USERS / 3)).await.unwrap() {
        assert!(
            plan.index_lookup,
            "{}: the {} statement's plan is not a primary-key lookup: {:?}",
            S::NAME,
            plan.statement,
            plan.lines
        );
    }

    // Bytes per user, from the database's own size functions.
    let size = store.size().await.unwrap();
    let per_user = size.total() / USERS;
    let record = users.record_len() as u64;
    assert!(
        (record..8 * record).contains(&per_user),
        "{}: {per_user} bytes per user ({size:?}) for records of {record} bytes",
        S::NAME
    );
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(dir.path().join("scale.db"))
        .await
        .unwrap();
    seeded_users_load_and_log_in(store).await;
}

#[tokio::test]
async fn postgres() {
    in_fresh_db(Server::Postgres, async |db| {
        let store = PostgresStore::connect(&db.url).await.unwrap();
        seeded_users_load_and_log_in(store.clone()).await;
        store.pool().close().await;
    })
    .await;
}

#[tokio::test]
async fn mysql() {
    in_fresh_db(Server::Mysql, async |db| {
        let store = MysqlStore::connect(&db.url).await.unwrap();
        seeded_users_load_and_log_in(store.clone()).await;
        store.pool().close().await;
    })
    .await;
}
