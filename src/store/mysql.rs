//! The MySQL store (feature `mysql`; MariaDB 10.11 or later, MySQL 8): MySQL's
//! statements, connection set-up and migration lock for the shared SQL store.

use std::time::Duration;

use sqlx::Executor;
use sqlx::mysql::{MySqlPoolOptions, MySqlQueryResult};

use super::sql::{self, Backend, STEPS, sql_store};
use crate::error::{Error, Result};

/// The longest user id the `user_id` column holds, in bytes of UTF-8: at
/// least 256 characters of any script.
const MAX_USER_ID_BYTES: usize = 1024;

impl Backend for sqlx::MySql {
    const SELECT: &'static str =
        "SELECT version, write_id, record FROM mfa_enrollments WHERE user_id = ?";
    /// A second first record fails with a duplicate key, which is a conflict.
    const INSERT: &'static str =
        "INSERT INTO mfa_enrollments (user_id, version, record, write_id, credential_ids, updated_at)
         VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP())";
    /// sqlx connects with CLIENT_FOUND_ROWS, so the rows affected are the rows
    /// matched (and the version changes anyway). `<=>` is equality that
    /// takes two `NULL`s as equal.
    const UPDATE: &'static str = "UPDATE mfa_enrollments
         SET version = ?, record = ?, write_id = ?, updated_at = UTC_TIMESTAMP()
         WHERE credential_ids <=> ? AND user_id = ? AND version = ?";
    const UPDATE_REINDEX: &'static str = "UPDATE mfa_enrollments
         SET version = ?, record = ?, write_id = ?, credential_ids = ?,
             updated_at = UTC_TIMESTAMP()
         WHERE user_id = ? AND version = ?";
    const SELECT_CREDENTIALS: &'static str =
        "SELECT credential_id FROM mfa_passkey_credentials WHERE user_id = ?";
    const DELETE_CREDENTIAL: &'static str =
        "DELETE FROM mfa_passkey_credentials WHERE credential_id = ? AND user_id = ?";
    const INSERT_CREDENTIAL: &'static str =
        "INSERT INTO mfa_passkey_credentials (credential_id, user_id) VALUES (?, ?)";
    /// User ids are bytes here; they were written from Rust strings, so as
    /// UTF-8 text they are the ids given.
    const SELECT_OWNER: &'static str =
        "SELECT CONVERT(user_id USING utf8mb4) FROM mfa_passkey_credentials
         WHERE credential_id = ?";
    /// ER_LOCK_DEADLOCK (InnoDB has rolled the transaction back).
    /// ER_LOCK_WAIT_TIMEOUT (SQLSTATE HY000) stays an unavailable store, as
    /// for every statement.
    const RETRY_CODES: &'static [&'static str] = &["40001"];
    const ROWS_AFFECTED: fn(&MySqlQueryResult) -> u64 = MySqlQueryResult::rows_affected;

    /// A named lock per database, held by the session across the commits that
    /// DDL makes; given up after 10 s.
    const LOCK_MIGRATIONS: Option<&'static str> =
        Some("SELECT GET_LOCK(CONCAT('mfa_schema_migrations.', MD5(DATABASE())), 10)");
    const UNLOCK_MIGRATIONS: Option<&'static str> =
        Some("DO RELEASE_LOCK(CONCAT('mfa_schema_migrations.', MD5(DATABASE())))");

    /// MySQL commits before and after every DDL statement, so a step and the
    /// row recording it are not one transaction here: each step must be safe
    /// to run again after a crash between the two.
    const MIGRATIONS: [&'static str; STEPS.len()] = [
        // User ids are bytes, compared exactly: text columns with the
        // default collations would make 'Alice' = 'alice' and 'a' = 'a '.
        "CREATE TABLE IF NOT EXISTS mfa_enrollments (
             user_id    VARBINARY(1024) NOT NULL PRIMARY KEY,
             version    BIGINT          NOT NULL,
             record     MEDIUMTEXT      CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
             write_id   VARBINARY(16)   NULL,
             updated_at DATETIME        NOT NULL,
             CONSTRAINT mfa_enrollments_version_check CHECK (version > 0)
         ) ENGINE = InnoDB ROW_FORMAT = DYNAMIC",
        // No MySQL database predates write identities: step 1 has the column.
        "DO 0",
        // The credential index (I15), and each row's set of credential ids
        // (`NULL`, none, for every row before; added in place). MySQL 8 has
        // no `ADD COLUMN IF NOT EXISTS`: the column is added only if the
        // catalogue does not show it yet.
        "CREATE TABLE IF NOT EXISTS mfa_passkey_credentials (
             credential_id VARBINARY(1023) NOT NULL PRIMARY KEY,
             user_id       VARBINARY(1024) NOT NULL,
             KEY mfa_passkey_credentials_user_id (user_id),
             CONSTRAINT mfa_passkey_credentials_user_id_fkey FOREIGN KEY (user_id)
                 REFERENCES mfa_enrollments (user_id) ON DELETE CASCADE
         ) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;
         SET @mfa_step = IF(
             EXISTS (SELECT 1 FROM information_schema.columns
                     WHERE table_schema = DATABASE() AND table_name = 'mfa_enrollments'
                       AND column_name = 'credential_ids'),
             'DO 0',
             'ALTER TABLE mfa_enrollments ADD COLUMN credential_ids MEDIUMBLOB NULL');
         PREPARE mfa_step FROM @mfa_step;
         EXECUTE mfa_step;
         DEALLOCATE PREPARE mfa_step;
         SET @mfa_step = NULL",
    ];
    const CREATE_MIGRATIONS_TABLE: &'static str =
        "CREATE TABLE IF NOT EXISTS mfa_schema_migrations (
             version     BIGINT       NOT NULL PRIMARY KEY,
             description VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL,
             applied_at  DATETIME     NOT NULL
         ) ENGINE = InnoDB";
    const RECORD_MIGRATION: &'static str =
        "INSERT INTO mfa_schema_migrations (version, description, applied_at)
         VALUES (?, ?, UTC_TIMESTAMP())";

    fn unstorable(user_id: &str) -> Option<&'static str> {
        (user_id.len() > MAX_USER_ID_BYTES)
            .then_some("a user id stored in MySQL is at most 1024 bytes of UTF-8")
    }
}

/// Waiting for a pooled connection (or for a new one to be set up) beyond this fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The server gives up waiting for a row lock after this many seconds
/// (`innodb_lock_wait_timeout`), on connections of [`MysqlStore::connect`].
const LOCK_WAIT_TIMEOUT_SECS: u32 = 5;

sql_store! {
    /// Keeps enrollments in MySQL 8 or MariaDB (10.11 or later) through a
    /// [`sqlx`] pool: like `PostgresStore`, a store for several application
    /// servers sharing one database.
    ///
    /// One row per user in `mfa_enrollments(user_id, version, record, write_id,
    /// updated_at, credential_ids)`, an InnoDB table, the record being
    /// [`MfaEnrollment::to_json`](crate::MfaEnrollment::to_json), and one row
    /// per passkey credential id in `mfa_passkey_credentials(credential_id,
    /// user_id)`, the credential index
    /// ([`MfaStore::passkey_owner`](crate::MfaStore::passkey_owner)). User ids
    /// are kept as `VARBINARY`, so they match byte for byte: `Alice` and
    /// `alice`, or `a` and `a `, are different users, as in every store. A
    /// save is a single `INSERT` (a duplicate key is a conflict) or
    /// `UPDATE … WHERE version = ?`, so the compare-and-swap holds across
    /// processes; one that changes the record's passkeys is a transaction
    /// that changes the index with it. The schema is created or migrated when the store is opened,
    /// under a named lock (`GET_LOCK`) so that servers starting together do not
    /// race; its version is kept in `mfa_schema_migrations`, apart from sqlx's
    /// own `_sqlx_migrations`. Tables are created in the connection's database.
    ///
    /// A database that is down, unreachable or too slow gives
    /// [`Error::StoreUnavailable`] within bounded time (see [`MysqlStore::connect`]);
    /// a row that does not decode gives [`Error::CorruptRecord`](crate::Error::CorruptRecord).
    /// A user id longer than 1024 bytes has no record, and saving one is
    /// [`Error::InvalidInput`](crate::Error::InvalidInput).
    ///
    /// ```no_run
    /// use mfa::{MfaStore, MysqlStore};
    ///
    /// # async fn demo() -> mfa::Result<()> {
    /// let store = MysqlStore::connect("mysql://app:secret@db.internal:3306/app").await?;
    /// let version = store.save("alice", None, &mfa::MfaEnrollment::default(), mfa::store::WriteId::random()).await?;
    /// assert_eq!(store.load("alice").await?.map(|r| r.version), Some(version));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    pub struct MysqlStore(SqlStore<sqlx::MySql>);
}

impl MysqlStore {
    /// Connects to the database at `url` (`mysql://user:password@host:3306/database`;
    /// sqlx's MySQL URL, which MariaDB takes too) and creates or migrates the
    /// schema.
    ///
    /// The pool holds up to 10 connections; getting one fails after 5 s (a
    /// server that refuses connections is retried until then), the server
    /// stops waiting for a row lock after 5 s (`innodb_lock_wait_timeout`),
    /// and the client gives up on any load or save after 10 s (see
    /// [`MysqlStore::with_timeout`]). For other pool settings, build the pool
    /// yourself and use [`MysqlStore::from_pool`].
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] if the server cannot be reached or the schema
    /// cannot be migrated; [`Error::InvalidConfig`] if `url` is not a MySQL URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = sql::connect_options::<sqlx::MySql>(url, "not a valid MySQL database URL")?;
        let pool = MySqlPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Duration::from_secs(300))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_TIMEOUT_SECS}"
                    )))
                    .await
                    .map(drop)
                })
            })
            .connect_with(options)
            .await
            .map_err(Error::store_unavailable)?;
        Self::from_pool(pool).await
    }
}
