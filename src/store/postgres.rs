//! The PostgreSQL store (feature `postgres`).

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

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
              user_id    TEXT        NOT NULL PRIMARY KEY,
              version    BIGINT      NOT NULL CHECK (version > 0),
              record     TEXT        NOT NULL,
              updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
          )",
    },
    Migration {
        version: 2,
        description: "mfa_enrollments.write_id",
        // NULL for rows written before: they load as `WriteId::NONE`.
        sql: "ALTER TABLE mfa_enrollments ADD COLUMN write_id BYTEA",
    },
];

/// Serializes migrations across every process using the database (the
/// 64-bit key of `pg_advisory_xact_lock`; "mfa-migr" in ASCII).
const MIGRATION_LOCK: i64 = 0x6d66_612d_6d69_6772;

const INSERT: &str = "INSERT INTO mfa_enrollments (user_id, version, record, write_id)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (user_id) DO NOTHING";

const UPDATE: &str = "UPDATE mfa_enrollments
     SET version = $2, record = $3, write_id = $4, updated_at = now()
     WHERE user_id = $1 AND version = $5";

/// Waiting for a pooled connection (or for a new one to be set up) beyond this fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The server cancels any statement of a pool opened by [`PostgresStore::connect`] after this.
const STATEMENT_TIMEOUT: &str = "5s";
/// The client gives up on any one load or save after this, by default.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps enrollments in PostgreSQL through a [`sqlx`] pool: the store for
/// several application servers sharing one database.
///
/// One row per user in `mfa_enrollments(user_id, version, record, updated_at)`,
/// the record being [`MfaEnrollment::to_json`]. Every save is a single
/// `INSERT … ON CONFLICT DO NOTHING` or `UPDATE … WHERE version = $n`, so the
/// compare-and-swap holds across processes and no request needs to reach a
/// particular server. The schema is created or migrated when the store is
/// opened, under a transaction-scoped advisory lock so that servers starting
/// together do not race; its version is kept in `mfa_schema_migrations`, apart
/// from sqlx's own `_sqlx_migrations`. Tables are created in the first schema
/// of the connection's `search_path`.
///
/// A database that is down, unreachable or too slow gives
/// [`Error::StoreUnavailable`] within bounded time (see [`PostgresStore::connect`]);
/// a row that does not decode gives [`Error::CorruptRecord`].
///
/// ```no_run
/// use mfa::{MfaStore, PostgresStore};
///
/// # async fn demo() -> mfa::Result<()> {
/// let store = PostgresStore::connect("postgres://app@db.internal/app").await?;
/// let version = store.save("alice", None, &mfa::MfaEnrollment::Disabled, mfa::store::WriteId::random()).await?;
/// assert_eq!(store.load("alice").await?.map(|r| r.version), Some(version));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    timeout: Duration,
}

impl PostgresStore {
    /// Connects to the database at `url` (a libpq-style `postgres://` URL) and
    /// creates or migrates the schema.
    ///
    /// The pool holds up to 10 connections; getting one fails after 5 s (a
    /// server that refuses connections is retried until then), the server
    /// cancels any statement after 5 s (`statement_timeout`), and the client
    /// gives up on any load or save after 10 s (see [`PostgresStore::with_timeout`]).
    /// A `statement_timeout` given in the URL's `options` parameter is kept;
    /// for other pool settings, build the pool yourself and use
    /// [`PostgresStore::from_pool`].
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] if the server cannot be reached or the schema
    /// cannot be migrated; [`Error::InvalidConfig`] if `url` is not a
    /// PostgreSQL URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|_| Error::InvalidConfig("not a valid PostgreSQL database URL"))?;
        // Settings the URL makes itself (`?options=-c statement_timeout=…`) win.
        for (setting, value) in [
            ("statement_timeout", STATEMENT_TIMEOUT),
            ("idle_in_transaction_session_timeout", "30s"),
        ] {
            if !options.get_options().is_some_and(|o| o.contains(setting)) {
                options = options.options([(setting, value)]);
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Duration::from_secs(300))
            .connect_with(options)
            .await
            .map_err(Error::store_unavailable)?;
        Self::from_pool(pool).await
    }

    /// Uses a pool the host already has (for example the one holding its
    /// users table) and creates or migrates the schema in it. The pool's own
    /// timeouts apply (give it an acquire timeout of a few seconds), and every
    /// load and save is still bounded by the store's operation timeout (10 s
    /// unless set with [`PostgresStore::with_timeout`]).
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] if the schema cannot be created or migrated.
    pub async fn from_pool(pool: PgPool) -> Result<Self> {
        let store = PostgresStore {
            pool,
            timeout: OPERATION_TIMEOUT,
        };
        store.bounded(migrate(&store.pool)).await?;
        Ok(store)
    }

    /// Sets how long any one load or save may take before it fails with
    /// [`Error::StoreUnavailable`] (default 10 s). A save that times out may
    /// or may not have been written, exactly as when the connection drops
    /// while the server commits; either way the caller sees an error and no
    /// one-time output.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The underlying pool, for the host's own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn bounded<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(Error::store_unavailable(
                    "the PostgreSQL store did not answer in time",
                ))
            })
    }
}

/// Applies the missing migrations in one transaction that first takes an
/// advisory lock, so that of several processes starting at once one migrates
/// and the others wait and then find the work done.
async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await.map_err(Error::store_unavailable)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(Error::store_unavailable)?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS mfa_schema_migrations (
             version     BIGINT      NOT NULL PRIMARY KEY,
             description TEXT        NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
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
        sqlx::query("INSERT INTO mfa_schema_migrations (version, description) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(migration.description)
            .execute(&mut *tx)
            .await
            .map_err(Error::store_unavailable)?;
    }
    tx.commit().await.map_err(Error::store_unavailable)
}

impl MfaStore for PostgresStore {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<MfaEnrollment>>>> + Send {
        self.bounded(async move {
            // PostgreSQL text cannot hold NUL, so no record has such an id.
            if user_id.contains('\0') {
                return Ok(None);
            }
            let row: Option<(i64, Option<Vec<u8>>, String)> = sqlx::query_as(
                "SELECT version, write_id, record FROM mfa_enrollments WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
            row.map(|(version, write_id, record)| {
                sql::decode_row(version, write_id.as_deref(), &record)
            })
            .transpose()
        })
    }

    fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> impl Future<Output = Result<u64>> + Send {
        let json = record.to_json();
        self.bounded(async move {
            if user_id.contains('\0') {
                return Err(Error::InvalidInput(
                    "a user id stored in PostgreSQL cannot contain NUL",
                ));
            }
            let Some((expected, new)) = sql::cas_versions(expected) else {
                return Err(Error::StoreConflict);
            };
            let query = sqlx::query(if expected.is_none() { INSERT } else { UPDATE })
                .bind(user_id)
                .bind(new)
                .bind(json)
                .bind(write_id.to_bytes().to_vec());
            let query = match expected {
                None => query,
                Some(expected) => query.bind(expected),
            };
            let done = query.execute(&self.pool).await.map_err(db_error)?;
            sql::cas_outcome(done.rows_affected(), new)
        })
    }
}
