//! Attaches factors exported from another system to existing accounts of the
//! example server, so their users log in with the same authenticator app and
//! backup codes without enrolling again.
//!
//! ```text
//! cargo run --example import -- --database ./mfa-demo.db users.jsonl
//! cargo run --example import -- --database postgres://… --key-file server.key - < users.jsonl
//! ```
//!
//! One JSON object per line, `{"email", "format", …}`, with the fields the
//! source system uses (README, "Migrating from another system"). Each line is
//! all or nothing: a line that fails (malformed JSON, an unknown email or
//! format, a bad secret, MFA already on, bytes that are not UTF-8, more than
//! 64 KiB) is reported with its number and writes nothing, and the import
//! goes on with the next line; the exit status is 1 if any line failed. Every write is
//! the crate's compare-and-swap, so servers may keep running meanwhile. The
//! master key is read where the server reads it (`MFA_MASTER_KEY`, the key
//! file beside a SQLite database, or `--key-file`), with the server's own
//! code (`src/db.rs`, `src/keys.rs`).

#[allow(dead_code)]
#[path = "../src/db.rs"]
mod db;
#[allow(dead_code)]
#[path = "../src/keys.rs"]
mod keys;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use mfa::import::{CodeCase, ImportedFactor};
use mfa::totp::TotpParams;
use mfa::{KeyId, Keyring, Mfa, MfaContext, Policy};
use serde_json::Value;

use crate::db::{Db, Location, Store, on_pool};

const USAGE: &str = "\
usage: import --database PATH|postgres://…|mysql://… [--key-file PATH] FILE|-

  One JSON object per line: {\"email\", \"format\", …}; formats: otpauth,
  django-otp, devise-two-factor, gitlab, fortify, aspnet-identity, kratos.
  Accounts must exist. A failed line (a line that is not UTF-8 or is longer
  than 64 KiB included) is reported with its number, writes nothing and is
  skipped; the exit status is 1 if any line failed. Safe to run while
  servers are up.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (database, key_file, input) = match parse_args(&args) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(database, key_file, &input).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The arguments, or `None` for `--help`.
fn parse_args(args: &[String]) -> Result<Option<(Location, Option<PathBuf>, String)>, String> {
    let (mut database, mut key_file, mut input) = (None, None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--database" => database = args.next().map(|v| Location::parse(v)),
            "--key-file" => key_file = args.next().map(PathBuf::from),
            "-h" | "--help" => return Ok(None),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            file => input = Some(file.to_owned()),
        }
    }
    Ok(Some((
        database.ok_or("--database is required")?,
        key_file,
        input.ok_or("the input FILE (or - for stdin) is required")?,
    )))
}

/// Imports every line; returns how many failed.
async fn run(database: Location, key_file: Option<PathBuf>, input: &str) -> Result<usize, String> {
    match &database {
        Location::Memory => return Err("an in-memory database has no accounts to import to".into()),
        Location::File(path) if !path.exists() => {
            return Err(format!("the database {} does not exist", path.display()));
        }
        _ => {}
    }
    let (master_key, _) = keys::load(&database, key_file.as_deref())?;
    let store = Store::open(&database)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let db = store.db();
    // The server's keyring and policy: the same key id and Argon2 parameters.
    let config = MfaContext::new(
        Keyring::new(KeyId(1), master_key),
        Policy::new("MFA Example"),
    )
    .map_err(|e| format!("invalid configuration: {e}"))?;
    let mfa = Mfa::new(store, config);

    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(input).map_err(|e| format!("cannot read {input}: {e}"))?;
        Box::new(std::io::BufReader::new(file))
    };
    let (mut imported, mut failed) = (0usize, 0usize);
    let mut lines = Lines::new(reader);
    let mut number = 0usize;
    while let Some(line) = lines.next_line() {
        number += 1;
        let line = match line {
            Ok(Line::Text(line)) => line,
            Ok(Line::TooLong) => {
                failed += 1;
                eprintln!("line {number}: longer than {MAX_LINE_BYTES} bytes; skipped");
                continue;
            }
            Ok(Line::NotUtf8) => {
                failed += 1;
                eprintln!("line {number}: not UTF-8; skipped");
                continue;
            }
            Err(e) => return Err(format!("cannot read line {number}: {e}")),
        };
        if line.trim().is_empty() {
            continue;
        }
        match import_line(&mfa, &db, &line).await {
            Ok(email) => {
                imported += 1;
                println!("line {number}: imported {email}");
            }
            Err(reason) => {
                failed += 1;
                eprintln!("line {number}: {reason}");
            }
        }
    }
    db.close().await;
    println!("imported {imported}, failed {failed}");
    Ok(failed)
}

/// The longest line read, in bytes (its newline not counted): a factor with
/// a hundred legacy backup-code hashes takes a few KiB.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// A line of the input as read.
enum Line {
    Text(String),
    /// Longer than [`MAX_LINE_BYTES`]: read to its end and dropped.
    TooLong,
    /// Not valid UTF-8.
    NotUtf8,
}

/// The input's lines, each at most [`MAX_LINE_BYTES`] long in memory,
/// whatever the input holds.
struct Lines<R> {
    reader: R,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Lines { reader }
    }

    /// The next line, `None` at the end of the input.
    fn next_line(&mut self) -> Option<std::io::Result<Line>> {
        let mut bytes = Vec::new();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (part, ended) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], Some(i + 1)),
                None => (chunk, None),
            };
            if !too_long {
                if bytes.len() + part.len() > MAX_LINE_BYTES {
                    too_long = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(part);
                }
            }
            let used = ended.unwrap_or(chunk.len());
            self.reader.consume(used);
            if ended.is_some() {
                break;
            }
        }
        if !any {
            return None;
        }
        if too_long {
            return Some(Ok(Line::TooLong));
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Some(Ok(match String::from_utf8(bytes) {
            Ok(text) => Line::Text(text),
            Err(_) => Line::NotUtf8,
        }))
    }
}

/// One line: the account by email, the factor by format, then the import.
async fn import_line(mfa: &Mfa<Store>, db: &Db, line: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON ({e})"))?;
    let email = value
        .get("email")
        .and_then(Value::as_str)
        .map(|e| e.trim().to_lowercase())
        .ok_or("no \"email\"")?;
    let format = value
        .get("format")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{email}: no \"format\""))?;
    let factor = factor(format, &value).map_err(|e| format!("{email}: {}", describe(&e)))?;
    let user_id = user_id(db, &email)
        .await?
        .ok_or_else(|| format!("{email}: no account with this email"))?;
    mfa.import(&user_id, factor)
        .await
        .map_err(|e| format!("{email}: {}", describe(&e)))?;
    Ok(email)
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
    .map_err(|e| format!("{email}: the database failed ({e})"))?;
    Ok(row.map(|(id,)| id))
}

/// The factor a line describes, in its source's terms.
fn factor(format: &str, v: &Value) -> mfa::Result<ImportedFactor> {
    let text = |key: &'static str| -> mfa::Result<&str> {
        v.get(key)
            .and_then(Value::as_str)
            .ok_or(mfa::Error::InvalidImport("a required field is missing"))
    };
    let number = |key: &str| v.get(key).and_then(Value::as_i64);
    let defaults = TotpParams::default();
    let factor = match format {
        "otpauth" => {
            let factor = ImportedFactor::from_otpauth_uri(text("otpauthUrl")?)?;
            let case = match v.get("caseSensitive").and_then(Value::as_bool) {
                Some(false) => CodeCase::Insensitive,
                _ => CodeCase::Sensitive,
            };
            match strings(v.get("backupCodes"))? {
                Some(codes) => factor.with_plain_backup_codes(codes, case)?,
                None => factor,
            }
        }
        "django-otp" => {
            let params = TotpParams {
                digits: u8::try_from(number("digits").unwrap_or(6)).unwrap_or(0),
                period: u64::try_from(number("step").unwrap_or(30)).unwrap_or(0),
                ..defaults
            };
            let mut factor = ImportedFactor::from_hex(text("key")?, params)?
                .with_t0(u64::try_from(number("t0").unwrap_or(0)).unwrap_or(0));
            // `last_t` is -1 until a token is accepted.
            if let Some(last) = number("last_t").and_then(|t| u64::try_from(t).ok()) {
                factor = factor.with_last_step(last);
            }
            match strings(v.get("static_tokens"))? {
                Some(codes) => factor.with_plain_backup_codes(codes, CodeCase::Insensitive)?,
                None => factor,
            }
        }
        "devise-two-factor" | "gitlab" => {
            let mut factor = ImportedFactor::from_base32(text("otp_secret")?, defaults)?;
            if let Some(step) = number("consumed_timestep").and_then(|t| u64::try_from(t).ok()) {
                factor = factor.with_last_step(step);
            }
            match (format, strings(v.get("otp_backup_codes"))?) {
                (_, None) => factor,
                ("gitlab", Some(hashes)) => factor.with_pbkdf2_sha512_backup_codes(hashes)?,
                (_, Some(hashes)) => {
                    let pepper = v.get("pepper").and_then(Value::as_str).unwrap_or("");
                    factor.with_bcrypt_backup_codes(hashes, pepper)?
                }
            }
        }
        "fortify" => {
            let factor = ImportedFactor::from_base32(text("two_factor_secret")?, defaults)?;
            // Fortify keeps the codes as a JSON array in one (encrypted) column:
            // exported as that JSON text, or as the array itself.
            let parsed = match v.get("two_factor_recovery_codes") {
                Some(Value::String(json)) => {
                    Some(serde_json::from_str::<Value>(json).map_err(|_| {
                        mfa::Error::InvalidImport("two_factor_recovery_codes is not a JSON array")
                    })?)
                }
                other => other.cloned(),
            };
            match strings(parsed.as_ref())? {
                Some(codes) => factor.with_plain_backup_codes(codes, CodeCase::Sensitive)?,
                None => factor,
            }
        }
        "aspnet-identity" => {
            let factor = ImportedFactor::from_base32(text("AuthenticatorKey")?, defaults)?;
            match v.get("RecoveryCodes").and_then(Value::as_str) {
                Some(codes) if !codes.is_empty() => factor.with_plain_backup_codes(
                    codes.split(';').filter(|c| !c.is_empty()),
                    CodeCase::Insensitive,
                )?,
                _ => factor,
            }
        }
        "kratos" => {
            let factor = ImportedFactor::from_otpauth_uri(text("totp_url")?)?;
            let unused: Option<Vec<&str>> = match v.get("recovery_codes") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .filter(|item| item.get("used_at").is_none_or(Value::is_null))
                        .map(|item| item.get("code").and_then(Value::as_str))
                        .collect::<Option<_>>()
                        .ok_or(mfa::Error::InvalidImport("a recovery code has no code"))?,
                ),
                Some(_) => return Err(mfa::Error::InvalidImport("recovery_codes is not a list")),
            };
            match unused {
                Some(codes) => factor.with_plain_backup_codes(codes, CodeCase::Insensitive)?,
                None => factor,
            }
        }
        _ => return Err(mfa::Error::InvalidImport("unknown format")),
    };
    Ok(factor)
}

/// A list of strings, if the field is present.
fn strings(value: Option<&Value>) -> mfa::Result<Option<Vec<&str>>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or(mfa::Error::InvalidImport("a backup code is not a string")),
        Some(_) => Err(mfa::Error::InvalidImport("the backup codes are not a list")),
    }
}
