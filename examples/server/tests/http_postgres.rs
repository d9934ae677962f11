//! The example server on PostgreSQL, two processes sharing one database and
//! one master key, as behind a load balancer: setup on one and confirm on the
//! other, tokens from one accepted by the other, and 16 concurrent requests
//! with one code, split across both, of which exactly one succeeds; an
//! `mfaToken` completed on one refused by the other, and a change to the
//! factor on one (enable, disable, operator reset) revoking on the other the
//! sessions and `mfaToken`s issued before it; a replacement of the
//! authenticator begun on one and confirmed on the other, and a remembered
//! device recognised, then forgotten, across both; a password lock earned on
//! one honoured by the other, with concurrent wrong passwords split across
//! both all counted. And a database outage during
//! traffic: 503 problem documents, recovery, and no code lost or consumed
//! twice (`tests/http_db/mod.rs`, shared with `tests/http_mysql.rs`). And a
//! restart of the real PostgreSQL server.
//!
//! The server is named by `MFA_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test works in a fresh
//! schema of that database and drops it afterwards. Without the variable these tests
//! are left out with a note on stderr, unless `CI` is set: then they fail.

#[path = "../../../tests/db_common/mod.rs"]
mod db_common;
mod http_common;
#[macro_use]
mod http_db;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use db_common::{Server as DbServer, TestDb};
use http_common::{Options, Server};
use http_db::{auth_headers, login_mfa, wait_for_recovery};

const RESTART_VAR: &str = "MFA_TEST_POSTGRES_RESTART";

/// The restart test takes this exclusively: a restart drops every connection
/// to the database server, including those of the other tests here.
static SERVER_IN_USE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The checks shared with MySQL, each holding [`SERVER_IN_USE`] (shared) so
/// that the restart never happens under them.
async fn server_shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    SERVER_IN_USE.read().await
}

database_server_tests!(DbServer::Postgres, server_shared);

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
    let Some(db) = TestDb::new(DbServer::Postgres).await else {
        return;
    };
    let Some(restart) = restart_command() else {
        db.finish().await;
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
    wait_for_recovery(&server, &token).await;
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
    let mfa_token = server.login_for_mfa("restart@example.com").await;
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
    db.finish().await;
}
