//! The in-memory store: the embedded default, and the reference for the conformance suite.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use super::{MfaStore, Versioned, WriteId, next_version};
use crate::enrollment::MfaEnrollment;
use crate::error::{Error, Result};

/// Keeps records in a process-local map. Compare-and-swap is a check under a
/// mutex that is never held across an `.await`. Nothing survives a restart:
/// for tests, demos and single-process tools.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, Versioned<MfaEnrollment>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Versioned<MfaEnrollment>>> {
        // A panic elsewhere while holding the lock cannot leave a half-written
        // record: every update is a single insert.
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl MfaStore for MemoryStore {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<MfaEnrollment>>>> + Send {
        let found = self.map().get(user_id).cloned();
        std::future::ready(Ok(found))
    }

    fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &MfaEnrollment,
        write_id: WriteId,
    ) -> impl Future<Output = Result<u64>> + Send {
        let mut map = self.map();
        let current = map.get(user_id).map(|v| v.version);
        let result = if current == expected {
            let version = next_version(expected);
            map.insert(
                user_id.to_owned(),
                Versioned::new(version, write_id, record.clone()),
            );
            Ok(version)
        } else {
            Err(Error::StoreConflict)
        };
        std::future::ready(result)
    }
}
