//! Bearer session tokens, the short-lived `mfaToken` of the login second
//! step, and the operator token.
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
//! - An `mfaToken` carries the crate's [`LoginChallenge`] (`challenge`), which
//!   the crate completes at most once.
//! - The operator token is `MFA_ADMIN_TOKEN` itself, compared in constant
//!   time; no JWT is ever an operator token.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mfa::{Epoch, LoginChallenge, MasterKey, MfaEnrollment, Proof};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use crate::users::User;

const ISSUER: &str = "mfa-example-server";

/// A session lasts an hour.
const SESSION_SECS: u64 = 60 * 60;

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

/// What an `mfaToken` says besides its user.
#[derive(Serialize, Deserialize)]
struct MfaLoginClaims {
    challenge: LoginChallenge,
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
            // The v2 labels: tokens of the format before epochs and proofs
            // are not even read.
            session: Kind::new(
                master,
                "example-server/jwt/session/v2",
                "mfa-example-server/session",
            ),
            mfa_login: Kind::new(
                master,
                "example-server/jwt/mfa-login/v2",
                "mfa-example-server/mfa-login",
            ),
        }
    }

    /// A bearer token for a fully authenticated session (one hour), bound to
    /// `epoch`, with the proof of the second factor if there is one.
    pub fn session(
        &self,
        user_id: &str,
        epoch: Epoch,
        proof: Option<Proof>,
    ) -> Result<String, ApiError> {
        self.session.issue(
            user_id,
            now() + SESSION_SECS,
            SessionClaims { epoch, proof },
        )
    }

    /// A session token with a fresh proof, bound to the proof's epoch.
    pub fn proven_session(&self, user_id: &str, proof: Proof) -> Result<String, ApiError> {
        self.session(user_id, proof.epoch, Some(proof))
    }

    /// An `mfaToken`: the signed login challenge, good only for the second
    /// step and only until the challenge expires.
    pub fn mfa_login(&self, challenge: LoginChallenge) -> Result<String, ApiError> {
        let user_id = challenge.user_id().to_owned();
        let exp = challenge.expires_at();
        self.mfa_login
            .issue(&user_id, exp, MfaLoginClaims { challenge })
    }

    /// The login challenge of a valid `mfaToken`, or 401 `INVALID_MFA_TOKEN`.
    pub fn verify_mfa_login(&self, token: &str) -> Result<LoginChallenge, ApiError> {
        self.mfa_login
            .verify::<MfaLoginClaims>(token)
            .filter(|(sub, claims)| claims.challenge.user_id() == sub)
            .map(|(_, claims)| claims.challenge)
            .ok_or_else(|| ApiError::from(mfa::Error::InvalidChallenge))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// A request with a valid bearer session token whose epoch is the user's
/// current one.
pub struct Session {
    pub user: User,
    /// The user's MFA record, as loaded for this request.
    pub record: MfaEnrollment,
    /// The session's proof of the second factor, if it has one.
    pub proof: Option<Proof>,
}

impl Session {
    /// The session's proof, for an operation that needs a recent one (the
    /// crate judges how recent). Without one: 400 `MFA_NOT_ENABLED` when
    /// there is no factor to prove, else 403 `STEP_UP_REQUIRED`.
    pub fn proof(&self) -> Result<Proof, ApiError> {
        Ok(Proof::required(self.proof, &self.record)?)
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthenticated)?;
        let (user_id, claims) = app
            .tokens
            .session
            .verify::<SessionClaims>(token)
            .ok_or_else(ApiError::unauthenticated)?;
        let user = app
            .users
            .by_id(&user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let record = app.mfa.load(&user.id).await?;
        record
            .check_epoch(claims.epoch)
            .map_err(|e| ApiError::from(e).with_bearer_challenge())?;
        Ok(Session {
            user,
            record,
            proof: claims.proof,
        })
    }
}

/// The operator token, `MFA_ADMIN_TOKEN`; only its SHA-256 digest is kept.
pub struct AdminToken([u8; 32]);

impl AdminToken {
    /// The shortest token accepted.
    pub const MIN_LEN: usize = 32;

    /// `MFA_ADMIN_TOKEN`: `None` if unset or empty; an error if it is too
    /// short or holds anything but visible ASCII (which no `Authorization`
    /// header could carry).
    pub fn from_env() -> Result<Option<Self>, String> {
        let Some(value) = std::env::var_os("MFA_ADMIN_TOKEN").filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        Self::new(value.to_str().unwrap_or("\u{fffd}")).map(Some)
    }

    /// The token `text`, if it is long enough and printable.
    fn new(text: &str) -> Result<Self, String> {
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("MFA_ADMIN_TOKEN must be visible ASCII characters only (no spaces)".into());
        }
        if text.len() < Self::MIN_LEN {
            return Err(format!(
                "MFA_ADMIN_TOKEN must have at least {} characters (it has {}); \
                 for example: head -c 32 /dev/urandom | base64",
                Self::MIN_LEN,
                text.len()
            ));
        }
        Ok(AdminToken(Sha256::digest(text.as_bytes()).into()))
    }

    /// Whether `candidate` is the token: digests compared in constant time,
    /// so neither the content nor the length of the token leaks.
    fn matches(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        digest.ct_eq(&self.0).into()
    }
}

/// A request from the operator: `Authorization: Bearer <MFA_ADMIN_TOKEN>`.
/// Without `MFA_ADMIN_TOKEN` the operator routes do not exist (404).
pub struct Operator;

impl Operator {
    /// The actor named in security events: the server has one operator token.
    pub const ACTOR: &'static str = "operator";
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &app.admin_token else {
            return Err(ApiError::for_status(StatusCode::NOT_FOUND));
        };
        match bearer(parts) {
            Some(token) if expected.matches(token) => Ok(Operator),
            _ => Err(ApiError::unauthenticated()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AdminToken;

    #[test]
    fn the_operator_token_matches_only_itself() {
        let text = "0123456789abcdef0123456789abcdef-operator";
        let token = AdminToken::new(text).unwrap();
        assert!(token.matches(text));
        let last = text.len() - 1;
        for other in [
            "",
            &text[..last],
            &format!("{text}x"),
            &format!("{}X", &text[..last]),
            &text.to_uppercase(),
            &format!(" {text}"),
        ] {
            assert!(!token.matches(other), "{other:?}");
        }
    }

    #[test]
    fn short_or_unprintable_tokens_are_refused() {
        for bad in [
            "",
            "x",
            &"x".repeat(31),
            &format!("{} ", "x".repeat(40)),
            &format!("{}\u{e9}", "x".repeat(40)),
            &format!("{}\n", "x".repeat(40)),
        ] {
            let err = AdminToken::new(bad).err().expect("refused");
            assert!(err.contains("MFA_ADMIN_TOKEN"), "{err}");
        }
        assert!(AdminToken::new(&"x".repeat(32)).is_ok());
    }
}
