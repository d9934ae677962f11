//! A small but real backend on the crate: every endpoint of the HTTP contract
//! (register, login with a second step, TOTP setup and confirmation, status,
//! both backup-code regenerations, disable, step-up, replacing the
//! authenticator, remembered devices, and the operator's unlock and reset)
//! over axum, with accounts and MFA records in one SQLite, PostgreSQL or
//! MySQL (MariaDB) database.
//!
//! Sessions are bound to the user's security epoch and carry their proof of
//! the second factor (`auth.rs`): enabling, disabling, replacing or resetting
//! MFA revokes every earlier session and `mfaToken`, also on the other
//! servers sharing the database; managing the factor without a code needs a
//! recent proof (`--step-up-window`). A login's second step may remember the
//! device (`"rememberDevice": true`): its `deviceToken`, sent with the
//! password, skips the second step for `--remember-days`, until it is
//! forgotten or the factor changes. Security events go to stderr as JSON lines.
//! `GET /` serves a browser page on the same API (`page.rs`).
//!
//! Passkeys (WebAuthn) join the authenticator app in the user's factor set:
//! registered with the password (and a recent proof while MFA is on), used
//! at the login's second step, for step-up, and alone (passwordless, unless
//! `--no-passwordless`). The relying party is `--rp-id` for the `--origin`s
//! (`webauthn.rs`); the routes are in `routes/passkeys.rs`,
//! `routes/passwordless.rs` and `routes/step_up.rs`.
//!
//! ```text
//! cargo run --bin server -- --addr 127.0.0.1:8080 --database ./mfa-demo.db
//! ```
//!
//! See the README's "The example server" section for a walk through with curl.

mod attempts;
mod auth;
mod connections;
mod db;
mod error;
mod extract;
#[cfg(feature = "bench-floor")]
mod floor;
mod keys;
mod middleware;
mod openapi;
mod operators;
mod page;
mod passwords;
mod routes;
mod users;
mod webauthn;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use mfa::compliance::{HostFacts, Profile};
use mfa::event::SecurityEvent;
use mfa::{KeyId, Keyring, Mfa, MfaContext, Policy};
use tokio::sync::Semaphore;

use crate::attempts::PasswordAttempts;
use crate::auth::Tokens;
use crate::db::{Location, Store};
use crate::operators::Operators;
use crate::passwords::Passwords;
use crate::users::Users;

const USAGE: &str = "\
usage: server [--addr HOST:PORT] [--database PATH | :memory: | postgres://... | mysql://...]
              [--key-file PATH] [--pending-ttl SECONDS] [--max-concurrent-hashes N]
              [--header-timeout SECONDS] [--body-timeout SECONDS]
              [--idle-timeout SECONDS] [--max-connections N]
              [--step-up-window SECONDS] [--mfa-token-ttl SECONDS]
              [--remember-days DAYS | --remember-secs SECONDS] [--max-devices N]
              [--admin-tokens FILE] [--insecure-lockout-delay SECONDS]
              [--insecure-password-delay SECONDS] [--insecure-password-forget SECONDS]
              [--rp-id DOMAIN] [--origin URL]... [--max-passkeys N] [--no-passwordless]
              [--policy default | nist-aal2]

  --addr         address to listen on (default 127.0.0.1:8080; port 0 picks a free one)
  --database     SQLite file, created with its schema if missing (default ./mfa-demo.db),
                 :memory: for a throwaway database, or a postgres:// or mysql:// URL
  --key-file     where the master key is kept (default: <database>.key for a SQLite file)
  --pending-ttl  seconds a TOTP setup, or a replacement authenticator, stays
                 confirmable (default 600)
  --max-concurrent-hashes
                 backup-code Argon2 evaluations in flight at once (default: one per CPU)
  --header-timeout
                 seconds a request's headers may take to arrive (default 10): from
                 the connection's start for its first request, from the first byte
                 for later ones; a connection that misses it is closed
  --body-timeout seconds a request's body may take after its headers (default 10);
                 a late body gets 408 REQUEST_TIMEOUT and the connection is closed
  --idle-timeout seconds a kept-alive connection may wait between requests
                 (default 60)
  --max-connections
                 connections served at once (default 1024); further ones wait in
                 the listening socket's backlog until one ends
  --step-up-window
                 how old (seconds) a session's proof of the second factor may be
                 for regenerating backup codes, beginning a replacement of the
                 authenticator or forgetting remembered devices, all without a
                 code (default 600); older sessions, and those of a remembered
                 device, get 403 STEP_UP_REQUIRED until POST /api/auth/step-up
  --mfa-token-ttl
                 seconds an mfaToken (the login's second step) stays usable
                 (default 300); it completes at most one login either way
  --remember-days
                 days a remembered device skips the second step (default 30,
                 at most 365): the deviceToken that POST /api/auth/login/mfa
                 answers to \"rememberDevice\": true
  --remember-secs
                 the same in seconds (at most 31536000), for short demos and tests;
                 the last of --remember-days and --remember-secs given counts
  --max-devices  remembered devices per user (default 10, at most 64); remembering
                 one more forgets the oldest
  --insecure-lockout-delay
                 FOR TESTS AND DEMOS ONLY: seconds of the first lock after 5
                 consecutive wrong codes (default 30, doubling up to 900); 0 turns
                 the timed locks off and lets codes be guessed quickly. The hard
                 stop after 100 failures stays. The server warns at start-up
  --admin-tokens operator tokens, one `name:token` per line (instead of
                 MFA_ADMIN_TOKENS; see below)
  --rp-id        the passkeys' relying party id, a domain (default localhost): each
                 origin's host or a parent domain of it
  --origin       an origin of the pages that use passkeys, such as
                 https://login.example.com; repeat it for several (default
                 http://localhost:<port>: browsers allow passkeys on http://localhost,
                 not on http://127.0.0.1). The server refuses to start with an origin
                 that the relying party id does not cover
  --max-passkeys passkeys per user (default 10, from 1 to 16: the second step's
                 mfaToken carries every passkey's WebAuthn state, and comes back
                 in a body of at most 16 KiB)
  --no-passwordless
                 no login with a passkey alone: POST /api/auth/passkey/options and
                 POST /api/auth/passkey do not exist; passkeys still serve as the
                 second step and for step-up
  --policy       default (the crate's defaults) or nist-aal2 (the crate's preset
                 for NIST SP 800-63B-4 at AAL2: 15-character backup codes, 65 bits).
                 Start-up prints how many of that profile's requirements are not met;
                 GET /api/admin/compliance answers the whole report
  --insecure-password-delay
                 FOR TESTS AND DEMOS ONLY: seconds of the first wait after 5
                 wrong passwords for one account (default 30, from 1 to 900,
                 doubling up to 900). The server warns at start-up
  --insecure-password-forget
                 FOR TESTS AND DEMOS ONLY: seconds after its last wrong password
                 that an account's password count is forgotten, unless it is
                 locked (default 86400, from 1 to 2592000). The server warns at
                 start-up

The master key comes from MFA_MASTER_KEY (base64 of 32 bytes) if it is set,
otherwise from the key file, which is created (mode 0600) on first run.
With PostgreSQL or MySQL, set MFA_MASTER_KEY or pass --key-file: every server that
shares the database needs the same key.

Passkeys need a page served from one of the origins: with the defaults, open
http://localhost:<port>/ rather than http://127.0.0.1:<port>/.

Operator routes (POST /api/admin/users/{id}/mfa/unlock and .../reset, body
{\"reason\"}, and GET /api/admin/compliance) exist only with operator tokens: MFA_ADMIN_TOKENS (or the file of
--admin-tokens) holds one operator per line, `name:token`, and MFA_ADMIN_TOKEN
one token whose operator is named `operator`. A token is at least 32 visible
ASCII characters, sent as `Authorization: Bearer <token>`; a name is 1 to 64
ASCII letters, digits, `.`, `_`, `-` or `@`. Security events (operator actions
with the operator's name and reason) are written to stderr as JSON lines.";

/// Everything the handlers share.
pub struct App {
    pub mfa: Mfa<Store>,
    pub users: Users,
    pub passwords: Passwords,
    /// Wrong passwords per account, shared through the database.
    pub attempts: PasswordAttempts,
    pub tokens: Tokens,
    /// The operators, if the operator routes are on.
    pub operators: Option<Operators>,
    /// Whether a passkey alone logs in (`--no-passwordless` turns it off).
    pub passwordless: bool,
}

pub type AppState = Arc<App>;

struct Args {
    addr: SocketAddr,
    database: Location,
    key_file: Option<PathBuf>,
    pending_ttl_secs: u64,
    max_concurrent_hashes: Option<usize>,
    step_up_window_secs: u64,
    mfa_token_ttl_secs: u64,
    remember_secs: u64,
    max_devices: usize,
    lockout_delay_secs: Option<u64>,
    password_delay_secs: Option<u64>,
    password_forget_secs: Option<u64>,
    admin_tokens: Option<PathBuf>,
    limits: connections::Limits,
    rp_id: String,
    /// `--origin`s; none given means `http://localhost:<port>`.
    origins: Vec<String>,
    max_passkeys: usize,
    passwordless: bool,
    /// `--policy nist-aal2`: the crate's NIST SP 800-63B-4 AAL2 preset.
    nist_aal2: bool,
}

/// What the compliance report cannot read from the crate: sessions last an
/// hour from login (so never idle longer), and security events are logged
/// to stderr, not kept, nor sent to the user.
const HOST_FACTS: HostFacts = {
    let mut facts = HostFacts::unknown();
    facts.session_max_age_secs = Some(auth::SESSION_SECS);
    facts.session_idle_secs = Some(auth::SESSION_SECS);
    facts.notifies_factor_changes = Some(false);
    facts.notifies_suspicious_attempts = Some(false);
    facts.keeps_event_history = Some(false);
    facts
};

const DAY_SECS: u64 = 24 * 60 * 60;

/// The most passkeys `--max-passkeys` allows. The `mfaToken` of a user with
/// passkeys carries the second step's WebAuthn state, about 770 bytes per
/// passkey, and comes back in a body of at most 16 KiB with the assertion:
/// 16 leave room to spare (`tests/http_passkeys.rs` measures it).
const MAX_PASSKEYS: usize = 16;

fn positive_secs(flag: &str, v: &str) -> Result<Duration, String> {
    v.parse()
        .ok()
        .filter(|&n| n > 0 && n <= 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{flag}: {v:?} is not a number of seconds from 1 to 86400"))
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        database: Location::File(PathBuf::from("./mfa-demo.db")),
        key_file: None,
        pending_ttl_secs: 600,
        max_concurrent_hashes: None,
        step_up_window_secs: 600,
        mfa_token_ttl_secs: 300,
        remember_secs: 30 * DAY_SECS,
        max_devices: 10,
        lockout_delay_secs: None,
        password_delay_secs: None,
        password_forget_secs: None,
        admin_tokens: None,
        limits: connections::Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        },
        rp_id: "localhost".to_owned(),
        origins: Vec::new(),
        max_passkeys: 10,
        passwordless: true,
        nist_aal2: false,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--no-passwordless" {
            if inline.is_some() {
                return Err("--no-passwordless takes no value".into());
            }
            parsed.passwordless = false;
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => {
                let v = value()?;
                parsed.addr = v.parse().map_err(|_| {
                    format!("--addr: {v:?} is not HOST:PORT (for example 127.0.0.1:8080)")
                })?;
            }
            "--database" => {
                let v = value()?;
                if v.is_empty() {
                    return Err("--database must not be empty".into());
                }
                parsed.database = Location::parse(&v);
            }
            "--key-file" => parsed.key_file = Some(PathBuf::from(value()?)),
            "--pending-ttl" => {
                let v = value()?;
                parsed.pending_ttl_secs = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("--pending-ttl: {v:?} is not a positive number of seconds")
                })?;
            }
            "--max-concurrent-hashes" => {
                let v = value()?;
                parsed.max_concurrent_hashes =
                    Some(v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("--max-concurrent-hashes: {v:?} is not a positive number")
                    })?);
            }
            "--step-up-window" => {
                parsed.step_up_window_secs =
                    positive_secs("--step-up-window", &value()?)?.as_secs();
            }
            "--mfa-token-ttl" => {
                parsed.mfa_token_ttl_secs = positive_secs("--mfa-token-ttl", &value()?)?.as_secs();
            }
            "--remember-days" => {
                let v = value()?;
                let days: u64 = v
                    .parse()
                    .ok()
                    .filter(|&n| (1..=365).contains(&n))
                    .ok_or_else(|| {
                        format!("--remember-days: {v:?} is not a number of days from 1 to 365")
                    })?;
                parsed.remember_secs = days * DAY_SECS;
            }
            "--remember-secs" => {
                let v = value()?;
                parsed.remember_secs = v
                    .parse()
                    .ok()
                    .filter(|&n| (1..=365 * DAY_SECS).contains(&n))
                    .ok_or_else(|| {
                        format!(
                            "--remember-secs: {v:?} is not a number of seconds from 1 to 31536000"
                        )
                    })?;
            }
            "--max-devices" => {
                let v = value()?;
                parsed.max_devices = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| format!("--max-devices: {v:?} is not a number from 1 to 64"))?;
            }
            "--insecure-lockout-delay" => {
                let v = value()?;
                parsed.lockout_delay_secs =
                    Some(v.parse().ok().filter(|&n| n <= 900).ok_or_else(|| {
                        format!("--insecure-lockout-delay: {v:?} is not a number of seconds from 0 to 900")
                    })?);
            }
            "--insecure-password-delay" => {
                let v = value()?;
                parsed.password_delay_secs =
                    Some(v.parse().ok().filter(|n| (1..=900).contains(n)).ok_or_else(|| {
                        format!("--insecure-password-delay: {v:?} is not a number of seconds from 1 to 900")
                    })?);
            }
            "--insecure-password-forget" => {
                let v = value()?;
                parsed.password_forget_secs = Some(
                    v.parse()
                        .ok()
                        .filter(|n| (1..=30 * DAY_SECS).contains(n))
                        .ok_or_else(|| {
                            format!("--insecure-password-forget: {v:?} is not a number of seconds from 1 to 2592000")
                        })?,
                );
            }
            "--admin-tokens" => parsed.admin_tokens = Some(PathBuf::from(value()?)),
            "--rp-id" => {
                let v = value()?;
                if v.is_empty() {
                    return Err("--rp-id must not be empty".into());
                }
                parsed.rp_id = v;
            }
            "--origin" => parsed.origins.push(value()?),
            "--policy" => {
                let v = value()?;
                parsed.nist_aal2 = match v.as_str() {
                    "default" => false,
                    "nist-aal2" => true,
                    _ => return Err(format!("--policy: {v:?} is not default or nist-aal2")),
                };
            }
            "--max-passkeys" => {
                let v = value()?;
                parsed.max_passkeys = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PASSKEYS).contains(n))
                    .ok_or_else(|| {
                        format!("--max-passkeys: {v:?} is not a number from 1 to {MAX_PASSKEYS}")
                    })?;
            }
            "--header-timeout" => {
                parsed.limits.header_timeout = positive_secs("--header-timeout", &value()?)?;
            }
            "--body-timeout" => {
                parsed.limits.body_timeout = positive_secs("--body-timeout", &value()?)?;
            }
            "--idle-timeout" => {
                parsed.limits.idle_timeout = positive_secs("--idle-timeout", &value()?)?;
            }
            "--max-connections" => {
                let v = value()?;
                parsed.limits.max_connections = v
                    .parse()
                    .ok()
                    .filter(|&n| (1..=Semaphore::MAX_PERMITS.min(1 << 20)).contains(&n))
                    .ok_or_else(|| {
                        format!("--max-connections: {v:?} is not a number from 1 to 1048576")
                    })?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(parsed))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    // Bound first: the default origin names the port.
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let relying_party = webauthn::relying_party(&args.rp_id, &args.origins, local.port())?;
    let operators = Operators::load(args.admin_tokens.as_deref())?;
    let (master_key, key_line) = keys::load(&args.database, args.key_file.as_deref())?;
    let store = Store::open(&args.database).await.map_err(|e| {
        format!(
            "cannot open the database ({}): {e}",
            args.database.describe()
        )
    })?;
    let db = store.db();
    let users = Users::open(db.clone())
        .await
        .map_err(|e| format!("cannot create the accounts table: {e}"))?;
    if let Some(delay) = args.password_delay_secs {
        eprintln!(
            "WARNING: --insecure-password-delay {delay}: the wait after wrong passwords is shortened; never use this in production"
        );
    }
    if let Some(forget) = args.password_forget_secs {
        eprintln!(
            "WARNING: --insecure-password-forget {forget}: wrong passwords are forgotten sooner; never use this in production"
        );
    }
    let password_forget_secs = args.password_forget_secs.unwrap_or(DAY_SECS);
    let attempts = PasswordAttempts::open(
        db.clone(),
        args.password_delay_secs.unwrap_or(30),
        password_forget_secs,
    )
    .await
    .map_err(|e| format!("cannot create the password locks table: {e}"))?;
    println!("database: {}", args.database.describe());
    println!("{key_line}");
    match &operators {
        Some(operators) => println!(
            "operator routes: on (operators: {})",
            operators.names().join(", ")
        ),
        None => println!(
            "operator routes: off (no MFA_ADMIN_TOKENS, --admin-tokens or MFA_ADMIN_TOKEN)"
        ),
    }

    let tokens = Tokens::new(&master_key);
    let mut policy = match args.nist_aal2 {
        true => Policy::nist_800_63b4_aal2("MFA Example"),
        false => Policy::new("MFA Example"),
    };
    policy.pending_ttl_secs = args.pending_ttl_secs;
    policy.step_up_window_secs = args.step_up_window_secs;
    policy.login_challenge_ttl_secs = args.mfa_token_ttl_secs;
    policy.devices.ttl_secs = args.remember_secs;
    policy.devices.max_devices = args.max_devices;
    policy.passkeys.max_passkeys = args.max_passkeys;
    policy.passkeys.passwordless = args.passwordless;
    if let Some(delay) = args.lockout_delay_secs {
        eprintln!(
            "WARNING: --insecure-lockout-delay {delay}: the lockout after wrong codes is weakened; never use this in production"
        );
        policy.lockout.base_delay_secs = delay;
    }
    let config = MfaContext::new(Keyring::new(KeyId(1), master_key), policy)
        .map_err(|e| format!("invalid configuration: {e}"))?
        .with_relying_party(relying_party.party);
    let default_origin = relying_party.default_origin;
    println!(
        "passkeys: relying party {} for {}; passwordless login {}",
        args.rp_id,
        relying_party.origins.join(", "),
        if args.passwordless { "on" } else { "off" }
    );
    let report = config.compliance(Profile::Nist800_63B4Aal2, &HOST_FACTS);
    let not_met: Vec<_> = report.not_met().map(|f| f.id).collect();
    println!(
        "policy: {} ({} of {} NIST SP 800-63B-4 AAL2 requirements not met{}; GET /api/admin/compliance)",
        if args.nist_aal2 {
            "nist-aal2"
        } else {
            "default"
        },
        not_met.len(),
        report.findings().len(),
        if not_met.is_empty() {
            String::new()
        } else {
            format!(": {}", not_met.join(", "))
        }
    );
    let passwords = Passwords::new()
        .await
        .map_err(|_| "cannot hash passwords".to_owned())?;
    let mut mfa = Mfa::new(store, config).with_event_sink(log_security_event);
    if let Some(limit) = args.max_concurrent_hashes {
        mfa = mfa.with_max_concurrent_hashes(limit);
    }
    let app = Arc::new(App {
        mfa,
        users,
        passwords,
        attempts,
        tokens,
        operators,
        passwordless: args.passwordless,
    });
    tokio::spawn(purge_password_locks(
        Arc::clone(&app),
        Duration::from_secs((password_forget_secs / 2).clamp(1, 60)),
    ));

    let router = routes::router(app)
        .layer(DefaultBodyLimit::max(middleware::BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            args.limits.body_timeout,
            middleware::request_context,
        ));
    println!("listening on http://{local}");
    // Passkeys work on the page only at one of their origins.
    match relying_party.origins.first() {
        Some(origin) if default_origin => println!("page: {origin}/"),
        _ => println!("page: http://{local}/"),
    }
    // On a signal, stop accepting, let requests in flight finish, and close
    // connections that are still open 10 seconds later.
    let finished = connections::serve(
        listener,
        router,
        args.limits,
        shutdown_signal(),
        Duration::from_secs(10),
    )
    .await;
    if !finished {
        eprintln!("warning: connections still open 10 s after the signal were closed");
    }
    db.close().await;
    println!("shut down");
    Ok(())
}

/// Deletes forgotten password counts every `interval`, for as long as the
/// server runs (every server sharing the database does; the deletes are
/// idempotent and bounded). A live lock is never deleted.
async fn purge_password_locks(app: AppState, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match app.attempts.purge().await {
            Ok(0) => {}
            Ok(n) => println!("password locks: {n} forgotten counts purged"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => eprintln!("warning: forgotten password counts could not be purged: {e}"),
        }
    }
}

/// Writes a security event to stderr as one JSON line: `{"securityEvent":
/// "operator_reset", "userId", "at", ...the event's fields}`. No event holds a
/// secret; an operator's reason is JSON-escaped like everything else.
fn log_security_event(user_id: &str, event: &SecurityEvent) {
    let mut line = serde_json::Map::new();
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(event) {
        for (key, value) in fields {
            let key = if key == "event" {
                "securityEvent".into()
            } else {
                key
            };
            line.insert(key, value);
        }
    }
    line.insert("userId".into(), user_id.into());
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    line.insert("at".into(), at.into());
    eprintln!("{}", serde_json::Value::Object(line));
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    println!("shutting down");
}
