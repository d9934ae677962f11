//! Passkeys over real HTTP against the built server, with a software passkey
//! (`http_common/passkey.rs`) in a browser at the server's default origin:
//! registering (the first factor turns MFA on with backup codes and revokes
//! older sessions; a second one needs a recent proof), listing, renaming
//! and removing (`LAST_FACTOR`, `STEP_UP_REQUIRED`), the login's second step
//! with a passkey, passwordless login and its one indistinguishable 401,
//! step-up, replays refused, 16 concurrent submissions of one assertion
//! (exactly one 200, at the second step and passwordless), the lockout
//! shared with codes, a counter that goes back, an operator's reset and
//! unlock, an app added beside passkeys, disable with the password alone,
//! `--no-passwordless`, and the relying party's start-up check.

mod http_common;

use std::sync::Arc;

use http_common::passkey::Passkey;
use http_common::{Authenticator, Options, PASSWORD, Resp, Server};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "operator-token-for-passkey-tests-0123456789";

/// A server on a fresh database, with operator routes and `extra` flags.
fn start(extra: &[&str]) -> Server {
    Server::start_with(Options {
        admin_token: Some(ADMIN_TOKEN.into()),
        extra_args: extra.iter().map(|s| (*s).to_owned()).collect(),
        ..Options::default()
    })
}

fn token_of(r: &Resp) -> String {
    r.body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("a token in {}", r.text))
        .to_owned()
}

/// The events the server logged for `kind`, once there are at least
/// `count` (the log is read from a pipe, a little behind the answers).
async fn events(server: &Server, kind: &str, count: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found: Vec<Value> = server
            .security_events()
            .into_iter()
            .filter(|e| e["securityEvent"] == kind)
            .collect();
        if found.len() >= count || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A session without a proof: the password and a remembered device's token
/// (remembered at a second step with `key`).
async fn session_without_proof(server: &Server, email: &str, key: &mut Passkey) -> String {
    let answer = server.login_answer(email).await;
    let credential = key.assert(&answer["passkeyOptions"]);
    let body =
        json!({"mfaToken": answer["mfaToken"], "passkey": credential, "rememberDevice": true});
    let r = server.post("/api/auth/login/mfa", None, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let device = r.body["deviceToken"].clone();
    let r = server.login_with_device(email, device).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("mfaRequired").is_none(), "{}", r.text);
    token_of(&r)
}

#[tokio::test]
async fn a_first_passkey_turns_mfa_on_with_backup_codes() {
    let server = start(&[]);
    let email = "first@example.com";
    server.register(email).await;
    let before = server.login(email).await;
    let other = server.login(email).await;

    // The password first: missing or wrong, nothing is begun.
    let r = server
        .post(
            "/api/user/me/passkeys/options",
            Some(&before),
            Some(json!({})),
        )
        .await;
    r.assert_problem(400, "VALIDATION_FAILED");
    server
        .passkey_options(&before, "wrong password")
        .await
        .assert_problem(400, "INVALID_PASSWORD");
    let options = server.passkey_options(&before, PASSWORD).await;
    assert_eq!(options.status, 200, "{}", options.text);
    let public_key = &options.body["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "required"
    );
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "required"
    );
    let challenge = public_key["challenge"].as_str().expect("a challenge");
    assert!(
        challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "base64url without padding: {challenge}"
    );
    assert!(
        !options.text.contains("null"),
        "no null member: {}",
        options.text
    );

    let mut key = Passkey::for_server(&server);
    let credential = key.register(&options.body);
    // A bad name: nothing stored, the registration still pending.
    for name in ["", "   ", "a\u{7}b", &"x".repeat(65)] {
        server
            .register_passkey(&before, name, &credential)
            .await
            .assert_problem(400, "VALIDATION_FAILED");
    }
    let r = server
        .post(
            "/api/user/me/passkeys",
            Some(&before),
            Some(json!({"name": "Laptop", "credential": {"id": 1}})),
        )
        .await;
    r.assert_problem(400, "VALIDATION_FAILED");

    let added = server
        .register_passkey(&before, "Laptop", &credential)
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    let codes = http_common::strings(&added.body["backupCodes"]);
    assert_eq!(codes.len(), 10);
    let passkey = &added.body["passkey"];
    assert_eq!(passkey["name"], "Laptop");
    let id = passkey["id"].as_str().expect("an id");
    assert!(!key.credential_ids().contains(&id.to_owned()));
    let created = passkey["createdAt"].as_str().expect("createdAt");
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339: {created}"
    );
    assert_eq!(passkey["lastUsedAt"], Value::Null);
    assert!(passkey["backupEligible"].is_boolean() && passkey["backedUp"].is_boolean());
    let token = token_of(&added);

    // Every earlier session is revoked; the answer's works, with a fresh
    // passkey proof (regenerating needs a recent one).
    for old in [&before, &other] {
        server
            .get("/api/user/me/totp", Some(old))
            .await
            .assert_problem(401, "SESSION_REVOKED");
    }
    let status = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.body["mfaEnabled"], true);
    assert_eq!(status.body["mfaMethod"], "passkey");
    assert_eq!(status.body["mfaMethods"], json!(["passkey"]));
    assert_eq!(status.body["passkeys"], 1);
    assert_eq!(status.body["backupCodesRemaining"], 10);
    let list = server.get("/api/user/me/passkeys", Some(&token)).await;
    assert_eq!(list.body["passkeys"], json!([passkey]), "{}", list.text);
    let r = server
        .post(
            "/api/user/me/totp/backup-codes/regenerate",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "a fresh proof: {}", r.text);

    // The registration was used up.
    server
        .register_passkey(&token, "Again", &credential)
        .await
        .assert_problem(400, "NO_PENDING_SECRET");

    // Events name the server's id, never the credential.
    let added_events = events(&server, "passkey_added", 1).await;
    assert_eq!(added_events.len(), 1, "{added_events:?}");
    assert_eq!(added_events[0]["passkey"], id);
    let log = server.stderr();
    for credential_id in key.credential_ids() {
        assert!(!log.contains(&credential_id), "the credential id is logged");
    }
}

#[tokio::test]
async fn another_passkey_needs_a_recent_proof_and_room() {
    let server = start(&["--max-passkeys", "2"]);
    let email = "second@example.com";
    let (_, mut key, _) = server.passkey_user(email).await;

    // A remembered device's session has no proof: no new factor with it.
    let stale = session_without_proof(&server, email, &mut key).await;
    server
        .passkey_options(&stale, PASSWORD)
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");
    let fresh = server.step_up_with_passkey(&stale, &mut key).await;
    let options = server.passkey_options(&fresh, PASSWORD).await;
    assert_eq!(options.status, 200, "{}", options.text);
    // The user's passkey is excluded.
    let excluded: Vec<&str> = options.body["publicKey"]["excludeCredentials"]
        .as_array()
        .expect("excludeCredentials")
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, key.credential_ids());
    // The pending registration answered from a session that lost its
    // proof meanwhile: refused.
    let mut phone = Passkey::for_server(&server);
    let credential = phone.register(&options.body);
    server
        .register_passkey(&stale, "Phone", &credential)
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");
    let added = server.register_passkey(&fresh, "Phone", &credential).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert!(added.body.get("backupCodes").is_none(), "{}", added.text);
    let token = token_of(&added);
    // Every add moves the epoch on.
    server
        .get("/api/user/me/totp", Some(&fresh))
        .await
        .assert_problem(401, "SESSION_REVOKED");
    let status = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.body["passkeys"], 2, "{}", status.text);

    // --max-passkeys 2: no room for a third.
    server
        .passkey_options(&token, PASSWORD)
        .await
        .assert_problem(409, "TOO_MANY_PASSKEYS");
    // Both log in.
    server.login_with_passkey(email, &mut key).await;
    server.login_with_passkey(email, &mut phone).await;
}

#[tokio::test]
async fn passkeys_are_renamed_and_removed() {
    let server = start(&[]);
    let email = "manage@example.com";
    let (token, mut key, _) = server.passkey_user(email).await;
    let list = server.get("/api/user/me/passkeys", Some(&token)).await;
    let id = list.body["passkeys"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/user/me/passkeys/{id}");

    let r = server
        .send(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": "  Work laptop "})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["passkey"]["name"], "Work laptop");
    assert_eq!(r.body["passkey"]["id"], id.as_str());
    assert_eq!(
        events(&server, "passkey_renamed", 1).await[0]["passkey"],
        id.as_str()
    );
    let r = server
        .send(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": "a\u{202e}b"})),
        )
        .await;
    r.assert_problem(400, "VALIDATION_FAILED");
    let r = server
        .send(
            Method::PATCH,
            "/api/user/me/passkeys/nope",
            Some(&token),
            Some(json!({"name": "x"})),
        )
        .await;
    r.assert_problem(404, "NOT_FOUND");

    // The only factor cannot go; an unknown one is not found.
    let r = server.send(Method::DELETE, &path, Some(&token), None).await;
    r.assert_problem(409, "LAST_FACTOR");
    let r = server
        .send(
            Method::DELETE,
            "/api/user/me/passkeys/nope",
            Some(&token),
            None,
        )
        .await;
    r.assert_problem(404, "NOT_FOUND");

    // With a second passkey, the first goes, from a session with a recent
    // proof only.
    let mut phone = Passkey::for_server(&server);
    let added = server.add_passkey(&token, &mut phone, "Phone").await;
    let token = token_of(&added);
    let stale = session_without_proof(&server, email, &mut phone).await;
    let r = server.send(Method::DELETE, &path, Some(&stale), None).await;
    r.assert_problem(403, "STEP_UP_REQUIRED");
    let other = server.login_with_passkey(email, &mut key).await;
    let r = server.send(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    let token = token_of(&r);
    assert_eq!(
        events(&server, "passkey_removed", 1).await[0]["passkey"],
        id.as_str()
    );
    // Other sessions and the remembered device are revoked.
    for old in [&other, &stale] {
        server
            .get("/api/user/me/totp", Some(old))
            .await
            .assert_problem(401, "SESSION_REVOKED");
    }
    let list = server.get("/api/user/me/passkeys", Some(&token)).await;
    assert_eq!(list.body["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["passkeys"][0]["name"], "Phone");
    // The removed credential authenticates nowhere.
    let options = server.passwordless_options().await;
    let credential = key.assert(&options.body);
    let token_field = options.body["passkeyToken"].as_str().unwrap();
    server
        .passwordless(token_field, &credential)
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    // Without MFA, no passkey to name.
    server.register("plain@example.com").await;
    let plain = server.login("plain@example.com").await;
    let r = server.send(Method::DELETE, &path, Some(&plain), None).await;
    r.assert_problem(404, "NOT_FOUND");
    let list = server.get("/api/user/me/passkeys", Some(&plain)).await;
    assert_eq!(list.body, json!({"passkeys": []}));
}

#[tokio::test]
async fn the_second_step_takes_a_passkey_once() {
    let server = start(&[]);
    let email = "second-step@example.com";
    let (_, mut key, _) = server.passkey_user(email).await;

    let answer = server.login_answer(email).await;
    assert_eq!(answer["methods"], json!(["backupCode", "passkey"]));
    let allowed = &answer["passkeyOptions"]["publicKey"]["allowCredentials"];
    assert_eq!(allowed[0]["id"], key.credential_ids()[0].as_str());
    assert_eq!(
        answer["passkeyOptions"]["publicKey"]["userVerification"],
        "required"
    );
    let mfa_token = answer["mfaToken"].as_str().unwrap();
    // Without user verification: refused, and the mfaToken still works.
    let no_uv = key.assert_without_uv(&answer["passkeyOptions"]);
    server
        .login_mfa_passkey(mfa_token, &no_uv)
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    // A code and a passkey at once: which one?
    let assertion = key.assert(&answer["passkeyOptions"]);
    let body = json!({"mfaToken": mfa_token, "passkey": assertion, "backupCode": "a1b2c-d3e4f"});
    server
        .post("/api/auth/login/mfa", None, Some(body))
        .await
        .assert_problem(400, "VALIDATION_FAILED");
    let r = server.login_mfa_passkey(mfa_token, &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 10);
    let token = token_of(&r);
    assert_eq!(events(&server, "passkey_used", 1).await.len(), 1);
    let list = server.get("/api/user/me/passkeys", Some(&token)).await;
    assert!(
        list.body["passkeys"][0]["lastUsedAt"].is_string(),
        "{}",
        list.text
    );

    // Replayed: the mfaToken is spent; under a new one the assertion
    // answers another challenge.
    server
        .login_mfa_passkey(mfa_token, &assertion)
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    let again = server.login_answer(email).await;
    let again_token = again["mfaToken"].as_str().unwrap();
    server
        .login_mfa_passkey(again_token, &assertion)
        .await
        .assert_problem(401, "INVALID_PASSKEY");

    // A user without passkeys: no passkey options, and a passkey is refused.
    let (_, _, codes) = server.enrolled_user("app@example.com").await;
    let answer = server.login_answer("app@example.com").await;
    assert!(answer.get("methods").is_none(), "{answer}");
    assert!(answer.get("passkeyOptions").is_none());
    let foreign = key.assert(&again["passkeyOptions"]);
    server
        .login_mfa_passkey(answer["mfaToken"].as_str().unwrap(), &foreign)
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    let token = server
        .login_with("app@example.com", "backupCode", &codes[0])
        .await;
    assert!(!token.is_empty());
}

#[tokio::test]
async fn a_login_with_the_most_passkeys_fits_the_body_limit() {
    // The most that --max-passkeys allows.
    let server = start(&["--max-passkeys", "16"]);
    let email = "many@example.com";
    let (mut token, _, _) = server.passkey_user(email).await;
    let mut keys = Vec::new();
    for n in 1..16 {
        let mut key = Passkey::for_server(&server);
        let added = server
            .add_passkey(&token, &mut key, &format!("Key {n}"))
            .await;
        token = token_of(&added);
        keys.push(key);
    }
    let answer = server.login_answer(email).await;
    let allowed = answer["passkeyOptions"]["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(allowed, 16);
    server
        .passkey_options(&token, PASSWORD)
        .await
        .assert_problem(409, "TOO_MANY_PASSKEYS");
    let mfa_token = answer["mfaToken"].as_str().unwrap();
    let assertion = keys[14].assert(&answer["passkeyOptions"]);
    let body = json!({"mfaToken": mfa_token, "passkey": assertion}).to_string();
    eprintln!(
        "mfaToken of a user with 16 passkeys: {} bytes; the second step's body: {} bytes",
        mfa_token.len(),
        body.len()
    );
    assert!(body.len() < 14 * 1024, "{} bytes", body.len());
    let r = server.login_mfa_passkey(mfa_token, &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn passwordless_login_and_its_one_refusal() {
    let server = start(&[]);
    let email = "alone@example.com";
    let (_, mut key, _) = server.passkey_user(email).await;

    let options = server.passwordless_options().await;
    assert_eq!(options.status, 200, "{}", options.text);
    let public_key = &options.body["publicKey"];
    assert!(
        public_key["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "no user named: {}",
        options.text
    );
    assert_eq!(public_key["userVerification"], "required");
    let passkey_token = options.body["passkeyToken"].as_str().unwrap().to_owned();
    let assertion = key.assert(&options.body);
    let r = server.passwordless(&passkey_token, &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = token_of(&r);
    // A session as after a full second step: a fresh proof.
    let r = server
        .post(
            "/api/user/me/totp/backup-codes/regenerate",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Every refusal is the same 401.
    let mut refusals = Vec::new();
    // Replayed.
    refusals.push(server.passwordless(&passkey_token, &assertion).await);
    // A credential registered elsewhere (another server, the same origin
    // name): unknown here.
    let elsewhere = start(&[]);
    elsewhere.register("x@example.com").await;
    let session = elsewhere.login("x@example.com").await;
    let mut stranger = Passkey::at(&server.origin());
    let options = elsewhere.passkey_options(&session, PASSWORD).await;
    let created = stranger.register(&options.body);
    let _ = elsewhere
        .register_passkey(&session, "Elsewhere", &created)
        .await;
    let fresh = server.passwordless_options().await;
    let fresh_token = fresh.body["passkeyToken"].as_str().unwrap().to_owned();
    refusals.push(
        server
            .passwordless(&fresh_token, &stranger.assert(&fresh.body))
            .await,
    );
    // No user verification.
    refusals.push(
        server
            .passwordless(&fresh_token, &key.assert_without_uv(&fresh.body))
            .await,
    );
    // The right passkey, used by a page at another origin.
    key.set_origin("http://localhost:1");
    refusals.push(
        server
            .passwordless(&fresh_token, &key.assert(&fresh.body))
            .await,
    );
    key.set_origin(&server.origin());
    // A token that is not one, and a step-up token in its place.
    refusals.push(
        server
            .passwordless("garbage", &key.assert(&fresh.body))
            .await,
    );
    let step_up = server
        .post("/api/auth/step-up/options", Some(&token), None)
        .await;
    let step_up_token = step_up.body["stepUpToken"].as_str().unwrap();
    refusals.push(
        server
            .passwordless(step_up_token, &key.assert(&step_up.body))
            .await,
    );
    let shape = |r: &Resp| {
        r.assert_problem(401, "INVALID_PASSKEY");
        (
            r.body["type"].clone(),
            r.body["title"].clone(),
            r.body["detail"].clone(),
        )
    };
    let first = shape(&refusals[0]);
    for r in &refusals {
        assert_eq!(shape(r), first, "one answer for all: {}", r.text);
    }
    // The fresh token still logs in with the right passkey.
    let r = server
        .passwordless(&fresh_token, &key.assert(&fresh.body))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn an_expired_passkey_token_is_refused_alike() {
    let server = start(&["--mfa-token-ttl", "1"]);
    let (_, mut key, _) = server.passkey_user("late@example.com").await;
    let options = server.passwordless_options().await;
    let assertion = key.assert(&options.body);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    server
        .passwordless(options.body["passkeyToken"].as_str().unwrap(), &assertion)
        .await
        .assert_problem(401, "INVALID_PASSKEY");
}

#[tokio::test]
async fn step_up_with_a_passkey() {
    let server = start(&[]);
    let email = "step-up@example.com";
    let (_, mut key, _) = server.passkey_user(email).await;
    let stale = session_without_proof(&server, email, &mut key).await;
    server
        .post(
            "/api/user/me/totp/backup-codes/regenerate",
            Some(&stale),
            None,
        )
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");

    let options = server
        .post("/api/auth/step-up/options", Some(&stale), None)
        .await;
    assert_eq!(options.status, 200, "{}", options.text);
    let step_up_token = options.body["stepUpToken"].as_str().unwrap().to_owned();
    let allowed = &options.body["publicKey"]["allowCredentials"];
    assert_eq!(allowed[0]["id"], key.credential_ids()[0].as_str());
    let assertion = key.assert(&options.body);
    // `passkey` needs its `stepUpToken`.
    server
        .post(
            "/api/auth/step-up",
            Some(&stale),
            Some(json!({"passkey": assertion})),
        )
        .await
        .assert_problem(400, "VALIDATION_FAILED");
    let body = json!({"stepUpToken": step_up_token, "passkey": assertion});
    let r = server
        .post("/api/auth/step-up", Some(&stale), Some(body.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = token_of(&r);
    let r = server
        .post(
            "/api/user/me/totp/backup-codes/regenerate",
            Some(&fresh),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Once only.
    server
        .post("/api/auth/step-up", Some(&stale), Some(body))
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    // Another user's session cannot use this user's token.
    let (other, _, _) = server.passkey_user("other@example.com").await;
    let options = server
        .post("/api/auth/step-up/options", Some(&fresh), None)
        .await;
    let body =
        json!({"stepUpToken": options.body["stepUpToken"], "passkey": key.assert(&options.body)});
    server
        .post("/api/auth/step-up", Some(&other), Some(body))
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    // Without passkeys there is nothing to ask for.
    let (app_user, _, _) = server.enrolled_user("app@example.com").await;
    server
        .post("/api/auth/step-up/options", Some(&app_user), None)
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
}

#[tokio::test]
async fn a_counter_that_goes_back_is_refused_and_reported() {
    let server = start(&[]);
    let (token, mut key, _) = server.passkey_user("clone@example.com").await;
    // Two step-ups answered in order, completed in the opposite order: the
    // earlier signature counter then looks like a clone's.
    let first = server
        .post("/api/auth/step-up/options", Some(&token), None)
        .await;
    let second = server
        .post("/api/auth/step-up/options", Some(&token), None)
        .await;
    let early = key.assert(&first.body);
    let late = key.assert(&second.body);
    let body = |options: &Resp, assertion: &Value| json!({"stepUpToken": options.body["stepUpToken"], "passkey": assertion});
    let r = server
        .post(
            "/api/auth/step-up",
            Some(&token),
            Some(body(&second, &late)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    server
        .post(
            "/api/auth/step-up",
            Some(&token),
            Some(body(&first, &early)),
        )
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    let suspected = events(&server, "passkey_clone_suspected", 1).await;
    assert_eq!(suspected.len(), 1, "{:?}", server.security_events());
    assert!(suspected[0]["passkey"].is_string());
}

/// Submits `body` to `path` from 16 tasks at once: the statuses.
async fn race(server: &Arc<Server>, path: &'static str, body: Value) -> Vec<u16> {
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (server, body, barrier) = (Arc::clone(server), body.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let r = server.post(path, None, Some(body)).await;
                // An assertion is charged to the lockout before it is
                // checked: racers charged after the fifth find it locked.
                if r.status != 200 {
                    r.assert_problem_shape();
                    let refused = ["INVALID_MFA_TOKEN", "INVALID_PASSKEY", "LOCKED_OUT"];
                    let code = r.body["code"].as_str().unwrap();
                    assert!(refused.contains(&code), "{}", r.text);
                }
                r.status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    eprintln!("16 submissions of one assertion to {path}: {statuses:?}");
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_assertion_raced_sixteen_times_logs_in_once() {
    let server = Arc::new(start(&[]));
    let email = "race@example.com";
    let (_, mut key, _) = server.passkey_user(email).await;

    let answer = server.login_answer(email).await;
    let assertion = key.assert(&answer["passkeyOptions"]);
    let body = json!({"mfaToken": answer["mfaToken"], "passkey": assertion});
    let statuses = race(&server, "/api/auth/login/mfa", body).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "exactly one 200 at the second step: {statuses:?}"
    );

    // Another user: the losers above may have locked the first one out.
    let (_, mut key, _) = server.passkey_user("race-alone@example.com").await;
    let options = server.passwordless_options().await;
    let assertion = key.assert(&options.body);
    let body = json!({"passkeyToken": options.body["passkeyToken"], "credential": assertion});
    let statuses = race(&server, "/api/auth/passkey", body).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "exactly one 200 passwordless: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| [200, 401, 429].contains(&s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn failed_passkeys_and_codes_share_one_lockout() {
    let server = start(&[]);
    // An app and a passkey.
    let email = "locked@example.com";
    let user_id = server.register(email).await;
    let session = server.login(email).await;
    let mut app = server.begin_totp_setup(&session).await;
    let code = app.next_code().await;
    let (codes, token) = server.confirm_totp_setup(&session, &code).await;
    let mut key = Passkey::for_server(&server);
    let added = server.add_passkey(&token, &mut key, "Laptop").await;
    assert!(
        added.body.get("backupCodes").is_none(),
        "codes stay: {}",
        added.text
    );

    // Five assertions without user verification lock every factor.
    let answer = server.login_answer(email).await;
    assert_eq!(answer["methods"], json!(["totp", "backupCode", "passkey"]));
    let mfa_token = answer["mfaToken"].as_str().unwrap();
    for _ in 0..5 {
        let no_uv = key.assert_without_uv(&answer["passkeyOptions"]);
        server
            .login_mfa_passkey(mfa_token, &no_uv)
            .await
            .assert_problem(401, "INVALID_PASSKEY");
    }
    let good = key.assert(&answer["passkeyOptions"]);
    let r = server.login_mfa_passkey(mfa_token, &good).await;
    r.assert_problem(429, "LOCKED_OUT");
    assert!(r.header("retry-after").is_some());
    server
        .login_mfa(mfa_token, "code", &app.next_code().await)
        .await
        .assert_problem(429, "LOCKED_OUT");
    server
        .login_mfa(mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(429, "LOCKED_OUT");
    let options = server.passwordless_options().await;
    server
        .passwordless(
            options.body["passkeyToken"].as_str().unwrap(),
            &key.assert(&options.body),
        )
        .await
        .assert_problem(429, "LOCKED_OUT");

    // The operator's unlock lifts it for every factor.
    let r = server
        .operator(
            "unlock",
            &user_id,
            Some(ADMIN_TOKEN),
            json!({"reason": "ticket 7"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = server
        .login_mfa_passkey(mfa_token, &key.assert(&answer["passkeyOptions"]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Wrong codes lock passkeys too.
    let (_, mut other_key, _) = server.passkey_user("codes@example.com").await;
    let answer = server.login_answer("codes@example.com").await;
    let mfa_token = answer["mfaToken"].as_str().unwrap();
    for n in 0..5 {
        let wrong = format!("zzzzz-zzzz{n}");
        server
            .login_mfa(mfa_token, "backupCode", &wrong)
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    server
        .login_mfa_passkey(mfa_token, &other_key.assert(&answer["passkeyOptions"]))
        .await
        .assert_problem(429, "LOCKED_OUT");
}

#[tokio::test]
async fn an_operator_reset_removes_passkeys() {
    let server = start(&[]);
    let email = "reset@example.com";
    let id = server.register(email).await;
    let token = server.login(email).await;
    let mut key = Passkey::for_server(&server);
    let added = server.add_passkey(&token, &mut key, "Laptop").await;
    let token = token_of(&added);

    let r = server
        .operator(
            "reset",
            &id,
            Some(ADMIN_TOKEN),
            json!({"reason": "lost device"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    server
        .get("/api/user/me/totp", Some(&token))
        .await
        .assert_problem(401, "SESSION_REVOKED");
    // MFA off: the password alone logs in, and the passkey is gone.
    let token = server.login(email).await;
    let status = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.body["mfaEnabled"], false, "{}", status.text);
    assert_eq!(status.body["passkeys"], 0);
    assert_eq!(status.body["mfaMethods"], json!([]));
    let list = server.get("/api/user/me/passkeys", Some(&token)).await;
    assert_eq!(list.body, json!({"passkeys": []}));
    let options = server.passwordless_options().await;
    server
        .passwordless(
            options.body["passkeyToken"].as_str().unwrap(),
            &key.assert(&options.body),
        )
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    // The user enrolls again, with the same authenticator.
    let added = server.add_passkey(&token, &mut key, "Laptop again").await;
    assert_eq!(added.body["backupCodes"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn an_app_beside_passkeys_keeps_the_backup_codes() {
    let server = start(&[]);
    let email = "both@example.com";
    let (token, mut key, codes) = server.passkey_user(email).await;
    let other = server.login_with_passkey(email, &mut key).await;
    // From a session without a proof: refused.
    let stale = session_without_proof(&server, email, &mut key).await;
    server
        .setup(&stale, PASSWORD)
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");
    // Remembering a device moved no epoch: the registration's session
    // still works, with its recent proof.
    let setup = server.setup(&token, PASSWORD).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    let mut app = Authenticator::new(setup.body["secret"].as_str().unwrap());
    let r = server
        .post(
            "/api/user/me/totp/confirm",
            Some(&token),
            Some(json!({"code": app.next_code().await})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    assert!(
        r.body.get("backupCodes").is_none(),
        "codes stay: {}",
        r.text
    );
    let token = token_of(&r);
    server
        .get("/api/user/me/totp", Some(&other))
        .await
        .assert_problem(401, "SESSION_REVOKED");
    let status = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.body["mfaMethod"], "totp", "{}", status.text);
    assert_eq!(status.body["mfaMethods"], json!(["totp", "passkey"]));
    assert_eq!(status.body["backupCodesRemaining"], 10);
    // A second app is refused; the old codes, the app and the passkey log in.
    server
        .setup(&token, PASSWORD)
        .await
        .assert_problem(409, "MFA_ALREADY_ENABLED");
    server.login_with(email, "backupCode", &codes[0]).await;
    server
        .login_with(email, "code", &app.next_code().await)
        .await;
    server.login_with_passkey(email, &mut key).await;
}

#[tokio::test]
async fn disable_takes_the_password_alone_after_a_recent_proof() {
    let server = start(&[]);
    let email = "off@example.com";
    let (token, mut key, _) = server.passkey_user(email).await;
    let stale = session_without_proof(&server, email, &mut key).await;
    let disable = |token: &str, body: Value| {
        let token = token.to_owned();
        let server = &server;
        async move {
            server
                .post("/api/user/me/totp/disable", Some(&token), Some(body))
                .await
        }
    };
    disable(&stale, json!({"password": PASSWORD}))
        .await
        .assert_problem(403, "STEP_UP_REQUIRED");
    disable(&token, json!({"password": "wrong password"}))
        .await
        .assert_problem(400, "INVALID_PASSWORD");
    disable(&token, json!({}))
        .await
        .assert_problem(400, "VALIDATION_FAILED");
    let r = disable(&token, json!({"password": PASSWORD})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = token_of(&r);
    let status = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.body["mfaEnabled"], false, "{}", status.text);
    assert_eq!(status.body["passkeys"], 0);
    assert_eq!(events(&server, "factor_disabled", 1).await.len(), 1);
    // Everything is off: the password alone logs in; the passkey no more.
    server.login(email).await;
    let options = server.passwordless_options().await;
    server
        .passwordless(
            options.body["passkeyToken"].as_str().unwrap(),
            &key.assert(&options.body),
        )
        .await
        .assert_problem(401, "INVALID_PASSKEY");
    disable(&token, json!({"password": PASSWORD}))
        .await
        .assert_problem(400, "MFA_NOT_ENABLED");
}

#[tokio::test]
async fn no_passwordless_removes_its_routes_only() {
    let server = start(&["--no-passwordless"]);
    for path in ["/api/auth/passkey/options", "/api/auth/passkey"] {
        server
            .post(path, None, Some(json!({})))
            .await
            .assert_problem(404, "NOT_FOUND");
    }
    let doc = server.get("/openapi.json", None).await;
    assert!(doc.body["paths"].get("/api/auth/passkey").is_none());
    assert!(doc.body["paths"].get("/api/user/me/passkeys").is_some());
    // Passkeys still serve at the second step and for step-up.
    let email = "no-passwordless@example.com";
    let (_, mut key, _) = server.passkey_user(email).await;
    let token = server.login_with_passkey(email, &mut key).await;
    server.step_up_with_passkey(&token, &mut key).await;
}

#[test]
fn the_relying_party_must_cover_every_origin() {
    let refused = |args: &[&str]| {
        let (message, status) = Server::try_start(Options {
            extra_args: args.iter().map(|s| (*s).to_owned()).collect(),
            ..Options::default()
        })
        .err()
        .unwrap_or_else(|| panic!("the server started with {args:?}"));
        assert!(status.is_some_and(|s| !s.success()), "{message}");
        assert!(message.contains("does not cover"), "{message}");
    };
    // The default origin is http://localhost:<port>.
    refused(&["--rp-id", "example.com"]);
    refused(&[
        "--rp-id",
        "example.com",
        "--origin",
        "https://login.example.com",
        "--origin",
        "https://example.org",
    ]);
    let server = Server::start_with(Options {
        extra_args: [
            "--rp-id",
            "example.com",
            "--origin",
            "https://login.example.com",
        ]
        .map(str::to_owned)
        .to_vec(),
        ..Options::default()
    });
    assert!(
        server
            .stdout()
            .contains("passkeys: relying party example.com for https://login.example.com"),
        "{}",
        server.stdout()
    );
}
