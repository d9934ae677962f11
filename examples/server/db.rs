//! The database: SQLite (a file or `:memory:`) or PostgreSQL, holding both the
//! accounts and the MFA records.

use std::path::PathBuf;
use std::str::FromStr;

use mfa::{
    MfaEnrollment, MfaStore,
    store::{Versioned, WriteId},
};
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
}

impl Location {
    pub fn parse(text: &str) -> Self {
        if text == ":memory:" {
            Location::Memory
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else {
            Location::File(PathBuf::from(text))
        }
    }

    /// How to name it in a log line, without a PostgreSQL password.
    pub fn describe(&self) -> String {
        match self {
            Location::Memory => "SQLite in memory".into(),
            Location::File(path) => format!("SQLite {}", path.display()),
            Location::Postgres(url) => match PgConnectOptions::from_str(url) {
                Ok(o) => format!(
                    "PostgreSQL {}:{}/{}",
                    o.get_host(),
                    o.get_port(),
                    o.get_database().unwrap_or("")
                ),
                Err(_) => "PostgreSQL".into(),
            },
        }
    }
}

/// The connection pool, for the accounts table.
#[derive(Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// The crate's store for whichever database is in use: one service type,
/// one set of handlers.
pub enum Store {
    Sqlite(mfa::SqliteStore),
    Postgres(mfa::PostgresStore),
}

impl Store {
    /// Opens the database with the stores' own connection settings (WAL and a
    /// busy timeout for SQLite files; pool and statement timeouts for PostgreSQL).
    pub async fn open(location: &Location) -> mfa::Result<Self> {
        Ok(match location {
            Location::Memory => Store::Sqlite(mfa::SqliteStore::connect("sqlite::memory:").await?),
            Location::File(path) => Store::Sqlite(mfa::SqliteStore::open_file(path).await?),
            Location::Postgres(url) => Store::Postgres(mfa::PostgresStore::connect(url).await?),
        })
    }

    /// The same pool, for the accounts table.
    pub fn db(&self) -> Db {
        match self {
            Store::Sqlite(store) => Db::Sqlite(store.pool().clone()),
            Store::Postgres(store) => Db::Postgres(store.pool().clone()),
        }
    }
}

impl MfaStore for Store {
    async fn load(&self, user_id: &str) -> mfa::Result<Option<Versioned<MfaEnrollment>>> {
        match self {
            Store::Sqlite(s) => s.load(user_id).await,
            Store::Postgres(s) => s.load(user_id).await,
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
        }
    }
}
