//! Adopting users from other systems without enrolling them again (feature
//! `import`): a factor exported from devise-two-factor, django-otp, Laravel
//! Fortify, ASP.NET Core Identity, GitLab, Ory Kratos or a store of otpauth
//! URIs becomes an active enrollment, and the user goes on with the same
//! authenticator app and the same backup codes.
//!
//! 1. Describe the factor: an [`ImportedFactor`] from the secret (base32,
//!    hex or an otpauth URI) and its [`TotpParams`](crate::totp::TotpParams), then optionally its
//!    `T0` ([`ImportedFactor::with_t0`]), the last time step the old system
//!    accepted ([`ImportedFactor::with_last_step`], so a code it already took
//!    is refused: I2 holds across the migration), and its backup codes:
//!    plain ([`ImportedFactor::with_plain_backup_codes`]), or the old
//!    system's hashes ([`ImportedFactor::with_bcrypt_backup_codes`],
//!    [`ImportedFactor::with_pbkdf2_sha512_backup_codes`]).
//! 2. [`Mfa::import`](crate::Mfa::import) seals and hashes it once and saves
//!    it with a compare-and-swap; a host driving the core itself calls
//!    [`ImportedFactor::seal`], then [`MfaEnrollment::import`](crate::MfaEnrollment::import) on the user's
//!    record.
//!
//! Every conversion is checked: a secret under 128 bits is
//! [`Error::WeakSecret`](crate::Error::WeakSecret) (RFC 4226, requirement R6), anything that cannot be
//! converted is [`Error::InvalidImport`](crate::Error::InvalidImport), a user whose factor is already
//! active is [`Error::MfaAlreadyEnabled`](crate::Error::MfaAlreadyEnabled). Nothing is written on an error.
//!
//! **Plain codes** are hashed into the crate's scheme at import (Argon2id, a
//! salt per code, the pepper) under a keyed locator, so an attempt still
//! costs at most one Argon2 evaluation; [`CodeCase`] says whether typed input
//! is folded to lower case, which is right only when the source's codes are
//! single-case. **Hashed codes** keep their scheme until the user
//! regenerates: each works once, a failed attempt costs one slow hash per
//! unused legacy code on the service's bounded hashing pool, and
//! [`MfaStatus::legacy_backup_codes`](crate::MfaStatus::legacy_backup_codes)
//! and [`SecurityEvent::LegacyBackupCodeUsed`](crate::event::SecurityEvent::LegacyBackupCodeUsed) tell the host to prompt
//! regeneration.
//!
//! ```
//! use mfa::import::{CodeCase, ImportedFactor};
//! use mfa::totp::TotpParams;
//! # let ctx = mfa::testkit::test_config();
//! # let now = 1_700_000_000;
//!
//! // django-otp: a hex key, the last step it accepted, static tokens.
//! let factor = ImportedFactor::from_hex("3132333435363738393031323334353637383930", TotpParams::default())?
//!     .with_last_step(56_666_665)
//!     .with_plain_backup_codes(["abcd2345", "efgh6723"], CodeCase::Insensitive)?;
//! let sealed = factor.seal(&ctx, "user-1", now, &mut rand::rng())?;
//! let step = mfa::MfaEnrollment::default().import(&sealed, "user-1", now);
//! assert!(step.outcome.is_ok() && step.state.is_active());
//! assert_eq!(step.state.status(&ctx, now).backup_codes_remaining, 2);
//!
//! // Too short a secret is refused with a typed error.
//! let short = ImportedFactor::from_base32("JBSWY3DPEHPK3PXP", TotpParams::default());
//! assert!(matches!(short, Err(mfa::Error::WeakSecret { bits: 80 })));
//! # Ok::<(), mfa::Error>(())
//! ```

// By concept: the factor and its times (`factor.rs`), the secret's sources
// (`secret.rs`), the backup codes it brings and their bounds (`codes.rs`),
// sealing for one user and across an operation's retries (`seal.rs`), the
// record's import transition (`transition.rs`).
mod codes;
mod factor;
mod seal;
mod secret;
mod transition;

pub use factor::ImportedFactor;
pub use seal::SealedImport;
pub(crate) use seal::Sealing;

use crate::backup::MAX_LEGACY_WORK;

/// The most backup codes one factor may bring.
const MAX_IMPORTED_CODES: usize = crate::backup::StoredBackupCodes::MAX;
/// The fewest characters of a plain backup code.
pub const MIN_PLAIN_CODE_LEN: usize = 6;
/// The fewest secret bits a plain backup code may have, as its shape tells
/// them ([`ImportedFactor::with_plain_backup_codes`]).
pub const MIN_PLAIN_CODE_BITS: f64 = 20.0;
/// What a wrong code may cost an imported set of legacy hashes (bcrypt,
/// PBKDF2), in native Argon2 attempts (OWASP's parameters): each wrong code
/// checks every unused legacy hash, so a set that would cost more is
/// refused ([`ImportedFactor::with_bcrypt_backup_codes`]).
pub const MAX_LEGACY_WORK_ATTEMPTS: u64 = MAX_LEGACY_WORK / 100;

/// Whether typed backup codes are compared with their case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeCase {
    /// Case matters: mixed-case codes (Laravel Fortify's `Str::random`), or
    /// codes of unknown origin. What the user typed is compared as it is.
    Sensitive,
    /// Letters are folded to lower case, at import and on every attempt:
    /// only for sources whose codes are single-case (django-otp, ASP.NET
    /// Core Identity, Ory Kratos), where folding loses no entropy and
    /// forgives a user who types the other case.
    Insensitive,
}
