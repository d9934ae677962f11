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

use db_common::{Server, in_fresh_db};
use mfa::store::WriteId;
use mfa::testkit::conformance::{sample_records, user};
use mfa::{Error, MfaEnrollment, MfaStore, MysqlStore};
use sqlx::Executor;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use store_server::{ServerStore, on_fresh_store, server_store_methods, server_store_suite};

impl ServerStore for MysqlStore {
    const SERVER: Server = Server::Mysql;

    server_store_methods!(tables: "SELECT table_name FROM information_schema.tables
         WHERE table_schema = DATABASE() ORDER BY table_name");

    type Db = sqlx::MySql;

    fn pool_settings(
        url: &str,
        lock_wait: Option<Duration>,
    ) -> (MySqlPoolOptions, MySqlConnectOptions) {
        // The server counts lock waits in whole seconds.
        let lock_wait = lock_wait.map(|wait| wait.as_secs().max(1));
        let pool = MySqlPoolOptions::new().after_connect(move |conn, _| {
            Box::pin(async move {
                if let Some(secs) = lock_wait {
                    let set = format!("SET SESSION innodb_lock_wait_timeout = {secs}");
                    conn.execute(sqlx::AssertSqlSafe(set)).await?;
                }
                Ok(())
            })
        });
        (pool, MySqlConnectOptions::from_str(url).unwrap())
    }
}

server_store_suite!(MysqlStore);

#[tokio::test]
async fn the_connect_pool_has_a_server_side_lock_wait_timeout() {
    on_fresh_store(async |store: &MysqlStore, _| {
        for _ in 0..3 {
            // Every connection of the pool, not just the first.
            let wait: u64 = sqlx::query_scalar("SELECT @@SESSION.innodb_lock_wait_timeout")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(wait, 5);
        }
    })
    .await;
}

/// The columns are what the storage guide (`mfa::guide::storage`) says: user ids and write ids as bytes
/// (compared exactly, whatever the server's default collation), versions as
/// 64-bit integers.
#[tokio::test]
async fn the_schema_keeps_user_ids_as_bytes() {
    on_fresh_store(async |store: &MysqlStore, _| {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name, column_type FROM information_schema.columns
             WHERE table_schema = DATABASE() AND table_name = 'mfa_enrollments'
             ORDER BY ordinal_position",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        // MariaDB shows BIGINT's display width; MySQL 8 no longer does.
        let columns: Vec<String> = columns
            .iter()
            .map(|(name, ty)| format!("{name} {}", ty.replace("bigint(20)", "bigint")))
            .collect();
        assert_eq!(
            columns,
            [
                "user_id varbinary(1024)",
                "version bigint",
                "record mediumtext",
                "write_id varbinary(16)",
                "updated_at datetime",
                "credential_ids mediumblob",
            ]
        );
    })
    .await;
}

/// User ids of up to 1024 bytes are stored; a longer one has no record, and
/// saving it is `InvalidInput`, never a truncated id that another user's could
/// share.
#[tokio::test]
async fn user_ids_beyond_the_column_are_typed_errors() {
    on_fresh_store(async |store: &MysqlStore, _| {
        let longest = format!("{}{}", "é".repeat(500), user("").repeat(24))[..1024].to_owned();
        let too_long = format!("{longest}x");
        let disabled = MfaEnrollment::default();
        store
            .save(&longest, None, &disabled, WriteId::random())
            .await
            .expect("1024 bytes fit");
        assert!(store.load(&longest).await.unwrap().is_some());
        assert!(store.load(&too_long).await.unwrap().is_none());
        let saved = store
            .save(&too_long, None, &disabled, WriteId::random())
            .await;
        assert!(matches!(saved, Err(Error::InvalidInput(_))), "{saved:?}");
    })
    .await;
}

/// MySQL commits around every DDL statement, so a process can stop between a
/// step and the row recording it. The next open runs the step again, which
/// must be harmless: here step 1's table exists, with a row, and nothing is
/// recorded.
#[tokio::test]
async fn a_step_applied_without_its_record_is_applied_again_harmlessly() {
    on_fresh_store(async |store: &MysqlStore, db| {
        let id = user("half-migrated");
        let record = sample_records(&id).remove(2);
        let write_id = WriteId::random();
        store.save(&id, None, &record, write_id).await.unwrap();
        store
            .execute("DELETE FROM mfa_schema_migrations")
            .await
            .unwrap();

        let reopened = MysqlStore::connect(&db.url).await.expect("reopens");
        assert_eq!(reopened.migration_rows().await, store_common::migrations());
        let loaded = reopened.load(&id).await.unwrap().unwrap();
        assert_eq!(
            (loaded.version, loaded.write_id, loaded.record),
            (1, write_id, record)
        );
        reopened.close().await;
    })
    .await;
}

/// The migration lock is per database, waited for, and released after the
/// migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_wait_for_the_lock_and_release_it() {
    in_fresh_db(Server::Mysql, async |db| {
        let lock = "CONCAT('mfa_schema_migrations.', MD5(DATABASE()))";
        let holder = MySqlPool::connect(&db.url).await.unwrap();
        let mut session = holder.acquire().await.unwrap();
        let get = format!("SELECT GET_LOCK({lock}, 1)");
        let taken: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(get))
            .fetch_one(&mut *session)
            .await
            .unwrap();
        assert_eq!(taken, 1);
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let release = format!("DO RELEASE_LOCK({lock})");
            sqlx::raw_sql(sqlx::AssertSqlSafe(release))
                .execute(&mut *session)
                .await
                .unwrap();
        });
        let started = Instant::now();
        let store = MysqlStore::connect(&db.url)
            .await
            .expect("opens once the lock is free");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(500), "waited {waited:?}");
        release.await.unwrap();
        let free = format!("SELECT IS_FREE_LOCK({lock})");
        let free: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(free))
            .fetch_one(&holder)
            .await
            .unwrap();
        assert_eq!(free, 1, "the store released the migration lock");
        store.close().await;
        holder.close().await;
    })
    .await;
}
