//! The example server over real HTTP: every route and every error of the
//! contract (the README's "The example server"), driven by a real client against the built binary
//! on a temporary SQLite database, with codes from the test's own TOTP.

mod http_common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_common::{Authenticator, MASTER_KEY, Options, PASSWORD, Resp, Server, strings};
use serde_json::{Value, json};

const SETUP: &str = "/api/user/me/totp/setup";
const CONFIRM: &str = "/api/user/me/totp/confirm";
const STATUS: &str = "/api/user/me/totp";
const REGENERATE: &str = "/api/user/me/totp/backup-codes/regenerate";
const PROFILE_CODES: &str = "/api/user/profile/mfa/backup-codes";
const DISABLE: &str = "/api/user/me/totp/disable";
const LOGIN: &str = "/api/auth/login";
const LOGIN_MFA: &str = "/api/auth/login/mfa";
const STEP_UP: &str = "/api/auth/step-up";

fn assert_backup_codes(codes: &[String]) {
    assert_eq!(codes.len(), 10, "{codes:?}");
    for code in codes {
        let (a, b) = code.split_once('-').expect("xxxxx-xxxxx");
        assert!(a.len() == 5 && b.len() == 5, "{code}");
        assert!(
            code.chars()
                .all(|c| c == '-' || c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{code}"
        );
    }
    let mut unique = codes.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "codes are distinct");
}

async fn mfa_login(server: &Server, mfa_token: &str, field: &str, code: &str) -> Resp {
    server
        .post(
            LOGIN_MFA,
            None,
            Some(json!({ "mfaToken": mfa_token, field: code })),
        )
        .await
}

async fn status(server: &Server, token: &str) -> Value {
    let r = server.get(STATUS, Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[tokio::test]
async fn health_404_405_and_request_ids() {
    let server = Server::start();
    let r = server.get("/health", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "ok"}));
    assert!(r.header("x-request-id").is_some_and(|id| !id.is_empty()));

    let r = server.get("/no/such/route", None).await;
    r.assert_problem(404, "NOT_FOUND");
    let r = server.post("/health", None, None).await;
    r.assert_problem(405, "METHOD_NOT_ALLOWED");
    let r = server.get(LOGIN, None).await;
    r.assert_problem(405, "METHOD_NOT_ALLOWED");

    // A caller's plain request id is kept; a strange one is replaced.
    let mut headers = http_common::json_headers();
    headers.insert("x-request-id", "trace-42.a_b".parse().unwrap());
    let r = server
        .raw(reqwest::Method::GET, "/nowhere", headers, Vec::new())
        .await;
    r.assert_problem(404, "NOT_FOUND");
    assert_eq!(r.header("x-request-id"), Some("trace-42.a_b"));
    let mut headers = http_common::json_headers();
    headers.insert("x-request-id", "has spaces and {braces}".parse().unwrap());
    let r = server
        .raw(reqwest::Method::GET, "/nowhere", headers, Vec::new())
        .await;
    r.assert_problem(404, "NOT_FOUND");
    assert_ne!(r.header("x-request-id"), Some("has spaces and {braces}"));

    // Ids differ between requests.
    let a = server.get("/health", None).await;
    let b = server.get("/health", None).await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

#[tokio::test]
async fn register_and_login_without_mfa() {
    let server = Server::start();
    let register = |body: Value| server.post("/api/auth/register", None, Some(body));

    let r = register(json!({"email": "Ann@Example.com", "password": PASSWORD})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["id"].as_str().is_some_and(|id| !id.is_empty()));
    // Emails are unique, case-insensitively.
    register(json!({"email": "ann@example.com", "password": "another password"}))
        .await
        .assert_problem(409, "EMAIL_TAKEN");
    for bad in [
        json!({"email": "not-an-email", "password": PASSWORD}),
        json!({"email": "", "password": PASSWORD}),
        json!({"email": "bob@example.com", "password": "short"}),
        json!({"email": "bob@example.com"}),
        json!({"password": PASSWORD}),
        json!({}),
    ] {
        register(bad).await.assert_problem(400, "VALIDATION_FAILED");
    }

    let token = server.login("ANN@example.com").await;
    let s = status(&server, &token).await;
    assert_eq!(s["mfaEnabled"], false);
    assert_eq!(s["mfaMethod"], Value::Null);
    assert_eq!(s["pendingSetup"], false);
    assert_eq!(s["backupCodesRemaining"], 0);

    for (email, password) in [
        ("ann@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
    ] {
        let r = server
            .post(
                LOGIN,
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        r.assert_problem(401, "INVALID_CREDENTIALS");
        assert!(!r.text.contains(password));
    }

    // Every authenticated route is 401 without a valid bearer token.
    for (get, path) in [
        (true, STATUS),
        (false, SETUP),
        (false, CONFIRM),
        (false, REGENERATE),
        (false, PROFILE_CODES),
        (false, DISABLE),
        (false, STEP_UP),
    ] {
        for token in [None, Some("not-a-jwt"), Some(&token[..token.len() - 2])] {
            let r = if get {
                server.get(path, token).await
            } else {
                server
                    .post(path, token, Some(json!({"code": "123456"})))
                    .await
            };
            r.assert_problem(401, "UNAUTHENTICATED");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    }
}

#[tokio::test]
async fn the_whole_flow() {
    let server = Server::start();
    let email = "flow@example.com";
    server.register(email).await;
    let token = server.login(email).await;

    // Setup: otpauth URI, base32 secret, QR code as a PNG data URI.
    let setup = server.post(SETUP, Some(&token), None).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    let secret = setup.body["secret"].as_str().unwrap().to_owned();
    let uri = setup.body["otpauthUrl"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("flow%40example.com") || uri.contains("flow@example.com"));
    let qr = setup.body["qrCode"].as_str().unwrap();
    let png = qr
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URI");
    let png = base64::engine::general_purpose::STANDARD
        .decode(png)
        .expect("base64");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let s = status(&server, &token).await;
    assert_eq!(s["pendingSetup"], true);
    assert_eq!(s["mfaEnabled"], false);

    // A pending setup does not turn MFA on at login.
    server.login(email).await;

    // Wrong and missing codes enable nothing.
    let mut app = Authenticator::new(&secret);
    let r = server
        .post(
            CONFIRM,
            Some(&token),
            Some(json!({"code": app.wrong_code()})),
        )
        .await;
    r.assert_problem(400, "INVALID_CODE");
    server
        .post(CONFIRM, Some(&token), Some(json!({})))
        .await
        .assert_problem(400, "INVALID_CODE");
    assert_eq!(status(&server, &token).await["mfaEnabled"], false);

    // Confirm: ten backup codes, once.
    let confirming = app.next_code().await;
    let r = server
        .post(CONFIRM, Some(&token), Some(json!({ "code": confirming })))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    let codes = strings(&r.body["backupCodes"]);
    assert_backup_codes(&codes);
    // The change revoked the session that made it; the answer has the new one.
    server
        .get(STATUS, Some(&token))
        .await
        .assert_problem(401, "SESSION_REVOKED");
    let token = r.body["token"].as_str().expect("a token").to_owned();
    let s = status(&server, &token).await;
    assert_eq!(s["mfaEnabled"], true);
    assert_eq!(s["mfaMethod"], "totp");
    assert_eq!(s["pendingSetup"], false);
    assert_eq!(s["backupCodesRemaining"], 10);
    server
        .post(SETUP, Some(&token), None)
        .await
        .assert_problem(409, "MFA_ALREADY_ENABLED");

    // Login now takes a second step; the confirming code is spent.
    let mfa_token = server.login_for_mfa(email).await;
    mfa_login(&server, &mfa_token, "code", &confirming)
        .await
        .assert_problem(401, "INVALID_CODE");
    let code = app.next_code().await;
    let r = mfa_login(&server, &mfa_token, "code", &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 10);
    let session = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(status(&server, &session).await["mfaEnabled"], true);
    // The same code cannot log in twice, and the mfaToken cannot either.
    let mfa_token = server.login_for_mfa(email).await;
    mfa_login(&server, &mfa_token, "code", &code)
        .await
        .assert_problem(401, "INVALID_CODE");

    // A backup code works once, in either spelling.
    let r = mfa_login(&server, &mfa_token, "backupCode", &codes[0].to_uppercase()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 9);
    mfa_login(&server, &mfa_token, "backupCode", &codes[1])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    let mfa_token = server.login_for_mfa(email).await;
    mfa_login(&server, &mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_CODE");
    assert_eq!(status(&server, &token).await["backupCodesRemaining"], 9);

    // Regenerate with the session: every earlier code dies.
    let r = server.post(REGENERATE, Some(&session), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    let second = strings(&r.body["backupCodes"]);
    assert_backup_codes(&second);
    assert_eq!(status(&server, &token).await["backupCodesRemaining"], 10);
    for old in [&codes[0], &codes[1], &codes[9]] {
        mfa_login(&server, &mfa_token, "backupCode", old)
            .await
            .assert_problem(401, "INVALID_CODE");
    }

    // The stricter twin: password and a current code.
    let code = app.next_code().await;
    let r = server
        .post(
            PROFILE_CODES,
            Some(&session),
            Some(json!({"password": PASSWORD, "code": code})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let third = strings(&r.body["backup_codes"]);
    assert_backup_codes(&third);
    for old in [&second[0], &second[5]] {
        mfa_login(&server, &mfa_token, "backupCode", old)
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    let r = mfa_login(&server, &mfa_token, "backupCode", &third[3]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 9);
    let mfa_token = server.login_for_mfa(email).await;

    // Disable with a backup code: MFA off, codes gone, plain login again.
    let r = server
        .post(
            DISABLE,
            Some(&session),
            Some(json!({"password": PASSWORD, "code": third[4]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    server
        .get(STATUS, Some(&session))
        .await
        .assert_problem(401, "SESSION_REVOKED");
    let session = r.body["token"].as_str().expect("a token").to_owned();
    let s = status(&server, &session).await;
    assert_eq!(s["mfaEnabled"], false);
    assert_eq!(s["mfaMethod"], Value::Null);
    assert_eq!(s["backupCodesRemaining"], 0);
    server.login(email).await;
    // Nothing of the old factor works any more.
    mfa_login(&server, &mfa_token, "backupCode", &third[5])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    server
        .post(REGENERATE, Some(&session), None)
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");

    // And it can be set up again from scratch.
    let setup = server.post(SETUP, Some(&session), None).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    assert_ne!(setup.body["secret"], secret.as_str());
}

#[tokio::test]
async fn disable_with_a_totp_code() {
    let server = Server::start();
    let (token, mut app, _) = server.enrolled_user("off@example.com").await;
    let code = app.next_code().await;
    let r = server
        .post(
            DISABLE,
            Some(&token),
            Some(json!({"password": PASSWORD, "code": code})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["token"].as_str().expect("a token");
    assert_eq!(status(&server, token).await["mfaEnabled"], false);
    server
        .post(
            DISABLE,
            Some(token),
            Some(json!({"password": PASSWORD, "code": code})),
        )
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
}

#[tokio::test]
async fn errors_without_a_factor_and_pending_setup_replacement() {
    let server = Server::start();
    server.register("new@example.com").await;
    let token = server.login("new@example.com").await;

    server
        .post(CONFIRM, Some(&token), Some(json!({"code": "123456"})))
        .await
        .assert_problem(400, "NO_PENDING_SECRET");
    server
        .post(REGENERATE, Some(&token), None)
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
    for path in [PROFILE_CODES, DISABLE] {
        server
            .post(
                path,
                Some(&token),
                Some(json!({"password": PASSWORD, "code": "123456"})),
            )
            .await
            .assert_problem(400, "MFA_NOT_ENABLED");
    }

    // A second setup replaces the first: the first secret's codes stop working.
    let first = server.post(SETUP, Some(&token), None).await;
    let second = server.post(SETUP, Some(&token), None).await;
    assert_eq!(second.status, 200);
    assert_ne!(first.body["secret"], second.body["secret"]);
    let mut old = Authenticator::new(first.body["secret"].as_str().unwrap());
    let mut new = Authenticator::new(second.body["secret"].as_str().unwrap());
    server
        .post(
            CONFIRM,
            Some(&token),
            Some(json!({"code": old.next_code().await})),
        )
        .await
        .assert_problem(400, "INVALID_CODE");
    let r = server
        .post(
            CONFIRM,
            Some(&token),
            Some(json!({"code": new.next_code().await})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["token"].as_str().expect("a token");
    server
        .post(
            CONFIRM,
            Some(token),
            Some(json!({"code": new.next_code().await})),
        )
        .await
        .assert_problem(409, "MFA_ALREADY_ENABLED");
}

#[tokio::test]
async fn a_pending_setup_expires() {
    let server = Server::start_with(Options {
        extra_args: vec!["--pending-ttl".into(), "1".into()],
        ..Options::default()
    });
    server.register("late@example.com").await;
    let token = server.login("late@example.com").await;
    let setup = server.post(SETUP, Some(&token), None).await;
    let mut app = Authenticator::new(setup.body["secret"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(status(&server, &token).await["pendingSetup"], false);
    server
        .post(
            CONFIRM,
            Some(&token),
            Some(json!({"code": app.next_code().await})),
        )
        .await
        .assert_problem(400, "PENDING_EXPIRED");
    assert_eq!(status(&server, &token).await["mfaEnabled"], false);
}

#[tokio::test]
async fn strict_regeneration_and_disable_check_their_fields() {
    let server = Server::start();
    let (token, app, codes) = server.enrolled_user("strict@example.com").await;
    let wrong = app.wrong_code();
    for path in [PROFILE_CODES, DISABLE] {
        for body in [
            json!({"code": wrong}),
            json!({"password": PASSWORD}),
            json!({}),
        ] {
            server
                .post(path, Some(&token), Some(body))
                .await
                .assert_problem(400, "VALIDATION_FAILED");
        }
        let r = server
            .post(
                path,
                Some(&token),
                Some(json!({"password": "not my password", "code": wrong})),
            )
            .await;
        r.assert_problem(400, "INVALID_PASSWORD");
        assert!(!r.text.contains("not my password") && !r.text.contains(&wrong));
        server
            .post(
                path,
                Some(&token),
                Some(json!({"password": PASSWORD, "code": wrong})),
            )
            .await
            .assert_problem(400, "INVALID_CODE");
    }
    // The strict route wants a TOTP code, not a backup code.
    server
        .post(
            PROFILE_CODES,
            Some(&token),
            Some(json!({"password": PASSWORD, "code": codes[0]})),
        )
        .await
        .assert_problem(400, "INVALID_CODE");
    // Login's second step wants exactly one code.
    let mfa_token = server.login_for_mfa("strict@example.com").await;
    for body in [
        json!({"mfaToken": mfa_token}),
        json!({"mfaToken": mfa_token, "code": wrong, "backupCode": codes[1]}),
    ] {
        server
            .post(LOGIN_MFA, None, Some(body))
            .await
            .assert_problem(400, "VALIDATION_FAILED");
    }
    assert_eq!(status(&server, &token).await["backupCodesRemaining"], 10);
}

#[tokio::test]
async fn a_wrong_password_neither_consumes_nor_counts_the_code() {
    let server = Server::start();
    let (token, mut app, codes) = server.enrolled_user("pw@example.com").await;
    let code = app.next_code().await;
    // Far more wrong passwords than the lockout allows failed codes, each
    // with the right code (TOTP or backup) riding along. A login with the
    // right password between the two routes resets the password count
    // (5 wrong passwords in a row lock the password checks, see
    // `http_passwords.rs`) and looks at no code.
    for path in [PROFILE_CODES, DISABLE] {
        server.login_for_mfa("pw@example.com").await;
        for attempt in 0..4 {
            let code = if attempt % 2 == 0 { &code } else { &codes[0] };
            server
                .post(
                    path,
                    Some(&token),
                    Some(json!({"password": "wrong password", "code": code})),
                )
                .await
                .assert_problem(400, "INVALID_PASSWORD");
        }
    }
    let s = status(&server, &token).await;
    assert_eq!(s["lockedOut"], false);
    assert_eq!(s["backupCodesRemaining"], 10);
    // Neither code was consumed: both still work.
    let r = server
        .post(
            PROFILE_CODES,
            Some(&token),
            Some(json!({"password": PASSWORD, "code": code})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = strings(&r.body["backup_codes"]);
    let r = server
        .post(
            DISABLE,
            Some(&token),
            Some(json!({"password": "wrong", "code": fresh[0]})),
        )
        .await;
    r.assert_problem(400, "INVALID_PASSWORD");
    let r = server
        .post(
            DISABLE,
            Some(&token),
            Some(json!({"password": PASSWORD, "code": fresh[0]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Asserts a lockout answer: 429, `Retry-After` in seconds, the same number in the body.
#[track_caller]
fn assert_locked(r: &Resp) {
    r.assert_problem(429, "LOCKED_OUT");
    let retry: u64 = r
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=30).contains(&retry), "retry after {retry}");
    assert_eq!(r.body["retryAfter"], retry);
}

#[tokio::test]
async fn lockout_at_login_with_retry_after() {
    let server = Server::start();
    let (token, mut app, codes) = server.enrolled_user("lock@example.com").await;
    let mfa_token = server.login_for_mfa("lock@example.com").await;
    for _ in 0..5 {
        mfa_login(&server, &mfa_token, "code", &app.wrong_code())
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    // Locked: even the right codes are refused, and not consumed.
    let code = app.next_code().await;
    assert_locked(&mfa_login(&server, &mfa_token, "code", &code).await);
    assert_locked(&mfa_login(&server, &mfa_token, "backupCode", &codes[0]).await);
    assert_eq!(status(&server, &token).await["lockedOut"], true);
    assert_eq!(status(&server, &token).await["backupCodesRemaining"], 10);
    // Locked on every route that takes a code.
    for path in [PROFILE_CODES, DISABLE] {
        assert_locked(
            &server
                .post(
                    path,
                    Some(&token),
                    Some(json!({"password": PASSWORD, "code": code})),
                )
                .await,
        );
    }
}

#[tokio::test]
async fn lockout_at_confirm() {
    let server = Server::start();
    server.register("lockc@example.com").await;
    let token = server.login("lockc@example.com").await;
    let setup = server.post(SETUP, Some(&token), None).await;
    let mut app = Authenticator::new(setup.body["secret"].as_str().unwrap());
    for _ in 0..5 {
        server
            .post(
                CONFIRM,
                Some(&token),
                Some(json!({"code": app.wrong_code()})),
            )
            .await
            .assert_problem(400, "INVALID_CODE");
    }
    let r = server
        .post(
            CONFIRM,
            Some(&token),
            Some(json!({"code": app.next_code().await})),
        )
        .await;
    assert_locked(&r);
    assert_eq!(status(&server, &token).await["mfaEnabled"], false);
}

#[tokio::test]
async fn failures_count_toward_lockout_across_routes() {
    let server = Server::start();
    let (token, mut app, _) = server.enrolled_user("across@example.com").await;
    let mfa_token = server.login_for_mfa("across@example.com").await;
    let wrong = app.wrong_code();
    mfa_login(&server, &mfa_token, "code", &wrong)
        .await
        .assert_problem(401, "INVALID_CODE");
    mfa_login(&server, &mfa_token, "backupCode", "aaaaa-aaaaa")
        .await
        .assert_problem(401, "INVALID_CODE");
    for path in [DISABLE, PROFILE_CODES, DISABLE] {
        server
            .post(
                path,
                Some(&token),
                Some(json!({"password": PASSWORD, "code": wrong})),
            )
            .await
            .assert_problem(400, "INVALID_CODE");
    }
    let code = app.next_code().await;
    assert_locked(&mfa_login(&server, &mfa_token, "code", &code).await);
}

#[tokio::test]
async fn mfa_tokens_and_bearer_tokens_are_not_interchangeable() {
    let server = Server::start();
    let (token, mut app, codes) = server.enrolled_user("tokens@example.com").await;
    let mfa_token = server.login_for_mfa("tokens@example.com").await;

    // An mfaToken is no bearer token, anywhere.
    server
        .get(STATUS, Some(&mfa_token))
        .await
        .assert_problem(401, "UNAUTHENTICATED");
    for path in [SETUP, REGENERATE] {
        server
            .post(path, Some(&mfa_token), None)
            .await
            .assert_problem(401, "UNAUTHENTICATED");
    }
    server
        .post(
            DISABLE,
            Some(&mfa_token),
            Some(json!({"password": PASSWORD, "code": codes[0]})),
        )
        .await
        .assert_problem(401, "UNAUTHENTICATED");

    // A bearer token is no mfaToken, and neither is garbage or a forgery.
    let forged = {
        let mut parts: Vec<String> = mfa_token.split('.').map(str::to_owned).collect();
        parts[2] = parts[2].chars().rev().collect();
        parts.join(".")
    };
    for not_an_mfa_token in [token.as_str(), "", "x.y.z", forged.as_str()] {
        mfa_login(&server, not_an_mfa_token, "backupCode", &codes[0])
            .await
            .assert_problem(401, "INVALID_MFA_TOKEN");
    }
    // An unsigned token with the right claims is refused too.
    let unsigned = {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = mfa_token.split('.').nth(1).unwrap();
        format!("{}.{claims}.", b64(json!({"alg": "none", "typ": "JWT"})))
    };
    mfa_login(&server, &unsigned, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    server
        .get(STATUS, Some(&unsigned))
        .await
        .assert_problem(401, "UNAUTHENTICATED");
    // None of that consumed the backup code.
    assert_eq!(status(&server, &token).await["backupCodesRemaining"], 10);

    // The real thing works, and yields a bearer token that works.
    let r = mfa_login(&server, &mfa_token, "code", &app.next_code().await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let session = r.body["token"].as_str().unwrap();
    assert_eq!(status(&server, session).await["mfaEnabled"], true);
    mfa_login(&server, session, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
}

/// Sends `n` requests at once; returns the answers.
async fn concurrently(server: &Arc<Server>, n: usize, body: Value) -> Vec<Resp> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (server, barrier, body) = (Arc::clone(server), Arc::clone(&barrier), body.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                server.post(LOGIN_MFA, None, Some(body)).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a request task"));
    }
    answers
}

/// One 200; the others were refused for the code (used by then) or for the
/// mfaToken (used up by the winner).
fn exactly_one_success(answers: &[Resp]) {
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{answers:#?}");
    for r in answers.iter().filter(|r| r.status != 200) {
        assert!(
            r.body["code"] == "INVALID_CODE" || r.body["code"] == "INVALID_MFA_TOKEN",
            "{}",
            r.text
        );
        r.assert_problem(401, r.body["code"].as_str().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_logins_with_one_totp_code() {
    let server = Arc::new(Server::start());
    let (token, mut app, _) = server.enrolled_user("race-totp@example.com").await;
    let mfa_token = server.login_for_mfa("race-totp@example.com").await;
    let code = app.next_code().await;
    let answers = concurrently(&server, 16, json!({"mfaToken": mfa_token, "code": code})).await;
    exactly_one_success(&answers);
    assert_eq!(status(&server, &token).await["lockedOut"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_logins_with_one_backup_code() {
    let server = Arc::new(Server::start());
    let (token, _, codes) = server.enrolled_user("race-backup@example.com").await;
    let mfa_token = server.login_for_mfa("race-backup@example.com").await;
    let answers = concurrently(
        &server,
        16,
        json!({"mfaToken": mfa_token, "backupCode": codes[7]}),
    )
    .await;
    exactly_one_success(&answers);
    let winner = answers.iter().find(|r| r.status == 200).unwrap();
    assert_eq!(winner.body["backupCodesRemaining"], 9);
    assert_eq!(status(&server, &token).await["backupCodesRemaining"], 9);
}

#[tokio::test]
async fn restart_keeps_accounts_and_factors_and_the_key_file() {
    // No MFA_MASTER_KEY: the server creates a key file beside the database.
    let mut first = Server::start_with(Options {
        master_key: None,
        ..Options::default()
    });
    let (token, mut app, codes) = first.enrolled_user("again@example.com").await;
    let dir = first.take_dir();
    let key_file = dir.path().join("server.db.key");
    assert!(
        first.stdout().contains("master key: created"),
        "{}",
        first.stdout()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    assert!(first.terminate().0.success());
    #[cfg(not(unix))]
    drop(first);

    let second = Server::start_with(Options {
        master_key: None,
        dir: Some(dir),
        ..Options::default()
    });
    assert!(
        second.stdout().contains("master key: read from"),
        "{}",
        second.stdout()
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
    // The account, the factor and the codes survived, and so did the session.
    assert_eq!(status(&second, &token).await["backupCodesRemaining"], 10);
    let mfa_token = second.login_for_mfa("again@example.com").await;
    let r = mfa_login(&second, &mfa_token, "code", &app.next_code().await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mfa_token = second.login_for_mfa("again@example.com").await;
    let r = mfa_login(&second, &mfa_token, "backupCode", &codes[2]).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_database_without_its_key_file_is_refused() {
    let mut first = Server::start_with(Options {
        master_key: None,
        ..Options::default()
    });
    let dir = first.take_dir();
    drop(first);
    std::fs::remove_file(dir.path().join("server.db.key")).unwrap();
    let err = Server::try_start(Options {
        master_key: None,
        dir: Some(dir),
        ..Options::default()
    });
    let Err((message, status)) = err else {
        panic!("the server started without its key");
    };
    assert!(message.contains("key file"), "{message}");
    assert!(status.is_some_and(|s| !s.success()), "{status:?}");
}

#[tokio::test]
async fn in_memory_database_and_an_invalid_master_key() {
    let server = Server::start_with(Options {
        database: Some(":memory:".into()),
        master_key: None,
        ..Options::default()
    });
    assert!(server.stdout().contains("in memory"), "{}", server.stdout());
    let (token, _, _) = server.enrolled_user("mem@example.com").await;
    assert_eq!(status(&server, &token).await["mfaEnabled"], true);

    let Err((message, status)) = Server::try_start(Options {
        master_key: Some("too short".into()),
        ..Options::default()
    }) else {
        panic!("the server accepted a bad master key");
    };
    assert!(message.contains("MFA_MASTER_KEY"), "{message}");
    assert!(status.is_some_and(|s| !s.success()));
    // The fixed test key itself is well-formed.
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(MASTER_KEY)
            .unwrap()
            .len(),
        32
    );
}

#[test]
fn usage_errors() {
    for args in [
        &["--bogus"][..],
        &["--addr"],
        &["--addr", "not an address"],
        &["--pending-ttl", "0"],
        &["--database", ""],
        &["--step-up-window", "0"],
        &["--step-up-window", "ten"],
        &["--insecure-lockout-delay", "901"],
        &["--insecure-lockout-delay", "-1"],
        &["--mfa-token-ttl", "0"],
    ] {
        let out = std::process::Command::new(http_common::server_binary())
            .args(args)
            .env_remove("MFA_MASTER_KEY")
            .output()
            .expect("the server binary");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("usage:"), "{args:?}: {stderr}");
    }
    let out = std::process::Command::new(http_common::server_binary())
        .arg("--help")
        .output()
        .expect("the server binary");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--database",
        "--step-up-window",
        "--insecure-lockout-delay",
        "--mfa-token-ttl",
        "MFA_ADMIN_TOKEN",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let server = Server::start();
    assert_eq!(server.get("/health", None).await.status, 200);
    assert!(server.stdout().contains("listening on http://127.0.0.1:"));
    let (status, stdout) = server.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(stdout.contains("shut down"), "{stdout}");
}

#[test]
fn postgres_needs_a_shared_master_key() {
    // Refused before any connection is attempted: no server is needed.
    let out = std::process::Command::new(http_common::server_binary())
        .args([
            "--addr",
            "127.0.0.1:0",
            "--database",
            "postgres://nobody@127.0.0.1:1/none",
        ])
        .env_remove("MFA_MASTER_KEY")
        .output()
        .expect("the server binary");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MFA_MASTER_KEY") && stderr.contains("--key-file"),
        "{stderr}"
    );
}

/// A race meets a failing database (I11): two logins with one backup code
/// load the same record, the first one's save lands, and the second one's
/// save waits on a write lock held from another connection until SQLite's
/// busy timeout fails it. Its record is byte-identical to the one that landed
/// (same code, same second); the server must still not count it as saved.
///
/// One hashing permit (`--max-concurrent-hashes 1`) orders the two: the
/// second login loads while the first hashes, then hashes while the first
/// saves and answers, which is when the test takes the lock. Should the
/// second save win that race anyway, the round says so and the next code
/// tries again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_twin_login_whose_save_fails_is_not_a_second_success() {
    use sqlx::Connection as _;
    let server = Arc::new(Server::start_with(Options {
        extra_args: vec!["--max-concurrent-hashes".into(), "1".into()],
        ..Options::default()
    }));
    let (token, _, codes) = server.enrolled_user("twin@example.com").await;
    let database = server.dir.as_ref().unwrap().path().join("server.db");
    let mut remaining = 10;
    let mut blocked_rounds = 0;
    for code in codes.iter().take(3) {
        let mfa_token = server.login_for_mfa("twin@example.com").await;
        let body = json!({"mfaToken": mfa_token, "backupCode": code});
        let send = |delay: u64| {
            let (server, body) = (Arc::clone(&server), body.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                server.post(LOGIN_MFA, None, Some(body)).await
            })
        };
        let (mut a, mut b) = (send(0), send(5));
        let (first, second) = tokio::select! {
            r = &mut a => (r.unwrap(), b),
            r = &mut b => (r.unwrap(), a),
        };
        let mut lock = sqlx::SqliteConnection::connect_with(
            &sqlx::sqlite::SqliteConnectOptions::new().filename(&database),
        )
        .await
        .unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut lock)
            .await
            .unwrap();
        let second = second.await.unwrap();
        sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();
        lock.close().await.unwrap();

        assert_eq!(first.status, 200, "{}", first.text);
        if second.status == 503 {
            second.assert_problem(503, "STORE_UNAVAILABLE");
            blocked_rounds += 1;
        } else {
            // The second save came before the lock: an ordinary race, lost
            // to the used code or to the used-up mfaToken.
            assert_eq!(second.status, 401, "{}", second.text);
            assert!(
                ["INVALID_CODE", "INVALID_MFA_TOKEN"]
                    .contains(&second.body["code"].as_str().unwrap_or("")),
                "{}",
                second.text
            );
        }
        remaining -= 1;
        assert_eq!(
            status(&server, &token).await["backupCodesRemaining"],
            remaining,
            "the code was used exactly once"
        );
        let mfa_token = server.login_for_mfa("twin@example.com").await;
        mfa_login(&server, &mfa_token, "backupCode", code)
            .await
            .assert_problem(401, "INVALID_CODE");
        if blocked_rounds > 0 {
            break;
        }
    }
    assert!(
        blocked_rounds > 0,
        "no round made the second save meet the lock: the scenario was not exercised"
    );
}
