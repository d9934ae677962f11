//! The operators' routes: unlock and reset, by a named operator
//! ([`MfaHost::operator`]) whose name is the actor of the security event,
//! and the compliance report of the running configuration.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::http::request::Parts;
use mfa::compliance::Profile;
use mfa::http::ProblemDetails as Problem;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::Success;
use crate::MfaHost;
use crate::problem::Body;

/// `{reason}`: why an operator acts, recorded in the security event.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Reason {
    /// One line of at most 512 bytes that says something.
    #[schema(value_type = String, min_length = 1, max_length = 512, required = true)]
    reason: Option<String>,
}

impl Reason {
    /// The operator's reason: one line of at most 512 bytes that says something.
    fn get(&self) -> Result<&str, crate::Problem> {
        self.reason
            .as_deref()
            .filter(|r| !r.trim().is_empty() && r.len() <= 512 && !r.chars().any(char::is_control))
            .ok_or_else(|| {
                crate::Problem::validation("`reason` is required: one line of at most 512 bytes.")
            })
    }
}

/// An operator's request about a user: the operator's name, the user's id
/// and the reason, checked in that order.
async fn request<'a, H: MfaHost>(
    host: &H,
    parts: &Parts,
    id: Result<Path<String>, PathRejection>,
    body: &'a Reason,
) -> Result<(String, String, &'a str), crate::Problem> {
    let operator = operator(host, parts).await?;
    let reason = body.get()?;
    Ok((operator, known_user(host, id).await?, reason))
}

/// The request's operator's name: 401 `UNAUTHENTICATED` for anyone else.
async fn operator<H: MfaHost>(host: &H, parts: &Parts) -> Result<String, crate::Problem> {
    host.operator(parts)
        .await?
        .ok_or_else(crate::Problem::unauthenticated)
}

/// The user `id` names ([`MfaHost::user_exists`]), or 404 `NOT_FOUND`; an
/// undecodable path segment is no user, and is not looked up.
async fn known_user<H: MfaHost>(
    host: &H,
    id: Result<Path<String>, PathRejection>,
) -> Result<String, crate::Problem> {
    match id {
        Ok(Path(id)) if host.user_exists(&id).await? => Ok(id),
        _ => Err(crate::Problem::new(
            404,
            "NOT_FOUND",
            "Not found",
            "No user has this id.",
        )),
    }
}

/// The `mfa` crate refuses an actor or reason that is not fit for an audit
/// log ([`mfa::Error::InvalidInput`]): the operator's request is malformed,
/// 400 `VALIDATION_FAILED`.
fn refused_note(e: mfa::Error) -> crate::Problem {
    match e {
        mfa::Error::InvalidInput(_) => crate::Problem::validation(
            "`reason` must be one line of visible text of at most 512 bytes \
             (no line or paragraph separators, no bidirectional controls).",
        ),
        e => e.into(),
    }
}

/// Clears the user's lockout, the hard stop included, and the host's own
/// locks of the user ([`MfaHost::operator_unlocked`]: a password lock).
#[utoipa::path(post, path = "/admin/users/{id}/mfa/unlock", tag = "operators",
    params(("id" = String, Path, description = "The user's id.")),
    request_body = Reason, security(("operator" = [])),
    responses(
        (status = 200, description = "The lockout and the host's own locks of the user are cleared.", body = Success),
        (status = 400, description = "`VALIDATION_FAILED`: no reason, a reason that is not one line of visible text of at most 512 bytes, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`: not an operator.", body = Problem),
        (status = 404, description = "`NOT_FOUND`: no user has this id.", body = Problem),
    ))]
pub(crate) async fn unlock<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    id: Result<Path<String>, PathRejection>,
    Body(body): Body<Reason>,
) -> Result<Json<Success>, crate::Problem> {
    let (operator, id, reason) = request(&host, &parts, id, &body).await?;
    host.mfa()
        .operator_unlock(&id, &operator, reason)
        .await
        .map_err(refused_note)?;
    host.operator_unlocked(&id).await?;
    Ok(Json(Success { success: true }))
}

/// Deletes the user's factor and codes and revokes every session and `mfaToken`.
#[utoipa::path(post, path = "/admin/users/{id}/mfa/reset", tag = "operators",
    params(("id" = String, Path, description = "The user's id.")),
    request_body = Reason, security(("operator" = [])),
    responses(
        (status = 200, description = "MFA is off; the secret, backup codes, passkeys and remembered devices are deleted; every session and `mfaToken` of the user is revoked.", body = Success),
        (status = 400, description = "`VALIDATION_FAILED`: no reason, a reason that is not one line of visible text of at most 512 bytes, or a malformed body.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`: not an operator.", body = Problem),
        (status = 404, description = "`NOT_FOUND`: no user has this id.", body = Problem),
    ))]
pub(crate) async fn reset<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
    id: Result<Path<String>, PathRejection>,
    Body(body): Body<Reason>,
) -> Result<Json<Success>, crate::Problem> {
    let (operator, id, reason) = request(&host, &parts, id, &body).await?;
    host.mfa()
        .operator_reset(&id, &operator, reason)
        .await
        .map_err(refused_note)?;
    Ok(Json(Success { success: true }))
}

/// The profile a query names: `?profile=nist-800-63b-4-aal2` (the default),
/// `asvs-5.0-l2` or `asvs-5.0-l3`.
fn profile(uri: &Uri) -> Result<Profile, crate::Problem> {
    let mut chosen = None;
    for pair in uri.query().unwrap_or_default().split('&') {
        if let Some(value) = pair.strip_prefix("profile=") {
            let profile = Profile::ALL
                .into_iter()
                .find(|p| p.name() == value)
                .ok_or_else(|| {
                    crate::Problem::validation(
                        "`profile` is one of nist-800-63b-4-aal2, asvs-5.0-l2 and asvs-5.0-l3.",
                    )
                })?;
            if chosen.replace(profile).is_some() {
                return Err(crate::Problem::validation("Give `profile` at most once."));
            }
        }
    }
    Ok(chosen.unwrap_or(Profile::Nist800_63B4Aal2))
}

/// `{"profile", "findings"}`: the `mfa` crate's `Report` as it serializes.
#[derive(Serialize, ToSchema)]
pub(crate) struct ComplianceReport {
    /// The profile checked.
    #[schema(schema_with = crate::schemas::compliance_profile)]
    profile: Profile,
    /// One finding per requirement, in the sources' order.
    #[schema(schema_with = crate::schemas::compliance_findings)]
    findings: Value,
}

/// The compliance report of the running configuration: one finding per
/// requirement of NIST SP 800-63B-4 at AAL2 (by the ids of NIST's
/// conformance criteria) or OWASP ASVS 5.0, each met, not met, the host's
/// duty or not applicable, with the setting it read and what to change.
#[utoipa::path(get, path = "/admin/compliance", tag = "operators",
    params(("profile" = Option<String>, Query,
        description = "`nist-800-63b-4-aal2` (the default), `asvs-5.0-l2` or `asvs-5.0-l3`.")),
    security(("operator" = [])),
    responses(
        (status = 200, description = "The report.", body = ComplianceReport),
        (status = 400, description = "`VALIDATION_FAILED`: an unknown `profile`, or more than one.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`: not an operator.", body = Problem),
    ))]
pub(crate) async fn compliance<H: MfaHost>(
    State(host): State<H>,
    parts: Parts,
) -> Result<Json<ComplianceReport>, crate::Problem> {
    operator(&host, &parts).await?;
    let profile = profile(&parts.uri)?;
    let report = host.mfa().context().compliance(profile, &host.host_facts());
    Ok(Json(ComplianceReport {
        profile,
        findings: serde_json::to_value(report.findings()).map_err(crate::Problem::internal)?,
    }))
}
