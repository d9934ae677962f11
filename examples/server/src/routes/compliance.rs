//! `GET /api/admin/compliance`: the crate's compliance report
//! (`MfaContext::compliance`) for the server's running configuration, for
//! an operator.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use mfa::compliance::Profile;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::operators::Operator;

/// The profile a query names: `?profile=nist-800-63b-4-aal2` (the default),
/// `asvs-5.0-l2` or `asvs-5.0-l3`.
fn profile(uri: &Uri) -> Result<Profile, ApiError> {
    let mut chosen = None;
    for pair in uri.query().unwrap_or_default().split('&') {
        if let Some(value) = pair.strip_prefix("profile=") {
            let profile = Profile::ALL
                .into_iter()
                .find(|p| p.name() == value)
                .ok_or_else(|| {
                    ApiError::validation(
                        "`profile` is one of nist-800-63b-4-aal2, asvs-5.0-l2 and asvs-5.0-l3.",
                    )
                })?;
            if chosen.replace(profile).is_some() {
                return Err(ApiError::validation("Give `profile` at most once."));
            }
        }
    }
    Ok(chosen.unwrap_or(Profile::Nist800_63B4Aal2))
}

/// `{"profile", "findings"}`: the crate's `Report` as it serializes.
#[derive(Serialize, ToSchema)]
pub(super) struct ComplianceReport {
    /// The profile checked.
    #[schema(schema_with = crate::openapi::compliance_profile)]
    profile: Profile,
    /// One finding per requirement, in the sources' order.
    #[schema(schema_with = crate::openapi::compliance_findings)]
    findings: Value,
}

/// The compliance report of the running configuration: one finding per
/// requirement of NIST SP 800-63B-4 at AAL2 (by the ids of NIST's
/// conformance criteria) or OWASP ASVS 5.0, each met, not met, the host's
/// duty or not applicable, with the setting it read and what to change.
#[utoipa::path(get, path = "/api/admin/compliance", tag = "operators",
    params(("profile" = Option<String>, Query,
        description = "`nist-800-63b-4-aal2` (the default), `asvs-5.0-l2` or `asvs-5.0-l3`.")),
    security(("operator" = [])),
    responses(
        (status = 200, description = "The report.", body = ComplianceReport),
        (status = 400, description = "`VALIDATION_FAILED`: an unknown `profile`, or more than one.", body = Problem),
        (status = 401, description = "`UNAUTHENTICATED`: not an operator token.", body = Problem),
    ))]
pub(super) async fn compliance(
    State(app): State<AppState>,
    _operator: Operator,
    uri: Uri,
) -> Result<Json<ComplianceReport>, ApiError> {
    let profile = profile(&uri)?;
    let report = app.mfa.context().compliance(profile, &crate::HOST_FACTS);
    Ok(Json(ComplianceReport {
        profile,
        findings: serde_json::to_value(report.findings()).unwrap_or_default(),
    }))
}
