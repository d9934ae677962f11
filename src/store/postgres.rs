//! The PostgreSQL store (feature `postgres`): PostgreSQL's statements,
//! connection set-up and migration lock for the shared SQL store.

use std::time::Duration;

use sqlx::postgres::{PgPoolOptions, PgQueryResult};

use super::sql::{self, Backend, STEPS, sql_store};
use crate::error::{Error, Result};

impl Backend for sqlx::Postgres {
    const SELECT: &'static str =
        "SELECT version, write_id, record FROM mfa_enrollments WHERE user_id = $1";
    const INSERT: &'static str =
        "INSERT INTO mfa_enrollments (user_id, version, record, write_id, credential_ids)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id) DO NOTHING";
    const UPDATE: &'static str = "UPDATE mfa_enrollments
         SET version = $1, record = $2, write_id = $3, updated_at = now()
         WHERE user_id = $5 AND version = $6 AND credential_ids IS NOT DISTINCT FROM $4";
    const UPDATE_REINDEX: &'static str = "UPDATE mfa_enrollments
         SET version = $1, record = $2, write_id = $3, credential_ids = $4, updated_at = now()
         WHERE user_id = $5 AND version = $6";
    const SELECT_CREDENTIALS: &'static str =
        "SELECT credential_id FROM mfa_passkey_credentials WHERE user_id = $1";
    const DELETE_CREDENTIAL: &'static str =
        "DELETE FROM mfa_passkey_credentials WHERE credential_id = $1 AND user_id = $2";
    const INSERT_CREDENTIAL: &'static str =
        "INSERT INTO mfa_passkey_credentials (credential_id, user_id) VALUES ($1, $2)";
    const SELECT_OWNER: &'static str =
        "SELECT user_id FROM mfa_passkey_credentials WHERE credential_id = $1";
    /// serialization_failure (under a host's `REPEATABLE READ` or
    /// `SERIALIZABLE` default) and deadlock_detected.
    const RETRY_CODES: &'static [&'static str] = &["40001", "40P01"];
    const ROWS_AFFECTED: fn(&PgQueryResult) -> u64 = PgQueryResult::rows_affected;

    /// A transaction-scoped advisory lock, released by the commit, on a key of
    /// the crate's own (0x6d66612d6d696772, "mfa-migr" in ASCII), so that
    /// every process using the database migrates in turn.
    const LOCK_MIGRATIONS: Option<&'static str> =
        Some("SELECT 1::BIGINT FROM pg_advisory_xact_lock(7883095045495678834)");

    const MIGRATIONS: [&'static str; STEPS.len()] = [
        "CREATE TABLE mfa_enrollments (
             user_id    TEXT        NOT NULL PRIMARY KEY,
             version    BIGINT      NOT NULL CHECK (version > 0),
             record     TEXT        NOT NULL,
             updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
        // NULL for rows written before: they load as `WriteId::NONE`.
        "ALTER TABLE mfa_enrollments ADD COLUMN write_id BYTEA",
        // The credential index (I15), and each row's set of credential ids
        // (`NULL`, none, for every row before; adding it rewrites nothing).
        "CREATE TABLE mfa_passkey_credentials (
             credential_id BYTEA NOT NULL PRIMARY KEY,
             user_id       TEXT  NOT NULL
                 REFERENCES mfa_enrollments (user_id) ON DELETE CASCADE
         );
         CREATE INDEX mfa_passkey_credentials_user_id ON mfa_passkey_credentials (user_id);
         ALTER TABLE mfa_enrollments ADD COLUMN credential_ids BYTEA",
    ];
    const CREATE_MIGRATIONS_TABLE: &'static str =
        "CREATE TABLE IF NOT EXISTS mfa_schema_migrations (
             version     BIGINT      NOT NULL PRIMARY KEY,
             description TEXT        NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         )";
    const RECORD_MIGRATION: &'static str =
        "INSERT INTO mfa_schema_migrations (version, description) VALUES ($1, $2)";

    fn unstorable(user_id: &str) -> Option<&'static str> {
        // PostgreSQL text cannot hold NUL, so no record has such an id.
        user_id
            .contains('\0')
            .then_some("a user id stored in PostgreSQL cannot contain NUL")
    }
}

/// Waiting for a pooled connection (or for a new one to be set up) beyond this fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The server cancels any statement of a pool opened by [`PostgresStore::connect`] after this.
const STATEMENT_TIMEOUT: &str = "5s";

sql_store! {
    /// Keeps enrollments in PostgreSQL through a [`sqlx`] pool: the store for
    /// several application servers sharing one database.
    ///
    /// One row per user in `mfa_enrollments(user_id, version, record, write_id,
    /// updated_at, credential_ids)`, the record being [`MfaEnrollment::to_json`](crate::MfaEnrollment::to_json),
    /// and one row per passkey credential id in
    /// `mfa_passkey_credentials(credential_id, user_id)`, the credential index
    /// ([`MfaStore::passkey_owner`](crate::MfaStore::passkey_owner)). A save
    /// is a single `INSERT … ON CONFLICT DO NOTHING` or
    /// `UPDATE … WHERE version = $n`, so the compare-and-swap holds across
    /// processes and no request needs to reach a particular server; one that
    /// changes the record's passkeys is a transaction that changes the index
    /// with it. The schema
    /// is created or migrated when the store is opened, under a
    /// transaction-scoped advisory lock so that servers starting together do
    /// not race; its version is kept in `mfa_schema_migrations`, apart from
    /// sqlx's own `_sqlx_migrations`. Tables are created in the first schema of
    /// the connection's `search_path`.
    ///
    /// A database that is down, unreachable or too slow gives
    /// [`Error::StoreUnavailable`] within bounded time (see [`PostgresStore::connect`]);
    /// a row that does not decode gives [`Error::CorruptRecord`](crate::Error::CorruptRecord).
    /// PostgreSQL text cannot hold NUL: a user id containing one has no record,
    /// and saving one is [`Error::InvalidInput`](crate::Error::InvalidInput).
    ///
    /// ```no_run
    /// use mfa::{MfaStore, PostgresStore};
    ///
    /// # async fn demo() -> mfa::Result<()> {
    /// let store = PostgresStore::connect("postgres://app@db.internal/app").await?;
    /// let version = store.save("alice", None, &mfa::MfaEnrollment::default(), mfa::store::WriteId::random()).await?;
    /// assert_eq!(store.load("alice").await?.map(|r| r.version), Some(version));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub struct PostgresStore(SqlStore<sqlx::Postgres>);
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
        let mut options =
            sql::connect_options::<sqlx::Postgres>(url, "not a valid PostgreSQL database URL")?;
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
}
