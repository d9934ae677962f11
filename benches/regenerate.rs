//! CPU cost of concurrent regenerations of one user's backup codes.
//!
//! 20 regenerations (default Argon2id, 10 codes each) of one user's codes,
//! run one after another and then all at once. At once, most compare-and-swap
//! saves conflict and are retried; `mfa::Mfa` hashes each operation's new
//! codes once, so a retry re-runs only the cheap swap. The same concurrent
//! burst through a naive load → transition → save loop, which re-runs the
//! whole transition (its 10 hashes included) on every conflict, is the
//! baseline: the behaviour the service had before.
//!
//! Reported: process CPU time (every thread), the concurrent/sequential ratio,
//! and how many of the 20 answered `STORE_CONFLICT`. On `MemoryStore` and on
//! a SQLite file. Target: concurrent ≤ 1.2 × sequential, no `STORE_CONFLICT`.
//! Not a criterion bench: each run is seconds of CPU, and the number that
//! matters is one ratio per store.
//!
//! Run with `cargo bench --bench regenerate` (about three minutes;
//! `-- --quick` runs one round per variant).

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use mfa::{
    Error, MemoryStore, Mfa, MfaContext, MfaEnrollment, MfaStore, Proof, Reauth, SqliteStore,
    store::WriteId,
};
use tokio::sync::{Barrier, Semaphore};

const BURST: usize = 20;
/// The service's conflict budget (16 retries), for the naive loop too.
const ATTEMPTS: usize = 17;

/// CPU seconds, wall seconds and `STORE_CONFLICT` answers of one run.
struct Run {
    cpu: f64,
    wall: f64,
    conflicts: usize,
}

async fn measure<F: Future<Output = usize>>(work: F) -> Run {
    let (cpu, wall) = (common::process_cpu_ns(), Instant::now());
    let conflicts = work.await;
    Run {
        cpu: (common::process_cpu_ns() - cpu) as f64 / 1e9,
        wall: wall.elapsed().as_secs_f64(),
        conflicts,
    }
}

fn conflicted<T>(result: &Result<T, Error>) -> usize {
    match result {
        Ok(_) => 0,
        Err(Error::StoreConflict) => 1,
        Err(e) => panic!("regeneration failed: {e:?}"),
    }
}

async fn sequential<S: MfaStore + 'static>(mfa: &Mfa<S>, proof: &Proof) -> usize {
    let mut conflicts = 0;
    for _ in 0..BURST {
        conflicts += conflicted(
            &mfa.regenerate_backup_codes(common::USER, Reauth::RecentProof(proof))
                .await,
        );
    }
    conflicts
}

async fn concurrent<S: MfaStore + 'static>(mfa: &Arc<Mfa<S>>, proof: Proof) -> usize {
    let start = Arc::new(Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            let (mfa, start) = (Arc::clone(mfa), Arc::clone(&start));
            tokio::spawn(async move {
                let proof = &proof;
                start.wait().await;
                conflicted(
                    &mfa.regenerate_backup_codes(common::USER, Reauth::RecentProof(proof))
                        .await,
                )
            })
        })
        .collect();
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.expect("task");
    }
    conflicts
}

/// The baseline: every conflict re-runs the whole transition, hashes included,
/// on the blocking pool behind the same bound of one hash per CPU.
async fn concurrent_naive<S: MfaStore + 'static>(
    store: Arc<S>,
    config: Arc<MfaContext>,
    proof: Proof,
) -> usize {
    let permits = Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    ));
    let start = Arc::new(Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            let (store, config, permits, start) = (
                Arc::clone(&store),
                Arc::clone(&config),
                Arc::clone(&permits),
                Arc::clone(&start),
            );
            tokio::spawn(async move {
                start.wait().await;
                for _ in 0..ATTEMPTS {
                    let stored = store
                        .load(common::USER)
                        .await
                        .expect("load")
                        .expect("enrolled");
                    let permit = Arc::clone(&permits).acquire_owned().await.expect("open");
                    let config = Arc::clone(&config);
                    let step = tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        stored.record.regenerate_backup_codes(
                            &config,
                            common::USER,
                            Reauth::RecentProof(&proof),
                            common::NOW,
                            &mut rand::rng(),
                        )
                    })
                    .await
                    .expect("hashing");
                    match store
                        .save(
                            common::USER,
                            Some(stored.version),
                            &step.state,
                            WriteId::random(),
                        )
                        .await
                    {
                        Ok(_) => return 0,
                        Err(Error::StoreConflict) => tokio::task::yield_now().await,
                        Err(e) => panic!("save failed: {e:?}"),
                    }
                }
                1
            })
        })
        .collect();
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.expect("task");
    }
    conflicts
}

async fn enrolled<S: MfaStore>(store: S, config: &MfaContext) -> S {
    let active: MfaEnrollment = common::records(config).active;
    store
        .save(common::USER, None, &active, WriteId::random())
        .await
        .expect("enrolled");
    store
}

fn report(store: &str, name: &str, run: &Run, sequential_cpu: f64) {
    println!(
        "{store:<8} {name:<22} cpu {:>7.2} s  wall {:>6.2} s  cpu/sequential {:>5.2}x  STORE_CONFLICT {}",
        run.cpu,
        run.wall,
        run.cpu / sequential_cpu,
        run.conflicts
    );
}

async fn bench<S: MfaStore + 'static>(name: &str, store: Arc<S>, rounds: usize) {
    let config = common::default_config();
    // The proof of the enrollment, at `NOW - 300`: recent at `NOW`.
    let proof = common::records(&config).proof;
    let mfa =
        Arc::new(Mfa::new(Arc::clone(&store), common::default_config()).with_clock(|| common::NOW));
    let (mut seq, mut conc) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        seq.push(measure(sequential(&mfa, &proof)).await);
        conc.push(measure(concurrent(&mfa, proof)).await);
    }
    let naive = measure(concurrent_naive(
        Arc::clone(&store),
        Arc::new(config),
        proof,
    ))
    .await;
    let median = |runs: &mut Vec<Run>| {
        runs.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
        runs.remove(runs.len() / 2)
    };
    let (seq, conc) = (median(&mut seq), median(&mut conc));
    report(name, "sequential", &seq, seq.cpu);
    report(name, "concurrent (Mfa)", &conc, seq.cpu);
    report(name, "concurrent (naive)", &naive, seq.cpu);
    let ratio = conc.cpu / seq.cpu;
    println!(
        "{name:<8} target: concurrent <= 1.2x sequential and no STORE_CONFLICT: {}",
        if ratio <= 1.2 && conc.conflicts == 0 {
            "met"
        } else {
            "MISSED"
        }
    );
}

fn main() {
    let rounds = if common::quick() { 1 } else { 3 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = common::default_config();
        println!(
            "{BURST} regenerations of one user's codes, default Argon2id, {} CPUs, median of {rounds} round(s)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let memory = Arc::new(enrolled(MemoryStore::new(), &config).await);
        bench("memory", memory, rounds).await;
        let dir = tempfile::tempdir().expect("temporary directory");
        let sqlite = SqliteStore::open_file(dir.path().join("bench.db"))
            .await
            .expect("SQLite");
        let sqlite = Arc::new(enrolled(sqlite, &config).await);
        bench("sqlite", sqlite, rounds).await;
    });
}
