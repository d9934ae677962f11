//! The router on bearer sessions, driven in process: the password step, setup
//! and confirm (the old token revoked), the second step once, step-up and
//! the `Fresh` extractor on a route of the application, and the OpenAPI
//! paths.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, request::Parts};
use axum::routing::{get, post};
use mfa::testkit::{ManualClock, test_config};
use mfa::totp::{TotpParams, TotpSecret};
use mfa::{MemoryStore, Mfa};
use mfa_axum::{BearerSessions, Fresh, LoginTokens, MfaHost, MfaUser, Problem, SessionState};
use serde_json::{Value, json};
use tower::ServiceExt as _;

#[derive(Clone)]
struct Host {
    mfa: Arc<Mfa<MemoryStore>>,
    tokens: LoginTokens,
    sessions: BearerSessions,
    /// User id → password.
    passwords: Arc<HashMap<String, String>>,
}

impl MfaHost for Host {
    type Store = MemoryStore;
    fn mfa(&self) -> &Mfa<MemoryStore> {
        &self.mfa
    }
    fn login_tokens(&self) -> &LoginTokens {
        &self.tokens
    }
    async fn session(&self, parts: &Parts) -> Result<Option<SessionState>, Problem> {
        Ok(self.sessions.read(parts))
    }
    async fn issue(&self, _: &Parts, state: SessionState) -> Result<Option<String>, Problem> {
        self.sessions.issue(&state).map(Some)
    }
    async fn check_password(&self, user_id: &str, password: &str) -> Result<(), Problem> {
        match self.passwords.get(user_id) {
            Some(right) if right == password => Ok(()),
            _ => Err(Problem::invalid_password()),
        }
    }
    async fn account_name(&self, user_id: &str) -> Result<String, Problem> {
        Ok(format!("{user_id}@example.com"))
    }
    /// This test's operators name themselves in a header.
    async fn operator(&self, parts: &Parts) -> Result<Option<String>, Problem> {
        let name = parts
            .headers
            .get("x-operator")
            .and_then(|v| v.to_str().ok());
        Ok(name.map(str::to_owned))
    }
    async fn user_exists(&self, user_id: &str) -> Result<bool, Problem> {
        Ok(self.passwords.contains_key(user_id))
    }
}

/// The application's password step: the password of user `alice` is `pw`.
async fn login(
    State(host): State<Host>,
    parts: Parts,
    mfa_axum::Body(body): mfa_axum::Body<Value>,
) -> Result<axum::Json<mfa_axum::login::LoginAnswer>, Problem> {
    let id = body["user"].as_str().unwrap_or_default();
    host.check_password(id, body["password"].as_str().unwrap_or_default())
        .await?;
    mfa_axum::login::after_password(&host, &parts, id, None).await
}

/// A route of the application that wants a second factor shown in the last minute.
async fn transfer(Fresh(user): Fresh<Host, 60>) -> String {
    format!("sent by {}", user.state.user_id)
}

/// A route of the application for any logged-in user.
async fn me(user: MfaUser<Host>) -> String {
    user.state.user_id
}

struct App {
    router: Router,
    clock: ManualClock,
}

impl App {
    fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let clock = ManualClock::new(now);
        let mfa = Mfa::new(MemoryStore::new(), test_config()).with_clock(clock.clone());
        let host = Host {
            mfa: Arc::new(mfa),
            tokens: LoginTokens::new(&[1; 32]),
            sessions: BearerSessions::new(&[2; 32], 3600),
            passwords: Arc::new(HashMap::from([("alice".into(), "pw".into())])),
        };
        let router = Router::new()
            .route("/login", post(login))
            .route("/transfer", post(transfer))
            .route("/me", get(me))
            .nest("/api", mfa_axum::router().into())
            .nest("/api", mfa_axum::operator_router().into())
            .with_state(host)
            .layer(axum::middleware::from_fn(
                mfa_axum::problem::request_context,
            ));
        App { router, clock }
    }

    async fn call(&self, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        self.call_as(None, path, token, body).await
    }

    /// [`App::call`] by the operator `operator`.
    async fn call_as(
        &self,
        operator: Option<&str>,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let gets = ["/me", "/api/user/me/totp", "/api/admin/compliance"];
        let method = if body.is_some() || !gets.iter().any(|g| path.starts_with(g)) {
            "POST"
        } else {
            "GET"
        };
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(operator) = operator {
            request = request.header("x-operator", operator);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The code of `secret` now, then the clock a step on.
    fn code(&self, secret: &str) -> String {
        let secret = TotpSecret::from_base32(secret).unwrap();
        let code = mfa::totp::generate(&secret, TotpParams::default(), self.clock.get()).unwrap();
        self.clock.advance(30);
        code
    }
}

impl App {
    /// `alice` logged in with MFA on: her session and her app's secret.
    async fn enrolled(&self) -> (String, String) {
        let password = json!({"user": "alice", "password": "pw"});
        let first = token(&self.call("/login", None, Some(password)).await.1);
        let body = json!({"password": "pw"});
        let (_, setup) = self
            .call("/api/user/me/totp/setup", Some(&first), Some(body))
            .await;
        let secret = setup["secret"].as_str().unwrap().to_owned();
        let body = json!({"code": self.code(&secret)});
        let (status, confirmed) = self
            .call("/api/user/me/totp/confirm", Some(&first), Some(body))
            .await;
        assert_eq!(status, 200, "{confirmed}");
        (token(&confirmed), secret)
    }
}

fn token(answer: &Value) -> String {
    answer["token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn the_flow_on_bearer_sessions() {
    let app = App::new();
    let password = json!({"user": "alice", "password": "pw"});
    let (status, answer) = app.call("/login", None, Some(password.clone())).await;
    assert_eq!(status, 200, "{answer}");
    let first = token(&answer);
    assert_eq!(app.call("/me", Some(&first), None).await.1, "alice");

    // Setup takes the password; confirming revokes the session that did it.
    let (status, problem) = app
        .call(
            "/api/user/me/totp/setup",
            Some(&first),
            Some(json!({"password": "no"})),
        )
        .await;
    assert_eq!(
        (status, &problem["code"]),
        (400, &json!("INVALID_PASSWORD"))
    );
    assert!(problem["requestId"].is_string(), "{problem}");
    let (_, setup) = app
        .call(
            "/api/user/me/totp/setup",
            Some(&first),
            Some(json!({"password": "pw"})),
        )
        .await;
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let (status, confirmed) = app
        .call(
            "/api/user/me/totp/confirm",
            Some(&first),
            Some(json!({"code": app.code(&secret)})),
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["backupCodes"].as_array().unwrap().len(), 10);
    let (status, problem) = app.call("/api/user/me/totp", Some(&first), None).await;
    assert_eq!((status, &problem["code"]), (401, &json!("SESSION_REVOKED")));
    let second = token(&confirmed);
    assert_eq!(
        app.call("/api/user/me/totp", Some(&second), None).await.1["mfaEnabled"],
        true
    );

    // The password step now asks for the second step, completed once.
    let (_, answer) = app.call("/login", None, Some(password)).await;
    assert_eq!(answer["mfaRequired"], true, "{answer}");
    // Without passkeys the second step takes a code: no `methods`.
    assert_eq!(answer.get("methods"), None, "{answer}");
    let mfa_token = answer["mfaToken"].as_str().unwrap();
    let body = json!({"mfaToken": mfa_token, "code": app.code(&secret)});
    let (status, proven) = app
        .call("/api/auth/login/mfa", None, Some(body.clone()))
        .await;
    assert_eq!(status, 200, "{proven}");
    assert_eq!(proven["backupCodesRemaining"], 10);
    let (status, problem) = app.call("/api/auth/login/mfa", None, Some(body)).await;
    assert_eq!(
        (status, &problem["code"]),
        (401, &json!("INVALID_MFA_TOKEN"))
    );

    // A fresh proof passes `Fresh<_, 60>`; two minutes later it does not,
    // and a step-up gives a new one.
    let third = token(&proven);
    assert_eq!(
        app.call("/transfer", Some(&third), None).await.1,
        "sent by alice"
    );
    app.clock.advance(120);
    let (status, problem) = app.call("/transfer", Some(&third), None).await;
    assert_eq!(
        (status, &problem["code"]),
        (403, &json!("STEP_UP_REQUIRED"))
    );
    let (status, problem) = app
        .call(
            "/api/auth/step-up",
            Some(&third),
            Some(json!({"code": "000000x"})),
        )
        .await;
    assert_eq!((status, &problem["code"]), (401, &json!("INVALID_CODE")));
    let (status, stepped) = app
        .call(
            "/api/auth/step-up",
            Some(&third),
            Some(json!({"code": app.code(&secret)})),
        )
        .await;
    assert_eq!(status, 200, "{stepped}");
    let fourth = token(&stepped);
    assert_eq!(app.call("/transfer", Some(&fourth), None).await.0, 200);

    // No session at all.
    let (status, problem) = app.call("/api/user/me/totp", None, None).await;
    assert_eq!((status, &problem["code"]), (401, &json!("UNAUTHENTICATED")));
}

#[test]
fn the_openapi_paths_are_the_contracts() {
    let (_, document) = utoipa_axum::router::OpenApiRouter::<Host>::new()
        .nest("/api", mfa_axum::router())
        .nest("/api", mfa_axum::passwordless_router())
        .nest("/api", mfa_axum::operator_router())
        .split_for_parts();
    let paths: Vec<&str> = document.paths.paths.keys().map(String::as_str).collect();
    for path in [
        "/api/user/me/totp",
        "/api/user/me/totp/setup",
        "/api/user/me/totp/confirm",
        "/api/user/me/totp/backup-codes/regenerate",
        "/api/user/profile/mfa/backup-codes",
        "/api/user/me/totp/disable",
        "/api/user/me/devices/forget",
        "/api/user/me/totp/replace",
        "/api/user/me/totp/replace/confirm",
        "/api/user/me/passkeys/options",
        "/api/user/me/passkeys",
        "/api/user/me/passkeys/{id}",
        "/api/auth/step-up/options",
        "/api/auth/passkey/options",
        "/api/auth/passkey",
        "/api/admin/compliance",
        "/api/admin/users/{id}/mfa/unlock",
        "/api/admin/users/{id}/mfa/reset",
        "/api/auth/login/mfa",
        "/api/auth/step-up",
    ] {
        assert!(paths.contains(&path), "{path} in {paths:?}");
    }
}

#[tokio::test]
async fn a_new_phone_takes_the_password_and_a_code() {
    let app = App::new();
    let (session, old) = app.enrolled().await;
    let path = "/api/user/me/totp/replace";
    let wrong = json!({"password": "no", "code": app.code(&old)});
    let (status, problem) = app.call(path, Some(&session), Some(wrong)).await;
    assert_eq!(
        (status, &problem["code"]),
        (400, &json!("INVALID_PASSWORD"))
    );
    let (status, problem) = app
        .call(path, Some(&session), Some(json!({"password": "pw"})))
        .await;
    assert_eq!(
        (status, &problem["code"]),
        (400, &json!("VALIDATION_FAILED"))
    );
    let body = json!({"password": "pw", "code": app.code(&old)});
    let (status, setup) = app.call(path, Some(&session), Some(body)).await;
    assert_eq!(status, 200, "{setup}");
    let new = setup["secret"].as_str().unwrap().to_owned();
    let body = json!({"code": app.code(&new)});
    let (status, done) = app
        .call(
            "/api/user/me/totp/replace/confirm",
            Some(&session),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let (status, problem) = app.call("/api/user/me/totp", Some(&session), None).await;
    assert_eq!((status, &problem["code"]), (401, &json!("SESSION_REVOKED")));
    // The new app steps up; the old one no longer does.
    let fresh = token(&done);
    let step_up = "/api/auth/step-up";
    let (status, _) = app
        .call(step_up, Some(&fresh), Some(json!({"code": app.code(&old)})))
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .call(step_up, Some(&fresh), Some(json!({"code": app.code(&new)})))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn operators_unlock_and_reset() {
    let app = App::new();
    let (session, _) = app.enrolled().await;
    let unlock = "/api/admin/users/alice/mfa/unlock";
    let reason = json!({"reason": "ticket 42"});
    let (status, problem) = app.call(unlock, None, Some(reason.clone())).await;
    assert_eq!((status, &problem["code"]), (401, &json!("UNAUTHENTICATED")));
    let (status, problem) = app
        .call_as(Some("ops"), unlock, None, Some(json!({})))
        .await;
    assert_eq!(
        (status, &problem["code"]),
        (400, &json!("VALIDATION_FAILED"))
    );
    let nobody = "/api/admin/users/nobody/mfa/unlock";
    let (status, problem) = app
        .call_as(Some("ops"), nobody, None, Some(reason.clone()))
        .await;
    assert_eq!((status, &problem["code"]), (404, &json!("NOT_FOUND")));

    // Locked by five wrong codes, unlocked by an operator.
    for _ in 0..5 {
        app.call(
            "/api/auth/step-up",
            Some(&session),
            Some(json!({"code": "000000"})),
        )
        .await;
    }
    let status = app.call("/api/user/me/totp", Some(&session), None).await.1;
    assert_eq!(status["lockedOut"], true);
    let (status, done) = app
        .call_as(Some("ops"), unlock, None, Some(reason.clone()))
        .await;
    assert_eq!((status, &done["success"]), (200, &json!(true)));
    let status = app.call("/api/user/me/totp", Some(&session), None).await.1;
    assert_eq!(status["lockedOut"], false);

    // A reset turns MFA off and revokes the session.
    let reset = "/api/admin/users/alice/mfa/reset";
    let (status, _) = app.call_as(Some("ops"), reset, None, Some(reason)).await;
    assert_eq!(status, 200);
    let (status, problem) = app.call("/api/user/me/totp", Some(&session), None).await;
    assert_eq!((status, &problem["code"]), (401, &json!("SESSION_REVOKED")));
    let password = json!({"user": "alice", "password": "pw"});
    let (_, answer) = app.call("/login", None, Some(password)).await;
    assert!(answer["token"].is_string(), "{answer}");
}

#[tokio::test]
async fn operators_read_the_compliance_report() {
    let app = App::new();
    let path = "/api/admin/compliance";
    let (status, problem) = app.call(path, None, None).await;
    assert_eq!((status, &problem["code"]), (401, &json!("UNAUTHENTICATED")));
    let (status, report) = app.call_as(Some("ops"), path, None, None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["profile"], "nist-800-63b-4-aal2");
    assert!(!report["findings"].as_array().unwrap().is_empty());
    let (status, report) = app
        .call_as(
            Some("ops"),
            "/api/admin/compliance?profile=asvs-5.0-l3",
            None,
            None,
        )
        .await;
    assert_eq!((status, &report["profile"]), (200, &json!("asvs-5.0-l3")));
    for query in ["?profile=nope", "?profile=asvs-5.0-l2&profile=asvs-5.0-l3"] {
        let (status, problem) = app
            .call_as(Some("ops"), &format!("{path}{query}"), None, None)
            .await;
        assert_eq!(
            (status, &problem["code"]),
            (400, &json!("VALIDATION_FAILED"))
        );
    }
}

#[test]
fn every_operation_documents_its_answer_and_its_problems() {
    let (_, document) = utoipa_axum::router::OpenApiRouter::<Host>::new()
        .nest("/api", mfa_axum::router())
        .nest("/api", mfa_axum::passwordless_router())
        .nest("/api", mfa_axum::operator_router())
        .split_for_parts();
    let document = serde_json::to_value(&document).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let success: Vec<_> = responses.keys().filter(|s| s.starts_with('2')).collect();
            assert_eq!(success.len(), 1, "{method} {path}");
            for (status, response) in responses {
                let content = response["content"].as_object();
                let content = content.unwrap_or_else(|| panic!("{method} {path} {status}: a body"));
                if status.starts_with('2') {
                    assert!(content.contains_key("application/json"), "{method} {path}");
                } else {
                    assert_eq!(
                        content["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/ProblemDetails",
                        "{method} {path} {status}"
                    );
                }
            }
            let session = path.starts_with("/api/user/") || path.starts_with("/api/auth/step-up");
            let operator = path.starts_with("/api/admin/");
            if session || operator {
                assert!(responses.contains_key("401"), "{method} {path}: 401");
            }
        }
    }
}
