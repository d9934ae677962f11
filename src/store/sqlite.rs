//! The SQLite store (feature `sqlite`): SQLite's statements, connection
//! set-up and migration lock for the shared SQL store.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult};

use super::sql::{self, Backend, STEPS, sql_store};
use crate::error::{Error, Result};

impl Backend for sqlx::Sqlite {
    const SELECT: &'static str =
        "SELECT version, write_id, record FROM mfa_enrollments WHERE user_id = ?1";
    const INSERT: &'static str =
        "INSERT INTO mfa_enrollments (user_id, version, record, write_id, credential_ids, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, CAST(strftime('%s', 'now') AS INTEGER))
         ON CONFLICT (user_id) DO NOTHING";
    const UPDATE: &'static str = "UPDATE mfa_enrollments
         SET version = ?1, record = ?2, write_id = ?3,
             updated_at = CAST(strftime('%s', 'now') AS INTEGER)
         WHERE user_id = ?5 AND version = ?6 AND credential_ids IS ?4";
    const UPDATE_REINDEX: &'static str = "UPDATE mfa_enrollments
         SET version = ?1, record = ?2, write_id = ?3, credential_ids = ?4,
             updated_at = CAST(strftime('%s', 'now') AS INTEGER)
         WHERE user_id = ?5 AND version = ?6";
    /// The write lock is taken first: a transaction that read under a
    /// shared lock and then wrote could fail at once (SQLITE_BUSY) instead
    /// of waiting for another writer.
    const BEGIN_SAVE: &'static str = "BEGIN IMMEDIATE";
    const SELECT_CREDENTIALS: &'static str =
        "SELECT credential_id FROM mfa_passkey_credentials WHERE user_id = ?1";
    const DELETE_CREDENTIAL: &'static str =
        "DELETE FROM mfa_passkey_credentials WHERE credential_id = ?1 AND user_id = ?2";
    const INSERT_CREDENTIAL: &'static str =
        "INSERT INTO mfa_passkey_credentials (credential_id, user_id) VALUES (?1, ?2)";
    const SELECT_OWNER: &'static str =
        "SELECT user_id FROM mfa_passkey_credentials WHERE credential_id = ?1";
    const ROWS_AFFECTED: fn(&SqliteQueryResult) -> u64 = SqliteQueryResult::rows_affected;

    /// The write lock is taken first, so a second process opening the same
    /// file at the same moment waits (busy timeout) and then finds the work done.
    const BEGIN_MIGRATION: &'static str = "BEGIN IMMEDIATE";

    const MIGRATIONS: [&'static str; STEPS.len()] = [
        "CREATE TABLE mfa_enrollments (
             user_id    TEXT    NOT NULL PRIMARY KEY,
             version    INTEGER NOT NULL CHECK (version > 0),
             record     TEXT    NOT NULL,
             updated_at INTEGER NOT NULL
         ) WITHOUT ROWID",
        // NULL for rows written before: they load as `WriteId::NONE`.
        "ALTER TABLE mfa_enrollments ADD COLUMN write_id BLOB",
        // The credential index (I15), and each row's set of credential ids
        // (`NULL`, none, for every row before).
        "CREATE TABLE mfa_passkey_credentials (
             credential_id BLOB NOT NULL PRIMARY KEY,
             user_id       TEXT NOT NULL
                 REFERENCES mfa_enrollments (user_id) ON DELETE CASCADE
         ) WITHOUT ROWID;
         CREATE INDEX mfa_passkey_credentials_user_id ON mfa_passkey_credentials (user_id);
         ALTER TABLE mfa_enrollments ADD COLUMN credential_ids BLOB",
    ];
    const CREATE_MIGRATIONS_TABLE: &'static str =
        "CREATE TABLE IF NOT EXISTS mfa_schema_migrations (
             version     INTEGER NOT NULL PRIMARY KEY,
             description TEXT    NOT NULL,
             applied_at  INTEGER NOT NULL
         )";
    const RECORD_MIGRATION: &'static str =
        "INSERT INTO mfa_schema_migrations (version, description, applied_at)
         VALUES (?1, ?2, CAST(strftime('%s', 'now') AS INTEGER))";
}

/// How long a statement waits for another connection's write lock before the
/// operation fails with [`Error::StoreUnavailable`]: shorter than the
/// operation timeout, so that SQLite gives up (and writes nothing) before
/// the caller does.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

sql_store! {
    /// Keeps enrollments in a SQLite database through a [`sqlx`] pool.
    ///
    /// One row per user in `mfa_enrollments(user_id, version, record, write_id,
    /// updated_at, credential_ids)`, the record being [`MfaEnrollment::to_json`](crate::MfaEnrollment::to_json),
    /// and one row per passkey credential id in
    /// `mfa_passkey_credentials(credential_id, user_id)`, the credential index
    /// ([`MfaStore::passkey_owner`](crate::MfaStore::passkey_owner)). A save
    /// only writes if the stored version is still the expected one, so several
    /// tasks, pools or processes can share one database file: a single
    /// statement unless it changes the record's passkeys, then a transaction
    /// that changes the index with it. The schema is created or migrated when the store is
    /// opened, in a `BEGIN IMMEDIATE` transaction; its version is kept in
    /// `mfa_schema_migrations`, apart from sqlx's own `_sqlx_migrations`, so a
    /// host may run its own migrations in the same database.
    ///
    /// A database that is missing, locked for longer than the busy timeout,
    /// unreadable or not a database at all, or a load or save that takes longer
    /// than the operation timeout ([`SqliteStore::with_timeout`]), gives
    /// [`Error::StoreUnavailable`]; a row that does not decode gives
    /// [`Error::CorruptRecord`](crate::Error::CorruptRecord).
    ///
    /// With [`SqliteStore::from_pool`], WAL mode and a busy timeout of a few
    /// seconds (sqlx's default is 5 s) are recommended when several processes
    /// share the file. Switching a fresh file to WAL fails (SQLITE_BUSY) rather
    /// than waits when another process does the same at that moment;
    /// [`SqliteStore::connect`] retries it, a host pool opening a fresh file
    /// from several processes at once must do the same.
    ///
    /// ```
    /// use mfa::{MfaStore, SqliteStore};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = SqliteStore::connect("sqlite::memory:").await?;
    /// assert!(store.load("alice").await?.is_none());
    /// let version = store.save("alice", None, &mfa::MfaEnrollment::default(), mfa::store::WriteId::random()).await?;
    /// assert_eq!(version, 1);
    /// // A stale version writes nothing.
    /// assert!(matches!(
    ///     store.save("alice", None, &mfa::MfaEnrollment::default(), mfa::store::WriteId::random()).await,
    ///     Err(mfa::Error::StoreConflict)
    /// ));
    /// # Ok::<(), mfa::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub struct SqliteStore(SqlStore<sqlx::Sqlite>);
}

impl SqliteStore {
    /// Opens the database at `url` and creates or migrates the schema.
    ///
    /// `url` is a sqlx SQLite URL: `sqlite://path/to/mfa.db?mode=rwc` creates
    /// the file if it is missing (without `mode=rwc` a missing file is an
    /// error), `sqlite::memory:` is a private in-memory database. File
    /// databases are opened in WAL mode with a 5 s busy timeout and foreign
    /// keys on; an in-memory database lives in one connection that is kept
    /// open for the life of the pool. Any load or save fails after 10 s
    /// (see [`SqliteStore::with_timeout`]).
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] if the database cannot be opened or migrated;
    /// [`Error::InvalidConfig`] if `url` is not a SQLite URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = sql::connect_options::<sqlx::Sqlite>(url, "not a valid SQLite database URL")?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::open(options, in_memory).await
    }

    /// Opens (creating it if missing) the database file at `path`, with the
    /// settings of [`SqliteStore::connect`]. Takes a path, so no character of
    /// it needs URL escaping.
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] if the file cannot be opened or migrated.
    pub async fn open_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::open(options, false).await
    }

    async fn open(options: SqliteConnectOptions, in_memory: bool) -> Result<Self> {
        let options = options.busy_timeout(BUSY_TIMEOUT).foreign_keys(true);
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            open_wal(&options).await?;
            SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(BUSY_TIMEOUT + Duration::from_secs(5))
                .connect_with(options.journal_mode(SqliteJournalMode::Wal))
                .await
        }
        .map_err(Error::store_unavailable)?;
        Self::from_pool(pool).await
    }
}

/// Switches a file database to WAL before the pool opens it. Changing the
/// journal mode takes an exclusive lock that the busy timeout does not wait
/// for, so when several processes open a fresh file at once, the losers retry
/// here instead of failing in the pool's connection setup. Once a file is in
/// WAL mode, asking for WAL again is a no-op.
async fn open_wal(options: &SqliteConnectOptions) -> Result<()> {
    use sqlx::{ConnectOptions, Connection};
    let mut delay = Duration::from_millis(5);
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let attempt = async {
            let mut conn = options.connect().await?;
            let result = sqlx::raw_sql("PRAGMA journal_mode = WAL")
                .execute(&mut conn)
                .await;
            conn.close().await?;
            result.map(drop)
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(Error::store_unavailable(e)),
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED, with or without an extended code.
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}
