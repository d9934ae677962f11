//! The importer's rate at 1 core and at all cores (BENCHMARKS.md, "The
//! importer at scale"), side by side in one run:
//!
//! ```text
//! cargo bench -p mfa-example-server --bench import_scale
//! MFA_BENCH_IMPORT_SECRET=1000000 MFA_BENCH_IMPORT_CODES=0 MFA_BENCH_IMPORT_ALL_CORES_ONLY=1 \
//!     cargo bench -p mfa-example-server --bench import_scale
//! ```
//!
//! It builds the importer (`examples/import/`) in release, creates SQLite
//! databases with the server's accounts table and as many accounts as lines,
//! and writes two inputs: `MFA_BENCH_IMPORT_SECRET` users (default 20 000)
//! with a secret alone (ASP.NET Core Identity lines: no hashing) and
//! `MFA_BENCH_IMPORT_CODES` users (default 400) with a secret and 10 plain
//! backup codes (django-otp lines: 10 Argon2id hashes each). Each input is
//! imported into a fresh database at 1 core (`taskset -c 0`, `--hashes 1`)
//! and at all cores (`--hashes` = the number of CPUs); the importer's own
//! summary gives its peak resident memory (`VmHWM`). The limit is the
//! Argon2id hashes of the code users alone (the crate's parameters, m =
//! 19 456 KiB, t = 2, p = 1, a 32-byte output), on 1 thread and on one
//! thread per CPU, with no I/O.

use std::path::{Path, PathBuf};
use std::process::Command;

use argon2::{Algorithm, Argon2, Params, Version};

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The importer, built in release into this bench's target directory.
fn importer() -> PathBuf {
    let bench = std::env::current_exe().expect("the bench binary");
    // target/release/deps/import_scale-… → target/release
    let profile_dir = bench
        .parent()
        .and_then(Path::parent)
        .expect("the profile directory");
    let target_dir = profile_dir.parent().expect("the target directory");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "mfa-example-server",
            "--example",
            "import",
        ])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the importer failed");
    profile_dir.join("examples").join("import")
}

/// A SQLite database with the server's accounts table and `users` accounts
/// `{prefix}-{i}@example.com`.
async fn database(path: &Path, prefix: &str, users: usize) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("a database");
    sqlx::query(
        "CREATE TABLE app_users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE,
                                 password_hash TEXT NOT NULL, created_at INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("the accounts table");
    for chunk in (0..users).collect::<Vec<_>>().chunks(50_000) {
        let mut tx = pool.begin().await.expect("a transaction");
        for &i in chunk {
            sqlx::query("INSERT INTO app_users VALUES ($1, $2, 'x', 0)")
                .bind(format!("{i:032x}"))
                .bind(format!("{prefix}-{i}@example.com"))
                .execute(&mut *tx)
                .await
                .expect("an account");
        }
        tx.commit().await.expect("the accounts");
    }
    pool.close().await;
}

fn key(i: usize) -> [u8; 20] {
    let mut key = [0u8; 20];
    for (j, b) in key.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761).wrapping_add(j * 97) >> (j % 4 * 8)) as u8;
    }
    key
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buffer, mut bits) = (String::new(), 0u32, 0);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
        buffer &= (1 << bits) - 1;
    }
    out
}

fn write_input(path: &Path, prefix: &str, users: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("the input"));
    for i in 0..users {
        let email = format!("{prefix}-{i}@example.com");
        let line = if prefix == "codes" {
            let hex: String = key(i).iter().map(|b| format!("{b:02x}")).collect();
            let tokens: Vec<String> = (0..10).map(|j| format!("t{i:07}c{j}")).collect();
            serde_json::json!({"email": email, "format": "django-otp", "key": hex,
                               "static_tokens": tokens})
        } else {
            serde_json::json!({"email": email, "format": "aspnet-identity",
                               "AuthenticatorKey": base32(&key(i))})
        };
        writeln!(out, "{line}").expect("a line");
    }
    out.flush().expect("the input");
}

/// What `/usr/bin/time` measured of a child: wall and CPU seconds (user +
/// system) and peak resident memory in MiB.
struct Measured {
    wall: f64,
    cpu: f64,
    rss_mib: f64,
}

/// Runs `program args…` under `/usr/bin/time`, pinned to CPU 0 when `cores`
/// is 1: what it measured and the child's stdout.
fn measured(program: &Path, args: &[String], cores: usize) -> (Measured, String) {
    let report = tempfile::NamedTempFile::new().expect("a temporary file");
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-o")
        .arg(report.path())
        .args(["-f", "%e %U %S %M"]);
    if cores == 1 {
        command.args(["taskset", "-c", "0"]);
    }
    command
        .arg(program)
        .args(args)
        .env(
            "MFA_MASTER_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    let output = command.output().expect("/usr/bin/time runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} failed:\n{stdout}",
        program.display()
    );
    let text = std::fs::read_to_string(report.path()).expect("the time report");
    let f: Vec<f64> = text
        .lines()
        .last()
        .expect("a time line")
        .split_whitespace()
        .map(|v| v.parse().expect("a number"))
        .collect();
    let m = Measured {
        wall: f[0],
        cpu: f[1] + f[2],
        rss_mib: f[3] / 1024.0,
    };
    (m, stdout)
}

/// One import: what was measured and the importer's summary line.
fn import(binary: &Path, database: &Path, input: &Path, cores: usize) -> (Measured, String) {
    let args: Vec<String> = vec![
        "--database".into(),
        database.display().to_string(),
        "--hashes".into(),
        cores.to_string(),
        "--progress-every".into(),
        "60".into(),
        input.display().to_string(),
    ];
    let (m, stdout) = measured(binary, &args, cores);
    let summary = stdout.lines().last().expect("the summary").to_owned();
    (m, summary)
}

/// `users` × 10 Argon2id hashes on `threads` threads, no I/O (run by this
/// bench in a child of its own, `--argon2-alone USERS THREADS`).
fn argon2_alone(users: usize, threads: usize) {
    let params = Params::new(19_456, 2, 1, Some(32)).expect("the crate's parameters");
    std::thread::scope(|scope| {
        for t in 0..threads {
            let params = params.clone();
            scope.spawn(move || {
                let argon = Argon2::new_with_secret(
                    &[7u8; 32],
                    Algorithm::Argon2id,
                    Version::V0x13,
                    params,
                )
                .expect("Argon2");
                let mut out = [0u8; 32];
                for i in (t..users * 10).step_by(threads) {
                    argon
                        .hash_password_into(format!("t{i:07}").as_bytes(), &[1u8; 16], &mut out)
                        .expect("a hash");
                }
            });
        }
    });
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let [_, flag, users, threads] = &args[..]
        && flag == "--argon2-alone"
    {
        argon2_alone(
            users.parse().expect("users"),
            threads.parse().expect("threads"),
        );
        return;
    }
    let secret_users = count("MFA_BENCH_IMPORT_SECRET", 20_000);
    let code_users = count("MFA_BENCH_IMPORT_CODES", 400);
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let binary = importer();
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!("importer: {}; {all} CPUs", binary.display());
    for (prefix, users) in [("secret", secret_users), ("codes", code_users)] {
        if users == 0 {
            continue;
        }
        let input = dir.path().join(format!("{prefix}.jsonl"));
        write_input(&input, prefix, users);
        let mut cores_list = vec![1];
        if all > 1 {
            cores_list.push(all);
        }
        if std::env::var("MFA_BENCH_IMPORT_ALL_CORES_ONLY").is_ok_and(|v| v == "1") {
            cores_list.retain(|&c| c == all);
        }
        for cores in cores_list {
            let db = dir.path().join(format!("{prefix}-{cores}.db"));
            database(&db, prefix, users).await;
            let (m, summary) = import(&binary, &db, &input, cores);
            report(&format!("{prefix} import"), users, cores, &m);
            println!("        {summary}");
            std::fs::remove_file(&db).ok();
        }
        if prefix == "codes" {
            for threads in [1, all] {
                let me = std::env::current_exe().expect("the bench binary");
                let args = [
                    "--argon2-alone".to_owned(),
                    users.to_string(),
                    threads.to_string(),
                ];
                let (m, _) = measured(&me, &args, threads);
                report("Argon2 alone", users, threads, &m);
            }
        }
    }
}

fn report(what: &str, users: usize, cores: usize, m: &Measured) {
    let rate = users as f64 / m.wall;
    let cpu_per_user = m.cpu / users as f64;
    println!(
        "{what:>13}: {users:>8} users at {cores} core(s): {:>8.1} s wall, {rate:>8.1} users/s, \
         a million in {:>6.2} h; CPU {:>8.3} ms/user (a million: {:.2} CPU-hours); peak RSS {:.1} MiB",
        m.wall,
        1e6 / rate / 3600.0,
        cpu_per_user * 1e3,
        cpu_per_user * 1e6 / 3600.0,
        m.rss_mib
    );
}
