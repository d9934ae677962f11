//! Attaches factors exported from another system to existing accounts of the
//! example server, so their users log in with the same authenticator app and
//! backup codes without enrolling again.
//!
//! ```text
//! cargo run --release --example import -- --database ./mfa-demo.db users.jsonl
//! cargo run --release --example import -- --database postgres://… --key-file server.key - < users.jsonl
//! cargo run --release --example import -- --database postgres://… --shard 2/4 users.jsonl
//! ```
//!
//! One JSON object per line, `{"email", "format", …}`, with the fields the
//! source system uses (`mfa::guide::migration`). Each line is
//! all or nothing: a line that fails (malformed JSON, an unknown email or
//! format, a bad secret, MFA already on with another factor, bytes that are
//! not UTF-8, more than 64 KiB) is reported with its number and writes
//! nothing, and the import goes on; the exit status is 1 if any line failed.
//! Every write is the crate's compare-and-swap, so servers may keep running
//! meanwhile, and so may a run be killed at any point: run again on the same
//! input, it counts each user who already holds exactly the line's factor as
//! already imported and imports the rest.
//!
//! The input is streamed (`lines.rs`); up to `--jobs` lines are imported at
//! once, their Argon2 hashing bounded by `--hashes`
//! (`Mfa::with_max_concurrent_hashes`); two lines of one user never run at
//! once, and run in the order of the input. `--shard I/N` takes a share of
//! the lines (`shard.rs`). Progress goes to stderr (`progress.rs`). The
//! master key is read where the server reads it (`MFA_MASTER_KEY`, the key
//! file beside a SQLite database, or `--key-file`), with the server's own
//! code (`src/db.rs`, `src/keys.rs`).

#[allow(dead_code)]
#[path = "../../src/db.rs"]
mod db;
mod formats;
#[allow(dead_code)]
#[path = "../../src/keys.rs"]
mod keys;
mod lines;
mod progress;
mod shard;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mfa::{KeyId, Keyring, Mfa, MfaContext, Policy};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::db::{Db, Location, Store, on_pool};
use crate::lines::{Line, MAX_LINE_BYTES, Numbered, Source};
use crate::progress::{Outcome, Progress};
use crate::shard::Shard;

/// Attaches factors exported from another system to existing accounts.
///
/// One JSON object per line: {"email", "format", …}; formats: otpauth,
/// django-otp, devise-two-factor, gitlab, fortify, aspnet-identity, kratos.
/// Accounts must exist. A failed line (a line that is not UTF-8 or is longer
/// than 64 KiB included) is reported with its number, writes nothing and is
/// skipped; the exit status is 1 if any line failed. Safe to run while
/// servers are up, and to run again after an interruption: a user who
/// already holds exactly the line's factor counts as already imported.
#[derive(Parser)]
#[command(name = "import", version, verbatim_doc_comment)]
struct Args {
    /// The server's database: a SQLite file, or a postgres:// or mysql:// URL.
    #[arg(long, env = "MFA_DATABASE", value_name = "PATH|URL", value_parser = Location::parse)]
    database: Location,
    /// Where the master key is kept (default: <database>.key for a SQLite
    /// file); MFA_MASTER_KEY, when set, is used instead.
    #[arg(long, env = "MFA_KEY_FILE", value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Lines imported at once.
    #[arg(long, env = "MFA_JOBS", value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    jobs: u64,
    /// Argon2 hashes at once (default: the number of CPUs).
    #[arg(long, env = "MFA_HASHES", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    hashes: Option<u64>,
    /// Only the lines of shard I of N (by a hash of the email).
    #[arg(long, env = "MFA_SHARD", value_name = "I/N", default_value = "1/1", value_parser = Shard::parse)]
    shard: Shard,
    /// Seconds between progress lines on stderr when stderr is not a
    /// terminal (a terminal gets a bar).
    #[arg(long, env = "MFA_PROGRESS_EVERY", value_name = "SECS", default_value = "10", value_parser = seconds)]
    progress_every: Duration,
    /// The input file, or - for stdin.
    #[arg(value_name = "FILE|-")]
    input: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    // `--help`, `--version` and a bad flag (exit 2) end here.
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .init();
    match run(args).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// `--progress-every`: seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("--progress-every takes seconds, not {text:?}"))
}

/// A line handed to a task, and what became of it.
struct Done {
    number: usize,
    email: String,
    bytes: u64,
    outcome: Outcome,
}

/// Imports every line of the shard; returns how many failed.
async fn run(args: Args) -> Result<u64, String> {
    match &args.database {
        Location::Memory => return Err("an in-memory database has no accounts to import to".into()),
        Location::File(path) if !path.exists() => {
            return Err(format!("the database {} does not exist", path.display()));
        }
        _ => {}
    }
    let (master_key, _) = keys::load(&args.database, args.key_file.as_deref())?;
    let source = Source::parse(&args.input);
    let reader = source.open()?;
    let store = Store::open(&args.database)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let db = store.db();
    // The server's keyring and policy: the same key id and Argon2 parameters.
    let config = MfaContext::new(
        Keyring::new(KeyId(1), master_key),
        Policy::new("MFA Example"),
    )
    .map_err(|e| format!("invalid configuration: {e}"))?;
    let hashes = args.hashes.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| usize::try_from(n).unwrap_or(usize::MAX),
    );
    let jobs = usize::try_from(args.jobs).unwrap_or(usize::MAX);
    let mfa = Arc::new(Mfa::new(store, config).with_max_concurrent_hashes(hashes));

    let mut progress = Progress::new(source.len(), args.progress_every);
    let mut input = lines::spawn(reader, jobs * 2);
    let mut tasks: JoinSet<Done> = JoinSet::new();
    // The email of each line in flight, so that a user's lines run one at a
    // time and in order.
    let mut in_flight: HashMap<String, usize> = HashMap::new();
    let mut read_error = None;
    while let Some(read) = input.recv().await {
        let Numbered {
            number,
            line,
            bytes,
        } = match read {
            Ok(read) => read,
            Err(e) => {
                read_error = Some(format!("cannot read line {}: {}", e.number, e.error));
                break;
            }
        };
        let (email, value) = match parse_line(line) {
            Parsed::Blank => {
                progress.line_done(bytes, None, false);
                continue;
            }
            Parsed::Bad(reason) => {
                let outcome = Outcome::Failed(reason);
                if args.shard.holds_line(number) {
                    report(&mut progress, number, "", bytes, &outcome);
                } else {
                    progress.line_done(bytes, None, true);
                }
                continue;
            }
            Parsed::User { email, value } => (email, value),
        };
        if !args.shard.holds_email(&email) {
            progress.line_done(bytes, None, true);
            continue;
        }
        while in_flight.contains_key(&email) || tasks.len() >= jobs {
            let done = next_done(&mut tasks).await?;
            in_flight.remove(&done.email);
            report(
                &mut progress,
                done.number,
                &done.email,
                done.bytes,
                &done.outcome,
            );
        }
        in_flight.insert(email.clone(), number);
        let (mfa, db) = (Arc::clone(&mfa), db.clone());
        tasks.spawn(async move {
            let outcome = import_user(&mfa, &db, &email, &value).await;
            Done {
                number,
                email,
                bytes,
                outcome,
            }
        });
    }
    while !tasks.is_empty() {
        let done = next_done(&mut tasks).await?;
        report(
            &mut progress,
            done.number,
            &done.email,
            done.bytes,
            &done.outcome,
        );
    }
    db.close().await;
    let summary = progress.finish();
    println!("{summary}");
    match read_error {
        Some(message) => Err(message),
        None => Ok(progress.tally.failed),
    }
}

async fn next_done(tasks: &mut JoinSet<Done>) -> Result<Done, String> {
    match tasks.join_next().await {
        Some(Ok(done)) => Ok(done),
        Some(Err(e)) => Err(format!("an import task failed: {e}")),
        None => Err("no import in flight".into()),
    }
}

/// Prints what became of a line and counts it.
fn report(progress: &mut Progress, number: usize, email: &str, bytes: u64, outcome: &Outcome) {
    match outcome {
        Outcome::Imported => progress.report(&format!("line {number}: imported {email}"), false),
        Outcome::AlreadyImported => {
            progress.report(&format!("line {number}: already imported {email}"), false);
        }
        Outcome::Failed(reason) => progress.report(&format!("line {number}: {reason}"), true),
    }
    progress.line_done(bytes, Some(outcome), false);
}

/// A line, read as far as its email.
enum Parsed {
    Blank,
    /// A line with no email to read: why.
    Bad(String),
    User {
        email: String,
        value: Value,
    },
}

fn parse_line(line: Line) -> Parsed {
    let text = match line {
        Line::Text(text) => text,
        Line::TooLong => {
            return Parsed::Bad(format!("longer than {MAX_LINE_BYTES} bytes; skipped"));
        }
        Line::NotUtf8 => return Parsed::Bad("not UTF-8; skipped".into()),
    };
    if text.trim().is_empty() {
        return Parsed::Blank;
    }
    let value: Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(e) => return Parsed::Bad(format!("malformed JSON ({e})")),
    };
    match value.get("email").and_then(Value::as_str) {
        Some(email) => Parsed::User {
            email: email.trim().to_lowercase(),
            value,
        },
        None => Parsed::Bad("no \"email\"".into()),
    }
}

/// One user's line: the account by email, the factor by format, then the
/// import; over an active factor, whether it is exactly this one.
async fn import_user(mfa: &Mfa<Store>, db: &Db, email: &str, value: &Value) -> Outcome {
    match try_import(mfa, db, email, value).await {
        Ok(outcome) => outcome,
        Err(reason) => Outcome::Failed(format!("{email}: {reason}")),
    }
}

async fn try_import(
    mfa: &Mfa<Store>,
    db: &Db,
    email: &str,
    value: &Value,
) -> Result<Outcome, String> {
    let format = value
        .get("format")
        .and_then(Value::as_str)
        .ok_or("no \"format\"")?;
    let factor = formats::factor(format, value).map_err(|e| describe(&e))?;
    let user_id = user_id(db, email)
        .await?
        .ok_or("no account with this email")?;
    match mfa.import(&user_id, factor).await {
        Ok(()) => Ok(Outcome::Imported),
        Err(mfa::Error::MfaAlreadyEnabled) => {
            // `import` took the factor; the line describes it again.
            let factor = formats::factor(format, value).map_err(|e| describe(&e))?;
            let record = mfa.load(&user_id).await.map_err(|e| describe(&e))?;
            match record.holds_imported(mfa.context(), &user_id, &factor) {
                Ok(true) => Ok(Outcome::AlreadyImported),
                Ok(false) => Err(describe(&mfa::Error::MfaAlreadyEnabled)),
                Err(e) => Err(describe(&e)),
            }
        }
        Err(e) => Err(describe(&e)),
    }
}

fn describe(error: &mfa::Error) -> String {
    format!("{} ({error})", error.code())
}

/// The account's id, as the server's `app_users` table holds it.
async fn user_id(db: &Db, email: &str) -> Result<Option<String>, String> {
    let sql = match db {
        Db::Mysql(_) => "SELECT id FROM app_users WHERE email = ?",
        Db::Sqlite(_) | Db::Postgres(_) => "SELECT id FROM app_users WHERE email = $1",
    };
    let row: Option<(String,)> = on_pool!(db, pool =>
        sqlx::query_as(sql).bind(email).fetch_optional(pool).await)
    .map_err(|e| format!("the database failed ({e})"))?;
    Ok(row.map(|(id,)| id))
}
