//! `POST /api/auth/register`: a new account, kept in memory, with its
//! password's Argon2id hash.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::Answer;
use crate::accounts::hash_password;
use crate::bodies::Credentials;
use crate::errors::Problem;
use crate::sessions::hex;
use crate::{State, lock};

pub async fn register(state: web::Data<State>, body: web::Json<Credentials>) -> Answer {
    let email = body.email()?;
    let password = body.password()?;
    if !(8..=1024).contains(&password.chars().count()) {
        return Err(Problem::validation(
            "`password` must have 8 to 1024 characters.",
        ));
    }
    let hash = hash_password(password.clone()).await?;
    let id = hex(&rand::random::<[u8; 16]>());
    let mut accounts = lock(&state.accounts);
    if accounts.contains_key(&email) {
        return Err(Problem::new(
            409,
            "EMAIL_TAKEN",
            "Email taken",
            "An account with this email already exists.",
        ));
    }
    accounts.insert(email, (id.clone(), hash));
    Ok(HttpResponse::Created().json(json!({"id": id})))
}
