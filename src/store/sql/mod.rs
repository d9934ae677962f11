//! The one SQL store: migrations, load, compare-and-swap save with the
//! credential index, and operation timeouts, written once over [`sqlx`] for
//! every SQL backend.
//!
//! A backend (SQLite, PostgreSQL, MySQL) implements [`Backend`]: its
//! statements, how it serialises migrations across processes, and which user
//! ids it cannot hold. Its public type is declared with [`sql_store!`], a
//! newtype over [`SqlStore`] to which the backend adds only its own `connect`.
//!
//! Every store keeps one row per user in `mfa_enrollments`, one row per
//! passkey credential id in `mfa_passkey_credentials` (the credential index,
//! I15), and records the schema version in a table of its own,
//! `mfa_schema_migrations`, so that it never touches the `_sqlx_migrations`
//! table of a host that runs its own sqlx migrations in the same database.
//!
//! # Saves and the credential index
//!
//! A save must change the record and the user's index rows in one atomic
//! write (I15), yet most saves (a TOTP code, a backup code, a passkey
//! assertion) do not change which credential ids the record holds. So
//! `mfa_enrollments` also keeps, in the column `credential_ids`, the set of
//! credential ids of the stored record ([`CredentialIds::stored`]: sorted,
//! each with its length, `NULL` for none), and every save keeps the
//! invariant
//!
//! > the user's rows of `mfa_passkey_credentials` are exactly the ids of
//! > that column, which are exactly the ids of the stored record.
//!
//! - **The common case is one statement, as without the index.** A later
//!   save runs [`Backend::UPDATE`], the compare-and-swap with one more
//!   condition: the stored set equals the new record's. When it writes, the
//!   set did not change, so by the invariant the index needs no change and
//!   the statement alone is the whole atomic write. A first save of a record
//!   without credential ids is the plain [`Backend::INSERT`]: a user without
//!   a row has no index rows (they reference the row, `ON DELETE CASCADE`).
//! - **Otherwise one transaction** ([`SqlStore::reindex`]): the
//!   compare-and-swap that also writes the new set
//!   ([`Backend::UPDATE_REINDEX`] or [`Backend::INSERT`]; no row is a
//!   [`Error::StoreConflict`]), which locks the user's row, so that every
//!   save of that user waits for this one; then the user's index rows are
//!   read, the ones the record no longer holds deleted and the missing ones
//!   inserted, in ascending order. An insert that finds the id taken (a
//!   unique violation: another user's row, committed, or uncommitted and
//!   waited for) rolls everything back: [`Error::PasskeyAlreadyRegistered`].
//!   Of users racing for one id, the primary key of `mfa_passkey_credentials`
//!   lets exactly one commit it. This path runs when a passkey is registered
//!   or removed, when the first record holds passkeys, and when the
//!   conditional update wrote nothing, to tell a version conflict (the
//!   compare-and-swap fails here too) from a changed set.
//!
//! Comparing the whole set rather than, say, a count keeps the common case
//! one statement for users with passkeys too, and exact: the column is the
//! index's own content, not a digest of it. A deadlock or serialization
//! failure of the transaction (PostgreSQL and MySQL; only unusual
//! interleavings, or a host's stricter isolation level, can produce one)
//! writes nothing and is reported as [`Error::StoreConflict`], so that the
//! service retries.

mod newtype;
mod rows;

pub(crate) use newtype::sql_store;
pub(crate) use rows::CredentialIds;
use rows::NewRow;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{
    Connection, Database, Encode, Executor, FromRow, IntoArguments, Pool, SqlSafeStr, Transaction,
    Type,
};

use super::{Versioned, WriteId, next_version};
use crate::enrollment::MfaEnrollment;
use crate::error::{Error, Result};

/// How long any one load or save may take, unless set with `with_timeout`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The steps of the crate's schema, oldest first: the version (1, 2, 3, …:
/// never reused, never renumbered) and the description recorded in
/// `mfa_schema_migrations` for operators. Steps are applied in order, each
/// once, together with the row that records it. Never edit a released step;
/// add one, with its SQL in every backend's [`Backend::MIGRATIONS`].
pub(crate) const STEPS: [(i64, &str); 3] = [
    (1, "mfa_enrollments"),
    (2, "mfa_enrollments.write_id"),
    (3, "mfa_passkey_credentials"),
];

/// The longest WebAuthn credential id a record may hold (as the record
/// format checks), and so the width of the index's key.
pub(crate) const MAX_CREDENTIAL_ID_BYTES: usize = 1023;

/// What a SQL database (its sqlx driver) brings to [`SqlStore`]: its
/// statements and what is truly its own. Statements bind their parameters in
/// the order given, so the same binding serves numbered (`$1`, `?1`) and
/// positional (`?`) placeholders.
pub(crate) trait Backend: Database {
    /// One user's `version, write_id, record`. Binds: user id.
    const SELECT: &'static str;

    /// A user's first record, at version 1, with its credential-id set:
    /// writes nothing (or fails with a unique violation) if the user has a
    /// row. Binds: user id, version, record, write id, credential ids
    /// ([`CredentialIds::stored`]).
    const INSERT: &'static str;

    /// The compare-and-swap of the common save: writes only while the
    /// version is the expected one and the stored credential-id set is the
    /// new record's (compared as equal when both are `NULL`), which it leaves
    /// as it is. Binds: new version, record, write id, credential ids, user
    /// id, expected version.
    const UPDATE: &'static str;

    /// The compare-and-swap of a save that changes the credential-id set,
    /// run in the transaction that changes the index: writes the set too,
    /// whatever it was. Binds as [`Backend::UPDATE`].
    const UPDATE_REINDEX: &'static str;

    /// Opens the transaction of a save that changes the index.
    const BEGIN_SAVE: &'static str = "BEGIN";

    /// One user's credential ids in the index. Binds: user id.
    const SELECT_CREDENTIALS: &'static str;

    /// Removes one of a user's credential ids from the index. Binds:
    /// credential id, user id.
    const DELETE_CREDENTIAL: &'static str;

    /// Adds a credential id to the index, failing with a unique violation if
    /// it is there already. Binds: credential id, user id.
    const INSERT_CREDENTIAL: &'static str;

    /// The `user_id` (as text) of a credential id in the index. Binds:
    /// credential id.
    const SELECT_OWNER: &'static str;

    /// The SQLSTATEs of a transaction the database aborted to break a
    /// deadlock or keep its isolation level: nothing was written, and trying
    /// again may succeed, so a save reports them as [`Error::StoreConflict`].
    const RETRY_CODES: &'static [&'static str] = &[];

    /// The rows a statement changed.
    const ROWS_AFFECTED: fn(&Self::QueryResult) -> u64;

    /// The SQL of each of [`STEPS`], in the same order: one or more statements.
    const MIGRATIONS: [&'static str; STEPS.len()];

    /// Creates `mfa_schema_migrations(version, description, applied_at)` if it
    /// is missing.
    const CREATE_MIGRATIONS_TABLE: &'static str;

    /// Records an applied step. Binds: version, description.
    const RECORD_MIGRATION: &'static str;

    /// Opens the transaction the migrations run in.
    const BEGIN_MIGRATION: &'static str = "BEGIN";

    /// Serialises migrations across processes: run first in the migration
    /// transaction, it waits until no other process is migrating and returns
    /// one row whose one column is 1 once it holds the lock. `None` when
    /// [`Backend::BEGIN_MIGRATION`] takes the lock itself.
    const LOCK_MIGRATIONS: Option<&'static str> = None;

    /// Releases, after the commit, a migration lock that the session rather
    /// than the transaction holds. The connection that migrated is then closed
    /// rather than pooled if migrating fails or is cancelled, so that the lock
    /// never outlives the attempt.
    const UNLOCK_MIGRATIONS: Option<&'static str> = None;

    /// Why this database cannot hold `user_id`, if it cannot. No such user
    /// has a record, and saving one is [`Error::InvalidInput`].
    fn unstorable(user_id: &str) -> Option<&'static str> {
        let _ = user_id;
        None
    }
}

/// A versioned compare-and-swap store on a sqlx pool of backend `B`.
#[derive(Debug)]
pub(crate) struct SqlStore<B: Backend> {
    pool: Pool<B>,
    timeout: Duration,
}

impl<B: Backend> Clone for SqlStore<B> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            timeout: self.timeout,
        }
    }
}

impl<B: Backend> SqlStore<B> {
    /// The underlying pool.
    pub(crate) fn pool(&self) -> &Pool<B> {
        &self.pool
    }

    /// Sets the bound on each load and save.
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `work` within the operation timeout.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(Error::store_unavailable(format!(
                    "the {} store did not answer within {:?}",
                    <B as Database>::NAME,
                    self.timeout
                )))
            })
    }
}

impl<B: Backend> SqlStore<B>
where
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    B::Arguments: IntoArguments<B>,
    i64: Type<B> + for<'q> Encode<'q, B>,
    String: Type<B> + for<'q> Encode<'q, B>,
    Vec<u8>: Type<B> + for<'q> Encode<'q, B>,
    Option<Vec<u8>>: Type<B> + for<'q> Encode<'q, B>,
    for<'r> (Option<i64>,): FromRow<'r, B::Row>,
    for<'r> (Vec<u8>,): FromRow<'r, B::Row>,
    for<'r> (String,): FromRow<'r, B::Row>,
    for<'r> (i64, Option<Vec<u8>>, String): FromRow<'r, B::Row>,
{
    /// A store on `pool`, its schema created or migrated, with the default
    /// operation timeout (which also bounds the migration).
    pub(crate) async fn open(pool: Pool<B>) -> Result<Self> {
        let store = SqlStore {
            pool,
            timeout: DEFAULT_TIMEOUT,
        };
        store.bounded(store.migrate()).await?;
        Ok(store)
    }

    /// Applies the missing migrations in one transaction that first takes the
    /// backend's migration lock, so that of several processes starting at once
    /// one migrates and the others wait and then find the work done.
    async fn migrate(&self) -> Result<()> {
        let conn = self
            .pool
            .acquire()
            .await
            .map_err(Error::store_unavailable)?;
        let mut conn = Migrating {
            conn,
            done: B::UNLOCK_MIGRATIONS.is_none(),
        };
        let mut tx = conn
            .conn
            // A `SqlStr`, not the `&'static str`: a future holding the latter
            // is not provably `Send` for every lifetime.
            .begin_with(B::BEGIN_MIGRATION.into_sql_str())
            .await
            .map_err(Error::store_unavailable)?;
        if let Some(lock) = B::LOCK_MIGRATIONS {
            let (taken,): (Option<i64>,) = sqlx::query_as(lock)
                .fetch_one(&mut *tx)
                .await
                .map_err(Error::store_unavailable)?;
            if taken != Some(1) {
                return Err(Error::store_unavailable(format!(
                    "the {} migration lock could not be taken",
                    <B as Database>::NAME
                )));
            }
        }
        Self::apply(&mut tx)
            .await
            .map_err(Error::store_unavailable)?;
        tx.commit().await.map_err(Error::store_unavailable)?;
        if let Some(unlock) = B::UNLOCK_MIGRATIONS {
            sqlx::raw_sql(unlock)
                .execute(&mut *conn.conn)
                .await
                .map_err(Error::store_unavailable)?;
        }
        conn.done = true;
        Ok(())
    }

    /// Creates the migrations table if needed and applies the pending steps,
    /// each with the row that records it, inside the migration transaction.
    async fn apply(tx: &mut Transaction<'_, B>) -> sqlx::Result<()> {
        sqlx::raw_sql(B::CREATE_MIGRATIONS_TABLE)
            .execute(&mut **tx)
            .await?;
        let (applied,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM mfa_schema_migrations")
                .fetch_one(&mut **tx)
                .await?;
        for ((version, description), sql) in pending(&B::MIGRATIONS, applied.unwrap_or(0)) {
            sqlx::raw_sql(sql).execute(&mut **tx).await?;
            sqlx::query(B::RECORD_MIGRATION)
                .bind(version)
                .bind(description.to_owned())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Loads the user's row.
    pub(crate) async fn load(&self, user_id: &str) -> Result<Option<Versioned<MfaEnrollment>>> {
        if B::unstorable(user_id).is_some() {
            return Ok(None);
        }
        let query = sqlx::query_as::<_, (i64, Option<Vec<u8>>, String)>(B::SELECT)
            .bind(user_id.to_owned())
            .fetch_optional(&self.pool);
        let row = self
            .bounded(async { query.await.map_err(db_error) })
            .await?;
        row.map(|(version, write_id, record)| decode_row(version, write_id.as_deref(), &record))
            .transpose()
    }

    /// The compare-and-swap save of [`MfaStore::save`](super::MfaStore::save),
    /// with the credential index (see the module documentation).
    pub(crate) async fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> Result<u64> {
        if let Some(reason) = B::unstorable(user_id) {
            return Err(Error::InvalidInput(reason));
        }
        let Some((expected, new)) = cas_versions(expected) else {
            return Err(Error::StoreConflict);
        };
        let ids = CredentialIds::of(record)?;
        let row = NewRow {
            user_id: user_id.to_owned(),
            version: new,
            record: record.to_json(),
            write_id: write_id.to_bytes().to_vec(),
            credential_ids: ids.stored(),
        };
        self.bounded(async {
            let query = match expected {
                // The first record: a user without a row has no index rows,
                // so only one holding credential ids needs the transaction.
                None if ids.is_empty() => row.insert::<B>(),
                None => return self.reindex(&row, None, &ids).await,
                Some(expected) => row.update::<B>(B::UPDATE, expected),
            };
            let written = match query.execute(&self.pool).await {
                // Backends without `ON CONFLICT DO NOTHING` refuse the
                // second first record outright.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => 0,
                Err(e) => return Err(db_error(e)),
                Ok(done) => B::ROWS_AFFECTED(&done),
            };
            match expected {
                // The set changed, or the version did: the transaction
                // tells which.
                Some(expected) if written == 0 => self.reindex(&row, Some(expected), &ids).await,
                _ => cas_outcome(written, new),
            }
        })
        .await
    }

    /// The save that changes the user's index rows, in one transaction: the
    /// compare-and-swap (which also stores the new set and locks the row),
    /// then the index made the record's ids. Rolled back on any error.
    async fn reindex(
        &self,
        row: &NewRow,
        expected: Option<i64>,
        ids: &CredentialIds<'_>,
    ) -> Result<u64> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let mut tx = conn
            .begin_with(B::BEGIN_SAVE.into_sql_str())
            .await
            .map_err(db_error)?;
        match Self::reindex_in(&mut tx, row, expected, ids).await {
            Ok(version) => {
                tx.commit().await.map_err(save_error::<B>)?;
                Ok(version)
            }
            Err(e) => {
                // Dropping the transaction rolls it back too; this only
                // does it before the connection goes back to the pool. A
                // connection that failed has nothing left to roll back.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn reindex_in(
        tx: &mut Transaction<'_, B>,
        row: &NewRow,
        expected: Option<i64>,
        ids: &CredentialIds<'_>,
    ) -> Result<u64> {
        let cas = match expected {
            None => row.insert::<B>(),
            Some(expected) => row.update::<B>(B::UPDATE_REINDEX, expected),
        };
        let written = match cas.execute(&mut **tx).await {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => 0,
            Err(e) => return Err(save_error::<B>(e)),
            Ok(done) => B::ROWS_AFFECTED(&done),
        };
        let version = cas_outcome(written, row.version)?;
        // The row is locked until the commit, and every change to this
        // user's index rows is made under that lock, so none is pending and
        // each committed one is seen: this plain read takes its snapshot
        // after the lock (each statement's own under READ COMMITTED; MySQL's
        // REPEATABLE READ view is taken at the first plain read, this one),
        // and under a PostgreSQL REPEATABLE READ or SERIALIZABLE default an
        // update that waited for a newer row fails (40001) instead.
        let indexed: Vec<(Vec<u8>,)> = sqlx::query_as(B::SELECT_CREDENTIALS)
            .bind(row.user_id.clone())
            .fetch_all(&mut **tx)
            .await
            .map_err(save_error::<B>)?;
        let indexed: BTreeSet<Vec<u8>> = indexed.into_iter().map(|(id,)| id).collect();
        for gone in indexed.iter().filter(|id| !ids.contains(id)) {
            sqlx::query(B::DELETE_CREDENTIAL)
                .bind(gone.clone())
                .bind(row.user_id.clone())
                .execute(&mut **tx)
                .await
                .map_err(save_error::<B>)?;
        }
        // Ascending, as every save inserts, so that two saves never wait
        // for each other's ids in opposite orders.
        for new in ids.iter().filter(|id| !indexed.contains(*id)) {
            sqlx::query(B::INSERT_CREDENTIAL)
                .bind(new.to_vec())
                .bind(row.user_id.clone())
                .execute(&mut **tx)
                .await
                .map_err(|e| match e {
                    sqlx::Error::Database(e) if e.is_unique_violation() => {
                        Error::PasskeyAlreadyRegistered
                    }
                    e => save_error::<B>(e),
                })?;
        }
        Ok(version)
    }

    /// The owner of `credential_id` in the index, for
    /// [`MfaStore::passkey_owner`](super::MfaStore::passkey_owner).
    pub(crate) async fn passkey_owner(&self, credential_id: &[u8]) -> Result<Option<String>> {
        if !CredentialIds::storable(credential_id) {
            return Ok(None);
        }
        let query = sqlx::query_as::<_, (String,)>(B::SELECT_OWNER)
            .bind(credential_id.to_vec())
            .fetch_optional(&self.pool);
        let row = self
            .bounded(async { query.await.map_err(db_error) })
            .await?;
        Ok(row.map(|(user_id,)| user_id))
    }
}

/// Maps a failure within a save: a deadlock or serialization failure of
/// the backend ([`Backend::RETRY_CODES`]) aborted the transaction, which is
/// a [`Error::StoreConflict`] to retry; anything else as [`db_error`].
fn save_error<B: Backend>(e: sqlx::Error) -> Error {
    let retry = e
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| B::RETRY_CODES.contains(&&*code));
    if retry {
        Error::StoreConflict
    } else {
        db_error(e)
    }
}

/// The connection migrations run on. When the backend's migration lock is
/// held by the session, the connection is closed, not pooled, unless the
/// migration finished: an error or a cancelled future must not leave the lock
/// with an idle pooled connection.
struct Migrating<DB: Database> {
    conn: PoolConnection<DB>,
    done: bool,
}

impl<DB: Database> Drop for Migrating<DB> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.close_on_drop();
        }
    }
}

/// `url` as the connect options of backend `B`, or [`Error::InvalidConfig`]
/// saying `invalid`.
pub(crate) fn connect_options<B: Backend>(
    url: &str,
    invalid: &'static str,
) -> Result<<B::Connection as Connection>::Options> {
    url.parse().map_err(|_| Error::InvalidConfig(invalid))
}

/// The steps a store has not applied yet, given the highest applied version,
/// each with its SQL from `migrations` (a backend's [`Backend::MIGRATIONS`]).
///
/// A database migrated by a newer release (a higher version than this release
/// knows) is used as it is: migrations only ever add, so older servers keep
/// working during a rolling upgrade.
pub(crate) fn pending(
    migrations: &'static [&'static str; STEPS.len()],
    applied: i64,
) -> impl Iterator<Item = ((i64, &'static str), &'static str)> {
    STEPS
        .into_iter()
        .zip(migrations.iter().copied())
        .filter(move |((version, _), _)| *version > applied)
}

/// Maps a database failure to [`Error::StoreUnavailable`], except values that
/// cannot be decoded, which are [`Error::CorruptRecord`].
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            Error::CorruptRecord(format!("a stored column could not be decoded: {e}"))
        }
        other => Error::store_unavailable(other),
    }
}

/// The `(expected, new)` versions of a compare-and-swap as database integers,
/// or `None` when `expected` is beyond any version a row can hold, in which
/// case the save can only conflict.
pub(crate) fn cas_versions(expected: Option<u64>) -> Option<(Option<i64>, i64)> {
    let new = i64::try_from(next_version(expected)).ok()?;
    match expected {
        None => Some((None, new)),
        Some(v) => Some((Some(i64::try_from(v).ok()?), new)),
    }
}

/// Decodes one stored row. A row written before write identities were
/// stored has none (`NULL`) and loads as [`WriteId::NONE`].
pub(crate) fn decode_row(
    version: i64,
    write_id: Option<&[u8]>,
    record: &str,
) -> Result<Versioned<MfaEnrollment>> {
    let version = u64::try_from(version)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Error::CorruptRecord(format!("stored version {version} is not positive")))?;
    let write_id = match write_id {
        None => WriteId::NONE,
        Some(bytes) => WriteId::from_bytes(bytes.try_into().map_err(|_| {
            Error::CorruptRecord(format!("stored write id has {} bytes, not 16", bytes.len()))
        })?),
    };
    Ok(Versioned::new(
        version,
        write_id,
        MfaEnrollment::from_json(record)?,
    ))
}

/// The outcome of a compare-and-swap statement.
pub(crate) fn cas_outcome(rows_affected: u64, new_version: i64) -> Result<u64> {
    if rows_affected == 1 {
        // `new_version` came from `next_version`, a u64.
        Ok(new_version.unsigned_abs())
    } else {
        Err(Error::StoreConflict)
    }
}

#[cfg(test)]
mod tests;
