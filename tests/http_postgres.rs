//! The example server on PostgreSQL, two processes sharing one database and
//! one master key, as behind a load balancer: setup on one and confirm on the
//! other, tokens from one accepted by the other, and 16 concurrent requests
//! with one code, split across both, of which exactly one succeeds. And a
//! database outage during traffic: 503 problem documents, recovery, and no
//! code lost or consumed twice.
//!
//! The server is named by `MFA_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test works in a fresh
//! schema of that database and drops it afterwards. Without the variable these tests
//! are left out with a note on stderr, unless `CI` is set: then they fail.

mod http_common;

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_common::{Authenticator, Options, Resp, Server, strings};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

const URL_VAR: &str = "MFA_TEST_POSTGRES_URL";
const RESTART_VAR: &str = "MFA_TEST_POSTGRES_RESTART";

/// The restart test takes this exclusively: a restart drops every connection
/// to the database server, including those of the other tests here.
static SERVER_IN_USE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn postgres_url() -> Option<String> {
    static NOTED: AtomicBool = AtomicBool::new(false);
    if let Ok(url) = std::env::var(URL_VAR)
        && !url.trim().is_empty()
    {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
        panic!("{URL_VAR} is not set but CI is: the server's PostgreSQL tests must run in CI");
    }
    if !NOTED.swap(true, Ordering::SeqCst) {
        let _ = writeln!(
            std::io::stderr(),
            "note: the example server's PostgreSQL tests (tests/http_postgres.rs) were left \
             out: {URL_VAR} is not set"
        );
    }
    None
}

/// A fresh schema in the test database, dropped by [`TestDb::drop_now`].
struct TestDb {
    admin: PgPool,
    name: String,
    url: String,
    /// The database server's `host:port`.
    target: String,
}

impl TestDb {
    async fn new() -> Option<TestDb> {
        let admin_url = postgres_url()?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the server at {URL_VAR}: {e}"));
        let bytes: [u8; 6] = rand::random();
        let name = format!(
            "mfa_http_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let options = PgConnectOptions::from_str(&admin_url).expect("a PostgreSQL URL");
        Some(TestDb {
            url: with_search_path(&admin_url, &name),
            target: format!("{}:{}", options.get_host(), options.get_port()),
            admin,
            name,
        })
    }

    /// Two servers on this database with the same master key.
    fn two_servers(&self) -> (Arc<Server>, Arc<Server>) {
        let start = || {
            Arc::new(Server::start_with(Options {
                database: Some(self.url.clone()),
                ..Options::default()
            }))
        };
        (start(), start())
    }

    async fn drop_now(self) {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await;
    }
}

/// `url` with its `host:port` replaced by `authority`.
fn with_host(url: &str, authority: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (userinfo_host, tail) = rest.split_at(end);
    match userinfo_host.rsplit_once('@') {
        Some((userinfo, _)) => format!("{scheme}://{userinfo}@{authority}{tail}"),
        None => format!("{scheme}://{authority}{tail}"),
    }
}

/// `url` with `schema` as the connections' search path.
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options[search_path]={schema}")
}

async fn login_mfa(server: &Server, mfa_token: &str, field: &str, code: &str) -> Resp {
    server
        .post(
            "/api/auth/login/mfa",
            None,
            Some(json!({ "mfaToken": mfa_token, field: code })),
        )
        .await
}

/// Sends `body` to the login second step 16 times at once, alternating servers.
async fn race(servers: [&Arc<Server>; 2], body: Value) -> Vec<Resp> {
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let server = Arc::clone(servers[i % 2]);
            let (barrier, body) = (Arc::clone(&barrier), body.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                server.post("/api/auth/login/mfa", None, Some(body)).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn exactly_one_success(answers: &[Resp]) {
    assert_eq!(
        answers.iter().filter(|r| r.status == 200).count(),
        1,
        "{answers:#?}"
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_problem(401, "INVALID_CODE");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database() {
    let _shared = SERVER_IN_USE.read().await;
    let Some(db) = TestDb::new().await else {
        return;
    };
    let (a, b) = db.two_servers();
    assert!(a.stdout().contains("PostgreSQL"), "{}", a.stdout());

    // Register on one, log in on the other; set up on one, confirm on the other.
    a.register("pg@example.com").await;
    let token = b.login("pg@example.com").await;
    let setup = a.post("/api/user/me/totp/setup", Some(&token), None).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    let mut app = Authenticator::new(setup.body["secret"].as_str().unwrap());
    let confirming = app.next_code().await;
    let r = b
        .post(
            "/api/user/me/totp/confirm",
            Some(&token),
            Some(json!({ "code": confirming })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let codes = strings(&r.body["backupCodes"]);

    // An mfaToken from one is good at the other; the confirming code is spent on both.
    let mfa_token = a.login_for_mfa("pg@example.com").await;
    for server in [&a, &b] {
        login_mfa(server, &mfa_token, "code", &confirming)
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    let r = login_mfa(&b, &mfa_token, "backupCode", &codes[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    login_mfa(&a, &mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_CODE");

    // 16 at once with one backup code, then with one TOTP code, split across both.
    exactly_one_success(
        &race(
            [&a, &b],
            json!({"mfaToken": mfa_token, "backupCode": codes[5]}),
        )
        .await,
    );
    let code = app.next_code().await;
    exactly_one_success(&race([&a, &b], json!({"mfaToken": mfa_token, "code": code})).await);
    let status = a.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.body["backupCodesRemaining"], 8, "{}", status.text);
    assert_eq!(status.body["lockedOut"], false);

    // Regenerate on one: the old codes die on the other.
    let r = b
        .post(
            "/api/user/me/totp/backup-codes/regenerate",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    login_mfa(&a, &mfa_token, "backupCode", &codes[9])
        .await
        .assert_problem(401, "INVALID_CODE");

    drop((a, b));
    db.drop_now().await;
}

/// A TCP proxy to the database server that can be cut (every connection
/// through it dropped, new ones refused) and restored: a database restart,
/// as the application servers see it, without touching the real server.
struct Proxy {
    addr: std::net::SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (target, mut watch) = (target.clone(), watch.clone());
                tokio::spawn(async move {
                    if !*watch.borrow() {
                        return; // refused: the connection is dropped at once
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { addr, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_gives_503_and_loses_nothing() {
    let _shared = SERVER_IN_USE.read().await;
    let Some(db) = TestDb::new().await else {
        return;
    };
    let proxy = Proxy::start(db.target.clone()).await;
    let server = Arc::new(Server::start_with(Options {
        database: Some(with_host(&db.url, &proxy.addr.to_string())),
        ..Options::default()
    }));
    let (token, _, codes) = server.enrolled_user("outage@example.com").await;
    let mfa_token = server.login_for_mfa("outage@example.com").await;

    // The database goes away: every request that needs it is a 503 problem
    // document, on a connection that stays usable; nothing else.
    proxy.set_up(false);
    let requests = [
        (Some(token.as_str()), "/api/user/me/totp", None),
        (
            None,
            "/api/auth/login/mfa",
            Some(json!({"mfaToken": mfa_token, "backupCode": codes[0]})),
        ),
        (
            None,
            "/api/auth/login",
            Some(json!({"email": "outage@example.com", "password": http_common::PASSWORD})),
        ),
        (
            Some(token.as_str()),
            "/api/user/me/totp/backup-codes/regenerate",
            Some(json!({})),
        ),
    ];
    for (bearer, path, body) in &requests {
        let r = match body {
            Some(body) => server.post(path, *bearer, Some(body.clone())).await,
            None => server.get(path, *bearer).await,
        };
        r.assert_problem(503, "STORE_UNAVAILABLE");
        assert!(!r.text.contains(&codes[0]));
    }
    assert_eq!(server.get("/health", None).await.status, 200);
    assert!(
        server.stderr().contains("STORE_UNAVAILABLE"),
        "{}",
        server.stderr()
    );

    // It comes back: the server recovers by itself, the backup code sent
    // during the outage was not consumed, and it still works exactly once.
    proxy.set_up(true);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.get("/api/user/me/totp", Some(&token)).await;
        if r.status == 200 {
            assert_eq!(r.body["backupCodesRemaining"], 10, "{}", r.text);
            break;
        }
        r.assert_problem(503, "STORE_UNAVAILABLE");
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = login_mfa(&server, &mfa_token, "backupCode", &codes[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 9);
    login_mfa(&server, &mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_CODE");

    drop(server);
    db.drop_now().await;
}

/// The command that restarts the database server (set by `.ci/postgres.sh`).
fn restart_command() -> Option<String> {
    if let Ok(command) = std::env::var(RESTART_VAR)
        && !command.trim().is_empty()
    {
        return Some(command);
    }
    if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
        panic!("{RESTART_VAR} is not set but CI is: the database restart test must run in CI");
    }
    eprintln!("note: the database restart test was left out: {RESTART_VAR} is not set");
    None
}

/// The real database server restarts while requests keep coming: every answer
/// is a 200 (the pool waited the restart out) or a 503 `STORE_UNAVAILABLE`
/// problem document, on a live connection (never a 500 or a dropped
/// connection); the server recovers by itself; a backup code sent during the
/// restart is used exactly once, whatever answer it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_during_traffic_loses_nothing() {
    let _exclusive = SERVER_IN_USE.write().await;
    let Some(db) = TestDb::new().await else {
        return;
    };
    let Some(restart) = restart_command() else {
        db.drop_now().await;
        return;
    };
    let server = Arc::new(Server::start_with(Options {
        database: Some(db.url.clone()),
        ..Options::default()
    }));
    let (token, _, codes) = server.enrolled_user("restart@example.com").await;
    let mfa_token = server.login_for_mfa("restart@example.com").await;

    let stop = Arc::new(AtomicBool::new(false));
    let traffic: Vec<_> = (0..4)
        .map(|_| {
            let (server, token, stop) = (Arc::clone(&server), token.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut ok, mut unavailable) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    let r = server
                        .try_raw(
                            reqwest::Method::GET,
                            "/api/user/me/totp",
                            auth_headers(&token),
                            Vec::new(),
                        )
                        .await
                        .expect("no connection is dropped");
                    match r.status {
                        200 => ok += 1,
                        _ => {
                            r.assert_problem(503, "STORE_UNAVAILABLE");
                            unavailable += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (ok, unavailable)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let restarting = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&restart)
            .status()
            .expect("the restart command runs")
    });
    // A backup code sent while the server restarts: 200 or 503, nothing else.
    let during = login_mfa(&server, &mfa_token, "backupCode", &codes[0]).await;
    if during.status != 200 {
        during.assert_problem(503, "STORE_UNAVAILABLE");
    }
    assert!(
        restarting.await.unwrap().success(),
        "the restart command failed"
    );

    // Recovery by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.get("/api/user/me/totp", Some(&token)).await;
        if r.status == 200 {
            break;
        }
        r.assert_problem(503, "STORE_UNAVAILABLE");
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (mut ok, mut unavailable) = (0, 0);
    for task in traffic {
        let (o, u) = task.await.unwrap();
        (ok, unavailable) = (ok + o, unavailable + u);
    }
    eprintln!(
        "restart: {ok} answers 200, {unavailable} answers 503; the backup code sent meanwhile: {}",
        during.status
    );
    assert!(ok > 0);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());

    // The code sent during the restart was used at most once.
    let after = login_mfa(&server, &mfa_token, "backupCode", &codes[0]).await;
    if during.status == 200 {
        after.assert_problem(401, "INVALID_CODE");
    } else {
        assert_eq!(
            after.status, 200,
            "a code refused with 503 must still work: {}",
            after.text
        );
    }
    let status = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.body["backupCodesRemaining"], 9, "{}", status.text);

    drop(server);
    db.drop_now().await;
}

fn auth_headers(token: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("a header value"),
    );
    headers
}

#[test]
fn host_in_the_url() {
    assert_eq!(
        with_host("postgres://u:p@h:5432/db?x=1", "127.0.0.1:9"),
        "postgres://u:p@127.0.0.1:9/db?x=1"
    );
    assert_eq!(with_host("postgres://h", "a:1"), "postgres://a:1");
    assert_eq!(with_host("postgres://h?x=1", "a:1"), "postgres://a:1?x=1");
}

#[test]
fn search_path_in_the_url() {
    assert_eq!(
        with_search_path("postgres://u@h:5432/db", "s"),
        "postgres://u@h:5432/db?options[search_path]=s"
    );
    assert_eq!(
        with_search_path("postgres://u@h/db?sslmode=disable", "s"),
        "postgres://u@h/db?sslmode=disable&options[search_path]=s"
    );
}
