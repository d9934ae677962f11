//! The example server on PostgreSQL, two processes sharing one database and
//! one master key, as behind a load balancer: setup on one and confirm on the
//! other, tokens from one accepted by the other, and 16 concurrent requests
//! with one code, split across both, of which exactly one succeeds.
//!
//! The server is named by `MFA_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test works in a fresh
//! schema of that database and drops it afterwards. Without the variable these tests
//! are left out with a note on stderr, unless `CI` is set: then they fail.

mod http_common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_common::{Authenticator, Options, Resp, Server, strings};
use serde_json::{Value, json};
use sqlx::postgres::{PgPool, PgPoolOptions};

const URL_VAR: &str = "MFA_TEST_POSTGRES_URL";

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
        Some(TestDb {
            url: with_search_path(&admin_url, &name),
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
