//! The accounts, simpler than the axum server's: kept in memory (email →
//! user id and Argon2id hash), with no password lock. Passwords are hashed
//! and verified on actix's blocking pool. The routes that bind or remove a
//! factor ask for the password again ([`State::authenticate_with_password`],
//! [`State::reauthenticate`]): a session alone never does either.

use actix_web::{HttpRequest, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::bodies::{PasswordAndCode, Secret, required};
use crate::errors::Problem;
use crate::sessions::Session;
use crate::{State, lock};

impl State {
    /// The request's session, once its user has given the password:
    /// 400 `VALIDATION_FAILED` without it, 400 `INVALID_PASSWORD` when it
    /// is wrong.
    pub async fn authenticate_with_password(
        &self,
        req: &HttpRequest,
        password: &Option<Secret>,
    ) -> Result<Session, Problem> {
        let (session, _) = self.authenticate(req).await?;
        self.check_password(&session, required(password, "password")?)
            .await?;
        Ok(session)
    }

    /// The request's session and the body's code, the password first: a
    /// wrong one answers `INVALID_PASSWORD` and the code is neither looked
    /// at nor counted.
    pub async fn reauthenticate<'a>(
        &self,
        req: &HttpRequest,
        body: &'a PasswordAndCode,
    ) -> Result<(Session, &'a str), Problem> {
        let (session, _) = self.authenticate(req).await?;
        let password = required(&body.password, "password")?;
        let code = required(&body.code, "code")?.as_str();
        self.check_password(&session, password).await?;
        Ok((session, code))
    }

    /// The session user's password: 400 `INVALID_PASSWORD` when it is wrong.
    async fn check_password(&self, session: &Session, password: &Secret) -> Result<(), Problem> {
        let hash = lock(&self.accounts)
            .get(&session.email)
            .map(|(_, h)| h.clone());
        let hash = hash.ok_or_else(Problem::unauthenticated)?;
        if !verify_password(password.clone(), hash).await? {
            return Err(Problem::new(
                400,
                "INVALID_PASSWORD",
                "Invalid password",
                "The password is wrong.",
            ));
        }
        Ok(())
    }
}

/// An Argon2id PHC string of the password.
pub async fn hash_password(password: Secret) -> Result<String, Problem> {
    web::block(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(Problem::internal)
}

pub async fn verify_password(password: Secret, hash: String) -> Result<bool, Problem> {
    web::block(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), &*hash)
            .is_ok()
    })
    .await
    .map_err(|_| Problem::internal())
}
