//! The MFA state kept in the application's `tower-sessions` session.

use axum::http::request::Parts;
use tower_sessions::session::Record;
use tower_sessions::{Session, SessionStore};

use crate::SessionState;
use crate::problem::Problem;

/// The MFA state kept in the session the application already has
/// (`tower-sessions` 0.14, under the key [`TowerSessions::KEY`]).
///
/// Every issue (a login, a step-up, a change to the factor) moves the
/// session to a new id (the `SessionManagerLayer` sets the cookie). After a
/// change to the factor (confirming a setup, disabling, a new phone, a
/// passkey added or removed) the old id keeps nothing but the old MFA state:
/// a request with the old cookie then answers `SESSION_REVOKED`, as an old
/// bearer token does, and carries no login of the application's either
/// (`axum-login`'s data is not kept there). After a login or a step-up the
/// old id is simply gone.
///
/// ```
/// use mfa_axum::TowerSessions;
/// use tower_sessions::{MemoryStore, SessionManagerLayer};
///
/// let store = MemoryStore::default();
/// let sessions = TowerSessions::new(store.clone());
/// let layer = SessionManagerLayer::new(store).with_name("session");
/// # let _ = (sessions, layer);
/// ```
#[derive(Clone, Debug)]
pub struct TowerSessions<S> {
    store: S,
}

impl<S: SessionStore + Clone> TowerSessions<S> {
    /// The key of the MFA state in the session.
    pub const KEY: &'static str = "mfa-axum.state";

    /// The adapter over `store`, the store of the application's
    /// `SessionManagerLayer`.
    pub fn new(store: S) -> Self {
        TowerSessions { store }
    }

    /// The request's session (500 without a `SessionManagerLayer`).
    fn session(parts: &Parts) -> Result<&Session, Problem> {
        parts.extensions.get::<Session>().ok_or_else(|| {
            Problem::internal("no tower-sessions Session: is SessionManagerLayer on?")
        })
    }

    /// The MFA state of the request's session, if it has one.
    ///
    /// # Errors
    /// 500 when the session cannot be read.
    pub async fn read(&self, parts: &Parts) -> Result<Option<SessionState>, Problem> {
        Self::session(parts)?
            .get::<SessionState>(Self::KEY)
            .await
            .map_err(Problem::internal)
    }

    /// Issues `state` in the request's session under a new id. When the
    /// user's epoch moved (a change to the factor), what the session held
    /// under its old id is replaced by its MFA state alone, which the new
    /// epoch revokes; otherwise (a login, a step-up) the old id is gone.
    ///
    /// # Errors
    /// 500 when the session or its store fails.
    pub async fn issue(&self, parts: &Parts, state: &SessionState) -> Result<(), Problem> {
        let session = Self::session(parts)?;
        let kept = match session.id() {
            Some(id) => self.store.load(&id).await.map_err(Problem::internal)?,
            None => None,
        };
        session
            .insert(Self::KEY, state)
            .await
            .map_err(Problem::internal)?;
        session.cycle_id().await.map_err(Problem::internal)?;
        if let Some(Record {
            id,
            data,
            expiry_date,
        }) = kept
            && let Some(old) = data.get(Self::KEY)
            && serde_json::from_value::<SessionState>(old.clone())
                .is_ok_and(|old| old.user_id == state.user_id && old.epoch != state.epoch)
        {
            let mut revoked = Record {
                id,
                data: Default::default(),
                expiry_date,
            };
            revoked.data.insert(Self::KEY.to_owned(), old.clone());
            self.store.save(&revoked).await.map_err(Problem::internal)?;
        }
        Ok(())
    }
}
