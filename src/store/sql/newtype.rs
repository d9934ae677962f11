//! The public type of each SQL store, declared once for every backend.

/// Declares the public type of a SQL store: a newtype over [`SqlStore`] with
/// `from_pool`, `with_timeout`, `pool` and its [`MfaStore`](super::MfaStore)
/// implementation, which hands every call to the [`SqlStore`]. The backend's
/// module adds its own `connect`.
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
            /// Binds: user id, version, record, write id, credential ids (the
            /// record's set of passkey credential ids as the row keeps it;
            /// `NULL` for none).
            pub const INSERT_SQL: &'static str =
                <$backend as crate::store::sql::Backend>::INSERT;

            /// The compare-and-swap statement of every later save that keeps
            /// the record's set of passkey credential ids, as almost all do
            /// (one row by primary key, only while its version is the
            /// expected one and its set the given one), for `EXPLAIN` as
            /// [`LOAD_SQL`](Self::LOAD_SQL). Binds: new version, record,
            /// write id, credential ids (`NULL` for none), user id, expected
            /// version. A save that changes the set runs a transaction that
            /// also writes `mfa_passkey_credentials`.
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

        crate::store::forward_store!(impl[] for $name => |this| &this.0);
    };
}

pub(crate) use sql_store;
