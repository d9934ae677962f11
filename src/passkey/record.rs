//! What the record keeps of passkeys.

use serde::{Deserialize, Serialize};

use crate::text::{is_bidi_control, is_invisible_format, is_line_break};

/// Passkey settings of the [`Policy`](crate::Policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasskeyPolicy {
    /// Passkeys one user may hold (default 10).
    pub max_passkeys: usize,
    /// Whether a passkey alone logs in, without a password (default true):
    /// a discoverable credential with user verification names its user and
    /// proves two factors.
    pub passwordless: bool,
}

impl Default for PasskeyPolicy {
    fn default() -> Self {
        PasskeyPolicy {
            max_passkeys: 10,
            passwordless: true,
        }
    }
}

impl PasskeyPolicy {
    /// The longest passkey name, in characters.
    pub const MAX_NAME_CHARS: usize = 64;

    /// Checks a user-chosen passkey name: 1 to [`Self::MAX_NAME_CHARS`]
    /// characters after trimming, no control, bidi-override or invisible
    /// characters. Returns the trimmed name.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming the problem.
    pub fn check_name(name: &str) -> crate::Result<&str> {
        let name = name.trim();
        if name.is_empty() {
            return Err(crate::Error::InvalidInput("a passkey name is empty"));
        }
        if name.chars().count() > Self::MAX_NAME_CHARS {
            return Err(crate::Error::InvalidInput(
                "a passkey name is longer than 64 characters",
            ));
        }
        if name.chars().any(|c| {
            c.is_control() || is_line_break(c) || is_bidi_control(c) || is_invisible_format(c)
        }) {
            return Err(crate::Error::InvalidInput(
                "a passkey name contains a control or invisible character",
            ));
        }
        Ok(name)
    }
}

/// A registered passkey: its metadata and the public credential.
///
/// Holds no secret: the private key never leaves the authenticator. The
/// credential id and public key are still never put into events or logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// The crate's own short id (11 base64url characters), for URLs.
    pub(crate) id: String,
    pub(crate) name: String,
    /// The WebAuthn credential id (I15: names at most one user).
    #[serde(with = "crate::encoding::base64_vec")]
    pub(crate) credential_id: Vec<u8>,
    pub(crate) created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_used_at: Option<u64>,
    pub(crate) backup_eligible: bool,
    pub(crate) backed_up: bool,
    /// The highest signature counter seen: a non-zero counter that does not
    /// rise is refused as a possible clone.
    pub(crate) counter: u32,
    /// The credential as `webauthn-rs` serializes it (public key,
    /// algorithm, flags), kept opaque so that the record loads without the
    /// `passkeys` feature.
    pub(crate) key: serde_json::Value,
}

impl StoredPasskey {
    /// The crate's short id of this passkey (not the credential id).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The user's name for it.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The WebAuthn credential id, for a store's credential index (I15).
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }
    /// When it was registered (unix seconds).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    /// When it last completed a ceremony (unix seconds).
    pub fn last_used_at(&self) -> Option<u64> {
        self.last_used_at
    }
    /// Whether the authenticator may sync it (a synced passkey).
    pub fn backup_eligible(&self) -> bool {
        self.backup_eligible
    }
    /// Whether it was backed up (synced) when last seen.
    pub fn backed_up(&self) -> bool {
        self.backed_up
    }
    /// The highest signature counter seen (0 for most synced passkeys).
    pub fn counter(&self) -> u32 {
        self.counter
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), &'static str> {
        if self.credential_id.is_empty() || self.credential_id.len() > 1023 {
            return Err("a passkey credential id is empty or longer than 1023 bytes");
        }
        if self.id.is_empty() || PasskeyPolicy::check_name(&self.name).is_err() {
            return Err("a passkey has no id or an invalid name");
        }
        Ok(())
    }
}

/// A passkey registration waiting for the authenticator's answer: the
/// ceremony state `webauthn-rs` keeps server-side, in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingPasskey {
    pub(crate) state: serde_json::Value,
    #[serde(with = "crate::encoding::base64_array")]
    pub(crate) handle: [u8; 16],
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
}

impl PendingPasskey {
    pub(crate) fn validate(&self) -> std::result::Result<(), &'static str> {
        if self.expires_at < self.created_at {
            return Err("a passkey registration expires before it began");
        }
        Ok(())
    }
}

/// A step-up or passwordless challenge that completed, kept until it
/// expires so that it completes at most once (I14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpentChallenge {
    #[serde(with = "crate::encoding::base64_array")]
    pub(crate) id: [u8; 16],
    pub(crate) expires_at: u64,
}

/// The step-up and passwordless challenges a user completed (I14): the
/// unexpired ones by id, and a floor below which every challenge counts as
/// spent. A record keeps them whatever happens to its factors, so that
/// disabling MFA and enabling it again does not reopen one.
///
/// An entry is dropped once the time passes its expiry, and the floor rises
/// to that expiry: a challenge expiring at or before the floor is refused,
/// so a server whose clock lags cannot reopen a dropped one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpentChallenges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ids: Vec<SpentChallenge>,
    #[serde(default, skip_serializing_if = "is_zero")]
    floor: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl SpentChallenges {
    /// Unexpired completed challenges kept at once: far more than a user
    /// completes within a challenge's lifetime.
    #[cfg(feature = "passkeys")]
    pub(crate) const MAX: usize = 64;

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.floor == 0
    }

    /// Whether the challenge `id` expiring at `expires_at` completed already.
    #[cfg(feature = "passkeys")]
    pub(crate) fn is_spent(&self, id: &[u8; 16], expires_at: u64) -> bool {
        expires_at <= self.floor || self.ids.iter().any(|s| &s.id == id)
    }

    /// Records a completion at `now`; false (nothing recorded) when
    /// [`Self::MAX`] unexpired ones are kept already.
    #[cfg(feature = "passkeys")]
    pub(crate) fn spend(&mut self, id: [u8; 16], expires_at: u64, now: u64) -> bool {
        let mut floor = self.floor;
        self.ids.retain(|s| {
            let keep = now < s.expires_at;
            if !keep {
                floor = floor.max(s.expires_at);
            }
            keep
        });
        self.floor = floor;
        if self.ids.len() >= Self::MAX {
            return false;
        }
        self.ids.push(SpentChallenge { id, expires_at });
        true
    }
}
