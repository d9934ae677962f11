//! The MFA part of the example server's contract — setup (with the
//! password), confirm, status,
//! the login second step, the two regenerate routes and disable — as cases
//! that take a running server. `http_api.rs` runs them against the axum
//! server and `http_actix.rs` against `examples/actix_server/`: both must
//! answer the same.
#![allow(dead_code)]

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::http_common::{Authenticator, PASSWORD, Resp, Server, strings};

pub const SETUP: &str = "/api/user/me/totp/setup";
pub const CONFIRM: &str = "/api/user/me/totp/confirm";
pub const STATUS: &str = "/api/user/me/totp";
pub const REGENERATE: &str = "/api/user/me/totp/backup-codes/regenerate";
pub const PROFILE_CODES: &str = "/api/user/profile/mfa/backup-codes";
pub const DISABLE: &str = "/api/user/me/totp/disable";
pub const LOGIN: &str = "/api/auth/login";
pub const LOGIN_MFA: &str = "/api/auth/login/mfa";
pub const STEP_UP: &str = "/api/auth/step-up";

/// One `#[tokio::test]` per case, each on a new server from `$start`.
#[macro_export]
macro_rules! mfa_cases {
    ($start:expr) => {
        $crate::mfa_cases!(@each $start;
            the_whole_flow, disable_with_a_totp_code,
            errors_without_a_factor_and_pending_setup_replacement,
            strict_regeneration_and_disable_check_their_fields,
            a_wrong_password_neither_consumes_nor_counts_the_code,
            lockout_at_login_with_retry_after, lockout_at_confirm,
            setup_needs_the_password,
            failures_count_toward_lockout_across_routes,
            mfa_tokens_and_bearer_tokens_are_not_interchangeable);
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn sixteen_concurrent_logins_with_one_totp_code() {
            http_mfa::sixteen_concurrent_logins_with_one_totp_code(std::sync::Arc::new($start)).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn sixteen_concurrent_logins_with_one_backup_code() {
            http_mfa::sixteen_concurrent_logins_with_one_backup_code(std::sync::Arc::new($start)).await
        }
    };
    (@each $start:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                http_mfa::$case(&$start).await
            }
        )*
    };
}

pub fn assert_backup_codes(codes: &[String]) {
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

pub async fn mfa_login(server: &Server, mfa_token: &str, field: &str, code: &str) -> Resp {
    server
        .post(
            LOGIN_MFA,
            None,
            Some(json!({ "mfaToken": mfa_token, field: code })),
        )
        .await
}

pub async fn status(server: &Server, token: &str) -> Value {
    let r = server.get(STATUS, Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Sends `n` requests at once; returns the answers.
pub async fn concurrently(server: &Arc<Server>, n: usize, body: Value) -> Vec<Resp> {
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

/// One 200; the others were refused for the code (used by then), for the
/// mfaToken (used up by the winner), or by the lockout their charges set.
pub fn exactly_one_success(answers: &[Resp]) {
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{answers:#?}");
    for r in answers.iter().filter(|r| r.status != 200) {
        let code = r.body["code"].as_str().unwrap_or("");
        match code {
            "INVALID_CODE" | "INVALID_MFA_TOKEN" => r.assert_problem(401, code),
            // A backup code is charged to the lockout before it is hashed
            // (I16): the losers' charges stay, and past the fifth the rest
            // are refused without a hash.
            _ => r.assert_problem(429, "LOCKED_OUT"),
        }
    }
}

/// Asserts a lockout answer: 429, `Retry-After` in seconds, the same number in the body.
#[track_caller]
pub fn assert_locked(r: &Resp) {
    r.assert_problem(429, "LOCKED_OUT");
    let retry: u64 = r
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=30).contains(&retry), "retry after {retry}");
    assert_eq!(r.body["retryAfter"], retry);
}

pub async fn the_whole_flow(server: &Server) {
    let email = "flow@example.com";
    server.register(email).await;
    let token = server.login(email).await;

    // Setup: otpauth URI, base32 secret, QR code as a PNG data URI.
    let setup = server.setup(&token, PASSWORD).await;
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
    let s = status(server, &token).await;
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
    assert_eq!(status(server, &token).await["mfaEnabled"], false);

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
    let s = status(server, &token).await;
    assert_eq!(s["mfaEnabled"], true);
    assert_eq!(s["mfaMethod"], "totp");
    assert_eq!(s["pendingSetup"], false);
    assert_eq!(s["backupCodesRemaining"], 10);
    server
        .setup(&token, PASSWORD)
        .await
        .assert_problem(409, "MFA_ALREADY_ENABLED");

    // Login now takes a second step; the confirming code is spent.
    let mfa_token = server.login_for_mfa(email).await;
    mfa_login(server, &mfa_token, "code", &confirming)
        .await
        .assert_problem(401, "INVALID_CODE");
    let code = app.next_code().await;
    let r = mfa_login(server, &mfa_token, "code", &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 10);
    let session = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(status(server, &session).await["mfaEnabled"], true);
    // The same code cannot log in twice, and the mfaToken cannot either.
    let mfa_token = server.login_for_mfa(email).await;
    mfa_login(server, &mfa_token, "code", &code)
        .await
        .assert_problem(401, "INVALID_CODE");

    // A backup code works once, in either spelling.
    let r = mfa_login(server, &mfa_token, "backupCode", &codes[0].to_uppercase()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 9);
    mfa_login(server, &mfa_token, "backupCode", &codes[1])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    let mfa_token = server.login_for_mfa(email).await;
    mfa_login(server, &mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_CODE");
    assert_eq!(status(server, &token).await["backupCodesRemaining"], 9);

    // Regenerate with the session: every earlier code dies.
    let r = server.post(REGENERATE, Some(&session), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    let second = strings(&r.body["backupCodes"]);
    assert_backup_codes(&second);
    assert_eq!(status(server, &token).await["backupCodesRemaining"], 10);
    for old in [&codes[0], &codes[1], &codes[9]] {
        mfa_login(server, &mfa_token, "backupCode", old)
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
        mfa_login(server, &mfa_token, "backupCode", old)
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    let r = mfa_login(server, &mfa_token, "backupCode", &third[3]).await;
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
    let s = status(server, &session).await;
    assert_eq!(s["mfaEnabled"], false);
    assert_eq!(s["mfaMethod"], Value::Null);
    assert_eq!(s["backupCodesRemaining"], 0);
    server.login(email).await;
    // Nothing of the old factor works any more.
    mfa_login(server, &mfa_token, "backupCode", &third[5])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    server
        .post(REGENERATE, Some(&session), None)
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");

    // And it can be set up again from scratch.
    let setup = server.setup(&session, PASSWORD).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    assert_ne!(setup.body["secret"], secret.as_str());
}

pub async fn disable_with_a_totp_code(server: &Server) {
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
    assert_eq!(status(server, token).await["mfaEnabled"], false);
    server
        .post(
            DISABLE,
            Some(token),
            Some(json!({"password": PASSWORD, "code": code})),
        )
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
}

pub async fn errors_without_a_factor_and_pending_setup_replacement(server: &Server) {
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
    let first = server.setup(&token, PASSWORD).await;
    let second = server.setup(&token, PASSWORD).await;
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

pub async fn strict_regeneration_and_disable_check_their_fields(server: &Server) {
    let (token, app, codes) = server.enrolled_user("strict@example.com").await;
    let wrong = app.wrong_code();
    for path in [PROFILE_CODES, DISABLE] {
        // Disable takes the password alone from a session whose proof is
        // recent (a passkey user has no code to type).
        let password_alone = (path == PROFILE_CODES).then(|| json!({"password": PASSWORD}));
        for body in [json!({"code": wrong}), json!({})]
            .into_iter()
            .chain(password_alone)
        {
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
    assert_eq!(status(server, &token).await["backupCodesRemaining"], 10);
}

pub async fn a_wrong_password_neither_consumes_nor_counts_the_code(server: &Server) {
    let (token, mut app, codes) = server.enrolled_user("pw@example.com").await;
    let code = app.next_code().await;
    // As many wrong passwords as the lockout allows failed codes (the axum
    // server's password lock lets as many be checked), each with a right
    // code (TOTP or backup) riding along, on both routes.
    for attempt in 0..5 {
        let path = if attempt < 3 { PROFILE_CODES } else { DISABLE };
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
    let s = status(server, &token).await;
    assert_eq!(s["lockedOut"], false);
    assert_eq!(s["mfaEnabled"], true);
    assert_eq!(s["backupCodesRemaining"], 10);
    // The password lock's wait (one second in these tests).
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    // Neither code was consumed: both still work.
    let mfa_token = server.login_for_mfa("pw@example.com").await;
    let r = mfa_login(server, &mfa_token, "backupCode", &codes[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 9);
    let r = server
        .post(
            PROFILE_CODES,
            Some(&token),
            Some(json!({"password": PASSWORD, "code": code})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

pub async fn lockout_at_login_with_retry_after(server: &Server) {
    let (token, mut app, codes) = server.enrolled_user("lock@example.com").await;
    let mfa_token = server.login_for_mfa("lock@example.com").await;
    for _ in 0..5 {
        mfa_login(server, &mfa_token, "code", &app.wrong_code())
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    // Locked: even the right codes are refused, and not consumed.
    let code = app.next_code().await;
    assert_locked(&mfa_login(server, &mfa_token, "code", &code).await);
    assert_locked(&mfa_login(server, &mfa_token, "backupCode", &codes[0]).await);
    assert_eq!(status(server, &token).await["lockedOut"], true);
    assert_eq!(status(server, &token).await["backupCodesRemaining"], 10);
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

/// A session alone binds no factor: setup takes the account's password
/// (without it 400 `VALIDATION_FAILED`, a wrong one 400 `INVALID_PASSWORD`),
/// and nothing is pending until it is right.
pub async fn setup_needs_the_password(server: &Server) {
    server.register("bind@example.com").await;
    let token = server.login("bind@example.com").await;
    for body in [
        json!({}),
        json!({"password": null}),
        json!({"code": "123456"}),
    ] {
        server
            .post(SETUP, Some(&token), Some(body))
            .await
            .assert_problem(400, "VALIDATION_FAILED");
    }
    for wrong in ["", "not the password", &PASSWORD.to_uppercase()] {
        let r = server.setup(&token, wrong).await;
        r.assert_problem(400, "INVALID_PASSWORD");
        assert!(
            !r.text.contains("secret") && !r.text.contains("otpauth"),
            "{}",
            r.text
        );
    }
    assert_eq!(status(server, &token).await["pendingSetup"], false);
    let r = server.setup(&token, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(server, &token).await["pendingSetup"], true);
}

pub async fn lockout_at_confirm(server: &Server) {
    server.register("lockc@example.com").await;
    let token = server.login("lockc@example.com").await;
    let setup = server.setup(&token, PASSWORD).await;
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
    assert_eq!(status(server, &token).await["mfaEnabled"], false);
}

pub async fn failures_count_toward_lockout_across_routes(server: &Server) {
    let (token, mut app, _) = server.enrolled_user("across@example.com").await;
    let mfa_token = server.login_for_mfa("across@example.com").await;
    let wrong = app.wrong_code();
    mfa_login(server, &mfa_token, "code", &wrong)
        .await
        .assert_problem(401, "INVALID_CODE");
    mfa_login(server, &mfa_token, "backupCode", "aaaaa-aaaaa")
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
    assert_locked(&mfa_login(server, &mfa_token, "code", &code).await);
}

pub async fn mfa_tokens_and_bearer_tokens_are_not_interchangeable(server: &Server) {
    let (token, mut app, codes) = server.enrolled_user("tokens@example.com").await;
    let mfa_token = server.login_for_mfa("tokens@example.com").await;

    // An mfaToken is no bearer token, anywhere.
    server
        .get(STATUS, Some(&mfa_token))
        .await
        .assert_problem(401, "UNAUTHENTICATED");
    for (path, body) in [
        (SETUP, Some(json!({"password": PASSWORD}))),
        (REGENERATE, None),
    ] {
        server
            .post(path, Some(&mfa_token), body)
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
    let forged: String = match mfa_token.rsplit_once('.') {
        // A JWT (the axum server's): its signature reversed.
        Some((signed, signature)) => {
            format!("{signed}.{}", signature.chars().rev().collect::<String>())
        }
        // An opaque token (the actix-web server's): reversed.
        None => mfa_token.chars().rev().collect(),
    };
    for not_an_mfa_token in [token.as_str(), "", "x.y.z", forged.as_str()] {
        mfa_login(server, not_an_mfa_token, "backupCode", &codes[0])
            .await
            .assert_problem(401, "INVALID_MFA_TOKEN");
    }
    // An unsigned JWT with the right claims is refused too.
    if let Some(claims) = mfa_token.split('.').nth(1) {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let unsigned = format!("{}.{claims}.", b64(json!({"alg": "none", "typ": "JWT"})));
        mfa_login(server, &unsigned, "backupCode", &codes[0])
            .await
            .assert_problem(401, "INVALID_MFA_TOKEN");
        server
            .get(STATUS, Some(&unsigned))
            .await
            .assert_problem(401, "UNAUTHENTICATED");
    }
    // None of that consumed the backup code.
    assert_eq!(status(server, &token).await["backupCodesRemaining"], 10);

    // The real thing works, and yields a bearer token that works.
    let r = mfa_login(server, &mfa_token, "code", &app.next_code().await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let session = r.body["token"].as_str().unwrap();
    assert_eq!(status(server, session).await["mfaEnabled"], true);
    mfa_login(server, session, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
}

pub async fn sixteen_concurrent_logins_with_one_totp_code(server: Arc<Server>) {
    let (token, mut app, _) = server.enrolled_user("race-totp@example.com").await;
    let mfa_token = server.login_for_mfa("race-totp@example.com").await;
    let code = app.next_code().await;
    let answers = concurrently(&server, 16, json!({"mfaToken": mfa_token, "code": code})).await;
    exactly_one_success(&answers);
    assert_eq!(status(&server, &token).await["lockedOut"], false);
}

pub async fn sixteen_concurrent_logins_with_one_backup_code(server: Arc<Server>) {
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

/// The second step with a passkey (a soft passkey at the server's default
/// origin), once only; a backup code still completes it.
pub async fn a_passkey_completes_the_second_step_once(server: &Server) {
    let email = "passkey@example.com";
    let (token, mut key, codes) = server.passkey_user(email).await;
    assert_eq!(codes.len(), 10, "the first factor's backup codes");
    let status = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(
        status.body["mfaMethods"],
        json!(["passkey"]),
        "{}",
        status.text
    );

    let answer = server.login_answer(email).await;
    assert_eq!(answer["methods"], json!(["backupCode", "passkey"]));
    let mfa_token = answer["mfaToken"].as_str().unwrap();
    // Without user verification: refused, counted, the login still open.
    let no_uv = key.assert_without_uv(&answer["passkeyOptions"]);
    server
        .login_mfa_passkey(mfa_token, &no_uv)
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    let assertion = key.assert(&answer["passkeyOptions"]);
    let r = server.login_mfa_passkey(mfa_token, &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 10);
    // Replayed: the login is spent; under a new login, another challenge.
    server
        .login_mfa_passkey(mfa_token, &assertion)
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    let again = server.login_answer(email).await;
    server
        .login_mfa_passkey(again["mfaToken"].as_str().unwrap(), &assertion)
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    // A backup code still completes it.
    server.login_with(email, "backupCode", &codes[0]).await;
}
