//! The user's passkeys: registering one, listing, renaming and removing
//! them.
//!
//! Registering binds a factor, so it takes the account's password, and
//! while MFA is on a session whose proof is recent (I17); the `mfa` crate
//! keeps the ceremony's state in the user's record between the two
//! requests. Every registration and removal moves the user's epoch on: the
//! answer's session is the one that works afterwards.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use mfa::Reauth;
use mfa::http::ProblemDetails as Problem;
use mfa::passkey::{PasskeyPolicy, StoredPasskey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{Password, SuccessWithToken, codes, reauthenticate};
use crate::extract::MfaUser;
use crate::problem::Body;
use crate::webauthn::{self, rfc3339};
use crate::{MfaHost, SessionState};

/// A passkey as the user sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasskeyAnswer {
    /// The passkey's own short id (not the credential id).
    #[schema(min_length = 1, example = "Xk2p9aQ_c1w")]
    id: String,
    /// The user's name for it.
    #[schema(min_length = 1, max_length = 64, example = "Laptop")]
    name: String,
    /// When it was registered (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// When it last completed a login or step-up (RFC 3339); `null` before.
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    /// Whether the authenticator may sync it (a synced passkey).
    backup_eligible: bool,
    /// Whether it was synced when last seen.
    backed_up: bool,
}

impl From<&StoredPasskey> for PasskeyAnswer {
    fn from(passkey: &StoredPasskey) -> Self {
        PasskeyAnswer {
            id: passkey.id().to_owned(),
            name: passkey.name().to_owned(),
            created_at: rfc3339(passkey.created_at()),
            last_used_at: passkey.last_used_at().map(rfc3339),
            backup_eligible: passkey.backup_eligible(),
            backed_up: passkey.backed_up(),
        }
    }
}

/// `{"publicKey"}`: creation options for `navigator.credentials.create()`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreationOptions {
    #[schema(schema_with = crate::schemas::creation_options)]
    public_key: Value,
}

/// `{"passkeys": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct PasskeyList {
    passkeys: Vec<PasskeyAnswer>,
}

/// `{"passkey"}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct OnePasskey {
    passkey: PasskeyAnswer,
}

/// A registered passkey, the session that works from now on, and for the
/// user's first factor the backup codes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasskeyAdded {
    passkey: PasskeyAnswer,
    /// A session with a fresh passkey proof; every earlier one is revoked.
    /// Absent where sessions are cookies.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// When the passkey is the user's first factor: the backup codes, shown
    /// this once. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, min_items = 10, max_items = 10)]
    backup_codes: Option<Zeroizing<Vec<String>>>,
}

/// `{name, credential}`: the browser's answer to the creation options.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewPasskey {
    /// A name for it: 1 to 64 characters, no control characters.
    #[schema(value_type = String, min_length = 1, max_length = 64, example = "Laptop", required = true)]
    name: Option<String>,
    /// What `PublicKeyCredential.toJSON()` gives after
    /// `navigator.credentials.create()`.
    #[schema(schema_with = crate::schemas::registration_credential, required = true)]
    credential: Option<Value>,
}

/// `{name}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasskeyName {
    /// 1 to 64 characters, no control characters.
    #[schema(value_type = String, min_length = 1, max_length = 64, example = "Phone", required = true)]
    name: Option<String>,
}

/// The passkey's id in the path.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct PasskeyId {
    /// The passkey's `id`, as listed.
    id: String,
}

/// A passkey name, checked the `mfa` crate's way: 400 `VALIDATION_FAILED`
/// when it is missing, empty, longer than 64 characters or holds a control,
/// bidi-override or invisible character.
fn name_of(name: Option<&str>) -> Result<&str, crate::Problem> {
    let name = name.ok_or_else(|| crate::Problem::validation("`name` is required."))?;
    if name.chars().count() > PasskeyPolicy::MAX_NAME_CHARS {
        return Err(crate::Problem::validation(
            "`name` must have 1 to 64 characters.",
        ));
    }
    PasskeyPolicy::check_name(name).map_err(|e| crate::Problem::validation(&e.public_detail()))
}

/// Without MFA there are no passkeys: `MFA_NOT_ENABLED` is 404 `NOT_FOUND`
/// on the routes naming one.
fn no_such_passkey(error: mfa::Error) -> crate::Problem {
    match error {
        mfa::Error::MfaNotEnabled => mfa::Error::PasskeyNotFound.into(),
        e => e.into(),
    }
}

/// Begins registering a passkey: creation options for
/// `navigator.credentials.create()`, excluding the user's passkeys. Takes
/// the password; while MFA is on, also a session whose proof is recent.
#[utoipa::path(post, path = "/user/me/passkeys/options", tag = "passkeys",
    request_body = Password, security(("session" = [])),
    responses(
        (status = 200, description = "The creation options. A new request replaces an earlier pending one, which expires like a TOTP setup.", body = CreationOptions),
        (status = 400, description = "`INVALID_PASSWORD`; `VALIDATION_FAILED`: no `password`, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: MFA is on and the session's proof is not recent (step up at `POST …/auth/step-up`).", body = Problem),
        (status = 409, description = "`TOO_MANY_PASSKEYS`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT` (failed codes or passkeys); `TOO_MANY_ATTEMPTS` (the host's password lock; the password was not checked).", body = Problem),
    ))]
pub(crate) async fn options<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    Body(body): Body<Password>,
) -> Result<Json<CreationOptions>, crate::Problem> {
    let id = &user.state.user_id;
    reauthenticate(&host, id, &body.password).await?;
    let account = host.account_name(id).await?;
    let options = host
        .mfa()
        .begin_passkey_registration(id, &account, user.state.proof.as_ref())
        .await?;
    Ok(Json(CreationOptions {
        public_key: webauthn::public_key(&options)?,
    }))
}

/// Registers the passkey that the browser created for the pending options.
#[utoipa::path(post, path = "/user/me/passkeys", tag = "passkeys",
    request_body = NewPasskey, security(("session" = [])),
    responses(
        (status = 201, description = "The passkey is registered; every earlier session is revoked and the answer's `token` is the one that works. As the user's first factor it turns MFA on, and the answer has the backup codes.", body = PasskeyAdded),
        (status = 400, description = "`INVALID_PASSKEY` (attestation, origin, RP id, challenge or user verification wrong; nothing stored); `NO_PENDING_SECRET`; `PENDING_EXPIRED`; `VALIDATION_FAILED`: a bad `name`, a `credential` that is not one, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: MFA is on and the session's proof is not recent.", body = Problem),
        (status = 409, description = "`PASSKEY_ALREADY_REGISTERED` (to this user or another); `TOO_MANY_PASSKEYS`.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(crate) async fn register<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<NewPasskey>,
) -> Result<(StatusCode, Json<PasskeyAdded>), crate::Problem> {
    let id = &user.state.user_id;
    let name = name_of(body.name.as_deref())?;
    let credential = webauthn::registration(body.credential, "credential")?;
    let added = host
        .mfa()
        .confirm_passkey_registration(id, name, &credential, user.state.proof.as_ref())
        .await?;
    let answer = PasskeyAdded {
        passkey: PasskeyAnswer::from(&added.passkey),
        backup_codes: added.backup_codes.as_ref().map(codes),
        token: host
            .issue(&parts, SessionState::proven(id, added.proof))
            .await?,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The user's passkeys.
#[utoipa::path(get, path = "/user/me/passkeys", tag = "passkeys",
    security(("session" = [])),
    responses(
        (status = 200, description = "Every passkey of the user, in the order registered.", body = PasskeyList),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
    ))]
pub(crate) async fn list<H: MfaHost>(user: MfaUser<H>) -> Json<PasskeyList> {
    let passkeys = user.record.passkeys().iter().map(PasskeyAnswer::from);
    Json(PasskeyList {
        passkeys: passkeys.collect(),
    })
}

/// Renames a passkey.
#[utoipa::path(patch, path = "/user/me/passkeys/{id}", tag = "passkeys",
    params(PasskeyId), request_body = PasskeyName, security(("session" = [])),
    responses(
        (status = 200, description = "The passkey, renamed.", body = OnePasskey),
        (status = 400, description = "`VALIDATION_FAILED`: a bad `name`, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 404, description = "`NOT_FOUND`: the user has no passkey with this id.", body = Problem),
    ))]
pub(crate) async fn rename<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    Path(PasskeyId { id }): Path<PasskeyId>,
    Body(body): Body<PasskeyName>,
) -> Result<Json<OnePasskey>, crate::Problem> {
    let name = name_of(body.name.as_deref())?;
    let passkey = host
        .mfa()
        .rename_passkey(&user.state.user_id, &id, name)
        .await
        .map_err(no_such_passkey)?;
    Ok(Json(OnePasskey {
        passkey: PasskeyAnswer::from(&passkey),
    }))
}

/// Removes a passkey: it no longer authenticates anywhere. Needs a session
/// whose proof is recent; other sessions, `mfaToken`s and remembered
/// devices are revoked.
#[utoipa::path(delete, path = "/user/me/passkeys/{id}", tag = "passkeys",
    params(PasskeyId), security(("session" = [])),
    responses(
        (status = 200, description = "Removed; the answer's session is the one that works from now on.", body = SuccessWithToken),
        (status = 401, description = "`UNAUTHENTICATED`; `SESSION_REVOKED`.", body = Problem),
        (status = 403, description = "`STEP_UP_REQUIRED`: the session's proof is not recent.", body = Problem),
        (status = 404, description = "`NOT_FOUND`: the user has no passkey with this id.", body = Problem),
        (status = 409, description = "`LAST_FACTOR`: it is the only factor; disable MFA instead.", body = Problem),
        (status = 429, description = "`LOCKED_OUT`.", body = Problem),
    ))]
pub(crate) async fn remove<H: MfaHost>(
    user: MfaUser<H>,
    State(host): State<H>,
    parts: Parts,
    Path(PasskeyId { id }): Path<PasskeyId>,
) -> Result<Json<SuccessWithToken>, crate::Problem> {
    let user_id = &user.state.user_id;
    let proof = user.proof().map_err(no_such_passkey)?;
    let proof = host
        .mfa()
        .remove_passkey(user_id, &id, Reauth::RecentProof(&proof))
        .await
        .map_err(no_such_passkey)?;
    let token = host
        .issue(&parts, SessionState::proven(user_id, proof))
        .await?;
    Ok(Json(SuccessWithToken::new(token)))
}
