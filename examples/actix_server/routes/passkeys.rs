//! Registering a passkey: `POST /api/user/me/passkeys/options` (with the
//! password) answers the options for `navigator.credentials.create()`, and
//! `POST /api/user/me/passkeys` adds the browser's answer under a name —
//! with the first backup codes when it is the user's first factor.

use actix_web::{HttpRequest, HttpResponse, web};
use mfa::passkey::RegisterPublicKeyCredential;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, ok};
use crate::State;
use crate::bodies::{Password, required};
use crate::errors::Problem;
use crate::webauthn::{credential, options_json};

/// `{name, credential}`: a new passkey, as `navigator.credentials.create()`
/// answered the options.
#[derive(Deserialize)]
pub struct NewPasskey {
    name: Option<String>,
    credential: Option<Value>,
}

pub async fn passkey_options(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<Password>,
) -> Answer {
    // Binding a factor: the password, and while MFA is on a recent proof.
    let session = state
        .authenticate_with_password(&req, &body.password)
        .await?;
    let options = state
        .mfa
        .begin_passkey_registration(&session.user_id, &session.email, session.proof.as_ref())
        .await?;
    ok(options_json(&options))
}

pub async fn add_passkey(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<NewPasskey>,
) -> Answer {
    let (session, _) = state.authenticate(&req).await?;
    let body = body.into_inner();
    let name = mfa::passkey::PasskeyPolicy::check_name(required(&body.name, "name")?)
        .map_err(|e| Problem::validation(&e.public_detail()))?;
    let credential: RegisterPublicKeyCredential = credential(body.credential, "credential")?;
    let added = (state.mfa)
        .confirm_passkey_registration(&session.user_id, name, &credential, session.proof.as_ref())
        .await?;
    let passkey = &added.passkey;
    let mut answer = json!({
        "passkey": {
            "id": passkey.id(),
            "name": passkey.name(),
            "createdAt": rfc3339(passkey.created_at()),
            "lastUsedAt": passkey.last_used_at().map(rfc3339),
            "backupEligible": passkey.backup_eligible(),
            "backedUp": passkey.backed_up(),
        },
        "token": state.proven_session(&session, added.proof),
    });
    if let Some(codes) = &added.backup_codes {
        answer["backupCodes"] = json!(codes.as_strs());
    }
    Ok(HttpResponse::Created().json(answer))
}

/// Unix seconds as RFC 3339 in UTC (civil from days, after Howard Hinnant).
fn rfc3339(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3_600, rest % 3_600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}
