//! A software passkey for the HTTP tests: `webauthn-authenticator-rs`'s
//! `SoftPasskey`, claiming user verification, in a browser at the server's
//! default origin (`http://localhost:<port>`). It takes the options as the
//! server sends them (JSON) and answers with the credential as a browser's
//! `PublicKeyCredential.toJSON()` would.

use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{
    AllowCredentials, CreationChallengeResponse, RequestChallengeResponse, UserVerificationPolicy,
};

use super::{PASSWORD, Resp, Server};

/// One authenticator holding the credentials it registered.
pub struct Passkey {
    soft: SoftPasskey,
    origin: url::Url,
    credentials: Vec<Vec<u8>>,
}

impl Passkey {
    /// An authenticator in a browser showing `server`'s page at its default
    /// origin.
    pub fn for_server(server: &Server) -> Self {
        Self::at(&server.origin())
    }

    /// An authenticator in a browser at `origin`.
    pub fn at(origin: &str) -> Self {
        Passkey {
            soft: SoftPasskey::new(true),
            origin: origin.parse().expect("an origin"),
            credentials: Vec::new(),
        }
    }

    /// Moves the authenticator to a browser at `origin`.
    pub fn set_origin(&mut self, origin: &str) {
        self.origin = origin.parse().expect("an origin");
    }

    /// The credential ids it holds, base64url.
    pub fn credential_ids(&self) -> Vec<String> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        self.credentials
            .iter()
            .map(|id| engine.encode(id))
            .collect()
    }

    /// Creates a credential for the creation options `{"publicKey"}` and
    /// answers it as JSON. The soft passkey cannot keep a discoverable
    /// credential, so it is asked for a plain one; the server cannot tell
    /// (browsers report it only in an extension).
    pub fn register(&mut self, options: &Value) -> Value {
        let mut options: CreationChallengeResponse =
            serde_json::from_value(options.clone()).expect("creation options");
        if let Some(selection) = &mut options.public_key.authenticator_selection {
            selection.require_resident_key = false;
            selection.resident_key = None;
        }
        let created = self
            .soft
            .do_registration(self.origin.clone(), options)
            .expect("the soft passkey registers");
        self.credentials.push(created.raw_id.to_vec());
        serde_json::to_value(&created).expect("JSON")
    }

    /// Answers request options (an object with `publicKey`) with user
    /// verification. An empty allow list (passwordless) is filled with this
    /// authenticator's latest credential, as a browser would pick a
    /// discoverable one.
    pub fn assert(&mut self, options: &Value) -> Value {
        self.answer(options, UserVerificationPolicy::Required)
    }

    /// Answers without user verification (the UV flag unset).
    pub fn assert_without_uv(&mut self, options: &Value) -> Value {
        self.answer(options, UserVerificationPolicy::Discouraged_DO_NOT_USE)
    }

    fn answer(&mut self, options: &Value, uv: UserVerificationPolicy) -> Value {
        let mut options: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options["publicKey"] }))
                .expect("request options");
        options.public_key.user_verification = uv;
        if options.public_key.allow_credentials.is_empty() {
            let id = self.credentials.last().expect("a registered credential");
            options.public_key.allow_credentials = vec![AllowCredentials {
                type_: "public-key".into(),
                id: id.clone(),
                transports: None,
            }];
        }
        let asserted = self
            .soft
            .do_authentication(self.origin.clone(), options)
            .expect("the soft passkey answers");
        serde_json::to_value(&asserted).expect("JSON")
    }
}

impl Server {
    /// The origin a browser would show this server's page at (the server's
    /// default `--origin`).
    pub fn origin(&self) -> String {
        let port = self.base.rsplit(':').next().expect("a port");
        format!("http://localhost:{port}")
    }

    /// `method path` with the session `token` and a JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut request = self.with_session(self.client.request(method, self.url(path)), token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.answer(request).await
    }

    /// `POST /api/user/me/passkeys/options` with `{password}`.
    pub async fn passkey_options(&self, token: &str, password: &str) -> Resp {
        let body = json!({ "password": password });
        self.post("/api/user/me/passkeys/options", Some(token), Some(body))
            .await
    }

    /// `POST /api/user/me/passkeys` with `{name, credential}`.
    pub async fn register_passkey(&self, token: &str, name: &str, credential: &Value) -> Resp {
        let body = json!({ "name": name, "credential": credential });
        self.post("/api/user/me/passkeys", Some(token), Some(body))
            .await
    }

    /// Registers a passkey of `key` for the session's user, which must be
    /// allowed to: the 201 answer.
    pub async fn add_passkey(&self, token: &str, key: &mut Passkey, name: &str) -> Resp {
        let options = self.passkey_options(token, PASSWORD).await;
        assert_eq!(options.status, 200, "passkey options: {}", options.text);
        let credential = key.register(&options.body);
        let added = self.register_passkey(token, name, &credential).await;
        assert_eq!(added.status, 201, "passkey registration: {}", added.text);
        added
    }

    /// A new user whose first factor is a passkey of a new authenticator:
    /// the session that registering answered, the authenticator, the backup
    /// codes.
    pub async fn passkey_user(&self, email: &str) -> (String, Passkey, Vec<String>) {
        self.register(email).await;
        let token = self.login(email).await;
        let mut key = Passkey::for_server(self);
        let added = self.add_passkey(&token, &mut key, "Laptop").await;
        let token = added.body["token"].as_str().expect("a token").to_owned();
        (token, key, super::strings(&added.body["backupCodes"]))
    }

    /// The password step of a login with MFA on: its whole answer.
    pub async fn login_answer(&self, email: &str) -> Value {
        let r = self
            .post(
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "login: {}", r.text);
        assert_eq!(r.body["mfaRequired"], true, "{}", r.text);
        r.body
    }

    /// `POST /api/auth/login/mfa` with `{mfaToken, passkey}`.
    pub async fn login_mfa_passkey(&self, mfa_token: &str, credential: &Value) -> Resp {
        let body = json!({ "mfaToken": mfa_token, "passkey": credential });
        self.post("/api/auth/login/mfa", None, Some(body)).await
    }

    /// Logs in with the password and `key` at the second step: the session.
    pub async fn login_with_passkey(&self, email: &str, key: &mut Passkey) -> String {
        let answer = self.login_answer(email).await;
        let credential = key.assert(&answer["passkeyOptions"]);
        let mfa_token = answer["mfaToken"].as_str().expect("an mfaToken");
        let r = self.login_mfa_passkey(mfa_token, &credential).await;
        assert_eq!(r.status, 200, "login/mfa with a passkey: {}", r.text);
        r.body["token"].as_str().expect("a token").to_owned()
    }

    /// `POST /api/auth/passkey/options`: its answer.
    pub async fn passwordless_options(&self) -> Resp {
        self.post("/api/auth/passkey/options", None, None).await
    }

    /// `POST /api/auth/passkey` with `{passkeyToken, credential}`.
    pub async fn passwordless(&self, passkey_token: &str, credential: &Value) -> Resp {
        let body = json!({ "passkeyToken": passkey_token, "credential": credential });
        self.post("/api/auth/passkey", None, Some(body)).await
    }

    /// A passwordless login with `key`: the session.
    pub async fn login_passwordless(&self, key: &mut Passkey) -> String {
        let options = self.passwordless_options().await;
        assert_eq!(
            options.status, 200,
            "passwordless options: {}",
            options.text
        );
        let credential = key.assert(&options.body);
        let token = options.body["passkeyToken"].as_str().expect("a token");
        let r = self.passwordless(token, &credential).await;
        assert_eq!(r.status, 200, "passwordless login: {}", r.text);
        r.body["token"].as_str().expect("a token").to_owned()
    }

    /// A step-up with `key`: the new session.
    pub async fn step_up_with_passkey(&self, token: &str, key: &mut Passkey) -> String {
        let options = self
            .post("/api/auth/step-up/options", Some(token), None)
            .await;
        assert_eq!(options.status, 200, "step-up options: {}", options.text);
        let credential = key.assert(&options.body);
        let body = json!({
            "stepUpToken": options.body["stepUpToken"],
            "passkey": credential,
        });
        let r = self
            .post("/api/auth/step-up", Some(token), Some(body))
            .await;
        assert_eq!(r.status, 200, "step-up with a passkey: {}", r.text);
        r.body["token"].as_str().expect("a token").to_owned()
    }
}
