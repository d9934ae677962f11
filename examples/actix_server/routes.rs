//! The handlers, one module per flow, each a few lines over `mfa::Mfa`:
//! registering an account (`routes/register.rs`), the login's password step
//! and second step (`routes/login.rs`), the user's authenticator app and
//! backup codes (`routes/factor.rs`) and registering a passkey
//! (`routes/passkeys.rs`). `main.rs` maps the paths to them.

pub mod factor;
pub mod login;
pub mod passkeys;
pub mod register;

use actix_web::HttpResponse;
use serde_json::Value;

use crate::errors::Problem;

/// What a handler answers: a JSON body, or a problem document.
pub type Answer = Result<HttpResponse, Problem>;

/// 200 with the JSON `body`.
pub fn ok(body: Value) -> Answer {
    Ok(HttpResponse::Ok().json(body))
}
