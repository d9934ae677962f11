//! The database: SQLite (a file or `:memory:`) or PostgreSQL, holding both the
//! accounts and the MFA records.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use mfa::{MfaEnrollment, MfaStore, Versioned};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

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
    pub async fn open(location: &Location) -> Result<Self, sqlx::Error> {
        Ok(match location {
            Location::Memory => {
                // One connection that never closes: each SQLite connection to
                // `:memory:` is a database of its own.
                let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
                let pool = SqlitePoolOptions::new()
                    .min_connections(1)
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await?;
                Db::Sqlite(pool)
            }
            Location::File(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await?;
                Db::Sqlite(pool)
            }
            Location::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                Db::Postgres(pool)
            }
        })
    }

    /// The MFA store over the same pool.
    pub async fn mfa_store(&self) -> mfa::Result<Store> {
        Ok(match self {
            Db::Sqlite(pool) => Store::Sqlite(mfa::SqliteStore::from_pool(pool.clone()).await?),
            Db::Postgres(pool) => {
                Store::Postgres(mfa::PostgresStore::from_pool(pool.clone()).await?)
            }
        })
    }

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
    ) -> mfa::Result<u64> {
        match self {
            Store::Sqlite(s) => s.save(user_id, expected, record).await,
            Store::Postgres(s) => s.save(user_id, expected, record).await,
        }
    }
}
