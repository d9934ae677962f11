//! The in-memory store: the embedded default, and the reference for the conformance suite.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{MfaStore, Versioned, WriteId, next_version};
use crate::enrollment::MfaEnrollment;
use crate::error::{Error, Result};

/// Keeps records in a process-local map. Compare-and-swap is a check under a
/// mutex that is never held across an `.await`. Nothing survives a restart:
/// for tests, demos and single-process tools.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// The records and the credential index (I15), changed together.
#[derive(Debug, Default)]
struct Inner {
    records: HashMap<String, Versioned<MfaEnrollment>>,
    owners: HashMap<Vec<u8>, String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave a half-written
        // record: a save checks everything before it changes anything.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl MfaStore for MemoryStore {
    // Each method runs to its end on the first poll, holding the lock
    // throughout and never across an `.await` (there is none).
    async fn load(&self, user_id: &str) -> Result<Option<Versioned<MfaEnrollment>>> {
        Ok(self.inner().records.get(user_id).cloned())
    }

    async fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> Result<u64> {
        let mut inner = self.inner();
        let current = inner.records.get(user_id).map(|v| v.version);
        if current != expected {
            return Err(Error::StoreConflict);
        }
        if record
            .credential_ids()
            .any(|id| inner.owners.get(id).is_some_and(|owner| owner != user_id))
        {
            return Err(Error::PasskeyAlreadyRegistered);
        }
        let version = next_version(expected);
        let old = inner.records.insert(
            user_id.to_owned(),
            Versioned::new(version, write_id, record.clone()),
        );
        for id in old.iter().flat_map(|old| old.record.credential_ids()) {
            inner.owners.remove(id);
        }
        for id in record.credential_ids() {
            inner.owners.insert(id.to_vec(), user_id.to_owned());
        }
        Ok(version)
    }

    async fn passkey_owner(&self, credential_id: &[u8]) -> Result<Option<String>> {
        Ok(self.inner().owners.get(credential_id).cloned())
    }
}
