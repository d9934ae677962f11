//! What a save writes: the row's values, and the record's credential ids
//! as the passkey index keeps them.

use std::collections::BTreeSet;

use sqlx::{Encode, Type};

use super::{Backend, MAX_CREDENTIAL_ID_BYTES};
use crate::enrollment::MfaEnrollment;
use crate::error::{Error, Result};

/// The values a save writes into the user's row.
pub(super) struct NewRow {
    pub(super) user_id: String,
    pub(super) version: i64,
    pub(super) record: String,
    pub(super) write_id: Vec<u8>,
    pub(super) credential_ids: Option<Vec<u8>>,
}

impl NewRow {
    /// [`Backend::INSERT`] of this row.
    pub(super) fn insert<B: Backend>(&self) -> sqlx::query::Query<'static, B, B::Arguments>
    where
        i64: Type<B> + for<'q> Encode<'q, B>,
        String: Type<B> + for<'q> Encode<'q, B>,
        Vec<u8>: Type<B> + for<'q> Encode<'q, B>,
        Option<Vec<u8>>: Type<B> + for<'q> Encode<'q, B>,
    {
        sqlx::query(B::INSERT)
            .bind(self.user_id.clone())
            .bind(self.version)
            .bind(self.record.clone())
            .bind(self.write_id.clone())
            .bind(self.credential_ids.clone())
    }

    /// `update` ([`Backend::UPDATE`] or [`Backend::UPDATE_REINDEX`]) of
    /// this row from version `expected`.
    pub(super) fn update<B: Backend>(
        &self,
        update: &'static str,
        expected: i64,
    ) -> sqlx::query::Query<'static, B, B::Arguments>
    where
        i64: Type<B> + for<'q> Encode<'q, B>,
        String: Type<B> + for<'q> Encode<'q, B>,
        Vec<u8>: Type<B> + for<'q> Encode<'q, B>,
        Option<Vec<u8>>: Type<B> + for<'q> Encode<'q, B>,
    {
        sqlx::query(update)
            .bind(self.version)
            .bind(self.record.clone())
            .bind(self.write_id.clone())
            .bind(self.credential_ids.clone())
            .bind(self.user_id.clone())
            .bind(expected)
    }
}

/// The credential ids of a record as the index keeps them: each once, in
/// ascending byte order.
pub(crate) struct CredentialIds<'a>(pub(super) BTreeSet<&'a [u8]>);

impl<'a> CredentialIds<'a> {
    /// The ids of `record`, or [`Error::InvalidInput`] for one the index
    /// cannot hold (empty, or longer than [`MAX_CREDENTIAL_ID_BYTES`]; the
    /// record format refuses them too).
    pub(crate) fn of(record: &'a MfaEnrollment) -> Result<Self> {
        let ids: BTreeSet<&[u8]> = record.credential_ids().collect();
        if !ids.iter().all(|id| Self::storable(id)) {
            return Err(Error::InvalidInput(
                "a passkey credential id is empty or longer than 1023 bytes",
            ));
        }
        Ok(CredentialIds(ids))
    }

    /// Whether the index can hold `id`.
    pub(crate) fn storable(id: &[u8]) -> bool {
        (1..=MAX_CREDENTIAL_ID_BYTES).contains(&id.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn contains(&self, id: &[u8]) -> bool {
        self.0.contains(id)
    }

    /// Ascending.
    pub(super) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.0.iter().copied()
    }

    /// The value of the `credential_ids` column: `NULL` for none, otherwise
    /// each id in ascending order after its length (two bytes, big-endian),
    /// so that two sets are equal exactly when their values are.
    pub(crate) fn stored(&self) -> Option<Vec<u8>> {
        if self.0.is_empty() {
            return None;
        }
        let mut stored = Vec::with_capacity(self.0.iter().map(|id| id.len() + 2).sum());
        for id in &self.0 {
            // At most 1023: `of` checked.
            let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
            stored.extend_from_slice(&len.to_be_bytes());
            stored.extend_from_slice(id);
        }
        Some(stored)
    }
}
