//! Passkeys: registering, listing, renaming and removing them, the step-up's
//! options, and the passwordless login; and the JSON forms of the WebAuthn
//! browser API that the second step and step-up share.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use mfa::Reauth;
use mfa::http::VerifiedAnswer;
use mfa::passkey::{
    PasskeyPolicy, PublicKeyCredential, RegisterPublicKeyCredential, StoredPasskey,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::extract::MfaUser;
use crate::problem::{Body, Problem};
use crate::{MfaHost, SessionState};

/// WebAuthn options as `{"publicKey": {...}}` in the browser API's JSON
/// forms, without the `null` members those forms do not have.
pub(crate) fn options_json<T: Serialize>(options: &T) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(members) => {
                members.retain(|_, v| !v.is_null());
                members.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(options).unwrap_or_default();
    strip(&mut value);
    json!({ "publicKey": value["publicKey"].take() })
}

/// A credential from a body's `field` (`PublicKeyCredential.toJSON()`): 400
/// `VALIDATION_FAILED` when it is missing or not shaped like one.
pub(crate) fn credential<T: serde::de::DeserializeOwned>(
    value: Option<Value>,
    field: &str,
) -> Result<T, Problem> {
    let value = value.ok_or_else(|| Problem::validation(&format!("`{field}` is required.")))?;
    serde_json::from_value(value)
        .map_err(|_| Problem::validation(&format!("`{field}` is not a WebAuthn credential.")))
}

/// An assertion refused at a step that authenticates: 401, counted like a
/// wrong code; a spent, foreign or outdated challenge is `INVALID_PASSKEY` too.
pub(crate) fn refused_assertion(error: mfa::Error) -> Problem {
    let error = match error {
        mfa::Error::InvalidChallenge => mfa::Error::InvalidPasskey,
        e => e,
    };
    let passkey = matches!(error, mfa::Error::InvalidPasskey);
    let problem = Problem::from(error).at_login_step();
    if passkey {
        problem.with_status(401)
    } else {
        problem
    }
}

/// A passkey as the answers show it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasskeyView {
    /// The passkey's short id, for renaming and removing it.
    id: String,
    /// The name its user gave it.
    name: String,
    /// When it was registered (unix seconds).
    created_at: u64,
    /// When it last authenticated (unix seconds).
    last_used_at: Option<u64>,
    /// Whether it may be synced to other devices.
    backup_eligible: bool,
    /// Whether it is synced.
    backed_up: bool,
}

impl From<&StoredPasskey> for PasskeyView {
    fn from(passkey: &StoredPasskey) -> Self {
        PasskeyView {
            id: passkey.id().to_owned(),
            name: passkey.name().to_owned(),
            created_at: passkey.created_at(),
            last_used_at: passkey.last_used_at(),
            backup_eligible: passkey.backup_eligible(),
            backed_up: passkey.backed_up(),
        }
    }
}

/// `{password}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Password {
    /// The account's password.
    #[schema(value_type = String)]
    password: Option<Zeroizing<String>>,
}

/// `{name, credential}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewPasskey {
    /// A name for it (1 to 64 characters).
    name: Option<String>,
    /// The browser's answer to the creation options.
    #[schema(value_type = Object)]
    credential: Option<Value>,
}

/// `{name}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Name {
    /// The new name (1 to 64 characters).
    name: Option<String>,
}

/// `{passkey, token, backupCodes?}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Added {
    passkey: PasskeyView,
    /// The new session (every earlier one is revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// When it is the user's first factor, the backup codes, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    backup_codes: Option<Vec<Zeroizing<String>>>,
}

/// `{passkey}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct One {
    passkey: PasskeyView,
}

/// `{passkeys}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct List {
    passkeys: Vec<PasskeyView>,
}

/// `{success, token}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Removed {
    /// Always `true`.
    success: bool,
    /// The new session (every earlier one is revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// The creation options of a new passkey, on the password (and while MFA is
/// on, a recent proof): a session alone binds no factor.
#[utoipa::path(post, path = "/user/me/passkeys/options", tag = "passkeys", request_body = Password,
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, description = "`{publicKey}`: the options for `navigator.credentials.create()`.", body = Object),
        (status = 400, description = "`VALIDATION_FAILED`, `INVALID_PASSWORD`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "`TOO_MANY_PASSKEYS`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn options<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<Password>,
) -> Result<Json<Value>, Problem> {
    let user = MfaUser::from_parts(&host, &parts).await?;
    let id = &user.state.user_id;
    let password = body
        .password
        .as_deref()
        .ok_or_else(|| Problem::validation("`password` is required."))?;
    host.check_password(id, password).await?;
    let account = host.account_name(id).await?;
    let options = host
        .mfa()
        .begin_passkey_registration(id, &account, user.state.proof.as_ref())
        .await?;
    Ok(Json(options_json(&options)))
}

/// Adds the browser's answer to the creation options under a name.
#[utoipa::path(post, path = "/user/me/passkeys", tag = "passkeys", request_body = NewPasskey,
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 201, body = Added), (status = 400, description = "`INVALID_PASSKEY`, `NO_PENDING_SECRET`, `PENDING_EXPIRED`, `VALIDATION_FAILED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "`STEP_UP_REQUIRED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "`PASSKEY_ALREADY_REGISTERED`, `TOO_MANY_PASSKEYS`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn add<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<NewPasskey>,
) -> Result<(StatusCode, Json<Added>), Problem> {
    let user = MfaUser::from_parts(&host, &parts).await?;
    let id = &user.state.user_id;
    let name = body
        .name
        .as_deref()
        .ok_or_else(|| Problem::validation("`name` is required."))?;
    let name =
        PasskeyPolicy::check_name(name).map_err(|e| Problem::validation(&e.public_detail()))?;
    let credential: RegisterPublicKeyCredential = credential(body.credential, "credential")?;
    let added = host
        .mfa()
        .confirm_passkey_registration(id, name, &credential, user.state.proof.as_ref())
        .await?;
    let token = host
        .issue(&parts, SessionState::proven(id, added.proof))
        .await?;
    let backup_codes = added.backup_codes.as_ref().map(crate::answers::codes);
    Ok((
        StatusCode::CREATED,
        Json(Added {
            passkey: PasskeyView::from(&added.passkey),
            token,
            backup_codes,
        }),
    ))
}

/// The user's passkeys.
#[utoipa::path(get, path = "/user/me/passkeys", tag = "passkeys",
    responses((status = 200, body = List), (status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn list<H: MfaHost>(user: MfaUser<H>) -> Json<List> {
    let passkeys = match user.record.factor() {
        mfa::FactorState::Active(set) => set.passkeys().iter().map(PasskeyView::from).collect(),
        _ => Vec::new(),
    };
    Json(List { passkeys })
}

/// Renames a passkey.
#[utoipa::path(patch, path = "/user/me/passkeys/{id}", tag = "passkeys", request_body = Name,
    params(("id" = String, Path, description = "The passkey's id.")),
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = One), (status = 400, description = "`VALIDATION_FAILED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn rename<H: MfaHost>(
    State(host): State<H>,
    Path(passkey): Path<String>,
    parts: Parts,
    Body(body): Body<Name>,
) -> Result<Json<One>, Problem> {
    let user = MfaUser::from_parts(&host, &parts).await?;
    let name = body
        .name
        .as_deref()
        .ok_or_else(|| Problem::validation("`name` is required."))?;
    let name =
        PasskeyPolicy::check_name(name).map_err(|e| Problem::validation(&e.public_detail()))?;
    let renamed = host
        .mfa()
        .rename_passkey(&user.state.user_id, &passkey, name)
        .await?;
    Ok(Json(One {
        passkey: PasskeyView::from(&renamed),
    }))
}

/// Removes a passkey, on a recent proof; every earlier session is revoked.
#[utoipa::path(delete, path = "/user/me/passkeys/{id}", tag = "passkeys",
    params(("id" = String, Path, description = "The passkey's id.")),
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, body = Removed), (status = 403, description = "`STEP_UP_REQUIRED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 409, description = "`LAST_FACTOR`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn remove<H: MfaHost>(
    State(host): State<H>,
    Path(passkey): Path<String>,
    parts: Parts,
) -> Result<Json<Removed>, Problem> {
    let user = MfaUser::from_parts(&host, &parts).await?;
    let id = &user.state.user_id;
    let proof = mfa::Proof::required(user.state.proof, &user.record)?;
    let proof = host
        .mfa()
        .remove_passkey(id, &passkey, Reauth::RecentProof(&proof))
        .await?;
    let token = host.issue(&parts, SessionState::proven(id, proof)).await?;
    Ok(Json(Removed {
        success: true,
        token,
    }))
}

/// The request options of a step-up with a passkey, and its `stepUpToken`.
#[utoipa::path(post, path = "/auth/step-up/options", tag = "auth",
    responses((status = 401, description = "`UNAUTHENTICATED`, `SESSION_REVOKED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 200, description = "`{publicKey, stepUpToken}`.", body = Object), (status = 400, description = "`MFA_NOT_ENABLED` (no passkey).", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn step_up_options<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
) -> Result<Json<Value>, Problem> {
    let user = MfaUser::from_parts(&host, &parts).await?;
    let id = &user.state.user_id;
    let challenge = host.mfa().begin_passkey_step_up(id).await?;
    let mut answer = options_json(&challenge.options());
    answer["stepUpToken"] = json!(host.login_tokens().seal_step_up(id, &challenge)?);
    Ok(Json(answer))
}

/// A passkey step-up (`{stepUpToken, passkey}`) of `user_id`.
pub(crate) async fn step_up<H: MfaHost>(
    host: &H,
    user_id: &str,
    token: Option<&str>,
    passkey: Value,
) -> Result<mfa::Verified, Problem> {
    let credential: PublicKeyCredential = credential(Some(passkey), "passkey")?;
    let token =
        token.ok_or_else(|| Problem::validation("`stepUpToken` is required with `passkey`."))?;
    let challenge = host
        .login_tokens()
        .open_step_up(user_id, token)
        .ok_or_else(|| refused_assertion(mfa::Error::InvalidPasskey))?;
    host.mfa()
        .step_up_with_passkey(user_id, &challenge, &credential)
        .await
        .map_err(refused_assertion)
}

/// The request options of a passwordless login, and its `passkeyToken`.
#[utoipa::path(post, path = "/auth/passkey/options", tag = "auth",
    responses((status = 200, description = "`{publicKey, passkeyToken}`: request options for a discoverable credential.", body = Object)))]
pub(crate) async fn passwordless_options<H: MfaHost>(
    State(host): State<H>,
) -> Result<Json<Value>, Problem> {
    let challenge = host.mfa().begin_passwordless()?;
    let mut answer = options_json(&challenge.options());
    answer["passkeyToken"] = json!(host.login_tokens().seal_passwordless(&challenge)?);
    Ok(Json(answer))
}

/// `{passkeyToken, credential}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Passwordless {
    /// The `passkeyToken` of the options.
    passkey_token: Option<String>,
    /// The browser's answer to the options.
    #[schema(value_type = Object)]
    credential: Option<Value>,
}

/// A passwordless login: a session with a fresh proof.
#[utoipa::path(post, path = "/auth/passkey", tag = "auth", request_body = Passwordless,
    responses((status = 200, body = crate::answers::Proven), (status = 400, description = "`VALIDATION_FAILED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "`INVALID_PASSKEY`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 429, description = "`LOCKED_OUT`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn passwordless<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    Body(body): Body<Passwordless>,
) -> Result<Json<crate::answers::Proven>, Problem> {
    let credential: PublicKeyCredential = credential(body.credential, "credential")?;
    let challenge = body
        .passkey_token
        .as_deref()
        .and_then(|token| host.login_tokens().open_passwordless(token))
        .ok_or_else(|| refused_assertion(mfa::Error::InvalidPasskey))?;
    let (id, verified) = host
        .mfa()
        .complete_passwordless(&challenge, &credential)
        .await
        .map_err(refused_assertion)?;
    let token = host
        .issue(&parts, SessionState::proven(&id, verified.proof))
        .await?;
    Ok(Json(crate::answers::Proven::new(
        token,
        VerifiedAnswer::from(&verified),
        None,
    )))
}
