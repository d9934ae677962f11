//! The login: `POST /api/auth/login` checks the password and, for a user
//! with a factor, answers an `mfaToken` (and `passkeyOptions` when the user
//! has a passkey) instead of a session; `POST /api/auth/login/mfa` completes
//! it with one of a TOTP code, a backup code or a passkey, once.

use actix_web::web;
use mfa::LoginStep;
use mfa::passkey::PublicKeyCredential;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, ok};
use crate::accounts::verify_password;
use crate::bodies::{Credentials, Secret};
use crate::errors::Problem;
use crate::sessions::{now, random_token};
use crate::webauthn::{credential, options_json};
use crate::{State, lock};

/// `{mfaToken}` and one of `code`, `backupCode` and `passkey`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaLogin {
    mfa_token: Option<String>,
    #[serde(flatten)]
    code: OneCode,
    /// The browser's answer to `passkeyOptions` (`PublicKeyCredential.toJSON()`).
    passkey: Option<Value>,
}

/// `{code}` (TOTP) or `{backupCode}`: exactly one, each of its own shape.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OneCode {
    code: Option<Secret>,
    backup_code: Option<Secret>,
}

impl OneCode {
    fn get(&self, digits: u8) -> Result<&str, Problem> {
        let (code, backup_code) = (self.code.as_deref(), self.backup_code.as_deref());
        mfa::http::one_code(
            code.map(String::as_str),
            backup_code.map(String::as_str),
            digits,
        )
        .map_err(|e| Problem::from(e).at_login_step())?
        .ok_or_else(|| Problem::validation("Give exactly one of `code` and `backupCode`."))
    }
}

/// The password step: a session at once for a user without a factor, else
/// an `mfaToken` for the second step.
pub async fn login(state: web::Data<State>, body: web::Json<Credentials>) -> Answer {
    let email = body
        .email
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let password = body.password()?;
    let account = lock(&state.accounts).get(&email).cloned();
    let hash = account
        .as_ref()
        .map_or(&state.dummy_hash, |(_, hash)| hash)
        .clone();
    let verified = verify_password(password.clone(), hash).await?;
    let Some((id, _)) = account.filter(|_| verified) else {
        return Err(Problem::new(
            401,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
            "The email or password is wrong.",
        ));
    };
    match state.mfa.begin_login(&id, None).await? {
        LoginStep::SecondFactor(challenge) => {
            let mut answer = json!({"mfaRequired": true});
            if let Some(options) = challenge.passkey_options() {
                let has_app = state.mfa.status(&id).await?.mfa_method == Some(mfa::MfaMethod::Totp);
                let methods = [
                    has_app.then_some("totp"),
                    Some("backupCode"),
                    Some("passkey"),
                ];
                answer["methods"] = json!(methods.into_iter().flatten().collect::<Vec<_>>());
                answer["passkeyOptions"] = options_json(options);
            }
            let token = random_token();
            let mut challenges = lock(&state.challenges);
            challenges.retain(|_, (c, _)| c.expires_at() > now());
            challenges.insert(token.clone(), (challenge, email));
            answer["mfaToken"] = json!(token);
            ok(answer)
        }
        LoginStep::Complete(epoch) | LoginStep::RememberedDevice(epoch) => {
            ok(json!({"token": state.new_session(&id, &email, epoch, None)}))
        }
        _ => Err(Problem::internal()),
    }
}

/// The second step: a session with a fresh proof.
pub async fn login_mfa(state: web::Data<State>, body: web::Json<MfaLogin>) -> Answer {
    let body = body.into_inner();
    let token = body.mfa_token.as_deref().unwrap_or_default();
    let found = lock(&state.challenges).get(token).cloned();
    let (challenge, email) = found.ok_or(mfa::Error::InvalidChallenge)?;
    let verified = match body.passkey {
        Some(_) if body.code.code.is_some() || body.code.backup_code.is_some() => {
            return Err(Problem::validation(
                "Give exactly one of `code`, `backupCode` and `passkey`.",
            ));
        }
        // A passkey answering the `passkeyOptions` of the password step.
        Some(passkey) => {
            let credential: PublicKeyCredential = credential(Some(passkey), "passkey")?;
            if !challenge.accepts_passkey() {
                return Err(Problem::from(mfa::Error::InvalidPasskey).at_login_step());
            }
            (state
                .mfa
                .complete_login_with_passkey(&challenge, &credential)
                .await)
                .map_err(|e| Problem::from(e).at_login_step())?
        }
        None => {
            let code = body.code.get(state.mfa.context().policy().totp.digits)?;
            (state.mfa.complete_login(&challenge, code).await)
                .map_err(|e| Problem::from(e).at_login_step())?
        }
    };
    let (id, proof) = (challenge.user_id(), verified.proof);
    let token = state.new_session(id, &email, proof.epoch, Some(proof));
    let mut answer = json!(mfa::http::VerifiedAnswer::from(&verified));
    answer["token"] = json!(token);
    ok(answer)
}
