//! Replacing the authenticator and remembered devices (the contract's "Replacing
//! the authenticator (a new phone)" and "Remembered devices" sections), over
//! real HTTP against the built binary:
//!
//! - a replacement waits beside the active factor, authenticates nothing,
//!   is swapped in by a code of the new app only, and revokes what came
//!   before it; it is begun with the password and a current code or a
//!   backup code (a session alone, however fresh its proof, begins none),
//!   expires, counts wrong codes, and a login with the old app racing the
//!   swap is never accepted after it;
//! - a remembered device skips the second step (a session without a proof);
//!   every other device token gets the usual `mfaRequired` answer, the same
//!   bytes whatever it was; forgetting, disabling, replacing and an operator
//!   reset revoke them; the oldest is forgotten beyond `--max-devices`.

mod http_common;

use std::sync::Arc;
use std::time::Duration;

use http_common::{Authenticator, Options, PASSWORD, Resp, Server, strings};
use serde_json::{Value, json};

const STATUS: &str = "/api/user/me/totp";
const REGENERATE: &str = "/api/user/me/totp/backup-codes/regenerate";
const REPLACE: &str = "/api/user/me/totp/replace";
const FORGET: &str = "/api/user/me/devices/forget";
const DISABLE: &str = "/api/user/me/totp/disable";
const ADMIN_TOKEN: &str = "lifecycle-operator-token-0123456789abcdef";

fn with_args(args: &[&str]) -> Server {
    Server::start_with(Options {
        extra_args: args.iter().map(|a| (*a).to_owned()).collect(),
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Options::default()
    })
}

fn token_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["token"].as_str().expect("a token").to_owned()
}

#[track_caller]
fn assert_revoked(r: &Resp) {
    r.assert_problem(401, "SESSION_REVOKED");
}

async fn status(server: &Server, token: &str) -> Value {
    let r = server.get(STATUS, Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// A login with the password and a device token that the server must not
/// recognise: exactly the usual answer. Returns its body with the `mfaToken`
/// value blanked, for comparing answers byte for byte.
async fn mfa_required(server: &Server, email: &str, device_token: Value) -> String {
    let r = server.login_with_device(email, device_token.clone()).await;
    assert_eq!(r.status, 200, "{device_token}: {}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let keys: Vec<&String> = r.body.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["mfaRequired", "mfaToken"], "{}", r.text);
    assert_eq!(r.body["mfaRequired"], true);
    let mfa_token = r.body["mfaToken"].as_str().expect("an mfaToken");
    assert!(!r.text.contains("deviceToken") && !r.text.contains("\"token\""));
    r.text.replace(mfa_token, "MFA_TOKEN")
}

/// A login with the password and a remembered device's token: a session
/// (and nothing else).
async fn remembered(server: &Server, email: &str, device_token: &str) -> String {
    let r = server.login_with_device(email, json!(device_token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["token"], "{}", r.text);
    token_of(&r)
}

// ---------------------------------------------------------------------------
// Replacing the authenticator

/// The whole replacement: the old app works until the swap, the pending
/// secret authenticates nothing, asking again replaces it, only a code of
/// the new app confirms, and the swap keeps the backup codes, burns the
/// confirming step and revokes every earlier session and `mfaToken`.
#[tokio::test]
async fn replacing_the_authenticator() {
    let server = Server::start();
    let email = "phone@example.com";
    let (token, mut old, codes) = server.enrolled_user(email).await;
    let other = server.login_with(email, "backupCode", &codes[0]).await;
    server
        .confirm_replacement(&token, &old.code_at_step(old.current_step()))
        .await
        .assert_problem(400, "NO_PENDING_SECRET");

    let r = server.replace(&token, PASSWORD, &codes[3]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["otpauthUrl", "qrCode", "secret"], "{}", r.text);
    let first_secret = r.body["secret"].as_str().unwrap();
    assert!(
        r.body["otpauthUrl"]
            .as_str()
            .unwrap()
            .contains(first_secret)
    );
    let qr = r.body["qrCode"].as_str().unwrap();
    assert!(qr.starts_with("data:image/png;base64,"), "{qr}");
    let first = Authenticator::new(first_secret);
    let s = status(&server, &token).await;
    assert_eq!(s["mfaEnabled"], true, "{s}");
    assert_eq!(s["replacementPending"], true, "{s}");
    // Asking again (with a backup code this time) replaces the pending secret.
    let mut new = server.begin_replacement(&other, &codes[2]).await;
    assert_ne!(new.code_at_step(1), first.code_at_step(1));

    // The pending secret authenticates nothing: not at login, not at step-up.
    let mfa_token = server.login_for_mfa(email).await;
    let step = new.current_step();
    server
        .login_mfa(&mfa_token, "code", &new.code_at_step(step))
        .await
        .assert_problem(401, "INVALID_CODE");
    server
        .step_up(&token, "code", &new.code_at_step(step))
        .await
        .assert_problem(401, "INVALID_CODE");
    // The old app keeps working until the swap (and that success clears the
    // two failures above from the count).
    let r = server
        .login_mfa(&mfa_token, "code", &old.next_code().await)
        .await;
    token_of(&r);

    // Only the new app confirms: codes of the replaced pending secret and of
    // the old app are refused, and counted.
    let step = old.current_step();
    for code in [first.code_at_step(step), old.code_at_step(step)] {
        server
            .confirm_replacement(&token, &code)
            .await
            .assert_problem(400, "INVALID_CODE");
    }
    let earlier_mfa_token = server.login_for_mfa(email).await;
    let confirming = new.next_code().await;
    let r = server.confirm_replacement(&other, &confirming).await;
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["success", "token"], "{}", r.text);
    assert_eq!(r.body["success"], true);
    let replaced = token_of(&r);

    // Every session and mfaToken from before is revoked, the confirming one
    // included; none of the refusals uses a backup code.
    for earlier in [&token, &other] {
        assert_revoked(&server.get(STATUS, Some(earlier)).await);
        assert_revoked(&server.post(REPLACE, Some(earlier), None).await);
    }
    server
        .login_mfa(&earlier_mfa_token, "backupCode", &codes[1])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    // The confirming code cannot log in; the old app's codes are refused.
    let mfa_token = server.login_for_mfa(email).await;
    let step = old.current_step();
    for code in [
        confirming.clone(),
        old.code_at_step(step),
        old.code_at_step(step + 1),
    ] {
        server
            .login_mfa(&mfa_token, "code", &code)
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    // Backup codes are kept; the new app logs in.
    let r = server.login_mfa(&mfa_token, "backupCode", &codes[1]).await;
    token_of(&r);
    assert_eq!(r.body["backupCodesRemaining"], 6, "{}", r.text);
    server
        .login_with(email, "code", &new.next_code().await)
        .await;
    let s = status(&server, &replaced).await;
    assert_eq!(s["mfaEnabled"], true, "{s}");
    assert_eq!(s["replacementPending"], false, "{s}");
    assert_eq!(s["backupCodesRemaining"], 6, "{s}");
    assert_eq!(s["lockedOut"], false, "{s}");
    // Nothing pending any more; the new session carries a fresh proof.
    server
        .confirm_replacement(&replaced, "123456")
        .await
        .assert_problem(400, "NO_PENDING_SECRET");
    let r = server.post(REGENERATE, Some(&replaced), None).await;
    assert_eq!(strings(&r.body["backupCodes"]).len(), 10, "{}", r.text);
    let events = server.security_events();
    for name in ["replacement_started", "authenticator_replaced"] {
        assert!(
            events.iter().any(|e| e["securityEvent"] == name),
            "{name}: {}",
            server.stderr()
        );
    }
    assert!(!server.stderr().contains(&confirming));
}

/// Beginning a replacement needs MFA on, the password and a current code or
/// a backup code — a recent proof alone does not do, and an old one does not
/// matter; a pending replacement expires (`--pending-ttl`) and the old app
/// keeps working. (The crate counts whole seconds: a 2-second window is
/// surely over after 3.1 seconds, a 5-second one after 6.1.)
#[tokio::test]
async fn a_replacement_needs_the_password_and_a_code_and_expires() {
    let server = with_args(&["--step-up-window", "2", "--pending-ttl", "5"]);
    // MFA off: nothing to replace or forget.
    server.register("plain@example.com").await;
    let plain = server.login("plain@example.com").await;
    server
        .replace(&plain, PASSWORD, "123456")
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
    server
        .post(FORGET, Some(&plain), None)
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
    server
        .confirm_replacement(&plain, "123456")
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");

    // Enrolled with the code of this very step, without waiting for a
    // fresh one (the setup lives 5 seconds); the old app's next step stays
    // good for the rest of the test.
    let email = "expiry@example.com";
    server.register(email).await;
    let first = server.login(email).await;
    let old = server.begin_totp_setup(&first).await;
    let step = old.current_step();
    let (codes, token) = server
        .confirm_totp_setup(&first, &old.code_at_step(step))
        .await;
    // The session's proof is fresh, but a session alone begins nothing.
    for body in [
        json!({}),
        json!({"password": PASSWORD}),
        json!({"code": codes[0]}),
    ] {
        server
            .post(REPLACE, Some(&token), Some(body))
            .await
            .assert_problem(400, "VALIDATION_FAILED");
    }
    assert_eq!(status(&server, &token).await["replacementPending"], false);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    server
        .post(FORGET, Some(&token), None)
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");
    assert_eq!(status(&server, &token).await["replacementPending"], false);

    // Its proof is old now, and does not matter: the password and a backup
    // code begin the replacement.
    let new = server.begin_replacement(&token, &codes[0]).await;
    assert_eq!(status(&server, &token).await["replacementPending"], true);
    tokio::time::sleep(Duration::from_millis(6100)).await;
    assert_eq!(status(&server, &token).await["replacementPending"], false);
    server
        .confirm_replacement(&token, &new.code_at_step(new.current_step()))
        .await
        .assert_problem(400, "PENDING_EXPIRED");
    // The old app still works, and a new replacement can begin with it.
    let newer = server
        .begin_replacement(&token, &old.code_at_step(step + 1))
        .await;
    let code = newer.code_at_step(newer.current_step());
    token_of(&server.confirm_replacement(&token, &code).await);
}

/// Wrong codes at replace/confirm count toward the lockout shared with every
/// other route: once locked, even the new app's right code is refused until
/// the lock ends.
#[tokio::test]
async fn wrong_replacement_codes_count_toward_the_lockout() {
    let server = with_args(&["--insecure-lockout-delay", "2"]);
    let email = "count@example.com";
    let (token, mut old, codes) = server.enrolled_user(email).await;
    let mut new = server
        .begin_replacement(&token, &old.next_code().await)
        .await;
    let step = old.current_step();
    for offset in 0..5 {
        let code = match offset {
            0 | 1 => old.code_at_step(step + offset),
            _ => new.wrong_code(),
        };
        server
            .confirm_replacement(&token, &code)
            .await
            .assert_problem(400, "INVALID_CODE");
    }
    let r = server
        .confirm_replacement(&token, &new.next_code().await)
        .await;
    r.assert_problem(429, "LOCKED_OUT");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    let mfa_token = server.login_for_mfa(email).await;
    server
        .login_mfa(&mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(429, "LOCKED_OUT");
    assert_eq!(status(&server, &token).await["lockedOut"], true);
    // After the lock the replacement is still pending and confirms.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = server
        .confirm_replacement(&token, &new.next_code().await)
        .await;
    let replaced = token_of(&r);
    let s = status(&server, &replaced).await;
    assert_eq!(s["lockedOut"], false, "{s}");
    assert_eq!(s["backupCodesRemaining"], 10, "{s}");
}

/// A login with the old app's code racing the swap: accepted only before it
/// (its session is then revoked by the swap), refused after it; never a
/// session that survives the swap. Each round races the whole login (the
/// password step and the code) against the confirmation, started a little
/// later each time so that the swap lands at different points of the login.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_with_the_old_app_racing_the_swap() {
    let server = Arc::new(Server::start());
    let email = "race-swap@example.com";
    let (mut session, mut old, codes) = server.enrolled_user(email).await;
    let (mut before, mut after) = (0, 0);
    for round in 0..6u64 {
        let mut new = server
            .begin_replacement(&session, &codes[round as usize])
            .await;
        let (old_code, new_code) = (old.next_code().await, new.next_code().await);
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let login = {
            let (server, barrier) = (Arc::clone(&server), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let body = json!({"email": email, "password": PASSWORD});
                let r = server.post("/api/auth/login", None, Some(body)).await;
                let mfa_token = r.body["mfaToken"].as_str().expect("an mfaToken");
                server.login_mfa(mfa_token, "code", &old_code).await
            })
        };
        let confirm = {
            let (server, barrier, session) =
                (Arc::clone(&server), Arc::clone(&barrier), session.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                tokio::time::sleep(Duration::from_millis(round * 20)).await;
                server.confirm_replacement(&session, &new_code).await
            })
        };
        let (login, confirm) = (login.await.unwrap(), confirm.await.unwrap());
        session = token_of(&confirm);
        if login.status == 200 {
            // Accepted before the swap: the swap revoked its session.
            before += 1;
            assert_revoked(&server.get(STATUS, Some(&token_of(&login))).await);
        } else {
            // The swap came first: the login's mfaToken was revoked with
            // it, or the mfaToken is newer and the old code is wrong.
            after += 1;
            let code = login.body["code"].as_str().unwrap_or("");
            assert!(
                ["INVALID_MFA_TOKEN", "INVALID_CODE"].contains(&code),
                "{}",
                login.text
            );
            login.assert_problem(401, code);
        }
        // Either way the old app is now refused.
        let mfa_token = server.login_for_mfa(email).await;
        server
            .login_mfa(&mfa_token, "code", &old.code_at_step(old.current_step()))
            .await
            .assert_problem(401, "INVALID_CODE");
        old = new;
    }
    eprintln!("old app's login before the swap: {before}, after: {after}");
    let s = status(&server, &session).await;
    assert_eq!(s["backupCodesRemaining"], 4, "{s}");
}

// ---------------------------------------------------------------------------
// Remembered devices

/// `"rememberDevice": true` answers a `deviceToken`; with the password it
/// logs in without the second step, to a session without a proof, which
/// must step up before managing the factor.
#[tokio::test]
async fn a_remembered_device_skips_the_second_step_but_not_step_up() {
    let server = Server::start();
    let email = "device@example.com";
    let (token, _, codes) = server.enrolled_user(email).await;
    assert_eq!(status(&server, &token).await["rememberedDevices"], 0);

    // Without rememberDevice, or with false, there is no device token; a
    // wrong type is refused before the code is looked at.
    for (code, remember) in [(&codes[0], None), (&codes[1], Some(json!(false)))] {
        let mfa_token = server.login_for_mfa(email).await;
        let bad = json!({"mfaToken": mfa_token, "backupCode": code, "rememberDevice": "yes"});
        server
            .post("/api/auth/login/mfa", None, Some(bad))
            .await
            .assert_problem(400, "VALIDATION_FAILED");
        let mut body = json!({"mfaToken": mfa_token, "backupCode": code});
        if let Some(remember) = remember {
            body["rememberDevice"] = remember;
        }
        let r = server.post("/api/auth/login/mfa", None, Some(body)).await;
        token_of(&r);
        assert!(r.body.get("deviceToken").is_none(), "{}", r.text);
    }
    // A wrong code with rememberDevice: no session, no device token.
    let mfa_token = server.login_for_mfa(email).await;
    let body = json!({"mfaToken": mfa_token, "backupCode": codes[0], "rememberDevice": true});
    let r = server.post("/api/auth/login/mfa", None, Some(body)).await;
    r.assert_problem(401, "INVALID_CODE");
    assert!(!r.text.contains("deviceToken"));

    let (proven, device) = server
        .login_remembering(email, "backupCode", &codes[2])
        .await;
    assert_eq!(device.len(), 43, "256 bits in base64url");
    assert!(
        device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(status(&server, &proven).await["rememberedDevices"], 1);
    assert!(!server.stderr().contains(&device));

    // The password and the device token: a session, no second step.
    let session = remembered(&server, email, &device).await;
    let s = status(&server, &session).await;
    assert_eq!(s["mfaEnabled"], true, "{s}");
    // It carries no proof: managing the factor without a code needs step-up.
    for path in [REGENERATE, FORGET] {
        server
            .post(path, Some(&session), None)
            .await
            .assert_problem(403, "STEP_UP_REQUIRED");
    }
    // The device token is no bearer token, and a wrong password is still wrong.
    server
        .get(STATUS, Some(&device))
        .await
        .assert_problem(401, "UNAUTHENTICATED");
    let body = json!({"email": email, "password": "wrong password!", "deviceToken": device});
    let r = server.post("/api/auth/login", None, Some(body)).await;
    r.assert_problem(401, "INVALID_CREDENTIALS");
    // Step-up gives the session its proof; the device keeps working.
    let stepped = token_of(&server.step_up(&session, "backupCode", &codes[3]).await);
    let r = server.post(REGENERATE, Some(&stepped), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    remembered(&server, email, &device).await;
    // Remembering a second device.
    let codes = strings(&r.body["backupCodes"]);
    let (_, second) = server
        .login_remembering(email, "backupCode", &codes[0])
        .await;
    assert_ne!(second, device);
    assert_eq!(status(&server, &stepped).await["rememberedDevices"], 2);
    remembered(&server, email, &second).await;
}

/// A remembered device logs in while the user's codes are locked out (the
/// device and the password are the two factors; the lock is about guessing
/// codes), and the server records a security event for it: someone has been
/// guessing that user's codes.
#[tokio::test]
async fn a_remembered_device_login_during_a_lockout_is_an_event() {
    let server = Server::start();
    let email = "guessed@example.com";
    let (token, _, codes) = server.enrolled_user(email).await;
    let (_, device) = server
        .login_remembering(email, "backupCode", &codes[0])
        .await;
    let reported = |server: &Server| {
        server
            .security_events()
            .iter()
            .filter(|e| e["securityEvent"] == "remembered_device_login_during_lockout")
            .count()
    };
    remembered(&server, email, &device).await;
    assert_eq!(reported(&server), 0, "no lock, nothing to report");
    let mfa_token = server.login_for_mfa(email).await;
    for _ in 0..5 {
        let r = server.login_mfa(&mfa_token, "code", "000000").await;
        assert!(r.status == 401 || r.status == 429, "{}", r.text);
    }
    assert_eq!(status(&server, &token).await["lockedOut"], true);
    remembered(&server, email, &device).await;
    assert_eq!(reported(&server), 1, "{}", server.stderr());
}

/// Every device token that is not valid for the user, whatever its shape,
/// is ignored: the answer is the usual `mfaRequired` one, the same bytes as
/// without a token apart from the `mfaToken` itself.
#[tokio::test]
async fn any_other_device_token_gets_the_usual_answer() {
    let server = Server::start();
    let email = "ignored@example.com";
    let (token, _, codes) = server.enrolled_user(email).await;
    let (_, device) = server
        .login_remembering(email, "backupCode", &codes[0])
        .await;
    let (_, _, other_codes) = server.enrolled_user("other@example.com").await;
    let (_, others) = server
        .login_remembering("other@example.com", "backupCode", &other_codes[0])
        .await;
    remembered(&server, "other@example.com", &others).await;
    let mfa_token = server.login_for_mfa(email).await;

    let expected = mfa_required(&server, email, Value::Null).await;
    let no_field = {
        let body = json!({"email": email, "password": PASSWORD});
        let r = server.post("/api/auth/login", None, Some(body)).await;
        let mfa_token = r.body["mfaToken"].as_str().unwrap();
        r.text.replace(mfa_token, "MFA_TOKEN")
    };
    assert_eq!(no_field, expected);
    let mut flipped = device.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let ignored = [
        json!(""),
        json!("garbage"),
        json!(flipped),
        json!(format!("{device}x")),
        json!(&device[..42]),
        json!(device.to_uppercase()),
        json!(format!(" {device}")),
        json!(others),
        json!(token),
        json!(mfa_token),
        json!("A".repeat(10_000)),
        json!(5),
        json!(true),
        json!([device]),
        json!({"token": device}),
    ];
    for value in ignored {
        assert_eq!(
            mfa_required(&server, email, value.clone()).await,
            expected,
            "{value}"
        );
    }
    // Nothing was counted or used: the device still works, and so does
    // the other user's, for its own user.
    assert_eq!(status(&server, &token).await["lockedOut"], false);
    remembered(&server, email, &device).await;
    remembered(&server, "other@example.com", &others).await;
}

/// A device token past its lifetime (`--remember-secs`) is ignored like any
/// other, and no longer counted.
#[tokio::test]
async fn an_expired_device_token_gets_the_usual_answer() {
    // The crate counts whole seconds: a device remembered at t works until
    // somewhere in (t + 9, t + 10].
    let server = with_args(&["--remember-secs", "10"]);
    let email = "expired-device@example.com";
    let (token, _, codes) = server.enrolled_user(email).await;
    let expected = mfa_required(&server, email, Value::Null).await;
    let started = std::time::Instant::now();
    let (_, device) = server
        .login_remembering(email, "backupCode", &codes[0])
        .await;
    let remembered_at = std::time::Instant::now();
    remembered(&server, email, &device).await;
    assert_eq!(status(&server, &token).await["rememberedDevices"], 1);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "too slow to test"
    );
    let expired = Duration::from_millis(10_200).saturating_sub(remembered_at.elapsed());
    tokio::time::sleep(expired).await;
    assert_eq!(mfa_required(&server, email, json!(device)).await, expected);
    assert_eq!(status(&server, &token).await["rememberedDevices"], 0);
}

/// Forgetting (with step-up), disabling, replacing the authenticator and an
/// operator reset each revoke every remembered device of the user, and only
/// of that user.
#[tokio::test]
async fn forget_disable_replace_and_reset_revoke_remembered_devices() {
    let server = with_args(&[]);
    let email = "revoke-devices@example.com";
    let (_, _, bystander_codes) = server.enrolled_user("bystander@example.com").await;
    let (_, bystander) = server
        .login_remembering("bystander@example.com", "backupCode", &bystander_codes[0])
        .await;
    let id = server.register(email).await;
    let plain = server.login(email).await;
    let mut app = server.begin_totp_setup(&plain).await;
    let (codes, token) = server
        .confirm_totp_setup(&plain, &app.next_code().await)
        .await;
    let remember = |i: usize| server.login_remembering(email, "backupCode", &codes[i]);

    // Forget: every device of the user.
    let (_, first) = remember(0).await;
    let (proven, second) = remember(1).await;
    assert_eq!(status(&server, &token).await["rememberedDevices"], 2);
    let r = server.forget_devices(&proven).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"success": true}));
    for device in [&first, &second] {
        mfa_required(&server, email, json!(device)).await;
    }
    assert_eq!(status(&server, &token).await["rememberedDevices"], 0);
    // Forgetting changes no epoch: the sessions stay.
    assert_eq!(server.get(STATUS, Some(&proven)).await.status, 200);

    // Replace/confirm.
    let (proven, device) = remember(2).await;
    let mut new = server.begin_replacement(&proven, &codes[5]).await;
    remembered(&server, email, &device).await;
    let r = server
        .confirm_replacement(&proven, &new.next_code().await)
        .await;
    let replaced = token_of(&r);
    assert_eq!(status(&server, &replaced).await["rememberedDevices"], 0);
    mfa_required(&server, email, json!(device)).await;

    // Disable: with MFA off the password alone logs in; enrolled again, the
    // device from before is not recognised.
    let (proven, device) = remember(3).await;
    let body = json!({"password": PASSWORD, "code": codes[4]});
    let off = token_of(&server.post(DISABLE, Some(&proven), Some(body)).await);
    remembered(&server, email, &device).await;
    let mut app = server.begin_totp_setup(&off).await;
    let (codes, token) = server
        .confirm_totp_setup(&off, &app.next_code().await)
        .await;
    mfa_required(&server, email, json!(device)).await;

    // Operator reset, then a new enrollment.
    let (_, device) = server
        .login_remembering(email, "backupCode", &codes[0])
        .await;
    let r = server
        .operator(
            "reset",
            &id,
            Some(ADMIN_TOKEN),
            json!({"reason": "lost phone"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_revoked(&server.get(STATUS, Some(&token)).await);
    let plain = server.login(email).await;
    let mut app = server.begin_totp_setup(&plain).await;
    server
        .confirm_totp_setup(&plain, &app.next_code().await)
        .await;
    mfa_required(&server, email, json!(device)).await;

    // The other user's device was never touched.
    remembered(&server, "bystander@example.com", &bystander).await;
    let forgotten: Vec<_> = server
        .security_events()
        .into_iter()
        .filter(|e| e["securityEvent"] == "devices_forgotten")
        .collect();
    assert_eq!(forgotten.len(), 1, "{}", server.stderr());
    assert_eq!(forgotten[0]["count"], 2);
}

/// Beyond `--max-devices` the oldest device is forgotten to make room.
#[tokio::test]
async fn the_oldest_device_is_forgotten_beyond_max_devices() {
    let server = with_args(&["--max-devices", "2"]);
    let email = "many@example.com";
    let (token, _, codes) = server.enrolled_user(email).await;
    let mut devices = Vec::new();
    for code in &codes[..3] {
        devices.push(server.login_remembering(email, "backupCode", code).await.1);
    }
    assert_eq!(status(&server, &token).await["rememberedDevices"], 2);
    mfa_required(&server, email, json!(devices[0])).await;
    remembered(&server, email, &devices[1]).await;
    remembered(&server, email, &devices[2]).await;
}

/// The new flags are checked at start-up.
#[test]
fn bad_device_flags_are_refused_at_startup() {
    for args in [
        ["--remember-days", "0"],
        ["--remember-days", "366"],
        ["--remember-days", "1.5"],
        ["--remember-secs", "0"],
        ["--remember-secs", "31536001"],
        ["--max-devices", "0"],
        ["--max-devices", "65"],
        ["--max-devices", "ten"],
    ] {
        let Err((message, status)) = Server::try_start(Options {
            extra_args: args.iter().map(|a| (*a).to_owned()).collect(),
            ..Options::default()
        }) else {
            panic!("the server started with {args:?}");
        };
        assert!(message.contains(args[0]), "{message}");
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{args:?}");
    }
    let help = std::process::Command::new(http_common::server_binary())
        .arg("--help")
        .output()
        .expect("the server runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--remember-days", "--remember-secs", "--max-devices"] {
        assert!(help.contains(flag), "{help}");
    }
}
