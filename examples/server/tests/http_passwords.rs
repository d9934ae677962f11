//! The password lock (the contract's "Password attempts") over real HTTP
//! against the built binary: 5 consecutive wrong passwords lock the account,
//! right password included, with `Retry-After`; after the wait a right
//! password works and resets the count, a wrong one doubles the wait; login,
//! disable and the strict regenerate count together; an unknown email
//! answers byte for byte as a known one does; concurrent wrong passwords are
//! all counted.

mod http_common;

use std::time::Duration;

use http_common::{Options, PASSWORD, Resp, Server};
use serde_json::json;

const LOGIN: &str = "/api/auth/login";
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
async fn after_the_wait_a_right_password_works_and_resets_the_count() {
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
    // The count starts again from zero: 5 more wrong passwords before a
    // lock, and the wait is the first one again.
    for _ in 0..5 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    assert_eq!(locked(&login(&server, email, PASSWORD).await), 1);
}

#[tokio::test]
async fn fewer_than_five_wrong_passwords_then_a_right_one_reset_the_count() {
    let server = Server::start();
    let email = "reset@example.com";
    server.register(email).await;
    for _ in 0..4 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    server.login(email).await;
    for _ in 0..4 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    server.login(email).await;
}

#[tokio::test]
async fn login_disable_and_strict_regenerate_count_together() {
    let server = Server::start();
    let email = "together@example.com";
    let (token, mut app, _codes) = server.enrolled_user(email).await;
    let code = app.next_code().await;
    let body = |password: &str| json!({"password": password, "code": code});
    for _ in 0..2 {
        login(&server, email, WRONG)
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    for _ in 0..2 {
        server
            .post(DISABLE, Some(&token), Some(body(WRONG)))
            .await
            .assert_problem(400, "INVALID_PASSWORD");
    }
    server
        .post(PROFILE_CODES, Some(&token), Some(body(WRONG)))
        .await
        .assert_problem(400, "INVALID_PASSWORD");
    // Locked everywhere, the right password and a good code included; the
    // code is not looked at.
    locked(&login(&server, email, PASSWORD).await);
    locked(
        &server
            .post(DISABLE, Some(&token), Some(body(PASSWORD)))
            .await,
    );
    locked(
        &server
            .post(PROFILE_CODES, Some(&token), Some(body(PASSWORD)))
            .await,
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_are_all_counted() {
    let server = Server::start();
    let email = "burst@example.com";
    server.register(email).await;
    let a = || login(&server, email, WRONG);
    let burst = tokio::join!(a(), a(), a(), a(), a(), a(), a(), a());
    let burst = [
        burst.0, burst.1, burst.2, burst.3, burst.4, burst.5, burst.6, burst.7,
    ];
    let mut checked = 0;
    for r in &burst {
        if r.status == 401 {
            r.assert_problem(401, "INVALID_CREDENTIALS");
            checked += 1;
        } else {
            locked(r);
        }
    }
    assert!(checked >= 5, "{burst:?}");
    // Every checked wrong password counted: the wait doubled once per
    // failure after the fifth (30 s, 60 s, ...).
    let expected = (30u64 << (checked - 5)).min(900);
    let secs = locked(&login(&server, email, PASSWORD).await);
    assert!(
        (expected - 2..=expected).contains(&secs),
        "{checked} wrong passwords checked, Retry-After {secs}, expected {expected}"
    );
}

#[test]
fn the_password_delay_flag_is_checked_and_documented() {
    for value in ["0", "901", "-1", "soon"] {
        let out = std::process::Command::new(http_common::server_binary())
            .args(["--insecure-password-delay", value])
            .env_remove("MFA_MASTER_KEY")
            .output()
            .expect("the server binary");
        assert_eq!(out.status.code(), Some(2), "{value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--insecure-password-delay"), "{stderr}");
    }
    let out = std::process::Command::new(http_common::server_binary())
        .arg("--help")
        .output()
        .expect("the server binary");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--insecure-password-delay"), "{help}");
}
