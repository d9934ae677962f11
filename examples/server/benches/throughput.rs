//! Throughput of the example server against its floor, on SQLite and on
//! PostgreSQL (BENCHMARKS.md, "Throughput of the example server").
//!
//! ```text
//! cargo bench -p mfa-example-server --features bench-floor --bench throughput [-- --quick]
//! ```
//!
//! The server is the release build of `src/main.rs` with the feature
//! `bench-floor`, which adds `POST /bench/floor`: one load and one
//! compare-and-swap save of the same record through the same HTTP stack, and
//! nothing else. The load comes from this process: one keep-alive HTTP/1.1
//! connection per client (hyper), each sending its next request as soon as
//! the previous answer is read. For each number of clients (1, 16, 64) it
//! measures, side by side in one run, the four routes taking turns (five
//! rounds each, so that the machine's other load falls on all four):
//!
//! - **floor**: `POST /bench/floor`;
//! - **second step**: `POST /api/auth/login/mfa` with a correct TOTP code the
//!   server accepts (every answer must be 200), each request a different
//!   user's login, whose `mfaToken` was fetched (untimed) beforehand;
//! - **second step with a passkey**: the same route with a fresh assertion of
//!   the user's passkey (a software authenticator's, signed untimed
//!   beforehand for that login's `passkeyOptions`), each request a different
//!   passkey-only user's login;
//! - **status**: `GET /api/user/me/totp` with a session.
//!
//! then a wrong password for an account against a login for an unknown email
//! (one client, taking turns: the two must take the same time), and then the
//! second step at 16 clients during a flood of 200 clients that send password
//! logins for unknown emails and hang up after 5 ms.
//!
//! Users are seeded directly through the crate (`Mfa::begin_setup` and
//! `confirm_setup`, or `begin_passkey_registration` and
//! `confirm_passkey_registration`; one backup code at test-only Argon2
//! parameters) with a
//! password hash of test-only Argon2 parameters, so that fetching `mfaToken`s
//! costs no real Argon2. PostgreSQL runs when `MFA_TEST_POSTGRES_URL` is set
//! (as for the tests), in a schema of its own.

#[path = "../../../tests/db_common/mod.rs"]
mod db_common;
#[path = "../tests/http_common/mod.rs"]
mod http_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use mfa::backup::Argon2Params;
use mfa::{KeyId, Keyring, MasterKey, Mfa, MfaContext, MfaStore, Policy};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use db_common::{Server as DbServer, TestDb};
use http_common::passkey::Passkey;
use http_common::{MASTER_KEY, Options, PASSWORD, Server, base32_decode, totp_at_step};
use mfa::passkey::RelyingParty;

const LEVELS: [usize; 3] = [1, 16, 64];
const FLOOD_CLIENTS: usize = 200;
const FLOOD_LEVEL: usize = 16;
/// Turns each route takes at each level.
const ROUNDS: usize = 5;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // Requests per route and number of clients.
    let per_run = if quick { 1_500 } else { 6_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        println!("| database | clients | route | requests | req/s | p50 ms | p99 ms |");
        println!("|---|---:|---|---:|---:|---:|---:|");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("bench.db");
        let sqlite = path.to_str().expect("a UTF-8 path").to_owned();
        let mut verdicts = run("SQLite", &sqlite, per_run).await;
        match TestDb::new(DbServer::Postgres).await {
            Some(db) => {
                verdicts.extend(run("PostgreSQL", &db.url, per_run).await);
                db.finish().await;
            }
            None => verdicts.push("PostgreSQL: not run (set MFA_TEST_POSTGRES_URL)".into()),
        }
        println!();
        for verdict in verdicts {
            println!("- {verdict}");
        }
    });
}

/// One database: seed, then every route at every level. Returns the verdicts.
async fn run(name: &str, database: &str, per_run: usize) -> Vec<String> {
    let server = Server::start_with(Options {
        database: Some(database.to_owned()),
        ..Options::default()
    });
    let address = server.base.trim_start_matches("http://").to_owned();
    let seeded = seed(
        database,
        per_run * (LEVELS.len() + 1),
        per_run * LEVELS.len(),
        &server.origin(),
    )
    .await;
    let mut users = seeded.totp.chunks(per_run);
    let mut passkey_users = seeded.passkey.chunks(per_run);
    let mut key = seeded.key;
    let mut verdicts = Vec::new();
    for clients in LEVELS {
        // The four routes take turns, a fifth of the requests at a time, so
        // that a change in the machine's other load falls on all four.
        let logins = mfa_tokens(&address, users.next().expect("seeded users")).await;
        let passkey_ids = passkey_users.next().expect("seeded passkey users");
        let passkey_logins = passkey_logins(&address, passkey_ids, &mut key).await;
        let (mut floor, mut second, mut status) = (Timings::new(), Timings::new(), Timings::new());
        let mut with_passkey = Timings::new();
        let rounds = logins
            .chunks(per_run / ROUNDS)
            .zip(passkey_logins.chunks(per_run / ROUNDS));
        for (round, passkey_round) in rounds {
            // Each client saves a record of its own, so no save meets a conflict.
            floor.merge(
                measure(&address, clients, round.len(), |client, _| {
                    let body = json!({ "userId": format!("bench{client}") });
                    Request::post("/bench/floor", None, body)
                })
                .await,
            );
            let (timings, sessions) = second_step(&address, clients, round).await;
            second.merge(timings);
            let passkey_round = Arc::new(passkey_round.to_vec());
            with_passkey.merge(
                measure(&address, clients, passkey_round.len(), move |_, i| {
                    let (token, credential) = &passkey_round[i];
                    let body = json!({ "mfaToken": token, "passkey": credential });
                    Request::post("/api/auth/login/mfa", None, body)
                })
                .await,
            );
            status.merge(
                measure(&address, clients, round.len(), move |client, _| {
                    Request::get("/api/user/me/totp", &sessions[client % sessions.len()])
                })
                .await,
            );
        }
        print_row(name, clients, "floor (load + save)", &floor);
        print_row(name, clients, "second step (TOTP)", &second);
        print_row(name, clients, "second step (passkey)", &with_passkey);
        print_row(name, clients, "status", &status);

        for (route, timings) in [
            ("second step", &second),
            ("passkey second step", &with_passkey),
        ] {
            let rate = timings.rate() / floor.rate();
            let p99 = timings.percentile(99) / floor.percentile(99);
            verdicts.push(format!(
                "{name}, {clients} clients: {route} at {rate:.2}× the floor's req/s (target ≥ 0.7: {}), \
                 {p99:.2}× its p99 (target ≤ 1.5: {})",
                met(rate >= 0.7),
                met(p99 <= 1.5)
            ));
        }
    }

    verdicts.push(password_timing(name, &address, per_run / 30).await);

    let logins = mfa_tokens(&address, users.next().expect("seeded users")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let flood: Vec<_> = (0..FLOOD_CLIENTS)
        .map(|client| tokio::spawn(hang_up_logins(address.clone(), client, Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (during, _) = second_step(&address, FLOOD_LEVEL, &logins).await;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.expect("a flood client");
    }
    let label = format!("second step, {FLOOD_CLIENTS} hang-up logins");
    print_row(name, FLOOD_LEVEL, &label, &during);
    let p99 = during.percentile(99);
    verdicts.push(format!(
        "{name}: second step's p99 during the flood {p99:.1} ms (target ≤ 250: {})",
        met(p99 <= 250.0)
    ));
    drop(server);
    verdicts
}

/// A wrong password for an account and a login for an unknown email must
/// take the same time (examples/server/README.md, "Wrong passwords, charged first"): each runs one
/// Argon2id at the server's parameters, on the account's hash or on the
/// server's dummy hash. Measured at one client, the two taking turns (in
/// alternating order), each request for an email of its own so that no lock
/// begins; the accounts are registered through the server, so their hashes
/// are the ones it makes. Returns the verdict.
async fn password_timing(name: &str, address: &str, per_kind: usize) -> String {
    let wrong_password = |email: String| {
        Request::post(
            "/api/auth/login",
            None,
            json!({ "email": email, "password": "wrong password" }),
        )
        .expecting(401)
    };
    measure(address, 16, per_kind, |_, i| {
        let body = json!({ "email": format!("timing{i}@example.com"), "password": PASSWORD });
        Request::post("/api/auth/register", None, body).expecting(201)
    })
    .await;
    let (mut account, mut unknown) = (Timings::new(), Timings::new());
    let per_round = per_kind / ROUNDS;
    for round in 0..ROUNDS {
        let first = round * per_round;
        let known = measure(address, 1, per_round, move |_, i| {
            wrong_password(format!("timing{}@example.com", first + i))
        });
        let nobody = measure(address, 1, per_round, move |_, i| {
            wrong_password(format!("nobody{}@example.com", first + i))
        });
        if round % 2 == 0 {
            account.merge(known.await);
            unknown.merge(nobody.await);
        } else {
            unknown.merge(nobody.await);
            account.merge(known.await);
        }
    }
    print_row(name, 1, "wrong password, account", &account);
    print_row(name, 1, "login, unknown email", &unknown);
    let p50 = unknown.percentile(50) / account.percentile(50);
    format!(
        "{name}: a login for an unknown email at {p50:.3}× the p50 of a wrong password \
         for an account (target 0.95 to 1.05: {})",
        met((0.95..=1.05).contains(&p50))
    )
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// A seeded user: id, TOTP key, and the step its setup used.
struct User {
    id: String,
    key: Vec<u8>,
    step: u64,
}

/// What [`seed`] made: users with an authenticator app, passkey-only users,
/// and the one authenticator holding every passkey.
struct Seeded {
    totp: Vec<User>,
    passkey: Vec<String>,
    key: Passkey,
}

/// `totp` users with an authenticator app and then `passkeys` users with a
/// passkey of a browser at `origin`, seeded through the crate, and their
/// accounts.
async fn seed(database: &str, totp: usize, passkeys: usize, origin: &str) -> Seeded {
    let mut policy = Policy::new("MFA Example");
    policy.backup_codes.count = 1;
    policy.backup_codes.argon2 = Argon2Params::insecure_for_tests(8, 1, 1).expect("params");
    let master = MasterKey::from_base64(MASTER_KEY).expect("the test master key");
    let relying_party =
        RelyingParty::new("localhost", "MFA Example", &[origin]).expect("a relying party");
    let context = MfaContext::new(Keyring::new(KeyId(1), master), policy)
        .expect("a context")
        .with_relying_party(relying_party);
    // A real PHC string, of parameters too small for anything but a benchmark.
    let password_hash = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8, 1, 1, None).expect("params"),
    )
    .hash_password(PASSWORD.as_bytes())
    .expect("a hash")
    .to_string();
    let key = Arc::new(std::sync::Mutex::new(Passkey::at(origin)));
    let plan = Plan {
        totp,
        passkeys,
        password_hash,
        key: Arc::clone(&key),
    };
    let (totp, passkey) = if database.starts_with("postgres") {
        let store = mfa::PostgresStore::connect(database)
            .await
            .expect("PostgreSQL");
        let accounts = Accounts::Postgres(store.pool().clone());
        seed_with(Mfa::new(store, context), plan, accounts).await
    } else {
        let store = mfa::SqliteStore::open_file(database).await.expect("SQLite");
        let accounts = Accounts::Sqlite(store.pool().clone());
        seed_with(Mfa::new(store, context), plan, accounts).await
    };
    let key = Arc::into_inner(key)
        .expect("the seeding is over")
        .into_inner()
        .expect("no seeding task panicked");
    Seeded { totp, passkey, key }
}

/// How many users of each kind [`seed_with`] makes, and with what.
struct Plan {
    totp: usize,
    passkeys: usize,
    password_hash: String,
    key: Arc<std::sync::Mutex<Passkey>>,
}

/// The server's accounts table (created when the server started).
#[derive(Clone)]
enum Accounts {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Accounts {
    async fn insert(&self, id: &str, password_hash: &str) {
        const SQL: &str = "INSERT INTO app_users (id, email, password_hash, created_at) \
                           VALUES ($1, $2, $3, 0)";
        let email = format!("{id}@example.com");
        match self {
            Accounts::Sqlite(pool) => sqlx::query(SQL)
                .bind(id)
                .bind(email)
                .bind(password_hash)
                .execute(pool)
                .await
                .map(|_| ()),
            Accounts::Postgres(pool) => sqlx::query(SQL)
                .bind(id)
                .bind(email)
                .bind(password_hash)
                .execute(pool)
                .await
                .map(|_| ()),
        }
        .expect("an account")
    }
}

/// Seeds `bench0`, `bench1`, … as `plan` says, eight at a time: the TOTP
/// users and the passkey users' ids, each in order.
async fn seed_with<S>(mfa: Mfa<S>, plan: Plan, accounts: Accounts) -> (Vec<User>, Vec<String>)
where
    S: MfaStore + Send + Sync + 'static,
{
    let mfa = Arc::new(mfa);
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (mfa, next, accounts) = (Arc::clone(&mfa), Arc::clone(&next), accounts.clone());
            let plan = Arc::clone(&plan);
            tokio::spawn(async move {
                let (mut totp, mut passkey) = (Vec::new(), Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= plan.totp + plan.passkeys {
                        return (totp, passkey);
                    }
                    let id = format!("bench{i}");
                    let email = format!("{id}@example.com");
                    accounts.insert(&id, &plan.password_hash).await;
                    if i >= plan.totp {
                        let options = mfa
                            .begin_passkey_registration(&id, &email, None)
                            .await
                            .expect("passkey options");
                        let options = serde_json::to_value(&options).expect("JSON");
                        let credential = plan.key.lock().unwrap().register(&options);
                        let credential = serde_json::from_value(credential).expect("a credential");
                        mfa.confirm_passkey_registration(&id, "Laptop", &credential, None)
                            .await
                            .expect("a passkey");
                        passkey.push((i, id));
                        continue;
                    }
                    let setup = mfa.begin_setup(&id, &email).await.expect("setup");
                    let key = base32_decode(setup.secret_base32());
                    let step = current_step();
                    mfa.confirm_setup(&id, &totp_at_step(&key, step))
                        .await
                        .expect("confirm");
                    totp.push((i, User { id, key, step }));
                }
            })
        })
        .collect();
    let (mut totp, mut passkey) = (Vec::new(), Vec::new());
    for task in tasks {
        let (t, p) = task.await.expect("a seeding task");
        totp.extend(t);
        passkey.extend(p);
    }
    totp.sort_by_key(|(i, _)| *i);
    passkey.sort_by_key(|(i, _)| *i);
    (
        totp.into_iter().map(|(_, u)| u).collect(),
        passkey.into_iter().map(|(_, id)| id).collect(),
    )
}

fn current_step() -> u64 {
    (http_common::unix_now() / 30.0) as u64
}

/// One login each (untimed): `(mfaToken, code)`, the code of the first step
/// after the user's setup that the server accepts now.
async fn mfa_tokens(address: &str, users: &[User]) -> Vec<(String, String)> {
    let ids: Vec<_> = users.iter().map(|u| u.id.clone()).collect();
    password_logins(address, ids)
        .await
        .into_iter()
        .map(|(i, token, _)| {
            let user = &users[i];
            let code = totp_at_step(&user.key, (user.step + 1).max(current_step()));
            (token, code)
        })
        .collect()
}

/// One login each (untimed) of passkey users: `(mfaToken, assertion)`, the
/// assertion `key` signs for the login's `passkeyOptions`.
async fn passkey_logins(address: &str, ids: &[String], key: &mut Passkey) -> Vec<(String, Value)> {
    password_logins(address, ids.to_vec())
        .await
        .into_iter()
        .map(|(_, token, answer)| (token, key.assert(&answer["passkeyOptions"])))
        .collect()
}

/// The password step of a login for each user, sixteen at a time: the
/// user's index, the `mfaToken` and the whole answer.
async fn password_logins(address: &str, ids: Vec<String>) -> Vec<(usize, String, Value)> {
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(ids);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (next, ids, address) = (Arc::clone(&next), Arc::clone(&ids), address.to_owned());
            tokio::spawn(async move {
                let mut conn = Conn::open(&address).await;
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(i) else {
                        return out;
                    };
                    let body =
                        json!({ "email": format!("{id}@example.com"), "password": PASSWORD });
                    let (status, answer) = conn
                        .send(&Request::post("/api/auth/login", None, body))
                        .await;
                    assert_eq!(status, 200, "login: {answer}");
                    let token = answer["mfaToken"].as_str().expect("an mfaToken").to_owned();
                    out.push((i, token, answer));
                }
            })
        })
        .collect();
    let mut logins = Vec::new();
    for task in tasks {
        logins.extend(task.await.expect("a login task"));
    }
    logins
}

/// The second step for every login, by `clients` clients; the timings and
/// one session per client.
async fn second_step(
    address: &str,
    clients: usize,
    logins: &[(String, String)],
) -> (Timings, Vec<String>) {
    let logins = Arc::new(logins.to_vec());
    let sessions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let timings = {
        let (logins, sessions) = (Arc::clone(&logins), Arc::clone(&sessions));
        measure_with(
            address,
            clients,
            logins.len(),
            move |_, i| {
                let (token, code) = &logins[i];
                Request::post(
                    "/api/auth/login/mfa",
                    None,
                    json!({ "mfaToken": token, "code": code }),
                )
            },
            move |answer| {
                let mut sessions = sessions.lock().unwrap();
                if sessions.len() < 64 {
                    sessions.push(answer["token"].as_str().expect("a session").to_owned());
                }
            },
        )
        .await
    };
    let sessions = sessions.lock().unwrap().clone();
    (timings, sessions)
}

/// A request to send: method, path, bearer token, JSON body, and the status
/// its answer must have (200 unless [`Request::expecting`] says otherwise).
#[derive(Clone)]
struct Request {
    method: &'static str,
    path: &'static str,
    bearer: Option<String>,
    body: Option<Value>,
    expected: u16,
}

impl Request {
    fn post(path: &'static str, bearer: Option<&str>, body: Value) -> Self {
        Request {
            method: "POST",
            path,
            bearer: bearer.map(str::to_owned),
            body: Some(body),
            expected: 200,
        }
    }

    fn get(path: &'static str, bearer: &str) -> Self {
        Request {
            method: "GET",
            path,
            bearer: Some(bearer.to_owned()),
            body: None,
            expected: 200,
        }
    }

    fn expecting(self, expected: u16) -> Self {
        Request { expected, ..self }
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(address: &str) -> Conn {
        let stream = TcpStream::connect(address).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Conn { sender }
    }

    /// Sends `request` and reads the whole answer: status and JSON body.
    async fn send(&mut self, request: &Request) -> (u16, Value) {
        let mut builder = hyper::Request::builder()
            .method(request.method)
            .uri(request.path)
            .header("host", "localhost");
        if let Some(token) = &request.bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match &request.body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(body).expect("JSON"))
            }
            None => Bytes::new(),
        };
        self.sender.ready().await.expect("the connection is open");
        let response = self
            .sender
            .send_request(builder.body(Full::new(body)).expect("a request"))
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// Latencies of one or more runs, sorted, and how long they took.
struct Timings {
    micros: Vec<u32>,
    elapsed: Duration,
}

impl Timings {
    fn new() -> Self {
        Timings {
            micros: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn merge(&mut self, other: Timings) {
        self.micros.extend(other.micros);
        self.micros.sort_unstable();
        self.elapsed += other.elapsed;
    }

    fn rate(&self) -> f64 {
        self.micros.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`th percentile, in milliseconds.
    fn percentile(&self, p: usize) -> f64 {
        let i = (self.micros.len() * p / 100).min(self.micros.len() - 1);
        f64::from(self.micros[i]) / 1000.0
    }
}

fn print_row(database: &str, clients: usize, route: &str, t: &Timings) {
    println!(
        "| {database} | {clients} | {route} | {} | {:.0} | {:.2} | {:.2} |",
        t.micros.len(),
        t.rate(),
        t.percentile(50),
        t.percentile(99)
    );
}

/// `requests` requests, the `i`th made by `make(client, i)` for the client
/// that sends it, sent by `clients` clients at once; every answer must have
/// the request's expected status.
async fn measure(
    address: &str,
    clients: usize,
    requests: usize,
    make: impl Fn(usize, usize) -> Request + Send + Sync + 'static,
) -> Timings {
    measure_with(address, clients, requests, make, |_| {}).await
}

/// As [`measure`], with `answered` called on each answer.
async fn measure_with(
    address: &str,
    clients: usize,
    requests: usize,
    make: impl Fn(usize, usize) -> Request + Send + Sync + 'static,
    answered: impl Fn(&Value) + Send + Sync + 'static,
) -> Timings {
    let make = Arc::new(make);
    let answered = Arc::new(answered);
    let next = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(Conn::open(address).await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(client, mut conn)| {
            let (make, answered, next) =
                (Arc::clone(&make), Arc::clone(&answered), Arc::clone(&next));
            tokio::spawn(async move {
                let mut micros = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return micros;
                    }
                    let request = make(client, i);
                    let sent = Instant::now();
                    let (status, answer) = conn.send(&request).await;
                    micros.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    assert_eq!(
                        status, request.expected,
                        "{} {}: {answer}",
                        request.method, request.path
                    );
                    answered(&answer);
                }
            })
        })
        .collect();
    let mut micros = Vec::with_capacity(requests);
    for task in tasks {
        micros.extend(task.await.expect("a client"));
    }
    let elapsed = started.elapsed();
    micros.sort_unstable();
    Timings { micros, elapsed }
}

/// A client that sends password logins for new unknown emails and hangs up
/// 5 ms after each, until `stop`.
async fn hang_up_logins(address: String, client: usize, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = format!(r#"{{"email":"flood-{client}-{n}@example.com","password":"wrong"}}"#);
        let request = format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if let Ok(mut stream) = TcpStream::connect(&address).await {
            let _ = stream.write_all(request.as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
