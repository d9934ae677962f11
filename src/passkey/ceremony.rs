//! The WebAuthn ceremonies, on `webauthn-rs`: the relying party, creation
//! and request options, and the checks of what an authenticator answers.
//! Pure functions of their inputs, except that `webauthn-rs` draws its
//! challenges from the operating system's generator.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    Url, Uuid, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::{ResidentKeyRequirement, UserVerificationPolicy};

use super::StoredPasskey;
use crate::error::{Error, Result};
use crate::session::Epoch;

/// Creation options for `navigator.credentials.create()`, as
/// `{"publicKey": {...}}` in the WebAuthn JSON forms (binary members
/// base64url): send it to the browser as it serializes.
pub use webauthn_rs::prelude::CreationChallengeResponse;
/// An assertion as the browser's `PublicKeyCredential.toJSON()` gives it.
pub use webauthn_rs::prelude::PublicKeyCredential;
/// A new credential as the browser's `PublicKeyCredential.toJSON()` gives it.
pub use webauthn_rs::prelude::RegisterPublicKeyCredential;
/// Request options for `navigator.credentials.get()`, as `{"publicKey":
/// {...}}`.
pub use webauthn_rs::prelude::RequestChallengeResponse;

/// The relying party passkeys are bound to: its id (a domain) and the
/// origins allowed to use it.
///
/// The id must be each origin's host or a parent domain of it; browsers
/// treat `http://localhost` as secure, so `localhost` works for development,
/// `127.0.0.1` does not.
pub struct RelyingParty {
    webauthn: Webauthn,
    id: String,
}

impl RelyingParty {
    /// A relying party `id` (e.g. `example.com`) for these origins (e.g.
    /// `https://login.example.com`), named `name` in the browser's prompt.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] without an origin, for an origin that is not
    /// a URL, or one the id does not cover.
    pub fn new(id: &str, name: &str, origins: &[&str]) -> Result<Self> {
        let parse = |origin: &str| {
            Url::parse(origin).map_err(|_| Error::InvalidConfig("a passkey origin is not a URL"))
        };
        let (first, rest) = origins
            .split_first()
            .ok_or(Error::InvalidConfig("passkeys need at least one origin"))?;
        let first = parse(first)?;
        let uncovered = || Error::InvalidConfig("the relying party id does not cover an origin");
        let mut builder = WebauthnBuilder::new(id, &first)
            .map_err(|_| uncovered())?
            .rp_name(name);
        for origin in rest {
            let origin = parse(origin)?;
            let host = origin.host_str().unwrap_or_default();
            if !(host == id || host.ends_with(&format!(".{id}"))) {
                return Err(uncovered());
            }
            builder = builder.append_allowed_origin(&origin);
        }
        let webauthn = builder.build().map_err(|_| uncovered())?;
        Ok(RelyingParty {
            webauthn,
            id: id.to_owned(),
        })
    }

    /// The relying party id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Creation options excluding `exclude`, requiring user verification and
    /// a discoverable credential, accepting any attestation (`none` too: synced
    /// passkeys); and the state to keep server-side.
    pub(crate) fn start_registration(
        &self,
        handle: [u8; 16],
        user_name: &str,
        exclude: &[StoredPasskey],
    ) -> Result<(CreationChallengeResponse, serde_json::Value)> {
        let exclude = exclude.iter().map(|p| p.credential_id.clone()).collect();
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(
                Uuid::from_bytes(handle),
                user_name,
                user_name,
                Some(exclude),
            )
            .map_err(|_| Error::InvalidInput("the account name is not allowed"))?;
        // Discoverable, so that the passkey alone can name its user.
        if let Some(selection) = &mut options.public_key.authenticator_selection {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
            selection.user_verification = UserVerificationPolicy::Required;
        }
        Ok((options, to_state(&state)?))
    }

    /// Checks the authenticator's answer to a registration begun with
    /// `state`: the origin, the RP id, the challenge, user verification and
    /// the attestation's signature.
    ///
    /// # Errors
    /// [`Error::InvalidPasskey`] if any of them is wrong.
    pub(crate) fn finish_registration(
        &self,
        credential: &RegisterPublicKeyCredential,
        state: &serde_json::Value,
    ) -> Result<Registered> {
        let state: PasskeyRegistration = from_state(state)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|_| Error::InvalidPasskey)?;
        let credential = Credential::from(passkey);
        Ok(Registered {
            credential_id: credential.cred_id.to_vec(),
            counter: credential.counter,
            backup_eligible: credential.backup_eligible,
            backed_up: credential.backup_state,
            key: serde_json::to_value(&credential)
                .map_err(|_| Error::Internal("a credential did not serialize"))?,
        })
    }

    /// Request options allowing `passkeys`, requiring user verification;
    /// and the state to keep.
    pub(crate) fn start_authentication(
        &self,
        passkeys: &[StoredPasskey],
    ) -> Result<(RequestChallengeResponse, serde_json::Value)> {
        let keys = passkeys
            .iter()
            .map(|p| key_of(p).map(Passkey::from))
            .collect::<Result<Vec<_>>>()?;
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(|_| Error::Internal("passkey request options failed"))?;
        Ok((options, to_state(&state)?))
    }

    /// Request options for any discoverable credential of this relying
    /// party (passwordless: no user named), modal rather than conditional.
    pub(crate) fn start_discoverable(
        &self,
    ) -> Result<(RequestChallengeResponse, serde_json::Value)> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|_| Error::Internal("passkey request options failed"))?;
        options.mediation = None;
        Ok((options, to_state(&state)?))
    }

    /// Checks an assertion against the state it answers and the stored
    /// passkey it names: signature, origin, RP id, challenge, user
    /// verification.
    ///
    /// # Errors
    /// [`Error::InvalidPasskey`] if any of them is wrong.
    pub(crate) fn verify(
        &self,
        credential: &PublicKeyCredential,
        kind: ChallengeKind,
        state: &serde_json::Value,
        stored: &StoredPasskey,
        handle: Option<[u8; 16]>,
    ) -> Result<Asserted> {
        VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
        let result = match kind {
            ChallengeKind::Passwordless => {
                // A discoverable credential names its user: the handle it
                // was registered under, when the browser sends it.
                if let Some(sent) = credential.get_user_unique_id()
                    && Some(sent) != handle.as_ref().map(|h| &h[..])
                {
                    return Err(Error::InvalidPasskey);
                }
                let state: DiscoverableAuthentication = from_state(state)?;
                let key = key_of(stored)?;
                self.webauthn
                    .finish_discoverable_authentication_v2(credential, state, &key)
            }
            ChallengeKind::StepUp | ChallengeKind::Login => {
                let state: PasskeyAuthentication = from_state(state)?;
                self.webauthn
                    .finish_passkey_authentication(credential, &state)
            }
        }
        .map_err(|_| Error::InvalidPasskey)?;
        if !result.user_verified() || result.cred_id().as_slice() != stored.credential_id() {
            return Err(Error::InvalidPasskey);
        }
        Ok(Asserted {
            credential_id: stored.credential_id.clone(),
            counter: result.counter(),
            backed_up: result.backup_state(),
        })
    }
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("id", &self.id)
            .field("origins", &self.webauthn.get_allowed_origins())
            .finish()
    }
}

/// A registration the authenticator answered correctly.
pub(crate) struct Registered {
    pub(crate) credential_id: Vec<u8>,
    pub(crate) counter: u32,
    pub(crate) backup_eligible: bool,
    pub(crate) backed_up: bool,
    pub(crate) key: serde_json::Value,
}

/// What a verified assertion showed.
#[derive(Debug, Clone)]
pub(crate) struct Asserted {
    pub(crate) credential_id: Vec<u8>,
    pub(crate) counter: u32,
    pub(crate) backed_up: bool,
}

/// Which ceremony a passkey challenge belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChallengeKind {
    /// The second step of a login (in a [`LoginChallenge`](crate::LoginChallenge)).
    Login,
    /// A step-up of a signed-in user.
    StepUp,
    /// A login by passkey alone.
    Passwordless,
}

/// A step-up or passwordless passkey ceremony between its two halves: what
/// the host keeps (server-side, or in a token it signs) and hands back with
/// the browser's answer. Completes at most once for its user (I14), also
/// after MFA was turned off and on again; bound for a step-up to its user
/// and epoch; expiring like a login challenge.
///
/// A passwordless challenge names no user, and each user's record keeps
/// what it spent: the same challenge answered by another user's passkey
/// (signed by that user's own authenticator) is another login, which a host
/// that wants one login per challenge prevents by consuming the challenge
/// it keeps server-side.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyChallenge {
    #[serde(with = "crate::encoding::base64_array")]
    pub(crate) id: [u8; 16],
    pub(crate) kind: ChallengeKind,
    /// For a step-up: the digest of its user, and the epoch.
    #[serde(default, with = "crate::encoding::base64_option_array")]
    pub(crate) user: Option<[u8; 16]>,
    #[serde(default)]
    pub(crate) epoch: Option<Epoch>,
    pub(crate) expires_at: u64,
    pub(crate) state: serde_json::Value,
    /// The options to send, present until the challenge is serialized.
    #[serde(skip)]
    pub(crate) options: Option<RequestChallengeResponse>,
}

impl PasskeyChallenge {
    /// The request options for the browser: present on the challenge as
    /// begun, absent once it went through serialization.
    pub fn options(&self) -> Option<&RequestChallengeResponse> {
        self.options.as_ref()
    }

    /// When it stops being completable (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

impl std::fmt::Debug for PasskeyChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyChallenge")
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The output of a registered passkey.
#[derive(Debug)]
#[non_exhaustive]
pub struct PasskeyAdded {
    /// The passkey as stored.
    pub passkey: StoredPasskey,
    /// When it is the set's first factor, the new backup codes, shown this
    /// once; `None` when the set had codes already.
    pub backup_codes: Option<crate::BackupCodes>,
    /// A passkey proof under the new epoch, for the session the host issues
    /// now (every earlier session is revoked).
    pub proof: crate::Proof,
}

/// Assertions checked in this process (signatures verified).
static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// How many assertions this process has checked.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub(crate) fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

fn key_of(stored: &StoredPasskey) -> Result<Credential> {
    serde_json::from_value(stored.key.clone())
        .map_err(|_| Error::CorruptRecord("a stored passkey does not parse".into()))
}

fn to_state<T: Serialize>(state: &T) -> Result<serde_json::Value> {
    serde_json::to_value(state).map_err(|_| Error::Internal("a ceremony state did not serialize"))
}

fn from_state<T: for<'de> Deserialize<'de>>(state: &serde_json::Value) -> Result<T> {
    T::deserialize(state).map_err(|_| Error::InvalidPasskey)
}
