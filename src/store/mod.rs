//! Persistence: an async, versioned compare-and-swap store of enrollments.

mod memory;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use rand::RngExt;

pub use memory::MemoryStore;
#[cfg(feature = "mysql")]
pub use mysql::MysqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::enrollment::MfaEnrollment;
use crate::error::Result;

/// The identity of one write: 128 random bits the writer draws for each save
/// attempt, stored with the row and returned by [`MfaStore::load`].
///
/// After a save whose outcome is unknown (the connection dropped, a timeout),
/// the service reads the record back and claims the write as its own only if
/// the stored `WriteId` is the one it drew (invariant I11 in ARCHITECTURE.md).
/// Comparing contents instead would be wrong: two requests racing with the
/// same code in the same second build byte-identical records.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteId([u8; 16]);

impl WriteId {
    /// The identity of rows written before write identities were stored. No
    /// writer ever draws it, so it is never mistaken for a write of its own.
    pub const NONE: WriteId = WriteId([0; 16]);

    /// A fresh random identity (never [`WriteId::NONE`]).
    pub fn random() -> Self {
        let mut rng = rand::rng();
        loop {
            let id = WriteId(rng.random());
            if id != WriteId::NONE {
                return id;
            }
        }
    }

    /// An identity from the 16 bytes a store kept.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        WriteId(bytes)
    }

    /// The 16 bytes to store.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl fmt::Debug for WriteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteId(")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// A record with the version it was stored at and the identity of the write
/// that stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Versioned<T> {
    /// The version: 1 for the first save, then one more for every save.
    pub version: u64,
    /// The identity the save that stored this version was given.
    pub write_id: WriteId,
    /// The record.
    pub record: T,
}

impl<T> Versioned<T> {
    /// A loaded record, for implementers of [`MfaStore::load`].
    pub fn new(version: u64, write_id: WriteId, record: T) -> Self {
        Versioned {
            version,
            write_id,
            record,
        }
    }
}

/// Stores one [`MfaEnrollment`] per user id, with compare-and-swap saves.
///
/// Contract (checked by `mfa::testkit::conformance`):
///
/// - `load` returns `None` for a user with no record.
/// - `save(user, None, r, id)` inserts only if the user has no record, storing
///   version 1; `save(user, Some(v), r, id)` replaces the record only if its
///   version is still `v`, storing `v + 1`. Either way the new version is
///   returned, or [`Error::StoreConflict`](crate::Error::StoreConflict) if the
///   condition failed, with nothing written.
/// - The write identity `id` is stored with the record, in the same atomic
///   write, and `load` returns it as [`Versioned::write_id`] until the next
///   save replaces it. A store must never invent, reuse or drop it: the
///   service decides whether an interrupted save landed by comparing it
///   (I11), and a store that returned a stale identity could make one backup
///   code log in twice. Rows that predate write identities load as
///   [`WriteId::NONE`].
/// - A save is atomic: after any error, the stored record is either the old
///   one or the new one, never a mixture.
/// - Failures to reach the backend are [`Error::StoreUnavailable`](crate::Error::StoreUnavailable);
///   unreadable records are [`Error::CorruptRecord`](crate::Error::CorruptRecord).
///
/// - **The credential index (I15).** A store that holds passkeys keeps an
///   index from each WebAuthn credential id of a record
///   ([`MfaEnrollment::credential_ids`]) to its user, written in the same
///   atomic write as the compare-and-swap: a save whose record holds a
///   credential id that another user's record holds fails with
///   [`Error::PasskeyAlreadyRegistered`](crate::Error::PasskeyAlreadyRegistered),
///   writing nothing, and a saved record's ids replace the user's earlier
///   ones. [`MfaStore::passkey_owner`] reads it. A store without one keeps
///   the default, which refuses passkeys (the service registers none).
///
/// Records are never deleted through this trait: a disabled factor is saved as
/// [`MfaEnrollment::default()`], which keeps versions increasing and so rules
/// out ABA races.
pub trait MfaStore: Send + Sync {
    /// Loads the user's record and its version.
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<MfaEnrollment>>>> + Send;

    /// Saves `record`, stamped with `write_id`, if the stored version is still
    /// `expected`; returns the new version.
    fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// The user whose saved record holds the WebAuthn credential
    /// `credential_id`, from the credential index (I15).
    ///
    /// # Errors
    /// The default, for a store without an index:
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    fn passkey_owner(
        &self,
        credential_id: &[u8],
    ) -> impl Future<Output = Result<Option<String>>> + Send {
        let _ = credential_id;
        std::future::ready(Err(crate::Error::InvalidConfig(
            "this store keeps no passkey credential index",
        )))
    }
}

/// Implements [`MfaStore`] for a handle by handing every call to the store
/// it reaches: `forward_store!(impl[generics] for Handle => |this| store)`,
/// where `store` is an expression of `this: &Handle`. Serves `Arc<S>`,
/// `&S` and the SQL stores' newtypes, so the three cannot drift apart.
macro_rules! forward_store {
    (impl[$($generics:tt)*] for $handle:ty => |$this:ident| $store:expr) => {
        impl<$($generics)*> $crate::store::MfaStore for $handle {
            fn load(
                &self,
                user_id: &str,
            ) -> impl ::std::future::Future<
                Output = $crate::Result<Option<$crate::store::Versioned<$crate::MfaEnrollment>>>,
            > + Send {
                let $this = self;
                $store.load(user_id)
            }

            fn save(
                &self,
                user_id: &str,
                expected: Option<u64>,
                record: &$crate::MfaEnrollment,
                write_id: $crate::store::WriteId,
            ) -> impl ::std::future::Future<Output = $crate::Result<u64>> + Send {
                let $this = self;
                $store.save(user_id, expected, record, write_id)
            }

            fn passkey_owner(
                &self,
                credential_id: &[u8],
            ) -> impl ::std::future::Future<Output = $crate::Result<Option<String>>> + Send {
                let $this = self;
                $store.passkey_owner(credential_id)
            }
        }
    };
}

// For the SQL stores' newtypes (`sql/newtype.rs`).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) use forward_store;

forward_store!(impl[S: MfaStore + ?Sized] for Arc<S> => |this| &**this);
forward_store!(impl[S: MfaStore + ?Sized] for &S => |this| &**this);

/// The version a successful save stores.
pub(crate) fn next_version(expected: Option<u64>) -> u64 {
    expected.map_or(1, |v| v.saturating_add(1))
}
