//! The MFA endpoints of the example server's contract on actix-web 4, over
//! the same crate calls as the axum server (`examples/server/`): the proof
//! that the crate is not tied to one web framework.
//!
//! ```sh
//! cargo run --bin actix_server -- --addr 127.0.0.1:8081 --database ./mfa-actix.db
//! ```
//!
//! Its MFA routes — setup (with the password), confirm, status, the login
//! second step, the two regenerate routes and disable — answer exactly as
//! the axum server's do:
//! the black-box suite's MFA part (`examples/server/tests/http_mfa/`) runs
//! against both. Passkeys too: registering one (`POST
//! /api/user/me/passkeys/options` with the password, then `POST
//! /api/user/me/passkeys`) and the second step with one (`passkeyOptions` at
//! the password step, `{mfaToken, passkey}` at `/api/auth/login/mfa`), for
//! the relying party `--rp-id` (default `localhost`) and its `--origin`
//! (default `http://localhost:<port>`). Its accounts are simpler: kept in memory (MFA records are
//! in SQLite, or in memory with `--database :memory:`), opaque random session
//! and `mfaToken`s held in memory instead of signed JWTs, and no password
//! lock, remembered devices, step-up, passwordless login, passkey
//! management, replacement or operator routes. The
//! errors are the crate's own problem documents (`mfa::http`), with the
//! request's id and path added by one middleware.
//!
//! The master key comes from `MFA_MASTER_KEY` (base64 of 32 bytes); without
//! it a random key is used and the records cannot be read after a restart.
//!
//! Where things are: this file has the start-up, the app state, the
//! arguments and the route table;
//! - `routes/`: the handlers by flow — `register.rs`, `login.rs` (the
//!   password step and the second step), `factor.rs` (the authenticator app
//!   and backup codes) and `passkeys.rs` (registering a passkey);
//! - `sessions.rs`: the bearer sessions and their random tokens;
//! - `accounts.rs`: the in-memory accounts, their Argon2id hashes and the
//!   password checks that routes binding or removing a factor make;
//! - `bodies.rs`: the request bodies several routes take, and their fields'
//!   checks;
//! - `webauthn.rs`: passkey options and credentials as JSON;
//! - `errors.rs`: the problem documents every error is answered with;
//! - `request_context.rs`: the middleware that gives every answer its
//!   request id and writes the problem documents' bodies.

mod accounts;
mod bodies;
mod errors;
mod request_context;
mod routes;
mod sessions;
mod webauthn;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use mfa::passkey::RelyingParty;
use mfa::{KeyId, Keyring, LoginChallenge, MasterKey, Mfa, MfaContext, Policy, SqliteStore};
use serde_json::json;
use zeroize::Zeroizing;

use crate::errors::Problem;
use crate::sessions::{Session, random_token};

/// What every handler shares: the crate's `Mfa`, the accounts, the sessions
/// and the open logins, each map behind its own lock.
pub struct State {
    pub mfa: Mfa<SqliteStore>,
    /// Email → (user id, Argon2id PHC string).
    pub accounts: Mutex<HashMap<String, (String, String)>>,
    /// Verified against for an unknown email, so it costs what a known one does.
    pub dummy_hash: String,
    pub sessions: Mutex<HashMap<String, Session>>,
    /// `mfaToken` → its login challenge (which the crate completes at most
    /// once) and the user's email.
    pub challenges: Mutex<HashMap<String, (LoginChallenge, String)>>,
}

/// The guard of one of the state's maps, even after a panic while it was held.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where to listen, which database, and the passkeys' relying party.
struct Args {
    addr: SocketAddr,
    database: String,
    rp_id: String,
    origins: Vec<String>,
}

impl Args {
    fn read() -> std::io::Result<Self> {
        let mut read = Args {
            addr: ([127, 0, 0, 1], 8081).into(),
            database: ":memory:".to_owned(),
            rp_id: "localhost".to_owned(),
            origins: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match (arg.as_str(), args.next()) {
                ("--addr", Some(v)) => read.addr = v.parse().map_err(std::io::Error::other)?,
                ("--database", Some(v)) => read.database = v,
                ("--rp-id", Some(v)) => read.rp_id = v,
                ("--origin", Some(v)) => read.origins.push(v),
                _ => {
                    return Err(std::io::Error::other(
                        "usage: actix_server [--addr HOST:PORT] [--database PATH | :memory:] \
                         [--rp-id DOMAIN] [--origin URL]...",
                    ));
                }
            }
        }
        Ok(read)
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Args {
        addr,
        database,
        rp_id,
        mut origins,
    } = Args::read()?;
    // Bound first: the default origin names the port.
    let listener = std::net::TcpListener::bind(addr)?;
    if origins.is_empty() {
        origins.push(format!(
            "http://localhost:{}",
            listener.local_addr()?.port()
        ));
    }
    let named: Vec<&str> = origins.iter().map(String::as_str).collect();
    let relying_party =
        RelyingParty::new(&rp_id, "MFA Example", &named).map_err(std::io::Error::other)?;
    let master = match std::env::var("MFA_MASTER_KEY") {
        Ok(text) => MasterKey::from_base64(&text).map_err(std::io::Error::other)?,
        Err(_) => {
            eprintln!("warning: MFA_MASTER_KEY is not set; a random key is used for this run only");
            MasterKey::generate(&mut rand::rng())
        }
    };
    let store = match database.as_str() {
        ":memory:" => SqliteStore::connect("sqlite::memory:").await,
        path => SqliteStore::open_file(path).await,
    }
    .map_err(std::io::Error::other)?;
    let context = MfaContext::new(Keyring::new(KeyId(1), master), Policy::new("MFA Example"))
        .map_err(std::io::Error::other)?
        .with_relying_party(relying_party);
    let dummy_hash = accounts::hash_password(Zeroizing::new(random_token()))
        .await
        .map_err(|_| std::io::Error::other("cannot hash passwords"))?;
    let state = web::Data::new(State {
        mfa: Mfa::new(store, context),
        accounts: Mutex::default(),
        dummy_hash,
        sessions: Mutex::default(),
        challenges: Mutex::default(),
    });
    let json = web::JsonConfig::default()
        .limit(16 * 1024)
        .error_handler(|e, _| {
            Problem::validation(&format!("The body is not the JSON this route takes: {e}")).into()
        });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(json.clone())
            .wrap(actix_web::middleware::from_fn(
                request_context::request_context,
            ))
            .configure(route_table)
    })
    .client_request_timeout(Duration::from_secs(10))
    .keep_alive(Duration::from_secs(60))
    .listen(listener)?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await
}

/// Every route and its handler.
fn route_table(config: &mut web::ServiceConfig) {
    use routes::{factor, login, passkeys, register};
    config
        .route(
            "/health",
            web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
        )
        .route("/api/auth/register", web::post().to(register::register))
        .route("/api/auth/login", web::post().to(login::login))
        .route("/api/auth/login/mfa", web::post().to(login::login_mfa))
        .route("/api/user/me/totp", web::get().to(factor::status))
        .route("/api/user/me/totp/setup", web::post().to(factor::setup))
        .route("/api/user/me/totp/confirm", web::post().to(factor::confirm))
        .route(
            "/api/user/me/totp/backup-codes/regenerate",
            web::post().to(factor::regenerate),
        )
        .route(
            "/api/user/profile/mfa/backup-codes",
            web::post().to(factor::regenerate_strict),
        )
        .route("/api/user/me/totp/disable", web::post().to(factor::disable))
        .route(
            "/api/user/me/passkeys/options",
            web::post().to(passkeys::passkey_options),
        )
        .route(
            "/api/user/me/passkeys",
            web::post().to(passkeys::add_passkey),
        );
}
