//! The operator routes (the contract's "Operators" and "Operators, named"
//! sections) over real HTTP against the built binary: `MFA_ADMIN_TOKEN` and
//! its checks, named operators (`MFA_ADMIN_TOKENS`, `--admin-tokens`) whose
//! names are the actors of their events, unlock after the hard stop of 100
//! consecutive failures, reset with its revocations and a new enrollment,
//! and the security events both leave on stderr.

mod http_common;

use http_common::{Options, PASSWORD, Resp, Server, strings};
use serde_json::json;

const ADMIN_TOKEN: &str = "operator-token-for-tests-0123456789abcdef";
const STATUS: &str = "/api/user/me/totp";

fn with_operators(extra_args: &[&str]) -> Server {
    Server::start_with(Options {
        admin_token: Some(ADMIN_TOKEN.into()),
        extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
        ..Options::default()
    })
}

#[track_caller]
fn assert_success(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"success": true}));
}

#[tokio::test]
async fn without_an_admin_token_the_operator_routes_do_not_exist() {
    let server = Server::start();
    assert!(
        server.stdout().contains("operator routes: off"),
        "{}",
        server.stdout()
    );
    let id = server.register("plain@example.com").await;
    let user = server.login("plain@example.com").await;
    for action in ["unlock", "reset"] {
        for bearer in [None, Some(ADMIN_TOKEN), Some(user.as_str())] {
            server
                .operator(action, &id, bearer, json!({"reason": "any"}))
                .await
                .assert_problem(404, "NOT_FOUND");
        }
        let r = server
            .get(&format!("/api/admin/users/{id}/mfa/{action}"), None)
            .await;
        r.assert_problem(404, "NOT_FOUND");
    }
}

#[test]
fn a_short_or_unprintable_admin_token_is_refused_at_startup() {
    for token in [
        "short",
        &"x".repeat(31),
        "a token with spaces in it, long enough anyway",
        "tøken-with-non-ascii-0123456789abcdefghijkl",
    ] {
        let Err((message, status)) = Server::try_start(Options {
            admin_token: Some(token.into()),
            ..Options::default()
        }) else {
            panic!("the server started with MFA_ADMIN_TOKEN {token:?}");
        };
        assert!(message.contains("MFA_ADMIN_TOKEN"), "{message}");
        assert!(!message.contains(token), "the token is echoed: {message}");
        assert!(status.is_some_and(|s| !s.success()), "{status:?}");
    }
    // 32 characters are enough.
    let server = Server::start_with(Options {
        admin_token: Some("x".repeat(32)),
        ..Options::default()
    });
    assert!(
        server.stdout().contains("operator routes: on"),
        "{}",
        server.stdout()
    );
}

#[tokio::test]
async fn operator_authentication_and_validation() {
    let server = with_operators(&[]);
    let (user, _, _) = server.enrolled_user("target@example.com").await;
    let id = server
        .post(
            "/api/auth/register",
            None,
            Some(json!({"email": "other@example.com", "password": PASSWORD})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mfa_token = server.login_for_mfa("target@example.com").await;
    let last = ADMIN_TOKEN.len() - 1;
    let near_misses = [
        format!("{}X", &ADMIN_TOKEN[..last]),
        ADMIN_TOKEN[..last].to_owned(),
        format!("{ADMIN_TOKEN}x"),
        ADMIN_TOKEN.to_uppercase(),
        String::new(),
    ];
    let reason = json!({"reason": "ticket 42"});
    for action in ["unlock", "reset"] {
        // No token, a wrong one, a user's session token or mfaToken: 401.
        let mut refused = vec![None, Some(user.as_str()), Some(mfa_token.as_str())];
        refused.extend(near_misses.iter().map(|t| Some(t.as_str())));
        for bearer in refused {
            let r = server.operator(action, &id, bearer, reason.clone()).await;
            r.assert_problem(401, "UNAUTHENTICATED");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            assert!(!r.text.contains(ADMIN_TOKEN));
        }
        // The right token with another scheme is no bearer token.
        let mut headers = http_common::json_headers();
        headers.insert(
            "authorization",
            format!("Basic {ADMIN_TOKEN}").parse().unwrap(),
        );
        server
            .raw(
                reqwest::Method::POST,
                &format!("/api/admin/users/{id}/mfa/{action}"),
                headers,
                reason.to_string().into_bytes(),
            )
            .await
            .assert_problem(401, "UNAUTHENTICATED");

        // A missing, empty or unprintable reason: 400, nothing done.
        for body in [
            json!({}),
            json!({"reason": ""}),
            json!({"reason": "   "}),
            json!({"reason": null}),
            json!({"reason": 42}),
            json!({"reason": "two\nlines"}),
            json!({"reason": "r".repeat(513)}),
        ] {
            server
                .operator(action, &id, Some(ADMIN_TOKEN), body)
                .await
                .assert_problem(400, "VALIDATION_FAILED");
        }
        // Unknown users: 404.
        for unknown in ["0123456789abcdef0123456789abcdef", "nobody", "%20"] {
            server
                .operator(action, unknown, Some(ADMIN_TOKEN), reason.clone())
                .await
                .assert_problem(404, "NOT_FOUND");
        }
    }
    // The operator token is no session token.
    server
        .get(STATUS, Some(ADMIN_TOKEN))
        .await
        .assert_problem(401, "UNAUTHENTICATED");
    // None of that touched the target: its session and mfaToken still work.
    assert_eq!(server.get(STATUS, Some(&user)).await.status, 200);
    assert!(server.security_events().iter().all(|e| {
        !e["securityEvent"]
            .as_str()
            .unwrap_or("")
            .starts_with("operator")
    }));
    // A right request succeeds, even for a user without MFA.
    assert_success(
        &server
            .operator("unlock", &id, Some(ADMIN_TOKEN), reason.clone())
            .await,
    );
}

/// Attack 3's remedy: after 100 consecutive failures every code is refused
/// with no end in sight; an operator's unlock makes codes work again, and
/// the event names the operator action and its reason.
#[tokio::test]
async fn an_operator_unlock_lifts_the_hard_stop() {
    // No timed locks, so that 100 failures take a moment, not hours.
    let server = with_operators(&["--insecure-lockout-delay", "0"]);
    let email = "hardstop@example.com";
    let id = server.register(email).await;
    let token = server.login(email).await;
    let mut app = server.begin_totp_setup(&token).await;
    let (codes, token) = server
        .confirm_totp_setup(&token, &app.next_code().await)
        .await;
    let mfa_token = server.login_for_mfa(email).await;
    let wrong = app.wrong_code();
    for n in 1..=100 {
        let r = server.login_mfa(&mfa_token, "code", &wrong).await;
        assert_eq!(r.status, 401, "failure {n}: {}", r.text);
    }
    let r = server
        .login_mfa(&mfa_token, "code", &app.next_code().await)
        .await;
    r.assert_problem(429, "LOCKED_OUT");
    assert_eq!(r.header("retry-after"), None, "no end: {r:?}");
    server
        .login_mfa(&mfa_token, "backupCode", &codes[0])
        .await
        .assert_problem(429, "LOCKED_OUT");
    assert_eq!(
        server.get(STATUS, Some(&token)).await.body["lockedOut"],
        true
    );

    let reason = "identity checked by phone, ticket 7";
    assert_success(
        &server
            .operator("unlock", &id, Some(ADMIN_TOKEN), json!({"reason": reason}))
            .await,
    );
    let status = server.get(STATUS, Some(&token)).await;
    assert_eq!(status.body["lockedOut"], false, "{}", status.text);
    assert_eq!(status.body["mfaEnabled"], true, "{}", status.text);
    // The open mfaToken completes with a code now; an unlock revokes nothing.
    let r = server
        .login_mfa(&mfa_token, "code", &app.next_code().await)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 10);

    let events = server.security_events();
    let unlocked: Vec<_> = events
        .iter()
        .filter(|e| e["securityEvent"] == "operator_unlocked")
        .collect();
    assert_eq!(unlocked.len(), 1, "{}", server.stderr());
    assert_eq!(unlocked[0]["userId"], id.as_str());
    assert_eq!(unlocked[0]["actor"], "operator");
    assert_eq!(unlocked[0]["reason"], reason);
    // The log record's time, RFC 3339 in UTC.
    let at = unlocked[0]["timestamp"].as_str().unwrap_or_default();
    assert!(at.starts_with("20") && at.ends_with('Z'), "{at}");
    assert!(
        events
            .iter()
            .any(|e| e["securityEvent"] == "lockout_started"),
        "{}",
        server.stderr()
    );
    // No event line holds a code.
    let stderr = server.stderr();
    assert!(!stderr.contains(&wrong) && !stderr.contains(&codes[0]));
}

/// An operator reset: MFA off, secret and codes gone, every session and
/// `mfaToken` of the user revoked, other users untouched; the user logs in
/// with the password and enrolls again.
#[tokio::test]
async fn an_operator_reset_revokes_everything_and_the_user_enrolls_again() {
    let server = with_operators(&[]);
    let email = "reset@example.com";
    let id = server.register(email).await;
    let token = server.login(email).await;
    let mut app = server.begin_totp_setup(&token).await;
    let (codes, confirmed) = server
        .confirm_totp_setup(&token, &app.next_code().await)
        .await;
    let logged_in = server.login_with(email, "backupCode", &codes[0]).await;
    let mfa_token = server.login_for_mfa(email).await;
    let (bystander, _, _) = server.enrolled_user("bystander@example.com").await;

    let reason = "lost phone; identity checked in person";
    assert_success(
        &server
            .operator("reset", &id, Some(ADMIN_TOKEN), json!({"reason": reason}))
            .await,
    );
    for session in [&confirmed, &logged_in] {
        let r = server.get(STATUS, Some(session)).await;
        r.assert_problem(401, "SESSION_REVOKED");
        server
            .post(
                "/api/user/me/totp/backup-codes/regenerate",
                Some(session),
                None,
            )
            .await
            .assert_problem(401, "SESSION_REVOKED");
    }
    server
        .login_mfa(&mfa_token, "backupCode", &codes[1])
        .await
        .assert_problem(401, "INVALID_MFA_TOKEN");
    assert_eq!(server.get(STATUS, Some(&bystander)).await.status, 200);

    // The password alone logs in now; nothing of the old factor is left.
    let plain = server.login(email).await;
    let status = server.get(STATUS, Some(&plain)).await;
    assert_eq!(status.body["mfaEnabled"], false, "{}", status.text);
    assert_eq!(status.body["pendingSetup"], false, "{}", status.text);
    assert_eq!(status.body["backupCodesRemaining"], 0, "{}", status.text);
    // Enroll again, with a new secret and new codes; the old ones are dead.
    let setup = server.setup(&plain, PASSWORD).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    let mut new_app = http_common::Authenticator::new(setup.body["secret"].as_str().unwrap());
    let r = server
        .post(
            "/api/user/me/totp/confirm",
            Some(&plain),
            Some(json!({"code": new_app.next_code().await})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_codes = strings(&r.body["backupCodes"]);
    let mfa_token = server.login_for_mfa(email).await;
    server
        .login_mfa(&mfa_token, "backupCode", &codes[2])
        .await
        .assert_problem(401, "INVALID_CODE");
    server.login_with(email, "backupCode", &new_codes[0]).await;

    // A reset of a user without MFA signs them out everywhere.
    let session = server.login_with(email, "backupCode", &new_codes[1]).await;
    let off = server
        .post(
            "/api/user/me/totp/disable",
            Some(&session),
            Some(json!({"password": PASSWORD, "code": new_codes[2]})),
        )
        .await;
    let off = off.body["token"].as_str().expect("a token").to_owned();
    assert_success(
        &server
            .operator(
                "reset",
                &id,
                Some(ADMIN_TOKEN),
                json!({"reason": "sign out"}),
            )
            .await,
    );
    server
        .get(STATUS, Some(&off))
        .await
        .assert_problem(401, "SESSION_REVOKED");

    let resets: Vec<_> = server
        .security_events()
        .into_iter()
        .filter(|e| e["securityEvent"] == "operator_reset")
        .collect();
    assert_eq!(resets.len(), 2, "{}", server.stderr());
    assert_eq!(resets[0]["userId"], id.as_str());
    assert_eq!(resets[0]["actor"], "operator");
    assert_eq!(resets[0]["reason"], reason);
    assert_eq!(resets[1]["reason"], "sign out");
}

const ALICE: &str = "alice-operator-token-0123456789abcdefghij";
const BOB: &str = "bob:operator:token-0123456789abcdefghijklm";

/// Each operator of `MFA_ADMIN_TOKENS` acts under its own name: the actor of
/// the events it causes; `MFA_ADMIN_TOKEN` beside the list is `operator`.
/// (With one shared token every event's actor was "operator".)
#[tokio::test]
async fn named_operators_act_under_their_names() {
    let server = Server::start_with(Options {
        admin_tokens: Some(format!(
            "# the support desk\nalice:{ALICE}\n\nbob.ops:{BOB}\n"
        )),
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Options::default()
    });
    assert!(
        server
            .stdout()
            .contains("operator routes: on (operators: alice, bob.ops, operator)"),
        "{}",
        server.stdout()
    );
    let id = server.register("named@example.com").await;
    for (token, action, reason) in [
        (ALICE, "unlock", "alice unlocks"),
        (BOB, "reset", "bob resets"),
        (ADMIN_TOKEN, "unlock", "the old token"),
    ] {
        assert_success(
            &server
                .operator(action, &id, Some(token), json!({"reason": reason}))
                .await,
        );
    }
    // The server's stderr is read on a thread of its own: wait (a little)
    // for the last answer's event to arrive.
    let operator_events = || -> Vec<(String, String)> {
        server
            .security_events()
            .into_iter()
            .filter(|e| {
                e["securityEvent"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("operator")
            })
            .map(|e| {
                (
                    e["actor"].as_str().unwrap_or("").to_owned(),
                    e["reason"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let mut actors = operator_events();
    for _ in 0..100 {
        if actors.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        actors = operator_events();
    }
    let expected = [
        ("alice", "alice unlocks"),
        ("bob.ops", "bob resets"),
        ("operator", "the old token"),
    ]
    .map(|(a, r)| (a.to_owned(), r.to_owned()));
    assert_eq!(actors, expected, "{}", server.stderr());
    // Near misses of a named token, and `name:token` itself, are refused.
    let last = ALICE.len() - 1;
    for bad in [
        format!("{}X", &ALICE[..last]),
        format!("alice:{ALICE}"),
        "alice".to_owned(),
    ] {
        server
            .operator("unlock", &id, Some(&bad), json!({"reason": "x"}))
            .await
            .assert_problem(401, "UNAUTHENTICATED");
    }
}

/// `--admin-tokens FILE` names operators as the variable does; a bad list
/// stops the server at start-up without repeating a token, and the list
/// cannot come from both places.
#[tokio::test]
async fn operators_from_a_file_and_bad_lists_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("operators");
    std::fs::write(&file, format!("carol:{ALICE}\n")).expect("the file");
    let file = file.to_str().unwrap().to_owned();
    let server = Server::start_with(Options {
        extra_args: vec!["--admin-tokens".into(), file.clone()],
        ..Options::default()
    });
    let id = server.register("filed@example.com").await;
    assert_success(
        &server
            .operator(
                "unlock",
                &id,
                Some(ALICE),
                json!({"reason": "from the file"}),
            )
            .await,
    );
    let events = server.security_events();
    assert_eq!(
        events.last().unwrap()["actor"],
        "carol",
        "{}",
        server.stderr()
    );

    let long = "y".repeat(40);
    for (list, args) in [
        (Some(format!("alice {long}")), vec![]),
        (Some(format!("al ice:{long}")), vec![]),
        (Some("alice:short-token".to_owned()), vec![]),
        (Some(format!("alice:{long}\nbob:{long}")), vec![]),
        (
            Some(format!("alice:{long}")),
            vec!["--admin-tokens".to_owned(), file.clone()],
        ),
        (
            None,
            vec![
                "--admin-tokens".to_owned(),
                "/nonexistent/operators".to_owned(),
            ],
        ),
    ] {
        let Err((message, status)) = Server::try_start(Options {
            admin_tokens: list.clone(),
            extra_args: args.clone(),
            ..Options::default()
        }) else {
            panic!("the server started with {list:?} {args:?}");
        };
        assert!(
            message.contains("MFA_ADMIN_TOKEN") || message.contains("--admin-tokens"),
            "{message}"
        );
        assert!(!message.contains(&long), "a token repeated: {message}");
        assert!(status.is_some_and(|s| !s.success()), "{status:?}");
    }
}

/// A reason goes into the audit log as it is: one that could forge or hide
/// lines there — a line or paragraph separator, a bidirectional control, or
/// nothing visible — is refused (the crate's `Error::InvalidInput`, answered
/// 400 `VALIDATION_FAILED`), and no event is written for it.
#[tokio::test]
async fn reasons_unfit_for_an_audit_log_are_refused() {
    let server = with_operators(&[]);
    let id = server.register("audit@example.com").await;
    for reason in [
        "first line\u{2028}forged line",
        "first\u{2029}second",
        "refund \u{202e}dekcolnu",
        "isolate \u{2066}x\u{2069}",
        "\u{200b}\u{200b}",
        "\u{2060}",
        "\u{3000}",
    ] {
        for action in ["unlock", "reset"] {
            let r = server
                .operator(action, &id, Some(ADMIN_TOKEN), json!({ "reason": reason }))
                .await;
            r.assert_problem(400, "VALIDATION_FAILED");
            assert!(!r.text.contains(reason), "echoed: {}", r.text);
        }
    }
    assert!(server.security_events().is_empty(), "{}", server.stderr());
    // A reason in any script, with its own punctuation, is fine.
    assert_success(
        &server
            .operator(
                "unlock",
                &id,
                Some(ADMIN_TOKEN),
                json!({"reason": "Ticket №42 — vérifié, 本人確認済み"}),
            )
            .await,
    );
}

/// The finding `id` of a compliance answer.
fn finding<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id} in {report}"))
}

#[tokio::test]
async fn the_compliance_report_follows_the_policy() {
    // The defaults: 40-bit backup codes are too short for saved recovery
    // codes; the server offers passkeys, so the phishing-resistant option is
    // there.
    let server = with_operators(&[]);
    assert!(
        server.stdout().contains("policy: default ("),
        "{}",
        server.stdout()
    );
    let r = server.get("/api/admin/compliance", Some(ADMIN_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["profile"], "nist-800-63b-4-aal2");
    assert_eq!(finding(&r.body, "SRC-1")["status"], "not_met");
    assert_eq!(
        finding(&r.body, "SRC-1")["setting"],
        "backup_codes.strength"
    );
    assert_eq!(finding(&r.body, "AAL2AVR-6")["status"], "met");
    assert_eq!(finding(&r.body, "SRC-5")["status"], "not_met");
    // What the server states of itself: it notifies nobody.
    assert_eq!(finding(&r.body, "BAA-3")["status"], "not_met");
    // No new code without the preset.
    let (_, _, codes) = server.enrolled_user("plain@example.com").await;
    let mfa_token = server.login_for_mfa("plain@example.com").await;
    let r = server.login_mfa(&mfa_token, "backupCode", &codes[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 9);
    assert!(r.body.get("newBackupCode").is_none(), "{}", r.text);

    // The preset: recovery-strength codes, issued as such.
    let server = with_operators(&["--policy", "nist-aal2"]);
    let stdout = server.stdout();
    assert!(stdout.contains("policy: nist-aal2 ("), "{stdout}");
    assert!(stdout.contains("not met: "), "{stdout}");
    let r = server.get("/api/admin/compliance", Some(ADMIN_TOKEN)).await;
    assert_eq!(finding(&r.body, "SRC-1")["status"], "met");
    assert_eq!(finding(&r.body, "SRC-5")["status"], "met");
    let (_, _, codes) = server.enrolled_user("preset@example.com").await;
    assert!(
        codes.iter().all(|c| c.len() == "xxxxx-xxxxx-xxxxx".len()),
        "{codes:?}"
    );
    // A backup code used at login is replaced: the answer shows the new one
    // once, and the count stays.
    let mfa_token = server.login_for_mfa("preset@example.com").await;
    let r = server.login_mfa(&mfa_token, "backupCode", &codes[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["backupCodesRemaining"], 10);
    let new = r.body["newBackupCode"]
        .as_str()
        .expect("a new code")
        .to_owned();
    assert_eq!(new.len(), codes[0].len());
    assert!(!codes.contains(&new));
    // The new code steps up (and is replaced in turn); the used one is refused.
    let session = r.body["token"].as_str().unwrap().to_owned();
    let r = server.step_up(&session, "backupCode", &new).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["newBackupCode"].is_string(), "{}", r.text);
    let r = server.step_up(&session, "backupCode", &codes[0]).await;
    r.assert_problem(401, "INVALID_CODE");

    // ASVS, by name.
    let r = server
        .get(
            "/api/admin/compliance?profile=asvs-5.0-l3",
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["profile"], "asvs-5.0-l3");
    assert_eq!(finding(&r.body, "6.5.1")["status"], "met");
}

#[tokio::test]
async fn the_compliance_report_is_for_operators_only() {
    let server = with_operators(&[]);
    server.register("user@example.com").await;
    let user = server.login("user@example.com").await;
    for bearer in [None, Some(user.as_str())] {
        server
            .get("/api/admin/compliance", bearer)
            .await
            .assert_problem(401, "UNAUTHENTICATED");
    }
    for query in ["profile=nist", "profile=asvs-5.0-l2&profile=asvs-5.0-l3"] {
        server
            .get(&format!("/api/admin/compliance?{query}"), Some(ADMIN_TOKEN))
            .await
            .assert_problem(400, "VALIDATION_FAILED");
    }
    let plain = Server::start();
    plain
        .get("/api/admin/compliance", Some(ADMIN_TOKEN))
        .await
        .assert_problem(404, "NOT_FOUND");
}
