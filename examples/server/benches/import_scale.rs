//! The importer's rate at 1 core and at all cores (BENCHMARKS.md, "The
//! importer at scale"), side by side in one run:
//!
//! ```text
//! cargo bench -p mfa-example-server --bench import_scale
//! MFA_BENCH_IMPORT_SECRET=1000000 MFA_BENCH_IMPORT_CODES=0 cargo bench -p mfa-example-server --bench import_scale
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
use std::time::{Duration, Instant};

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

/// One import: wall time and the summary line.
fn import(binary: &Path, database: &Path, input: &Path, cores: usize) -> (Duration, String) {
    let mut command = if cores == 1 {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(binary);
        c
    } else {
        Command::new(binary)
    };
    command
        .arg("--database")
        .arg(database)
        .args(["--hashes", &cores.to_string(), "--progress-every", "30"])
        .arg(input)
        .env(
            "MFA_MASTER_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    let started = Instant::now();
    let output = command.output().expect("the importer runs");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the import failed:\n{stdout}");
    let summary = stdout.lines().last().expect("the summary").to_owned();
    (elapsed, summary)
}

/// `users` × 10 Argon2id hashes on `threads` threads, no I/O: wall time.
fn argon2_alone(users: usize, threads: usize) -> Duration {
    let params = Params::new(19_456, 2, 1, Some(32)).expect("the crate's parameters");
    let started = Instant::now();
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
    started.elapsed()
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
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
        for cores in cores_list {
            let db = dir.path().join(format!("{prefix}-{cores}.db"));
            database(&db, prefix, users).await;
            let (elapsed, summary) = import(&binary, &db, &input, cores);
            let rate = users as f64 / elapsed.as_secs_f64();
            println!(
                "{prefix:>6} users: {users:>8} at {cores} core(s): {:>8.1} s, {rate:>9.1} users/s, \
                 a million in {:.2} h | {summary}",
                elapsed.as_secs_f64(),
                1e6 / rate / 3600.0
            );
            std::fs::remove_file(&db).ok();
        }
        if prefix == "codes" {
            for threads in [1, all] {
                let elapsed = argon2_alone(users, threads);
                let rate = users as f64 / elapsed.as_secs_f64();
                println!(
                    " limit: {users:>8} users' 10 Argon2id hashes on {threads} thread(s), no I/O: \
                     {:>8.1} s, {rate:>9.1} users/s, a million in {:.2} h",
                    elapsed.as_secs_f64(),
                    1e6 / rate / 3600.0
                );
            }
        }
    }
}
