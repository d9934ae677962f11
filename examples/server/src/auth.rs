//! Bearer session tokens and the short-lived `mfaToken` of the login second
//! step.
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
//!   the crate completes at most once; with the user's passkeys, that holds
//!   the WebAuthn request state of the second step.
//! - A `passkeyToken` (a passwordless login) and a `stepUpToken` (a step-up
//!   with a passkey) carry the crate's [`PasskeyChallenge`], which completes
//!   at most once too; a `stepUpToken` is bound to its user.
//!
//! Operator tokens are not JWTs (`operators.rs`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mfa::passkey::PasskeyChallenge;
use mfa::{Epoch, LoginChallenge, MasterKey, MfaEnrollment, Proof};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::users::User;

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

/// What an `mfaToken` says besides its user.
#[derive(Serialize, Deserialize)]
struct MfaLoginClaims {
    challenge: LoginChallenge,
}

/// What a `passkeyToken` or a `stepUpToken` says besides its subject.
#[derive(Serialize, Deserialize)]
struct PasskeyClaims {
    challenge: PasskeyChallenge,
}

/// The subject of a `passkeyToken`: no user is named until the passkey
/// names one.
const NO_USER: &str = "-";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Issues and checks both kinds of token.
pub struct Tokens {
    session: Kind,
    mfa_login: Kind,
    passkey_login: Kind,
    step_up: Kind,
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
            passkey_login: Kind::new(
                master,
                "example-server/jwt/passkey-login/v1",
                "mfa-example-server/passkey-login",
            ),
            step_up: Kind::new(
                master,
                "example-server/jwt/step-up/v1",
                "mfa-example-server/step-up",
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

impl Tokens {
    /// A `passkeyToken`: the signed challenge of a passwordless login, good
    /// until the challenge expires.
    pub fn passkey_login(&self, challenge: PasskeyChallenge) -> Result<String, ApiError> {
        let exp = challenge.expires_at();
        self.passkey_login
            .issue(NO_USER, exp, PasskeyClaims { challenge })
    }

    /// The challenge of a valid `passkeyToken`, or `None`.
    pub fn verify_passkey_login(&self, token: &str) -> Option<PasskeyChallenge> {
        self.passkey_login
            .verify::<PasskeyClaims>(token)
            .filter(|(sub, _)| sub == NO_USER)
            .map(|(_, claims)| claims.challenge)
    }

    /// A `stepUpToken`: the signed challenge of `user_id`'s step-up with a
    /// passkey, good until the challenge expires.
    pub fn step_up(&self, user_id: &str, challenge: PasskeyChallenge) -> Result<String, ApiError> {
        let exp = challenge.expires_at();
        self.step_up
            .issue(user_id, exp, PasskeyClaims { challenge })
    }

    /// The challenge of a valid `stepUpToken` of `user_id`, or `None`.
    pub fn verify_step_up(&self, user_id: &str, token: &str) -> Option<PasskeyChallenge> {
        self.step_up
            .verify::<PasskeyClaims>(token)
            .filter(|(sub, _)| sub == user_id)
            .map(|(_, claims)| claims.challenge)
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
