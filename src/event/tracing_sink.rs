//! Security events as `tracing` events (feature `tracing`).

use super::{EventSink, SecurityEvent};

/// An [`EventSink`] that emits each [`SecurityEvent`] as a `tracing` event
/// with target `mfa::security`: the fields `security_event` (its
/// [`name`](SecurityEvent::name)), `user_id` and the event's own fields,
/// under the span of the operation that reported it. Events that point at
/// an attack (a lock, a refused replay, a suspected passkey clone, a
/// remembered device used while codes are locked) are `WARN`, the rest
/// `INFO`. No event holds a secret, a code or a key; an operator's reason
/// is a field like any other, escaped by the subscriber.
///
/// ```
/// # #[cfg(feature = "tracing")] {
/// use mfa::{Keyring, KeyId, MasterKey, MemoryStore, Mfa, MfaContext, Policy};
/// use mfa::event::TracingSink;
///
/// # fn context() -> MfaContext {
/// #     let key = MasterKey::from_bytes([7; 32]);
/// #     MfaContext::new(Keyring::new(KeyId(1), key), Policy::new("Example Co")).unwrap()
/// # }
/// let mfa = Mfa::new(MemoryStore::new(), context()).with_event_sink(TracingSink);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl EventSink for TracingSink {
    fn record(&self, user_id: &str, event: &SecurityEvent) {
        use SecurityEvent as E;
        let name = event.name();
        macro_rules! emit {
            ($level:ident $(, $field:ident = $value:expr)*) => {
                tracing::event!(
                    target: "mfa::security",
                    tracing::Level::$level,
                    security_event = name,
                    user_id
                    $(, $field = $value)*,
                    "security event"
                )
            };
        }
        match event {
            E::SetupStarted { expires_at } | E::ReplacementStarted { expires_at } => {
                emit!(INFO, expires_at = *expires_at)
            }
            E::FactorImported {
                backup_codes,
                legacy_backup_codes,
            } => emit!(
                INFO,
                backup_codes = *backup_codes,
                legacy_backup_codes = *legacy_backup_codes
            ),
            E::TotpAccepted(m) => emit!(INFO, step = m.step, drift = m.drift),
            E::BackupCodeUsed { remaining } | E::BackupCodesRunningLow { remaining } => {
                emit!(INFO, remaining = *remaining)
            }
            E::LegacyBackupCodeUsed { legacy_remaining } => {
                emit!(INFO, legacy_remaining = *legacy_remaining)
            }
            E::BackupCodesRegenerated { count } | E::DevicesForgotten { count } => {
                emit!(INFO, count = *count)
            }
            E::AttemptFailed {
                consecutive_failures,
            } => emit!(INFO, consecutive_failures = *consecutive_failures),
            E::LockoutStarted {
                retry_after,
                consecutive_failures,
            } => emit!(
                WARN,
                retry_after = *retry_after,
                consecutive_failures = *consecutive_failures
            ),
            E::OperatorUnlocked { actor, reason } | E::OperatorReset { actor, reason } => {
                emit!(INFO, actor = actor.as_str(), reason = reason.as_str())
            }
            E::ReplayRefused { step } => emit!(WARN, step = *step),
            E::DeviceRemembered {
                expires_at,
                forgotten,
            } => emit!(INFO, expires_at = *expires_at, forgotten = *forgotten),
            E::RememberedDeviceLoginDuringLockout => emit!(WARN),
            E::PasskeyCloneSuspected { passkey } => emit!(WARN, passkey = passkey.as_str()),
            E::PasskeyAdded { passkey }
            | E::PasskeyRemoved { passkey }
            | E::PasskeyRenamed { passkey }
            | E::PasskeyUsed { passkey } => emit!(INFO, passkey = passkey.as_str()),
            E::FactorEnabled
            | E::FactorDisabled
            | E::BackupCodeReissued
            | E::SecretReencrypted
            | E::AuthenticatorReplaced => emit!(INFO),
        }
    }
}
