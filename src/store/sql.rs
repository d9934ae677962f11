//! The one SQL store: migrations, load, compare-and-swap save and operation
//! timeouts, written once over [`sqlx`] for every SQL backend.
//!
//! A backend (SQLite, PostgreSQL, MySQL) implements [`Backend`]: its
//! statements, how it serialises migrations across processes, and which user
//! ids it cannot hold. Its public type is declared with [`sql_store!`], a
//! newtype over [`SqlStore`] to which the backend adds only its own `connect`.
//!
//! Every store keeps one row per user in `mfa_enrollments` and records the
//! schema version in a table of its own, `mfa_schema_migrations`, so that it
//! never touches the `_sqlx_migrations` table of a host that runs its own sqlx
//! migrations in the same database.

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
pub(crate) const STEPS: [(i64, &str); 2] =
    [(1, "mfa_enrollments"), (2, "mfa_enrollments.write_id")];

/// What a SQL database (its sqlx driver) brings to [`SqlStore`]: its
/// statements and what is truly its own. Statements bind their parameters in
/// the order given, so the same binding serves numbered (`$1`, `?1`) and
/// positional (`?`) placeholders.
pub(crate) trait Backend: Database {
    /// One user's `version, write_id, record`. Binds: user id.
    const SELECT: &'static str;

    /// A user's first record, at version 1: writes nothing (or fails with a
    /// unique violation) if the user has a row. Binds: user id, version,
    /// record, write id.
    const INSERT: &'static str;

    /// The compare-and-swap. Binds: new version, record, write id, user id,
    /// expected version.
    const UPDATE: &'static str;

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
    for<'r> (Option<i64>,): FromRow<'r, B::Row>,
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

    /// The compare-and-swap save of [`MfaStore::save`](super::MfaStore::save).
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
        let (user_id, record, write_id) = (
            user_id.to_owned(),
            record.to_json(),
            write_id.to_bytes().to_vec(),
        );
        let query = match expected {
            None => sqlx::query(B::INSERT)
                .bind(user_id)
                .bind(new)
                .bind(record)
                .bind(write_id),
            Some(expected) => sqlx::query(B::UPDATE)
                .bind(new)
                .bind(record)
                .bind(write_id)
                .bind(user_id)
                .bind(expected),
        };
        let done = self
            .bounded(async {
                match query.execute(&self.pool).await {
                    // Backends without `ON CONFLICT DO NOTHING` refuse the
                    // second first record outright.
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(0),
                    Err(e) => Err(db_error(e)),
                    Ok(done) => Ok(B::ROWS_AFFECTED(&done)),
                }
            })
            .await?;
        cas_outcome(done, new)
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

/// Declares the public type of a SQL store: a newtype over [`SqlStore`] with
/// `from_pool`, `with_timeout`, `pool` and its [`MfaStore`](super::MfaStore)
/// implementation. The backend's module adds its own `connect`.
macro_rules! sql_store {
    (
        $(#[$attr:meta])*
        pub struct $name:ident(SqlStore<$backend:ty>);
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone)]
        pub struct $name(crate::store::sql::SqlStore<$backend>);

        impl $name {
            /// The statement a load runs (one row by primary key), for hosts
            /// and benches that check its query plan with `EXPLAIN`. Binds:
            /// user id.
            pub const LOAD_SQL: &'static str =
                <$backend as crate::store::sql::Backend>::SELECT;

            /// The statement of a save that inserts a user's first record.
            /// Binds: user id, version, record, write id.
            pub const INSERT_SQL: &'static str =
                <$backend as crate::store::sql::Backend>::INSERT;

            /// The compare-and-swap statement of every later save (one row by
            /// primary key, only while its version is the expected one), for
            /// `EXPLAIN` as [`LOAD_SQL`](Self::LOAD_SQL). Binds: new version,
            /// record, write id, user id, expected version.
            pub const UPDATE_SQL: &'static str =
                <$backend as crate::store::sql::Backend>::UPDATE;

            #[doc = concat!(
                "Uses a pool the host already has (for example the one holding its ",
                "users table) and creates or migrates the schema in it. The pool's own ",
                "settings apply (see [`", stringify!($name), "::connect`] for the ones ",
                "this store chooses; give the pool an acquire timeout of a few seconds), ",
                "and every load and save is still bounded by the store's operation ",
                "timeout (10 s unless set with [`", stringify!($name), "::with_timeout`]).",
            )]
            ///
            /// # Errors
            /// [`Error::StoreUnavailable`](crate::Error::StoreUnavailable) if the
            /// schema cannot be created or migrated within the operation timeout.
            pub async fn from_pool(pool: sqlx::Pool<$backend>) -> crate::Result<Self> {
                crate::store::sql::SqlStore::open(pool).await.map(Self)
            }

            /// Sets how long any one load or save may take before it fails with
            /// [`Error::StoreUnavailable`](crate::Error::StoreUnavailable)
            /// (default 10 s). A save that times out may or may not have been
            /// written, exactly as when the connection drops while the database
            /// commits; either way the caller sees an error and no one-time
            /// output.
            pub fn with_timeout(self, timeout: std::time::Duration) -> Self {
                Self(self.0.with_timeout(timeout))
            }

            /// The underlying pool, for the host's own queries.
            pub fn pool(&self) -> &sqlx::Pool<$backend> {
                self.0.pool()
            }
        }

        impl crate::store::MfaStore for $name {
            fn load(
                &self,
                user_id: &str,
            ) -> impl std::future::Future<
                Output = crate::Result<Option<crate::store::Versioned<crate::MfaEnrollment>>>,
            > + Send {
                self.0.load(user_id)
            }

            fn save(
                &self,
                user_id: &str,
                expected: Option<u64>,
                record: &crate::MfaEnrollment,
                write_id: crate::store::WriteId,
            ) -> impl std::future::Future<Output = crate::Result<u64>> + Send {
                self.0.save(user_id, expected, record, write_id)
            }
        }
    };
}

pub(crate) use sql_store;

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
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_database_integers() {
        assert_eq!(cas_versions(None), Some((None, 1)));
        assert_eq!(cas_versions(Some(1)), Some((Some(1), 2)));
        assert_eq!(cas_versions(Some(i64::MAX as u64)), None);
        assert_eq!(cas_versions(Some(u64::MAX)), None);
    }

    #[test]
    fn rows_decode_or_report_corruption() {
        let disabled = MfaEnrollment::default().to_json();
        let ok = decode_row(3, Some(&[7; 16]), &disabled).expect("valid row");
        assert_eq!(
            (ok.version, ok.write_id, ok.record),
            (3, WriteId::from_bytes([7; 16]), MfaEnrollment::default())
        );
        let legacy = decode_row(3, None, &disabled).expect("row from before write ids");
        assert_eq!(legacy.write_id, WriteId::NONE);
        for version in [0, -1, i64::MIN] {
            assert!(matches!(
                decode_row(version, None, &disabled),
                Err(Error::CorruptRecord(_))
            ));
        }
        assert!(matches!(
            decode_row(1, Some(&[7; 15]), &disabled),
            Err(Error::CorruptRecord(_))
        ));
        assert!(matches!(
            decode_row(1, None, "{"),
            Err(Error::CorruptRecord(_))
        ));
    }

    #[test]
    fn only_one_row_is_a_successful_swap() {
        assert_eq!(cas_outcome(1, 5).expect("swapped"), 5);
        assert!(matches!(cas_outcome(0, 5), Err(Error::StoreConflict)));
    }

    #[test]
    fn decode_failures_are_corruption_and_the_rest_unavailability() {
        assert!(matches!(
            db_error(sqlx::Error::PoolTimedOut),
            Error::StoreUnavailable(_)
        ));
        assert!(matches!(
            db_error(sqlx::Error::Decode("bad".into())),
            Error::CorruptRecord(_)
        ));
    }

    #[test]
    fn pending_steps_are_the_newer_ones() {
        const SQL: [&str; STEPS.len()] = ["one", "two"];
        let pending = |applied| pending(&SQL, applied).collect::<Vec<_>>();
        assert_eq!(pending(0), [(STEPS[0], "one"), (STEPS[1], "two")]);
        assert_eq!(pending(1), [(STEPS[1], "two")]);
        assert_eq!(pending(2), []);
        // A database migrated by a newer release is used as it is.
        assert_eq!(pending(3), []);
    }

    #[test]
    fn steps_are_numbered_from_one_without_gaps() {
        for (i, (version, _)) in STEPS.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1);
        }
    }
}
