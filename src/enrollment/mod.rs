//! The record the host stores, and its one-time outputs.

mod charge;
mod devices;
mod effects;
mod format;
mod login;
mod operator;
mod passkeys;
mod replace;
mod transitions;
mod verify;

pub(crate) use charge::{CodeCheck, Paid, SubmittedCode};
#[cfg(feature = "import")]
pub(crate) use effects::unchanged;
#[cfg(feature = "passkeys")]
pub(crate) use passkeys::SubmittedAssertion;
pub(crate) use verify::{Accept, Argon2Work, Hashing};

use std::fmt;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::backup::{BackupCodes, StoredBackupCodes};
use crate::error::Result;
use crate::event::SecurityEvent;
use crate::keys::Envelope;
use crate::lockout::Attempts;
use crate::passkey::{PendingPasskey, SpentChallenges, StoredPasskey};
use crate::policy::MfaContext;
use crate::session::{Epoch, Proof};
use crate::totp::{TotpMatch, TotpParams};

/// A user's MFA state: the record the host stores, one per user.
///
/// The factor set goes `Disabled → Pending → Active → Disabled`
/// ([`FactorState`]; an active set holds an app, passkeys, or both); beside
/// it the record keeps the security [`Epoch`], which moves on whenever a
/// factor is bound or unbound or an operator resets the record (I12), the
/// count of completed logins that makes each
/// [`LoginChallenge`](crate::session::LoginChallenge) single-use, a passkey
/// registration waiting for the browser, and the step-up and passwordless
/// challenges spent (I14).
///
/// Transitions are pure methods that consume the record and return a
/// [`Transition`]: the next record, whether it changed, the outcome, and
/// security events. Time (`now`, unix seconds) and randomness are
/// parameters, so the same inputs give the same result.
///
/// Serialized with serde in a versioned, self-describing format (`"format":
/// "mfa/3"`); see [`MfaEnrollment::to_json`]. Secrets inside are encrypted
/// and backup codes hashed, so a record can be stored as it is.
/// [`MfaEnrollment::default`] is the record of a user who never had one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MfaEnrollment {
    pub(crate) factor: FactorState,
    pub(crate) epoch: Epoch,
    /// Logins completed through a login challenge (I12).
    pub(crate) logins: u64,
    /// A passkey registration begun and not yet finished (I14).
    pub(crate) passkey_registration: Option<PendingPasskey>,
    /// Step-up and passwordless challenges completed (I14): kept whatever
    /// happens to the factors.
    pub(crate) spent: SpentChallenges,
}

/// Where the factor stands.
///
/// The active set is much larger than the other states; it is not boxed,
/// because records move by value through every transition and the hot
/// paths (a TOTP check, I13's bounded work) allocate nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FactorState {
    /// No factor.
    #[default]
    Disabled,
    /// Setup begun, waiting for the first code. Never authenticates (I5).
    Pending(PendingSetup),
    /// A confirmed factor with its backup codes.
    Active(ActiveFactor),
}

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

/// The result of a transition.
///
/// **Save `state` (with a compare-and-swap) whenever `changed` is true, and
/// only then act on `outcome`**: failed attempts change the state too, and
/// one-time output must not be shown unless the state holding its hashes was
/// saved (I1). [`Mfa`](crate::Mfa) does all of this for you.
#[must_use = "save `state` when `changed`, then act on `outcome`"]
#[derive(Debug)]
pub struct Transition<T> {
    /// The record after the transition.
    pub state: MfaEnrollment,
    /// Whether `state` differs from the record the transition started from.
    pub changed: bool,
    /// What happened.
    pub outcome: Result<T>,
    /// Security events, to report once `state` is saved.
    pub events: Vec<SecurityEvent>,
}

/// The one-time output of beginning setup: what the user's authenticator app needs.
///
/// Holds the plaintext secret: wiped on drop, `Debug` prints no secret, no
/// `Clone`, no `Serialize`.
pub struct TotpSetup {
    #[cfg_attr(not(feature = "qr"), allow(dead_code))]
    totp: totp_rs::Totp,
    uri: Zeroizing<String>,
    secret_base32: Zeroizing<String>,
    expires_at: u64,
}

impl TotpSetup {
    /// The `otpauth://totp/Issuer:account?secret=…&issuer=…` URI.
    pub fn otpauth_uri(&self) -> &str {
        &self.uri
    }

    /// The secret as unpadded base32, for manual entry.
    pub fn secret_base32(&self) -> &str {
        &self.secret_base32
    }

    /// When the pending setup expires (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// A QR code of the URI as PNG bytes, wiped on drop: anyone who reads
    /// the image has the secret.
    ///
    /// # Errors
    /// [`Error::Internal`](crate::Error::Internal) if the URI cannot be encoded.
    #[cfg(feature = "qr")]
    #[cfg_attr(docsrs, doc(cfg(feature = "qr")))]
    pub fn qr_png(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.totp
            .to_qr_png()
            .map(Zeroizing::new)
            .map_err(|_| crate::Error::Internal("QR encoding failed"))
    }

    /// The QR code as a `data:image/png;base64,…` URI, for an `<img src>`;
    /// wiped on drop, like the PNG it encodes.
    ///
    /// # Errors
    /// [`Error::Internal`](crate::Error::Internal) if the URI cannot be encoded.
    #[cfg(feature = "qr")]
    #[cfg_attr(docsrs, doc(cfg(feature = "qr")))]
    pub fn qr_data_uri(&self) -> Result<Zeroizing<String>> {
        const PREFIX: &str = "data:image/png;base64,";
        let base64 = Zeroizing::new(
            self.totp
                .to_qr_base64()
                .map_err(|_| crate::Error::Internal("QR encoding failed"))?,
        );
        // Sized once, so no reallocation leaves a copy behind.
        let mut uri = Zeroizing::new(String::with_capacity(PREFIX.len() + base64.len()));
        uri.push_str(PREFIX);
        uri.push_str(&base64);
        Ok(uri)
    }
}

impl fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSetup")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a code verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifiedBy {
    /// A TOTP code, with its step and drift.
    Totp(TotpMatch),
    /// A backup code, now used up.
    BackupCode,
    /// A passkey with user verification.
    Passkey,
}

/// A successful second-factor verification. Not `Clone`: it may carry a
/// new backup code, a one-time secret.
#[derive(Debug)]
#[non_exhaustive]
pub struct Verified {
    /// Which kind of code it was.
    pub by: VerifiedBy,
    /// Unused backup codes left.
    pub backup_codes_remaining: usize,
    /// The proof to keep in the session this verification opens or refreshes.
    pub proof: Proof,
    /// The backup code issued in the place of the one used, to show the user
    /// once, when the policy reissues codes
    /// ([`BackupCodePolicy::reissue_on_use`](crate::policy::BackupCodePolicy::reissue_on_use)).
    pub new_backup_code: Option<crate::backup::BackupCode>,
}

/// The output of a confirmed setup: the backup codes, shown this once, and
/// the proof of the code that confirmed it. Not `Clone`: the codes are
/// one-time secrets.
#[derive(Debug)]
#[non_exhaustive]
pub struct Enabled {
    /// The new backup codes.
    pub backup_codes: BackupCodes,
    /// A proof under the new epoch, for the session the host issues now.
    pub proof: Proof,
}

/// What an operation that manages the factor demands: a code now, or a
/// recent proof.
///
/// Either way a locked factor refuses, and a proof counts only for its user,
/// under the record's current epoch and within
/// [`Policy::step_up_window_secs`](crate::Policy::step_up_window_secs) (I12,
/// I17): a session opened before MFA was enabled, or before the last change,
/// cannot manage the factor. A proof is what a session carries, so whoever
/// steals the session has it too: for an operation that hands the factor to
/// someone else (beginning a replacement), ask for a code and the password.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Reauth<'a> {
    /// A proof from the session, recent enough
    /// ([`MfaEnrollment::check_proof`]).
    RecentProof(&'a Proof),
    /// A current TOTP code (checked, counted and consumed like a login).
    TotpCode(&'a str),
    /// A current TOTP code or an unused backup code, told apart by shape
    /// (checked, counted and consumed like a login; [`Mfa`](crate::Mfa)
    /// charges a backup code to the lockout before hashing it, I16). For a
    /// user whose phone is lost, a backup code is the only code left.
    Code(&'a str),
}

impl fmt::Debug for Reauth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reauth::RecentProof(proof) => f.debug_tuple("RecentProof").field(proof).finish(),
            Reauth::TotpCode(_) => f.write_str("TotpCode(REDACTED)"),
            Reauth::Code(_) => f.write_str("Code(REDACTED)"),
        }
    }
}

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

impl MfaEnrollment {
    /// The status at `now`.
    pub fn status(&self, config: &MfaContext, now: u64) -> MfaStatus {
        let lockout = &config.policy().lockout;
        match &self.factor {
            FactorState::Disabled => MfaStatus {
                mfa_enabled: false,
                mfa_method: None,
                mfa_methods: MfaMethods::default(),
                passkeys: 0,
                pending_setup: false,
                backup_codes_remaining: 0,
                locked_out: false,
                replacement_pending: false,
                remembered_devices: 0,
                legacy_backup_codes: 0,
            },
            FactorState::Pending(p) => MfaStatus {
                mfa_enabled: false,
                mfa_method: None,
                mfa_methods: MfaMethods::default(),
                passkeys: 0,
                pending_setup: now < p.expires_at,
                backup_codes_remaining: 0,
                locked_out: p.attempts.locked(lockout, now).is_some(),
                replacement_pending: false,
                remembered_devices: 0,
                legacy_backup_codes: 0,
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

    /// Whether a factor is active.
    pub fn is_active(&self) -> bool {
        matches!(self.factor, FactorState::Active(_))
    }

    /// Where the factor stands.
    pub fn factor(&self) -> &FactorState {
        &self.factor
    }

    /// The security epoch (I12).
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Checks that a session bound to `epoch` is still valid: that the
    /// factor has not been enabled, disabled, replaced or reset since it was
    /// issued.
    ///
    /// # Errors
    /// [`Error::Revoked`](crate::Error::Revoked) if the epoch moved on.
    pub fn check_epoch(&self, epoch: Epoch) -> Result<()> {
        if epoch == self.epoch {
            Ok(())
        } else {
            Err(crate::Error::Revoked)
        }
    }

    /// Checks that `proof` is recent enough to manage the factor without a
    /// code: a proof of `user_id` (I17), issued under the current epoch, at
    /// most [`Policy::step_up_window_secs`](crate::Policy::step_up_window_secs)
    /// before `now`, and at most [`Proof::MAX_CLOCK_SKEW_SECS`] after it
    /// (servers sharing a store may disagree on the current second, but a
    /// proof from the future must not stay recent for longer).
    ///
    /// # Errors
    /// [`Error::Revoked`](crate::Error::Revoked) for another user's proof or
    /// under another epoch;
    /// [`Error::StepUpRequired`](crate::Error::StepUpRequired) if too old or
    /// too far in the future.
    pub fn check_proof(
        &self,
        config: &MfaContext,
        user_id: &str,
        proof: &Proof,
        now: u64,
    ) -> Result<()> {
        check_proof(config, self.epoch, user_id, proof, now)
    }
}

/// [`MfaEnrollment::check_proof`] against a record at `epoch`.
fn check_proof(
    config: &MfaContext,
    epoch: Epoch,
    user_id: &str,
    proof: &Proof,
    now: u64,
) -> Result<()> {
    if !proof.is_for(user_id) || proof.epoch != epoch {
        return Err(crate::Error::Revoked);
    }
    let recent = match proof.verified_at.checked_sub(now) {
        // From the future: only within the clock skew two servers may have.
        Some(ahead) => ahead <= Proof::MAX_CLOCK_SKEW_SECS,
        None => now - proof.verified_at <= config.policy().step_up_window_secs,
    };
    if recent {
        Ok(())
    } else {
        Err(crate::Error::StepUpRequired)
    }
}
