//! The database: SQLite (a file or `:memory:`), PostgreSQL or MySQL (MariaDB),
//! holding both the accounts and the MFA records.

use std::path::PathBuf;
use std::str::FromStr;

use mfa::{
    MfaEnrollment, MfaStore,
    store::{Versioned, WriteId},
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::sqlite::SqlitePool;

/// Where the data lives, from `--database`.
#[derive(Debug, Clone)]
pub enum Location {
    /// `:memory:`: one SQLite database that lives as long as the process.
    Memory,
    /// A SQLite file, created with its schema if missing.
    File(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
    /// A `mysql://` URL (MySQL 8 or MariaDB).
    Mysql(String),
}

impl Location {
    /// `--database`: a SQLite file, `:memory:`, or a `postgres://` or
    /// `mysql://` URL; never empty.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(if text == ":memory:" {
            Location::Memory
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else if text.starts_with("mysql://") {
            Location::Mysql(text.to_owned())
        } else {
            Location::File(PathBuf::from(text))
        })
    }

    /// How to name it in a log line, without a password.
    pub fn describe(&self) -> String {
        match self {
            Location::Memory => "SQLite in memory".into(),
            Location::File(path) => format!("SQLite {}", path.display()),
            Location::Postgres(url) => match PgConnectOptions::from_str(url) {
                Ok(o) => server_at("PostgreSQL", o.get_host(), o.get_port(), o.get_database()),
                Err(_) => "PostgreSQL".into(),
            },
            Location::Mysql(url) => match MySqlConnectOptions::from_str(url) {
                Ok(o) => server_at("MySQL", o.get_host(), o.get_port(), o.get_database()),
                Err(_) => "MySQL".into(),
            },
        }
    }
}

/// `kind host:port/database`, for a log line.
fn server_at(kind: &str, host: &str, port: u16, database: Option<&str>) -> String {
    format!("{kind} {host}:{port}/{}", database.unwrap_or(""))
}

/// The connection pool, for the accounts table.
#[derive(Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    Mysql(MySqlPool),
}

impl Db {
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
            Db::Mysql(pool) => pool.close().await,
        }
    }
}

/// The crate's store for whichever database is in use: one service type,
/// one set of handlers.
pub enum Store {
    Sqlite(mfa::SqliteStore),
    Postgres(mfa::PostgresStore),
    Mysql(mfa::MysqlStore),
}

impl Store {
    /// Opens the database with the stores' own connection settings (WAL and a
    /// busy timeout for SQLite files; pool and server-side timeouts for
    /// PostgreSQL and MySQL).
    pub async fn open(location: &Location) -> mfa::Result<Self> {
        Ok(match location {
            Location::Memory => Store::Sqlite(mfa::SqliteStore::connect("sqlite::memory:").await?),
            Location::File(path) => Store::Sqlite(mfa::SqliteStore::open_file(path).await?),
            Location::Postgres(url) => Store::Postgres(mfa::PostgresStore::connect(url).await?),
            Location::Mysql(url) => Store::Mysql(mfa::MysqlStore::connect(url).await?),
        })
    }

    /// The same pool, for the accounts table.
    pub fn db(&self) -> Db {
        match self {
            Store::Sqlite(store) => Db::Sqlite(store.pool().clone()),
            Store::Postgres(store) => Db::Postgres(store.pool().clone()),
            Store::Mysql(store) => Db::Mysql(store.pool().clone()),
        }
    }
}

impl MfaStore for Store {
    async fn load(&self, user_id: &str) -> mfa::Result<Option<Versioned<MfaEnrollment>>> {
        match self {
            Store::Sqlite(s) => s.load(user_id).await,
            Store::Postgres(s) => s.load(user_id).await,
            Store::Mysql(s) => s.load(user_id).await,
        }
    }

    async fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> mfa::Result<u64> {
        match self {
            Store::Sqlite(s) => s.save(user_id, expected, record, write_id).await,
            Store::Postgres(s) => s.save(user_id, expected, record, write_id).await,
            Store::Mysql(s) => s.save(user_id, expected, record, write_id).await,
        }
    }

    /// The store's credential index (I15), which passkeys need.
    async fn passkey_owner(&self, credential_id: &[u8]) -> mfa::Result<Option<String>> {
        match self {
            Store::Sqlite(s) => s.passkey_owner(credential_id).await,
            Store::Postgres(s) => s.passkey_owner(credential_id).await,
            Store::Mysql(s) => s.passkey_owner(credential_id).await,
        }
    }
}

/// Runs `$body` with `$pool` bound to whichever pool the database has: for
/// statements whose SQL is the same on every backend but for placeholders.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Mysql($pool) => $body,
        }
    };
}
pub(crate) use on_pool;
