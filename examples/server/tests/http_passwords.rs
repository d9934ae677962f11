//! The password lock (the contract's "Password attempts, charged first")
//! over real HTTP against the built binary: 5 wrong passwords lock the
//! account, right password included, with `Retry-After`; after the wait a
//! right password works but gives back only its own charge, a wrong one
//! doubles the wait; login, setup, replace, disable and the strict
//! regenerate count together; an unknown email answers byte for byte as a
//! known one does; of 200 concurrent wrong passwords at most 5 are checked;
//! a client with a valid remembered-device token has its own count; an
//! operator unlock clears the lock; forgotten counts are purged, live locks
//! kept.

mod http_common;

use std::time::Duration;

use std::sync::Arc;

use http_common::{Options, PASSWORD, Resp, Server};
use serde_json::json;

const LOGIN: &str = "/api/auth/login";
const SETUP: &str = "/api/user/me/totp/setup";
const REPLACE: &str = "/api/user/me/totp/replace";
const DISABLE: &str = "/api/user/me/totp/disable";
const PROFILE_CODES: &str = "/api/user/profile/mfa/backup-codes";
const WRONG: &str = "not the password at all";

fn with_delay(secs: u64) -> Server {
    Server::start_with(Options {
        extra_args: vec!["--insecure-password-delay".into(), secs.to_string()],
        ..Options::default()
    })
}

async fn login(server: &Server, email: &str, password: &str) -> Resp {
    server
        .post(
            LOGIN,
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
}

/// The `Retry-After` of a 429 `TOO_MANY_ATTEMPTS`, in seconds.
#[track_caller]
fn locked(r: &Resp) -> u64 {
    r.assert_problem(429, "TOO_MANY_ATTEMPTS");
    r.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a Retry-After in seconds: {r:?}"))
}

async fn wait(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(150)).await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_even_for_the_right_one() {
    let server = Server::start();
    let email = "locked@example.com";
    server.register(email).await;
    for _ in 0..5 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    for password in [PASSWORD, WRONG] {
        let secs = locked(&login(&server, email, password).await);
        assert!((29..=30).contains(&secs), "Retry-After {secs}");
    }
    // The email is normalized: the same account, the same lock.
    locked(&login(&server, "  LOCKED@Example.com ", PASSWORD).await);
    // Other accounts are not affected.
    server.register("other@example.com").await;
    server.login("other@example.com").await;
}

#[tokio::test]
async fn after_the_wait_a_right_password_works_but_the_failures_stay_counted() {
    let server = with_delay(1);
    // The warning is read from the process's stderr by another thread.
    let warned = || {
        server
            .stderr()
            .contains("WARNING: --insecure-password-delay 1")
    };
    for _ in 0..20 {
        if warned() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(warned(), "{}", server.stderr());
    let email = "wait@example.com";
    server.register(email).await;
    for _ in 0..5 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    assert_eq!(locked(&login(&server, email, PASSWORD).await), 1);
    wait(1).await;
    // A wrong password after the wait is checked, and doubles the wait.
    login(&server, email, WRONG)
        .await
        .assert_problem(401, "INVALID_CREDENTIALS");
    assert_eq!(locked(&login(&server, email, PASSWORD).await), 2);
    wait(2).await;
    assert_eq!(login(&server, email, PASSWORD).await.status, 200);
    // The right password gave back its own charge, not the six failures:
    // the next wrong one locks again, for twice the last wait.
    login(&server, email, WRONG)
        .await
        .assert_problem(401, "INVALID_CREDENTIALS");
    assert_eq!(locked(&login(&server, email, PASSWORD).await), 4);
}

/// A right password takes back its own charge and nothing else: the wrong
/// passwords before it stay counted (the success used to erase them, so
/// that 4 wrong, 1 right, 4 wrong, 1 right, ... never locked).
#[tokio::test]
async fn a_right_password_gives_back_only_its_own_charge() {
    let server = Server::start();
    let email = "reset@example.com";
    server.register(email).await;
    for _ in 0..4 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    server.login(email).await;
    server.login(email).await;
    login(&server, email, WRONG)
        .await
        .assert_problem(401, "INVALID_CREDENTIALS");
    let secs = locked(&login(&server, email, PASSWORD).await);
    assert!((29..=30).contains(&secs), "Retry-After {secs}");
}

/// A right password racing four wrong ones: all five are charged before any
/// is hashed, the right one succeeds and gives back its charge only, so the
/// four stay counted and one more failure locks the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_right_password_racing_wrong_ones_leaves_their_charges() {
    let server = Arc::new(Server::start());
    let email = "race@example.com";
    server.register(email).await;
    let passwords = [WRONG, WRONG, PASSWORD, WRONG, WRONG];
    let answers = burst(&server, email, &passwords).await;
    for (r, password) in answers.iter().zip(passwords) {
        if password == PASSWORD {
            assert_eq!(r.status, 200, "{}", r.text);
        } else {
            r.assert_problem(401, "INVALID_CREDENTIALS");
        }
    }
    // Four failures counted: one more is checked (or, if a wrong one was
    // the fifth charge, the lock it set is already on), then it is locked.
    let r = login(&server, email, WRONG).await;
    if r.status == 401 {
        r.assert_problem(401, "INVALID_CREDENTIALS");
    } else {
        locked(&r);
    }
    locked(&login(&server, email, PASSWORD).await);
}

/// Sends one login for `email` per password, all at once (released by a
/// barrier); the answers in the same order.
async fn burst(server: &Arc<Server>, email: &'static str, passwords: &[&str]) -> Vec<Resp> {
    let barrier = Arc::new(tokio::sync::Barrier::new(passwords.len()));
    let tasks: Vec<_> = passwords
        .iter()
        .map(|password| {
            let (server, barrier) = (Arc::clone(server), Arc::clone(&barrier));
            let password = (*password).to_owned();
            tokio::spawn(async move {
                barrier.wait().await;
                login(&server, email, &password).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a login task"));
    }
    answers
}

#[tokio::test]
async fn login_setup_replace_disable_and_strict_regenerate_count_together() {
    let server = Server::start();
    let email = "together@example.com";
    let (token, mut app, _codes) = server.enrolled_user(email).await;
    let code = app.next_code().await;
    let body = |password: &str| json!({"password": password, "code": code});
    login(&server, email, WRONG)
        .await
        .assert_problem(401, "INVALID_CREDENTIALS");
    for path in [SETUP, REPLACE, DISABLE, PROFILE_CODES] {
        server
            .post(path, Some(&token), Some(body(WRONG)))
            .await
            .assert_problem(400, "INVALID_PASSWORD");
    }
    // Locked everywhere, the right password and a good code included; the
    // code is not looked at.
    locked(&login(&server, email, PASSWORD).await);
    for path in [SETUP, REPLACE, DISABLE, PROFILE_CODES] {
        locked(&server.post(path, Some(&token), Some(body(PASSWORD))).await);
    }
    let status = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.body["mfaEnabled"], true, "{}", status.text);
    assert_eq!(status.body["backupCodesRemaining"], 10, "{}", status.text);
}

/// The answer as the client sees it, without the request id (which differs
/// for every request): status, `Retry-After`, content type and body bytes.
fn visible(r: &Resp) -> (u16, Option<String>, Option<String>, String) {
    let id = r.header("x-request-id").unwrap_or_default();
    assert!(!id.is_empty(), "an x-request-id: {r:?}");
    (
        r.status,
        r.header("retry-after").map(str::to_owned),
        r.header("content-type").map(str::to_owned),
        r.text.replace(id, "<request id>"),
    )
}

#[tokio::test]
async fn an_unknown_email_answers_as_a_known_one_does() {
    let server = with_delay(1);
    let known = "known@example.com";
    let unknown = "unknown@example.com";
    server.register(known).await;
    let both = async |password_of_known: &str| {
        let k = login(&server, known, password_of_known).await;
        let u = login(&server, unknown, password_of_known).await;
        assert_eq!(visible(&k), visible(&u));
        k
    };
    for _ in 0..5 {
        both(WRONG).await.assert_problem(401, "INVALID_CREDENTIALS");
    }
    assert_eq!(locked(&both(PASSWORD).await), 1);
    assert_eq!(locked(&both(WRONG).await), 1);
    wait(1).await;
    both(WRONG).await.assert_problem(401, "INVALID_CREDENTIALS");
    assert_eq!(locked(&both(WRONG).await), 2);
    wait(2).await;
    // Only the known email has a right password.
    assert_eq!(login(&server, known, PASSWORD).await.status, 200);
    login(&server, unknown, PASSWORD)
        .await
        .assert_problem(401, "INVALID_CREDENTIALS");
}

/// 200 wrong passwords for one account at once: each is charged before it
/// is hashed, so at most 5 are checked (401) and the rest answer 429 without
/// being hashed. (Checked, then counted, 69 of 200 were hashed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_hundred_concurrent_wrong_passwords_at_most_five_are_checked() {
    let server = Arc::new(Server::start());
    let email = "burst@example.com";
    server.register(email).await;
    let answers = burst(&server, email, &[WRONG; 200]).await;
    let mut checked = 0;
    for r in &answers {
        if r.status == 401 {
            r.assert_problem(401, "INVALID_CREDENTIALS");
            checked += 1;
        } else {
            locked(r);
        }
    }
    eprintln!("200 concurrent wrong passwords: {checked} checked");
    assert!((1..=5).contains(&checked), "{checked} of 200 checked");
    // Nothing refused was counted: the wait is the first one.
    let secs = locked(&login(&server, email, PASSWORD).await);
    assert!((29..=30).contains(&secs), "Retry-After {secs}");
}

/// A client that presents a remembered-device token valid for the account
/// is charged on that device's own count: strangers who locked the account
/// do not lock it out, and its own wrong passwords lock only it. A token
/// that is not valid (garbage, another account's) counts on the account.
#[tokio::test]
async fn a_remembered_device_is_not_locked_out_by_strangers() {
    let server = Server::start();
    let email = "owner@example.com";
    let (_, _, codes) = server.enrolled_user(email).await;
    let (_, device) = server
        .login_remembering(email, "backupCode", &codes[0])
        .await;
    let (_, _, other_codes) = server.enrolled_user("other@example.com").await;
    let (_, others) = server
        .login_remembering("other@example.com", "backupCode", &other_codes[0])
        .await;
    let with_device = |password: &str, token: &str| {
        let body = json!({"email": email, "password": password, "deviceToken": token});
        server.post(LOGIN, None, Some(body))
    };
    // Strangers lock the account.
    for _ in 0..5 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    locked(&login(&server, email, PASSWORD).await);
    for token in ["garbage", others.as_str()] {
        locked(&with_device(PASSWORD, token).await);
    }
    // The owner's device logs in.
    let r = with_device(PASSWORD, &device).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["token"].is_string(), "{}", r.text);
    // Its own wrong passwords lock it, and only it.
    for _ in 0..5 {
        with_device(WRONG, &device)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    locked(&with_device(PASSWORD, &device).await);
    let r = server
        .login_with_device("other@example.com", json!(others))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// An operator unlock clears the account's password lock too: the account's
/// own count and its devices'.
#[tokio::test]
async fn an_operator_unlock_clears_the_password_lock() {
    const ADMIN: &str = "password-lock-operator-0123456789abcdef";
    let server = Server::start_with(Options {
        admin_token: Some(ADMIN.into()),
        ..Options::default()
    });
    let email = "unlock@example.com";
    let id = server.register(email).await;
    for _ in 0..5 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    locked(&login(&server, email, PASSWORD).await);
    let r = server
        .operator(
            "unlock",
            &id,
            Some(ADMIN),
            json!({"reason": "called in, ID checked"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(login(&server, email, PASSWORD).await.status, 200);
    // The count is gone, not just the lock: four more are checked.
    for _ in 0..4 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    assert_eq!(login(&server, email, PASSWORD).await.status, 200);
}

/// Forgotten counts are purged — one row per unknown email used to stay for
/// ever — while a live lock stays, past the forget window of its last
/// charge.
#[tokio::test]
async fn forgotten_counts_are_purged_and_live_locks_kept() {
    let server = Server::start_with(Options {
        extra_args: vec!["--insecure-password-forget".into(), "1".into()],
        ..Options::default()
    });
    let email = "kept@example.com";
    server.register(email).await;
    for n in 0..20 {
        login(&server, &format!("nobody-{n}@example.com"), WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    for _ in 0..5 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    locked(&login(&server, email, PASSWORD).await);
    let database = server.dir.as_ref().unwrap().path().join("server.db");
    let rows = async || -> i64 {
        let url = format!("sqlite://{}?mode=ro", database.display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("the database");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM app_password_locks")
            .fetch_one(&pool)
            .await
            .expect("the table");
        pool.close().await;
        n
    };
    let before = rows().await;
    assert!((1..=21).contains(&before), "{before} rows");
    // The server purges every half window (here every second).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rows().await > 1 {
        assert!(std::time::Instant::now() < deadline, "{}", server.stdout());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        server.stdout().contains("forgotten counts purged"),
        "{}",
        server.stdout()
    );
    assert!(
        server
            .stderr()
            .contains("WARNING: --insecure-password-forget 1")
    );
    // The lock outlived the window of its last charge and still holds.
    let secs = locked(&login(&server, email, PASSWORD).await);
    assert!((20..=30).contains(&secs), "Retry-After {secs}");
    assert_eq!(rows().await, 1);
}

#[test]
fn the_password_delay_flag_is_checked_and_documented() {
    for (flag, value) in [
        ("--insecure-password-delay", "0"),
        ("--insecure-password-delay", "901"),
        ("--insecure-password-delay", "-1"),
        ("--insecure-password-delay", "soon"),
        ("--insecure-password-forget", "0"),
        ("--insecure-password-forget", "2592001"),
        ("--insecure-password-forget", "a day"),
    ] {
        let out = std::process::Command::new(http_common::server_binary())
            .args([flag, value])
            .env_remove("MFA_MASTER_KEY")
            .output()
            .expect("the server binary");
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{stderr}");
    }
    let out = std::process::Command::new(http_common::server_binary())
        .arg("--help")
        .output()
        .expect("the server binary");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--insecure-password-delay", "--insecure-password-forget"] {
        assert!(help.contains(flag), "{help}");
    }
}
