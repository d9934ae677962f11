//! The operators' routes: unlock and reset, by a named operator whose name
//! is the actor of the security event (`operators.rs`). They exist only when
//! operator tokens are configured.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Success;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::operators::Operator;

/// `{reason}`: why an operator acts, recorded in the security event.
#[derive(Deserialize, ToSchema)]
pub(super) struct Reason {
    /// One line of at most 512 bytes that says something.
    #[schema(value_type = String, min_length = 1, max_length = 512, required = true)]
    reason: Option<String>,
}

impl Reason {
    /// The operator's reason: one line of at most 512 bytes that says something.
    fn get(&self) -> Result<&str, ApiError> {
        self.reason
            .as_deref()
            .filter(|r| !r.trim().is_empty() && r.len() <= 512 && !r.chars().any(char::is_control))
            .ok_or_else(|| {
                ApiError::validation("`reason` is required: one line of at most 512 bytes.")
            })
    }
}

/// The account `id` names, or 404 `NOT_FOUND`. Ids are what register
/// returns (32 hex digits); anything else (an undecodable path segment
/// included) is no user, and is not looked up.
async fn known_user(
    app: &AppState,
    id: Result<Path<String>, PathRejection>,
) -> Result<crate::users::User, ApiError> {
    let user = match id {
        Ok(Path(id)) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
            app.users.by_id(&id).await?
        }
        _ => None,
    };
    user.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Not found",
            "No user has this id.",
        )
    })
}

/// Clears the user's lockout, the hard stop included, and the password lock
/// of the account (its own count and its remembered devices').
#[utoipa::path(post, path = "/api/admin/users/{id}/mfa/unlock", tag = "operators",
    params(("id" = String, Path, description = "The id that register answered (32 hex digits).")),
    request_body = Reason, security(("operator" = [])),
    responses(
        (status = 200, description = "The lockout and the account's password lock are cleared.", body = Success),
        (status = 400, description = "`VALIDATION_FAILED`: no reason, a reason that is not one line of visible text of at most 512 bytes, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`: not an operator token.", body = Problem),
        (status = 404, description = "`NOT_FOUND`: no user has this id.", body = Problem),
    ))]
pub(super) async fn operator_unlock(
    State(app): State<AppState>,
    operator: Operator,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<Success>, ApiError> {
    let (reason, user) = (body.get()?, known_user(&app, id).await?);
    app.mfa
        .operator_unlock(&user.id, operator.name(), reason)
        .await
        .map_err(refused_note)?;
    app.attempts.clear_account(&user.email).await?;
    Ok(Json(Success { success: true }))
}

/// Deletes the user's factor and codes and revokes every session and `mfaToken`.
#[utoipa::path(post, path = "/api/admin/users/{id}/mfa/reset", tag = "operators",
    params(("id" = String, Path, description = "The id that register answered (32 hex digits).")),
    request_body = Reason, security(("operator" = [])),
    responses(
        (status = 200, description = "MFA is off; the secret, backup codes and remembered devices are deleted; every session and `mfaToken` of the user is revoked.", body = Success),
        (status = 400, description = "`VALIDATION_FAILED`: no reason, a reason that is not one line of visible text of at most 512 bytes, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`: not an operator token.", body = Problem),
        (status = 404, description = "`NOT_FOUND`: no user has this id.", body = Problem),
    ))]
pub(super) async fn operator_reset(
    State(app): State<AppState>,
    operator: Operator,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<Success>, ApiError> {
    let (reason, user) = (body.get()?, known_user(&app, id).await?);
    app.mfa
        .operator_reset(&user.id, operator.name(), reason)
        .await
        .map_err(refused_note)?;
    Ok(Json(Success { success: true }))
}

/// The crate refuses an actor or reason that is not fit for an audit log
/// ([`mfa::Error::InvalidInput`]): the operator's request is malformed, 400
/// `VALIDATION_FAILED` like the server's own checks.
fn refused_note(e: mfa::Error) -> ApiError {
    match e {
        mfa::Error::InvalidInput(_) => ApiError::validation(
            "`reason` must be one line of visible text of at most 512 bytes \
             (no line or paragraph separators, no bidirectional controls).",
        ),
        e => ApiError::from(e),
    }
}
