//! Security events for audit logs and out-of-band notifications.

use serde::Serialize;

use crate::totp::TotpMatch;

#[cfg(feature = "tracing")]
mod tracing_sink;
#[cfg(feature = "tracing")]
pub use tracing_sink::TracingSink;

/// Something a host may want to log or tell the user about out of band.
///
/// Transitions report these beside their outcome; the service hands them to
/// an [`EventSink`] once the state they describe is saved.
/// None carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecurityEvent {
    /// A setup was started (or restarted); it expires at `expires_at`.
    SetupStarted {
        /// Unix time at which the pending setup expires.
        expires_at: u64,
    },
    /// The factor was confirmed and is now active.
    FactorEnabled,
    /// The factor was removed.
    FactorDisabled,
    /// A factor exported from another system was imported and is now active
    /// (a new epoch, as when a setup is confirmed). When
    /// `legacy_backup_codes` is not zero, prompt the user to regenerate:
    /// those codes are still checked with the old system's hash.
    FactorImported {
        /// Imported backup codes, hashed with the crate's own scheme.
        backup_codes: usize,
        /// Imported backup codes kept as the old system's hashes.
        legacy_backup_codes: usize,
    },
    /// A TOTP code was accepted.
    TotpAccepted(TotpMatch),
    /// A backup code was used: reported for every use, so the host can tell
    /// the user (NIST SP 800-63B-4 §4.2.1.1 asks for a notification).
    BackupCodeUsed {
        /// Unused codes left.
        remaining: usize,
    },
    /// A backup code was used and at most
    /// [`BackupCodePolicy::low_threshold`](crate::policy::BackupCodePolicy::low_threshold)
    /// unused codes are left (reported with every such use, down to none):
    /// time to urge the user to regenerate.
    BackupCodesRunningLow {
        /// Unused codes left.
        remaining: usize,
    },
    /// A used backup code was replaced by a new one, shown to the user once
    /// ([`BackupCodePolicy::reissue_on_use`](crate::policy::BackupCodePolicy::reissue_on_use)):
    /// NIST SP 800-63B-4 §4.2.1.1 asks for a notification of the user (SRC-2).
    BackupCodeReissued,
    /// A backup code imported as the old system's hash (bcrypt, PBKDF2) was
    /// used, beside [`SecurityEvent::BackupCodeUsed`]: prompt the user to
    /// regenerate, which replaces every legacy hash with the crate's own.
    LegacyBackupCodeUsed {
        /// Unused legacy codes left.
        legacy_remaining: usize,
    },
    /// The backup codes were replaced by a new set.
    BackupCodesRegenerated {
        /// Codes in the new set.
        count: usize,
    },
    /// A wrong code was counted.
    AttemptFailed {
        /// Consecutive failures so far.
        consecutive_failures: u32,
    },
    /// Failures locked the factor.
    LockoutStarted {
        /// Seconds until codes are accepted again; `None` for the hard limit.
        retry_after: Option<u64>,
        /// Consecutive failures so far.
        consecutive_failures: u32,
    },
    /// An operator cleared the lockout.
    OperatorUnlocked {
        /// Who did it, as the host named them.
        actor: String,
        /// Why, as the operator gave it.
        reason: String,
    },
    /// An operator reset the user's MFA: factor and codes deleted, every
    /// session and login challenge revoked.
    OperatorReset {
        /// Who did it, as the host named them.
        actor: String,
        /// Why, as the operator gave it.
        reason: String,
    },
    /// A TOTP code for an already-used time step was refused (RFC 6238 §5.2).
    ReplayRefused {
        /// The reused time step.
        step: u64,
    },
    /// A secret written under an older key was re-encrypted under the primary key.
    SecretReencrypted,
    /// A replacement authenticator was set up; it expires at `expires_at`
    /// unless a code of the new app confirms it.
    ReplacementStarted {
        /// Unix time at which the pending replacement expires.
        expires_at: u64,
    },
    /// The authenticator app was replaced: the old app's codes stopped
    /// working, remembered devices were forgotten.
    AuthenticatorReplaced,
    /// A device was remembered.
    DeviceRemembered {
        /// Unix time at which its token expires.
        expires_at: u64,
        /// Older devices forgotten to make room.
        forgotten: usize,
    },
    /// A remembered device skipped the second step while codes were locked
    /// out: allowed (the device and the password are the two factors, the
    /// lock is about guessing codes), and worth telling the user, since
    /// someone has been guessing their codes.
    RememberedDeviceLoginDuringLockout,
    /// Every remembered device was forgotten.
    DevicesForgotten {
        /// How many were still valid.
        count: usize,
    },
    /// A passkey was registered.
    PasskeyAdded {
        /// The crate's id of the passkey (never the credential id).
        passkey: String,
    },
    /// A passkey was removed: it authenticates nowhere any more.
    PasskeyRemoved {
        /// The crate's id of the passkey.
        passkey: String,
    },
    /// A passkey was renamed.
    PasskeyRenamed {
        /// The crate's id of the passkey.
        passkey: String,
    },
    /// A passkey completed a login or step-up.
    PasskeyUsed {
        /// The crate's id of the passkey.
        passkey: String,
    },
    /// A passkey's non-zero signature counter did not rise: the credential
    /// may have been cloned. The assertion was refused.
    PasskeyCloneSuspected {
        /// The crate's id of the passkey.
        passkey: String,
    },
}

impl SecurityEvent {
    /// The event's stable name, as it is serialized (`"event"`): for log
    /// fields and metric labels.
    pub fn name(&self) -> &'static str {
        use SecurityEvent as E;
        match self {
            E::SetupStarted { .. } => "setup_started",
            E::FactorEnabled => "factor_enabled",
            E::FactorDisabled => "factor_disabled",
            E::FactorImported { .. } => "factor_imported",
            E::TotpAccepted(_) => "totp_accepted",
            E::BackupCodeUsed { .. } => "backup_code_used",
            E::BackupCodesRunningLow { .. } => "backup_codes_running_low",
            E::BackupCodeReissued => "backup_code_reissued",
            E::LegacyBackupCodeUsed { .. } => "legacy_backup_code_used",
            E::BackupCodesRegenerated { .. } => "backup_codes_regenerated",
            E::AttemptFailed { .. } => "attempt_failed",
            E::LockoutStarted { .. } => "lockout_started",
            E::OperatorUnlocked { .. } => "operator_unlocked",
            E::OperatorReset { .. } => "operator_reset",
            E::ReplayRefused { .. } => "replay_refused",
            E::SecretReencrypted => "secret_reencrypted",
            E::ReplacementStarted { .. } => "replacement_started",
            E::AuthenticatorReplaced => "authenticator_replaced",
            E::DeviceRemembered { .. } => "device_remembered",
            E::RememberedDeviceLoginDuringLockout => "remembered_device_login_during_lockout",
            E::DevicesForgotten { .. } => "devices_forgotten",
            E::PasskeyAdded { .. } => "passkey_added",
            E::PasskeyRemoved { .. } => "passkey_removed",
            E::PasskeyRenamed { .. } => "passkey_renamed",
            E::PasskeyUsed { .. } => "passkey_used",
            E::PasskeyCloneSuspected { .. } => "passkey_clone_suspected",
        }
    }
}

/// Receives [`SecurityEvent`]s once the state they describe is saved.
pub trait EventSink: Send + Sync + 'static {
    /// Records one event for `user_id`. Must not block for long.
    fn record(&self, user_id: &str, event: &SecurityEvent);
}

impl<F: Fn(&str, &SecurityEvent) + Send + Sync + 'static> EventSink for F {
    fn record(&self, user_id: &str, event: &SecurityEvent) {
        self(user_id, event)
    }
}
