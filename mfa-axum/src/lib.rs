#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "tower-sessions")]
mod cookie;
mod extract;
pub mod login;
#[cfg(feature = "page")]
mod page;
mod password_lock;
pub mod problem;
mod router;
mod routes;
mod schemas;
mod tokens;
mod webauthn;

use std::future::Future;

use axum::http::request::Parts;
use mfa::{Epoch, Mfa, MfaStore, Proof};
use serde::{Deserialize, Serialize};

#[cfg(feature = "tower-sessions")]
pub use cookie::TowerSessions;
pub use extract::{Fresh, MfaUser};
#[cfg(feature = "page")]
pub use page::{PageApiDoc, page_router};
pub use password_lock::{PasswordCharge, PasswordLock};
pub use problem::{Body, Problem};
pub use router::{
    ApiDoc, OperatorApiDoc, PasswordlessApiDoc, operator_router, passwordless_router, router,
};
#[cfg(feature = "bearer")]
pub use tokens::BearerSessions;
pub use tokens::{LoginTokens, random_key};

/// What a session carries for MFA: its user, the user's security epoch when
/// the session was issued, and the proof of a second factor, if one was
/// shown (at the login's second step, a step-up or a change to the factor).
///
/// A host keeps it where the client cannot alter it: in a server-side
/// session ([`TowerSessions`]) or in a token it signs ([`BearerSessions`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionState {
    /// The user's id, as the host names users to [`Mfa`].
    pub user_id: String,
    /// The user's epoch at issue: a session at an older one is revoked.
    pub epoch: Epoch,
    /// The last proof of a second factor in this session.
    pub proof: Option<Proof>,
}

impl SessionState {
    /// The state of a session of `user_id` at `epoch`, with `proof`.
    pub fn new(user_id: impl Into<String>, epoch: Epoch, proof: Option<Proof>) -> Self {
        SessionState {
            user_id: user_id.into(),
            epoch,
            proof,
        }
    }

    /// A session with a fresh `proof`, at the proof's epoch.
    pub fn proven(user_id: impl Into<String>, proof: Proof) -> Self {
        SessionState::new(user_id, proof.epoch, Some(proof))
    }
}

/// What only the application knows: its `Mfa`, who the request's user is,
/// its passwords, its sessions and its users' account names. The router's
/// state; see the crate's documentation for an implementation on each
/// adapter.
pub trait MfaHost: Clone + Send + Sync + 'static {
    /// The store of the MFA records.
    type Store: MfaStore;

    /// The service every route calls.
    fn mfa(&self) -> &Mfa<Self::Store>;

    /// The keys of the `mfaToken`s between the two login steps.
    fn login_tokens(&self) -> &LoginTokens;

    /// The MFA state of the request's session; `None` when the request has
    /// no session (401 `UNAUTHENTICATED`).
    fn session(
        &self,
        parts: &Parts,
    ) -> impl Future<Output = Result<Option<SessionState>, Problem>> + Send;

    /// Issues `state` as the request's session after the password step, the
    /// second step, a step-up or a change to the factor: the token the
    /// answer carries as `"token"` (bearer sessions), or `None` when the
    /// session travels otherwise (a cookie).
    fn issue(
        &self,
        parts: &Parts,
        state: SessionState,
    ) -> impl Future<Output = Result<Option<String>, Problem>> + Send;

    /// Checks `user_id`'s password: `Err(Problem::invalid_password())`
    /// when it is wrong. A password can be guessed by concurrent requests,
    /// so the host charges each check on its password lock before it hashes
    /// (I16): a [`PasswordLock`] on one process (as the axum-login example
    /// does), a shared one in the database across servers (as the example
    /// server does). Routes
    /// that take a password check it before any code, so that a wrong
    /// password neither consumes nor counts one.
    fn check_password(
        &self,
        user_id: &str,
        password: &str,
    ) -> impl Future<Output = Result<(), Problem>> + Send;

    /// The account name shown in the authenticator app (an email, a login).
    fn account_name(&self, user_id: &str) -> impl Future<Output = Result<String, Problem>> + Send;

    /// The operator making the request (its name is the actor of the
    /// security event), for [`operator_router`]; `None`, the default, is
    /// 401 `UNAUTHENTICATED`.
    fn operator(
        &self,
        parts: &Parts,
    ) -> impl Future<Output = Result<Option<String>, Problem>> + Send {
        let _ = parts;
        std::future::ready(Ok(None))
    }

    /// Whether `user_id` names a user, for [`operator_router`] (404
    /// `NOT_FOUND` when not). The default says yes.
    fn user_exists(&self, user_id: &str) -> impl Future<Output = Result<bool, Problem>> + Send {
        let _ = user_id;
        std::future::ready(Ok(true))
    }

    /// What the host does that the compliance report cannot see (session
    /// lifetimes, notifications, an event history), for `GET
    /// /admin/compliance`. The default states nothing.
    fn host_facts(&self) -> mfa::compliance::HostFacts {
        mfa::compliance::HostFacts::unknown()
    }

    /// Called after an operator cleared `user_id`'s lockout, for the host to
    /// clear its own locks (a password lock). The default does nothing.
    fn operator_unlocked(&self, user_id: &str) -> impl Future<Output = Result<(), Problem>> + Send {
        let _ = user_id;
        std::future::ready(Ok(()))
    }
}
