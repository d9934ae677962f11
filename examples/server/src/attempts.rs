//! The password lock (the contract's "Password attempts, charged first").
//!
//! Every password check is *charged* before the password is hashed: one
//! atomic statement adds the attempt to its key's count and, in the same
//! statement, decides whether it may go ahead. The charge that brings the
//! count to [`THRESHOLD`] locks the key at once, so that of any number of
//! concurrent wrong passwords at most [`THRESHOLD`] are hashed; the rest
//! answer 429 `TOO_MANY_ATTEMPTS` without being hashed. After the wait the
//! next charge is let through and, if it fails, locks for twice as long
//! (30 s, doubling, at most 15 minutes). A right password gives back its
//! own charge and nothing else: failures that were charged meanwhile stay
//! counted. A count is forgotten `--insecure-password-forget` seconds (a day
//! by default) after both its last charge and the end of its lock, and its
//! row is purged then; a live lock never is.
//!
//! Keys are SHA-256 digests, never emails in clear:
//!
//! - the account's key, for every password check of an email (at login,
//!   setup, replace, disable and the strict regenerate); an unknown email is
//!   counted exactly like a known one, so that a 429 tells nothing about
//!   which accounts exist;
//! - the key of one remembered device of the account, for a login that
//!   presents a device token valid for it: that client is charged on its own
//!   count, so strangers' wrong passwords do not lock it out.
//!
//! An operator unlock deletes every row of the account. The rows live in the
//! database (`app_password_locks`), so every server sharing it shares the
//! lock.

use sha2::{Digest, Sha256};

use crate::db::{Db, on_pool};
use crate::error::ApiError;

/// Charged wrong passwords that lock the key (the charge that reaches it is
/// still let through).
pub const THRESHOLD: i64 = 5;
/// The longest wait, in milliseconds.
const MAX_DELAY_MS: i64 = 15 * 60 * 1000;
/// Expired rows deleted per statement of a purge, and statements per purge.
const PURGE_BATCH: i64 = 1000;
const PURGE_BATCHES: usize = 20;

/// The `app_password_locks` table.
pub struct PasswordAttempts {
    db: Db,
    /// The charging upsert, for this backend, base delay and forget window.
    charge: String,
    /// Milliseconds after its last charge that an unlocked count is forgotten.
    forget_ms: i64,
}

/// What a password check is charged on.
pub struct LockKey {
    key: String,
    account: String,
}

impl LockKey {
    /// The account's own count: every password check of `email`.
    pub fn account(email: &str) -> Self {
        let account = hex(&Sha256::digest(normalize(email).as_bytes()));
        LockKey {
            key: account.clone(),
            account,
        }
    }

    /// The count of one remembered device of the account: for a login that
    /// presents `device_token`, valid for the account.
    pub fn device(email: &str, device_token: &str) -> Self {
        let email = normalize(email);
        let mut digest = Sha256::new();
        digest.update(b"example-server/password-lock/device\0");
        digest.update(email.as_bytes());
        digest.update(b"\0");
        digest.update(device_token.as_bytes());
        LockKey {
            key: hex(&digest.finalize()),
            account: hex(&Sha256::digest(email.as_bytes())),
        }
    }
}

/// An attempt that was charged and let through: settle it with
/// [`PasswordAttempts::settle`] once the password is checked.
#[must_use = "a charge is settled once the password is checked"]
pub struct Charge {
    key: String,
    /// This charge's id, to give back exactly it (and the lock it set).
    id: i64,
}

/// How a charge went.
enum Charged {
    Through(Charge),
    /// The key is locked until this time (Unix milliseconds).
    Locked(i64),
}

impl PasswordAttempts {
    /// Creates the table if it does not exist. `base_delay_secs` is the wait
    /// after the [`THRESHOLD`]th failure (30 unless a test shortens it),
    /// `forget_secs` how long an unlocked count is kept after its last charge.
    pub async fn open(db: Db, base_delay_secs: u64, forget_secs: u64) -> Result<Self, sqlx::Error> {
        let base_ms = i64::try_from(base_delay_secs.saturating_mul(1000))
            .unwrap_or(MAX_DELAY_MS)
            .clamp(1, MAX_DELAY_MS);
        let forget_ms = i64::try_from(forget_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX / 4)
            .max(1);
        let columns = |text: &str, key: &str| {
            format!(
                "CREATE TABLE IF NOT EXISTS app_password_locks (
                    lock_key {key} PRIMARY KEY,
                    account_key {key} NOT NULL,
                    failures {text} NOT NULL,
                    locked_until {text} NOT NULL,
                    last_at {text} NOT NULL,
                    charge_id {text} NOT NULL,
                    lock_id {text} NOT NULL"
            )
        };
        let indexes = [
            "CREATE INDEX IF NOT EXISTS app_password_locks_account ON app_password_locks (account_key)",
            "CREATE INDEX IF NOT EXISTS app_password_locks_last_at ON app_password_locks (last_at)",
        ];
        match &db {
            Db::Sqlite(pool) => {
                let create = format!("{})", columns("INTEGER", "TEXT"));
                sqlx::query(sqlx::AssertSqlSafe(create))
                    .execute(pool)
                    .await?;
                for index in indexes {
                    sqlx::query(index).execute(pool).await?;
                }
            }
            Db::Postgres(pool) => {
                // Serialized like the accounts table: two servers may start at once.
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7078696330)")
                    .execute(&mut *tx)
                    .await?;
                let create = format!("{})", columns("BIGINT", "TEXT"));
                sqlx::query(sqlx::AssertSqlSafe(create))
                    .execute(&mut *tx)
                    .await?;
                for index in indexes {
                    sqlx::query(index).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Db::Mysql(pool) => {
                // MySQL 8 has no CREATE INDEX IF NOT EXISTS: the indexes are
                // part of the table.
                let create = format!(
                    "{},
                    INDEX app_password_locks_account (account_key),
                    INDEX app_password_locks_last_at (last_at))",
                    columns("BIGINT", "CHAR(64) CHARACTER SET ascii")
                );
                sqlx::query(sqlx::AssertSqlSafe(create))
                    .execute(pool)
                    .await?;
            }
        }
        let charge = charge_sql(&db, base_ms, forget_ms);
        Ok(PasswordAttempts {
            db,
            charge,
            forget_ms,
        })
    }

    /// Charges one password check on `key` before the password is hashed:
    /// 429 `TOO_MANY_ATTEMPTS` with `Retry-After` while the key is locked
    /// (nothing is counted then), otherwise the charge to settle.
    pub async fn charge(&self, key: &LockKey) -> Result<Charge, ApiError> {
        let now = now_ms();
        match self
            .charge_at(key, now)
            .await
            .map_err(ApiError::unavailable)?
        {
            Charged::Through(charge) => Ok(charge),
            Charged::Locked(until) => {
                crate::metrics::password_checked("locked");
                let secs = (until - now + 999) / 1000;
                Err(ApiError::too_many_attempts(
                    u64::try_from(secs).unwrap_or(1),
                ))
            }
        }
    }

    /// Settles a charge once its password was checked: a wrong password
    /// leaves it counted; a right one gives it back — one from the count,
    /// and the lock it set, if it set the one in force — and deletes the row
    /// once nothing is counted.
    pub async fn settle(&self, charge: Charge, right: bool) -> Result<(), ApiError> {
        if right {
            self.give_back(&charge, now_ms())
                .await
                .map_err(ApiError::unavailable)?;
        }
        Ok(())
    }

    /// Clears every count of the account of `email` (an operator's unlock):
    /// its own and those of its remembered devices.
    pub async fn clear_account(&self, email: &str) -> Result<(), ApiError> {
        let account = LockKey::account(email).account;
        let delete = self.sql(
            "DELETE FROM app_password_locks WHERE account_key = $1",
            "DELETE FROM app_password_locks WHERE account_key = ?",
        );
        on_pool!(&self.db, pool => sqlx::query(delete).bind(&account).execute(pool).await.map(|_| ()))
            .map_err(ApiError::unavailable)
    }

    /// Deletes the forgotten counts — rows whose last charge and lock both
    /// ended longer ago than the forget window — at most
    /// `PURGE_BATCH × PURGE_BATCHES` of them; returns how many. A live lock
    /// is never deleted.
    pub async fn purge(&self) -> Result<u64, sqlx::Error> {
        self.purge_at(now_ms()).await
    }

    async fn purge_at(&self, now: i64) -> Result<u64, sqlx::Error> {
        let before = now.saturating_sub(self.forget_ms);
        let expired = "locked_until <= $1 AND last_at <= $1";
        let sql = match self.db {
            // PostgreSQL and SQLite have no DELETE … LIMIT (SQLite only as a
            // build option); MySQL has no LIMIT in an IN subquery.
            Db::Sqlite(_) | Db::Postgres(_) => format!(
                "DELETE FROM app_password_locks WHERE lock_key IN \
                 (SELECT lock_key FROM app_password_locks WHERE {expired} LIMIT {PURGE_BATCH})"
            ),
            Db::Mysql(_) => format!(
                "DELETE FROM app_password_locks WHERE {} LIMIT {PURGE_BATCH}",
                expired.replace("$1", "?")
            ),
        };
        let mut purged = 0;
        for _ in 0..PURGE_BATCHES {
            // Built from constants only.
            let sql = sqlx::AssertSqlSafe(sql.as_str());
            let deleted = match &self.db {
                Db::Mysql(pool) => sqlx::query(sql)
                    .bind(before)
                    .bind(before)
                    .execute(pool)
                    .await?
                    .rows_affected(),
                Db::Sqlite(pool) => sqlx::query(sql)
                    .bind(before)
                    .execute(pool)
                    .await?
                    .rows_affected(),
                Db::Postgres(pool) => sqlx::query(sql)
                    .bind(before)
                    .execute(pool)
                    .await?
                    .rows_affected(),
            };
            purged += deleted;
            if deleted < PURGE_BATCH as u64 {
                break;
            }
        }
        Ok(purged)
    }

    /// The charging statement at `now`: one atomic upsert that counts the
    /// attempt and decides, from the row as it was, whether it goes ahead.
    async fn charge_at(&self, key: &LockKey, now: i64) -> Result<Charged, sqlx::Error> {
        let id = loop {
            let id: i64 = rand::random();
            if id != 0 {
                break id;
            }
        };
        // Built at start-up from constants and the configured delays.
        let charge = || sqlx::AssertSqlSafe(self.charge.as_str());
        // SQLite and PostgreSQL return what the upsert decided.
        macro_rules! returning {
            ($pool:expr) => {
                sqlx::query_as(charge())
                    .bind(&key.key)
                    .bind(&key.account)
                    .bind(now)
                    .bind(id)
                    .fetch_one($pool)
                    .await?
            };
        }
        let (locked_until, charge_id): (i64, i64) = match &self.db {
            Db::Sqlite(pool) => returning!(pool),
            Db::Postgres(pool) => returning!(pool),
            Db::Mysql(pool) => {
                // MySQL has no RETURNING: the upsert decides, and the same
                // transaction, holding the row's lock, reads what it decided.
                let mut retries = 0;
                loop {
                    match mysql_charge(pool, charge(), key, now, id).await {
                        Err(e) if retries < 3 && is_deadlock(&e) => retries += 1,
                        result => break result?,
                    }
                }
            }
        };
        if charge_id == id {
            Ok(Charged::Through(Charge {
                key: key.key.clone(),
                id,
            }))
        } else {
            Ok(Charged::Locked(locked_until.max(now + 1)))
        }
    }

    async fn give_back(&self, charge: &Charge, now: i64) -> Result<(), sqlx::Error> {
        // MySQL assigns from left to right: `lock_id` is read before it is set.
        let update = self.sql(
            "UPDATE app_password_locks SET
                failures = failures - 1,
                locked_until = CASE WHEN lock_id = $2 THEN 0 ELSE locked_until END,
                lock_id = CASE WHEN lock_id = $2 THEN 0 ELSE lock_id END
             WHERE lock_key = $1 AND failures > 0",
            "UPDATE app_password_locks SET
                failures = failures - 1,
                locked_until = CASE WHEN lock_id = ? THEN 0 ELSE locked_until END,
                lock_id = CASE WHEN lock_id = ? THEN 0 ELSE lock_id END
             WHERE lock_key = ? AND failures > 0",
        );
        let delete = self.sql(
            "DELETE FROM app_password_locks
             WHERE lock_key = $1 AND failures <= 0 AND locked_until <= $2",
            "DELETE FROM app_password_locks
             WHERE lock_key = ? AND failures <= 0 AND locked_until <= ?",
        );
        match &self.db {
            Db::Mysql(pool) => {
                sqlx::query(update)
                    .bind(charge.id)
                    .bind(charge.id)
                    .bind(&charge.key)
                    .execute(pool)
                    .await?;
            }
            _ => {
                on_pool!(&self.db, pool => sqlx::query(update)
                    .bind(&charge.key)
                    .bind(charge.id)
                    .execute(pool)
                    .await
                    .map(|_| ()))?;
            }
        }
        on_pool!(&self.db, pool => sqlx::query(delete)
            .bind(&charge.key)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))
    }

    fn sql(&self, numbered: &'static str, positional: &'static str) -> &'static str {
        match self.db {
            Db::Mysql(_) => positional,
            Db::Sqlite(_) | Db::Postgres(_) => numbered,
        }
    }
}

/// The charging upsert: `$1` the key, `$2` the account, `$3` now (ms), `$4`
/// the charge's id (`?` in that order on MySQL). A row that is locked at
/// `now` is left as it is (the attempt is refused); otherwise its count
/// grows by one — from zero if it was forgotten — the charge's id is
/// recorded, and the charge that reaches the threshold or passes it sets the
/// lock (and its own id as the lock's). PostgreSQL and SQLite return the row;
/// the attempt went ahead if it holds this charge's id.
fn charge_sql(db: &Db, base_ms: i64, forget_ms: i64) -> String {
    // The wait after the `f`th charge: none below the threshold, the base
    // delay at it, doubling with each further charge, capped.
    let delay = |f: &str| {
        let mut cases = format!("CASE WHEN {f} < {THRESHOLD} THEN 0");
        let mut wait = base_ms;
        let mut n = THRESHOLD;
        while wait < MAX_DELAY_MS {
            cases.push_str(&format!(" WHEN {f} = {n} THEN {wait}"));
            wait = wait.saturating_mul(2);
            n += 1;
        }
        cases.push_str(&format!(" ELSE {MAX_DELAY_MS} END"));
        cases
    };
    const INSERT: &str = "INSERT INTO app_password_locks
        (lock_key, account_key, failures, locked_until, last_at, charge_id, lock_id)";
    if let Db::Mysql(_) = db {
        // ON DUPLICATE KEY UPDATE assigns from left to right and later
        // expressions read the columns already assigned: `failures` first
        // (from the row as it was), then what depends on the new count, and
        // `locked_until`, which every expression reads as it was, last.
        // `VALUES(last_at)` is now and `VALUES(charge_id)` the charge's id.
        let locked = "locked_until > VALUES(last_at)";
        return format!(
            "{INSERT} VALUES (?, ?, 1, 0, ?, ?, 0)
             ON DUPLICATE KEY UPDATE
                failures = CASE WHEN {locked} THEN failures
                    WHEN last_at <= VALUES(last_at) - {forget_ms}
                        AND locked_until <= VALUES(last_at) - {forget_ms} THEN 1
                    ELSE failures + 1 END,
                lock_id = CASE WHEN {locked} THEN lock_id
                    WHEN failures >= {THRESHOLD} THEN VALUES(charge_id) ELSE lock_id END,
                charge_id = CASE WHEN {locked} THEN charge_id ELSE VALUES(charge_id) END,
                last_at = CASE WHEN {locked} THEN last_at ELSE VALUES(last_at) END,
                locked_until = CASE WHEN {locked} THEN locked_until
                    WHEN failures >= {THRESHOLD} THEN VALUES(last_at) + {d}
                    ELSE 0 END",
            d = delay("failures"),
        );
    }
    let t = "app_password_locks.";
    let locked = format!("{t}locked_until > $3");
    let count = format!(
        "(CASE WHEN {t}last_at <= $3 - {forget_ms} AND {t}locked_until <= $3 - {forget_ms} \
         THEN 0 ELSE {t}failures END + 1)"
    );
    format!(
        "{INSERT} VALUES ($1, $2, 1, 0, $3, $4, 0)
         ON CONFLICT (lock_key) DO UPDATE SET
            failures = CASE WHEN {locked} THEN {t}failures ELSE {count} END,
            lock_id = CASE WHEN {locked} THEN {t}lock_id
                WHEN {count} >= {THRESHOLD} THEN $4 ELSE {t}lock_id END,
            charge_id = CASE WHEN {locked} THEN {t}charge_id ELSE $4 END,
            last_at = CASE WHEN {locked} THEN {t}last_at ELSE $3 END,
            locked_until = CASE WHEN {locked} THEN {t}locked_until
                WHEN {count} >= {THRESHOLD} THEN $3 + {d}
                ELSE 0 END
         RETURNING locked_until, charge_id",
        d = delay(&count),
    )
}

/// The MySQL charge: the upsert and the read of what it decided, in one
/// transaction that holds the row's lock between them.
async fn mysql_charge(
    pool: &sqlx::MySqlPool,
    upsert: sqlx::AssertSqlSafe<&str>,
    key: &LockKey,
    now: i64,
    id: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(upsert)
        .bind(&key.key)
        .bind(&key.account)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let row =
        sqlx::query_as("SELECT locked_until, charge_id FROM app_password_locks WHERE lock_key = ?")
            .bind(&key.key)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(row)
}

/// A MySQL deadlock or lock wait timeout: the transaction was rolled back
/// whole and may run again.
fn is_deadlock(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(e) => {
            e.code().as_deref() == Some("40001") || e.message().contains("Lock wait timeout")
        }
        _ => false,
    }
}

/// The trimmed, lowercased email.
fn normalize(email: &str) -> String {
    email.trim().to_lowercase()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
