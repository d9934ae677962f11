//! The crate's one error type, its stable machine codes and RFC 9457 problem documents.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::keyring::KeyId;

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
    NoPendingSecret,
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
    /// A stored secret or hash names a key that the keyring does not hold.
    #[error("the keyring holds no key with id {0}")]
    UnknownKey(KeyId),
    /// Input from the host (not from the end user's code) is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The configuration or policy is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// An internal failure (a hashing primitive or a worker task failed).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Convenience alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine code, for APIs and logs. Never changes for a variant.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidCode | Error::MalformedCode(_) => "INVALID_CODE",
            Error::NoPendingSecret => "NO_PENDING_SECRET",
            Error::PendingExpired => "PENDING_EXPIRED",
            Error::MfaNotEnabled => "MFA_NOT_ENABLED",
            Error::MfaAlreadyEnabled => "MFA_ALREADY_ENABLED",
            Error::LockedOut { .. } => "LOCKED_OUT",
            Error::StoreConflict => "STORE_CONFLICT",
            Error::StoreUnavailable(_) => "STORE_UNAVAILABLE",
            Error::CorruptRecord(_) => "CORRUPT_RECORD",
            Error::DecryptionFailed => "DECRYPTION_FAILED",
            Error::UnknownKey(_) => "UNKNOWN_KEY",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::InvalidConfig(_) => "INVALID_CONFIG",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status an API should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidCode
            | Error::MalformedCode(_)
            | Error::NoPendingSecret
            | Error::PendingExpired
            | Error::MfaNotEnabled
            | Error::InvalidInput(_) => 400,
            Error::MfaAlreadyEnabled | Error::StoreConflict => 409,
            Error::LockedOut { .. } => 429,
            Error::StoreUnavailable(_) => 503,
            Error::CorruptRecord(_)
            | Error::DecryptionFailed
            | Error::UnknownKey(_)
            | Error::InvalidConfig(_)
            | Error::Internal(_) => 500,
        }
    }

    /// A short, human-readable summary of the problem type (RFC 9457 `title`).
    pub fn title(&self) -> &'static str {
        match self {
            Error::InvalidCode | Error::MalformedCode(_) => "Invalid code",
            Error::NoPendingSecret => "No pending MFA setup",
            Error::PendingExpired => "MFA setup expired",
            Error::MfaNotEnabled => "MFA not enabled",
            Error::MfaAlreadyEnabled => "MFA already enabled",
            Error::LockedOut { .. } => "Too many failed attempts",
            Error::StoreConflict => "Concurrent modification",
            Error::StoreUnavailable(_) => "Service unavailable",
            _ => "Internal error",
        }
    }

    /// A sentence for end users (RFC 9457 `detail`). Server-side failures get a
    /// generic sentence so that nothing internal reaches a client.
    pub fn public_detail(&self) -> String {
        match self {
            Error::InvalidCode => "The code is not valid.".into(),
            Error::MalformedCode(reason) => format!("The code is malformed: {reason}."),
            Error::NoPendingSecret => "There is no pending MFA setup to confirm.".into(),
            Error::PendingExpired => "The MFA setup has expired; start the setup again.".into(),
            Error::MfaNotEnabled => "MFA is not enabled for this account.".into(),
            Error::MfaAlreadyEnabled => "MFA is already enabled for this account.".into(),
            Error::LockedOut {
                retry_after: Some(secs),
            } => format!("Too many failed attempts; try again in {secs} seconds."),
            Error::LockedOut { retry_after: None } => {
                "Too many failed attempts; the factor is locked until it is reset.".into()
            }
            Error::StoreConflict => "The request conflicted with another; retry it.".into(),
            Error::StoreUnavailable(_) => "The service is temporarily unavailable.".into(),
            Error::InvalidInput(what) => format!("Invalid input: {what}."),
            _ => "An internal error occurred.".into(),
        }
    }

    /// Seconds a client should wait before retrying, where that is known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::LockedOut { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Whether the error is the end user's doing (4xx) rather than the server's.
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.http_status())
    }

    fn variant_name(&self) -> &'static str {
        match self {
            Error::InvalidCode => "InvalidCode",
            Error::MalformedCode(_) => "MalformedCode",
            Error::NoPendingSecret => "NoPendingSecret",
            Error::PendingExpired => "PendingExpired",
            Error::MfaNotEnabled => "MfaNotEnabled",
            Error::MfaAlreadyEnabled => "MfaAlreadyEnabled",
            Error::LockedOut { .. } => "LockedOut",
            Error::StoreConflict => "StoreConflict",
            Error::StoreUnavailable(_) => "StoreUnavailable",
            Error::CorruptRecord(_) => "CorruptRecord",
            Error::DecryptionFailed => "DecryptionFailed",
            Error::UnknownKey(_) => "UnknownKey",
            Error::InvalidInput(_) => "InvalidInput",
            Error::InvalidConfig(_) => "InvalidConfig",
            Error::Internal(_) => "Internal",
        }
    }

    /// Wraps any store-side failure as [`Error::StoreUnavailable`].
    pub fn store_unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::StoreUnavailable(source.into())
    }
}

/// The base of the `type` URI of every problem document: the variant's documentation.
pub const PROBLEM_TYPE_BASE: &str = "https://docs.rs/mfa/latest/mfa/enum.Error.html";

/// An RFC 9457 (formerly RFC 7807) problem document built from an [`Error`].
///
/// ```
/// let problem = mfa::ProblemDetails::from(&mfa::Error::InvalidCode)
///     .with_instance("/api/user/me/totp/confirm")
///     .with_extension("requestId", "req-1");
/// let json = serde_json::to_value(&problem).unwrap();
/// assert_eq!(json["status"], 400);
/// assert_eq!(json["code"], "INVALID_CODE");
/// assert_eq!(json["requestId"], "req-1");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemDetails {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// An explanation of this occurrence, safe to show to the end user.
    pub detail: String,
    /// A URI reference naming this occurrence (usually the request path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The crate's stable machine code.
    pub code: String,
    /// Extension members, such as `requestId` or `retryAfter`.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl ProblemDetails {
    /// A problem of the host's own (for errors that are not the crate's, such
    /// as a wrong password), with `type` `about:blank` until [`ProblemDetails::with_type`].
    ///
    /// ```
    /// let p = mfa::ProblemDetails::new(409, "EMAIL_TAKEN", "Email taken", "That email is in use.");
    /// assert_eq!((p.status, p.type_uri.as_str()), (409, "about:blank"));
    /// ```
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        ProblemDetails {
            type_uri: "about:blank".to_owned(),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            instance: None,
            code: code.to_owned(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Sets `type`.
    pub fn with_type(mut self, type_uri: impl Into<String>) -> Self {
        self.type_uri = type_uri.into();
        self
    }

    /// Sets `status`, for a route whose contract answers an error with
    /// another status than [`Error::http_status`] (for example 401 for a wrong
    /// code at a login step).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets `instance`.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Adds an extension member.
    pub fn with_extension(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.extensions.insert(key.into(), value.into());
        self
    }
}

impl From<&Error> for ProblemDetails {
    fn from(error: &Error) -> Self {
        let mut problem = ProblemDetails {
            type_uri: format!("{PROBLEM_TYPE_BASE}#variant.{}", error.variant_name()),
            title: error.title().to_owned(),
            status: error.http_status(),
            detail: error.public_detail(),
            instance: None,
            code: error.code().to_owned(),
            extensions: serde_json::Map::new(),
        };
        if let Some(secs) = error.retry_after() {
            problem.extensions.insert("retryAfter".into(), secs.into());
        }
        problem
    }
}

impl fmt::Display for ProblemDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}
