//! The importer at scale (`examples/import/`): killed with SIGKILL mid-run,
//! twice, then run again on the same input, it ends where a run that was
//! never interrupted ends (no user imported twice, none half-written, the
//! same lines failed for the same reasons); run again on a finished import,
//! it counts every user as already imported and writes nothing; `--shard
//! I/N` splits an input so that N runs import exactly what one run does.
//!
//! The databases are the server's own SQLite files (the server creates the
//! schema); the accounts are inserted directly, and the end states compared
//! through the crate's `Mfa::status` with the servers' master key.
//! `cargo test -p mfa-example-server --test http_import_resume` runs this
//! file alone.

mod http_common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use http_common::{MASTER_KEY, Server, base32_encode};
use mfa::{KeyId, Keyring, MasterKey, Mfa, MfaContext, Policy};
use serde_json::json;

/// A database with the server's schema and `emails` as accounts, and a copy
/// of the importer beside it, which [`importer`] runs.
async fn database(emails: &[String]) -> (tempfile::TempDir, PathBuf) {
    let mut server = Server::start();
    let dir = server.dir.take().expect("the server's directory");
    drop(server);
    let path = dir.path().join("server.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("the server's database");
    let mut tx = pool.begin().await.expect("a transaction");
    for (i, email) in emails.iter().enumerate() {
        sqlx::query(
            "INSERT INTO app_users (id, email, password_hash, created_at) VALUES ($1, $2, 'x', 0)",
        )
        .bind(format!("{i:032x}"))
        .bind(email)
        .execute(&mut *tx)
        .await
        .expect("an account");
    }
    tx.commit().await.expect("the accounts");
    pool.close().await;
    private_importer(dir.path());
    (dir, path)
}

/// Every account's MFA status as (email, enabled, codes left, legacy codes).
async fn end_state(path: &Path) -> BTreeMap<String, (bool, usize, usize)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("the database");
    let accounts: Vec<(String, String)> = sqlx::query_as("SELECT id, email FROM app_users")
        .fetch_all(&pool)
        .await
        .expect("the accounts");
    pool.close().await;
    let store = mfa::SqliteStore::open_file(path).await.expect("the store");
    let config = MfaContext::new(
        Keyring::new(
            KeyId(1),
            MasterKey::from_base64(MASTER_KEY).expect("the test key"),
        ),
        Policy::new("MFA Example"),
    )
    .expect("the server's configuration");
    let mfa = Mfa::new(store, config);
    let mut state = BTreeMap::new();
    for (id, email) in accounts {
        let s = mfa.status(&id).await.expect("a status");
        state.insert(
            email,
            (
                s.mfa_enabled,
                s.backup_codes_remaining,
                s.legacy_backup_codes,
            ),
        );
    }
    state
}

/// A copy of the importer, built from the current sources, in `dir`: the
/// tests run the copy, which no other build of the target directory replaces
/// while they run.
fn private_importer(dir: &Path) -> PathBuf {
    let copy = dir.join(format!("import{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(http_common::importer(), &copy).expect("a copy of the importer");
    copy
}

fn importer(database: &Path, input: &Path, extra: &[&str]) -> Command {
    let binary = database.parent().expect("the database's directory");
    let mut command = Command::new(binary.join(format!("import{}", std::env::consts::EXE_SUFFIX)));
    command
        .arg("--database")
        .arg(database)
        .args(extra)
        .arg(input)
        .env("MFA_MASTER_KEY", MASTER_KEY)
        .stdin(Stdio::null());
    command
}

fn run(database: &Path, input: &Path, extra: &[&str]) -> (Output, String, String) {
    let output = importer(database, input, extra)
        .output()
        .expect("the importer runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// The report's `line N: …` lines, by line number.
fn per_line(stdout: &str, stderr: &str) -> BTreeMap<usize, String> {
    let mut lines = BTreeMap::new();
    for line in stdout.lines().chain(stderr.lines()) {
        let Some(rest) = line.strip_prefix("line ") else {
            continue;
        };
        let (number, what) = rest.split_once(": ").expect("line N: what");
        let number: usize = number.parse().expect("a line number");
        assert!(
            lines.insert(number, what.to_owned()).is_none(),
            "line {number} reported twice:\n{stdout}\n{stderr}"
        );
    }
    lines
}

fn key(i: usize, salt: u8) -> Vec<u8> {
    (0..20u8)
        .map(|b| b.wrapping_mul(7) ^ (i as u8) ^ ((i >> 8) as u8).wrapping_add(salt))
        .collect()
}

/// `secret_only` users with a secret alone, `with_codes` with a secret and 10
/// plain backup codes (django-otp), interleaved, then lines that fail: an
/// unknown email, an 80-bit secret, malformed JSON, a second line for a user
/// with another factor; and a second line for a user with the same factor,
/// which counts as already imported.
fn input(secret_only: usize, with_codes: usize) -> (Vec<String>, Vec<String>) {
    let mut emails = Vec::new();
    let mut lines = Vec::new();
    let total = secret_only + with_codes;
    let every = (total / with_codes.max(1)).max(1);
    for i in 0..total {
        if with_codes > 0 && i % every == 0 && i / every < with_codes {
            let email = format!("codes-{i}@example.com");
            let hex: String = key(i, 1).iter().map(|b| format!("{b:02x}")).collect();
            let tokens: Vec<String> = (0..10).map(|j| format!("t{i:04}c{j:02}")).collect();
            lines.push(
                json!({"email": email, "format": "django-otp", "key": hex, "static_tokens": tokens})
                    .to_string(),
            );
            emails.push(email);
        } else {
            let email = format!("secret-{i}@example.com");
            lines.push(
                json!({"email": email, "format": "aspnet-identity",
                       "AuthenticatorKey": base32_encode(&key(i, 2))})
                .to_string(),
            );
            emails.push(email);
        }
    }
    emails.push("weak@example.com".into());
    let again = &emails[1];
    let same = lines[1].clone();
    lines.extend([
        json!({"email": "nobody@example.com", "format": "aspnet-identity",
               "AuthenticatorKey": base32_encode(&key(0, 3))})
        .to_string(),
        json!({"email": "weak@example.com", "format": "fortify",
               "two_factor_secret": "JBSWY3DPEHPK3PXP"})
        .to_string(),
        "{\"email\": ".to_owned(),
        json!({"email": again, "format": "aspnet-identity",
               "AuthenticatorKey": base32_encode(&key(9999, 4))})
        .to_string(),
        same,
    ]);
    (emails, lines)
}

fn write_input(dir: &Path, lines: &[String]) -> PathBuf {
    let file = dir.join("users.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("the input");
    file
}

/// Starts the importer and kills it with SIGKILL once it has reported
/// `imports` new imports; what it printed until then.
fn run_and_kill(database: &Path, input: &Path, imports: usize) -> String {
    let mut child = importer(database, input, &["--jobs", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the importer starts");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut seen = String::new();
    let mut imported = 0;
    for line in stdout.lines() {
        let line = line.expect("stdout");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(": imported ") {
            imported += 1;
            if imported == imports {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("the importer ends");
    assert_eq!(
        status.code(),
        None,
        "the importer ended before it was killed:\n{seen}"
    );
    assert!(!seen.contains("imported, failed"), "{seen}");
    seen
}

#[tokio::test]
async fn killed_twice_then_resumed_ends_as_an_uninterrupted_run() {
    http_common::importer();
    let (emails, lines) = input(120, 36);
    let good = emails.len() - 1;
    let (reference_dir, reference) = database(&emails).await;
    let (_dir, resumed) = database(&emails).await;
    let file = write_input(reference_dir.path(), &lines);

    // The reference: one run, never interrupted.
    let (output, stdout, stderr) = run(&reference, &file, &["--jobs", "4"]);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("imported {good}, failed 4, already imported 1")),
        "{stdout}\n{stderr}"
    );
    let reference_lines = per_line(&stdout, &stderr);
    assert_eq!(reference_lines.len(), lines.len());

    // Killed twice with SIGKILL, each time after a few imports, then to the end.
    let first = run_and_kill(&resumed, &file, 10);
    let second = run_and_kill(&resumed, &file, 10);
    let (output, stdout, stderr) = run(&resumed, &file, &["--jobs", "4"]);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let last = per_line(&stdout, &stderr);
    assert_eq!(last.len(), lines.len(), "{stdout}\n{stderr}");

    // No user imported twice: each good email is reported imported at most
    // once over the three runs, and the last run counts the others as done.
    let all = format!("{first}{second}{stdout}");
    let mut imported_by_now = 0;
    for email in &emails[..good] {
        let times = all
            .lines()
            .filter(|l| l.ends_with(&format!(": imported {email}")))
            .count();
        assert!(times <= 1, "{email} imported {times} times:\n{all}");
        imported_by_now += times;
    }
    assert!(
        imported_by_now >= 20,
        "the killed runs imported their users"
    );
    let already = last
        .values()
        .filter(|w| w.starts_with("already imported"))
        .count();
    assert!(
        already > 20,
        "the last run took up where the others stopped:\n{stdout}"
    );
    // The same lines failed, for the same reasons; the others are done.
    for (number, what) in &reference_lines {
        let resumed_what = &last[number];
        if what.starts_with("imported ") || what.starts_with("already imported ") {
            let email = what.rsplit(' ').next().unwrap();
            assert!(
                resumed_what == &format!("imported {email}")
                    || resumed_what == &format!("already imported {email}"),
                "line {number}: {resumed_what} (reference: {what})"
            );
        } else {
            assert_eq!(resumed_what, what, "line {number}");
        }
    }
    // Every account ends as in the reference: the factor on or off, the
    // same count of backup codes (an import is all or nothing).
    let state = end_state(&resumed).await;
    assert_eq!(state, end_state(&reference).await);
    assert_eq!(
        state.values().filter(|(on, _, _)| *on).count(),
        good,
        "{state:?}"
    );
    assert_eq!(
        state.values().filter(|(_, codes, _)| *codes == 10).count(),
        36
    );

    // Run again on either: every user already holds exactly the line's factor.
    for database in [&reference, &resumed] {
        let (output, stdout, stderr) = run(database, &file, &[]);
        assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!(
                "imported 0, failed 4, already imported {}",
                good + 1
            )),
            "{stdout}\n{stderr}"
        );
    }
}

#[tokio::test]
async fn shards_together_import_exactly_what_one_run_does() {
    http_common::importer();
    let (emails, lines) = input(90, 3);
    let (whole_dir, whole) = database(&emails).await;
    let (_dir, sharded) = database(&emails).await;
    let file = write_input(whole_dir.path(), &lines);

    let (output, stdout, stderr) = run(&whole, &file, &[]);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let one_run = per_line(&stdout, &stderr);

    let mut together = BTreeMap::new();
    let mut per_shard = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let (output, stdout, stderr) = run(
            &sharded,
            &file,
            &["--shard", shard, "--progress-every", "0"],
        );
        let lines_of_shard = per_line(&stdout, &stderr);
        let failed = lines_of_shard
            .values()
            .any(|w| !w.starts_with("imported ") && !w.starts_with("already imported "));
        assert_eq!(
            output.status.code(),
            Some(i32::from(failed)),
            "{shard}:\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains(&format!(
                "other shards' lines {}",
                lines.len() - lines_of_shard.len()
            )),
            "{stdout}"
        );
        // Not a terminal: plain progress lines on stderr.
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("progress: ") && l.contains("% of the input")),
            "{stderr}"
        );
        per_shard.push(lines_of_shard.len());
        for (number, what) in lines_of_shard {
            assert!(
                together.insert(number, what).is_none(),
                "line {number} in two shards"
            );
        }
    }
    assert!(per_shard.iter().all(|&n| n >= 15), "{per_shard:?}");
    assert_eq!(together, one_run);
    assert_eq!(end_state(&sharded).await, end_state(&whole).await);
    // A user's lines share a shard: the second line of a user is "already
    // imported" or MFA_ALREADY_ENABLED in the shards as in one run.
    let verdicts: BTreeSet<&str> = together
        .values()
        .filter_map(|w| w.split_once(' ').map(|(first, _)| first))
        .collect();
    assert!(verdicts.contains("already"), "{together:?}");

    for bad in ["0/3", "4/3", "1/0", "x", "1/3/5", ""] {
        let (output, _, stderr) = run(&sharded, &file, &["--shard", bad]);
        assert_eq!(output.status.code(), Some(2), "--shard {bad:?}: {stderr}");
        assert!(stderr.contains("--shard takes I/N"), "{stderr}");
    }
}
