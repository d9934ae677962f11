//! Passkeys: WebAuthn credentials with user verification, beside the
//! authenticator app in a user's factor set.
//!
//! A passkey with user verification (a PIN, fingerprint or face on the
//! device) is a phishing-resistant multi-factor authenticator: NIST SP
//! 800-63B-4 accepts it at AAL2 (§3.2.5, Appendix B), and requires a verifier
//! at AAL2 to offer one (§2.2.2). The set shares the backup codes, the
//! lockout and the epoch with the app; see [`ActiveFactor`](crate::enrollment::ActiveFactor).
//!
//! The record types here are always compiled, so that a record holding
//! passkeys loads (and its app and backup codes work) under every feature
//! set. The ceremonies — registering, asserting, the [`RelyingParty`] — need
//! the feature `passkeys`, which brings `webauthn-rs` 0.6.
//!
//! WebAuthn verifies signatures; this crate makes each ceremony complete at
//! most once (I14: the record's compare-and-swap consumes the login
//! challenge or the step-up and passwordless challenge) and each credential
//! name at most one user (I15: the store's credential index).

#[cfg(feature = "passkeys")]
mod ceremony;
mod record;

#[cfg(all(feature = "passkeys", feature = "testkit"))]
pub(crate) use ceremony::verifications;
#[cfg(feature = "passkeys")]
pub(crate) use ceremony::{Asserted, ChallengeKind};
#[cfg(feature = "passkeys")]
#[cfg_attr(docsrs, doc(cfg(feature = "passkeys")))]
pub use ceremony::{
    CreationChallengeResponse, PasskeyAdded, PasskeyChallenge, PublicKeyCredential,
    RegisterPublicKeyCredential, RelyingParty, RequestChallengeResponse,
};
pub use record::{PasskeyPolicy, StoredPasskey};
pub(crate) use record::{PendingPasskey, SpentChallenges};
