//! The example server on a database server (PostgreSQL or MySQL), as behind
//! a load balancer: the checks `tests/http_postgres.rs` and
//! `tests/http_mysql.rs` both run, each test in a schema or database of its
//! own ([`TestDb`]).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::db_common::{Proxy, Server as DbServer, TestDb, with_host};
use crate::http_common::passkey::Passkey;
use crate::http_common::{self, Options, Resp, Server};

/// Every check of this module as a test of the binary that invokes it, on
/// the database server `$kind`, each holding what `$hold().await` returns
/// for as long as it runs (a lock the binary's other tests take, or
/// nothing: [`nothing_held`]).
macro_rules! database_server_tests {
    ($kind:expr, $hold:path) => {
        database_server_tests!(@each $kind, $hold,
            two_servers_on_one_database,
            revocation_across_servers,
            lifecycle_across_servers,
            password_lock_across_servers,
            a_database_outage_gives_503_and_loses_nothing,
            importer_on_the_database,
            passkeys_across_servers,
        );
    };
    (@each $kind:expr, $hold:path, $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let _held = $hold().await;
            http_db::$name($kind).await;
        }
    )*};
}

/// For [`database_server_tests!`], when the tests share nothing to hold.
pub async fn nothing_held() {}

/// The operator token of the servers under test.
pub const ADMIN_TOKEN: &str = "test-operator-token-0123456789abcdefghij";

/// Two example servers on the test's database, with the same master key
/// and operator token.
pub fn two_servers(db: &TestDb) -> (Arc<Server>, Arc<Server>) {
    two_servers_with(db, &[])
}

/// [`two_servers`], both with `extra` flags.
pub fn two_servers_with(db: &TestDb, extra: &[&str]) -> (Arc<Server>, Arc<Server>) {
    let start = || {
        Arc::new(Server::start_with(Options {
            database: Some(db.url.clone()),
            admin_token: Some(ADMIN_TOKEN.into()),
            extra_args: extra.iter().map(|s| (*s).to_owned()).collect(),
            ..Options::default()
        }))
    };
    (start(), start())
}

/// The origin both servers of [`passkeys_across_servers`] serve their page
/// at, as behind one load balancer.
const ORIGIN: &str = "http://localhost:8080";

/// Passkeys across two servers on one database, behind one origin: a
/// registration begun on one and finished on the other; the second step,
/// passwordless login and step-up begun on one and completed on the other,
/// and then refused by both; 16 submissions of one assertion at once, split
/// across both, to the second step and to passwordless login: exactly one
/// 200 each; a removal on one revoking sessions on the other; an operator
/// reset on one after which the other refuses the passkey.
pub async fn passkeys_across_servers(kind: DbServer) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let (a, b) = two_servers_with(&db, &["--origin", ORIGIN]);
    let email = "passkeys@example.com";
    let id = a.register(email).await;
    let before = b.login(email).await;
    let mut key = Passkey::at(ORIGIN);
    let options = a.passkey_options(&before, http_common::PASSWORD).await;
    assert_eq!(options.status, 200, "{}", options.text);
    let created = key.register(&options.body);
    let added = b.register_passkey(&before, "Laptop", &created).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(http_common::strings(&added.body["backupCodes"]).len(), 10);
    let token = added.body["token"].as_str().unwrap();
    revoked(&a, &before).await;
    let status = a.get("/api/user/me/totp", Some(token)).await;
    assert_eq!(status.body["passkeys"], 1, "{}", status.text);

    // The second step: begun on one, completed on the other, then spent.
    let answer = a.login_answer(email).await;
    let assertion = key.assert(&answer["passkeyOptions"]);
    let mfa_token = answer["mfaToken"].as_str().unwrap();
    let r = b.login_mfa_passkey(mfa_token, &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for server in [&a, &b] {
        server
            .login_mfa_passkey(mfa_token, &assertion)
            .await
            .assert_problem(401, "INVALID_MFA_TOKEN");
    }

    // Passwordless: options from one, the login on the other, once.
    let options = b.passwordless_options().await;
    let assertion = key.assert(&options.body);
    let passkey_token = options.body["passkeyToken"].as_str().unwrap();
    let r = a.passwordless(passkey_token, &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let session = r.body["token"].as_str().unwrap().to_owned();
    for server in [&a, &b] {
        server
            .passwordless(passkey_token, &assertion)
            .await
            .assert_problem(401, "INVALID_PASSKEY");
    }

    // Step-up: options from one, completed on the other, once.
    let options = a
        .post("/api/auth/step-up/options", Some(&session), None)
        .await;
    let body =
        json!({"stepUpToken": options.body["stepUpToken"], "passkey": key.assert(&options.body)});
    let r = b
        .post("/api/auth/step-up", Some(&session), Some(body.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    a.post("/api/auth/step-up", Some(&session), Some(body))
        .await
        .assert_problem(401, "INVALID_PASSKEY");

    // 16 submissions of one assertion at once, split across both.
    let answer = b.login_answer(email).await;
    let body =
        json!({"mfaToken": answer["mfaToken"], "passkey": key.assert(&answer["passkeyOptions"])});
    exactly_one_success(&race_at([&a, &b], "/api/auth/login/mfa", body).await);
    // Past the losers' charges the user may be locked: unlock.
    let unlock = json!({"reason": "after the race"});
    let r = a
        .operator("unlock", &id, Some(ADMIN_TOKEN), unlock.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let options = a.passwordless_options().await;
    let body = json!({"passkeyToken": options.body["passkeyToken"], "credential": key.assert(&options.body)});
    exactly_one_success(&race_at([&a, &b], "/api/auth/passkey", body).await);
    let r = b.operator("unlock", &id, Some(ADMIN_TOKEN), unlock).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A second passkey; removing the first on one revokes sessions on the other.
    let mut phone = Passkey::at(ORIGIN);
    let fresh = a.login_with_passkey(email, &mut key).await;
    let options = a.passkey_options(&fresh, http_common::PASSWORD).await;
    let created = phone.register(&options.body);
    let added = b.register_passkey(&fresh, "Phone", &created).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert!(added.body.get("backupCodes").is_none(), "{}", added.text);
    let fresh = added.body["token"].as_str().unwrap().to_owned();
    let other = b.login_with_passkey(email, &mut phone).await;
    let list = a.get("/api/user/me/passkeys", Some(&fresh)).await;
    let first = list.body["passkeys"][0]["id"].as_str().unwrap().to_owned();
    let r = a
        .send(
            reqwest::Method::DELETE,
            &format!("/api/user/me/passkeys/{first}"),
            Some(&fresh),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    revoked(&b, &other).await;
    let options = b.passwordless_options().await;
    b.passwordless(
        options.body["passkeyToken"].as_str().unwrap(),
        &key.assert(&options.body),
    )
    .await
    .assert_problem(401, "INVALID_PASSKEY");

    // An operator's reset on one: the other refuses the passkey left.
    let r = b
        .operator("reset", &id, Some(ADMIN_TOKEN), json!({"reason": "lost"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let options = a.passwordless_options().await;
    a.passwordless(
        options.body["passkeyToken"].as_str().unwrap(),
        &phone.assert(&options.body),
    )
    .await
    .assert_problem(401, "INVALID_PASSKEY");
    // MFA is off: the password alone logs in.
    a.login(email).await;
    db.finish().await;
}

/// The password lock is shared: wrong passwords on one server lock the
/// account (and an unknown email alike) on the other; of 200 concurrent
/// wrong passwords split across both at most 5 are checked; a right
/// password on one gives back only its own charge.
pub async fn password_lock_across_servers(kind: DbServer) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let (a, b) = two_servers(&db);
    let login = async |server: &Server, email: &str, password: &str| {
        server
            .post(
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await
    };
    let retry_after = |r: &Resp| -> u64 {
        r.assert_problem(429, "TOO_MANY_ATTEMPTS");
        r.header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After in seconds")
    };
    a.register("pw-shared@example.com").await;
    for email in ["pw-shared@example.com", "pw-nobody@example.com"] {
        for server in [&a, &b, &a, &b, &a] {
            login(server, email, "wrong password")
                .await
                .assert_problem(401, "INVALID_CREDENTIALS");
        }
        for server in [&a, &b] {
            let secs = retry_after(&login(server, email, http_common::PASSWORD).await);
            assert!((29..=30).contains(&secs), "Retry-After {secs}");
        }
    }

    // 200 wrong passwords at once, split across both servers: each is
    // charged before it is hashed, so at most 5 are checked, whichever
    // process they reach; nothing refused is counted.
    a.register("pw-burst@example.com").await;
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let server = Arc::clone(if i % 2 == 0 { &a } else { &b });
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            server
                .post(
                    "/api/auth/login",
                    None,
                    Some(json!({"email": "pw-burst@example.com", "password": "wrong"})),
                )
                .await
        }));
    }
    let mut checked = 0u32;
    for task in tasks {
        let r = task.await.expect("a request task");
        if r.status == 401 {
            r.assert_problem(401, "INVALID_CREDENTIALS");
            checked += 1;
        } else {
            retry_after(&r);
        }
    }
    eprintln!("200 concurrent wrong passwords on two servers: {checked} checked");
    assert!(
        (1..=5).contains(&checked),
        "{checked} of 200 wrong passwords checked"
    );
    let secs = retry_after(&login(&b, "pw-burst@example.com", http_common::PASSWORD).await);
    assert!((29..=30).contains(&secs), "Retry-After {secs}");

    // A right password among wrong ones gives back only its own charge.
    a.register("pw-owner@example.com").await;
    for server in [&a, &b, &a, &b] {
        login(server, "pw-owner@example.com", "wrong password")
            .await
            .assert_problem(401, "INVALID_CREDENTIALS");
    }
    assert_eq!(
        login(&b, "pw-owner@example.com", http_common::PASSWORD)
            .await
            .status,
        200
    );
    login(&a, "pw-owner@example.com", "wrong password")
        .await
        .assert_problem(401, "INVALID_CREDENTIALS");
    retry_after(&login(&b, "pw-owner@example.com", http_common::PASSWORD).await);
}

/// Two servers on one database: register on one and log in on the other,
/// set up on one and confirm on the other, a token from one good at the
/// other, 16 requests at once with one backup code and then with one TOTP
/// code split across both with exactly one success each, and a regeneration
/// on one that the other honours.
pub async fn two_servers_on_one_database(kind: DbServer) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let (a, b) = two_servers(&db);
    let named = match kind {
        DbServer::Postgres => "database: PostgreSQL ",
        DbServer::Mysql => "database: MySQL ",
    };
    assert!(a.stdout().contains(named), "{}", a.stdout());

    // Register on one, log in on the other; set up on one, confirm on the other.
    a.register("shared@example.com").await;
    let token = b.login("shared@example.com").await;
    let mut app = a.begin_totp_setup(&token).await;
    let confirming = app.next_code().await;
    let (codes, token) = b.confirm_totp_setup(&token, &confirming).await;

    // An mfaToken from one is good at the other; the confirming code is spent
    // on both; a wrong code on one leaves the mfaToken open.
    let mfa_token = a.login_for_mfa("shared@example.com").await;
    for server in [&a, &b] {
        login_mfa(server, &mfa_token, "code", &confirming)
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    let r = login_mfa(&b, &mfa_token, "backupCode", &codes[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Completed on one, it is refused by the other (and by the first).
    for server in [&a, &b] {
        login_mfa(server, &mfa_token, "backupCode", &codes[1])
            .await
            .assert_problem(401, "INVALID_MFA_TOKEN");
    }
    let mfa_token = b.login_for_mfa("shared@example.com").await;
    login_mfa(&a, &mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_CODE");

    // 16 at once with one backup code, then with one TOTP code, split across both.
    exactly_one_success(
        &race(
            [&a, &b],
            json!({"mfaToken": mfa_token, "backupCode": codes[5]}),
        )
        .await,
    );
    let mfa_token = a.login_for_mfa("shared@example.com").await;
    let code = app.next_code().await;
    exactly_one_success(&race([&a, &b], json!({"mfaToken": mfa_token, "code": code})).await);
    let status = a.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.body["backupCodesRemaining"], 8, "{}", status.text);
    assert_eq!(status.body["lockedOut"], false);

    // Regenerate on one: the old codes die on the other.
    let r = b
        .post(
            "/api/user/me/totp/backup-codes/regenerate",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mfa_token = a.login_for_mfa("shared@example.com").await;
    login_mfa(&a, &mfa_token, "backupCode", &codes[9])
        .await
        .assert_problem(401, "INVALID_CODE");

    drop((a, b));
    db.finish().await;
}

/// Revocation across processes: every change to the factor made on one
/// server (enable, disable, operator reset) revokes on the other the
/// sessions and `mfaToken`s issued before it, and the token the change
/// answered with works on both.
pub async fn revocation_across_servers(kind: DbServer) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let (a, b) = two_servers(&db);
    const EMAIL: &str = "revoke@example.com";
    let id = a.register(EMAIL).await;

    // Enabled on one: a session from before is revoked on the other.
    let before = b.login(EMAIL).await;
    let mut app = b.begin_totp_setup(&before).await;
    let (codes, token) = a.confirm_totp_setup(&before, &app.next_code().await).await;
    for server in [&a, &b] {
        revoked(server, &before).await;
        let r = server.get("/api/user/me/totp", Some(&token)).await;
        assert_eq!(r.body["mfaEnabled"], true, "{}", r.text);
    }

    // Disabled on one: sessions and an open mfaToken from before die on the other.
    let mfa_token = a.login_for_mfa(EMAIL).await;
    let r = a
        .post(
            "/api/user/me/totp/disable",
            Some(&token),
            Some(json!({"password": http_common::PASSWORD, "code": codes[0]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after_disable = r.body["token"].as_str().unwrap().to_owned();
    revoked(&b, &token).await;
    login_mfa(&b, &mfa_token, "backupCode", &codes[1])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    let r = b.get("/api/user/me/totp", Some(&after_disable)).await;
    assert_eq!(r.body["mfaEnabled"], false, "{}", r.text);

    // Enrolled again (setup on one, confirm on the other), then reset by an
    // operator on one: the other refuses the sessions and the mfaToken.
    let mut app2 = a.begin_totp_setup(&after_disable).await;
    let (codes, token) = b
        .confirm_totp_setup(&after_disable, &app2.next_code().await)
        .await;
    let mfa_token = b.login_for_mfa(EMAIL).await;
    let r = a
        .operator(
            "reset",
            &id,
            Some(ADMIN_TOKEN),
            json!({"reason": "lost phone, identity checked"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    revoked(&b, &token).await;
    login_mfa(&b, &mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    // The user logs in with the password alone and can enroll again.
    let fresh = b.login(EMAIL).await;
    let r = a.get("/api/user/me/totp", Some(&fresh)).await;
    assert_eq!(r.body["mfaEnabled"], false, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 0, "{}", r.text);
    assert!(
        a.security_events()
            .iter()
            .any(|e| e["securityEvent"] == "operator_reset"
                && e["userId"] == id.as_str()
                && e["reason"] == "lost phone, identity checked"),
        "{}",
        a.stderr()
    );

    drop((a, b));
    db.finish().await;
}

/// Replacing the authenticator and remembered devices across processes: a
/// replacement begun on one server is confirmed on the other, which then
/// refuses the old app and the earlier sessions; a device remembered on one
/// is recognised by the other; one forgotten on one is refused by the other.
pub async fn lifecycle_across_servers(kind: DbServer) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let (a, b) = two_servers(&db);
    const EMAIL: &str = "lifecycle@example.com";
    let (token, old, codes) = a.enrolled_user(EMAIL).await;

    // Remembered on one, recognised by the other.
    let (proven, device) = a.login_remembering(EMAIL, "backupCode", &codes[0]).await;
    let remembered = login_with_device(&b, EMAIL, &device).await;
    assert_eq!(
        remembered.body.as_object().unwrap().len(),
        1,
        "{}",
        remembered.text
    );
    assert_eq!(
        b.get("/api/user/me/totp", Some(&proven)).await.body["rememberedDevices"],
        1
    );

    // Replacement begun on one, confirmed on the other: the old app, the
    // earlier sessions and mfaTokens and the device are refused on both.
    let mfa_token = b.login_for_mfa(EMAIL).await;
    let mut new = a.begin_replacement(&proven, &codes[2]).await;
    let status = b.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(status.body["replacementPending"], true, "{}", status.text);
    let r = b.confirm_replacement(&token, &new.next_code().await).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let replaced = r.body["token"].as_str().unwrap().to_owned();
    for server in [&a, &b] {
        for earlier in [&token, &proven] {
            revoked(server, earlier).await;
        }
        login_mfa(server, &mfa_token, "backupCode", &codes[1])
            .await
            .assert_problem(401, "INVALID_MFA_TOKEN");
        let r = login_with_device(server, EMAIL, &device).await;
        assert_eq!(r.body["mfaRequired"], true, "{}", r.text);
        let fresh = r.body["mfaToken"].as_str().unwrap();
        let old_code = old.code_at_step(old.current_step());
        login_mfa(server, fresh, "code", &old_code)
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    a.login_with(EMAIL, "code", &new.next_code().await).await;

    // Remembered on one, forgotten on the other, refused by the first.
    let (_, device) = b.login_remembering(EMAIL, "backupCode", &codes[1]).await;
    let r = login_with_device(&a, EMAIL, &device).await;
    assert!(r.body.get("token").is_some(), "{}", r.text);
    let r = a.forget_devices(&replaced).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for server in [&b, &a] {
        let r = login_with_device(server, EMAIL, &device).await;
        assert_eq!(r.body["mfaRequired"], true, "{}", r.text);
    }
    let status = b.get("/api/user/me/totp", Some(&replaced)).await;
    assert_eq!(status.body["rememberedDevices"], 0, "{}", status.text);
    // Two remembered logins and the replacement each used a backup code.
    assert_eq!(status.body["backupCodesRemaining"], 7, "{}", status.text);

    drop((a, b));
    db.finish().await;
}

/// The first login step with the password and `device`.
async fn login_with_device(server: &Server, email: &str, device: &str) -> Resp {
    let r = server.login_with_device(email, json!(device)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

/// Asserts that `server` refuses `token` as revoked.
async fn revoked(server: &Server, token: &str) {
    let r = server.get("/api/user/me/totp", Some(token)).await;
    r.assert_problem(401, "SESSION_REVOKED");
}

/// The database goes away behind a proxy during traffic: every request that
/// needs it is a 503 problem document on a connection that stays usable;
/// when it is back the server recovers by itself, and the backup code sent
/// during the outage was not consumed and works exactly once.
pub async fn a_database_outage_gives_503_and_loses_nothing(kind: DbServer) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let proxy = Proxy::start(db.server_addr().await).await;
    let server = Arc::new(Server::start_with(Options {
        database: Some(with_host(&db.url, &proxy.authority())),
        ..Options::default()
    }));
    let (token, _, codes) = server.enrolled_user("outage@example.com").await;
    let mfa_token = server.login_for_mfa("outage@example.com").await;

    // The database goes away: every request that needs it is a 503 problem
    // document, on a connection that stays usable; nothing else.
    proxy.down().await;
    let requests = [
        (Some(token.as_str()), "/api/user/me/totp", None),
        (
            None,
            "/api/auth/login/mfa",
            Some(json!({"mfaToken": mfa_token, "backupCode": codes[0]})),
        ),
        (
            None,
            "/api/auth/login",
            Some(json!({"email": "outage@example.com", "password": http_common::PASSWORD})),
        ),
        (
            Some(token.as_str()),
            "/api/user/me/totp/backup-codes/regenerate",
            Some(json!({})),
        ),
    ];
    for (bearer, path, body) in &requests {
        let r = match body {
            Some(body) => server.post(path, *bearer, Some(body.clone())).await,
            None => server.get(path, *bearer).await,
        };
        r.assert_problem(503, "STORE_UNAVAILABLE");
        assert!(!r.text.contains(&codes[0]));
    }
    assert_eq!(server.get("/health", None).await.status, 200);
    assert!(
        server.stderr().contains("STORE_UNAVAILABLE"),
        "{}",
        server.stderr()
    );

    // It comes back: the server recovers by itself, the backup code sent
    // during the outage was not consumed, and it still works exactly once.
    proxy.restart().await;
    let r = wait_for_recovery(&server, &token).await;
    assert_eq!(r.body["backupCodesRemaining"], 10, "{}", r.text);
    let r = login_mfa(&server, &mfa_token, "backupCode", &codes[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 9);
    let mfa_token = server.login_for_mfa("outage@example.com").await;
    login_mfa(&server, &mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(401, "INVALID_CODE");

    drop(server);
    proxy.down().await;
    db.finish().await;
}

/// The importer on the shared database while a server runs on it: a
/// devise-two-factor line and a django-otp line attach factors to existing
/// accounts (one step already used by the old system), a line for an unknown
/// email fails alone; the imported users log in on the server with a TOTP
/// code and an old backup code, each once.
pub async fn importer_on_the_database(kind: DbServer) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    // Built (if need be) before the server starts, as in `http_import.rs`.
    http_common::importer();
    let server = Server::start_with(Options {
        database: Some(db.url.clone()),
        ..Options::default()
    });
    server.register("devise-db@example.com").await;
    server.register("django-db@example.com").await;
    let step = (http_common::unix_now() / 30.0) as u64;
    let devise_key = [21u8; 20];
    let django_key = [22u8; 20];
    let hex: String = django_key.iter().map(|b| format!("{b:02x}")).collect();
    let devise_hash = mfa::testkit::legacy::devise_backup_code_hash("00aa11bb22cc33dd", "pep", 4);
    let lines: Vec<String> = [
        json!({"email": "devise-db@example.com", "format": "devise-two-factor",
               "otp_secret": http_common::base32_encode(&devise_key),
               "consumed_timestep": step, "otp_backup_codes": [devise_hash], "pepper": "pep"}),
        json!({"email": "django-db@example.com", "format": "django-otp", "key": hex,
               "last_t": step, "static_tokens": ["ab2cd3ef"]}),
        json!({"email": "nobody-db@example.com", "format": "django-otp", "key": hex}),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (exit, stdout, stderr) = http_common::run_importer(&db.url, dir.path(), &lines);
    assert_eq!(exit.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("imported 2, failed 1"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("line 3: "), "{stderr}");
    for (email, key, code) in [
        ("devise-db@example.com", devise_key, "00aa11bb22cc33dd"),
        ("django-db@example.com", django_key, "AB2CD3EF"),
    ] {
        let mfa_token = server.login_for_mfa(email).await;
        let old = http_common::totp_at_step(&key, step);
        login_mfa(&server, &mfa_token, "code", &old)
            .await
            .assert_problem(401, "INVALID_CODE");
        let now = (http_common::unix_now() / 30.0) as u64;
        let next = http_common::totp_at_step(&key, now.max(step + 1));
        assert!(!server.login_with(email, "code", &next).await.is_empty());
        server.login_with(email, "backupCode", code).await;
        let mfa_token = server.login_for_mfa(email).await;
        login_mfa(&server, &mfa_token, "backupCode", code)
            .await
            .assert_problem(401, "INVALID_CODE");
    }
    drop(server);
    db.finish().await;
}

/// Asks for the MFA status until the server answers 200 again, which it must
/// within 60 s, with nothing but 503 `STORE_UNAVAILABLE` meanwhile; returns
/// that answer.
pub async fn wait_for_recovery(server: &Server, token: &str) -> Resp {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.get("/api/user/me/totp", Some(token)).await;
        if r.status == 200 {
            return r;
        }
        r.assert_problem(503, "STORE_UNAVAILABLE");
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn login_mfa(server: &Server, mfa_token: &str, field: &str, code: &str) -> Resp {
    server
        .post(
            "/api/auth/login/mfa",
            None,
            Some(json!({ "mfaToken": mfa_token, field: code })),
        )
        .await
}

/// Sends `body` to the login second step 16 times at once, alternating servers.
async fn race(servers: [&Arc<Server>; 2], body: Value) -> Vec<Resp> {
    race_at(servers, "/api/auth/login/mfa", body).await
}

/// Sends `body` to `path` 16 times at once, alternating servers.
async fn race_at(servers: [&Arc<Server>; 2], path: &'static str, body: Value) -> Vec<Resp> {
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let server = Arc::clone(servers[i % 2]);
            let (barrier, body) = (Arc::clone(&barrier), body.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                server.post(path, None, Some(body)).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// One 200; the others lost to the used code, the used-up mfaToken or the
/// spent passkey challenge.
fn exactly_one_success(answers: &[Resp]) {
    assert_eq!(
        answers.iter().filter(|r| r.status == 200).count(),
        1,
        "{answers:#?}"
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        let code = r.body["code"].as_str().unwrap_or("");
        match code {
            "INVALID_CODE" | "INVALID_MFA_TOKEN" | "INVALID_PASSKEY" => r.assert_problem(401, code),
            // A backup code or an assertion is charged to the lockout
            // before it is checked (I16): the losers' charges stay, and past
            // the fifth the rest are refused unchecked.
            _ => r.assert_problem(429, "LOCKED_OUT"),
        }
    }
}

pub fn auth_headers(token: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("a header value"),
    );
    headers
}
