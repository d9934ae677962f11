//! The MFA routes, each a few lines over `mfa::Mfa`, with its OpenAPI path.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use mfa::http::{BackupCodesAnswer, SetupAnswer, VerifiedAnswer};
use mfa::{MfaStatus, Reauth};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::answers::{Proven, codes};
use crate::extract::MfaUser;
use crate::passkeys;
use crate::problem::{Body, Problem};
use crate::{MfaHost, SessionState};

/// A password or a code from a request body: wiped on drop.
type Secret = Zeroizing<String>;

/// A body's `field`, or 400 `VALIDATION_FAILED` naming it.
fn required<'a>(value: &'a Option<Secret>, field: &str) -> Result<&'a str, Problem> {
    value
        .as_deref()
        .map(String::as_str)
        .ok_or_else(|| Problem::validation(&format!("`{field}` is required.")))
}

/// `{password}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Password {
    /// The account's password.
    #[schema(value_type = String)]
    password: Option<Secret>,
}

/// `{code}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Code {
    /// A current code of the new authenticator app.
    #[schema(value_type = String, example = "123456")]
    code: Option<Secret>,
}

/// `{password, code}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasswordAndCode {
    /// The account's password.
    #[schema(value_type = String)]
    password: Option<Secret>,
    /// A current TOTP code (or, to disable, a backup code).
    #[schema(value_type = Option<String>)]
    code: Option<Secret>,
}

/// `{code}` or `{backupCode}`: exactly one.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OneCode {
    /// A current TOTP code.
    #[schema(value_type = Option<String>, example = "123456")]
    code: Option<Secret>,
    /// An unused backup code.
    #[schema(value_type = Option<String>, example = "a1b2c-d3e4f")]
    backup_code: Option<Secret>,
}

impl OneCode {
    /// The one code, shaped like its field; a malformed one is 401
    /// `INVALID_CODE`, not counted.
    fn is_given(&self) -> bool {
        self.code.is_some() || self.backup_code.is_some()
    }

    fn get(&self, digits: u8) -> Result<&str, Problem> {
        let (code, backup) = (self.code.as_deref(), self.backup_code.as_deref());
        mfa::http::one_code(code.map(String::as_str), backup.map(String::as_str), digits)
            .map_err(|e| Problem::from(e).at_login_step())?
            .ok_or_else(|| {
                Problem::validation("Give exactly one of `code`, `backupCode` and `passkey`.")
            })
    }
}

/// `{mfaToken}`, one code, and `rememberDevice`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginMfa {
    /// The `mfaToken` of the password step.
    #[schema(value_type = String)]
    mfa_token: Option<Secret>,
    #[serde(flatten)]
    code: OneCode,
    /// The browser's answer to `passkeyOptions`, instead of a code.
    #[schema(value_type = Option<Object>)]
    passkey: Option<serde_json::Value>,
    /// `true` asks for a `deviceToken` that skips this step next time.
    remember_device: Option<bool>,
}

/// `{code}`, `{backupCode}` or `{stepUpToken, passkey}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StepUp {
    #[serde(flatten)]
    code: OneCode,
    /// The `stepUpToken` of `POST /auth/step-up/options`, with `passkey`.
    step_up_token: Option<String>,
    /// The browser's answer to the step-up's options.
    #[schema(value_type = Option<Object>)]
    passkey: Option<serde_json::Value>,
}

/// `{success, backupCodes, token}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Confirmed {
    /// Always `true`.
    success: bool,
    /// The ten backup codes, shown this once (none when passkeys had MFA
    /// on already: the set's codes stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    backup_codes: Option<Vec<Zeroizing<String>>>,
    /// The new session (the change revoked the one that made it).
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// `{backup_codes}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct StrictCodes {
    /// The new backup codes, shown this once.
    #[schema(value_type = Vec<String>)]
    backup_codes: Vec<Zeroizing<String>>,
}

/// `{success, token}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Success {
    /// Always `true`.
    success: bool,
    /// The new session, where the change revoked the one that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// Whether MFA is on with passkeys and no app: setting up an app then adds
/// it beside them.
fn passkeys_without_app(record: &mfa::MfaEnrollment) -> bool {
    matches!(record.factor(), mfa::FactorState::Active(set) if set.app().is_none())
}

/// The request's session, checked, and its user's record.
async fn user<H: MfaHost>(host: &H, parts: &Parts) -> Result<MfaUser<H>, Problem> {
    MfaUser::from_parts(host, parts).await
}

/// The user's MFA status.
#[utoipa::path(get, path = "/user/me/totp", tag = "mfa",
    responses((status = 200, body = MfaStatus), (status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn status<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
) -> Result<Json<MfaStatus>, Problem> {
    let user = user(&host, &parts).await?;
    Ok(Json(host.mfa().status(&user.state.user_id).await?))
}

/// Begins TOTP setup, on the password (a session alone binds no factor);
/// beside passkeys, also on a recent proof.
#[utoipa::path(post, path = "/user/me/totp/setup", tag = "mfa", request_body = Password,
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = SetupAnswer), (status = 400, description = "`VALIDATION_FAILED`, `INVALID_PASSWORD`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "`MFA_ALREADY_ENABLED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn setup<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<Password>,
) -> Result<Json<SetupAnswer>, Problem> {
    let user = user(&host, &parts).await?;
    let id = &user.state.user_id;
    host.check_password(id, required(&body.password, "password")?)
        .await?;
    let account = host.account_name(id).await?;
    let setup = if passkeys_without_app(&user.record) {
        // The app joins the passkeys: on a recent proof, as a new phone would.
        let proof = user.recent_proof(&host)?;
        host.mfa()
            .begin_replacement(id, &account, Reauth::RecentProof(&proof))
            .await?
    } else {
        host.mfa().begin_setup(id, &account).await?
    };
    Ok(Json(SetupAnswer::new(&setup)?))
}

/// Confirms the setup with a first code: MFA on, ten backup codes, a new session.
#[utoipa::path(post, path = "/user/me/totp/confirm", tag = "mfa", request_body = Code,
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = Confirmed), (status = 400, description = "`INVALID_CODE`, `NO_PENDING_SECRET`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "`MFA_ALREADY_ENABLED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 429, description = "`LOCKED_OUT`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn confirm<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<Code>,
) -> Result<Json<Confirmed>, Problem> {
    let user = user(&host, &parts).await?;
    let id = &user.state.user_id;
    let code = body.code.as_deref().map_or("", String::as_str);
    let (backup_codes, proof) = if passkeys_without_app(&user.record) {
        // The app joins the passkeys; the set's backup codes stay.
        (None, host.mfa().confirm_replacement(id, code).await?)
    } else {
        let enabled = host.mfa().confirm_setup(id, code).await?;
        (Some(codes(&enabled.backup_codes)), enabled.proof)
    };
    let token = host.issue(&parts, SessionState::proven(id, proof)).await?;
    Ok(Json(Confirmed {
        success: true,
        backup_codes,
        token,
    }))
}

/// New backup codes on the session's recent proof.
#[utoipa::path(post, path = "/user/me/totp/backup-codes/regenerate", tag = "mfa",
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = BackupCodesAnswer), (status = 400, description = "`MFA_NOT_ENABLED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn regenerate<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
) -> Result<Json<BackupCodesAnswer>, Problem> {
    let user = user(&host, &parts).await?;
    let proof = mfa::Proof::required(user.state.proof, &user.record)?;
    let reauth = Reauth::RecentProof(&proof);
    let codes = host
        .mfa()
        .regenerate_backup_codes(&user.state.user_id, reauth)
        .await?;
    Ok(Json(BackupCodesAnswer::new(&codes)))
}

/// New backup codes on the password and a current TOTP code.
#[utoipa::path(post, path = "/user/profile/mfa/backup-codes", tag = "mfa", request_body = PasswordAndCode,
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = StrictCodes), (status = 400, description = "`VALIDATION_FAILED`, `INVALID_PASSWORD`, `INVALID_CODE`, `MFA_NOT_ENABLED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "`LOCKED_OUT`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn regenerate_strict<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<PasswordAndCode>,
) -> Result<Json<StrictCodes>, Problem> {
    let user = user(&host, &parts).await?;
    let id = &user.state.user_id;
    let password = required(&body.password, "password")?;
    let code = required(&body.code, "code")?;
    host.check_password(id, password).await?;
    let new = host
        .mfa()
        .regenerate_backup_codes(id, Reauth::TotpCode(code))
        .await?;
    Ok(Json(StrictCodes {
        backup_codes: codes(&new),
    }))
}

/// MFA off, on the password and a code (TOTP or backup), or the password
/// alone on a recent proof.
#[utoipa::path(post, path = "/user/me/totp/disable", tag = "mfa", request_body = PasswordAndCode,
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = Success), (status = 400, description = "`VALIDATION_FAILED`, `INVALID_PASSWORD`, `INVALID_CODE`, `MFA_NOT_ENABLED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 429, description = "`LOCKED_OUT`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn disable<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<PasswordAndCode>,
) -> Result<Json<Success>, Problem> {
    let user = user(&host, &parts).await?;
    let id = &user.state.user_id;
    host.check_password(id, required(&body.password, "password")?)
        .await?;
    let proof = match body.code.as_deref() {
        Some(code) => host.mfa().disable(id, code).await?,
        None => {
            let proof = mfa::Proof::required(user.state.proof, &user.record)?;
            host.mfa()
                .disable_with(id, Reauth::RecentProof(&proof))
                .await?
        }
    };
    let token = host.issue(&parts, SessionState::proven(id, proof)).await?;
    Ok(Json(Success {
        success: true,
        token,
    }))
}

/// Begins replacing the authenticator app (a new phone), on the password
/// and a code of the active app or a backup code (the phone may be lost):
/// the new secret waits beside the active one, which keeps working.
#[utoipa::path(post, path = "/user/me/totp/replace", tag = "mfa", request_body = PasswordAndCode,
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = SetupAnswer), (status = 400, description = "`VALIDATION_FAILED`, `INVALID_PASSWORD`, `INVALID_CODE` (counted), `MFA_NOT_ENABLED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "`LOCKED_OUT`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn replace<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<PasswordAndCode>,
) -> Result<Json<SetupAnswer>, Problem> {
    let user = user(&host, &parts).await?;
    let id = &user.state.user_id;
    let password = required(&body.password, "password")?;
    let code = required(&body.code, "code")?;
    host.check_password(id, password).await?;
    let account = host.account_name(id).await?;
    let setup = host
        .mfa()
        .begin_replacement(id, &account, Reauth::Code(code))
        .await?;
    Ok(Json(SetupAnswer::new(&setup)?))
}

/// The new app becomes the factor, on one of its codes; every earlier
/// session is revoked and the answer carries a new one.
#[utoipa::path(post, path = "/user/me/totp/replace/confirm", tag = "mfa", request_body = Code,
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = Success), (status = 400, description = "`INVALID_CODE` (counted), `NO_PENDING_SECRET`, `PENDING_EXPIRED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "`LOCKED_OUT`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn confirm_replacement<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<Code>,
) -> Result<Json<Success>, Problem> {
    let user = user(&host, &parts).await?;
    let id = &user.state.user_id;
    let code = body.code.as_deref().map_or("", String::as_str);
    let proof = host.mfa().confirm_replacement(id, code).await?;
    let token = host.issue(&parts, SessionState::proven(id, proof)).await?;
    Ok(Json(Success {
        success: true,
        token,
    }))
}

/// Forgets every remembered device, on the session's recent proof.
#[utoipa::path(post, path = "/user/me/devices/forget", tag = "mfa",
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = Success), (status = 400, description = "`MFA_NOT_ENABLED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn forget_devices<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
) -> Result<Json<Success>, Problem> {
    let user = user(&host, &parts).await?;
    let proof = mfa::Proof::required(user.state.proof, &user.record)?;
    host.mfa()
        .forget_devices(&user.state.user_id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(Success {
        success: true,
        token: None,
    }))
}

/// The login's second step: a session with a fresh proof.
#[utoipa::path(post, path = "/auth/login/mfa", tag = "auth", request_body = LoginMfa,
    responses((status = 200, body = Proven), (status = 400, description = "`VALIDATION_FAILED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "`INVALID_CODE`, `INVALID_MFA_TOKEN`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 429, description = "`LOCKED_OUT`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn login_mfa<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<LoginMfa>,
) -> Result<Json<Proven>, Problem> {
    let token = body.mfa_token.as_deref().map_or("", String::as_str);
    let challenge = host
        .login_tokens()
        .open(token)
        .ok_or(mfa::Error::InvalidChallenge)?;
    let verified = match body.passkey {
        Some(_) if body.code.is_given() => {
            return Err(Problem::validation(
                "Give exactly one of `code`, `backupCode` and `passkey`.",
            ));
        }
        Some(passkey) => {
            let credential: mfa::passkey::PublicKeyCredential =
                passkeys::credential(Some(passkey), "passkey")?;
            if !challenge.accepts_passkey() {
                return Err(passkeys::refused_assertion(mfa::Error::InvalidPasskey));
            }
            host.mfa()
                .complete_login_with_passkey(&challenge, &credential)
                .await
                .map_err(|e| match e {
                    // A used or outdated challenge, as with a code.
                    mfa::Error::InvalidChallenge => Problem::from(e),
                    e => passkeys::refused_assertion(e),
                })?
        }
        None => {
            let code = body.code.get(host.mfa().context().policy().totp.digits)?;
            host.mfa()
                .complete_login(&challenge, code)
                .await
                .map_err(|e| Problem::from(e).at_login_step())?
        }
    };
    let id = challenge.user_id();
    let device_token = match body.remember_device {
        Some(true) => Some(
            host.mfa()
                .remember_device(id, &verified.proof)
                .await?
                .as_str()
                .to_owned(),
        ),
        _ => None,
    };
    let token = host
        .issue(&parts, SessionState::proven(id, verified.proof))
        .await?;
    Ok(Json(Proven::new(
        token,
        VerifiedAnswer::from(&verified),
        device_token,
    )))
}

/// A fresh proof for the session, with a TOTP code, a backup code or a
/// passkey (with the `stepUpToken` of `POST /auth/step-up/options`).
#[utoipa::path(post, path = "/auth/step-up", tag = "auth", request_body = StepUp,
    responses((status = 200, body = Proven), (status = 400, description = "`VALIDATION_FAILED`, `MFA_NOT_ENABLED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "`INVALID_CODE`, `UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 429, description = "`LOCKED_OUT`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn step_up<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<StepUp>,
) -> Result<Json<Proven>, Problem> {
    let user = user(&host, &parts).await?;
    let id = &user.state.user_id;
    let verified = match body.passkey {
        Some(_) if body.code.is_given() => {
            return Err(Problem::validation(
                "Give exactly one of `code`, `backupCode` and `passkey`.",
            ));
        }
        Some(passkey) => {
            passkeys::step_up(&host, id, body.step_up_token.as_deref(), passkey).await?
        }
        None => {
            let code = body.code.get(host.mfa().context().policy().totp.digits)?;
            host.mfa()
                .verify(id, code)
                .await
                .map_err(|e| Problem::from(e).at_login_step())?
        }
    };
    let token = host
        .issue(&parts, SessionState::proven(id, verified.proof))
        .await?;
    Ok(Json(Proven::new(
        token,
        VerifiedAnswer::from(&verified),
        None,
    )))
}
