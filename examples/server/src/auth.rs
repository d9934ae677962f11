//! Bearer session tokens and the short-lived `mfaToken` of the login second step.
//!
//! Both are HS256 JWTs, but each kind has its own signing key (derived from the
//! master key with its own label) and its own audience, so neither is ever
//! accepted in place of the other.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mfa::MasterKey;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::users::User;

const ISSUER: &str = "mfa-example-server";

/// One kind of token: its audience, lifetime and keys.
struct Kind {
    audience: &'static str,
    lifetime_secs: u64,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Kind {
    fn new(master: &MasterKey, label: &str, audience: &'static str, lifetime_secs: u64) -> Self {
        let key = master
            .derive(label)
            .expect("the server's labels are not reserved");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 5;
        Kind {
            audience,
            lifetime_secs,
            encoding: EncodingKey::from_secret(key.as_ref()),
            decoding: DecodingKey::from_secret(key.as_ref()),
            validation,
        }
    }

    fn issue(&self, user_id: &str) -> Result<String, ApiError> {
        let now = now();
        let claims = Claims {
            sub: user_id.to_owned(),
            aud: self.audience.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.lifetime_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| ApiError::internal("a token could not be signed"))
    }

    /// The user id of a valid token of this kind.
    fn verify(&self, token: &str) -> Option<String> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims.sub)
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: String,
    iss: String,
    iat: u64,
    exp: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Issues and checks both kinds of token.
pub struct Tokens {
    session: Kind,
    mfa_login: Kind,
}

impl Tokens {
    pub fn new(master: &MasterKey) -> Self {
        Tokens {
            session: Kind::new(
                master,
                "example-server/jwt/session/v1",
                "mfa-example-server/session",
                60 * 60,
            ),
            mfa_login: Kind::new(
                master,
                "example-server/jwt/mfa-login/v1",
                "mfa-example-server/mfa-login",
                5 * 60,
            ),
        }
    }

    /// A bearer token for a fully authenticated session (one hour).
    pub fn session(&self, user_id: &str) -> Result<String, ApiError> {
        self.session.issue(user_id)
    }

    /// An `mfaToken`: proof of the password, good only for the second step (5 minutes).
    pub fn mfa_login(&self, user_id: &str) -> Result<String, ApiError> {
        self.mfa_login.issue(user_id)
    }

    /// The user id of a valid `mfaToken`, or 401 `INVALID_MFA_TOKEN`.
    pub fn verify_mfa_login(&self, token: &str) -> Result<String, ApiError> {
        self.mfa_login.verify(token).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "INVALID_MFA_TOKEN",
                "Invalid MFA token",
                "The mfaToken is invalid or has expired; log in again.",
            )
        })
    }
}

/// The user of a request with a valid bearer session token.
pub struct Session(pub User);

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(ApiError::unauthenticated)?;
        let user_id = app
            .tokens
            .session
            .verify(token)
            .ok_or_else(ApiError::unauthenticated)?;
        let user = app
            .users
            .by_id(&user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(Session(user))
    }
}
