//! The factor set's parts: a pending setup, the active set with its app,
//! a pending replacement and the remembered devices.

use serde::Serialize;

use crate::backup::StoredBackupCodes;
use crate::keys::Envelope;
use crate::lockout::Attempts;
use crate::passkey::StoredPasskey;
use crate::totp::TotpParams;

/// A setup waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PendingSetup {
    pub(crate) secret: Envelope,
    pub(crate) totp: TotpParams,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
    #[serde(default)]
    pub(crate) attempts: Attempts,
}

impl PendingSetup {
    /// When setup began (unix seconds).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    /// When the setup stops being confirmable (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    /// The TOTP parameters the app is being set up with.
    pub fn totp_params(&self) -> TotpParams {
        self.totp
    }
}

/// The active factor set: at most one authenticator app and any passkeys,
/// with one set of backup codes, one failure counter and lockout, and the
/// remembered devices (I12, I15). MFA is on while the set holds a factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ActiveFactor {
    /// When MFA was turned on (unix seconds).
    pub(crate) enabled_at: u64,
    /// The authenticator app, if the set has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) app: Option<TotpApp>,
    /// The passkeys, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) passkeys: Vec<StoredPasskey>,
    /// The WebAuthn user handle the set's passkeys were registered under.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::encoding::base64_option_array"
    )]
    pub(crate) passkey_handle: Option<[u8; 16]>,
    pub(crate) backup_codes: StoredBackupCodes,
    #[serde(default)]
    pub(crate) attempts: Attempts,
    /// A new app's secret waiting for its first code; authenticates nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) replacement: Option<Replacement>,
    /// Devices whose token skips the second step, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) devices: Vec<RememberedDevice>,
}

/// The authenticator app of a factor set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TotpApp {
    pub(crate) secret: Envelope,
    pub(crate) totp: TotpParams,
    /// The last accepted time step: no step at or below it is accepted again (I2).
    pub(crate) last_step: Option<u64>,
    /// The unix time at which step 0 began (RFC 6238's `T0`): 0, except for
    /// an app imported from a system that counted steps from elsewhere.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) t0: u64,
}

impl TotpApp {
    /// The last accepted TOTP time step, counted from [`TotpApp::t0`].
    pub fn last_step(&self) -> Option<u64> {
        self.last_step
    }
    /// The unix time at which the app's step 0 began (RFC 6238's `T0`):
    /// 0 unless it was imported with another.
    pub fn t0(&self) -> u64 {
        self.t0
    }
    /// The TOTP parameters.
    pub fn totp_params(&self) -> TotpParams {
        self.totp
    }
    /// A new app, confirmed by a code of `step`, which counts as used (I2).
    pub(super) fn confirmed(secret: Envelope, totp: TotpParams, step: u64) -> Self {
        TotpApp {
            secret,
            totp,
            last_step: Some(step),
            t0: 0,
        }
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A replacement secret pending beside the active one (a new phone): it
/// authenticates nothing until a code of the new app confirms it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Replacement {
    pub(crate) secret: Envelope,
    pub(crate) totp: TotpParams,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
}

impl Replacement {
    /// When the replacement began (unix seconds).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    /// When it stops being confirmable (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

/// A remembered device: only the SHA-256 of its token is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RememberedDevice {
    #[serde(with = "crate::encoding::base64_array")]
    pub(crate) token_hash: [u8; 32],
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
}

impl RememberedDevice {
    /// When the device was remembered (unix seconds).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    /// When its token stops working (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

impl ActiveFactor {
    /// When MFA was turned on (unix seconds).
    pub fn enabled_at(&self) -> u64 {
        self.enabled_at
    }
    /// The authenticator app, if the set has one.
    pub fn app(&self) -> Option<&TotpApp> {
        self.app.as_ref()
    }
    /// The passkeys, oldest first.
    pub fn passkeys(&self) -> &[StoredPasskey] {
        &self.passkeys
    }
    /// The last accepted TOTP time step of the app, if any.
    pub fn last_step(&self) -> Option<u64> {
        self.app.as_ref().and_then(|app| app.last_step)
    }
    /// The stored backup codes.
    pub fn backup_codes(&self) -> &StoredBackupCodes {
        &self.backup_codes
    }
    /// The failure counter, shared by every factor of the set.
    pub fn attempts(&self) -> Attempts {
        self.attempts
    }
    /// The app waiting for its first code (a replacement, or the first app
    /// beside passkeys), if any.
    pub fn replacement(&self) -> Option<&Replacement> {
        self.replacement.as_ref()
    }
    /// The remembered devices, expired ones included until the next write.
    pub fn devices(&self) -> &[RememberedDevice] {
        &self.devices
    }
    /// A set holding these factors and fresh shared state.
    pub(crate) fn new(
        enabled_at: u64,
        app: Option<TotpApp>,
        backup_codes: StoredBackupCodes,
    ) -> Self {
        ActiveFactor {
            enabled_at,
            app,
            passkeys: Vec::new(),
            passkey_handle: None,
            backup_codes,
            attempts: Attempts::default(),
            replacement: None,
            devices: Vec::new(),
        }
    }
}
