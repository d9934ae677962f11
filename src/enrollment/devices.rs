//! Remembered devices: "don't ask again on this device", revocable.

use base64::Engine as _;
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::charge::Paid;
use super::check_proof;
use super::effects::{Effects, unchanged};
use super::{ActiveFactor, FactorState, MfaEnrollment, Reauth, RememberedDevice, Transition};
use crate::error::Error;
use crate::event::SecurityEvent;
use crate::policy::MfaContext;
use crate::session::{DeviceToken, Proof};

/// Random bytes in a device token.
const TOKEN_BYTES: usize = 32;

/// What the record keeps of a token: its SHA-256, domain-separated. The
/// token holds 256 random bits, so a plain hash leaves nothing to guess.
fn token_hash(token: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"mfa/remembered-device\0");
    hasher.update(token.as_bytes());
    hasher.finalize().into()
}

impl MfaEnrollment {
    /// Remembers the device a login just came from: returns a token that,
    /// with the password, skips the second step until it expires
    /// ([`DevicePolicy::ttl_secs`](crate::policy::DevicePolicy::ttl_secs)).
    /// Demands the proof of that login, still recent. Expired devices are
    /// dropped, and beyond
    /// [`DevicePolicy::max_devices`](crate::policy::DevicePolicy::max_devices)
    /// the oldest is forgotten.
    ///
    /// Errors: [`Error::MfaNotEnabled`]; [`Error::LockedOut`] while codes are
    /// refused; those of [`MfaEnrollment::check_proof`].
    pub fn remember_device<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        proof: &Proof,
        now: u64,
        rng: &mut R,
    ) -> Transition<DeviceToken> {
        let usable = match &self.factor {
            FactorState::Active(active) => active.attempts.check(&config.policy().lockout, now),
            _ => Err(Error::MfaNotEnabled),
        };
        if let Err(e) = usable.and_then(|()| check_proof(config, self.epoch, user_id, proof, now)) {
            return unchanged(self, e);
        }
        let mut state = self;
        let FactorState::Active(active) = &mut state.factor else {
            return unchanged(state, Error::MfaNotEnabled);
        };
        let policy = config.policy().devices;
        let mut random = Zeroizing::new([0u8; TOKEN_BYTES]);
        rng.fill_bytes(&mut random[..]);
        let token =
            Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*random));
        let expires_at = now.saturating_add(policy.ttl_secs);
        active.devices.retain(|d| now < d.expires_at);
        let evicted = active.devices.len().saturating_sub(policy.max_devices - 1);
        active.devices.drain(..evicted);
        active.devices.push(RememberedDevice {
            token_hash: token_hash(&token),
            created_at: now,
            expires_at,
        });
        Effects::changed(vec![SecurityEvent::DeviceRemembered {
            expires_at,
            forgotten: evicted,
        }])
        .exit(state, Ok(DeviceToken { token, expires_at }))
    }

    /// Forgets every remembered device of the user. Demands a recent proof or
    /// a current code ([`Reauth`]). Returns how many valid devices were
    /// forgotten.
    ///
    /// Errors: [`Error::MfaNotEnabled`]; those of the [`Reauth`].
    pub fn forget_devices(
        self,
        config: &MfaContext,
        user_id: &str,
        reauth: Reauth<'_>,
        now: u64,
    ) -> Transition<usize> {
        self.forget_devices_with(config, user_id, (reauth, None), now)
    }

    /// [`MfaEnrollment::forget_devices`] with what the service's charge and
    /// hash of a [`Reauth::Code`] found (I16).
    pub(crate) fn forget_devices_with(
        self,
        config: &MfaContext,
        user_id: &str,
        reauth: (Reauth<'_>, Option<&Paid>),
        now: u64,
    ) -> Transition<usize> {
        let mut active = match self.factor {
            FactorState::Active(active) => active,
            _ => return unchanged(self, Error::MfaNotEnabled),
        };
        let mut effects = Effects::none();
        let outcome = active
            .reauthenticate(reauth, config, user_id, self.epoch, now, &mut effects)
            .map(|_| {
                let valid = active.devices.iter().filter(|d| now < d.expires_at).count();
                if !active.devices.is_empty() {
                    active.devices.clear();
                    effects.changed = true;
                }
                effects
                    .events
                    .push(SecurityEvent::DevicesForgotten { count: valid });
                valid
            });
        let state = MfaEnrollment {
            factor: FactorState::Active(active),
            ..self
        };
        effects.exit(state, outcome)
    }

    /// Whether `token` is a valid remembered-device token of this record at
    /// `now`. Every stored hash is compared, in constant time, whatever the
    /// input. A host may ask before it checks the password, for instance to
    /// keep a separate count of password failures for a client that holds
    /// one (the example server's password lock does).
    pub fn is_remembered_device(&self, token: &str, now: u64) -> bool {
        let FactorState::Active(ActiveFactor { devices, .. }) = &self.factor else {
            return false;
        };
        let hash = token_hash(token);
        devices.iter().fold(false, |found, d| {
            let matches: bool = d.token_hash.ct_eq(&hash).into();
            found | (matches && now < d.expires_at)
        })
    }
}
