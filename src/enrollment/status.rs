//! What a status endpoint shows of a record.

use serde::Serialize;

use super::{FactorState, MfaEnrollment};
use crate::policy::MfaContext;

/// The kind of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MfaMethod {
    /// An authenticator app.
    Totp,
    /// A passkey.
    Passkey,
}

/// The kinds of factor a set holds; serializes as the list of them
/// (`["totp", "passkey"]`, either, or `[]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MfaMethods {
    /// An authenticator app is active.
    pub totp: bool,
    /// At least one passkey is registered.
    pub passkey: bool,
}

impl Serialize for MfaMethods {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(None)?;
        if self.totp {
            seq.serialize_element(&MfaMethod::Totp)?;
        }
        if self.passkey {
            seq.serialize_element(&MfaMethod::Passkey)?;
        }
        seq.end()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for MfaMethods {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<MfaMethod as utoipa::PartialSchema>::schema())
            .unique_items(true)
            .description(Some("The kinds of factor the set holds."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for MfaMethods {}

/// What a status endpoint shows. Serializes to the product's field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MfaStatus {
    /// Whether a factor is active.
    pub mfa_enabled: bool,
    /// The main method: the app while one is active, else passkeys while
    /// any exist.
    pub mfa_method: Option<MfaMethod>,
    /// Every kind of factor the set holds.
    pub mfa_methods: MfaMethods,
    /// Registered passkeys.
    pub passkeys: usize,
    /// Whether an unexpired setup is waiting for confirmation.
    pub pending_setup: bool,
    /// Unused backup codes.
    pub backup_codes_remaining: usize,
    /// Whether codes are refused right now because of failed attempts.
    pub locked_out: bool,
    /// Whether a replacement authenticator waits for its first code.
    pub replacement_pending: bool,
    /// Remembered devices whose token is valid now.
    pub remembered_devices: usize,
    /// Unused backup codes imported as another system's hashes (bcrypt,
    /// PBKDF2), included in `backup_codes_remaining`: while not zero, prompt
    /// the user to regenerate.
    pub legacy_backup_codes: usize,
}

impl MfaStatus {
    /// No factor active: the status of a record without one.
    const OFF: MfaStatus = MfaStatus {
        mfa_enabled: false,
        mfa_method: None,
        mfa_methods: MfaMethods {
            totp: false,
            passkey: false,
        },
        passkeys: 0,
        pending_setup: false,
        backup_codes_remaining: 0,
        locked_out: false,
        replacement_pending: false,
        remembered_devices: 0,
        legacy_backup_codes: 0,
    };
}

impl MfaEnrollment {
    /// The status at `now`.
    pub fn status(&self, config: &MfaContext, now: u64) -> MfaStatus {
        let lockout = &config.policy().lockout;
        match &self.factor {
            FactorState::Disabled => MfaStatus::OFF,
            FactorState::Pending(p) => MfaStatus {
                pending_setup: now < p.expires_at,
                locked_out: p.attempts.locked(lockout, now).is_some(),
                ..MfaStatus::OFF
            },
            FactorState::Active(a) => MfaStatus {
                mfa_enabled: true,
                mfa_method: Some(if a.app.is_some() {
                    MfaMethod::Totp
                } else {
                    MfaMethod::Passkey
                }),
                mfa_methods: MfaMethods {
                    totp: a.app.is_some(),
                    passkey: !a.passkeys.is_empty(),
                },
                passkeys: a.passkeys.len(),
                pending_setup: false,
                backup_codes_remaining: a.backup_codes.remaining(),
                locked_out: a.attempts.locked(lockout, now).is_some(),
                replacement_pending: a.replacement.as_ref().is_some_and(|r| now < r.expires_at),
                remembered_devices: a.devices.iter().filter(|d| now < d.expires_at).count(),
                legacy_backup_codes: a.backup_codes.legacy_remaining(),
            },
        }
    }
}
