//! `MemoryStore` passes the store conformance suite.

use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    mfa::testkit::conformance::run(Arc::new(mfa::MemoryStore::new())).await;
}

/// A store that ignores the expected version: the suite must reject it.
#[derive(Default)]
struct LastWriterWins(
    std::sync::Mutex<std::collections::HashMap<String, (u64, mfa::MfaEnrollment)>>,
);

impl mfa::MfaStore for LastWriterWins {
    async fn load(
        &self,
        user_id: &str,
    ) -> mfa::Result<Option<mfa::store::Versioned<mfa::MfaEnrollment>>> {
        let map = self.0.lock().unwrap();
        Ok(map.get(user_id).map(|(version, record)| {
            mfa::store::Versioned::new(*version, mfa::store::WriteId::NONE, record.clone())
        }))
    }

    async fn save(
        &self,
        user_id: &str,
        _expected: Option<u64>,
        record: &mfa::MfaEnrollment,
        _write_id: mfa::store::WriteId,
    ) -> mfa::Result<u64> {
        let mut map = self.0.lock().unwrap();
        let version = map.get(user_id).map_or(1, |(v, _)| v + 1);
        map.insert(user_id.to_owned(), (version, record.clone()));
        Ok(version)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_rejects_a_store_without_compare_and_swap() {
    let outcome = tokio::spawn(mfa::testkit::conformance::run(Arc::new(
        LastWriterWins::default(),
    )))
    .await;
    assert!(outcome.expect_err("the suite must fail").is_panic());
}

/// A compare-and-swap store that forgets write identities: the suite must
/// reject it, since the service could then never tell its own interrupted
/// write from a racing twin's.
#[derive(Default)]
struct ForgetsWriteIds(mfa::MemoryStore);

impl mfa::MfaStore for ForgetsWriteIds {
    async fn load(
        &self,
        user_id: &str,
    ) -> mfa::Result<Option<mfa::store::Versioned<mfa::MfaEnrollment>>> {
        Ok(self
            .0
            .load(user_id)
            .await?
            .map(|v| mfa::store::Versioned::new(v.version, mfa::store::WriteId::NONE, v.record)))
    }

    async fn save(
        &self,
        user_id: &str,
        expected: Option<u64>,
        record: &mfa::MfaEnrollment,
        write_id: mfa::store::WriteId,
    ) -> mfa::Result<u64> {
        self.0.save(user_id, expected, record, write_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_rejects_a_store_that_forgets_write_identities() {
    let outcome = tokio::spawn(mfa::testkit::conformance::run(Arc::new(
        ForgetsWriteIds::default(),
    )))
    .await;
    assert!(outcome.expect_err("the suite must fail").is_panic());
}
