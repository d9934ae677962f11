//! The router on `tower-sessions`: the session travels in its cookie, a
//! change to the factor moves it to a new id, and the old cookie answers
//! `SESSION_REVOKED`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, request::Parts};
use axum::routing::post;
use mfa::testkit::{ManualClock, test_config};
use mfa::totp::{TotpParams, TotpSecret};
use mfa::{MemoryStore, Mfa};
use mfa_axum::{LoginTokens, MfaHost, Problem, SessionState, TowerSessions};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_sessions::{MemoryStore as SessionStore, SessionManagerLayer};

#[derive(Clone)]
struct Host {
    mfa: Arc<Mfa<MemoryStore>>,
    tokens: LoginTokens,
    sessions: TowerSessions<SessionStore>,
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
        self.sessions.read(parts).await
    }
    async fn issue(&self, parts: &Parts, state: SessionState) -> Result<Option<String>, Problem> {
        self.sessions.issue(parts, &state).await.map(|()| None)
    }
    async fn check_password(&self, _: &str, password: &str) -> Result<(), Problem> {
        (password == "pw")
            .then_some(())
            .ok_or_else(Problem::invalid_password)
    }
    async fn account_name(&self, user_id: &str) -> Result<String, Problem> {
        Ok(user_id.to_owned())
    }
}

async fn login(State(host): State<Host>, parts: Parts) -> impl axum::response::IntoResponse {
    mfa_axum::login::after_password(&host, &parts, "bob", None).await
}

/// Sends a request with the cookie `session`: the status, the body and the
/// cookie the answer sets, if any.
async fn call(
    router: &Router,
    path: &str,
    session: Option<&str>,
    body: Value,
) -> (u16, Value, Option<String>) {
    let method = if path == "/api/user/me/totp" {
        "GET"
    } else {
        "POST"
    };
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(id) = session {
        request = request.header("cookie", format!("session={id}"));
    }
    let request = request.body(Body::from(body.to_string())).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        cookie,
    )
}

#[tokio::test]
async fn a_change_to_the_factor_moves_the_session_and_revokes_the_old_cookie() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = ManualClock::new(now);
    let store = SessionStore::default();
    let host = Host {
        mfa: Arc::new(Mfa::new(MemoryStore::new(), test_config()).with_clock(clock.clone())),
        tokens: LoginTokens::new(&[3; 32]),
        sessions: TowerSessions::new(store.clone()),
    };
    let router = Router::new()
        .route("/login", post(login))
        .nest("/api", mfa_axum::router().into())
        .with_state(host)
        .layer(SessionManagerLayer::new(store).with_name("session"));

    let (status, answer, cookie) = call(&router, "/login", None, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({}), "no token: the session is the cookie");
    let first = cookie.expect("a session cookie");
    let (_, setup, _) = call(
        &router,
        "/api/user/me/totp/setup",
        Some(&first),
        json!({"password": "pw"}),
    )
    .await;
    let secret = TotpSecret::from_base32(setup["secret"].as_str().unwrap()).unwrap();
    let code = mfa::totp::generate(&secret, TotpParams::default(), clock.get()).unwrap();
    let (status, confirmed, cookie) = call(
        &router,
        "/api/user/me/totp/confirm",
        Some(&first),
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    assert!(confirmed.get("token").is_none(), "{confirmed}");
    let second = cookie.expect("a new session cookie");
    assert_ne!(first, second);

    let (status, problem, _) = call(&router, "/api/user/me/totp", Some(&first), json!({})).await;
    assert_eq!((status, &problem["code"]), (401, &json!("SESSION_REVOKED")));
    let (status, answer, _) = call(&router, "/api/user/me/totp", Some(&second), json!({})).await;
    assert_eq!((status, &answer["mfaEnabled"]), (200, &json!(true)));
    let (status, problem, _) = call(&router, "/api/user/me/totp", Some("garbage"), json!({})).await;
    assert_eq!((status, &problem["code"]), (401, &json!("UNAUTHENTICATED")));

    // A step-up moves the session too; the id it leaves is gone, not revoked.
    clock.advance(30);
    let code = mfa::totp::generate(&secret, TotpParams::default(), clock.get()).unwrap();
    let (status, stepped, cookie) = call(
        &router,
        "/api/auth/step-up",
        Some(&second),
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, 200, "{stepped}");
    let third = cookie.expect("a new session cookie");
    let (status, problem, _) = call(&router, "/api/user/me/totp", Some(&second), json!({})).await;
    assert_eq!((status, &problem["code"]), (401, &json!("UNAUTHENTICATED")));
    let (status, _, _) = call(&router, "/api/user/me/totp", Some(&third), json!({})).await;
    assert_eq!(status, 200);
}
