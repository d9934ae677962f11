//! Wrong passwords per account (the contract's "Password attempts"): after
//! [`THRESHOLD`] consecutive wrong passwords for one email — at login,
//! disable and the strict regenerate, counted together — password checks for
//! it answer 429 `TOO_MANY_ATTEMPTS` for a wait that starts at the base delay
//! (30 s) and doubles with each further failure, up to 15 minutes.
//!
//! The count lives in the database, in `app_password_attempts`, so that every
//! server on it shares it, and grows by one atomic upsert per failure, so that
//! concurrent wrong passwords are all counted. Rows are keyed by the SHA-256
//! of the normalized email: unknown emails are counted like known ones (a 429
//! for known emails only would tell which accounts exist) without being
//! stored in clear.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::db::{Db, on_pool};
use crate::error::ApiError;

/// Consecutive wrong passwords before the first wait.
pub const THRESHOLD: i64 = 5;
/// The longest wait, in milliseconds.
const MAX_DELAY_MS: i64 = 15 * 60 * 1000;

/// The `app_password_attempts` table.
pub struct PasswordAttempts {
    db: Db,
    /// The upsert that counts one failure, for this backend and base delay.
    count_failure: Arc<str>,
}

/// A password check that the email's lock let through.
pub struct Attempt {
    key: String,
    /// Whether the email had a row (failures to reset on a right password).
    counted: bool,
}

impl PasswordAttempts {
    /// Creates the table if it does not exist; `base_delay_secs` is the wait
    /// after the [`THRESHOLD`]th failure (30 unless a test shortens it).
    pub async fn open(db: Db, base_delay_secs: u64) -> Result<Self, sqlx::Error> {
        let base_ms = i64::try_from(base_delay_secs.saturating_mul(1000))
            .unwrap_or(MAX_DELAY_MS)
            .min(MAX_DELAY_MS);
        // The new wait, from the row's values before this failure: none below
        // the threshold, the base delay at it, then twice the last, capped.
        // Every right-hand side reads the row as it was, on every backend:
        // MySQL assigns from left to right, so its columns are set in an
        // order where no expression reads a column already set.
        let delay = |t: &str| {
            format!(
                "CASE WHEN {t}failures + 1 < {THRESHOLD} THEN 0 \
                 WHEN {t}failures + 1 = {THRESHOLD} THEN {base_ms} \
                 WHEN {t}delay_ms * 2 > {MAX_DELAY_MS} THEN {MAX_DELAY_MS} \
                 ELSE {t}delay_ms * 2 END"
            )
        };
        let count_failure = match &db {
            Db::Sqlite(pool) => {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS app_password_attempts (
                        email_key TEXT PRIMARY KEY,
                        failures INTEGER NOT NULL,
                        delay_ms INTEGER NOT NULL,
                        locked_until INTEGER NOT NULL)",
                )
                .execute(pool)
                .await?;
                upsert_on_conflict(&delay("app_password_attempts."))
            }
            Db::Postgres(pool) => {
                // Serialized like the accounts table: two servers may start at once.
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7078696330)")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS app_password_attempts (
                        email_key TEXT PRIMARY KEY,
                        failures BIGINT NOT NULL,
                        delay_ms BIGINT NOT NULL,
                        locked_until BIGINT NOT NULL)",
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                upsert_on_conflict(&delay("app_password_attempts."))
            }
            Db::Mysql(pool) => {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS app_password_attempts (
                        email_key CHAR(64) CHARACTER SET ascii PRIMARY KEY,
                        failures BIGINT NOT NULL,
                        delay_ms BIGINT NOT NULL,
                        locked_until BIGINT NOT NULL)",
                )
                .execute(pool)
                .await?;
                let delay = delay("");
                format!(
                    "INSERT INTO app_password_attempts (email_key, failures, delay_ms, locked_until)
                     VALUES (?, 1, 0, 0)
                     ON DUPLICATE KEY UPDATE
                        locked_until = ? + {delay},
                        delay_ms = {delay},
                        failures = failures + 1"
                )
            }
        };
        Ok(PasswordAttempts {
            db,
            count_failure: count_failure.into(),
        })
    }

    /// Answers 429 `TOO_MANY_ATTEMPTS` while `email` is locked, before any
    /// password is checked (and before its account is looked up, so that a
    /// locked email costs the same whether or not it has one); otherwise the
    /// attempt, for [`PasswordAttempts::record`] once the password is checked.
    pub async fn check(&self, email: &str) -> Result<Attempt, ApiError> {
        let key = email_key(email);
        let now = now_ms();
        let select = self.sql(
            "SELECT locked_until FROM app_password_attempts WHERE email_key = $1",
            "SELECT locked_until FROM app_password_attempts WHERE email_key = ?",
        );
        let locked_until: Option<(i64,)> = on_pool!(&self.db, pool =>
            sqlx::query_as(select).bind(&key).fetch_optional(pool).await)
        .map_err(ApiError::unavailable)?;
        if let Some((until,)) = locked_until
            && until > now
        {
            let secs = (until - now + 999) / 1000;
            return Err(ApiError::too_many_attempts(
                u64::try_from(secs).unwrap_or(1),
            ));
        }
        Ok(Attempt {
            key,
            counted: locked_until.is_some(),
        })
    }

    /// Counts a wrong password (one atomic upsert, whether or not the email
    /// has an account), or resets the count after a right one.
    pub async fn record(&self, attempt: Attempt, right: bool) -> Result<(), ApiError> {
        if !right {
            // Built at start-up from constants and the base delay, a number.
            let sql = || sqlx::AssertSqlSafe(Arc::clone(&self.count_failure));
            on_pool!(&self.db, pool => sqlx::query(sql())
                .bind(&attempt.key)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|_| ()))
            .map_err(ApiError::unavailable)?;
        } else if attempt.counted {
            let delete = self.sql(
                "DELETE FROM app_password_attempts WHERE email_key = $1",
                "DELETE FROM app_password_attempts WHERE email_key = ?",
            );
            on_pool!(&self.db, pool => sqlx::query(delete).bind(&attempt.key).execute(pool).await.map(|_| ()))
                .map_err(ApiError::unavailable)?;
        }
        Ok(())
    }

    fn sql(&self, numbered: &'static str, positional: &'static str) -> &'static str {
        match self.db {
            Db::Mysql(_) => positional,
            Db::Sqlite(_) | Db::Postgres(_) => numbered,
        }
    }
}

/// The failure upsert for SQLite and PostgreSQL (`$1` the key, `$2` now).
fn upsert_on_conflict(delay: &str) -> String {
    format!(
        "INSERT INTO app_password_attempts (email_key, failures, delay_ms, locked_until)
         VALUES ($1, 1, 0, 0)
         ON CONFLICT (email_key) DO UPDATE SET
            failures = app_password_attempts.failures + 1,
            delay_ms = {delay},
            locked_until = $2 + {delay}"
    )
}

/// Hex SHA-256 of the trimmed, lowercased email.
fn email_key(email: &str) -> String {
    Sha256::digest(email.trim().to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now_ms() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    i64::try_from(ms).unwrap_or(i64::MAX)
}
