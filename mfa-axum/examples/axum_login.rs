//! An axum-login + tower-sessions application with in-memory users that
//! mounts `mfa-axum` under `/api`: `cargo run -p mfa-axum --example axum_login`.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::{Json, Router, extract::State, http::StatusCode, http::request::Parts, routing::post};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend};
use mfa::passkey::RelyingParty;
use mfa::{KeyId, Keyring, MasterKey, MemoryStore, Mfa, MfaContext, Policy};
use mfa_axum::{Body, LoginTokens, MfaHost, Problem, SessionState, TowerSessions};
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

fn verify(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
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
        let users = self.0.read().unwrap();
        let user = users.values().find(|u| u.email == email).cloned();
        Ok(user.filter(|u| verify(&pw, &u.hash)))
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
        let hash = self.users.0.read().unwrap().get(id).map(|u| u.hash.clone());
        let right = hash.is_some_and(|h| verify(password, &h));
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
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(Problem::internal)?;
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
            hash: hash.to_string(),
        },
    );
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// The password step; the rest of the login is mfa-axum's.
async fn login(
    State(app): State<App>,
    auth: AuthSession<Users>,
    parts: Parts,
    Body(body): Body<Value>,
) -> impl axum::response::IntoResponse {
    let Ok(Some(user)) = auth.authenticate(credentials(&body)?).await else {
        return Err(Problem::new(
            401,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
            "Wrong email or password.",
        ));
    };
    mfa_axum::login::after_password(&app, &parts, &user.id, body["deviceToken"].as_str()).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .iter()
        .skip_while(|a| *a != "--addr")
        .nth(1)
        .map_or("127.0.0.1:3000", |a| a);
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
    };
    let sessions = SessionManagerLayer::new(store).with_name("session");
    let router = Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .nest("/api", mfa_axum::router().into())
        .nest("/api", mfa_axum::passwordless_router().into())
        .layer(AuthManagerLayerBuilder::new(app.users.clone(), sessions).build())
        .layer(axum::middleware::from_fn(
            mfa_axum::problem::request_context,
        ))
        .with_state(app);
    println!("listening on http://{}", listener.local_addr()?);
    Ok(axum::serve(listener, router).await?)
}
