//! The request bodies that more than one route takes, and how a route reads
//! a field it cannot go without. A body that is not JSON of the route's
//! shape is 400 `VALIDATION_FAILED` (the `JsonConfig` in `main.rs`); a
//! missing field is the same, naming the field. The bodies of one route
//! stand beside it, in `routes/`.

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::errors::Problem;

/// A password or code from a request body: wiped on drop.
pub type Secret = Zeroizing<String>;

/// A body's `field`, or 400 `VALIDATION_FAILED` when the body has none.
pub fn required<'a, T>(value: &'a Option<T>, field: &str) -> Result<&'a T, Problem> {
    value.as_ref().ok_or_else(|| Problem::required(field))
}

/// `{email, password}`: registering, and the login's password step.
#[derive(Deserialize)]
pub struct Credentials {
    pub email: Option<String>,
    pub password: Option<Secret>,
}

impl Credentials {
    /// The email, trimmed and lowercased, if it is plausibly an address.
    pub fn email(&self) -> Result<String, Problem> {
        let email = self.email.as_deref().map(str::trim).unwrap_or_default();
        let plausible = email.len() <= 254
            && email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plausible {
            return Err(Problem::validation("`email` must be an email address."));
        }
        Ok(email.to_lowercase())
    }

    pub fn password(&self) -> Result<&Secret, Problem> {
        required(&self.password, "password")
    }
}

/// `{password}`: what binding a factor takes (TOTP setup, a passkey's
/// options), so that a session alone binds none.
#[derive(Deserialize)]
pub struct Password {
    pub password: Option<Secret>,
}

/// `{password, code}`: what the strict regenerate route and disable take.
#[derive(Deserialize)]
pub struct PasswordAndCode {
    pub password: Option<Secret>,
    pub code: Option<Secret>,
}
