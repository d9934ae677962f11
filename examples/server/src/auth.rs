//! Bearer session tokens, and the keys of the short-lived tokens between a
//! ceremony's two requests.
//!
//! Sessions and `mfaToken`s are HS256 JWTs, but each kind has its own signing
//! key (derived from the master key with its own label) and its own audience,
//! so neither is ever accepted in place of the other.
//!
//! - A session token carries the user's security epoch at issue (`epoch`)
//!   and, when its holder proved the second factor, that proof (`proof`:
//!   `method`, `verifiedAt`, `epoch`). Every authenticated request loads the
//!   user's MFA record and refuses the session once the epoch has moved on
//!   (401 `SESSION_REVOKED`): enabling, disabling, replacing the
//!   authenticator or an operator reset revokes every session issued
//!   before, on every server sharing the database. A session from a
//!   remembered device carries no proof.
//! - An `mfaToken`, a `stepUpToken` and a `passkeyToken` are
//!   `mfa_axum::LoginTokens`, under a key of their own: each carries a
//!   challenge that the crate completes at most once.
//!
//! Operator tokens are not JWTs (`operators.rs`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mfa::{Epoch, MasterKey, Proof};
use mfa_axum::{LoginTokens, SessionState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

const ISSUER: &str = "mfa-example-server";

/// A session lasts an hour.
pub const SESSION_SECS: u64 = 60 * 60;

/// One kind of token: its audience and keys.
struct Kind {
    audience: &'static str,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Kind {
    fn new(master: &MasterKey, label: &str, audience: &'static str) -> Self {
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
            encoding: EncodingKey::from_secret(key.as_ref()),
            decoding: DecodingKey::from_secret(key.as_ref()),
            validation,
        }
    }

    fn issue<T: Serialize>(&self, user_id: &str, exp: u64, extra: T) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user_id.to_owned(),
            aud: self.audience.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now(),
            exp,
            extra,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| ApiError::internal("a token could not be signed"))
    }

    /// The user id and the kind's own claims of a valid token of this kind.
    fn verify<T: DeserializeOwned>(&self, token: &str) -> Option<(String, T)> {
        jsonwebtoken::decode::<Claims<T>>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| (data.claims.sub, data.claims.extra))
    }
}

#[derive(Serialize, Deserialize)]
struct Claims<T> {
    sub: String,
    aud: String,
    iss: String,
    iat: u64,
    exp: u64,
    #[serde(flatten)]
    extra: T,
}

/// What a session token says besides its user.
#[derive(Serialize, Deserialize)]
struct SessionClaims {
    /// The user's security epoch when the session was issued.
    epoch: Epoch,
    /// The last proof of the second factor, if the holder gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proof: Option<Proof>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Issues and checks the session tokens, and holds the keys of the tokens
/// between a ceremony's two requests (`mfa_axum::LoginTokens`).
pub struct Tokens {
    session: Kind,
    /// The `mfaToken`, `stepUpToken` and `passkeyToken`.
    pub login: LoginTokens,
}

impl Tokens {
    pub fn new(master: &MasterKey) -> Self {
        let login = master
            .derive("example-server/mfa-axum/login-tokens/v1")
            .expect("the server's labels are not reserved");
        Tokens {
            // The v2 label: tokens of the format before epochs and proofs
            // are not even read.
            session: Kind::new(
                master,
                "example-server/jwt/session/v2",
                "mfa-example-server/session",
            ),
            login: LoginTokens::new(login.as_ref()),
        }
    }

    /// A bearer token for a session (one hour) of `state`: its user, bound
    /// to its epoch, with its proof of the second factor if there is one.
    pub fn session(&self, state: &SessionState) -> Result<String, ApiError> {
        let claims = SessionClaims {
            epoch: state.epoch,
            proof: state.proof,
        };
        self.session
            .issue(&state.user_id, now() + SESSION_SECS, claims)
    }

    /// The session of a valid bearer token (not yet checked against the
    /// user's epoch).
    pub fn verify_session(&self, token: &str) -> Option<SessionState> {
        let (user_id, claims) = self.session.verify::<SessionClaims>(token)?;
        Some(SessionState::new(user_id, claims.epoch, claims.proof))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}
