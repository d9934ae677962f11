//! Peak memory under a flood of backup-code attempts.
//!
//! 200 concurrent failed backup-code attempts go through `mfa::Mfa` (in-memory
//! store, default Argon2id m = 19456 KiB), one per user, each with a locator
//! that names an unused code, so each costs exactly one Argon2 evaluation.
//! Scenario `bounded` uses the service's default bound (one concurrent Argon2
//! per CPU); scenario `unbounded` lifts it (`with_max_concurrent_hashes(usize::MAX)`,
//! clamped to tokio's largest permit count), leaving only tokio's blocking pool
//! (512 threads) as a limit.
//!
//! Peak resident memory (`VmHWM` in `/proc/self/status`) only ever grows in a
//! process, so each scenario runs in its own child process: this binary
//! re-executes itself with `MFA_FLOOD_SCENARIO` set, and the parent prints the
//! comparison. Each scenario runs twice: with glibc's default allocator
//! settings, and with `MALLOC_MMAP_THRESHOLD_` fixed (see `main`). Linux only
//! (it reads `/proc`). Not a criterion bench: there is
//! one number per scenario, not a timing distribution.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use mfa::testkit::fixtures::Enrolled;
use mfa::{
    Error, MemoryStore, Mfa, MfaStore,
    service::{Clock, SystemClock},
    store::WriteId,
};

const ATTEMPTS: usize = 200;
const SCENARIO_VAR: &str = "MFA_FLOOD_SCENARIO";
/// Argon2 memory per evaluation with the default parameters, in KiB.
const ARGON2_KIB: u64 = 19_456;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

fn child(scenario: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = common::default_config();
        let now = SystemClock.now();
        // One record with real default-Argon2 hashes, stored for every user: a
        // backup-code attempt never opens the (user-bound) secret.
        let enrolled = Enrolled::new(&config, common::USER, now);
        let record = enrolled.active;
        let attempt = common::wrong_code_with_matching_locator(&enrolled.codes);

        let store = MemoryStore::new();
        for i in 0..ATTEMPTS {
            store
                .save(&format!("user-{i}"), None, &record, WriteId::random())
                .await
                .expect("insert");
        }
        let mut mfa = Mfa::new(store, config);
        let bound = match scenario {
            "bounded" => std::thread::available_parallelism().map_or(1, |n| n.get()),
            "unbounded" => {
                mfa = mfa.with_max_concurrent_hashes(usize::MAX);
                ATTEMPTS
            }
            other => panic!("unknown scenario {other}"),
        };
        let mfa = Arc::new(mfa);
        let rss_before = status_kib("VmRSS");
        let hwm_before = status_kib("VmHWM");

        let started = Instant::now();
        let tasks: Vec<_> = (0..ATTEMPTS)
            .map(|i| {
                let mfa = Arc::clone(&mfa);
                let attempt = attempt.clone();
                tokio::spawn(
                    async move { mfa.verify_backup_code(&format!("user-{i}"), &attempt).await },
                )
            })
            .collect();
        for task in tasks {
            let result = task.await.expect("task");
            assert!(matches!(result, Err(Error::InvalidCode)), "{result:?}");
        }
        let elapsed = started.elapsed();
        let hwm = status_kib("VmHWM");
        println!(
            "scenario={scenario} bound={bound} attempts={ATTEMPTS} rss_before_kib={rss_before} \
             hwm_before_kib={hwm_before} hwm_kib={hwm} wall_ms={}",
            elapsed.as_millis()
        );
    });
}

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} in {line:?}"))
}

fn main() {
    if let Ok(scenario) = std::env::var(SCENARIO_VAR) {
        child(&scenario);
        return;
    }
    if !std::path::Path::new("/proc/self/status").exists() {
        println!("flood: skipped (needs Linux /proc)");
        return;
    }
    // `cargo bench -- <filter>`: run only if the filter names this bench.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "flood".contains(f.as_str())) {
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    // Each scenario with glibc's default allocator settings, then with its
    // mmap threshold fixed at the default 128 KiB (`MALLOC_MMAP_THRESHOLD_`),
    // which stops glibc from keeping freed Argon2 buffers in its arenas: that
    // shows the memory the bound itself allows, apart from allocator retention.
    let runs = [
        ("bounded", None),
        ("unbounded", None),
        ("bounded", Some("131072")),
        ("unbounded", Some("131072")),
    ];
    let mut lines = Vec::new();
    for (scenario, threshold) in runs {
        let mut command = Command::new(&exe);
        command.env(SCENARIO_VAR, scenario);
        match threshold {
            Some(t) => command.env("MALLOC_MMAP_THRESHOLD_", t),
            None => command.env_remove("MALLOC_MMAP_THRESHOLD_"),
        };
        let output = command.output().expect("runs the scenario");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "scenario {scenario} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find(|l| l.starts_with("scenario="))
            .expect("result line")
            .to_owned();
        let malloc = threshold.map_or("glibc default".to_owned(), |t| {
            format!("MALLOC_MMAP_THRESHOLD_={t}")
        });
        println!("flood/{line} malloc=\"{malloc}\"");
        lines.push((line, malloc));
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    let peak = |line: &str| field(line, "hwm_kib");
    let growth = |line: &str| field(line, "hwm_kib").saturating_sub(field(line, "rss_before_kib"));
    for pair in lines.chunks(2) {
        let [(bounded, malloc), (unbounded, _)] = pair else {
            unreachable!("runs come in pairs")
        };
        let bound = field(bounded, "bound");
        println!(
            "flood/{malloc}: peak RSS bounded (bound {bound}) {:.0} MiB, unbounded {:.0} MiB, \
             ratio {:.1}x; growth during the flood: bounded {:.0} MiB \
             (bound x Argon2 memory = {:.0} MiB), unbounded {:.0} MiB ({:.0} Argon2 buffers)",
            mib(peak(bounded)),
            mib(peak(unbounded)),
            peak(unbounded) as f64 / peak(bounded) as f64,
            mib(growth(bounded)),
            mib(bound * ARGON2_KIB),
            mib(growth(unbounded)),
            growth(unbounded) as f64 / ARGON2_KIB as f64
        );
    }
}
