//! Passkeys in the factor set: registering (I15), asserting (I14, I16),
//! renaming and removing. Listing, renaming and removing work without the
//! `passkeys` feature; the ceremonies need it.

use rand::CryptoRng;

use super::{FactorState, MfaEnrollment, Reauth, Transition};
use crate::enrollment::charge::Paid;
use crate::error::Error;
use crate::event::SecurityEvent;
use crate::passkey::{PasskeyPolicy, StoredPasskey};
use crate::policy::MfaContext;
use crate::session::Proof;

impl MfaEnrollment {
    /// The passkeys of the active set (none without one).
    pub fn passkeys(&self) -> &[StoredPasskey] {
        match &self.factor {
            FactorState::Active(active) => &active.passkeys,
            _ => &[],
        }
    }

    /// The WebAuthn credential ids the record holds: what a store indexes
    /// in the same atomic write as the record (I15).
    pub fn credential_ids(&self) -> impl Iterator<Item = &[u8]> {
        self.passkeys().iter().map(StoredPasskey::credential_id)
    }

    /// Renames a passkey of the set.
    ///
    /// Errors: [`Error::MfaNotEnabled`], [`Error::PasskeyNotFound`],
    /// [`Error::InvalidInput`] for a name [`PasskeyPolicy::check_name`]
    /// refuses.
    pub fn rename_passkey<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        id: &str,
        name: &str,
        rng: &mut R,
    ) -> Transition<StoredPasskey> {
        self.change_active(config, user_id, rng, |active, _, effects, _| {
            let name = PasskeyPolicy::check_name(name)?;
            let passkey = active
                .passkeys
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or(Error::PasskeyNotFound)?;
            if passkey.name != name {
                passkey.name = name.to_owned();
                effects.changed = true;
                effects.events.push(SecurityEvent::PasskeyRenamed {
                    passkey: passkey.id.clone(),
                });
            }
            Ok(passkey.clone())
        })
    }

    /// Removes a passkey after re-authentication ([`Reauth`]): the
    /// credential authenticates nowhere any more, remembered devices are
    /// forgotten and the epoch moves on (I12). Returns the proof to keep in
    /// the session, under the new epoch.
    ///
    /// Errors: [`Error::MfaNotEnabled`], [`Error::PasskeyNotFound`],
    /// [`Error::LastFactor`] when it is the set's only factor (disable MFA
    /// instead); those of the [`Reauth`].
    pub fn remove_passkey<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        id: &str,
        reauth: Reauth<'_>,
        now: u64,
        rng: &mut R,
    ) -> Transition<Proof> {
        self.remove_passkey_with(config, user_id, id, (reauth, None), now, rng)
    }

    /// [`MfaEnrollment::remove_passkey`] with what the service's charge and
    /// hash of a [`Reauth::Code`] found (I16).
    pub(crate) fn remove_passkey_with<R: CryptoRng + ?Sized>(
        self,
        config: &MfaContext,
        user_id: &str,
        id: &str,
        reauth: (Reauth<'_>, Option<&Paid>),
        now: u64,
        rng: &mut R,
    ) -> Transition<Proof> {
        self.change_active(config, user_id, rng, |active, epoch, effects, _| {
            let index = active
                .passkeys
                .iter()
                .position(|p| p.id == id)
                .ok_or(Error::PasskeyNotFound)?;
            if active.app.is_none() && active.passkeys.len() == 1 {
                return Err(Error::LastFactor);
            }
            let by = active.reauthenticate(reauth, config, user_id, *epoch, now, effects)?;
            let removed = active.passkeys.remove(index);
            active.devices.clear();
            *epoch = epoch.next();
            effects.changed = true;
            effects.events.push(SecurityEvent::PasskeyRemoved {
                passkey: removed.id,
            });
            Ok(by.proof_under(*epoch, now, user_id))
        })
    }
}

#[cfg(feature = "passkeys")]
mod assertion;
#[cfg(feature = "passkeys")]
mod registration;

#[cfg(feature = "passkeys")]
pub(crate) use assertion::SubmittedAssertion;

/// A fresh 16-byte challenge id.
#[cfg(feature = "passkeys")]
fn challenge_id<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; 16] {
    let mut id = [0; 16];
    rng.fill_bytes(&mut id);
    id
}

/// The crate's short id of a new passkey: 64 random bits, base64url.
#[cfg(feature = "passkeys")]
fn passkey_id<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    use base64::Engine as _;
    let mut id = [0u8; 8];
    rng.fill_bytes(&mut id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}
