//! Signed tokens: the `mfaToken` that carries a login's challenge from the
//! password step to the second step ([`LoginTokens`]), and with the `bearer`
//! feature sessions as bearer tokens ([`BearerSessions`]). Both are HS256
//! JWTs under keys of their own and audiences of their own, so neither is
//! ever taken for the other.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mfa::LoginChallenge;
use mfa::passkey::PasskeyChallenge;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// An HS256 key, its validation and its audience.
#[derive(Clone)]
struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    audience: &'static str,
}

impl Signer {
    fn new(key: &[u8], audience: &'static str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.leeway = 0;
        Signer {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            audience,
        }
    }

    fn sign<T: Serialize>(&self, exp: u64, body: T) -> Result<String, Problem> {
        let claims = Claims {
            aud: self.audience.to_owned(),
            exp,
            body,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(Problem::internal)
    }

    fn open<T: for<'de> Deserialize<'de>>(&self, token: &str) -> Option<T> {
        jsonwebtoken::decode::<Claims<T>>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims.body)
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Claims<T> {
    aud: String,
    exp: u64,
    #[serde(flatten)]
    body: T,
}

/// Draws a 256-bit key for tokens that need not outlive the process.
pub fn random_key() -> [u8; 32] {
    rand::random()
}

/// The tokens that carry a ceremony's challenge from one request to the
/// next, so the host keeps nothing in between: the `mfaToken` (a login's
/// [`LoginChallenge`], between the password step and the second step), the
/// `stepUpToken` (a passkey step-up's challenge, bound to its user) and the
/// `passkeyToken` (a passwordless login's). Each expires with its challenge,
/// under an audience of its own; the `mfa` crate completes each challenge
/// at most once (I12, I14), so a token replayed is refused.
#[derive(Clone, Debug)]
pub struct LoginTokens {
    signer: Signer,
    step_up: Signer,
    passwordless: Signer,
}

#[derive(Serialize, Deserialize)]
struct StepUpClaims {
    sub: String,
    challenge: PasskeyChallenge,
}

#[derive(Serialize, Deserialize)]
struct PasswordlessClaims {
    challenge: PasskeyChallenge,
}

#[derive(Serialize, Deserialize)]
struct ChallengeClaims {
    challenge: LoginChallenge,
}

impl LoginTokens {
    /// Tokens signed with `key` (at least 32 random bytes, kept secret, and
    /// not the key of any other token).
    pub fn new(key: &[u8]) -> Self {
        LoginTokens {
            signer: Signer::new(key, "mfa-axum/login"),
            step_up: Signer::new(key, "mfa-axum/step-up"),
            passwordless: Signer::new(key, "mfa-axum/passwordless"),
        }
    }

    /// The `mfaToken` of `challenge`.
    ///
    /// # Errors
    /// 500 when the token cannot be signed.
    pub fn seal(&self, challenge: &LoginChallenge) -> Result<String, Problem> {
        let body = ChallengeClaims {
            challenge: challenge.clone(),
        };
        self.signer.sign(challenge.expires_at(), body)
    }

    /// The challenge of an `mfaToken` that this host signed and that has not
    /// expired; `None` for anything else.
    pub fn open(&self, token: &str) -> Option<LoginChallenge> {
        self.signer
            .open::<ChallengeClaims>(token)
            .map(|claims| claims.challenge)
    }

    /// The `stepUpToken` of `user_id`'s passkey step-up `challenge`.
    ///
    /// # Errors
    /// 500 when the token cannot be signed.
    pub fn seal_step_up(
        &self,
        user_id: &str,
        challenge: &PasskeyChallenge,
    ) -> Result<String, Problem> {
        let body = StepUpClaims {
            sub: user_id.to_owned(),
            challenge: challenge.clone(),
        };
        self.step_up.sign(challenge.expires_at(), body)
    }

    /// The challenge of a `stepUpToken` this host signed for `user_id`.
    pub fn open_step_up(&self, user_id: &str, token: &str) -> Option<PasskeyChallenge> {
        self.step_up
            .open::<StepUpClaims>(token)
            .filter(|claims| claims.sub == user_id)
            .map(|claims| claims.challenge)
    }

    /// The `passkeyToken` of a passwordless login's `challenge`.
    ///
    /// # Errors
    /// 500 when the token cannot be signed.
    pub fn seal_passwordless(&self, challenge: &PasskeyChallenge) -> Result<String, Problem> {
        let body = PasswordlessClaims {
            challenge: challenge.clone(),
        };
        self.passwordless.sign(challenge.expires_at(), body)
    }

    /// The challenge of a `passkeyToken` this host signed.
    pub fn open_passwordless(&self, token: &str) -> Option<PasskeyChallenge> {
        self.passwordless
            .open::<PasswordlessClaims>(token)
            .map(|claims| claims.challenge)
    }
}

#[cfg(feature = "bearer")]
pub use bearer::BearerSessions;

#[cfg(feature = "bearer")]
mod bearer {
    use axum::http::header;
    use axum::http::request::Parts;
    use mfa::{Epoch, Proof};
    use serde::{Deserialize, Serialize};

    use super::Signer;
    use crate::SessionState;
    use crate::problem::Problem;

    /// Sessions as signed bearer tokens (HS256 JWTs, audience
    /// `mfa-axum/session`) carrying the user, the epoch and the proof: the
    /// host keeps no session store. A change to the factor moves the
    /// user's epoch, so every token issued before it answers
    /// `SESSION_REVOKED` (the `mfa` crate's I12), and the answer to the
    /// change carries a new one.
    ///
    /// ```
    /// use mfa_axum::{BearerSessions, SessionState};
    ///
    /// let sessions = BearerSessions::new(&[7; 32], 3600);
    /// let state = SessionState::new("user-1", mfa::Epoch::default(), None);
    /// let token = sessions.issue(&state).unwrap();
    /// let request = axum::http::Request::get("/")
    ///     .header("authorization", format!("Bearer {token}"))
    ///     .body(())
    ///     .unwrap();
    /// let (parts, ()) = request.into_parts();
    /// assert_eq!(sessions.read(&parts).unwrap().user_id, "user-1");
    /// ```
    #[derive(Clone, Debug)]
    pub struct BearerSessions {
        signer: Signer,
        ttl_secs: u64,
    }

    #[derive(Serialize, Deserialize)]
    struct SessionClaims {
        sub: String,
        epoch: Epoch,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<Proof>,
    }

    impl BearerSessions {
        /// Tokens signed with `key` (at least 32 random bytes, kept secret,
        /// not the [`LoginTokens`](super::LoginTokens)' key), valid for
        /// `ttl_secs`.
        pub fn new(key: &[u8], ttl_secs: u64) -> Self {
            BearerSessions {
                signer: Signer::new(key, "mfa-axum/session"),
                ttl_secs,
            }
        }

        /// The session of the request's `Authorization: Bearer` token, if it
        /// is one this host signed and it has not expired.
        pub fn read(&self, parts: &Parts) -> Option<SessionState> {
            let token = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())?;
            let claims = self.signer.open::<SessionClaims>(token)?;
            Some(SessionState::new(claims.sub, claims.epoch, claims.proof))
        }

        /// A new token for `state`.
        ///
        /// # Errors
        /// 500 when the token cannot be signed.
        pub fn issue(&self, state: &SessionState) -> Result<String, Problem> {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let exp = now + self.ttl_secs;
            let claims = SessionClaims {
                sub: state.user_id.clone(),
                epoch: state.epoch,
                proof: state.proof,
            };
            self.signer.sign(exp, claims)
        }
    }
}
