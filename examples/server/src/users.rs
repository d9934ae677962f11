//! Accounts: email and Argon2id password hash, in the same database as the
//! MFA records.

use std::fmt;

use serde::Deserialize;
use zeroize::Zeroize;

use crate::db::{Db, on_pool};
use crate::error::ApiError;

/// A stored account.
pub struct User {
    pub id: String,
    pub email: String,
    password_hash: String,
}

impl User {
    /// The PHC string of the account's password hash.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }
}

/// A password, code or token from a request body: wiped on drop, never printed.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(REDACTED)")
    }
}

/// An optional field that is a secret when it is a string and nothing
/// otherwise (`null`, a number, an array, an object): for a field the server
/// must ignore, not refuse, when it is not what it expects.
pub fn string_or_nothing<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Some(Secret(text)),
        _ => None,
    })
}

/// The `users` table.
pub struct Users {
    db: Db,
}

fn unavailable(e: sqlx::Error) -> ApiError {
    ApiError::unavailable(e)
}

impl Users {
    /// Creates the table if it does not exist.
    pub async fn open(db: Db) -> Result<Self, sqlx::Error> {
        match &db {
            Db::Sqlite(pool) => {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS app_users (
                        id TEXT PRIMARY KEY,
                        email TEXT NOT NULL UNIQUE,
                        password_hash TEXT NOT NULL,
                        created_at INTEGER NOT NULL)",
                )
                .execute(pool)
                .await?;
            }
            Db::Postgres(pool) => {
                // Serialized by an advisory lock: two servers may start at once.
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7078696330)")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS app_users (
                        id TEXT PRIMARY KEY,
                        email TEXT NOT NULL UNIQUE,
                        password_hash TEXT NOT NULL,
                        created_at BIGINT NOT NULL)",
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Db::Mysql(pool) => {
                // Emails arrive trimmed and lowercased; compared as written.
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS app_users (
                        id VARCHAR(32) PRIMARY KEY,
                        email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
                            NOT NULL UNIQUE,
                        password_hash VARCHAR(255) NOT NULL,
                        created_at BIGINT NOT NULL)",
                )
                .execute(pool)
                .await?;
            }
        }
        Ok(Users { db })
    }

    /// `numbered` (`$1`, `$2`, … for PostgreSQL, and SQLite) or the same
    /// statement with `?` placeholders (MySQL).
    fn sql(&self, numbered: &'static str, positional: &'static str) -> &'static str {
        match self.db {
            Db::Mysql(_) => positional,
            Db::Sqlite(_) | Db::Postgres(_) => numbered,
        }
    }

    /// Inserts an account; `None` if the email is taken.
    pub async fn create(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<Option<String>, ApiError> {
        let bytes: [u8; 16] = rand::random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let sql = self.sql(
            "INSERT INTO app_users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
            "INSERT INTO app_users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)",
        );
        let result = on_pool!(&self.db, pool => sqlx::query(sql)
            .bind(&id)
            .bind(email)
            .bind(password_hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()));
        match result {
            Ok(()) => Ok(Some(id)),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub async fn by_email(&self, email: &str) -> Result<Option<User>, ApiError> {
        let sql = self.sql(
            "SELECT id, email, password_hash FROM app_users WHERE email = $1",
            "SELECT id, email, password_hash FROM app_users WHERE email = ?",
        );
        self.find(sql, email).await
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<User>, ApiError> {
        let sql = self.sql(
            "SELECT id, email, password_hash FROM app_users WHERE id = $1",
            "SELECT id, email, password_hash FROM app_users WHERE id = ?",
        );
        self.find(sql, id).await
    }

    async fn find(&self, sql: &'static str, key: &str) -> Result<Option<User>, ApiError> {
        let row: Option<(String, String, String)> = on_pool!(&self.db, pool =>
            sqlx::query_as(sql).bind(key).fetch_optional(pool).await)
        .map_err(unavailable)?;
        Ok(row.map(|(id, email, password_hash)| User {
            id,
            email,
            password_hash,
        }))
    }
}
