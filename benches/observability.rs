//! What observing an operation costs: `Mfa::verify_totp` with a right code
//! on `MemoryStore` (load, decrypt, two HMACs, the compare-and-swap save,
//! the `TotpAccepted` event), side by side:
//!
//! - `unobserved`: no `tracing` subscriber and no `metrics` recorder, so the
//!   span, the `TracingSink` event and the metrics are disabled call sites;
//! - `observed`: a `tracing-subscriber` JSON formatter (writing to a sink)
//!   and a `metrics` recorder that keeps every value (`metrics-util`'s
//!   debugging recorder), as a server that logs and exports metrics runs.
//!
//! The stored record is put back before each timed call (outside the timed
//! section), so every call verifies the same step. Measured in the thread's
//! CPU time by default; `MFA_BENCH_WALL_TIME=1` measures wall-clock time.

mod common;

use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion};
use metrics_util::debugging::DebuggingRecorder;
use mfa::event::TracingSink;
use mfa::store::{MfaStore, WriteId};
use mfa::totp;
use mfa::{MemoryStore, Mfa};

use common::{NOW, USER};

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let config = common::default_config();
    let records = common::records(&config);
    let code = totp::generate(&records.secret, config.policy().totp.params(), NOW).expect("code");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mfa = Mfa::new(MemoryStore::new(), config)
        .with_clock(|| NOW)
        .with_event_sink(TracingSink);
    // Puts the active record back, whatever the last call saved.
    let reset = || {
        runtime.block_on(async {
            let version = mfa
                .store()
                .load(USER)
                .await
                .expect("loads")
                .map(|v| v.version);
            mfa.store()
                .save(USER, version, &records.active, WriteId::random())
                .await
                .expect("saves");
        })
    };
    reset();
    assert!(runtime.block_on(mfa.verify_totp(USER, &code)).is_ok());

    let subscriber = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::sink)
            .finish(),
    );
    let recorder = DebuggingRecorder::new();
    let mut group = c.benchmark_group("observability: Mfa::verify_totp on MemoryStore");
    group.bench_function("unobserved", |b| {
        b.iter_batched(
            reset,
            |()| runtime.block_on(mfa.verify_totp(USER, black_box(&code))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("observed (tracing JSON + metrics)", |b| {
        tracing::dispatcher::with_default(&subscriber, || {
            metrics::with_local_recorder(&recorder, || {
                b.iter_batched(
                    reset,
                    |()| runtime.block_on(mfa.verify_totp(USER, black_box(&code))),
                    BatchSize::SmallInput,
                )
            })
        })
    });
    group.finish();
}

common::cpu_or_wall_main!(bench);
