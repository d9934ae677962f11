//! Helpers for the black-box tests of the example server: start the built
//! binary on a free loopback port with a temporary database, talk to it over
//! real HTTP, and compute TOTP codes with an RFC 6238 implementation of the
//! test's own (HMAC-SHA-1 from the `hmac` and `sha1` crates; nothing from the
//! crate under test).
#![allow(dead_code)]

pub mod passkey;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// A fixed master key for the servers under test (base64 of 32 bytes).
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub const PASSWORD: &str = "correct horse battery staple";

/// The example server's binary: cargo builds it before this package's
/// integration tests, always from the current sources.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_server"))
}

/// The same MFA endpoints on actix-web (`examples/actix_server/`).
pub fn actix_server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_actix_server"))
}

/// The axum-login + tower-sessions application that mounts `mfa-axum`
/// (`mfa-axum/examples/axum_login.rs`), built from the current sources into
/// the target directory of the server under test, as [`importer`] is. Its
/// sessions are cookies named `session` ([`Options::session_cookie`]).
pub fn axum_login_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| build_example("mfa-axum", "axum_login"))
        .clone()
}

/// Builds `example` of `package` into the target directory of the server
/// under test (cargo has released it by the time tests run): its path.
fn build_example(package: &str, example: &str) -> PathBuf {
    let bin = server_binary();
    let profile_dir = bin.parent().expect("the profile directory");
    let target_dir = profile_dir.parent().expect("the target directory");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", package, "--example", example])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the example {example} failed");
    profile_dir
        .join("examples")
        .join(format!("{example}{}", std::env::consts::EXE_SUFFIX))
}

/// A running server process, killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// Keeps the temporary database alive as long as the server.
    pub dir: Option<tempfile::TempDir>,
    /// The session cookie's name, for a server whose sessions are cookies
    /// ([`Options::session_cookie`]).
    session_cookie: Option<&'static str>,
}

/// What to start a server with.
pub struct Options {
    /// The binary: the axum server unless set (`actix_server_binary()`).
    pub binary: Option<PathBuf>,
    pub database: Option<String>,
    pub master_key: Option<String>,
    pub extra_args: Vec<String>,
    /// `MFA_ADMIN_TOKEN`, if the operator routes are to be on.
    pub admin_token: Option<String>,
    /// `MFA_ADMIN_TOKENS`: named operators, one `name:token` per line.
    pub admin_tokens: Option<String>,
    pub dir: Option<tempfile::TempDir>,
    /// More environment variables (`MFA_…` settings).
    pub env: Vec<(&'static str, String)>,
    /// For a server whose sessions are cookies, the cookie's name: a
    /// session's "token" is then sent as `Cookie: <name>=<token>` instead of
    /// `Authorization: Bearer`, and an answer that sets the cookie and has no
    /// `"token"` in its JSON body gets the cookie's value as its `"token"`.
    pub session_cookie: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            binary: None,
            database: None,
            master_key: Some(MASTER_KEY.to_owned()),
            extra_args: Vec::new(),
            admin_token: None,
            admin_tokens: None,
            dir: None,
            env: Vec::new(),
            session_cookie: None,
        }
    }
}

impl Server {
    /// A server on a fresh SQLite database in a temporary directory.
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Server {
        Server::try_start(options).unwrap_or_else(|(message, _)| panic!("{message}"))
    }

    /// Starts the server; on failure, the message and the process's exit status.
    pub fn try_start(
        options: Options,
    ) -> Result<Server, (String, Option<std::process::ExitStatus>)> {
        let dir = match options.dir {
            Some(dir) => dir,
            None => tempfile::tempdir().expect("a temporary directory"),
        };
        let database = options.database.unwrap_or_else(|| {
            dir.path()
                .join("server.db")
                .to_str()
                .expect("a UTF-8 temporary path")
                .to_owned()
        });
        let binary = options.binary.unwrap_or_else(server_binary);
        let mut command = Command::new(&binary);
        command
            .args(["--addr", "127.0.0.1:0", "--database", &database])
            .args(&options.extra_args)
            .env_remove("MFA_MASTER_KEY")
            .env_remove("MFA_ADMIN_TOKEN")
            .env_remove("MFA_ADMIN_TOKENS")
            // Logs as JSON lines: `security_events()` reads them.
            .env("MFA_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.envs(options.env.iter().map(|(k, v)| (k, v)));
        if let Some(key) = &options.master_key {
            command.env("MFA_MASTER_KEY", key);
        }
        if let Some(token) = &options.admin_token {
            command.env("MFA_ADMIN_TOKEN", token);
        }
        if let Some(tokens) = &options.admin_tokens {
            command.env("MFA_ADMIN_TOKENS", tokens);
        }
        let mut child = command.spawn().map_err(|e| {
            (
                format!(
                    "cannot start {} (built by `cargo test`): {e}",
                    binary.display()
                ),
                None,
            )
        })?;
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let sink = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                // Kept before the address is announced, so that a test that
                // has the address also finds the line in `stdout()`.
                {
                    let mut all = sink.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(base) => break base,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = child.try_wait() {
                        std::thread::sleep(Duration::from_millis(100));
                        let message = format!(
                            "the server exited ({status}) before listening; stderr:\n{}",
                            stderr.lock().unwrap()
                        );
                        return Err((message, Some(status)));
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    std::thread::sleep(Duration::from_millis(100));
                    let message = format!(
                        "the server did not say `listening on`; stderr:\n{}",
                        stderr.lock().unwrap()
                    );
                    return Err((message, status));
                }
            }
        };
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
            "the server must print the real port, got {base}"
        );
        Ok(Server {
            child,
            base,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                // Below the server's idle timeout (60 s): a connection the
                // server is closing is never reused for a request.
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            stdout,
            stderr,
            dir: Some(dir),
            session_cookie: options.session_cookie,
        })
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// The server's stderr once it holds `needle` (read by another thread:
    /// waits up to 5 s for it), or as it is then.
    pub async fn stderr_once_it_holds(&self, needle: &str) -> String {
        for _ in 0..50 {
            let stderr = self.stderr();
            if stderr.contains(needle) {
                return stderr;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.stderr()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, waits for the process to exit, and returns its exit
    /// status and everything it printed.
    #[cfg(unix)]
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader threads catch the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.stdout());
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Takes the temporary directory, so that it outlives this server.
    pub fn take_dir(&mut self) -> tempfile::TempDir {
        self.dir.take().expect("the server owns its directory")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let request = self.with_session(self.client.get(self.url(path)), token);
        self.answer(request).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut request = self.with_session(self.client.post(self.url(path)), token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.answer(request).await
    }

    /// `request` carrying the session `token`: as a bearer token, or as the
    /// session cookie of a server whose sessions are cookies.
    fn with_session(
        &self,
        request: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match (token, self.session_cookie) {
            (Some(token), Some(name)) => request.header("cookie", format!("{name}={token}")),
            (Some(token), None) => request.bearer_auth(token),
            (None, _) => request,
        }
    }

    /// Sends `request`; on a 5xx answer, prints what the server logged about
    /// it (its cause), so that a failing test shows why.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Resp {
        let mut r = Resp::read(request.send().await.expect("a response")).await;
        if let Some(name) = self.session_cookie {
            r.take_session_cookie(name);
        }
        if r.status >= 500
            && let Some(id) = r.header("x-request-id")
        {
            // The server logs before it answers; the pipe may lag a little.
            tokio::time::sleep(Duration::from_millis(100)).await;
            for line in self.stderr().lines().filter(|l| l.contains(id)) {
                eprintln!("server log: {line}");
            }
        }
        r
    }

    /// Sends raw bytes with the given headers; a transport error is an `Err`.
    pub async fn try_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Resp, reqwest::Error> {
        let request = self
            .client
            .request(method, self.url(path))
            .headers(headers)
            .body(body);
        Ok(Resp::read(request.send().await?).await)
    }

    /// Sends raw bytes with the given headers.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Resp {
        let request = self
            .client
            .request(method, self.url(path))
            .headers(headers)
            .body(body);
        Resp::read(request.send().await.expect("a response")).await
    }

    /// Registers `email` and returns its id.
    pub async fn register(&self, email: &str) -> String {
        let r = self
            .post(
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 201, "register: {}", r.text);
        r.body["id"].as_str().expect("an id").to_owned()
    }

    /// The first login step with the right password.
    async fn password_login(&self, email: &str) -> Resp {
        let r = self
            .post(
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "login: {}", r.text);
        r
    }

    /// Logs in without MFA and returns the bearer token.
    pub async fn login(&self, email: &str) -> String {
        let r = self.password_login(email).await;
        r.body["token"].as_str().expect("a token").to_owned()
    }

    /// Logs in with MFA on and returns the `mfaToken`.
    pub async fn login_for_mfa(&self, email: &str) -> String {
        let r = self.password_login(email).await;
        assert_eq!(r.body["mfaRequired"], true, "{}", r.text);
        assert!(r.body.get("token").is_none(), "no session before MFA");
        r.body["mfaToken"].as_str().expect("an mfaToken").to_owned()
    }

    /// A new user with MFA on: the bearer token that confirming answered
    /// (with a fresh proof; the one that began setup is revoked),
    /// authenticator, backup codes.
    pub async fn enrolled_user(&self, email: &str) -> (String, Authenticator, Vec<String>) {
        self.register(email).await;
        let token = self.login(email).await;
        let mut app = self.begin_totp_setup(&token).await;
        let code = app.next_code().await;
        let (codes, token) = self.confirm_totp_setup(&token, &code).await;
        (token, app, codes)
    }

    /// Logs in with MFA on, completing the second step with `field`
    /// (`code` or `backupCode`): the bearer token.
    pub async fn login_with(&self, email: &str, field: &str, code: &str) -> String {
        let mfa_token = self.login_for_mfa(email).await;
        let r = self.login_mfa(&mfa_token, field, code).await;
        assert_eq!(r.status, 200, "login/mfa: {}", r.text);
        r.body["token"].as_str().expect("a token").to_owned()
    }

    /// Logs in with MFA on, completing the second step with `field` and
    /// `"rememberDevice": true`: the bearer token and the device token.
    pub async fn login_remembering(
        &self,
        email: &str,
        field: &str,
        code: &str,
    ) -> (String, String) {
        let mfa_token = self.login_for_mfa(email).await;
        let body = json!({ "mfaToken": mfa_token, field: code, "rememberDevice": true });
        let r = self.post("/api/auth/login/mfa", None, Some(body)).await;
        assert_eq!(r.status, 200, "login/mfa: {}", r.text);
        let device = r.body["deviceToken"].as_str().expect("a deviceToken");
        let token = r.body["token"].as_str().expect("a token");
        (token.to_owned(), device.to_owned())
    }

    /// The first login step with the right password and `device_token` as
    /// the `deviceToken` field (any JSON value).
    pub async fn login_with_device(&self, email: &str, device_token: Value) -> Resp {
        let body = json!({"email": email, "password": PASSWORD, "deviceToken": device_token});
        self.post("/api/auth/login", None, Some(body)).await
    }

    /// `POST /api/user/me/totp/replace` with the password and `code` (a
    /// current code of the active app or a backup code): the new
    /// authenticator app.
    pub async fn begin_replacement(&self, token: &str, code: &str) -> Authenticator {
        let r = self.replace(token, PASSWORD, code).await;
        assert_eq!(r.status, 200, "replace: {}", r.text);
        Authenticator::new(r.body["secret"].as_str().expect("a secret"))
    }

    /// `POST /api/user/me/totp/replace` with `{password, code}`.
    pub async fn replace(&self, token: &str, password: &str, code: &str) -> Resp {
        let body = json!({ "password": password, "code": code });
        self.post("/api/user/me/totp/replace", Some(token), Some(body))
            .await
    }

    /// `POST /api/user/me/totp/replace/confirm` with `code`.
    pub async fn confirm_replacement(&self, token: &str, code: &str) -> Resp {
        let body = json!({ "code": code });
        self.post("/api/user/me/totp/replace/confirm", Some(token), Some(body))
            .await
    }

    /// `POST /api/user/me/devices/forget`.
    pub async fn forget_devices(&self, token: &str) -> Resp {
        self.post("/api/user/me/devices/forget", Some(token), None)
            .await
    }

    /// The login second step.
    pub async fn login_mfa(&self, mfa_token: &str, field: &str, code: &str) -> Resp {
        self.post(
            "/api/auth/login/mfa",
            None,
            Some(json!({ "mfaToken": mfa_token, field: code })),
        )
        .await
    }

    /// `POST /api/auth/step-up` with `field` (`code` or `backupCode`).
    pub async fn step_up(&self, token: &str, field: &str, code: &str) -> Resp {
        self.post(
            "/api/auth/step-up",
            Some(token),
            Some(json!({ field: code })),
        )
        .await
    }

    /// An operator route (`unlock` or `reset`) for user `id`, with `bearer`.
    pub async fn operator(
        &self,
        action: &str,
        id: &str,
        bearer: Option<&str>,
        body: Value,
    ) -> Resp {
        self.post(
            &format!("/api/admin/users/{id}/mfa/{action}"),
            bearer,
            Some(body),
        )
        .await
    }

    /// The security events the server logged (JSON log records with a
    /// `security_event` field), each as `{"securityEvent", "userId", …its
    /// own fields}`.
    pub fn security_events(&self) -> Vec<Value> {
        self.stderr()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|record| {
                let Value::Object(mut fields) = record else {
                    return None;
                };
                let name = fields.remove("security_event")?;
                fields.insert("securityEvent".into(), name);
                if let Some(user) = fields.remove("user_id") {
                    fields.insert("userId".into(), user);
                }
                Some(Value::Object(fields))
            })
            .collect()
    }

    /// Begins TOTP setup for the session's user, with the password: the
    /// authenticator app holding the new secret.
    pub async fn begin_totp_setup(&self, token: &str) -> Authenticator {
        let setup = self.setup(token, PASSWORD).await;
        assert_eq!(setup.status, 200, "setup: {}", setup.text);
        Authenticator::new(setup.body["secret"].as_str().expect("a secret"))
    }

    /// `POST /api/user/me/totp/setup` with `{password}`.
    pub async fn setup(&self, token: &str, password: &str) -> Resp {
        let body = json!({ "password": password });
        self.post("/api/user/me/totp/setup", Some(token), Some(body))
            .await
    }

    /// Confirms the pending setup with `code`: the backup codes and the new
    /// session token (the one given is revoked by the change).
    pub async fn confirm_totp_setup(&self, token: &str, code: &str) -> (Vec<String>, String) {
        let body = json!({ "code": code });
        let confirm = self
            .post("/api/user/me/totp/confirm", Some(token), Some(body))
            .await;
        assert_eq!(confirm.status, 200, "confirm: {}", confirm.text);
        let token = confirm.body["token"].as_str().expect("a token").to_owned();
        (strings(&confirm.body["backupCodes"]), token)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub async fn read(response: reqwest::Response) -> Resp {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of the session cookie `name` that this answer sets, as the
    /// body's `"token"` when the body is a JSON object without one.
    fn take_session_cookie(&mut self, name: &str) {
        let prefix = format!("{name}=");
        let value = self
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix(prefix.as_str()))
            .map(|v| v.split(';').next().unwrap_or_default())
            .find(|v| !v.is_empty());
        if let (Some(value), Value::Object(body)) = (value, &mut self.body)
            && !body.contains_key("token")
        {
            body.insert("token".to_owned(), Value::String(value.to_owned()));
        }
    }

    /// Asserts a problem document with this status and code, in the shape of
    /// the contract, whose `requestId` is the `x-request-id` header.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(self.body["code"], code, "code of {}", self.text);
        self.assert_problem_shape();
    }

    /// Asserts the fields every problem document has.
    #[track_caller]
    pub fn assert_problem_shape(&self) {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of {}",
            self.text
        );
        for field in ["type", "title", "detail", "code", "requestId"] {
            assert!(
                self.body[field].as_str().is_some_and(|s| !s.is_empty()),
                "`{field}` in {}",
                self.text
            );
        }
        assert_eq!(
            self.body["status"], self.status,
            "status field of {}",
            self.text
        );
        let id = self.header("x-request-id").expect("an x-request-id header");
        assert_eq!(self.body["requestId"], id, "requestId of {}", self.text);
    }
}

pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

pub fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

// ---------------------------------------------------------------------------
// RFC 6238, written out here (RFC 4648 base32, RFC 4226 dynamic truncation).

pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .expect("a base32 character") as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// RFC 4648 base32 without padding, for secrets handed to the importer.
pub fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The importer (`examples/import.rs`), built from the current sources into
/// the target directory of the server under test (cargo has released that
/// directory by the time tests run; the build is a no-op when the example is
/// up to date).
pub fn importer() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| build_example("mfa-example-server", "import"))
        .clone()
}

/// Runs the importer on `database` with `lines` (written to a file in
/// `dir`) and the test master key: its exit status, stdout and stderr.
pub fn run_importer(
    database: &str,
    dir: &std::path::Path,
    lines: &[String],
) -> (std::process::ExitStatus, String, String) {
    let file = dir.join("import.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("the import file");
    let output = Command::new(importer())
        .args(["--database", database])
        .arg(&file)
        .env("MFA_MASTER_KEY", MASTER_KEY)
        .output()
        .expect("the importer runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The 6-digit HMAC-SHA-1 TOTP code of time step `step`.
pub fn totp_at_step(key: &[u8], step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// The phone: knows the secret and which step it last used.
#[derive(Clone)]
pub struct Authenticator {
    key: Vec<u8>,
    last_step: Option<u64>,
}

impl Authenticator {
    pub fn new(secret_base32: &str) -> Self {
        let key = base32_decode(secret_base32);
        assert!(key.len() >= 16, "a secret of at least 128 bits");
        Authenticator {
            key,
            last_step: None,
        }
    }

    pub fn code_at_step(&self, step: u64) -> String {
        totp_at_step(&self.key, step)
    }

    /// A code the server has not seen: the current one, as the app shows it
    /// (waiting for the next step when fewer than 3 seconds of this one
    /// remain), or, when the current step was already used, the next step's
    /// code, which the server's ±1 step window accepts for the next 60
    /// seconds. Waits when both were used.
    pub async fn next_code(&mut self) -> String {
        loop {
            let now = unix_now();
            let step = (now / 30.0) as u64;
            let left = (step + 1) as f64 * 30.0 - now;
            let candidate = match self.last_step {
                Some(last) if last > step => None,
                Some(last) if last == step => Some(step + 1),
                _ if left < 3.0 => None,
                _ => Some(step),
            };
            match candidate {
                Some(step) => {
                    self.last_step = Some(step);
                    return self.code_at_step(step);
                }
                None => tokio::time::sleep(Duration::from_secs_f64(left + 0.2)).await,
            }
        }
    }

    /// The time step of now.
    pub fn current_step(&self) -> u64 {
        (unix_now() / 30.0) as u64
    }

    /// A well-formed code that no step near now produces.
    pub fn wrong_code(&self) -> String {
        let step = self.current_step();
        let near: Vec<String> = (step.saturating_sub(3)..=step + 3)
            .map(|s| self.code_at_step(s))
            .collect();
        (0..)
            .map(|n: u32| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
            .find(|c| !near.contains(c))
            .expect("some code is wrong")
    }
}

#[test]
fn rfc6238_test_vectors() {
    // RFC 6238 appendix B, SHA-1, truncated to 6 digits.
    let key = b"12345678901234567890";
    for (t, expected) in [
        (59u64, "287082"),
        (1_111_111_109, "081804"),
        (1_111_111_111, "050471"),
        (1_234_567_890, "005924"),
        (2_000_000_000, "279037"),
        (20_000_000_000, "353130"),
    ] {
        assert_eq!(totp_at_step(key, t / 30), expected, "t = {t}");
    }
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), key);
}
