//! The SQLite store: the conformance suite, files shared by several pools,
//! migrations, and every way the database can be unusable.

mod common;
mod store_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa::testkit::conformance::{self, sample_records, user};
use mfa::testkit::fixtures::with_passkeys;
use mfa::{Error, MfaEnrollment, MfaStore, SqliteStore, store::WriteId};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(user("mfa-sqlite-test"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn url(&self, file: &str) -> String {
        format!("sqlite://{}?mode=rwc", self.path(file).display())
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn open(url: &str) -> SqliteStore {
    SqliteStore::connect(url).await.expect("opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_in_memory() {
    conformance::run(Arc::new(open("sqlite::memory:").await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_a_file() {
    let dir = TempDir::new();
    conformance::run(Arc::new(open(&dir.url("mfa.db")).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_through_a_host_pool() {
    let dir = TempDir::new();
    let options = SqliteConnectOptions::new()
        .filename(dir.path("host.db"))
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    // The host's own tables live next to the crate's.
    sqlx::query("CREATE TABLE users (id TEXT PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    let store = SqliteStore::from_pool(pool.clone()).await.unwrap();
    conformance::run(Arc::new(store)).await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        tables,
        [
            "mfa_enrollments",
            "mfa_passkey_credentials",
            "mfa_schema_migrations",
            "users"
        ],
        "the crate keeps out of sqlx's own migration table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credential_index_paths() {
    store_common::credential_index_paths(Arc::new(open("sqlite::memory:").await)).await;
    let dir = TempDir::new();
    store_common::credential_index_paths(Arc::new(open(&dir.url("index.db")).await)).await;
}

/// A host that deletes a user's row (as `mfa::guide::storage` says to when the account
/// goes) frees the user's credential ids with it.
#[tokio::test]
async fn deleting_a_row_frees_its_credentials() {
    let store = open("sqlite::memory:").await;
    let id = user("deleted");
    let credential = store_common::credential(32);
    let record = with_passkeys(MfaEnrollment::default(), &[&credential]);
    store
        .save(&id, None, &record, WriteId::random())
        .await
        .unwrap();
    sqlx::query("DELETE FROM mfa_enrollments WHERE user_id = ?1")
        .bind(&id)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.passkey_owner(&credential).await.unwrap(), None);
    store
        .save(&user("after-delete"), None, &record, WriteId::random())
        .await
        .expect("the freed id registers again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_share_one_file() {
    let dir = TempDir::new();
    let url = dir.url("shared.db");
    let (a, b) = (Arc::new(open(&url).await), Arc::new(open(&url).await));
    assert!(!Arc::ptr_eq(&a, &b));
    store_common::no_lost_updates_across_stores(Arc::clone(&a), Arc::clone(&b)).await;
    store_common::first_saves_have_one_winner(Arc::clone(&a), Arc::clone(&b)).await;
    store_common::one_credential_one_owner_across_stores(Arc::clone(&a), Arc::clone(&b)).await;

    // A compare-and-swap raced from both pools has one winner.
    let id = user("two-pools");
    let record = sample_records(&id).remove(2);
    a.save(&id, None, &MfaEnrollment::default(), WriteId::random())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let (id, record) = (id.clone(), record.clone());
            tokio::spawn(async move { store.save(&id, Some(1), &record, WriteId::random()).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(2) => wins += 1,
            Err(Error::StoreConflict) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(b.load(&id).await.unwrap().unwrap().record, record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_races_across_two_pools() {
    let dir = TempDir::new();
    let url = dir.url("race.db");
    store_common::races_across_stores(open(&url).await, open(&url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_service_flow() {
    store_common::service_flow(open("sqlite::memory:").await).await;
    let dir = TempDir::new();
    store_common::service_flow(open(&dir.url("flow.db")).await).await;
}

#[tokio::test]
async fn reopening_keeps_the_records() {
    let dir = TempDir::new();
    let url = dir.url("reopen.db");
    let id = user("reopen");
    let record = sample_records(&id).remove(2);
    {
        let store = open(&url).await;
        store
            .save(&id, None, &record, WriteId::random())
            .await
            .unwrap();
        store
            .save(&id, Some(1), &record, WriteId::random())
            .await
            .unwrap();
        store.pool().close().await;
    }
    let store = open(&url).await;
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.record), (2, record));
}

#[tokio::test]
async fn open_file_takes_any_path_and_creates_the_file() {
    let dir = TempDir::new();
    let path = dir.path("with space?and#marks%20.db");
    let id = user("open-file");
    let record = sample_records(&id).remove(2);
    {
        let store = SqliteStore::open_file(&path).await.expect("opens");
        store
            .save(&id, None, &record, WriteId::random())
            .await
            .unwrap();
        store.pool().close().await;
    }
    assert!(path.is_file(), "the file is created under its exact name");
    let store = SqliteStore::open_file(&path).await.expect("reopens");
    assert_eq!(store.load(&id).await.unwrap().unwrap().record, record);
}

async fn migration_rows(store: &SqliteStore) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT version, description FROM mfa_schema_migrations ORDER BY version")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn migrations_run_once() {
    let dir = TempDir::new();
    let url = dir.url("migrate.db");
    let id = user("migrate");
    let first = open(&url).await;
    first
        .save(&id, None, &MfaEnrollment::default(), WriteId::random())
        .await
        .unwrap();
    let rows = migration_rows(&first).await;
    assert_eq!(rows, store_common::migrations());
    for _ in 0..3 {
        let again = open(&url).await;
        assert_eq!(migration_rows(&again).await, rows);
        assert_eq!(again.load(&id).await.unwrap().unwrap().version, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_of_a_fresh_file_all_succeed() {
    for round in 0..30 {
        let dir = TempDir::new();
        let url = dir.url(&format!("fresh{round}.db"));
        let opens: Vec<_> = (0..16)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { SqliteStore::connect(&url).await })
            })
            .collect();
        let mut stores = Vec::new();
        for open in opens {
            stores.push(open.await.unwrap().expect("a concurrent open succeeds"));
        }
        assert_eq!(migration_rows(&stores[0]).await, store_common::migrations());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(stores[7].pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

/// Writes a row behind the store's back.
async fn write_raw(
    store: &SqliteStore,
    id: &str,
    version: i64,
    record: impl sqlx::Encode<'static, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + 'static,
) {
    sqlx::query(
        "INSERT INTO mfa_enrollments (user_id, version, record, updated_at) VALUES (?, ?, ?, 0)",
    )
    .bind(id.to_owned())
    .bind(version)
    .bind(record)
    .execute(store.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn corrupt_rows_are_corrupt_records() {
    let store = open("sqlite::memory:").await;
    let cases: [(&str, i64, &str); 4] = [
        ("not-json", 1, "this is not json"),
        ("truncated", 1, r#"{"format":"mfa/1","state":"act"#),
        (
            "unknown-format",
            1,
            r#"{"format":"mfa/999","state":"disabled"}"#,
        ),
        ("wrong-shape", 1, r#"{"format":"mfa/1","state":"active"}"#),
    ];
    for (tag, version, record) in cases {
        let id = user(tag);
        write_raw(&store, &id, version, record.to_owned()).await;
        let loaded = store.load(&id).await;
        assert!(
            matches!(loaded, Err(Error::CorruptRecord(_))),
            "{tag}: {loaded:?}"
        );
    }
    // Values of the wrong type: SQLite's columns accept anything.
    let id = user("blob");
    write_raw(&store, &id, 1, vec![0xffu8, 0x00, 0x7f]).await;
    assert!(matches!(
        store.load(&id).await,
        Err(Error::CorruptRecord(_))
    ));
    let id = user("integer");
    write_raw(&store, &id, 1, 42i64).await;
    assert!(matches!(
        store.load(&id).await,
        Err(Error::CorruptRecord(_))
    ));
    // The CHECK constraint keeps versions positive, so a bad version can only
    // come from a schema without it; decoding checks it anyway (unit-tested).
    let refused = sqlx::query(
        "INSERT INTO mfa_enrollments (user_id, version, record, updated_at) VALUES ('v0', 0, '{}', 0)",
    )
    .execute(store.pool())
    .await;
    assert!(refused.is_err());
}

fn assert_unavailable<T: std::fmt::Debug>(result: mfa::Result<T>, what: &str) {
    match result {
        Err(e @ Error::StoreUnavailable(_)) => assert_eq!(e.code(), "STORE_UNAVAILABLE"),
        other => panic!("{what}: expected StoreUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_database_is_unavailable() {
    let dir = TempDir::new();
    let missing_dir = dir.path("no/such/dir/mfa.db");
    assert_unavailable(
        SqliteStore::connect(&format!("sqlite://{}?mode=rwc", missing_dir.display())).await,
        "missing directory",
    );
    // Without mode=rwc a missing file is not created.
    let missing_file = dir.path("missing.db");
    assert_unavailable(
        SqliteStore::connect(&format!("sqlite://{}", missing_file.display())).await,
        "missing file",
    );
    assert!(!missing_file.exists());
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_unavailable() {
    let dir = TempDir::new();
    for (name, bytes) in [
        (
            "garbage.db",
            b"this is certainly not a SQLite database, just text".repeat(100),
        ),
        ("header.db", {
            // A valid header followed by garbage pages.
            let mut bytes = b"SQLite format 3\0".to_vec();
            bytes.extend(std::iter::repeat_n(0xa5u8, 8192));
            bytes
        }),
    ] {
        std::fs::write(dir.path(name), bytes).unwrap();
        let url = format!("sqlite://{}", dir.path(name).display());
        assert_unavailable(SqliteStore::connect(&url).await, name);
    }
    // A directory where the file should be.
    std::fs::create_dir(dir.path("dir.db")).unwrap();
    assert_unavailable(SqliteStore::connect(&dir.url("dir.db")).await, "directory");
}

#[tokio::test]
async fn a_file_corrupted_while_open_is_unavailable() {
    let dir = TempDir::new();
    let url = dir.url("corrupted.db");
    let store = open(&url).await;
    let id = user("corrupted");
    store
        .save(&id, None, &MfaEnrollment::default(), WriteId::random())
        .await
        .unwrap();
    // Another program drops the table under the open pool.
    sqlx::query("DROP TABLE mfa_enrollments")
        .execute(store.pool())
        .await
        .unwrap();
    assert_unavailable(store.load(&id).await, "dropped table: load");
    assert_unavailable(
        store
            .save(&id, Some(1), &MfaEnrollment::default(), WriteId::random())
            .await,
        "dropped table: save",
    );
}

/// A pool on `path` with a short busy timeout, so that the lock tests are quick.
async fn impatient(path: &Path, busy: Duration) -> SqliteStore {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(busy);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    SqliteStore::from_pool(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_unavailable_and_nothing_is_written() {
    let dir = TempDir::new();
    let path = dir.path("locked.db");
    let store = impatient(&path, Duration::from_millis(200)).await;
    let id = user("locked");
    let old = sample_records(&id).remove(1);
    store
        .save(&id, None, &old, WriteId::random())
        .await
        .unwrap();

    let holder = impatient(&path, Duration::from_millis(200)).await;
    let lock = holder.pool().begin_with("BEGIN EXCLUSIVE").await.unwrap();
    let started = Instant::now();
    assert_unavailable(
        store
            .save(&id, Some(1), &MfaEnrollment::default(), WriteId::random())
            .await,
        "exclusive lock held",
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    lock.rollback().await.unwrap();

    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.record), (1, old));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lock_is_waited_out() {
    let dir = TempDir::new();
    let url = dir.url("busy.db");
    let store = open(&url).await;
    let id = user("busy");
    store
        .save(&id, None, &MfaEnrollment::default(), WriteId::random())
        .await
        .unwrap();

    let holder = open(&url).await;
    let lock = holder.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        lock.commit().await.unwrap();
    });
    let started = Instant::now();
    assert_eq!(
        store
            .save(&id, Some(1), &MfaEnrollment::default(), WriteId::random())
            .await
            .unwrap(),
        2
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    release.await.unwrap();
}

#[tokio::test]
async fn awkward_urls_are_typed_errors() {
    assert!(matches!(
        SqliteStore::connect("sqlite://x.db?mode=sideways").await,
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        SqliteStore::connect("postgres://localhost/db").await,
        Err(Error::InvalidConfig(_) | Error::StoreUnavailable(_))
    ));
}

/// Saves each child process makes in [`processes_share_one_file`].
const CHILD_SAVES: u64 = 40;

/// Three processes open one fresh file at the same moment (each migrating and
/// switching it to WAL) and increment one record concurrently: every save
/// counts exactly once. The test runs itself as the child processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_one_file() {
    if let (Ok(url), Ok(id)) = (
        std::env::var("MFA_SQLITE_CHILD_URL"),
        std::env::var("MFA_SQLITE_CHILD_USER"),
    ) {
        let store = open(&url).await;
        for _ in 0..CHILD_SAVES {
            loop {
                let current = store.load(&id).await.unwrap();
                let expected = current.as_ref().map(|c| c.version);
                match store
                    .save(&id, expected, &MfaEnrollment::default(), WriteId::random())
                    .await
                {
                    Ok(_) => break,
                    Err(Error::StoreConflict) => tokio::task::yield_now().await,
                    Err(e) => panic!("child save failed: {e:?}"),
                }
            }
        }
        return;
    }
    let dir = TempDir::new();
    let url = dir.url("processes.db");
    let id = user("processes");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "processes_share_one_file", "--test-threads=1"])
                .env("MFA_SQLITE_CHILD_URL", &url)
                .env("MFA_SQLITE_CHILD_USER", &id)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child process failed");
    }
    let store = open(&url).await;
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().version,
        3 * CHILD_SAVES
    );
    assert_eq!(migration_rows(&store).await, store_common::migrations());
    assert_eq!(migration_rows(&store).await.len(), 3);
}

/// A database written by a release without write identities (schema step 1
/// only) is migrated in place: its rows load, as `WriteId::NONE`, and save,
/// with the credential index.
#[tokio::test]
async fn a_database_from_before_write_ids_migrates_in_place() {
    let dir = TempDir::new();
    let url = dir.url("schema1.db");
    let id = user("schema1");
    let active = sample_records(&id).remove(2);
    {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE mfa_schema_migrations (
                 version INTEGER NOT NULL PRIMARY KEY,
                 description TEXT NOT NULL,
                 applied_at INTEGER NOT NULL);
             INSERT INTO mfa_schema_migrations VALUES (1, 'mfa_enrollments', 0);
             CREATE TABLE mfa_enrollments (
                 user_id TEXT NOT NULL PRIMARY KEY,
                 version INTEGER NOT NULL CHECK (version > 0),
                 record TEXT NOT NULL,
                 updated_at INTEGER NOT NULL) WITHOUT ROWID",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO mfa_enrollments VALUES (?1, 4, ?2, 0)")
            .bind(&id)
            .bind(active.to_json())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = open(&url).await;
    assert_eq!(migration_rows(&store).await, store_common::migrations());
    let old = store.load(&id).await.unwrap().unwrap();
    assert_eq!((old.version, old.write_id), (4, WriteId::NONE));
    assert_eq!(old.record, active);
    let write_id = WriteId::random();
    assert_eq!(
        store
            .save(&id, Some(4), &old.record, write_id)
            .await
            .unwrap(),
        5
    );
    assert_eq!(store.load(&id).await.unwrap().unwrap().write_id, write_id);
    // The credential index starts empty and follows the old rows' saves.
    let credential = store_common::credential(32);
    let with_passkey = with_passkeys(old.record, &[&credential]);
    store
        .save(&id, Some(5), &with_passkey, WriteId::random())
        .await
        .unwrap();
    assert_eq!(store.passkey_owner(&credential).await.unwrap(), Some(id));
}
