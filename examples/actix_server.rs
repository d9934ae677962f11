//! The MFA endpoints of the example server's contract on actix-web 4, over
//! the same crate calls as the axum server (`examples/server/`): the proof
//! that the crate is not tied to one web framework.
//!
//! ```sh
//! cargo run --bin actix_server -- --addr 127.0.0.1:8081 --database ./mfa-actix.db
//! ```
//!
//! Its MFA routes — setup (with the password), confirm, status, the login
//! second step, the two regenerate routes and disable — answer exactly as
//! the axum server's do:
//! the black-box suite's MFA part (`examples/server/tests/http_mfa/`) runs
//! against both. Passkeys too: registering one (`POST
//! /api/user/me/passkeys/options` with the password, then `POST
//! /api/user/me/passkeys`) and the second step with one (`passkeyOptions` at
//! the password step, `{mfaToken, passkey}` at `/api/auth/login/mfa`), for
//! the relying party `--rp-id` (default `localhost`) and its `--origin`
//! (default `http://localhost:<port>`). Its accounts are simpler: kept in memory (MFA records are
//! in SQLite, or in memory with `--database :memory:`), opaque random session
//! and `mfaToken`s held in memory instead of signed JWTs, and no password
//! lock, remembered devices, step-up, passwordless login, passkey
//! management, replacement or operator routes. The
//! errors are the crate's own problem documents (`mfa::http`), with the
//! request's id and path added by one middleware.
//!
//! The master key comes from `MFA_MASTER_KEY` (base64 of 32 bytes); without
//! it a random key is used and the records cannot be read after a restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use mfa::http::ProblemDetails;
use mfa::passkey::{PublicKeyCredential, RegisterPublicKeyCredential, RelyingParty};
use mfa::{
    Epoch, KeyId, Keyring, LoginChallenge, LoginStep, MasterKey, Mfa, MfaContext, MfaEnrollment,
    Policy, Proof, Reauth, SqliteStore,
};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// A password or code from a request body: wiped on drop.
type Secret = Zeroizing<String>;

/// A session lasts an hour.
const SESSION_SECS: u64 = 60 * 60;

struct State {
    mfa: Mfa<SqliteStore>,
    /// Email → (user id, Argon2id PHC string).
    accounts: Mutex<HashMap<String, (String, String)>>,
    /// Verified against for an unknown email, so it costs what a known one does.
    dummy_hash: String,
    sessions: Mutex<HashMap<String, Session>>,
    /// `mfaToken` → its login challenge (which the crate completes at most
    /// once) and the user's email.
    challenges: Mutex<HashMap<String, (LoginChallenge, String)>>,
}

/// A bearer session: its user, the epoch it was issued at and its proof.
#[derive(Clone)]
struct Session {
    user_id: String,
    email: String,
    epoch: Epoch,
    proof: Option<Proof>,
    expires: u64,
}

type Answer = Result<HttpResponse, Problem>;

// ---------------------------------------------------------------- handlers

async fn login_mfa(state: web::Data<State>, body: web::Json<MfaLogin>) -> Answer {
    let body = body.into_inner();
    let token = body.mfa_token.as_deref().unwrap_or_default();
    let found = lock(&state.challenges).get(token).cloned();
    let (challenge, email) = found.ok_or(mfa::Error::InvalidChallenge)?;
    let verified = match body.passkey {
        Some(_) if body.code.code.is_some() || body.code.backup_code.is_some() => {
            return Err(Problem::validation(
                "Give exactly one of `code`, `backupCode` and `passkey`.",
            ));
        }
        // A passkey answering the `passkeyOptions` of the password step.
        Some(passkey) => {
            let credential: PublicKeyCredential = credential(passkey, "passkey")?;
            if !challenge.accepts_passkey() {
                return Err(Problem::from(mfa::Error::InvalidPasskey).at_login_step());
            }
            (state
                .mfa
                .complete_login_with_passkey(&challenge, &credential)
                .await)
                .map_err(|e| Problem::from(e).at_login_step())?
        }
        None => {
            let code = body.code.get(state.mfa.context().policy().totp.digits)?;
            (state.mfa.complete_login(&challenge, code).await)
                .map_err(|e| Problem::from(e).at_login_step())?
        }
    };
    let (id, proof) = (challenge.user_id(), verified.proof);
    let token = state.new_session(id, &email, proof.epoch, Some(proof));
    let mut answer = json!(mfa::http::VerifiedAnswer::from(&verified));
    answer["token"] = json!(token);
    ok(answer)
}

async fn passkey_options(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<Password>,
) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    // Binding a factor: the password, and while MFA is on a recent proof.
    state.check_password(&session, &body.password).await?;
    let options = state
        .mfa
        .begin_passkey_registration(&session.user_id, &session.email, session.proof.as_ref())
        .await?;
    ok(options_json(&options))
}

async fn add_passkey(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<NewPasskey>,
) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    let body = body.into_inner();
    let name = body
        .name
        .as_deref()
        .ok_or_else(|| Problem::validation("`name` is required."))?;
    let name = mfa::passkey::PasskeyPolicy::check_name(name)
        .map_err(|e| Problem::validation(&e.public_detail()))?;
    let credential: RegisterPublicKeyCredential = credential(body.credential, "credential")?;
    let added = (state.mfa)
        .confirm_passkey_registration(&session.user_id, name, &credential, session.proof.as_ref())
        .await?;
    let passkey = &added.passkey;
    let mut answer = json!({
        "passkey": {
            "id": passkey.id(),
            "name": passkey.name(),
            "createdAt": rfc3339(passkey.created_at()),
            "lastUsedAt": passkey.last_used_at().map(rfc3339),
            "backupEligible": passkey.backup_eligible(),
            "backedUp": passkey.backed_up(),
        },
        "token": state.proven_session(&session, added.proof),
    });
    if let Some(codes) = &added.backup_codes {
        answer["backupCodes"] = json!(codes.as_strs());
    }
    Ok(HttpResponse::Created().json(answer))
}

async fn status(state: web::Data<State>, req: HttpRequest) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    ok(json!(state.mfa.status(&session.user_id).await?))
}

async fn setup(state: web::Data<State>, req: HttpRequest, body: web::Json<Password>) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    // A session alone never binds a factor: the password first.
    state.check_password(&session, &body.password).await?;
    let setup = state
        .mfa
        .begin_setup(&session.user_id, &session.email)
        .await?;
    Ok(HttpResponse::Ok().json(mfa::http::SetupAnswer::new(&setup)?))
}

async fn confirm(state: web::Data<State>, req: HttpRequest, body: web::Json<Code>) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    let enabled = state
        .mfa
        .confirm_setup(&session.user_id, body.get()?)
        .await?;
    let token = state.proven_session(&session, enabled.proof);
    ok(json!({"success": true, "backupCodes": enabled.backup_codes.as_strs(), "token": token}))
}

async fn regenerate(state: web::Data<State>, req: HttpRequest) -> Answer {
    let (session, record) = state.authenticate(&req).await?;
    let proof = Proof::required(session.proof, &record)?;
    let reauth = Reauth::RecentProof(&proof);
    let codes = state
        .mfa
        .regenerate_backup_codes(&session.user_id, reauth)
        .await?;
    Ok(HttpResponse::Ok().json(mfa::http::BackupCodesAnswer::new(&codes)))
}

async fn regenerate_strict(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<PasswordAndCode>,
) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    let code = state.reauthenticate(&session, &body).await?;
    let reauth = Reauth::TotpCode(code);
    let codes = state
        .mfa
        .regenerate_backup_codes(&session.user_id, reauth)
        .await?;
    ok(json!({"backup_codes": codes.as_strs()}))
}

async fn disable(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<PasswordAndCode>,
) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    let code = state.reauthenticate(&session, &body).await?;
    let proof = state.mfa.disable(&session.user_id, code).await?;
    ok(json!({"success": true, "token": state.proven_session(&session, proof)}))
}

// ------------------------------------------------ accounts (simpler than the axum server's)

async fn register(state: web::Data<State>, body: web::Json<Credentials>) -> Answer {
    let email = body.email()?;
    let password = body.password()?;
    if !(8..=1024).contains(&password.chars().count()) {
        return Err(Problem::validation(
            "`password` must have 8 to 1024 characters.",
        ));
    }
    let hash = hash_password(password.clone()).await?;
    let id = hex(&rand::random::<[u8; 16]>());
    let mut accounts = lock(&state.accounts);
    if accounts.contains_key(&email) {
        return Err(Problem::new(
            409,
            "EMAIL_TAKEN",
            "Email taken",
            "An account with this email already exists.",
        ));
    }
    accounts.insert(email, (id.clone(), hash));
    Ok(HttpResponse::Created().json(json!({"id": id})))
}

async fn login(state: web::Data<State>, body: web::Json<Credentials>) -> Answer {
    let email = body
        .email
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let password = body.password()?;
    let account = lock(&state.accounts).get(&email).cloned();
    let hash = account
        .as_ref()
        .map_or(&state.dummy_hash, |(_, hash)| hash)
        .clone();
    let verified = verify_password(password.clone(), hash).await?;
    let Some((id, _)) = account.filter(|_| verified) else {
        return Err(Problem::new(
            401,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
            "The email or password is wrong.",
        ));
    };
    match state.mfa.begin_login(&id, None).await? {
        LoginStep::SecondFactor(challenge) => {
            let mut answer = json!({"mfaRequired": true});
            if let Some(options) = challenge.passkey_options() {
                let has_app = state.mfa.status(&id).await?.mfa_method == Some(mfa::MfaMethod::Totp);
                let methods = [
                    has_app.then_some("totp"),
                    Some("backupCode"),
                    Some("passkey"),
                ];
                answer["methods"] = json!(methods.into_iter().flatten().collect::<Vec<_>>());
                answer["passkeyOptions"] = options_json(options);
            }
            let token = random_token();
            let mut challenges = lock(&state.challenges);
            challenges.retain(|_, (c, _)| c.expires_at() > now());
            challenges.insert(token.clone(), (challenge, email));
            answer["mfaToken"] = json!(token);
            ok(answer)
        }
        LoginStep::Complete(epoch) | LoginStep::RememberedDevice(epoch) => {
            ok(json!({"token": state.new_session(&id, &email, epoch, None)}))
        }
        _ => Err(Problem::internal()),
    }
}

impl State {
    /// The session of the request's bearer token, still at the user's
    /// epoch, and the user's record as loaded to check it.
    async fn authenticate(&self, req: &HttpRequest) -> Result<(Session, MfaEnrollment), Problem> {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let session = token.and_then(|t| lock(&self.sessions).get(t).cloned());
        let session = session
            .filter(|s| s.expires > now())
            .ok_or_else(Problem::unauthenticated)?;
        let record = self.mfa.load(&session.user_id).await?;
        record
            .check_epoch(session.epoch)
            .map_err(|e| Problem::from(e).with_bearer_challenge())?;
        Ok((session, record))
    }

    /// The password first: a wrong one answers `INVALID_PASSWORD` and the
    /// code is neither looked at nor counted.
    async fn reauthenticate<'a>(
        &self,
        session: &Session,
        body: &'a PasswordAndCode,
    ) -> Result<&'a str, Problem> {
        if body.password.is_none() {
            return Err(Problem::validation("`password` is required."));
        }
        let code = body
            .code
            .as_deref()
            .ok_or_else(|| Problem::validation("`code` is required."))?;
        self.check_password(session, &body.password).await?;
        Ok(code)
    }

    /// The session user's password: 400 `VALIDATION_FAILED` without it, 400
    /// `INVALID_PASSWORD` when it is wrong.
    async fn check_password(
        &self,
        session: &Session,
        password: &Option<Secret>,
    ) -> Result<(), Problem> {
        let password = password
            .as_ref()
            .ok_or_else(|| Problem::validation("`password` is required."))?;
        let hash = lock(&self.accounts)
            .get(&session.email)
            .map(|(_, h)| h.clone());
        let hash = hash.ok_or_else(Problem::unauthenticated)?;
        if !verify_password(password.clone(), hash).await? {
            return Err(Problem::new(
                400,
                "INVALID_PASSWORD",
                "Invalid password",
                "The password is wrong.",
            ));
        }
        Ok(())
    }

    fn new_session(
        &self,
        user_id: &str,
        email: &str,
        epoch: Epoch,
        proof: Option<Proof>,
    ) -> String {
        let token = random_token();
        let mut sessions = lock(&self.sessions);
        let now = now();
        sessions.retain(|_, s| s.expires > now);
        let session = Session {
            user_id: user_id.to_owned(),
            email: email.to_owned(),
            epoch,
            proof,
            expires: now + SESSION_SECS,
        };
        sessions.insert(token.clone(), session);
        token
    }

    /// A session with a fresh proof, bound to the proof's epoch.
    fn proven_session(&self, session: &Session, proof: Proof) -> String {
        self.new_session(&session.user_id, &session.email, proof.epoch, Some(proof))
    }
}

// ---------------------------------------------------------------- bodies

#[derive(Deserialize)]
struct Credentials {
    email: Option<String>,
    password: Option<Secret>,
}

impl Credentials {
    fn email(&self) -> Result<String, Problem> {
        let email = self.email.as_deref().map(str::trim).unwrap_or_default();
        let plausible = email.len() <= 254
            && email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plausible {
            return Err(Problem::validation("`email` must be an email address."));
        }
        Ok(email.to_lowercase())
    }

    fn password(&self) -> Result<&Secret, Problem> {
        self.password
            .as_ref()
            .ok_or_else(|| Problem::validation("`password` is required."))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MfaLogin {
    mfa_token: Option<String>,
    #[serde(flatten)]
    code: OneCode,
    /// The browser's answer to `passkeyOptions` (`PublicKeyCredential.toJSON()`).
    passkey: Option<Value>,
}

/// `{name, credential}`: a new passkey, as `navigator.credentials.create()`
/// answered the options.
#[derive(Deserialize)]
struct NewPasskey {
    name: Option<String>,
    credential: Option<Value>,
}

/// `{code}` (TOTP) or `{backupCode}`: exactly one, each of its own shape.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OneCode {
    code: Option<Secret>,
    backup_code: Option<Secret>,
}

impl OneCode {
    fn get(&self, digits: u8) -> Result<&str, Problem> {
        let (code, backup_code) = (self.code.as_deref(), self.backup_code.as_deref());
        mfa::http::one_code(
            code.map(String::as_str),
            backup_code.map(String::as_str),
            digits,
        )
        .map_err(|e| Problem::from(e).at_login_step())?
        .ok_or_else(|| Problem::validation("Give exactly one of `code` and `backupCode`."))
    }
}

#[derive(Deserialize)]
struct Code {
    code: Option<Secret>,
}

impl Code {
    /// A missing code is `INVALID_CODE`, as an empty one would be.
    fn get(&self) -> Result<&str, mfa::Error> {
        self.code
            .as_deref()
            .map(String::as_str)
            .ok_or(mfa::Error::MalformedCode(
                mfa::error::CodeFormatError::Empty,
            ))
    }
}

/// `{password}`: what setup takes, so that a session alone binds no factor.
#[derive(Deserialize)]
struct Password {
    password: Option<Secret>,
}

#[derive(Deserialize)]
struct PasswordAndCode {
    password: Option<Secret>,
    code: Option<Secret>,
}

// ---------------------------------------------------------------- errors

/// An error answer: the crate's problem document, or one of the server's own.
#[derive(Debug)]
struct Problem {
    problem: Box<ProblemDetails>,
    retry_after: Option<u64>,
    bearer_challenge: bool,
}

impl Problem {
    fn new(status: u16, code: &str, title: &str, detail: &str) -> Self {
        let type_uri = format!(
            "urn:mfa-example-server:problem:{}",
            code.to_ascii_lowercase().replace('_', "-")
        );
        let problem = ProblemDetails::new(status, code, title, detail).with_type(type_uri);
        Problem {
            problem: Box::new(problem),
            retry_after: None,
            bearer_challenge: false,
        }
    }

    fn validation(detail: &str) -> Self {
        Problem::new(400, "VALIDATION_FAILED", "Validation failed", detail)
    }

    fn unauthenticated() -> Self {
        Problem::new(
            401,
            "UNAUTHENTICATED",
            "Unauthenticated",
            "A valid bearer token is required.",
        )
        .with_bearer_challenge()
    }

    fn internal() -> Self {
        Problem::new(
            500,
            "INTERNAL",
            "Internal error",
            "An internal error occurred.",
        )
    }

    fn with_bearer_challenge(mut self) -> Self {
        self.bearer_challenge = true;
        self
    }

    /// At a login step a wrong or malformed code is 401, not 400, and so is
    /// a passkey that is not accepted.
    fn at_login_step(mut self) -> Self {
        *self.problem = self.problem.at_login_step();
        if self.problem.code == mfa::Error::InvalidPasskey.code() {
            self.problem.status = 401;
        }
        self
    }

    /// The problem of an answer that carried none (a route's 404 or 405).
    fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            404 => Problem::new(404, "NOT_FOUND", "Not found", "No route matches this path."),
            405 => Problem::new(
                405,
                "METHOD_NOT_ALLOWED",
                "Method not allowed",
                "This route does not take this method.",
            ),
            413 => Problem::new(
                413,
                "PAYLOAD_TOO_LARGE",
                "Payload too large",
                "The body is larger than 16 KiB.",
            ),
            s if s >= 500 => Problem::internal(),
            s => Problem::new(
                s,
                "BAD_REQUEST",
                "Bad request",
                "The request could not be read.",
            ),
        }
    }
}

impl From<mfa::Error> for Problem {
    fn from(error: mfa::Error) -> Self {
        if !error.is_client_error() {
            eprintln!("error: {error}");
        }
        let problem = ProblemDetails::from(&error);
        Problem {
            problem: Box::new(problem),
            retry_after: error.retry_after(),
            bearer_challenge: false,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The status and headers; the body is written by [`request_context`],
    /// which knows the request's id and path.
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        if self.bearer_challenge {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut response = response.finish();
        response.extensions_mut().insert((*self.problem).clone());
        response
    }
}

/// The outermost layer: a request id for every answer (the caller's
/// `x-request-id` if it is plain, else a new one), every error answered
/// with a problem document that carries it and the path, and
/// `x-content-type-options: nosniff` on every answer.
async fn request_context(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(|| hex(&rand::random::<[u8; 8]>()), str::to_owned);
    let path = req.path().to_owned();
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status();
    let problem = match response
        .response()
        .extensions()
        .get::<ProblemDetails>()
        .cloned()
    {
        Some(problem) => Some(problem),
        None if status.is_client_error() || status.is_server_error() => {
            Some(*Problem::for_status(status).problem)
        }
        None => None,
    };
    let mut response = match problem {
        Some(problem) => {
            let problem = problem
                .with_instance(path)
                .with_extension("requestId", id.clone());
            let body = serde_json::to_vec(&problem).unwrap_or_default();
            let mut response = response.map_body(|_, _| BoxBody::new(body));
            let content_type = HeaderValue::from_static("application/problem+json");
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
            response
        }
        None => response,
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

// ---------------------------------------------------------------- helpers

/// WebAuthn options as `{"publicKey": {...}}` in the JSON forms, without the
/// `null` members those forms do not have.
fn options_json<T: serde::Serialize>(options: &T) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(members) => {
                members.retain(|_, v| !v.is_null());
                members.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(options).unwrap_or_default();
    strip(&mut value);
    json!({ "publicKey": value["publicKey"].take() })
}

/// A credential from a body's `field` (`PublicKeyCredential.toJSON()`).
fn credential<T: serde::de::DeserializeOwned>(
    value: impl Into<Option<Value>>,
    field: &str,
) -> Result<T, Problem> {
    let value = value
        .into()
        .ok_or_else(|| Problem::validation(&format!("`{field}` is required.")))?;
    serde_json::from_value(value)
        .map_err(|_| Problem::validation(&format!("`{field}` is not a WebAuthn credential.")))
}

/// Unix seconds as RFC 3339 in UTC (civil from days, after Howard Hinnant).
fn rfc3339(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3_600, rest % 3_600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

fn ok(body: Value) -> Answer {
    Ok(HttpResponse::Ok().json(body))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits.
fn random_token() -> String {
    hex(&rand::random::<[u8; 32]>())
}

async fn hash_password(password: Secret) -> Result<String, Problem> {
    web::block(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(Problem::internal)
}

async fn verify_password(password: Secret, hash: String) -> Result<bool, Problem> {
    web::block(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), &*hash)
            .is_ok()
    })
    .await
    .map_err(|_| Problem::internal())
}

// ---------------------------------------------------------------- main

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8081).into();
    let mut database = ":memory:".to_owned();
    let (mut rp_id, mut origins) = ("localhost".to_owned(), Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v.parse().map_err(std::io::Error::other)?,
            ("--database", Some(v)) => database = v,
            ("--rp-id", Some(v)) => rp_id = v,
            ("--origin", Some(v)) => origins.push(v),
            _ => {
                return Err(std::io::Error::other(
                    "usage: actix_server [--addr HOST:PORT] [--database PATH | :memory:] \
                     [--rp-id DOMAIN] [--origin URL]...",
                ));
            }
        }
    }
    // Bound first: the default origin names the port.
    let listener = std::net::TcpListener::bind(addr)?;
    if origins.is_empty() {
        origins.push(format!(
            "http://localhost:{}",
            listener.local_addr()?.port()
        ));
    }
    let named: Vec<&str> = origins.iter().map(String::as_str).collect();
    let relying_party =
        RelyingParty::new(&rp_id, "MFA Example", &named).map_err(std::io::Error::other)?;
    let master = match std::env::var("MFA_MASTER_KEY") {
        Ok(text) => MasterKey::from_base64(&text).map_err(std::io::Error::other)?,
        Err(_) => {
            eprintln!("warning: MFA_MASTER_KEY is not set; a random key is used for this run only");
            MasterKey::generate(&mut rand::rng())
        }
    };
    let store = match database.as_str() {
        ":memory:" => SqliteStore::connect("sqlite::memory:").await,
        path => SqliteStore::open_file(path).await,
    }
    .map_err(std::io::Error::other)?;
    let context = MfaContext::new(Keyring::new(KeyId(1), master), Policy::new("MFA Example"))
        .map_err(std::io::Error::other)?
        .with_relying_party(relying_party);
    let dummy_hash = hash_password(Zeroizing::new(random_token()))
        .await
        .map_err(|_| std::io::Error::other("cannot hash passwords"))?;
    let state = web::Data::new(State {
        mfa: Mfa::new(store, context),
        accounts: Mutex::default(),
        dummy_hash,
        sessions: Mutex::default(),
        challenges: Mutex::default(),
    });
    let json = web::JsonConfig::default()
        .limit(16 * 1024)
        .error_handler(|e, _| {
            Problem::validation(&format!("The body is not the JSON this route takes: {e}")).into()
        });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(json.clone())
            .wrap(actix_web::middleware::from_fn(request_context))
            .route(
                "/health",
                web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
            )
            .route("/api/auth/register", web::post().to(register))
            .route("/api/auth/login", web::post().to(login))
            .route("/api/auth/login/mfa", web::post().to(login_mfa))
            .route("/api/user/me/totp", web::get().to(status))
            .route("/api/user/me/totp/setup", web::post().to(setup))
            .route("/api/user/me/totp/confirm", web::post().to(confirm))
            .route(
                "/api/user/me/totp/backup-codes/regenerate",
                web::post().to(regenerate),
            )
            .route(
                "/api/user/profile/mfa/backup-codes",
                web::post().to(regenerate_strict),
            )
            .route("/api/user/me/totp/disable", web::post().to(disable))
            .route(
                "/api/user/me/passkeys/options",
                web::post().to(passkey_options),
            )
            .route("/api/user/me/passkeys", web::post().to(add_passkey))
    })
    .client_request_timeout(Duration::from_secs(10))
    .keep_alive(Duration::from_secs(60))
    .listen(listener)?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await
}
