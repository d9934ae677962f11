//! Accounts: email and Argon2id password hash, in the same database as the
//! MFA records.

use std::fmt;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::Deserialize;
use tokio::sync::Semaphore;
use zeroize::Zeroize;

use crate::db::{Db, on_pool};
use crate::error::ApiError;

/// A stored account.
pub struct User {
    pub id: String,
    pub email: String,
    password_hash: String,
}

/// A password, code or token from a request body: wiped on drop, never printed.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
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

/// Argon2id password hashing (PHC strings, the `argon2` crate's defaults:
/// m = 19456 KiB, t = 2, p = 1) on tokio's blocking pool, a bounded number at once.
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so that a login for an
    /// unknown email costs as much as one for a known email.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub async fn new() -> Result<Self, ApiError> {
        let permits = Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ));
        let dummy: [u8; 16] = rand::random();
        let dummy_hash = hash_blocking(
            &permits,
            Secret(dummy.iter().map(|b| format!("{b:02x}")).collect()),
        )
        .await?;
        Ok(Passwords {
            permits,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string of a new hash of `password`.
    pub async fn hash(&self, password: &Secret) -> Result<String, ApiError> {
        hash_blocking(&self.permits, Secret(password.expose().to_owned())).await
    }

    /// Whether `password` is the user's; with no user, spends the same time and says no.
    pub async fn verify(&self, password: &Secret, user: Option<&User>) -> Result<bool, ApiError> {
        let hash: Arc<str> = match user {
            Some(u) => u.password_hash.as_str().into(),
            None => Arc::clone(&self.dummy_hash),
        };
        let password = Secret(password.expose().to_owned());
        // The permit moves into the blocking job: a client that hangs up
        // drops this future, but the hash runs on and keeps its permit.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &*hash)
                .is_ok()
        })
        .await
        .map_err(|_| ApiError::internal("a password task failed"))?;
        Ok(ok && user.is_some())
    }
}

fn closed() -> ApiError {
    ApiError::internal("the password limiter was closed")
}

async fn hash_blocking(permits: &Arc<Semaphore>, password: Secret) -> Result<String, ApiError> {
    // As in `verify`: the permit lives as long as the hash, not the request.
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(|_| closed())?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(|_| ApiError::internal("a password task failed"))?
    .map_err(|_| ApiError::internal("a password could not be hashed"))
}
