//! The suite every store on a database server (PostgreSQL, MySQL) runs:
//! written once over [`ServerStore`], instantiated per store by
//! [`server_store_suite!`], each test in a schema or database of its own
//! ([`TestDb`]).
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa::store::WriteId;
use mfa::testkit::conformance::{self, sample_records, user};
use mfa::testkit::fixtures::with_passkeys;
use mfa::testkit::{FaultyStore, LoadFault, SaveFault};
use mfa::{Error, MfaEnrollment, MfaStore};
use sqlx::pool::PoolOptions;

use crate::common::Harness;
use crate::db_common::{
    Proxy, Server, TestDb, assert_unavailable, closed_port, in_fresh_db, with_host,
};
use crate::store_common;

/// What the shared suite needs of a store beyond [`MfaStore`]: its
/// constructors, and SQL on its pool for set-up and inspection.
pub trait ServerStore: MfaStore + Clone + std::fmt::Debug + Sized + 'static {
    /// The server it runs on.
    const SERVER: Server;

    /// The store's own `connect`.
    fn connect(url: &str) -> impl Future<Output = mfa::Result<Self>> + Send;

    /// The store's driver.
    type Db: sqlx::Database;

    /// The settings of a pool of the test's making on `url` (see [`on_pool`]):
    /// with `lock_wait`, the server gives up waiting for a row lock after
    /// that long.
    fn pool_settings(
        url: &str,
        lock_wait: Option<Duration>,
    ) -> (PoolOptions<Self::Db>, ConnectOptionsOf<Self::Db>);

    /// The store's `from_pool`.
    fn from_pool(pool: sqlx::Pool<Self::Db>) -> impl Future<Output = mfa::Result<Self>> + Send;

    /// The store's `with_timeout`.
    fn with_timeout(self, timeout: Duration) -> Self;

    /// Runs `sql` on the store's pool.
    fn execute(&self, sql: &str) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// The tables of the test's schema or database, by name.
    fn tables(&self) -> impl Future<Output = Vec<String>> + Send;

    /// The rows of `mfa_schema_migrations`.
    fn migration_rows(&self) -> impl Future<Output = Vec<(i64, String)>> + Send;

    /// Runs `during` while another session of the pool holds `user_id`'s row
    /// locked (`SELECT … FOR UPDATE`).
    fn with_row_locked<T: Send>(
        &self,
        user_id: &str,
        during: impl Future<Output = T> + Send,
    ) -> impl Future<Output = T> + Send;

    /// Closes the pool.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// The connect options of driver `DB`.
pub type ConnectOptionsOf<DB> = <<DB as sqlx::Database>::Connection as sqlx::Connection>::Options;

/// A store through `from_pool` on a pool of the test's making on `url`: up to
/// 4 connections, a 2 s acquire timeout and [`ServerStore::pool_settings`].
pub async fn on_pool<S: ServerStore>(url: &str, lock_wait: Option<Duration>) -> S {
    let (pool, connect) = S::pool_settings(url, lock_wait);
    let pool = pool
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(connect)
        .await
        .unwrap();
    S::from_pool(pool).await.unwrap()
}

/// The methods of [`ServerStore`] that read the same for every store, to
/// expand inside its `impl`: each store's inherent method of the same name,
/// and SQL that every server takes, but for the query of the tables of the
/// test's schema or database (one column, their names, in order).
macro_rules! server_store_methods {
    (tables: $tables:literal) => {
        async fn tables(&self) -> Vec<String> {
            sqlx::query_scalar($tables)
                .fetch_all(self.pool())
                .await
                .unwrap()
        }

        fn connect(url: &str) -> impl Future<Output = mfa::Result<Self>> + Send {
            Self::connect(url)
        }

        fn with_timeout(self, timeout: std::time::Duration) -> Self {
            Self::with_timeout(self, timeout)
        }

        fn from_pool(pool: sqlx::Pool<Self::Db>) -> impl Future<Output = mfa::Result<Self>> + Send {
            Self::from_pool(pool)
        }

        async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
            let sql = sqlx::AssertSqlSafe(sql.to_owned());
            sqlx::raw_sql(sql).execute(self.pool()).await.map(drop)
        }

        async fn migration_rows(&self) -> Vec<(i64, String)> {
            sqlx::query_as(
                "SELECT version, description FROM mfa_schema_migrations ORDER BY version",
            )
            .fetch_all(self.pool())
            .await
            .unwrap()
        }

        async fn with_row_locked<T: Send>(
            &self,
            user_id: &str,
            during: impl Future<Output = T> + Send,
        ) -> T {
            let mut lock = self.pool().begin().await.unwrap();
            // Test ids are letters, digits and dashes.
            let sql =
                format!("SELECT 1 FROM mfa_enrollments WHERE user_id = '{user_id}' FOR UPDATE");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *lock)
                .await
                .unwrap();
            let result = during.await;
            lock.rollback().await.unwrap();
            result
        }

        async fn close(&self) {
            self.pool().close().await;
        }
    };
}

pub(crate) use server_store_methods;

/// One test per check of this module, for store `$store`.
macro_rules! server_store_suite {
    ($store:ty) => {
        server_store_suite!(@tests $store;
            conformance,
            conformance_through_a_host_pool,
            credential_index_paths,
            deleting_a_row_frees_its_credentials,
            two_stores_share_one_database,
            the_whole_service_flow,
            backup_codes_under_save_faults,
            concurrent_opens_migrate_once,
            corrupt_rows_are_corrupt_records,
            a_row_locked_past_the_server_bound_writes_nothing,
            outages_are_unavailable_and_write_nothing,
            a_server_that_is_not_there_is_unavailable,
            bad_urls_are_typed_errors,
        );
    };
    (@tests $store:ty; $($check:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                store_server::$check::<$store>().await;
            }
        )*
    };
}

pub(crate) use server_store_suite;

async fn open<S: ServerStore>(db: &TestDb) -> S {
    S::connect(&db.url).await.expect("the store opens")
}

/// Runs `test` on a store opened with `connect` in a schema or database of
/// its own, then closes the store and drops the schema or database. Does
/// nothing when the suites of `S`'s server are left out.
pub async fn on_fresh_store<S: ServerStore>(test: impl AsyncFnOnce(&S, &TestDb)) {
    in_fresh_db(S::SERVER, async |db| {
        let store = open::<S>(db).await;
        test(&store, db).await;
        store.close().await;
    })
    .await;
}

/// A user whose record (an active one) is stored at version 1.
async fn stored_user<S: MfaStore>(store: &S, tag: &str) -> (String, MfaEnrollment) {
    let id = user(tag);
    let record = sample_records(&id).remove(2);
    store
        .save(&id, None, &record, WriteId::random())
        .await
        .unwrap();
    (id, record)
}

pub async fn conformance<S: ServerStore>() {
    on_fresh_store(async |store: &S, _| conformance::run(Arc::new(store.clone())).await).await;
}

/// The host's pool and tables: the crate keeps to its own three tables.
pub async fn conformance_through_a_host_pool<S: ServerStore>() {
    in_fresh_db(S::SERVER, async |db| {
        let store = on_pool::<S>(&db.url, None).await;
        store
            .execute("CREATE TABLE users (id VARCHAR(64) PRIMARY KEY)")
            .await
            .unwrap();
        conformance::run(Arc::new(store.clone())).await;
        assert_eq!(
            store.tables().await,
            [
                "mfa_enrollments",
                "mfa_passkey_credentials",
                "mfa_schema_migrations",
                "users"
            ],
            "the crate keeps to its own tables, beside the host's"
        );
        store.close().await;
    })
    .await;
}

pub async fn credential_index_paths<S: ServerStore>() {
    on_fresh_store(async |store: &S, _| {
        store_common::credential_index_paths(Arc::new(store.clone())).await;
    })
    .await;
}

/// A host that deletes a user's row (as `mfa::guide::storage` says to when the account
/// goes) frees the user's credential ids with it.
pub async fn deleting_a_row_frees_its_credentials<S: ServerStore>() {
    on_fresh_store(async |store: &S, _| {
        let id = user("deleted");
        let credential = store_common::credential(32);
        let record = with_passkeys(MfaEnrollment::default(), &[&credential]);
        store
            .save(&id, None, &record, WriteId::random())
            .await
            .unwrap();
        // Test ids are letters, digits and dashes.
        store
            .execute(&format!(
                "DELETE FROM mfa_enrollments WHERE user_id = '{id}'"
            ))
            .await
            .unwrap();
        assert_eq!(store.passkey_owner(&credential).await.unwrap(), None);
        let other = user("after-delete");
        store
            .save(&other, None, &record, WriteId::random())
            .await
            .expect("the freed id registers again");
    })
    .await;
}

/// Two pools, as two processes would have: no lost update, one winner among
/// racing first saves and among racing registrations of one credential id,
/// and the service's races split across both.
pub async fn two_stores_share_one_database<S: ServerStore>() {
    on_fresh_store(async |a: &S, db| {
        let (a, b) = (Arc::new(a.clone()), Arc::new(open::<S>(db).await));
        store_common::no_lost_updates_across_stores(Arc::clone(&a), Arc::clone(&b)).await;
        store_common::first_saves_have_one_winner(Arc::clone(&a), Arc::clone(&b)).await;
        store_common::one_credential_one_owner_across_stores(Arc::clone(&a), Arc::clone(&b)).await;
        store_common::races_across_stores(Arc::clone(&a), Arc::clone(&b)).await;
        b.close().await;
    })
    .await;
}

pub async fn the_whole_service_flow<S: ServerStore>() {
    on_fresh_store(async |store: &S, _| store_common::service_flow(store.clone()).await).await;
}

/// The service over the real store wrapped in a [`FaultyStore`]: under each
/// save fault a backup code is accepted at most once, and the caller gets the
/// login only when the save that spent the code is known to have landed (I1,
/// I3, I11).
pub async fn backup_codes_under_save_faults<S: ServerStore>() {
    on_fresh_store(async |store: &S, _| {
        let faulty = Arc::new(FaultyStore::new(store.clone()));
        let h = Harness::new(Arc::clone(&faulty), |_| {});
        // The save the fault strikes (a backup code is charged before its
        // hash, I16: save 1 is the charge, after one load; save 2 spends the
        // code, after three), the fault, whether the read-back after it
        // fails too, whether the first attempt logs in, and whether the code
        // is spent after it (a charge that landed spends nothing).
        for (save, fault, read_back_fails, logs_in, spent) in [
            (1, SaveFault::Unavailable, false, false, false),
            (1, SaveFault::WrittenButFailed, false, true, true),
            (1, SaveFault::Conflict, false, true, true),
            (1, SaveFault::WrittenButFailed, true, false, false),
            (2, SaveFault::Unavailable, false, false, false),
            (2, SaveFault::WrittenButFailed, false, true, true),
            (2, SaveFault::Conflict, false, true, true),
            (2, SaveFault::WrittenButFailed, true, false, true),
        ] {
            let ctx = format!("save {save}: {fault:?}, read-back failing: {read_back_fails}");
            let id = user("save-fault");
            let (_, codes) = h.enroll(&id).await;
            faulty.fail_save(save, fault);
            if read_back_fails {
                let loads_before = if save == 1 { 1 } else { 3 };
                faulty.fail_load(loads_before + 1, LoadFault::Unavailable);
            }
            match h.mfa.verify(&id, &codes[0]).await {
                Ok(login) if logs_in => assert_eq!(login.backup_codes_remaining, 9, "{ctx}"),
                Err(Error::StoreUnavailable(_)) if !logs_in => {}
                other => panic!("{ctx}: {other:?}"),
            }
            assert_eq!(faulty.pending_faults(), 0, "{ctx}: a fault never fired");
            let again = h.mfa.verify(&id, &codes[0]).await;
            if spent {
                assert!(matches!(again, Err(Error::InvalidCode)), "{ctx}: {again:?}");
            } else {
                assert!(again.is_ok(), "{ctx}: the code was lost: {again:?}");
            }
            let status = h.mfa.status(&id).await.unwrap();
            assert_eq!(status.backup_codes_remaining, 9, "{ctx}");
        }
    })
    .await;
}

/// Eight servers starting at once on a fresh database: every open succeeds
/// and each step is applied and recorded once.
pub async fn concurrent_opens_migrate_once<S: ServerStore>() {
    in_fresh_db(S::SERVER, async |db| {
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let url = db.url.clone();
                tokio::spawn(async move { S::connect(&url).await })
            })
            .collect();
        let mut stores = Vec::new();
        for open in opens {
            stores.push(open.await.unwrap().expect("a concurrent open succeeds"));
        }
        assert_eq!(stores[0].migration_rows().await, store_common::migrations());

        let id = user("migrate");
        stores[3]
            .save(&id, None, &MfaEnrollment::default(), WriteId::random())
            .await
            .unwrap();
        let again: S = open(db).await;
        assert_eq!(again.migration_rows().await, store_common::migrations());
        assert_eq!(again.load(&id).await.unwrap().unwrap().version, 1);
        for store in stores.iter().chain([&again]) {
            store.close().await;
        }
    })
    .await;
}

/// Rows written behind the store's back that do not decode load as
/// `CorruptRecord`, never as a panic or a default.
pub async fn corrupt_rows_are_corrupt_records<S: ServerStore>() {
    on_fresh_store(async |store: &S, _| {
        let insert = |id: &str, version: i64, record: &str| {
            format!(
                "INSERT INTO mfa_enrollments (user_id, version, record, updated_at)
                 VALUES ('{id}', {version}, '{record}', CURRENT_TIMESTAMP)"
            )
        };
        for (tag, record) in [
            ("not-json", "this is not json"),
            ("truncated", r#"{"format":"mfa/1","state":"act"#),
            (
                "unknown-format",
                r#"{"format":"mfa/999","state":"disabled"}"#,
            ),
            ("wrong-shape", r#"{"format":"mfa/1","state":"active"}"#),
        ] {
            let id = user(tag);
            store.execute(&insert(&id, 1, record)).await.unwrap();
            let loaded = store.load(&id).await;
            assert!(
                matches!(loaded, Err(Error::CorruptRecord(_))),
                "{tag}: {loaded:?}"
            );
        }
        // The schema refuses versions below 1; without that check, decoding does.
        let id = user("version");
        let disabled = MfaEnrollment::default().to_json();
        assert!(
            store.execute(&insert(&id, 0, &disabled)).await.is_err(),
            "the CHECK constraint holds"
        );
        store
            .execute("ALTER TABLE mfa_enrollments DROP CONSTRAINT mfa_enrollments_version_check")
            .await
            .unwrap();
        store.execute(&insert(&id, -1, &disabled)).await.unwrap();
        assert!(matches!(
            store.load(&id).await,
            Err(Error::CorruptRecord(_))
        ));
    })
    .await;
}

/// A save waiting on a row another session holds is given up by the server
/// (its statement or lock-wait timeout): `StoreUnavailable`, fast, and
/// nothing written.
pub async fn a_row_locked_past_the_server_bound_writes_nothing<S: ServerStore>() {
    in_fresh_db(S::SERVER, async |db| {
        let store = on_pool::<S>(&db.url, Some(Duration::from_millis(300))).await;
        let (id, old) = stored_user(&store, "row-lock").await;
        store
            .with_row_locked(&id, async {
                let started = Instant::now();
                let disabled = MfaEnrollment::default();
                let saved = store.save(&id, Some(1), &disabled, WriteId::random()).await;
                assert_unavailable(saved, "row locked past the server's bound");
                let elapsed = started.elapsed();
                assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
            })
            .await;
        let loaded = store.load(&id).await.unwrap().unwrap();
        assert_eq!((loaded.version, loaded.record), (1, old));
        store.close().await;
    })
    .await;
}

/// The server gone or hung, behind a proxy, at every store operation
/// ([`crate::db_common::outage_matrix`]).
pub async fn outages_are_unavailable_and_write_nothing<S: ServerStore>() {
    in_fresh_db(S::SERVER, async |db| {
        let proxy = Proxy::start(db.server_addr().await).await;
        let timeout = Duration::from_secs(3);
        let store = on_pool::<S>(&with_host(&db.url, &proxy.authority()), None)
            .await
            .with_timeout(timeout);
        crate::db_common::outage_matrix(&store, &proxy, timeout).await;
        store.close().await;
        proxy.down().await;
    })
    .await;
}

/// Needs no server: nothing listens on the port.
pub async fn a_server_that_is_not_there_is_unavailable<S: ServerStore>() {
    let port = closed_port().await;
    let url = with_host(S::SERVER.example(), &format!("127.0.0.1:{port}"));
    let started = Instant::now();
    assert_unavailable(S::connect(&url).await, "closed port");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
}

pub async fn bad_urls_are_typed_errors<S: ServerStore>() {
    let scheme = S::SERVER.scheme();
    for url in [
        "not a url".to_owned(),
        format!("{scheme}://host:notaport/db"),
        format!("{scheme}://[::1/db"),
    ] {
        assert!(
            matches!(S::connect(&url).await, Err(Error::InvalidConfig(_))),
            "{url}"
        );
    }
}
