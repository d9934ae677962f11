//! Operating the server ("Operating it" in `examples/server/README.md`):
//! every flag is also an environment variable, logs go through `tracing`
//! (readable by default, JSON lines with `--log-format json`), and
//! `GET /metrics` answers the Prometheus text format to an operator, or on
//! `--metrics-addr` to anyone who reaches that listener.

mod http_common;

use http_common::{Options, Server};

const ADMIN_TOKEN: &str = "operator-token-for-metrics-0123456789abcdef";

/// The value of the sample `name{labels}` in a Prometheus exposition, if
/// it is there (labels in the exporter's order).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_flag_is_also_an_environment_variable() {
    // A bad value from the environment is a usage error naming the flag.
    for (var, value, flag) in [
        ("MFA_MAX_DEVICES", "0", "--max-devices"),
        ("MFA_POLICY", "strict", "--policy"),
        ("MFA_ADDR", "nowhere", "--addr"),
        ("MFA_LOG_FORMAT", "xml", "--log-format"),
    ] {
        let out = std::process::Command::new(http_common::server_binary())
            .env(var, value)
            .env_remove("MFA_MASTER_KEY")
            .output()
            .expect("the server binary");
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{var}={value}: {stderr}");
    }
    // `--help` names each variable beside its flag.
    let help = std::process::Command::new(http_common::server_binary())
        .arg("--help")
        .output()
        .expect("the server binary");
    let help = String::from_utf8_lossy(&help.stdout);
    for var in [
        "MFA_DATABASE",
        "MFA_MAX_CONNECTIONS",
        "MFA_STEP_UP_WINDOW",
        "MFA_POLICY",
        "MFA_LOG_FORMAT",
        "MFA_METRICS_ADDR",
        "MFA_ADMIN_TOKENS_FILE",
    ] {
        assert!(help.contains(&format!("[env: {var}=")), "{var}: {help}");
    }
}

#[tokio::test]
async fn settings_from_the_environment_take_effect_and_flags_win() {
    let server = Server::start_with(Options {
        env: vec![
            ("MFA_POLICY", "nist-aal2".into()),
            ("MFA_NO_PASSWORDLESS", "true".into()),
        ],
        ..Options::default()
    });
    let out = server.stdout();
    assert!(out.contains("policy: nist-aal2"), "{out}");
    assert!(out.contains("passwordless login off"), "{out}");
    // --no-passwordless from the environment: the routes do not exist.
    let r = server.post("/api/auth/passkey/options", None, None).await;
    r.assert_problem(404, "NOT_FOUND");

    // A flag given on the command line wins over its variable.
    let server = Server::start_with(Options {
        env: vec![("MFA_POLICY", "nist-aal2".into())],
        extra_args: vec!["--policy".into(), "default".into()],
        ..Options::default()
    });
    assert!(server.stdout().contains("policy: default"));
}

#[tokio::test]
async fn logs_are_readable_by_default_and_json_lines_on_request() {
    // The harness asks for JSON: every line of stderr is one object, and a
    // security event carries its fields.
    let server = Server::start();
    let (token, mut app, _) = server.enrolled_user("json@example.com").await;
    let _ = (token, app.next_code().await);
    let stderr = server.stderr_once_it_holds("factor_enabled").await;
    for line in stderr.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(record.get("level").is_some(), "{line}");
    }
    let enabled = server
        .security_events()
        .into_iter()
        .find(|e| e["securityEvent"] == "factor_enabled")
        .expect("factor_enabled is logged");
    assert_eq!(enabled["target"], "mfa::security");
    assert!(enabled["userId"].as_str().is_some_and(|u| !u.is_empty()));

    // Without the setting: readable lines, the event's fields as `key=value`.
    let server = Server::start_with(Options {
        env: vec![("MFA_LOG_FORMAT", "text".into())],
        ..Options::default()
    });
    server.enrolled_user("text@example.com").await;
    let stderr = server.stderr_once_it_holds("factor_enabled").await;
    let line = stderr
        .lines()
        .find(|l| l.contains("security_event=\"factor_enabled\""))
        .unwrap_or_else(|| panic!("a readable security event: {stderr}"));
    assert!(
        line.contains(" INFO ") && line.contains("user_id="),
        "{line}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(line).is_err());
}

#[tokio::test]
async fn metrics_are_served_to_operators_and_count_what_happened() {
    let server = Server::start_with(Options {
        admin_token: Some(ADMIN_TOKEN.into()),
        extra_args: vec!["--metrics-addr".into(), "127.0.0.1:0".into()],
        ..Options::default()
    });
    let (_, mut app, _) = server.enrolled_user("metrics@example.com").await;
    // Two wrong codes at the second step, then a right one.
    let mfa_token = server.login_for_mfa("metrics@example.com").await;
    for _ in 0..2 {
        let r = server
            .login_mfa(&mfa_token, "code", &app.wrong_code())
            .await;
        r.assert_problem(401, "INVALID_CODE");
    }
    let mfa_token = server.login_for_mfa("metrics@example.com").await;
    let code = app.next_code().await;
    assert_eq!(
        server.login_mfa(&mfa_token, "code", &code).await.status,
        200
    );
    // A wrong password.
    let r = server
        .post(
            "/api/auth/login",
            None,
            Some(serde_json::json!({"email": "metrics@example.com", "password": "not it at all"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);

    // Without the operator's token: 401, and nothing is shown.
    let r = server.get("/metrics", None).await;
    r.assert_problem(401, "UNAUTHENTICATED");
    let r = server.get("/metrics", Some(ADMIN_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text;
    let count =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in:\n{text}"));
    assert_eq!(
        count(r#"mfa_verifications_total{method="totp",outcome="INVALID_CODE"}"#),
        2.0
    );
    // The set-up's confirmation and the login: two right TOTP codes.
    assert_eq!(
        count(r#"mfa_verifications_total{method="totp",outcome="ok"}"#),
        2.0
    );
    assert_eq!(
        count(r#"mfa_security_events_total{event="attempt_failed"}"#),
        2.0
    );
    assert_eq!(count(r#"app_password_checks_total{outcome="wrong"}"#), 1.0);
    assert!(count(r#"mfa_operations_total{operation="complete_login",outcome="ok"}"#) >= 1.0);
    // Store latency as a histogram, every call in its count.
    assert!(count(r#"mfa_store_seconds_count{call="load"}"#) >= 3.0);
    assert!(text.contains(r#"mfa_store_seconds_bucket{call="save",le="0.001"}"#));
    assert!(text.contains("mfa_hash_wait_seconds_bucket"), "{text}");
    assert_eq!(count("mfa_hash_permits_in_use"), 0.0);
    // No secret in any of it: the user's codes and the token are absent.
    assert!(!text.contains(&code) && !text.contains(ADMIN_TOKEN));

    // The second listener serves the same without a token.
    let stdout = server.stdout();
    let url = stdout
        .lines()
        .find_map(|l| l.strip_prefix("metrics: "))
        .unwrap_or_else(|| panic!("the metrics address: {stdout}"));
    let apart = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .expect("the metrics listener answers");
    assert_eq!(apart.status(), 200);
    let apart = apart.text().await.unwrap();
    assert!(apart.contains("mfa_verifications_total"), "{apart}");
}

#[tokio::test]
async fn without_operators_there_is_no_metrics_route() {
    let server = Server::start();
    server
        .get("/metrics", None)
        .await
        .assert_problem(404, "NOT_FOUND");
}

#[test]
fn the_importer_reads_its_flags_from_the_environment_too() {
    let importer = http_common::importer();
    let help = std::process::Command::new(&importer)
        .arg("--help")
        .output()
        .expect("the importer");
    let help = String::from_utf8_lossy(&help.stdout);
    for var in ["MFA_DATABASE", "MFA_KEY_FILE", "MFA_JOBS", "MFA_SHARD"] {
        assert!(help.contains(&format!("[env: {var}=")), "{var}: {help}");
    }
    let out = std::process::Command::new(&importer)
        .args(["--database", "unused.db", "-"])
        .env("MFA_JOBS", "0")
        .output()
        .expect("the importer");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jobs"));
}
