//! Crate docs (to be written).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backup_codes;
mod encoding;
mod enrollment;
mod envelope;
mod error;
mod event;
mod keyring;
mod lockout;
mod policy;
mod secret;
mod service;
mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
mod totp;

pub use backup_codes::{
    ALPHABET, Argon2Params, BackupCode, BackupCodeInput, BackupCodeSet, BackupCodes, CODE_LEN,
    LOCATOR_LEN, MAX_CODES,
};
pub use enrollment::{
    ActiveFactor, MfaEnrollment, MfaMethod, MfaStatus, PendingSetup, RECORD_FORMAT, Reauth,
    TotpSetup, Transition, Verified, VerifiedBy,
};
pub use envelope::Envelope;
pub use error::{CodeFormatError, Error, PROBLEM_TYPE_BASE, ProblemDetails, Result};
pub use event::SecurityEvent;
pub use keyring::{KeyId, Keyring, MasterKey};
pub use lockout::{Attempts, LockoutPolicy};
pub use policy::{BackupCodePolicy, MfaConfig, Policy, TotpPolicy};
pub use secret::TotpSecret;
pub use service::{Clock, EventSink, Mfa, SystemClock};
pub use store::{MemoryStore, MfaStore, Versioned};
pub use totp::{Algorithm, TotpCheck, TotpCode, TotpMatch, TotpParams, totp_check, totp_generate};
