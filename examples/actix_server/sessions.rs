//! Bearer sessions: opaque random tokens (256 bits) held in memory for an
//! hour, each bound to its user's security epoch and, after a factor was
//! shown, to the proof of it. [`State::authenticate`] is every protected
//! route's first line: a token that is unknown, expired or issued before the
//! user's epoch moved (a factor added, replaced or turned off) is 401.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use actix_web::http::header;
use mfa::{Epoch, MfaEnrollment, Proof};

use crate::errors::Problem;
use crate::{State, lock};

/// A session lasts an hour.
const SESSION_SECS: u64 = 60 * 60;

/// A bearer session: its user, the epoch it was issued at and its proof.
#[derive(Clone)]
pub struct Session {
    pub user_id: String,
    pub email: String,
    epoch: Epoch,
    pub proof: Option<Proof>,
    expires: u64,
}

impl State {
    /// The session of the request's bearer token, still at the user's
    /// epoch, and the user's record as loaded to check it.
    pub async fn authenticate(
        &self,
        req: &HttpRequest,
    ) -> Result<(Session, MfaEnrollment), Problem> {
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

    /// A new session's token; expired sessions are dropped on the way.
    pub fn new_session(
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
    pub fn proven_session(&self, session: &Session, proof: Proof) -> String {
        self.new_session(&session.user_id, &session.email, proof.epoch, Some(proof))
    }
}

/// Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits.
pub fn random_token() -> String {
    hex(&rand::random::<[u8; 32]>())
}
