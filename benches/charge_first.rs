//! What a flood of concurrent wrong codes for one account costs (I16).
//!
//! With the default Argon2id parameters (m = 19456 KiB, t = 2, p = 1) and the
//! default lockout (the 5th failure locks), through `mfa::Mfa` on the
//! in-memory store:
//!
//! - `one wrong code`: a single wrong backup code whose locator names an
//!   unused code: one Argon2 evaluation, the unit the others are counted in;
//! - `300 concurrent wrong codes, one account`: the flood that, before
//!   attempts were charged first, cost about 1,250 evaluations;
//! - `300 concurrent wrong codes, 300 accounts`: the same flood spread over
//!   accounts, where no lock applies and each costs its evaluation: the
//!   bound the one-account flood is held against;
//! - the same for an imported devise-two-factor set at the import bound
//!   (two bcrypt hashes at cost 10): one wrong code, then 300 at once.
//!
//! For each: the slow hashes run (`testkit::argon2_evaluations`,
//! `testkit::legacy_hash_evaluations`), the process's CPU time (user +
//! system, from `/proc/self/stat`: Linux only) and the wall time. Not a
//! criterion bench: one number per scenario, all in one run.
//!
//! `cargo bench --bench charge_first`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa::import::ImportedFactor;
use mfa::testkit::legacy::devise_backup_code_hash;
use mfa::testkit::{argon2_evaluations, legacy_hash_evaluations};
use mfa::totp::TotpParams;
use mfa::{MemoryStore, Mfa, MfaStore, store::WriteId};

const FLOOD: usize = 300;

/// The process's CPU time so far (user + system).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a command") + 2..]
        .split(' ')
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports in USER_HZ, 100 per second on every common build.
    Duration::from_millis(ticks * 10)
}

struct Cost {
    hashes: u64,
    cpu: Duration,
    wall: Duration,
}

/// Runs `codes` at once, each `(user, code)`, and what they cost.
async fn run(mfa: &Arc<Mfa<MemoryStore>>, codes: Vec<(String, String)>) -> Cost {
    let (argon, legacy, cpu_before) = (argon2_evaluations(), legacy_hash_evaluations(), cpu());
    let started = Instant::now();
    let tasks: Vec<_> = codes
        .into_iter()
        .map(|(user, code)| {
            let mfa = Arc::clone(mfa);
            tokio::spawn(async move {
                let answer = mfa.verify(&user, &code).await;
                assert!(answer.is_err(), "a wrong code succeeded");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an attempt");
    }
    Cost {
        hashes: argon2_evaluations() - argon + legacy_hash_evaluations() - legacy,
        cpu: cpu() - cpu_before,
        wall: started.elapsed(),
    }
}

fn report(name: &str, cost: &Cost, unit: &Cost) {
    println!(
        "{name:<48} {:>6} hashes  {:>8.2} s CPU ({:>6.1}x one)  {:>7.2} s wall",
        cost.hashes,
        cost.cpu.as_secs_f64(),
        cost.cpu.as_secs_f64() / unit.cpu.as_secs_f64().max(0.001),
        cost.wall.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = common::default_config();
        let enrolled = common::records(&config);
        let wrong = common::wrong_code_with_matching_locator(&enrolled.codes);
        let store = MemoryStore::new();
        let users = |prefix: &'static str| (0..FLOOD).map(move |i| format!("{prefix}-{i}"));
        for user in users("native").chain(["one".to_owned(), "flood".to_owned()]) {
            let record = &enrolled.active;
            store
                .save(&user, None, record, WriteId::random())
                .await
                .expect("insert");
        }
        let mfa = Arc::new(Mfa::new(store, config));

        let one = run(&mfa, vec![("one".into(), wrong.clone())]).await;
        let flood = run(&mfa, vec![("flood".into(), wrong.clone()); FLOOD]).await;
        let spread = run(&mfa, users("native").map(|u| (u, wrong.clone())).collect()).await;
        println!(
            "default Argon2id, lock after {} failures",
            mfa.context().policy().lockout.lock_after_failures
        );
        report("one wrong code", &one, &one);
        report("300 concurrent wrong codes, one account", &flood, &one);
        report("300 concurrent wrong codes, 300 accounts", &spread, &one);

        let hashes: Vec<String> = ["4f1c9a2b7e", "8d3e6b0a1c"]
            .iter()
            .map(|c| devise_backup_code_hash(c, "pepper", 10))
            .collect();
        let factor = || {
            ImportedFactor::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", TotpParams::default())
                .expect("a secret")
                .with_bcrypt_backup_codes(&hashes, "pepper")
                .expect("within the bound")
        };
        for user in ["legacy-one", "legacy-flood"] {
            mfa.import(user, factor()).await.expect("imported");
        }
        let wrong = "ffffffffff".to_owned();
        let legacy_one = run(&mfa, vec![("legacy-one".into(), wrong.clone())]).await;
        let legacy_flood = run(&mfa, vec![("legacy-flood".into(), wrong); FLOOD]).await;
        report("bcrypt cost 10 x 2: one wrong code", &legacy_one, &one);
        report(
            "bcrypt cost 10 x 2: 300 concurrent, one account",
            &legacy_flood,
            &one,
        );
    });
}
