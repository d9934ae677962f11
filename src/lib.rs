//! Multi-factor authentication for any Rust backend: an authenticator app
//! (TOTP), passkeys (feature `passkeys`) and single-use backup codes, as one
//! factor set per user.
//!
//! The crate owns the whole domain: secrets encrypted with AES-256-GCM and bound
//! to their user, backup codes hashed with Argon2id and shown once, time steps
//! accepted at most once, passkey ceremonies completed at most once, one
//! lockout for every factor, and persistence through compare-and-swap saves so
//! that racing requests cannot double-spend a code or skip the failure
//! counter. An MFA endpoint is a few lines of glue.
//!
//! ```
//! use mfa::{KeyId, Keyring, LoginStep, MasterKey, MemoryStore, Mfa, MfaContext, Policy, Reauth};
//! use mfa::totp::{self, TotpParams, TotpSecret};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mfa::Error> {
//! // Once, at start-up: keys from your secret manager, a policy, a store.
//! let keyring = Keyring::new(KeyId(1), MasterKey::generate(&mut rand::rng()));
//! let config = MfaContext::new(keyring, Policy::new("Example Co"))?;
//! let mfa = Mfa::new(MemoryStore::new(), config);
//!
//! // POST /totp/setup: show the QR code (or the base32 secret) to the user.
//! let setup = mfa.begin_setup("user-42", "alice@example.com").await?;
//! assert!(setup.otpauth_uri().starts_with("otpauth://totp/Example%20Co:alice%40example.com"));
//!
//! // The authenticator app computes the code (here we play its part).
//! let app = TotpSecret::from_base32(setup.secret_base32())?;
//! let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
//! let code = totp::generate(&app, TotpParams::default(), now())?;
//!
//! // POST /totp/confirm: MFA is on; the backup codes are returned this once,
//! // with a proof for the new session (every older session is now revoked).
//! let enabled = mfa.confirm_setup("user-42", &code).await?;
//! assert_eq!(enabled.backup_codes.len(), 10);
//!
//! // Login: after the password, a single-use challenge for the second step.
//! let LoginStep::SecondFactor(challenge) = mfa.begin_login("user-42", None).await? else {
//!     unreachable!("MFA is on");
//! };
//! // The confirming code was used, so it is refused...
//! assert!(matches!(mfa.complete_login(&challenge, &code).await, Err(mfa::Error::InvalidCode)));
//! // ...while a backup code works exactly once, and the challenge too.
//! let first = enabled.backup_codes.as_strs()[0];
//! let login = mfa.complete_login(&challenge, first).await?;
//! assert_eq!(login.backup_codes_remaining, 9);
//! assert!(matches!(
//!     mfa.complete_login(&challenge, enabled.backup_codes.as_strs()[1]).await,
//!     Err(mfa::Error::InvalidChallenge)
//! ));
//!
//! // The session keeps `login.proof`: within the step-up window it may
//! // regenerate the codes, and every earlier code stops working.
//! let fresh = mfa.regenerate_backup_codes("user-42", Reauth::RecentProof(&login.proof)).await?;
//! assert!(mfa.verify("user-42", enabled.backup_codes.as_strs()[1]).await.is_err());
//!
//! // Disable with a current code: the epoch moves on, so sessions bound to
//! // the old one are refused.
//! let after = mfa.disable("user-42", fresh.as_strs()[0]).await?;
//! let record = mfa.load("user-42").await?;
//! assert!(record.check_epoch(login.proof.epoch).is_err());
//! assert!(record.check_epoch(after.epoch).is_ok());
//! # Ok(())
//! # }
//! ```
//!
//! # Layers
//!
//! - **Pure core** (no I/O, no clock, no global RNG): [`MfaEnrollment`], the
//!   record a host stores, whose transitions take `now` and an RNG and return
//!   an [`enrollment::Transition`]. A host with its own persistence can use
//!   it alone.
//! - **Store**: [`MfaStore`], an async compare-and-swap store keyed by the
//!   host's user id; [`MemoryStore`] built in, SQL stores behind features.
//! - **Service**: [`Mfa`], which runs each operation as load → transition →
//!   compare-and-swap save, retries on conflict, and returns one-time output
//!   only after the save.
//!
//! The design, the store contract and the invariants (I1–I17) the code cites
//! are in [`architecture`] (the repository's ARCHITECTURE.md); integrating
//! the crate, its security model, compliance, storage and migration are the
//! chapters of the [`guide`].
//!
//! # Modules
//!
//! The types every host touches are re-exported here; the rest live in one
//! module per concept:
//!
//! | module | concept |
//! |---|---|
//! | [`totp`] | TOTP secrets, parameters, code parsing, verification ([`totp::check`]) and generation |
//! | [`backup`] | backup codes: the one-time plaintext set, the stored hashes, Argon2 parameters |
//! | [`keys`] | the master key, the keyring and the encrypted [`keys::Envelope`] |
//! | [`passkey`] | passkeys: what the record keeps, the relying party and the WebAuthn ceremonies (feature `passkeys`) |
//! | [`enrollment`] | the stored record (the factor set), its transitions and their outputs |
//! | [`lockout`] | the failure counter and the lockout schedule |
//! | [`policy`] | every default in one [`Policy`], and the [`MfaContext`] built from it |
//! | [`store`] | the store contract, write identities and the stores |
//! | [`session`] | what a host keeps in its sessions: epochs, proofs, login challenges, remembered-device tokens |
//! | [`service`] | [`Mfa`] and its clock; with the features `tracing` and `metrics`, a span and metrics per operation |
//! | [`event`] | security events and where they go (`TracingSink` with the feature `tracing`) |
//! | [`compliance`] | the configuration audited against NIST SP 800-63B-4 and OWASP ASVS 5.0 |
//! | [`error`] | the one [`Error`] type and its machine codes |
//! | [`http`] | HTTP statuses and RFC 9457 problem documents for any framework |
//! | `import` | factors from other systems: secrets, plain and hashed backup codes (feature `import`) |
//!
//! # Errors
//!
//! Every failure is an [`Error`] variant with a stable machine code
//! ([`Error::code`]), an HTTP status ([`Error::http_status`]) and an RFC 9457
//! [`http::ProblemDetails`]. No error message contains a secret or a
//! submitted code.
//!
//! # Features
//!
//! - `qr` (default): QR codes of the otpauth URI ([`TotpSetup::qr_png`]).
//! - `tokio` (default): Argon2 work runs on tokio's blocking pool, bounded.
//! - `sqlite`, `postgres`, `mysql`: SQL stores on sqlx (`SqliteStore`,
//!   `PostgresStore`, and `MysqlStore` for MySQL 8 and MariaDB), all one
//!   algorithm: the same migrations, compare-and-swap and operation timeout.
//! - `passkeys`: passkeys on `webauthn-rs` 0.6 (RustCrypto, no OpenSSL):
//!   [`passkey::RelyingParty`], registering, the second step, step-up and
//!   passwordless login with a passkey. Records holding passkeys load, and
//!   their app and backup codes work, under every feature set.
//! - `import`: `mfa::import`, factors exported from other systems
//!   (devise-two-factor, django-otp, Fortify, ASP.NET Core Identity, GitLab,
//!   Kratos, otpauth URIs) made active enrollments. Records holding imported
//!   codes load and verify under every feature set.
//! - `testkit`: the store conformance suite, fault injection, a manual clock
//!   and proptest strategies.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc = include_str!("../ARCHITECTURE.md")]
pub mod architecture {}
pub mod backup;
pub mod compliance;
mod encoding;
pub mod enrollment;
pub mod error;
pub mod event;
pub mod guide;
pub mod http;
#[cfg(feature = "import")]
#[cfg_attr(docsrs, doc(cfg(feature = "import")))]
pub mod import;
pub mod keys;
pub mod lockout;
pub mod passkey;
pub mod policy;
pub mod service;
pub mod session;
pub mod store;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
mod text;
pub mod totp;

pub use backup::BackupCodes;
pub use enrollment::{
    Enabled, FactorState, MfaEnrollment, MfaMethod, MfaMethods, MfaStatus, Reauth, TotpSetup,
    Verified, VerifiedBy,
};
pub use error::{Error, Result};
pub use keys::{KeyId, Keyring, MasterKey};
pub use policy::{MfaContext, Policy};
pub use service::Mfa;
pub use session::{DeviceToken, Epoch, LoginChallenge, LoginStep, Proof, ProofMethod};
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use store::MysqlStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::SqliteStore;
pub use store::{MemoryStore, MfaStore};
