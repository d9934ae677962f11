//! The MFA part of the contract (`http_mfa`) against the axum-login +
//! tower-sessions application that mounts `mfa-axum`
//! (`mfa-axum/examples/axum_login.rs`): the same cases the example server
//! passes in `http_api.rs`, over real HTTP, its sessions carried as the
//! `session` cookie; and the second step with a passkey, once only.

mod http_common;
#[macro_use]
mod http_mfa;

use http_common::{Options, Server, axum_login_binary};

fn start() -> Server {
    Server::start_with(Options {
        binary: Some(axum_login_binary()),
        session_cookie: Some("session"),
        // As for the example server: its password lock waits a second.
        extra_args: vec!["--insecure-password-delay".into(), "1".into()],
        ..Options::default()
    })
}

mfa_cases!(start());

#[tokio::test]
async fn a_passkey_completes_the_second_step_once() {
    http_mfa::a_passkey_completes_the_second_step_once(&start()).await
}

/// Passkeys beyond the second step: listed, renamed, a step-up and a
/// passwordless login with one, and its removal refused while it is the
/// only factor, then allowed beside a second passkey.
#[tokio::test]
async fn passkeys_step_up_passwordless_and_removal() {
    let server = start();
    let (token, mut key, _) = server.passkey_user("keys@example.com").await;
    let list = server.get("/api/user/me/passkeys", Some(&token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let id = list.body["passkeys"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/user/me/passkeys/{id}");
    let renamed = server
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(serde_json::json!({"name": "Phone"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["passkey"]["name"], "Phone");

    let stepped = server.step_up_with_passkey(&token, &mut key).await;
    let session = server.login_passwordless(&mut key).await;
    let status = server.get("/api/user/me/totp", Some(&session)).await;
    assert_eq!(status.body["mfaMethods"], serde_json::json!(["passkey"]));

    let removed = server
        .send(reqwest::Method::DELETE, &path, Some(&stepped), None)
        .await;
    removed.assert_problem(409, "LAST_FACTOR");
    let mut second = http_common::passkey::Passkey::for_server(&server);
    let added = server.add_passkey(&stepped, &mut second, "Spare").await;
    let token = added.body["token"].as_str().unwrap();
    let removed = server
        .send(reqwest::Method::DELETE, &path, Some(token), None)
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    // The removed passkey logs in nowhere any more.
    let options = server.passwordless_options().await;
    let assertion = key.assert(&options.body);
    let token = options.body["passkeyToken"].as_str().unwrap();
    server
        .passwordless(token, &assertion)
        .await
        .assert_problem(401, "INVALID_PASSKEY");
}

/// Beside a passkey, an authenticator app is set up on the password and a
/// recent proof, and joins it: no new backup codes, both methods at login.
#[tokio::test]
async fn an_app_joins_the_passkeys() {
    let server = start();
    let email = "both@example.com";
    let (token, mut key, codes) = server.passkey_user(email).await;
    let mut app = server.begin_totp_setup(&token).await;
    let r = server
        .post(
            "/api/user/me/totp/confirm",
            Some(&token),
            Some(serde_json::json!({"code": app.next_code().await})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("backupCodes").is_none(), "{}", r.text);
    let token = r.body["token"].as_str().unwrap();
    let status = server.get("/api/user/me/totp", Some(token)).await;
    assert_eq!(
        status.body["mfaMethods"],
        serde_json::json!(["totp", "passkey"])
    );
    let answer = server.login_answer(email).await;
    assert_eq!(
        answer["methods"],
        serde_json::json!(["totp", "backupCode", "passkey"])
    );
    server
        .login_with(email, "code", &app.next_code().await)
        .await;
    server.login_with(email, "backupCode", &codes[0]).await;
    server.login_with_passkey(email, &mut key).await;
}
