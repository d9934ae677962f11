//! `MemoryStore` passes the store conformance suite.

use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    mfa::testkit::conformance::run(Arc::new(mfa::MemoryStore::new())).await;
}
