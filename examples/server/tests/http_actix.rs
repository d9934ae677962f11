//! The MFA part of the contract (`http_mfa`) against the actix-web server,
//! `examples/actix_server/`: the same cases the axum server passes in
//! `http_api.rs`, over real HTTP, with codes from the test's own TOTP; and
//! the second step with a passkey (a soft passkey at the server's default
//! origin), once only.

mod http_common;
#[macro_use]
mod http_mfa;

use http_common::{Options, Server, actix_server_binary};
use serde_json::json;

fn start() -> Server {
    Server::start_with(Options {
        binary: Some(actix_server_binary()),
        ..Options::default()
    })
}

mfa_cases!(start());

#[tokio::test]
async fn a_passkey_completes_the_second_step_once() {
    let server = start();
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
