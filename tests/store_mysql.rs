//! The MySQL store against a real MariaDB (or MySQL 8) server: the shared
//! suite of stores on a database server (conformance, including user ids that
//! MySQL's default collations would take for one another; stores sharing one
//! database with racing saves and service operations; migrations; corrupt
//! rows; row locks; and a server that goes away, hangs or comes back;
//! `tests/store_server/mod.rs`), and what is MySQL's own.
//!
//! The server is named by `MFA_TEST_MYSQL_URL` (`.ci/mariadb.sh` sets one
//! up). Without it the suites that need a server are left out, with a note on
//! stderr, unless `CI` is set, in which case they fail. Each test works in a
//! database of its own, which the URL's user must be allowed to create.

mod common;
mod db_common;
mod store_common;
mod store_server;

use std::str::FromStr;
use std::time::{Duration, Instant};

use db_common::{Server, TestDb};
use mfa::testkit::conformance::{sample_records, user};
use mfa::{Error, MfaEnrollment, MfaStore, MysqlStore, WriteId};
use sqlx::Executor;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use store_server::{ServerStore, server_store_methods, server_store_suite};

impl ServerStore for MysqlStore {
    const SERVER: Server = Server::Mysql;

    server_store_methods!();

    async fn on_pool(url: &str, lock_wait: Option<Duration>) -> Self {
        // The server counts lock waits in whole seconds.
        let lock_wait = lock_wait.map(|wait| wait.as_secs().max(1));
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(2))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if let Some(secs) = lock_wait {
                        let set = format!("SET SESSION innodb_lock_wait_timeout = {secs}");
                        conn.execute(sqlx::AssertSqlSafe(set)).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(MySqlConnectOptions::from_str(url).unwrap())
            .await
            .unwrap();
        MysqlStore::from_pool(pool).await.unwrap()
    }

    async fn tables(&self) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT table_name FROM information_schema.tables
             WHERE table_schema = DATABASE() ORDER BY table_name",
        )
        .fetch_all(self.pool())
        .await
        .unwrap()
    }
}

server_store_suite!(MysqlStore);

/// A pool on the test's database, for SQL behind the store's back.
async fn raw_pool(db: &TestDb) -> MySqlPool {
    MySqlPoolOptions::new()
        .max_connections(2)
        .connect(&db.url)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_connect_pool_has_a_server_side_lock_wait_timeout() {
    let Some(db) = TestDb::new(Server::Mysql).await else {
        return;
    };
    let store = MysqlStore::connect(&db.url).await.unwrap();
    for _ in 0..3 {
        // Every connection of the pool, not just the first.
        let wait: u64 = sqlx::query_scalar("SELECT @@SESSION.innodb_lock_wait_timeout")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(wait, 5);
    }
    store.pool().close().await;
    db.finish().await;
}

/// The columns are what the README says: user ids and write ids as bytes
/// (compared exactly, whatever the server's default collation), versions as
/// 64-bit integers.
#[tokio::test]
async fn the_schema_keeps_user_ids_as_bytes() {
    let Some(db) = TestDb::new(Server::Mysql).await else {
        return;
    };
    let store = MysqlStore::connect(&db.url).await.unwrap();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name, column_type FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'mfa_enrollments'
         ORDER BY ordinal_position",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    // MariaDB shows BIGINT's display width; MySQL 8 no longer does.
    let columns: Vec<(&str, String)> = columns
        .iter()
        .map(|(name, ty)| (name.as_str(), ty.replace("bigint(20)", "bigint")))
        .collect();
    assert_eq!(
        columns,
        [
            ("user_id", "varbinary(1024)"),
            ("version", "bigint"),
            ("record", "mediumtext"),
            ("write_id", "varbinary(16)"),
            ("updated_at", "datetime"),
        ]
        .map(|(name, ty)| (name, ty.to_owned()))
    );
    store.pool().close().await;
    db.finish().await;
}

/// User ids of up to 1024 bytes are stored; a longer one has no record, and
/// saving it is `InvalidInput`, never a truncated id that another user's could
/// share.
#[tokio::test]
async fn user_ids_beyond_the_column_are_typed_errors() {
    let Some(db) = TestDb::new(Server::Mysql).await else {
        return;
    };
    let store = MysqlStore::connect(&db.url).await.unwrap();
    let longest = format!("{}{}", "é".repeat(500), user("").repeat(24))[..1024].to_owned();
    assert_eq!(longest.len(), 1024);
    store
        .save(&longest, None, &MfaEnrollment::Disabled, WriteId::random())
        .await
        .expect("1024 bytes fit");
    assert!(store.load(&longest).await.unwrap().is_some());
    let too_long = format!("{longest}x");
    assert!(store.load(&too_long).await.unwrap().is_none());
    assert!(matches!(
        store
            .save(&too_long, None, &MfaEnrollment::Disabled, WriteId::random())
            .await,
        Err(Error::InvalidInput(_))
    ));
    store.pool().close().await;
    db.finish().await;
}

/// MySQL commits around every DDL statement, so a process can stop between a
/// step and the row recording it. The next open runs the step again, which
/// must be harmless: here step 1's table exists, with a row, and nothing is
/// recorded.
#[tokio::test]
async fn a_step_applied_without_its_record_is_applied_again_harmlessly() {
    let Some(db) = TestDb::new(Server::Mysql).await else {
        return;
    };
    let store = MysqlStore::connect(&db.url).await.unwrap();
    let id = user("half-migrated");
    let record = sample_records(&id).remove(2);
    let write_id = WriteId::random();
    store.save(&id, None, &record, write_id).await.unwrap();
    store
        .execute("DELETE FROM mfa_schema_migrations")
        .await
        .unwrap();
    store.pool().close().await;

    let store = MysqlStore::connect(&db.url).await.expect("reopens");
    assert_eq!(store.migration_rows().await, store_common::migrations());
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(
        (loaded.version, loaded.write_id, loaded.record),
        (1, write_id, record)
    );
    store.pool().close().await;
    db.finish().await;
}

/// The migration lock is per database, waited for, and released after the
/// migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_wait_for_the_lock_and_release_it() {
    let Some(db) = TestDb::new(Server::Mysql).await else {
        return;
    };
    let lock = "CONCAT('mfa_schema_migrations.', MD5(DATABASE()))";
    let holder = raw_pool(&db).await;
    let mut session = holder.acquire().await.unwrap();
    let taken: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT GET_LOCK({lock}, 1)")))
        .fetch_one(&mut *session)
        .await
        .unwrap();
    assert_eq!(taken, 1);
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("DO RELEASE_LOCK({lock})")))
            .execute(&mut *session)
            .await
            .unwrap();
    });
    let started = Instant::now();
    let store = MysqlStore::connect(&db.url)
        .await
        .expect("opens once the lock is free");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "did not wait for the lock"
    );
    release.await.unwrap();
    let free: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT IS_FREE_LOCK({lock})")))
        .fetch_one(&holder)
        .await
        .unwrap();
    assert_eq!(free, 1, "the store released the migration lock");
    store.pool().close().await;
    holder.close().await;
    db.finish().await;
}
