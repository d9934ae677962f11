//! The SQLite store (feature `sqlite`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::sql::{self, Migration, db_error};
use super::{MfaStore, Versioned, WriteId};
use crate::enrollment::MfaEnrollment;
use crate::error::{Error, Result};

/// The crate's schema, oldest first. Never edit a released step; add one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "mfa_enrollments",
        sql: "CREATE TABLE mfa_enrollments (
              user_id    TEXT    NOT NULL PRIMARY KEY,
              version    INTEGER NOT NULL CHECK (version > 0),
              record     TEXT    NOT NULL,
              updated_at INTEGER NOT NULL
          ) WITHOUT ROWID",
    },
    Migration {
        version: 2,
        description: "mfa_enrollments.write_id",
        // NULL for rows written before: they load as `WriteId::NONE`.
        sql: "ALTER TABLE mfa_enrollments ADD COLUMN write_id BLOB",
    },
];

const INSERT: &str = "INSERT INTO mfa_enrollments (user_id, version, record, write_id, updated_at)
     VALUES (?1, ?2, ?3, ?4, CAST(strftime('%s', 'now') AS INTEGER))
     ON CONFLICT (user_id) DO NOTHING";

const UPDATE: &str = "UPDATE mfa_enrollments
     SET version = ?2, record = ?3, write_id = ?4,
         updated_at = CAST(strftime('%s', 'now') AS INTEGER)
     WHERE user_id = ?1 AND version = ?5";

/// How long a writer waits for another connection's write lock before the
/// operation fails with [`Error::StoreUnavailable`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps enrollments in a SQLite database through a [`sqlx`] pool.
///
/// One row per user in `mfa_enrollments(user_id, version, record, updated_at)`,
/// the record being [`MfaEnrollment::to_json`]. Every save is a single
/// statement that only writes if the stored version is still the expected one,
/// so several tasks, pools or processes can share one database file. The schema
/// is created or migrated when the store is opened; its version is kept in
/// `mfa_schema_migrations`, apart from sqlx's own `_sqlx_migrations`, so a host
/// may run its own migrations in the same database.
///
/// A database that is missing, locked for longer than the busy timeout,
/// unreadable or not a database at all gives [`Error::StoreUnavailable`]; a
/// row that does not decode gives [`Error::CorruptRecord`].
///
/// ```
/// use mfa::{MfaStore, SqliteStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// assert!(store.load("alice").await?.is_none());
/// let version = store.save("alice", None, &mfa::MfaEnrollment::Disabled, mfa::store::WriteId::random()).await?;
/// assert_eq!(version, 1);
/// // A stale version writes nothing.
/// assert!(matches!(
///     store.save("alice", None, &mfa::MfaEnrollment::Disabled, mfa::store::WriteId::random()).await,
///     Err(mfa::Error::StoreConflict)
/// ));
/// # Ok::<(), mfa::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens the database at `url` and creates or migrates the schema.
    ///
    /// `url` is a sqlx SQLite URL: `sqlite://path/to/mfa.db?mode=rwc` creates
    /// the file if it is missing (without `mode=rwc` a missing file is an
    /// error), `sqlite::memory:` is a private in-memory database. File
    /// databases are opened in WAL mode with a 10 s busy timeout and foreign
    /// keys on; an in-memory database lives in one connection that is kept
    /// open for the life of the pool.
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] if the database cannot be opened or migrated;
    /// [`Error::InvalidConfig`] if `url` is not a SQLite URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| Error::InvalidConfig("not a valid SQLite database URL"))?;
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

    /// Uses a pool the host already has (for example the one holding its
    /// users table) and creates or migrates the schema in it.
    ///
    /// The pool's own settings apply; WAL mode and a busy timeout of a few
    /// seconds (sqlx's default is 5 s) are recommended when several processes
    /// share the file. Switching a fresh file to WAL fails (SQLITE_BUSY)
    /// rather than waits when another process does the same at that moment;
    /// [`SqliteStore::connect`] retries it, a host pool opening a fresh file
    /// from several processes at once must do the same.
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] if the schema cannot be created or migrated.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self> {
        migrate(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// The underlying pool, for the host's own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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

/// Applies the missing migrations in one `BEGIN IMMEDIATE` transaction: the
/// write lock is taken first, so a second process opening the same file at
/// the same moment waits (busy timeout) and then finds the work done.
async fn migrate(pool: &SqlitePool) -> Result<()> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Error::store_unavailable)?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS mfa_schema_migrations (
             version     INTEGER NOT NULL PRIMARY KEY,
             description TEXT    NOT NULL,
             applied_at  INTEGER NOT NULL
         )",
    )
    .execute(&mut *tx)
    .await
    .map_err(Error::store_unavailable)?;
    let applied: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM mfa_schema_migrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(Error::store_unavailable)?;
    for migration in sql::pending(MIGRATIONS, applied) {
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(Error::store_unavailable)?;
        sqlx::query(
            "INSERT INTO mfa_schema_migrations (version, description, applied_at)
             VALUES (?, ?, CAST(strftime('%s', 'now') AS INTEGER))",
        )
        .bind(migration.version)
        .bind(migration.description)
        .execute(&mut *tx)
        .await
        .map_err(Error::store_unavailable)?;
    }
    tx.commit().await.map_err(Error::store_unavailable)
}

impl MfaStore for SqliteStore {
    async fn load(&self, user_id: &str) -> Result<Option<Versioned<MfaEnrollment>>> {
        let row: Option<(i64, Option<Vec<u8>>, String)> = sqlx::query_as(
            "SELECT version, write_id, record FROM mfa_enrollments WHERE user_id = ?1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|(version, write_id, record)| {
            sql::decode_row(version, write_id.as_deref(), &record)
        })
        .transpose()
    }

    async fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> Result<u64> {
        let Some((expected, new)) = sql::cas_versions(expected) else {
            return Err(Error::StoreConflict);
        };
        let query = sqlx::query(if expected.is_none() { INSERT } else { UPDATE })
            .bind(user_id)
            .bind(new)
            .bind(record.to_json())
            .bind(write_id.to_bytes().to_vec());
        let query = match expected {
            None => query,
            Some(expected) => query.bind(expected),
        };
        let done = query.execute(&self.pool).await.map_err(db_error)?;
        sql::cas_outcome(done.rows_affected(), new)
    }
}
