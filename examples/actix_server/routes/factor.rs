//! The user's authenticator app and backup codes: the status, setup (with
//! the password) and its confirmation with a first code, the two ways to
//! regenerate the backup codes — with a recent proof, or with the password
//! and a code — and turning MFA off (the password and a code).

use actix_web::{HttpRequest, HttpResponse, web};
use mfa::{Proof, Reauth};
use serde::Deserialize;
use serde_json::json;

use super::{Answer, ok};
use crate::State;
use crate::bodies::{Password, PasswordAndCode, Secret};

/// `{code}`: the first code of a new authenticator app.
#[derive(Deserialize)]
pub struct Code {
    code: Option<Secret>,
}

impl Code {
    /// A missing code is `INVALID_CODE`, as an empty one would be.
    fn get(&self) -> Result<&str, mfa::Error> {
        self.code
            .as_deref()
            .map(String::as_str)
            .ok_or(mfa::Error::MalformedCode(
                mfa::error::CodeFormatError::Empty,
            ))
    }
}

pub async fn status(state: web::Data<State>, req: HttpRequest) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    ok(json!(state.mfa.status(&session.user_id).await?))
}

pub async fn setup(state: web::Data<State>, req: HttpRequest, body: web::Json<Password>) -> Answer {
    // A session alone never binds a factor: the password first.
    let session = state
        .authenticate_with_password(&req, &body.password)
        .await?;
    let setup = state
        .mfa
        .begin_setup(&session.user_id, &session.email)
        .await?;
    Ok(HttpResponse::Ok().json(mfa::http::SetupAnswer::new(&setup)?))
}

pub async fn confirm(state: web::Data<State>, req: HttpRequest, body: web::Json<Code>) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    let enabled = state
        .mfa
        .confirm_setup(&session.user_id, body.get()?)
        .await?;
    let token = state.proven_session(&session, enabled.proof);
    ok(json!({"success": true, "backupCodes": enabled.backup_codes.as_strs(), "token": token}))
}

/// New backup codes on a session's recent proof.
pub async fn regenerate(state: web::Data<State>, req: HttpRequest) -> Answer {
    let (session, record) = state.authenticate(&req).await?;
    let proof = Proof::required(session.proof, &record)?;
    let reauth = Reauth::RecentProof(&proof);
    let codes = state
        .mfa
        .regenerate_backup_codes(&session.user_id, reauth)
        .await?;
    Ok(HttpResponse::Ok().json(mfa::http::BackupCodesAnswer::new(&codes)))
}

/// New backup codes on the password and a current TOTP code.
pub async fn regenerate_strict(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<PasswordAndCode>,
) -> Answer {
    let (session, code) = state.reauthenticate(&req, &body).await?;
    let reauth = Reauth::TotpCode(code);
    let codes = state
        .mfa
        .regenerate_backup_codes(&session.user_id, reauth)
        .await?;
    ok(json!({"backup_codes": codes.as_strs()}))
}

pub async fn disable(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<PasswordAndCode>,
) -> Answer {
    let (session, code) = state.reauthenticate(&req, &body).await?;
    let proof = state.mfa.disable(&session.user_id, code).await?;
    ok(json!({"success": true, "token": state.proven_session(&session, proof)}))
}
