//! The operators' routes: unlocking and resetting a user's MFA, by a named
//! operator (the actor of the security event) and with a reason.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::http::request::Parts;
use axum::routing::{get, post};
use mfa::compliance::Profile;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::MfaHost;
use crate::problem::{Body, Problem};

/// The OpenAPI paths of [`operator_router`].
#[derive(OpenApi)]
#[openapi(
    paths(unlock, reset, compliance),
    tags((name = "operators", description = "Unlocking and resetting a user's MFA."))
)]
pub struct OperatorApiDoc;

/// The operators' routes, for a host whose [`MfaHost::operator`] names the
/// request's operator (a host without operators does not mount them):
///
/// | route under the prefix | body | answer |
/// |---|---|---|
/// | `POST /admin/users/{id}/mfa/unlock` | `{reason}` | `{success}`: the lockout cleared, and the host's own locks ([`MfaHost::operator_unlocked`]) |
/// | `POST /admin/users/{id}/mfa/reset` | `{reason}` | `{success}`: MFA off, every session and `mfaToken` of the user revoked |
/// | `GET /admin/compliance?profile=` | — | `{profile, findings}`: the configuration audited against `nist-800-63b-4-aal2` (the default), `asvs-5.0-l2` or `asvs-5.0-l3`, with [`MfaHost::host_facts`] |
///
/// Errors: 400 `VALIDATION_FAILED` (no reason, or not one line of visible
/// text of at most 512 bytes), 401 `UNAUTHENTICATED` (no operator), 404
/// `NOT_FOUND` (no such user, [`MfaHost::user_exists`]).
pub fn operator_router<H: MfaHost>() -> OpenApiRouter<H> {
    OpenApiRouter::with_openapi(OperatorApiDoc::openapi())
        .route("/admin/users/{id}/mfa/unlock", post(unlock::<H>))
        .route("/admin/users/{id}/mfa/reset", post(reset::<H>))
        .route("/admin/compliance", get(compliance::<H>))
}

/// `{reason}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Reason {
    /// Why: one line of visible text of at most 512 bytes, kept in the
    /// security event.
    #[schema(value_type = String, min_length = 1, max_length = 512)]
    reason: Option<String>,
}

/// `{success}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Done {
    /// Always `true`.
    success: bool,
}

/// The operator, the reason and the user of an operator's request.
async fn operation<'a, H: MfaHost>(
    host: &H,
    parts: &Parts,
    id: &str,
    body: &'a Reason,
) -> Result<(String, &'a str), Problem> {
    let operator = host
        .operator(parts)
        .await?
        .ok_or_else(Problem::unauthenticated)?;
    let reason = body
        .reason
        .as_deref()
        .filter(|r| !r.trim().is_empty() && r.len() <= 512 && !r.chars().any(char::is_control))
        .ok_or_else(|| {
            Problem::validation("`reason` is required: one line of at most 512 bytes.")
        })?;
    if !host.user_exists(id).await? {
        return Err(Problem::new(
            404,
            "NOT_FOUND",
            "Not found",
            "No user has this id.",
        ));
    }
    Ok((operator, reason))
}

/// A reason the crate refuses is the body's fault.
fn refused(error: mfa::Error) -> Problem {
    match error {
        mfa::Error::InvalidInput(_) => {
            Problem::validation("`reason` must be one line of visible text of at most 512 bytes.")
        }
        e => e.into(),
    }
}

/// Clears the user's lockout.
#[utoipa::path(post, path = "/admin/users/{id}/mfa/unlock", tag = "operators",
    params(("id" = String, Path, description = "The user's id.")), request_body = Reason,
    responses((status = 200, body = Done), (status = 400, description = "`VALIDATION_FAILED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "`UNAUTHENTICATED`: no operator.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "`NOT_FOUND`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn unlock<H: MfaHost>(
    State(host): State<H>,
    Path(id): Path<String>,
    parts: Parts,
    Body(body): Body<Reason>,
) -> Result<Json<Done>, Problem> {
    let (operator, reason) = operation(&host, &parts, &id, &body).await?;
    host.mfa()
        .operator_unlock(&id, &operator, reason)
        .await
        .map_err(refused)?;
    host.operator_unlocked(&id).await?;
    Ok(Json(Done { success: true }))
}

/// Turns the user's MFA off and revokes everything bound to its epoch.
#[utoipa::path(post, path = "/admin/users/{id}/mfa/reset", tag = "operators",
    params(("id" = String, Path, description = "The user's id.")), request_body = Reason,
    responses((status = 200, body = Done), (status = 400, description = "`VALIDATION_FAILED`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "`UNAUTHENTICATED`: no operator.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"), (status = 404, description = "`NOT_FOUND`.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn reset<H: MfaHost>(
    State(host): State<H>,
    Path(id): Path<String>,
    parts: Parts,
    Body(body): Body<Reason>,
) -> Result<Json<Done>, Problem> {
    let (operator, reason) = operation(&host, &parts, &id, &body).await?;
    host.mfa()
        .operator_reset(&id, &operator, reason)
        .await
        .map_err(refused)?;
    Ok(Json(Done { success: true }))
}

/// The `profile` of the query (at most once; the default NIST SP 800-63B-4 AAL2).
fn profile(uri: &Uri) -> Result<Profile, Problem> {
    let mut chosen = None;
    for pair in uri.query().unwrap_or_default().split('&') {
        if let Some(value) = pair.strip_prefix("profile=") {
            let profile = Profile::ALL
                .into_iter()
                .find(|p| p.name() == value)
                .ok_or_else(|| {
                    Problem::validation(
                        "`profile` is one of nist-800-63b-4-aal2, asvs-5.0-l2 and asvs-5.0-l3.",
                    )
                })?;
            if chosen.replace(profile).is_some() {
                return Err(Problem::validation("Give `profile` at most once."));
            }
        }
    }
    Ok(chosen.unwrap_or(Profile::Nist800_63B4Aal2))
}

/// `{profile, findings}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Compliance {
    /// The profile audited.
    #[schema(value_type = String)]
    profile: Profile,
    /// One finding per requirement.
    #[schema(value_type = Vec<Object>)]
    findings: serde_json::Value,
}

/// The compliance report of the running configuration.
#[utoipa::path(get, path = "/admin/compliance", tag = "operators",
    params(("profile" = Option<String>, Query, description = "`nist-800-63b-4-aal2` (the default), `asvs-5.0-l2` or `asvs-5.0-l3`.")),
    responses((status = 200, body = Compliance), (status = 400, description = "`VALIDATION_FAILED`: an unknown `profile`, or more than one.", body = mfa::http::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "`UNAUTHENTICATED`: no operator.", body = mfa::http::ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn compliance<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
) -> Result<Json<Compliance>, Problem> {
    host.operator(&parts)
        .await?
        .ok_or_else(Problem::unauthenticated)?;
    let profile = profile(&parts.uri)?;
    let report = host.mfa().context().compliance(profile, &host.host_facts());
    Ok(Json(Compliance {
        profile,
        findings: serde_json::to_value(report.findings()).map_err(Problem::internal)?,
    }))
}
