//! The PostgreSQL store against a real server: the shared suite of stores on
//! a database server (conformance, stores sharing one database, migrations,
//! corrupt rows, row locks, and a server that goes away, hangs or comes back;
//! `tests/store_server/mod.rs`), and what is PostgreSQL's own.
//!
//! The server is named by `MFA_TEST_POSTGRES_URL`. Without it the suites that
//! need a server are left out, with a note on stderr, unless `CI` is set, in
//! which case they fail. Each test works in a schema of its own.

mod common;
mod db_common;
mod store_common;
mod store_server;

use std::str::FromStr;
use std::time::Duration;

use db_common::{Server, in_fresh_db};
use mfa::testkit::conformance::{sample_records, user};
use mfa::testkit::fixtures::with_passkeys;
use mfa::{Error, MfaEnrollment, MfaStore, PostgresStore, store::WriteId};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use store_server::{ServerStore, on_fresh_store, server_store_methods, server_store_suite};

impl ServerStore for PostgresStore {
    const SERVER: Server = Server::Postgres;

    server_store_methods!(tables: "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() ORDER BY table_name");

    type Db = sqlx::Postgres;

    fn pool_settings(url: &str, lock_wait: Option<Duration>) -> (PgPoolOptions, PgConnectOptions) {
        let options = PgConnectOptions::from_str(url).unwrap();
        let options = match lock_wait {
            None => options,
            Some(wait) => {
                let timeout = format!("{}ms", wait.as_millis());
                options.options([("statement_timeout", timeout.as_str())])
            }
        };
        (PgPoolOptions::new(), options)
    }
}

server_store_suite!(PostgresStore);

#[tokio::test]
async fn the_connect_pool_has_server_side_timeouts() {
    on_fresh_store(async |store: &PostgresStore, db| {
        assert_eq!(statement_timeout(store).await, "5s");
        // One set in the URL is kept.
        let url = format!("{}%20-c%20statement_timeout%3D42s", db.url);
        let configured = PostgresStore::connect(&url).await.unwrap();
        assert_eq!(statement_timeout(&configured).await, "42s");
        configured.close().await;
    })
    .await;
}

async fn statement_timeout(store: &PostgresStore) -> String {
    sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn user_ids_postgres_cannot_hold_are_typed_errors() {
    on_fresh_store(async |store: &PostgresStore, _| {
        assert!(store.load("nul\0byte").await.unwrap().is_none());
        let saved = store
            .save(
                "nul\0byte",
                None,
                &MfaEnrollment::default(),
                WriteId::random(),
            )
            .await;
        assert!(matches!(saved, Err(Error::InvalidInput(_))), "{saved:?}");
    })
    .await;
}

/// A database the store migrated before write identities existed (step 1
/// only): opening it adds the column in place, its rows load as
/// `WriteId::NONE`, and saves go on from their versions, with the credential
/// index.
#[tokio::test]
async fn a_database_from_before_write_ids_migrates_in_place() {
    in_fresh_db(Server::Postgres, async |db| {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(PgConnectOptions::from_str(&db.url).unwrap())
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE mfa_schema_migrations (
                 version     BIGINT      NOT NULL PRIMARY KEY,
                 description TEXT        NOT NULL,
                 applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
             );
             CREATE TABLE mfa_enrollments (
                 user_id    TEXT        NOT NULL PRIMARY KEY,
                 version    BIGINT      NOT NULL CHECK (version > 0),
                 record     TEXT        NOT NULL,
                 updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );
             INSERT INTO mfa_schema_migrations (version, description)
             VALUES (1, 'mfa_enrollments')",
        )
        .execute(&pool)
        .await
        .unwrap();
        let id = user("before-write-ids");
        let record = sample_records(&id).remove(2);
        sqlx::query("INSERT INTO mfa_enrollments (user_id, version, record) VALUES ($1, 3, $2)")
            .bind(&id)
            .bind(record.to_json())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let store = PostgresStore::connect(&db.url).await.unwrap();
        assert_eq!(store.migration_rows().await, store_common::migrations());
        let loaded = store.load(&id).await.unwrap().unwrap();
        assert_eq!(
            (loaded.version, loaded.write_id, &loaded.record),
            (3, WriteId::NONE, &record)
        );
        let write_id = WriteId::random();
        assert_eq!(
            store.save(&id, Some(3), &record, write_id).await.unwrap(),
            4
        );
        assert_eq!(store.load(&id).await.unwrap().unwrap().write_id, write_id);
        // The credential index starts empty and follows the old rows' saves.
        let credential = store_common::credential(32);
        let with_passkey = with_passkeys(record, &[&credential]);
        store
            .save(&id, Some(4), &with_passkey, WriteId::random())
            .await
            .unwrap();
        assert_eq!(store.passkey_owner(&credential).await.unwrap(), Some(id));
        store.close().await;
    })
    .await;
}
