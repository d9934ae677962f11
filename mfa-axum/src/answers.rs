//! What several routes answer.

use mfa::http::VerifiedAnswer;
use serde::Serialize;
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// A completed second step or step-up.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Proven {
    /// The session, with a fresh proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(flatten)]
    verified: VerifiedAnswer,
    /// The remembered device's token, when `rememberDevice` was `true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
}

impl Proven {
    pub(crate) fn new(
        token: Option<String>,
        verified: VerifiedAnswer,
        device_token: Option<String>,
    ) -> Self {
        Proven {
            token,
            verified,
            device_token,
        }
    }
}

/// Codes as the answers show them.
pub(crate) fn codes(codes: &mfa::BackupCodes) -> Vec<Zeroizing<String>> {
    codes
        .as_strs()
        .into_iter()
        .map(|c| Zeroizing::new(c.to_owned()))
        .collect()
}
