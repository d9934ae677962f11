//! Persistence: an async, versioned compare-and-swap store of enrollments.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::future::Future;
use std::sync::Arc;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::enrollment::MfaEnrollment;
use crate::error::Result;

/// A record with the version it was stored at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The version: 1 for the first save, then one more for every save.
    pub version: u64,
    /// The record.
    pub record: T,
}

/// Stores one [`MfaEnrollment`] per user id, with compare-and-swap saves.
///
/// Contract (checked by `mfa::testkit::conformance`):
///
/// - `load` returns `None` for a user with no record.
/// - `save(user, None, r)` inserts only if the user has no record, storing
///   version 1; `save(user, Some(v), r)` replaces the record only if its
///   version is still `v`, storing `v + 1`. Either way the new version is
///   returned, or [`Error::StoreConflict`](crate::Error::StoreConflict) if the
///   condition failed, with nothing written.
/// - A save is atomic: after any error, the stored record is either the old
///   one or the new one, never a mixture.
/// - Failures to reach the backend are [`Error::StoreUnavailable`](crate::Error::StoreUnavailable);
///   unreadable records are [`Error::CorruptRecord`](crate::Error::CorruptRecord).
///
/// Records are never deleted through this trait: a disabled factor is saved as
/// [`MfaEnrollment::Disabled`], which keeps versions increasing and so rules
/// out ABA races.
pub trait MfaStore: Send + Sync {
    /// Loads the user's record and its version.
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<MfaEnrollment>>>> + Send;

    /// Saves `record` if the stored version is still `expected`; returns the new version.
    fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
    ) -> impl Future<Output = Result<u64>> + Send;
}

impl<S: MfaStore + ?Sized> MfaStore for Arc<S> {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<MfaEnrollment>>>> + Send {
        (**self).load(user_id)
    }

    fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
    ) -> impl Future<Output = Result<u64>> + Send {
        (**self).save(user_id, expected, record)
    }
}

impl<S: MfaStore + ?Sized> MfaStore for &S {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<MfaEnrollment>>>> + Send {
        (**self).load(user_id)
    }

    fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
    ) -> impl Future<Output = Result<u64>> + Send {
        (**self).save(user_id, expected, record)
    }
}

/// The version a successful save stores.
pub(crate) fn next_version(expected: Option<u64>) -> u64 {
    expected.map_or(1, |v| v.saturating_add(1))
}
