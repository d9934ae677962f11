//! An axum-login + tower-sessions application with in-memory users that
//! mounts `mfa-axum` under `/api`, and its page at `/`:
//! `cargo run -p mfa-axum --example axum_login`.
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::{Json, Router, extract::State, http::StatusCode, http::request::Parts, routing::post};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend};
use mfa::passkey::RelyingParty;
use mfa::{KeyId, Keyring, MasterKey, MemoryStore, Mfa, MfaContext, Policy};
use mfa_axum::{Body, LoginTokens, MfaHost, PasswordLock, Problem, SessionState, TowerSessions};
use serde_json::{Value, json};
use tower_sessions::{MemoryStore as SessionStore, SessionManagerLayer};

#[derive(Clone, Debug)]
struct User {
    id: String,
    email: String,
    hash: String,
}

impl AuthUser for User {
    type Id = String;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn session_auth_hash(&self) -> &[u8] {
        self.hash.as_bytes()
    }
}

fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

/// An unknown account's password is hashed too, against this: the answer
/// takes as long, and tells nothing about which accounts exist.
static NO_USER: LazyLock<String> = LazyLock::new(|| hash("no user"));

fn verify(password: &str, hash: Option<&str>) -> bool {
    let right = Argon2::default().verify_password(password.as_bytes(), hash.unwrap_or(&NO_USER));
    right.is_ok() && hash.is_some()
}

/// The users by id: axum-login's backend.
#[derive(Clone, Default)]
struct Users(Arc<RwLock<HashMap<String, User>>>);

impl AuthnBackend for Users {
    type User = User;
    type Credentials = (String, String); // email, password
    type Error = std::convert::Infallible;
    async fn authenticate(
        &self,
        (email, pw): Self::Credentials,
    ) -> Result<Option<User>, Self::Error> {
        let user = self
            .0
            .read()
            .unwrap()
            .values()
            .find(|u| u.email == email)
            .cloned();
        let right = verify(&pw, user.as_ref().map(|u| u.hash.as_str()));
        Ok(user.filter(|_| right))
    }
    async fn get_user(&self, id: &String) -> Result<Option<User>, Self::Error> {
        Ok(self.0.read().unwrap().get(id).cloned())
    }
}

/// What mfa-axum asks of the application.
#[derive(Clone)]
struct App {
    mfa: Arc<Mfa<MemoryStore>>,
    tokens: LoginTokens,
    sessions: TowerSessions<SessionStore>,
    users: Users,
    /// Every password check is charged here before it is hashed.
    lock: PasswordLock,
}

impl MfaHost for App {
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
        self.sessions.issue(parts, &state).await?;
        let mut auth: AuthSession<Users> = parts.extensions.get().cloned().unwrap();
        if let (None, Ok(Some(user))) = (&auth.user, self.users.get_user(&state.user_id).await) {
            auth.login(&user).await.map_err(Problem::internal)?; // the second step logs in
        }
        Ok(None) // the session travels in its cookie
    }
    async fn check_password(&self, id: &str, password: &str) -> Result<(), Problem> {
        let Ok(user) = self.users.get_user(&id.to_owned()).await;
        let user = user.ok_or_else(Problem::unauthenticated)?;
        let charge = self.lock.charge(&user.email)?;
        let right = verify(password, Some(&user.hash));
        charge.settle(right);
        right.then_some(()).ok_or_else(Problem::invalid_password)
    }
    async fn account_name(&self, id: &str) -> Result<String, Problem> {
        let user = self.users.0.read().unwrap().get(id).cloned();
        user.map(|u| u.email).ok_or_else(Problem::unauthenticated)
    }
}

/// `{email, password}`.
fn credentials(body: &Value) -> Result<(String, String), Problem> {
    match (body["email"].as_str(), body["password"].as_str()) {
        (Some(email), Some(pw)) => Ok((email.to_lowercase(), pw.to_owned())),
        _ => Err(Problem::validation("`email` and `password` are required.")),
    }
}

async fn register(
    State(app): State<App>,
    Body(body): Body<Value>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let (email, password) = credentials(&body)?;
    let hash = hash(&password);
    let id = format!("{:032x}", rand::random::<u128>());
    let mut users = app.users.0.write().unwrap();
    if users.values().any(|u| u.email == email) {
        return Err(Problem::new(
            409,
            "EMAIL_TAKEN",
            "Email taken",
            "This email has an account.",
        ));
    }
    users.insert(
        id.clone(),
        User {
            id: id.clone(),
            email,
            hash,
        },
    );
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// The password step, charged on the lock first; the rest of the login is mfa-axum's.
async fn login(
    State(app): State<App>,
    auth: AuthSession<Users>,
    parts: Parts,
    Body(body): Body<Value>,
) -> impl axum::response::IntoResponse {
    let credentials = credentials(&body)?;
    let charge = app.lock.charge(&credentials.0)?;
    let user = auth.authenticate(credentials).await;
    charge.settle(matches!(user, Ok(Some(_))));
    let Ok(Some(user)) = user else {
        return Err(Problem::new(
            401,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
            "Wrong email or password.",
        ));
    };
    mfa_axum::login::after_password(&app, &parts, &user.id, body["deviceToken"].as_str()).await
}

/// Ends the session (the page's "Sign out"): the login and its MFA state.
async fn logout(mut auth: AuthSession<Users>) -> Result<StatusCode, Problem> {
    auth.logout().await.map_err(Problem::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().skip_while(|a| *a != name).nth(1);
    let addr = arg("--addr").map_or("127.0.0.1:3000", |a| a);
    let mut lock = PasswordLock::new();
    // Tests only: a shorter wait after wrong passwords.
    if let Some(secs) = arg("--insecure-password-delay").and_then(|s| s.parse().ok()) {
        eprintln!("WARNING: --insecure-password-delay {secs}: never in production");
        lock = lock.with_insecure_base_delay(std::time::Duration::from_secs(secs));
    }
    let master = match std::env::var("MFA_MASTER_KEY") {
        Ok(key) => MasterKey::from_base64(&key)?,
        Err(_) => MasterKey::generate(&mut rand::rng()),
    };
    // Passkeys for this origin (the relying party `localhost`).
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let origin = format!("http://localhost:{}", listener.local_addr()?.port());
    let relying_party = RelyingParty::new("localhost", "axum-login example", &[&origin])?;
    let policy = Policy::new("axum-login example");
    let context = MfaContext::new(Keyring::new(KeyId(1), master), policy)?;
    let context = context.with_relying_party(relying_party);
    let store = SessionStore::default();
    let app = App {
        mfa: Arc::new(Mfa::new(MemoryStore::new(), context)),
        tokens: LoginTokens::new(&mfa_axum::random_key()),
        sessions: TowerSessions::new(store.clone()),
        users: Users::default(),
        lock,
    };
    let sessions = SessionManagerLayer::new(store).with_name("session");
    let router = Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .nest("/api", mfa_axum::router().into())
        .nest("/api", mfa_axum::passwordless_router().into())
        .merge(mfa_axum::page_router::<App>()) // the browser page at /
        .layer(AuthManagerLayerBuilder::new(app.users.clone(), sessions).build())
        .layer(axum::middleware::from_fn(
            mfa_axum::problem::request_context,
        ))
        .with_state(app);
    println!("listening on http://{}", listener.local_addr()?);
    Ok(axum::serve(listener, router).await?)
}
