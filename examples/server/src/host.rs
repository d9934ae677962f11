//! What only this server knows, for `mfa-axum`'s routes (`MfaHost`): its
//! sessions are bearer tokens (`auth.rs`) of users that exist in its
//! accounts table, a password is checked on the password lock before it is
//! hashed (`attempts.rs`), the account name is the email, and operators
//! are named by their tokens (`operators.rs`).

use std::ops::Deref;
use std::sync::Arc;

use axum::http::request::Parts;
use mfa::Mfa;
use mfa::compliance::HostFacts;
use mfa_axum::{LoginTokens, MfaHost, Problem, SessionState};

use crate::App;
use crate::attempts::LockKey;
use crate::auth::bearer;
use crate::db::Store;
use crate::error::ApiError;
use crate::users::{Secret, User};

/// Everything the handlers share: the router's state.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    /// The account `user_id` names, or 401 `UNAUTHENTICATED` (a session of
    /// an account that is gone).
    async fn user(&self, user_id: &str) -> Result<User, Problem> {
        self.users
            .by_id(user_id)
            .await?
            .ok_or_else(Problem::unauthenticated)
    }
}

impl MfaHost for AppState {
    type Store = Store;

    fn mfa(&self) -> &Mfa<Store> {
        &self.mfa
    }

    fn login_tokens(&self) -> &LoginTokens {
        &self.tokens.login
    }

    /// A valid bearer token of an account that exists.
    async fn session(&self, parts: &Parts) -> Result<Option<SessionState>, Problem> {
        let Some(state) = bearer(parts).and_then(|token| self.tokens.verify_session(token)) else {
            return Ok(None);
        };
        Ok(self.users.by_id(&state.user_id).await?.map(|_| state))
    }

    async fn issue(&self, _: &Parts, state: SessionState) -> Result<Option<String>, Problem> {
        Ok(Some(self.tokens.session(&state)?))
    }

    /// Charged on the account's password lock before it is hashed.
    async fn check_password(&self, user_id: &str, password: &str) -> Result<(), Problem> {
        let user = self.user(user_id).await?;
        let password = Secret::new(password.to_owned());
        let key = LockKey::account(&user.email);
        match crate::routes::password_is_right(self, &key, &password, Some(&user)).await? {
            true => Ok(()),
            false => Err(Problem::invalid_password()),
        }
    }

    async fn account_name(&self, user_id: &str) -> Result<String, Problem> {
        Ok(self.user(user_id).await?.email)
    }

    async fn operator(&self, parts: &Parts) -> Result<Option<String>, Problem> {
        let operators = self.operators.as_ref();
        let name = bearer(parts).and_then(|token| operators?.find(token));
        Ok(name.map(str::to_owned))
    }

    /// Ids are what register answers (32 hex digits); anything else is no
    /// user, and is not looked up.
    async fn user_exists(&self, user_id: &str) -> Result<bool, Problem> {
        if user_id.len() != 32 || !user_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        Ok(self.users.by_id(user_id).await?.is_some())
    }

    fn host_facts(&self) -> HostFacts {
        crate::HOST_FACTS
    }

    /// The account's password lock: its own count and its remembered devices'.
    async fn operator_unlocked(&self, user_id: &str) -> Result<(), Problem> {
        let user = self.user(user_id).await?;
        Ok(self.attempts.clear_account(&user.email).await?)
    }
}

impl From<ApiError> for Problem {
    fn from(error: ApiError) -> Self {
        error.into_mfa_axum()
    }
}
