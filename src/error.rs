//! The crate's one error type and its stable machine codes.
//!
//! A leaf: nothing here depends on another module of the crate. How an error
//! is presented over HTTP (status, problem document) is [`crate::http`]'s.

/// Why a submitted code was rejected before any secret was consulted.
///
/// These reasons describe the *shape* of the input only; they never contain
/// the input itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeFormatError {
    /// Nothing but white space (or dashes) was submitted.
    #[error("no code was given")]
    Empty,
    /// The code has the wrong number of characters.
    #[error("expected {expected} characters, got {found}")]
    WrongLength {
        /// How many characters a code of this kind has.
        expected: usize,
        /// How many significant characters were submitted.
        found: usize,
    },
    /// The code contains a character that cannot appear in it.
    #[error("the code contains a character that is not allowed")]
    InvalidCharacter,
}

/// Every error the crate returns.
///
/// Match on the variants; send [`Error::code`] over the wire; never match on
/// the `Display` text. No message contains a secret, a submitted code, a key
/// or a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The code is wrong, was already used, or belongs to no unused backup code.
    #[error("the code is not valid")]
    InvalidCode,
    /// The code is not shaped like a TOTP or backup code. Not counted as a failed attempt.
    #[error("the code is malformed: {0}")]
    MalformedCode(#[from] CodeFormatError),
    /// Confirmation was attempted but no setup is pending.
    #[error("no MFA setup is pending")]
    NoPendingSetup,
    /// The pending setup is older than the policy allows; start a new one.
    #[error("the pending MFA setup has expired")]
    PendingExpired,
    /// The operation needs an active factor and the user has none.
    #[error("MFA is not enabled")]
    MfaNotEnabled,
    /// Setup was requested while a factor is already active.
    #[error("MFA is already enabled")]
    MfaAlreadyEnabled,
    /// Too many consecutive failures: every code is refused for now.
    #[error("too many failed attempts")]
    LockedOut {
        /// Seconds until codes are accepted again; `None` once the hard limit
        /// of consecutive failures is reached and only a reset unlocks the factor.
        retry_after: Option<u64>,
    },
    /// A login challenge is not open: completed already (here or on another
    /// server), expired, for another user, or from before the factor last
    /// changed. Not counted as a failed attempt.
    #[error("the login challenge is not valid")]
    InvalidChallenge,
    /// A session or proof was issued under an earlier epoch: the factor was
    /// enabled, disabled, replaced or reset since.
    #[error("the session was revoked by a change to MFA")]
    Revoked,
    /// The operation needs a recent proof of the second factor, and the
    /// one presented is too old.
    #[error("a recent verification of the second factor is required")]
    StepUpRequired,
    /// The record changed concurrently more often than the retry budget allows.
    #[error("the MFA record was changed concurrently")]
    StoreConflict,
    /// The store could not be reached or did not answer.
    #[error("the MFA store is unavailable")]
    StoreUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be read back.
    #[error("a stored MFA record is corrupt: {0}")]
    CorruptRecord(String),
    /// A stored secret failed authentication: wrong key, wrong user or tampered.
    #[error("a stored secret could not be decrypted")]
    DecryptionFailed,
    /// A stored secret or hash names a key that the keyring does not hold
    /// (the number of its [`KeyId`](crate::KeyId)).
    #[error("the keyring holds no key with id {0}")]
    UnknownKey(u32),
    /// Input from the host (not from the end user's code) is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// An imported TOTP secret is shorter than the 128 bits RFC 4226 (R6)
    /// requires: the factor is refused, the user must enroll again.
    #[error("the imported TOTP secret has {bits} bits; at least 128 are required")]
    WeakSecret {
        /// The secret's length in bits.
        bits: usize,
    },
    /// A factor exported from another system cannot be converted: a secret
    /// that is not base32, hex or an otpauth URI, TOTP parameters outside
    /// RFC 6238, backup codes that are empty, duplicated or too many, or a
    /// backup-code hash in an encoding the crate does not read.
    #[error("the imported factor is invalid: {0}")]
    InvalidImport(&'static str),
    /// The configuration or policy is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// A passkey ceremony failed: a bad signature or attestation, another
    /// origin or RP id, a wrong challenge, no user verification, an unknown
    /// credential, a signature counter that went backwards, or an expired
    /// or spent challenge. One error for all, so that it tells nothing about
    /// which credentials exist.
    #[error("the passkey was not accepted")]
    InvalidPasskey,
    /// The credential is registered already, to this user or another (I15).
    #[error("the passkey is registered already")]
    PasskeyAlreadyRegistered,
    /// The user holds as many passkeys as the policy allows.
    #[error("the user holds the most passkeys allowed")]
    TooManyPasskeys,
    /// Removing this factor would leave the set empty: disable MFA instead.
    #[error("the last factor cannot be removed; disable MFA instead")]
    LastFactor,
    /// No passkey of the user has this id.
    #[error("no such passkey")]
    PasskeyNotFound,
    /// An internal failure (a hashing primitive or a worker task failed).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Convenience alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Every stable machine code that [`Error::code`] returns, once each, in
    /// the order of the variants: the values an API description lists for a
    /// problem document's `code`.
    ///
    /// ```
    /// assert!(mfa::Error::CODES.contains(&mfa::Error::InvalidCode.code()));
    /// ```
    pub const CODES: &'static [&'static str] = &[
        "INVALID_CODE",
        "NO_PENDING_SECRET",
        "PENDING_EXPIRED",
        "MFA_NOT_ENABLED",
        "MFA_ALREADY_ENABLED",
        "LOCKED_OUT",
        "INVALID_MFA_TOKEN",
        "SESSION_REVOKED",
        "STEP_UP_REQUIRED",
        "STORE_CONFLICT",
        "STORE_UNAVAILABLE",
        "CORRUPT_RECORD",
        "DECRYPTION_FAILED",
        "UNKNOWN_KEY",
        "INVALID_INPUT",
        "WEAK_SECRET",
        "INVALID_IMPORT",
        "INVALID_CONFIG",
        "INVALID_PASSKEY",
        "PASSKEY_ALREADY_REGISTERED",
        "TOO_MANY_PASSKEYS",
        "LAST_FACTOR",
        "NOT_FOUND",
        "INTERNAL",
    ];

    /// The stable machine code, for APIs and logs. Never changes for a variant.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidCode | Error::MalformedCode(_) => "INVALID_CODE",
            Error::NoPendingSetup => "NO_PENDING_SECRET",
            Error::PendingExpired => "PENDING_EXPIRED",
            Error::MfaNotEnabled => "MFA_NOT_ENABLED",
            Error::MfaAlreadyEnabled => "MFA_ALREADY_ENABLED",
            Error::LockedOut { .. } => "LOCKED_OUT",
            Error::InvalidChallenge => "INVALID_MFA_TOKEN",
            Error::Revoked => "SESSION_REVOKED",
            Error::StepUpRequired => "STEP_UP_REQUIRED",
            Error::StoreConflict => "STORE_CONFLICT",
            Error::StoreUnavailable(_) => "STORE_UNAVAILABLE",
            Error::CorruptRecord(_) => "CORRUPT_RECORD",
            Error::DecryptionFailed => "DECRYPTION_FAILED",
            Error::UnknownKey(_) => "UNKNOWN_KEY",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::WeakSecret { .. } => "WEAK_SECRET",
            Error::InvalidImport(_) => "INVALID_IMPORT",
            Error::InvalidConfig(_) => "INVALID_CONFIG",
            Error::InvalidPasskey => "INVALID_PASSKEY",
            Error::PasskeyAlreadyRegistered => "PASSKEY_ALREADY_REGISTERED",
            Error::TooManyPasskeys => "TOO_MANY_PASSKEYS",
            Error::LastFactor => "LAST_FACTOR",
            Error::PasskeyNotFound => "NOT_FOUND",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// Seconds a client should wait before retrying, where that is known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::LockedOut { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Wraps any store-side failure as [`Error::StoreUnavailable`].
    pub fn store_unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::StoreUnavailable(source.into())
    }
}
