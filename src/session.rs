//! What a host keeps in its sessions and login flows: the security
//! [`Epoch`], [`Proof`]s of verification, single-use [`LoginChallenge`]s and
//! the [`DeviceToken`]s of remembered devices.
//!
//! The crate mints these; the host stores them (in a server-side session, or
//! in a token it signs; a device token in a cookie) and hands them back.
//! Invariant I12: a session, a login challenge, a proof or a device token
//! minted under one epoch is worth nothing once the factor has moved to
//! another.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The security epoch of a user's MFA record.
///
/// It moves on whenever the factor is enabled, disabled, replaced or reset
/// by an operator, and at no other time. A host binds every session to the
/// epoch it was issued under and refuses the session once the record's
/// epoch differs ([`MfaEnrollment::check_epoch`](crate::MfaEnrollment::check_epoch)):
/// one change revokes every earlier session, login challenge and proof, on
/// every server that shares the store. A user without a record is at
/// [`Epoch::default`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Epoch(u64);

impl Epoch {
    /// An epoch from the number a host stored (for example in a session
    /// table column); [`Epoch::get`] gives it back.
    pub const fn new(value: u64) -> Self {
        Epoch(value)
    }

    /// The epoch as a number, for storage.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next epoch.
    pub(crate) fn next(self) -> Self {
        Epoch(self.0.saturating_add(1))
    }
}

/// How a [`Proof`] was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProofMethod {
    /// A TOTP code from the authenticator app.
    Totp,
    /// A backup code, now used up.
    BackupCode,
    /// The first code of a new app, which confirmed its setup.
    SetupConfirmation,
    /// A passkey with user verification: phishing-resistant (NIST SP
    /// 800-63B-4 §3.2.5).
    Passkey,
}

/// Proof that the user verified the second factor: how, when, by whom and
/// under which epoch.
///
/// Every successful code check returns one. A host puts it into the session
/// it issues, and passes it back to operations that demand a recent
/// verification ([`Reauth::RecentProof`](crate::Reauth::RecentProof)); it
/// checks one itself with
/// [`MfaEnrollment::check_proof`](crate::MfaEnrollment::check_proof).
///
/// It is bound to its user (I17): a proof of one user is worth nothing for
/// another, even at the same epoch. It keeps a 128-bit digest of the user
/// id, not the id itself. A proof serialized before it was bound (without
/// `"user"`) still loads but proves nothing.
///
/// It holds no secret, but it is a credential of sorts: keep it where the
/// client cannot change it (a server-side session, or a token the host signs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Proof {
    /// How the user proved the factor.
    pub method: ProofMethod,
    /// When (unix seconds).
    pub verified_at: u64,
    /// The epoch the proof belongs to: it is void under any other.
    pub epoch: Epoch,
    /// Whose proof it is: a digest of the user id (all zero when unbound).
    #[serde(default, with = "crate::encoding::base64_array")]
    user: [u8; USER_DIGEST_LEN],
}

/// Bytes of the user-id digest a [`Proof`] keeps.
pub(crate) const USER_DIGEST_LEN: usize = 16;

/// The digest of `user_id` a proof is bound to: SHA-256, domain-separated,
/// cut to 128 bits (enough to tell users apart; nothing here is secret).
pub(crate) fn user_digest(user_id: &str) -> [u8; USER_DIGEST_LEN] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"mfa/proof-user\0");
    hasher.update(user_id.as_bytes());
    let full: [u8; 32] = hasher.finalize().into();
    let mut digest = [0; USER_DIGEST_LEN];
    digest.copy_from_slice(&full[..USER_DIGEST_LEN]);
    digest
}

impl Proof {
    /// How far ahead of the checking server's clock a proof's time may be
    /// and still count (I17): servers sharing a store disagree on the
    /// second, but a proof from further in the future is refused rather
    /// than kept recent for longer.
    pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

    /// The proof a session holds, for an operation that needs a recent one
    /// ([`Reauth::RecentProof`](crate::Reauth::RecentProof), which judges how
    /// recent). Without one: [`Error::MfaNotEnabled`](crate::Error::MfaNotEnabled)
    /// when `record` has no active factor to prove, else
    /// [`Error::StepUpRequired`](crate::Error::StepUpRequired).
    pub fn required(proof: Option<Proof>, record: &crate::MfaEnrollment) -> crate::Result<Proof> {
        proof.ok_or(if record.is_active() {
            crate::Error::StepUpRequired
        } else {
            crate::Error::MfaNotEnabled
        })
    }

    /// Whether this is a proof of `user_id` (compared in constant time).
    pub fn is_for(&self, user_id: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.user.ct_eq(&user_digest(user_id)).into()
    }

    /// The same verification, carried into `epoch` (a change the holder of
    /// this proof made itself).
    pub(crate) fn under(&self, epoch: Epoch) -> Self {
        Proof { epoch, ..*self }
    }

    pub(crate) fn new(method: ProofMethod, verified_at: u64, epoch: Epoch, user_id: &str) -> Self {
        Proof {
            method,
            verified_at,
            epoch,
            user: user_digest(user_id),
        }
    }
}

/// A login waiting for its second step: begun after the password was
/// checked, completed by at most one successful code.
///
/// Bound to the user and the epoch, and expiring
/// ([`Policy::login_challenge_ttl_secs`](crate::Policy::login_challenge_ttl_secs)).
/// A wrong code does not use it up; a successful completion uses up every
/// challenge of the user that was begun before it, so completing one twice
/// is impossible, however the completions race and on however many servers.
///
/// Like webauthn-rs's ceremony states it is stored by the host between the
/// two steps, and must come back unaltered: keep it server-side, or inside a
/// token the host signs (the example server puts it in its signed
/// `mfaToken`). Whoever could alter it could skip the password step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginChallenge {
    pub(crate) user_id: String,
    pub(crate) epoch: Epoch,
    /// The number of logins the record had completed when this one began.
    pub(crate) serial: u64,
    pub(crate) expires_at: u64,
    /// The passkey request state, when the user had passkeys (I14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) passkey: Option<serde_json::Value>,
    /// The passkey request options to send, until serialized.
    #[cfg(feature = "passkeys")]
    #[serde(skip)]
    pub(crate) passkey_options: Option<Box<crate::passkey::RequestChallengeResponse>>,
}

impl LoginChallenge {
    /// The user the challenge belongs to.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The epoch it was begun under.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// When it stops being completable (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether a passkey can complete it (the user had passkeys when it
    /// began).
    pub fn accepts_passkey(&self) -> bool {
        self.passkey.is_some()
    }

    /// The passkey request options to send with the second step: present
    /// on the challenge as begun when the user has passkeys, absent once it
    /// went through serialization.
    #[cfg(feature = "passkeys")]
    #[cfg_attr(docsrs, doc(cfg(feature = "passkeys")))]
    pub fn passkey_options(&self) -> Option<&crate::passkey::RequestChallengeResponse> {
        self.passkey_options.as_deref()
    }
}

/// Equal when they complete the same login: the options to send are not
/// part of the challenge.
impl PartialEq for LoginChallenge {
    fn eq(&self, other: &Self) -> bool {
        self.user_id == other.user_id
            && self.epoch == other.epoch
            && self.serial == other.serial
            && self.expires_at == other.expires_at
            && self.passkey == other.passkey
    }
}

impl Eq for LoginChallenge {}

/// What the password step of a login leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginStep {
    /// The user has no active factor: issue a session bound to this epoch,
    /// without a proof.
    Complete(Epoch),
    /// The user has an active factor: keep the challenge and ask for a code.
    SecondFactor(LoginChallenge),
    /// The user has an active factor and the request came from a remembered
    /// device: issue a session bound to this epoch, without a proof (a
    /// remembered device is not a fresh verification).
    RememberedDevice(Epoch),
}

/// The token of a remembered device ("don't ask again on this device"):
/// 256 random bits as 43 base64url characters, shown once, for the host to
/// set as a long-lived cookie.
///
/// The record keeps only its SHA-256. It is bound to the user and the epoch:
/// enabling, disabling, replacing or resetting the factor, and
/// [`MfaEnrollment::forget_devices`](crate::MfaEnrollment::forget_devices),
/// revoke it. Wiped on drop, never printed, not `Clone`.
pub struct DeviceToken {
    pub(crate) token: Zeroizing<String>,
    pub(crate) expires_at: u64,
}

impl DeviceToken {
    /// The token, for the client to keep.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// When it stops working (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceToken")
            .field("token", &"REDACTED")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
