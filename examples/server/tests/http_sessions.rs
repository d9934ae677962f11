//! Sessions carry their proof; changes to MFA revoke old ones (the contract's
//! "Sessions carry their proof" section), over real HTTP against the built
//! binary: revocation by enabling and disabling, step-up and its window,
//! single-use `mfaToken`s, and the three attacks these rules stop:
//!
//! 1. a session from before MFA was enabled managing the factor afterwards;
//! 2. one `mfaToken` completing several logins (in sequence or at once);
//! 3. a stale proof, or a locked factor, regenerating backup codes;
//!
//! and a fourth that the re-authentication rules stop: a stolen session,
//! however fresh its proof, binding the attacker's app as the factor (setup
//! with MFA off, replace with MFA on) without the password and a code.

mod http_common;

use std::sync::Arc;
use std::time::Duration;

use http_common::{Options, PASSWORD, Resp, Server, strings};
use serde_json::json;

const STATUS: &str = "/api/user/me/totp";
const SETUP: &str = "/api/user/me/totp/setup";
const REGENERATE: &str = "/api/user/me/totp/backup-codes/regenerate";
const DISABLE: &str = "/api/user/me/totp/disable";
const STEP_UP: &str = "/api/auth/step-up";

#[track_caller]
fn assert_revoked(r: &Resp) {
    r.assert_problem(401, "SESSION_REVOKED");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
}

fn token_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["token"].as_str().expect("a token").to_owned()
}

/// Attack 1: a session obtained while MFA was off (say, stolen) cannot
/// manage the factor once the owner enables it; nor can any other session
/// from before. Disabling revokes again; the tokens the changes answer with
/// are the ones that work.
#[tokio::test]
async fn enabling_and_disabling_revoke_every_earlier_session() {
    let server = Server::start();
    let email = "owner@example.com";
    server.register(email).await;
    let stolen = server.login(email).await;
    let owners = server.login(email).await;
    // A password-only session is good while MFA is off, without a proof.
    assert_eq!(
        server.get(STATUS, Some(&stolen)).await.body["mfaEnabled"],
        false
    );
    server
        .post(REGENERATE, Some(&stolen), None)
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");

    let mut app = server.begin_totp_setup(&owners).await;
    // A pending setup changes no epoch: both sessions still work.
    assert_eq!(server.get(STATUS, Some(&stolen)).await.status, 200);
    let r = server
        .post(
            "/api/user/me/totp/confirm",
            Some(&owners),
            Some(json!({"code": app.next_code().await})),
        )
        .await;
    let enabled = token_of(&r);
    let codes = strings(&r.body["backupCodes"]);
    assert_eq!(codes.len(), 10);

    // Every route refuses the sessions from before, the one that confirmed included.
    for token in [&stolen, &owners] {
        assert_revoked(&server.get(STATUS, Some(token)).await);
        assert_revoked(&server.post(REGENERATE, Some(token), None).await);
        assert_revoked(&server.post(SETUP, Some(token), None).await);
        assert_revoked(
            &server
                .post(
                    "/api/user/profile/mfa/backup-codes",
                    Some(token),
                    Some(json!({"password": PASSWORD, "code": "123456"})),
                )
                .await,
        );
        assert_revoked(
            &server
                .post(
                    DISABLE,
                    Some(token),
                    Some(json!({"password": PASSWORD, "code": codes[0]})),
                )
                .await,
        );
        assert_revoked(&server.step_up(token, "backupCode", &codes[0]).await);
    }
    // None of that consumed a code.
    let status = server.get(STATUS, Some(&enabled)).await;
    assert_eq!(status.body["backupCodesRemaining"], 10, "{}", status.text);
    // The confirming session carries a fresh proof: it may regenerate.
    let r = server.post(REGENERATE, Some(&enabled), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let codes = strings(&r.body["backupCodes"]);

    // A second session by login; disabling on one revokes both.
    let other = server.login_with(email, "backupCode", &codes[0]).await;
    let r = server
        .post(
            DISABLE,
            Some(&enabled),
            Some(json!({"password": PASSWORD, "code": codes[1]})),
        )
        .await;
    assert_eq!(r.body["success"], true, "{}", r.text);
    let disabled = token_of(&r);
    for token in [&enabled, &other] {
        assert_revoked(&server.get(STATUS, Some(token)).await);
    }
    let status = server.get(STATUS, Some(&disabled)).await;
    assert_eq!(status.body["mfaEnabled"], false, "{}", status.text);
    // With MFA off there is nothing to step up to or regenerate.
    server
        .post(REGENERATE, Some(&disabled), None)
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
    server
        .step_up(&disabled, "code", "123456")
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
    // A password login now gives a session that works.
    let plain = server.login(email).await;
    assert_eq!(server.get(STATUS, Some(&plain)).await.status, 200);
}

/// Attack 3, first half: a proof older than `--step-up-window` does not
/// regenerate backup codes (403 `STEP_UP_REQUIRED`) until the user steps up
/// with a code; step-up's own errors.
#[tokio::test]
async fn regeneration_needs_a_recent_proof_and_step_up_renews_it() {
    let server = Server::start_with(Options {
        extra_args: vec!["--step-up-window".into(), "2".into()],
        ..Options::default()
    });
    let (token, mut app, codes) = server.enrolled_user("stale@example.com").await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    server
        .post(REGENERATE, Some(&token), None)
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");
    // The stale session is still a session.
    assert_eq!(server.get(STATUS, Some(&token)).await.status, 200);

    // Step-up's refusals: no code, both codes, wrong codes, an mfaToken as bearer.
    for body in [
        json!({}),
        json!({"code": app.wrong_code(), "backupCode": codes[0]}),
    ] {
        server
            .post(STEP_UP, Some(&token), Some(body))
            .await
            .assert_problem(400, "VALIDATION_FAILED");
    }
    let r = server.step_up(&token, "code", &app.wrong_code()).await;
    r.assert_problem(401, "INVALID_CODE");
    server
        .step_up(&token, "backupCode", "aaaaa-aaaaa")
        .await
        .assert_problem(401, "INVALID_CODE");
    let mfa_token = server.login_for_mfa("stale@example.com").await;
    server
        .step_up(&mfa_token, "code", &app.wrong_code())
        .await
        .assert_problem(401, "UNAUTHENTICATED");

    // A TOTP code steps up: the new token regenerates, the old one still may not.
    let stepped = token_of(&server.step_up(&token, "code", &app.next_code().await).await);
    let r = server.post(REGENERATE, Some(&stepped), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = strings(&r.body["backupCodes"]);
    server
        .post(REGENERATE, Some(&token), None)
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");
    // A backup code steps up too, once.
    let stepped = token_of(&server.step_up(&token, "backupCode", &fresh[0]).await);
    server
        .step_up(&token, "backupCode", &fresh[0])
        .await
        .assert_problem(401, "INVALID_CODE");
    let status = server.get(STATUS, Some(&stepped)).await;
    assert_eq!(status.body["backupCodesRemaining"], 9, "{}", status.text);
    // And that proof ages like any other.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    server
        .post(REGENERATE, Some(&stepped), None)
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");
}

/// Attack 3, second half: a locked factor refuses regeneration even with a
/// fresh proof, and refuses step-up even with the right code; step-up
/// failures count toward the lockout.
#[tokio::test]
async fn a_locked_factor_refuses_regeneration_and_step_up() {
    let server = Server::start();
    let (token, mut app, codes) = server.enrolled_user("locked@example.com").await;
    let mfa_token = server.login_for_mfa("locked@example.com").await;
    for _ in 0..3 {
        server
            .login_mfa(&mfa_token, "code", &app.wrong_code())
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    for _ in 0..2 {
        server
            .step_up(&token, "code", &app.wrong_code())
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    let r = server.post(REGENERATE, Some(&token), None).await;
    r.assert_problem(429, "LOCKED_OUT");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    server
        .step_up(&token, "code", &app.next_code().await)
        .await
        .assert_problem(429, "LOCKED_OUT");
    server
        .step_up(&token, "backupCode", &codes[0])
        .await
        .assert_problem(429, "LOCKED_OUT");
    let status = server.get(STATUS, Some(&token)).await;
    assert_eq!(status.body["lockedOut"], true, "{}", status.text);
    assert_eq!(status.body["backupCodesRemaining"], 10, "{}", status.text);
}

/// Attack 2: an `mfaToken` completes at most one login. Wrong codes leave it
/// open; a success closes it and every `mfaToken` begun before it; a change
/// to the factor closes every `mfaToken` from before the change.
#[tokio::test]
async fn an_mfa_token_completes_one_login() {
    let server = Server::start();
    let email = "once@example.com";
    let (token, mut app, codes) = server.enrolled_user(email).await;
    let earlier = server.login_for_mfa(email).await;
    let mfa_token = server.login_for_mfa(email).await;

    // Wrong codes, of both kinds, do not use it up.
    server
        .login_mfa(&mfa_token, "code", &app.wrong_code())
        .await
        .assert_problem(401, "INVALID_CODE");
    server
        .login_mfa(&mfa_token, "backupCode", "aaaaa-aaaaa")
        .await
        .assert_problem(401, "INVALID_CODE");
    // Each field takes its own kind of code: a backup code sent as `code`,
    // or a TOTP-shaped one as `backupCode`, is refused and consumes nothing.
    server
        .login_mfa(&mfa_token, "code", &codes[0])
        .await
        .assert_problem(401, "INVALID_CODE");
    server
        .login_mfa(&mfa_token, "backupCode", "123456")
        .await
        .assert_problem(401, "INVALID_CODE");
    let r = server.login_mfa(&mfa_token, "backupCode", &codes[0]).await;
    let session = token_of(&r);
    assert_eq!(r.body["backupCodesRemaining"], 9);
    // Its session carries a fresh proof.
    let r = server.post(REGENERATE, Some(&session), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let codes = strings(&r.body["backupCodes"]);

    // Used: refused with any code, and nothing is consumed or counted.
    for (field, code) in [
        ("backupCode", codes[0].clone()),
        ("code", app.next_code().await),
    ] {
        server
            .login_mfa(&mfa_token, field, &code)
            .await
            .assert_problem(401, "INVALID_MFA_TOKEN");
    }
    // The one begun before the success is closed too.
    server
        .login_mfa(&earlier, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    let status = server.get(STATUS, Some(&token)).await;
    assert_eq!(status.body["backupCodesRemaining"], 10, "{}", status.text);

    // A change to the factor closes those from before it, for good: disable,
    // enroll again, and the old mfaToken is still refused.
    let before_change = server.login_for_mfa(email).await;
    let r = server
        .post(
            DISABLE,
            Some(&session),
            Some(json!({"password": PASSWORD, "code": codes[1]})),
        )
        .await;
    let off = token_of(&r);
    let mut app = server.begin_totp_setup(&off).await;
    let (codes, _) = server
        .confirm_totp_setup(&off, &app.next_code().await)
        .await;
    server
        .login_mfa(&before_change, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    // A fresh one works.
    server.login_with(email, "backupCode", &codes[0]).await;
}

/// An `mfaToken` past its lifetime (`--mfa-token-ttl`) is refused, and
/// the code sent with it is neither used nor counted.
#[tokio::test]
async fn an_expired_mfa_token_is_refused() {
    let server = Server::start_with(Options {
        extra_args: vec!["--mfa-token-ttl".into(), "1".into()],
        ..Options::default()
    });
    let email = "expired@example.com";
    let (token, _, codes) = server.enrolled_user(email).await;
    let mfa_token = server.login_for_mfa(email).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    server
        .login_mfa(&mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    let status = server.get(STATUS, Some(&token)).await;
    assert_eq!(status.body["backupCodesRemaining"], 10, "{}", status.text);
    server.login_with(email, "backupCode", &codes[0]).await;
}

/// 16 completions of one `mfaToken` at once, each with a different valid
/// code (ten backup codes and the current TOTP code): exactly one session.
/// The losers' backup codes are not consumed. Each backup code is charged
/// to the lockout before its hash (I16), so a loser that arrives once five
/// charges stand (before the winner's success gives them back) is refused
/// by the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_completions_of_one_mfa_token_give_one_session() {
    let server = Arc::new(Server::start());
    let email = "race-token@example.com";
    let (token, mut app, codes) = server.enrolled_user(email).await;
    let mfa_token = server.login_for_mfa(email).await;
    let totp = app.next_code().await;
    let bodies: Vec<_> = (0..16)
        .map(|i| match codes.get(i) {
            Some(code) => json!({"mfaToken": mfa_token, "backupCode": code}),
            None => json!({"mfaToken": mfa_token, "code": totp}),
        })
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(bodies.len()));
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (server, barrier) = (Arc::clone(&server), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let by_backup_code = body.get("backupCode").is_some();
                let r = server.post("/api/auth/login/mfa", None, Some(body)).await;
                (by_backup_code, r)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let winners: Vec<_> = answers.iter().filter(|(_, r)| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "{answers:#?}");
    for (_, r) in answers.iter().filter(|(_, r)| r.status != 200) {
        // Lost to the used-up mfaToken, (TOTP) to the used time step, or to
        // the lock the racers' charges started.
        let code = r.body["code"].as_str().unwrap_or("");
        let status = match code {
            "INVALID_MFA_TOKEN" | "INVALID_CODE" => 401,
            "LOCKED_OUT" => 429,
            _ => panic!("{}", r.text),
        };
        r.assert_problem(status, code);
    }
    let (by_backup_code, winner) = winners[0];
    let expected = if *by_backup_code { 9 } else { 10 };
    assert_eq!(winner.body["backupCodesRemaining"], expected);
    let session = token_of(winner);
    let status = server.get(STATUS, Some(&session)).await;
    assert_eq!(
        status.body["backupCodesRemaining"], expected,
        "{}",
        status.text
    );
    assert_eq!(status.body["lockedOut"], false, "{}", status.text);
    assert_eq!(server.get(STATUS, Some(&token)).await.status, 200);
}

/// Attack 4: a stolen session takes the factor over. With MFA off it sets up
/// the attacker's app; with MFA on, within the step-up window, it begins a
/// replacement and confirms it with the attacker's app. Setup now needs the
/// password, and replace the password and a current code of the owner's app
/// (or a backup code): the session alone gets 400s, a wrong password is
/// counted by the password lock and looks at no code, and a wrong code is
/// counted toward the lockout.
#[tokio::test]
async fn a_stolen_session_cannot_take_the_factor() {
    let server = Server::start();
    // MFA off: the session alone sets nothing up.
    server.register("off@example.com").await;
    let stolen = server.login("off@example.com").await;
    for body in [None, Some(json!({})), Some(json!({"password": "guess"}))] {
        let r = server.post(SETUP, Some(&stolen), body).await;
        assert!(r.status == 400 || r.status == 415, "{}", r.text);
        assert!(r.body.get("secret").is_none(), "{}", r.text);
    }
    let owner = server.login("off@example.com").await;
    assert_eq!(
        server.get(STATUS, Some(&owner)).await.body["pendingSetup"],
        false
    );

    // MFA on, the stolen session fresh from a second step.
    let email = "on@example.com";
    let (_, mut app, codes) = server.enrolled_user(email).await;
    let stolen = server
        .login_with(email, "code", &app.next_code().await)
        .await;
    const REPLACE: &str = "/api/user/me/totp/replace";
    for body in [
        None,
        Some(json!({})),
        Some(json!({"password": PASSWORD})),
        Some(json!({"code": codes[1]})),
    ] {
        let r = server.post(REPLACE, Some(&stolen), body).await;
        assert!(r.status == 400 || r.status == 415, "{}", r.text);
        assert!(r.body.get("secret").is_none(), "{}", r.text);
    }
    // A wrong password with the owner's backup code: the code is not used.
    server
        .replace(&stolen, "guess", &codes[2])
        .await
        .assert_problem(400, "INVALID_PASSWORD");
    // The password without a right code: counted toward the lockout.
    let wrong = app.wrong_code();
    server
        .replace(&stolen, PASSWORD, &wrong)
        .await
        .assert_problem(400, "INVALID_CODE");
    let status = server.get(STATUS, Some(&stolen)).await.body;
    assert_eq!(status["replacementPending"], false, "{status}");
    assert_eq!(status["backupCodesRemaining"], 10, "{status}");
    // The owner, with the password and the backup code, can.
    let new = server.begin_replacement(&stolen, &codes[2]).await;
    assert_ne!(new.code_at_step(1), app.code_at_step(1));
}
