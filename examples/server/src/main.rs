//! A small but real backend on the crate: every endpoint of the HTTP contract
//! (register, login with a second step, TOTP setup and confirmation, status,
//! both backup-code regenerations, disable, step-up, replacing the
//! authenticator, remembered devices, and the operator's unlock and reset)
//! over axum, with accounts and MFA records in one SQLite, PostgreSQL or
//! MySQL (MariaDB) database. Every MFA route is `mfa-axum`'s, on this
//! server's `MfaHost` (`host.rs`).
//!
//! Sessions are bound to the user's security epoch and carry their proof of
//! the second factor (`auth.rs`): enabling, disabling, replacing or resetting
//! MFA revokes every earlier session and `mfaToken`, also on the other
//! servers sharing the database; managing the factor without a code needs a
//! recent proof (`--step-up-window`). A login's second step may remember the
//! device (`"rememberDevice": true`): its `deviceToken`, sent with the
//! password, skips the second step for `--remember-days`, until it is
//! forgotten or the factor changes. Logs, security events among them, go
//! through `tracing` to stderr (`logs.rs`); `GET /metrics` answers the
//! Prometheus text format (`metrics.rs`).
//! `GET /` serves a browser page on the same API (`mfa_axum::page_router`).
//!
//! Passkeys (WebAuthn) join the authenticator app in the user's factor set:
//! registered with the password (and a recent proof while MFA is on), used
//! at the login's second step, for step-up, and alone (passwordless, unless
//! `--no-passwordless`). The relying party is `--rp-id` for the `--origin`s
//! (`webauthn.rs`); the routes are `mfa-axum`'s, like every MFA route
//! (`routes.rs`, `host.rs`).
//!
//! ```text
//! cargo run --bin server -- --addr 127.0.0.1:8080 --database ./mfa-demo.db
//! ```
//!
//! Every flag is also an environment variable (`args.rs`; `--help` lists them).
//!
//! `examples/server/README.md` walks through it with curl.

mod args;
mod attempts;
mod auth;
mod connections;
mod db;
mod error;
#[cfg(feature = "bench-floor")]
mod floor;
mod host;
mod keys;
mod logs;
mod metrics;
mod middleware;
mod openapi;
mod operators;
mod passwords;
mod routes;
mod users;
mod webauthn;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use clap::Parser;
use metrics_exporter_prometheus::PrometheusHandle;
use mfa::compliance::{HostFacts, Profile};
use mfa::event::TracingSink;
use mfa::{KeyId, Keyring, Mfa, MfaContext, Policy};

use crate::args::{Args, DAY_SECS, PolicyChoice};
use crate::attempts::PasswordAttempts;
use crate::auth::Tokens;
use crate::db::Store;
use crate::operators::Operators;
use crate::passwords::Passwords;
use crate::users::Users;

/// Everything the handlers share (behind [`AppState`]).
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
    /// Renders `GET /metrics`.
    pub metrics: PrometheusHandle,
}

pub use host::AppState;

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

#[tokio::main]
async fn main() -> ExitCode {
    // `--help`, `--version` and a bad flag (exit 2) end here.
    let args = Args::parse();
    logs::init(args.log_format);
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
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
    if let Some(delay) = args.insecure_password_delay {
        tracing::warn!(
            "WARNING: --insecure-password-delay {delay}: the wait after wrong passwords is shortened; never use this in production"
        );
    }
    if let Some(forget) = args.insecure_password_forget {
        tracing::warn!(
            "WARNING: --insecure-password-forget {forget}: wrong passwords are forgotten sooner; never use this in production"
        );
    }
    let password_forget_secs = args.insecure_password_forget.unwrap_or(DAY_SECS);
    let attempts = PasswordAttempts::open(
        db.clone(),
        args.insecure_password_delay.unwrap_or(30),
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
    let nist_aal2 = args.policy == PolicyChoice::NistAal2;
    let passwordless = !args.no_passwordless;
    let mut policy = match nist_aal2 {
        true => Policy::nist_800_63b4_aal2("MFA Example"),
        false => Policy::new("MFA Example"),
    };
    policy.pending_ttl_secs = args.pending_ttl;
    policy.step_up_window_secs = args.step_up_window;
    policy.login_challenge_ttl_secs = args.mfa_token_ttl;
    policy.devices.ttl_secs = args.remember_secs();
    policy.devices.max_devices = usize::try_from(args.max_devices).unwrap_or(usize::MAX);
    policy.passkeys.max_passkeys = usize::try_from(args.max_passkeys).unwrap_or(usize::MAX);
    policy.passkeys.passwordless = passwordless;
    if let Some(delay) = args.insecure_lockout_delay {
        tracing::warn!(
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
        if passwordless { "on" } else { "off" }
    );
    let report = config.compliance(Profile::Nist800_63B4Aal2, &HOST_FACTS);
    let not_met: Vec<_> = report.not_met().map(|f| f.id).collect();
    println!(
        "policy: {} ({} of {} NIST SP 800-63B-4 AAL2 requirements not met{}; GET /api/admin/compliance)",
        if nist_aal2 { "nist-aal2" } else { "default" },
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
    let mut mfa = Mfa::new(store, config).with_event_sink(TracingSink);
    if let Some(limit) = args.max_concurrent_hashes {
        mfa = mfa.with_max_concurrent_hashes(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let metrics = metrics::install()?;
    if let Some(addr) = args.metrics_addr {
        let local = metrics::serve_apart(addr, metrics.clone()).await?;
        println!("metrics: http://{local}/metrics");
    }
    let app = AppState(Arc::new(App {
        mfa,
        users,
        passwords,
        attempts,
        tokens,
        operators,
        passwordless,
        metrics,
    }));
    tokio::spawn(purge_password_locks(
        app.clone(),
        Duration::from_secs((password_forget_secs / 2).clamp(1, 60)),
    ));

    let router = routes::router(app)
        .layer(DefaultBodyLimit::max(middleware::BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            args.limits().body_timeout,
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
        args.limits(),
        shutdown_signal(),
        Duration::from_secs(10),
    )
    .await;
    if !finished {
        tracing::warn!("connections still open 10 s after the signal were closed");
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
            Err(e) => tracing::warn!("forgotten password counts could not be purged: {e}"),
        }
    }
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
