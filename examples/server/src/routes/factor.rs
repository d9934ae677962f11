//! The user's own factor: status, setup and confirmation, both backup-code
//! regenerations, disable, replacing the authenticator and forgetting
//! remembered devices.
//!
//! Beside passkeys, setting up an authenticator app adds it to the set:
//! the crate models that as a replacement of a set without an app, which a
//! recent proof authorises beside the password; the set's backup codes stay.
//! Disable turns the whole set off, passkeys included, and takes the
//! password alone from a session whose proof is recent (a passkey user has
//! no code to type).
//!
//! What hands the factor to whoever holds the session takes proof of more
//! than the session (I17): setup takes the password, beginning a
//! replacement the password and a current code (or a backup code), the
//! strict regenerate the password and a code, disable the password and a
//! code or a recent proof. Regeneration and forgetting devices, which hand
//! nothing over, take a recent proof.

use axum::Json;
use axum::extract::State;
use mfa::http::{BackupCodesAnswer, SetupAnswer};
use mfa::{FactorState, MfaEnrollment, Reauth};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Code, Password, Success, SuccessWithToken, reauthenticate, required};
use crate::AppState;
use crate::auth::Session;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::users::{Secret, User};

/// Confirmed: the backup codes, shown once (absent when passkeys had MFA on
/// already: their codes stay), and a session with a fresh proof.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConfirmAnswer {
    #[schema(schema_with = crate::openapi::always_true)]
    success: bool,
    /// The new backup codes, shown this once; absent when the user's
    /// passkeys had MFA on already (the set's codes stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, min_items = 1)]
    backup_codes: Option<zeroize::Zeroizing<Vec<String>>>,
    /// The session that works from now on; every earlier one is revoked.
    token: String,
}

/// `{"backup_codes": [...]}` (this route's historical field name); wiped on drop.
#[derive(Serialize, ToSchema)]
pub(super) struct LegacyBackupCodes {
    #[schema(value_type = Vec<String>, min_items = 1)]
    backup_codes: zeroize::Zeroizing<Vec<String>>,
}

/// `{password}`, or `{password, code}`: the account's password, and a
/// current TOTP or backup code unless the session's proof is recent.
#[derive(Deserialize, ToSchema)]
pub(super) struct PasswordAndMaybeCode {
    #[schema(value_type = String, required = true)]
    password: Option<Secret>,
    /// A TOTP code or a backup code. Without it, the session's proof must
    /// be recent.
    #[schema(value_type = Option<String>, example = "123456")]
    code: Option<Secret>,
}

/// `{password, code}`: the account's password and a current code.
#[derive(Deserialize, ToSchema)]
pub(super) struct PasswordAndCode {
    #[schema(value_type = String, required = true)]
    password: Option<Secret>,
    /// A TOTP code (at disable and replace, a backup code too).
    #[schema(value_type = String, example = "123456", required = true)]
    code: Option<Secret>,
}

/// The user's MFA status.
#[utoipa::path(get, path = "/api/user/me/totp", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "Where the factor stands.", body = mfa::MfaStatus),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
    ))]
pub(super) async fn status(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<mfa::MfaStatus>, ApiError> {
    Ok(Json(app.mfa.status(&session.user.id).await?))
}

/// Whether the record's set has passkeys and no authenticator app: a setup
/// then adds the app to the set.
fn passkeys_without_app(record: &MfaEnrollment) -> bool {
    matches!(record.factor(), FactorState::Active(set) if set.app().is_none())
}

/// Begins a TOTP setup (replacing an earlier pending one), with the
/// account's password: a session alone never binds a factor. Beside
/// passkeys, the session's proof must be recent too.
#[utoipa::path(post, path = "/api/user/me/totp/setup", tag = "mfa", request_body = Password,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the authenticator app needs; the setup waits for its first code.", body = SetupAnswer),
        (status = 400, description = "`INVALID_PASSWORD` (counted by the password lock); `VALIDATION_FAILED`: no `password`, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: the user has passkeys and the session's proof is not recent.", body = Problem),
        (status = 409, description = "`MFA_ALREADY_ENABLED`: an authenticator app is active already.", body = Problem),
        (status = 429, description = "`TOO_MANY_ATTEMPTS` (wrong passwords; the password was not checked); `LOCKED_OUT`.", body = Problem),
    ))]
pub(super) async fn setup(
    State(app): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<Password>,
) -> Result<Json<SetupAnswer>, ApiError> {
    let user = &session.user;
    reauthenticate(&app, user, &body.password).await?;
    let setup = if passkeys_without_app(&session.record) {
        let proof = session.proof()?;
        let reauth = Reauth::RecentProof(&proof);
        app.mfa
            .begin_replacement(&user.id, &user.email, reauth)
            .await?
    } else {
        app.mfa.begin_setup(&user.id, &user.email).await?
    };
    Ok(Json(SetupAnswer::new(&setup)?))
}

/// Confirms the setup with a first code: MFA on.
#[utoipa::path(post, path = "/api/user/me/totp/confirm", tag = "mfa", request_body = Code,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA is on: the backup codes, shown this once (none when passkeys had MFA on already), and the session that works from now on (every earlier one is revoked).", body = ConfirmAnswer),
        (status = 400, description = "`INVALID_CODE` (wrong, malformed or missing; nothing enabled); `NO_PENDING_SECRET`; `PENDING_EXPIRED`; `VALIDATION_FAILED` (a malformed body).", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 409, description = "`MFA_ALREADY_ENABLED`: an authenticator app is active already.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(super) async fn confirm(
    State(app): State<AppState>,
    Session { user, record, .. }: Session,
    JsonBody(body): JsonBody<Code>,
) -> Result<Json<ConfirmAnswer>, ApiError> {
    let code = body.get()?;
    let (backup_codes, proof) = if passkeys_without_app(&record) {
        // The app joins the passkeys; the set's backup codes stay.
        (None, app.mfa.confirm_replacement(&user.id, code).await?)
    } else {
        let enabled = app.mfa.confirm_setup(&user.id, code).await?;
        let codes = enabled.backup_codes.iter().map(|c| c.as_str().to_owned());
        (
            Some(zeroize::Zeroizing::new(codes.collect())),
            enabled.proof,
        )
    };
    Ok(Json(ConfirmAnswer {
        success: true,
        backup_codes,
        token: app.tokens.proven_session(&user.id, proof)?,
    }))
}

/// New backup codes; every earlier one stops working. Needs a session
/// whose proof is within the step-up window.
#[utoipa::path(post, path = "/api/user/me/totp/backup-codes/regenerate", tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once.", body = BackupCodesAnswer),
        (status = 400, description = "`MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: the session's proof is too old, or it has none (`POST /api/auth/step-up`).", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(super) async fn regenerate(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<BackupCodesAnswer>, ApiError> {
    let proof = session.proof()?;
    let codes = app
        .mfa
        .regenerate_backup_codes(&session.user.id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(BackupCodesAnswer::new(&codes)))
}

/// Begins replacing the authenticator: a new secret pending beside the
/// active one. Takes the password and a current code of the active app or
/// an unused backup code (the phone may be lost), checked like disable:
/// the password first, then the code. A session alone, however recent its
/// proof, never hands the factor over.
#[utoipa::path(post, path = "/api/user/me/totp/replace", tag = "mfa",
    request_body = PasswordAndCode, security(("bearer" = [])),
    responses(
        (status = 200, description = "What the new authenticator app needs; the active one keeps working until the replacement is confirmed.", body = SetupAnswer),
        (status = 400, description = "`VALIDATION_FAILED` (a missing field, a malformed body); `INVALID_PASSWORD` (the code was neither used nor counted); `INVALID_CODE` (counted toward the lockout); `MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`; `TOO_MANY_ATTEMPTS` (wrong passwords).", body = Problem),
    ))]
pub(super) async fn replace(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<PasswordAndCode>,
) -> Result<Json<SetupAnswer>, ApiError> {
    let code = body.reauthenticate(&app, &user).await?;
    let setup = app
        .mfa
        .begin_replacement(&user.id, &user.email, Reauth::Code(code))
        .await?;
    Ok(Json(SetupAnswer::new(&setup)?))
}

/// Swaps in the pending secret with a code of the new app; every earlier
/// session and `mfaToken` is revoked, the answer's token is the one that works.
#[utoipa::path(post, path = "/api/user/me/totp/replace/confirm", tag = "mfa", request_body = Code,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new app is the factor; backup codes are kept; other sessions, `mfaToken`s and remembered devices are revoked.", body = SuccessWithToken),
        (status = 400, description = "`INVALID_CODE` (counted); `NO_PENDING_SECRET`; `PENDING_EXPIRED`; `VALIDATION_FAILED` (a malformed body).", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(super) async fn confirm_replacement(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<Code>,
) -> Result<Json<SuccessWithToken>, ApiError> {
    let code = body.get()?;
    let proof = app.mfa.confirm_replacement(&user.id, code).await?;
    let token = app.tokens.proven_session(&user.id, proof)?;
    Ok(Json(SuccessWithToken {
        success: true,
        token,
    }))
}

/// Forgets every remembered device. Needs a session whose proof is within
/// the step-up window.
#[utoipa::path(post, path = "/api/user/me/devices/forget", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every remembered device is forgotten.", body = Success),
        (status = 400, description = "`MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(super) async fn forget_devices(
    State(app): State<AppState>,
    session: Session,
) -> Result<Json<Success>, ApiError> {
    let proof = session.proof()?;
    app.mfa
        .forget_devices(&session.user.id, Reauth::RecentProof(&proof))
        .await?;
    Ok(Json(Success { success: true }))
}

impl PasswordAndCode {
    /// Both fields, then the password, checked before anything looks at the
    /// code ([`reauthenticate`]): the code, once the password is right.
    async fn reauthenticate(&self, app: &AppState, user: &User) -> Result<&str, ApiError> {
        self.password
            .as_ref()
            .ok_or_else(|| ApiError::validation("`password` is required."))?;
        let code = required(&self.code, "code")?;
        reauthenticate(app, user, &self.password).await?;
        Ok(code)
    }
}

/// New backup codes with the password and a current TOTP code; every
/// earlier code stops working.
#[utoipa::path(post, path = "/api/user/profile/mfa/backup-codes", tag = "mfa",
    request_body = PasswordAndCode, security(("bearer" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once.", body = LegacyBackupCodes),
        (status = 400, description = "`VALIDATION_FAILED` (a missing field, a malformed body); `INVALID_PASSWORD` (the code was neither used nor counted); `INVALID_CODE`; `MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`; `TOO_MANY_ATTEMPTS` (wrong passwords).", body = Problem),
    ))]
pub(super) async fn regenerate_strict(
    State(app): State<AppState>,
    Session { user, .. }: Session,
    JsonBody(body): JsonBody<PasswordAndCode>,
) -> Result<Json<LegacyBackupCodes>, ApiError> {
    let code = body.reauthenticate(&app, &user).await?;
    let codes = app
        .mfa
        .regenerate_backup_codes(&user.id, Reauth::TotpCode(code))
        .await?;
    Ok(Json(LegacyBackupCodes {
        backup_codes: zeroize::Zeroizing::new(
            codes.iter().map(|c| c.as_str().to_owned()).collect(),
        ),
    }))
}

/// MFA off, with the password and a TOTP or backup code, or with the
/// password alone from a session whose proof is recent; the app, every
/// passkey, the backup codes and remembered devices are deleted.
#[utoipa::path(post, path = "/api/user/me/totp/disable", tag = "mfa",
    request_body = PasswordAndMaybeCode, security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA is off; the answer's session is the one that works from now on.", body = SuccessWithToken),
        (status = 400, description = "`VALIDATION_FAILED`; `INVALID_PASSWORD` (the code was neither used nor counted); `INVALID_CODE`; `MFA_NOT_ENABLED`.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: no `code`, and the session's proof is not recent.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`; `TOO_MANY_ATTEMPTS` (wrong passwords).", body = Problem),
    ))]
pub(super) async fn disable(
    State(app): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<PasswordAndMaybeCode>,
) -> Result<Json<SuccessWithToken>, ApiError> {
    let user = &session.user;
    reauthenticate(&app, user, &body.password).await?;
    let proof = match &body.code {
        Some(code) => app.mfa.disable(&user.id, code.expose()).await?,
        None => {
            let proof = session.proof()?;
            let reauth = Reauth::RecentProof(&proof);
            app.mfa.disable_with(&user.id, reauth).await?
        }
    };
    let token = app.tokens.proven_session(&user.id, proof)?;
    Ok(Json(SuccessWithToken {
        success: true,
        token,
    }))
}
