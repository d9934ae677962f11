//! Every tunable default in one place, and the context transitions run in.

use crate::backup::{Argon2Params, BackupCodeStrength, StoredBackupCodes};
use crate::error::{Error, Result};
use crate::keys::Keyring;
use crate::lockout::LockoutPolicy;
use crate::passkey::PasskeyPolicy;
use crate::totp::{Algorithm, TotpParams};

/// TOTP settings for new enrollments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TotpPolicy {
    /// HMAC algorithm (default SHA-1: every app supports it).
    pub algorithm: Algorithm,
    /// Digits per code (default 6).
    pub digits: u8,
    /// Seconds per step (default 30).
    pub period: u64,
    /// Steps accepted either side of now (default 1, RFC 6238 §5.2).
    pub skew: u8,
    /// Secret length in bytes (default 20: 160 bits, RFC 4226 §4).
    pub secret_len: usize,
}

impl Default for TotpPolicy {
    fn default() -> Self {
        TotpPolicy {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            skew: 1,
            secret_len: 20,
        }
    }
}

impl TotpPolicy {
    /// The parameters stored with a new factor.
    pub fn params(&self) -> TotpParams {
        TotpParams {
            algorithm: self.algorithm,
            digits: self.digits,
            period: self.period,
        }
    }
}

/// Backup-code settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupCodePolicy {
    /// Codes per set (default 10).
    pub count: usize,
    /// Argon2id cost (default OWASP: m = 19456 KiB, t = 2, p = 1).
    pub argon2: Argon2Params,
    /// Length of new codes, and so their secret bits (default
    /// [`BackupCodeStrength::Standard`]: 10 characters, 40 bits;
    /// [`BackupCodeStrength::NistRecovery`]: 15 characters, 65 bits, for
    /// saved recovery codes under NIST SP 800-63B-4 §4.2.1.1). Applies to sets
    /// generated from now on; a stored set keeps its own.
    pub strength: BackupCodeStrength,
    /// When a use leaves this many unused codes or fewer,
    /// [`SecurityEvent::BackupCodesRunningLow`](crate::event::SecurityEvent::BackupCodesRunningLow)
    /// is reported, so the host can urge the user to regenerate (default 2).
    pub low_threshold: usize,
    /// Whether a backup code used to log in or step up is replaced at once
    /// by a new one, shown once with the verification
    /// ([`Verified::new_backup_code`](crate::Verified::new_backup_code)), as
    /// NIST SP 800-63B-4 §4.2.1.1 asks of saved recovery codes (SRC-5)
    /// (default false; true in [`Policy::nist_800_63b4_aal2`]). The new code
    /// takes the used one's place (and keeps its locator, the two characters
    /// that are not secret), so the number of unused codes stays; an imported
    /// set is not topped up. A code used to re-authenticate a management
    /// operation is not replaced. A used code retyped is checked and counted
    /// like a wrong one, as its locator now names the new code.
    pub reissue_on_use: bool,
}

impl BackupCodePolicy {
    /// What a new set is made of: Argon2 parameters, preset, number of codes.
    pub(crate) fn new_set(&self) -> (Argon2Params, BackupCodeStrength, usize) {
        (self.argon2, self.strength, self.count)
    }
}

impl Default for BackupCodePolicy {
    fn default() -> Self {
        BackupCodePolicy {
            count: 10,
            argon2: Argon2Params::default(),
            strength: BackupCodeStrength::Standard,
            low_threshold: 2,
            reissue_on_use: false,
        }
    }
}

/// Remembered-device settings ("don't ask again on this device").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DevicePolicy {
    /// Devices remembered per user at most (default 10; at most 64): the
    /// oldest is forgotten to make room.
    pub max_devices: usize,
    /// How long a device token works (default 30 days).
    pub ttl_secs: u64,
}

impl Default for DevicePolicy {
    fn default() -> Self {
        DevicePolicy {
            max_devices: 10,
            ttl_secs: 30 * 24 * 60 * 60,
        }
    }
}

/// Every default of the crate in one struct; every field can be overridden.
///
/// ```
/// let mut policy = mfa::Policy::new("Example Co");
/// policy.pending_ttl_secs = 5 * 60;
/// policy.totp.digits = 8;
/// policy.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The issuer shown in authenticator apps (no `:`).
    pub issuer: String,
    /// TOTP settings.
    pub totp: TotpPolicy,
    /// Backup-code settings.
    pub backup_codes: BackupCodePolicy,
    /// Failure counting and lockout.
    pub lockout: LockoutPolicy,
    /// How long a setup may stay pending (default 10 minutes).
    pub pending_ttl_secs: u64,
    /// How long a login challenge may wait for its code (default 5 minutes).
    pub login_challenge_ttl_secs: u64,
    /// How old a proof may be for managing the factor without a code
    /// (default 10 minutes; [`Reauth::RecentProof`](crate::Reauth::RecentProof)).
    pub step_up_window_secs: u64,
    /// Remembered devices.
    pub devices: DevicePolicy,
    /// Passkeys.
    pub passkeys: PasskeyPolicy,
}

impl Policy {
    /// The defaults, with `issuer` as the name authenticator apps show.
    pub fn new(issuer: impl Into<String>) -> Self {
        Policy {
            issuer: issuer.into(),
            totp: TotpPolicy::default(),
            backup_codes: BackupCodePolicy::default(),
            lockout: LockoutPolicy::default(),
            pending_ttl_secs: 10 * 60,
            login_challenge_ttl_secs: 5 * 60,
            step_up_window_secs: 10 * 60,
            devices: DevicePolicy::default(),
            passkeys: PasskeyPolicy::default(),
        }
    }

    /// The defaults tightened so that every requirement of NIST SP 800-63B-4
    /// at AAL2 the crate can meet itself is met (see
    /// [`MfaContext::compliance`]): backup codes of 65 secret bits, as saved
    /// recovery codes need (§4.2.1.1, SRC-1), each replaced by a new one when
    /// it is used to log in or step up (SRC-5); the defaults' 30-second codes
    /// accepted one step either side (SFOA-3, SFOV-5), their lockout (RL-2)
    /// and their 10-minute step-up window (BAA-2). The phishing-resistant
    /// option (§2.2.2, AAL2AVR-6) is passkeys: a relying party on the
    /// context ([`MfaContext::with_relying_party`], feature `passkeys`).
    ///
    /// ```
    /// use mfa::backup::BackupCodeStrength;
    /// let policy = mfa::Policy::nist_800_63b4_aal2("Example Co");
    /// assert_eq!(policy.backup_codes.strength, BackupCodeStrength::NistRecovery);
    /// ```
    pub fn nist_800_63b4_aal2(issuer: impl Into<String>) -> Self {
        let mut policy = Policy::new(issuer);
        policy.backup_codes.strength = BackupCodeStrength::NistRecovery;
        policy.backup_codes.reissue_on_use = true;
        policy
    }

    /// Checks every field. A refusal names the requirement of NIST SP
    /// 800-63B-4 it protects, where there is one.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.issuer.contains(':') {
            return Err(Error::InvalidConfig("the issuer must not contain ':'"));
        }
        self.totp.params().validate()?;
        if self.totp.skew > 10 {
            return Err(Error::InvalidConfig(
                "a TOTP skew above 10 steps is unsafe (NIST SP 800-63B-4 SFOV-5: the lifetime follows the expected drift)",
            ));
        }
        if !(16..=64).contains(&self.totp.secret_len) {
            return Err(Error::InvalidConfig(
                "a TOTP secret has 16 to 64 bytes (NIST SP 800-63B-4 SFOA-1: at least 112 bits)",
            ));
        }
        if !(1..=StoredBackupCodes::MAX).contains(&self.backup_codes.count) {
            return Err(Error::InvalidConfig("a backup-code set has 1 to 64 codes"));
        }
        if self.pending_ttl_secs == 0 {
            return Err(Error::InvalidConfig(
                "the pending-setup lifetime must be positive",
            ));
        }
        if self.login_challenge_ttl_secs == 0 {
            return Err(Error::InvalidConfig(
                "the login-challenge lifetime must be positive",
            ));
        }
        if self.step_up_window_secs == 0 {
            return Err(Error::InvalidConfig("the step-up window must be positive"));
        }
        if !(1..=64).contains(&self.devices.max_devices) {
            return Err(Error::InvalidConfig(
                "a user may have 1 to 64 remembered devices",
            ));
        }
        if self.devices.ttl_secs == 0 {
            return Err(Error::InvalidConfig(
                "a remembered device's lifetime must be positive",
            ));
        }
        if !(1..=64).contains(&self.passkeys.max_passkeys) {
            return Err(Error::InvalidConfig("a user may have 1 to 64 passkeys"));
        }
        self.lockout.validate()
    }
}

/// What every transition needs besides the record: the keys and the policy.
///
/// ```
/// use mfa::{KeyId, Keyring, MasterKey, MfaContext, Policy};
/// let keyring = Keyring::new(KeyId(1), MasterKey::generate(&mut rand::rng()));
/// let config = MfaContext::new(keyring, Policy::new("Example Co")).unwrap();
/// assert_eq!(config.policy().totp.digits, 6);
/// ```
#[derive(Debug)]
pub struct MfaContext {
    keyring: Keyring,
    policy: Policy,
    #[cfg(feature = "passkeys")]
    relying_party: Option<crate::passkey::RelyingParty>,
}

impl MfaContext {
    /// Validates the policy and bundles it with the keyring.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the policy is invalid.
    pub fn new(keyring: Keyring, policy: Policy) -> Result<Self> {
        policy.validate()?;
        Ok(MfaContext {
            keyring,
            policy,
            #[cfg(feature = "passkeys")]
            relying_party: None,
        })
    }

    /// Enables passkeys for this relying party.
    #[cfg(feature = "passkeys")]
    #[cfg_attr(docsrs, doc(cfg(feature = "passkeys")))]
    pub fn with_relying_party(mut self, relying_party: crate::passkey::RelyingParty) -> Self {
        self.relying_party = Some(relying_party);
        self
    }

    /// The relying party passkeys are bound to.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if none was set
    /// ([`MfaContext::with_relying_party`]).
    #[cfg(feature = "passkeys")]
    #[cfg_attr(docsrs, doc(cfg(feature = "passkeys")))]
    pub fn relying_party(&self) -> Result<&crate::passkey::RelyingParty> {
        self.relying_party
            .as_ref()
            .ok_or(Error::InvalidConfig("passkeys need a relying party"))
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        Policy::new("ok").validate().unwrap();
        let bad = |f: fn(&mut Policy)| {
            let mut p = Policy::new("x");
            f(&mut p);
            p.validate().is_err()
        };
        assert!(bad(|p| p.issuer = "a:b".into()));
        assert!(bad(|p| p.totp.digits = 9));
        assert!(bad(|p| p.totp.period = 0));
        assert!(bad(|p| p.totp.skew = 11));
        assert!(bad(|p| p.totp.secret_len = 10));
        assert!(bad(|p| p.backup_codes.count = 0));
        assert!(bad(|p| p.pending_ttl_secs = 0));
        assert!(bad(|p| p.login_challenge_ttl_secs = 0));
        assert!(bad(|p| p.step_up_window_secs = 0));
        assert!(bad(|p| p.devices.max_devices = 0));
        assert!(bad(|p| p.devices.max_devices = 65));
        assert!(bad(|p| p.devices.ttl_secs = 0));
        assert!(bad(|p| p.lockout.max_consecutive_failures = 101));
    }

    #[test]
    fn backup_code_presets() {
        let mut policy = Policy::new("x");
        assert_eq!(policy.backup_codes.strength, BackupCodeStrength::Standard);
        for strength in BackupCodeStrength::ALL {
            policy.backup_codes.strength = strength;
            policy.validate().unwrap();
        }
    }
}
