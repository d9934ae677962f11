//! Errors over HTTP: the status each [`Error`] answers with, and RFC 9457
//! (formerly RFC 7807) problem documents, for any web framework.
//!
//! ```
//! use mfa::http::ProblemDetails;
//!
//! let error = mfa::Error::LockedOut { retry_after: Some(60) };
//! assert_eq!(error.http_status(), 429);
//! let problem = ProblemDetails::from(&error).with_instance("/api/auth/login/mfa");
//! assert_eq!(problem.code, "LOCKED_OUT");
//! assert_eq!(problem.extensions["retryAfter"], 60);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::backup::BackupCodes;
use crate::enrollment::{TotpSetup, Verified};
use crate::error::Error;

#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;

impl Error {
    /// The HTTP status an API should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidCode
            | Error::MalformedCode(_)
            | Error::NoPendingSetup
            | Error::PendingExpired
            | Error::MfaNotEnabled
            | Error::InvalidInput(_)
            | Error::WeakSecret { .. }
            | Error::InvalidImport(_)
            | Error::InvalidPasskey => 400,
            Error::InvalidChallenge | Error::Revoked => 401,
            Error::StepUpRequired => 403,
            Error::PasskeyNotFound => 404,
            Error::MfaAlreadyEnabled
            | Error::StoreConflict
            | Error::PasskeyAlreadyRegistered
            | Error::TooManyPasskeys
            | Error::LastFactor => 409,
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
            Error::NoPendingSetup => "No pending MFA setup",
            Error::PendingExpired => "MFA setup expired",
            Error::MfaNotEnabled => "MFA not enabled",
            Error::MfaAlreadyEnabled => "MFA already enabled",
            Error::LockedOut { .. } => "Too many failed attempts",
            Error::InvalidChallenge => "Invalid MFA token",
            Error::Revoked => "Session revoked",
            Error::StepUpRequired => "Step-up required",
            Error::StoreConflict => "Concurrent modification",
            Error::StoreUnavailable(_) => "Service unavailable",
            Error::WeakSecret { .. } => "Weak TOTP secret",
            Error::InvalidImport(_) => "Invalid imported factor",
            Error::InvalidPasskey => "Invalid passkey",
            Error::PasskeyAlreadyRegistered => "Passkey already registered",
            Error::TooManyPasskeys => "Too many passkeys",
            Error::LastFactor => "Last factor",
            Error::PasskeyNotFound => "Not found",
            _ => "Internal error",
        }
    }

    /// A sentence for end users (RFC 9457 `detail`). Server-side failures get a
    /// generic sentence so that nothing internal reaches a client.
    pub fn public_detail(&self) -> String {
        match self {
            Error::InvalidCode => "The code is not valid.".into(),
            Error::MalformedCode(reason) => format!("The code is malformed: {reason}."),
            Error::NoPendingSetup => "There is no pending MFA setup to confirm.".into(),
            Error::PendingExpired => "The MFA setup has expired; start the setup again.".into(),
            Error::MfaNotEnabled => "MFA is not enabled for this account.".into(),
            Error::MfaAlreadyEnabled => "MFA is already enabled for this account.".into(),
            Error::LockedOut {
                retry_after: Some(secs),
            } => format!("Too many failed attempts; try again in {secs} seconds."),
            Error::LockedOut { retry_after: None } => {
                "Too many failed attempts; the factor is locked until it is reset.".into()
            }
            Error::InvalidChallenge => {
                "The login has expired or was already completed; sign in again.".into()
            }
            Error::Revoked => {
                "MFA settings changed since this session began; sign in again.".into()
            }
            Error::StepUpRequired => "Verify your second factor again to continue.".into(),
            Error::StoreConflict => "The request conflicted with another; retry it.".into(),
            Error::StoreUnavailable(_) => "The service is temporarily unavailable.".into(),
            Error::InvalidInput(what) => format!("Invalid input: {what}."),
            Error::WeakSecret { bits } => format!(
                "The imported TOTP secret has {bits} bits, fewer than the 128 required; enroll again."
            ),
            Error::InvalidImport(what) => format!("The imported factor is invalid: {what}."),
            Error::InvalidPasskey => "The passkey was not accepted.".into(),
            Error::PasskeyAlreadyRegistered => "This passkey is registered already.".into(),
            Error::TooManyPasskeys => "No more passkeys can be added; remove one first.".into(),
            Error::LastFactor => {
                "This is the only factor left; turn MFA off instead of removing it.".into()
            }
            Error::PasskeyNotFound => "There is no such passkey.".into(),
            _ => "An internal error occurred.".into(),
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
            Error::NoPendingSetup => "NoPendingSetup",
            Error::PendingExpired => "PendingExpired",
            Error::MfaNotEnabled => "MfaNotEnabled",
            Error::MfaAlreadyEnabled => "MfaAlreadyEnabled",
            Error::LockedOut { .. } => "LockedOut",
            Error::InvalidChallenge => "InvalidChallenge",
            Error::Revoked => "Revoked",
            Error::StepUpRequired => "StepUpRequired",
            Error::StoreConflict => "StoreConflict",
            Error::StoreUnavailable(_) => "StoreUnavailable",
            Error::CorruptRecord(_) => "CorruptRecord",
            Error::DecryptionFailed => "DecryptionFailed",
            Error::UnknownKey(_) => "UnknownKey",
            Error::InvalidInput(_) => "InvalidInput",
            Error::WeakSecret { .. } => "WeakSecret",
            Error::InvalidImport(_) => "InvalidImport",
            Error::InvalidConfig(_) => "InvalidConfig",
            Error::InvalidPasskey => "InvalidPasskey",
            Error::PasskeyAlreadyRegistered => "PasskeyAlreadyRegistered",
            Error::TooManyPasskeys => "TooManyPasskeys",
            Error::LastFactor => "LastFactor",
            Error::PasskeyNotFound => "PasskeyNotFound",
            Error::Internal(_) => "Internal",
        }
    }
}

/// An RFC 9457 (formerly RFC 7807) problem document built from an [`Error`].
///
/// ```
/// let problem = mfa::http::ProblemDetails::from(&mfa::Error::InvalidCode)
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
    /// The base of the `type` URI of the crate's problem documents: the
    /// documentation of [`Error`], whose variant is the URI's fragment.
    pub const TYPE_BASE: &'static str = "https://docs.rs/mfa/latest/mfa/error/enum.Error.html";

    /// A problem of the host's own (for errors that are not the crate's, such
    /// as a wrong password), with `type` `about:blank` until [`ProblemDetails::with_type`].
    ///
    /// ```
    /// let p = mfa::http::ProblemDetails::new(409, "EMAIL_TAKEN", "Email taken", "That email is in use.");
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
            type_uri: format!("{}#variant.{}", Self::TYPE_BASE, error.variant_name()),
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

impl ProblemDetails {
    /// For a route whose caller has not yet proved the second factor (a
    /// login's second step, a step-up): a wrong or malformed code answers 401
    /// instead of [`Error::InvalidCode`]'s 400.
    ///
    /// ```
    /// use mfa::http::ProblemDetails;
    ///
    /// let problem = ProblemDetails::from(&mfa::Error::InvalidCode).at_login_step();
    /// assert_eq!((problem.status, problem.code.as_str()), (401, "INVALID_CODE"));
    /// let locked = mfa::Error::LockedOut { retry_after: Some(60) };
    /// assert_eq!(ProblemDetails::from(&locked).at_login_step().status, 429);
    /// ```
    pub fn at_login_step(mut self) -> Self {
        if self.code == Error::InvalidCode.code() {
            self.status = 401;
        }
        self
    }
}

/// The code of a request that takes a TOTP code or a backup code in two
/// fields (`{"code"}` or `{"backupCode"}` in the example servers): exactly
/// one of them, each only of its own kind.
///
/// - `code`: a TOTP code of `digits` digits, or of 6 to 8 digits (a factor
///   imported from another system keeps its own length, which the
///   verification checks).
/// - `backup_code`: anything but a TOTP code of `digits` digits. The shape of
///   a backup code is its set's to check: the crate's own codes, or those of
///   an imported set, which keep their source's shape.
///
/// `Ok(None)` when not exactly one is given, which a host answers with its
/// own validation error. A code of the wrong kind for its field is
/// [`Error::MalformedCode`] (`INVALID_CODE`), refused without being counted.
///
/// ```
/// use mfa::http::one_code;
///
/// assert_eq!(one_code(Some("123456"), None, 6).unwrap(), Some("123456"));
/// assert_eq!(one_code(Some("12345678"), None, 6).unwrap(), Some("12345678"));
/// assert_eq!(one_code(None, Some("a1b2c-d3e4f"), 6).unwrap(), Some("a1b2c-d3e4f"));
/// assert_eq!(one_code(None, None, 6).unwrap(), None);
/// assert_eq!(one_code(Some("123456"), Some("a1b2c-d3e4f"), 6).unwrap(), None);
/// // A backup code in the TOTP field is no TOTP code, and the other way round.
/// assert_eq!(one_code(Some("a1b2c-d3e4f"), None, 6).unwrap_err().code(), "INVALID_CODE");
/// assert_eq!(one_code(None, Some("123456"), 6).unwrap_err().code(), "INVALID_CODE");
/// ```
pub fn one_code<'a>(
    code: Option<&'a str>,
    backup_code: Option<&'a str>,
    digits: u8,
) -> Result<Option<&'a str>, Error> {
    use crate::backup::SubmittedBackupCode;
    use crate::totp::TotpCode;
    match (code, backup_code) {
        (Some(code), None) if (6..=8).any(|d| TotpCode::parse(code, d).is_ok()) => Ok(Some(code)),
        (Some(code), None) => TotpCode::parse(code, digits)
            .map(|_| Some(code))
            .map_err(Error::from),
        (None, Some(code)) => match TotpCode::parse(code, digits) {
            Ok(_) => SubmittedBackupCode::parse(code)
                .map(|_| Some(code))
                .map_err(Error::from),
            Err(_) => Ok(Some(code)),
        },
        _ => Ok(None),
    }
}

/// The answer to beginning a setup or a replacement of the authenticator:
/// `{"otpauthUrl", "secret", "qrCode"}`, what the user's app needs.
///
/// Holds the secret: wiped on drop, `Debug` prints no secret, no `Clone`.
/// `qrCode` (a `data:image/png;base64,` QR code of `otpauthUrl`) is there
/// when the crate is built with the `qr` feature.
///
/// ```
/// # async fn demo(mfa: &mfa::Mfa<mfa::MemoryStore>) -> mfa::Result<()> {
/// let setup = mfa.begin_setup("user-1", "ada@example.com").await?;
/// let body = serde_json::to_value(mfa::http::SetupAnswer::new(&setup)?).unwrap();
/// assert!(body["otpauthUrl"].as_str().unwrap().starts_with("otpauth://totp/"));
/// # Ok(()) }
/// ```
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SetupAnswer {
    /// The `otpauth://totp/…` URI, for a QR code or a link on the phone.
    #[cfg_attr(
        feature = "openapi",
        schema(
            value_type = String,
            pattern = "^otpauth://totp/",
            example = "otpauth://totp/Example:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example"
        )
    )]
    otpauth_url: Zeroizing<String>,
    /// The secret as unpadded base32, for manual entry.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, pattern = "^[A-Z2-7]+$", example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    )]
    secret: Zeroizing<String>,
    /// A QR code of `otpauthUrl`: `data:image/png;base64,…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, pattern = "^data:image/png;base64,")
    )]
    qr_code: Option<Zeroizing<String>>,
}

impl SetupAnswer {
    /// The answer for `setup`, with its QR code where the `qr` feature is on.
    ///
    /// # Errors
    /// [`Error::Internal`] if the QR code cannot be encoded.
    pub fn new(setup: &TotpSetup) -> Result<Self, Error> {
        #[cfg(feature = "qr")]
        let qr_code = Some(setup.qr_data_uri()?);
        #[cfg(not(feature = "qr"))]
        let qr_code = None;
        Ok(SetupAnswer {
            otpauth_url: Zeroizing::new(setup.otpauth_uri().to_owned()),
            secret: Zeroizing::new(setup.secret_base32().to_owned()),
            qr_code,
        })
    }
}

impl fmt::Debug for SetupAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupAnswer").finish_non_exhaustive()
    }
}

/// A new set of backup codes, shown once: `{"success": true, "backupCodes":
/// ["xxxxx-xxxxx", …]}`, the answer to confirming a setup and to
/// regenerating the codes.
///
/// Holds the codes: wiped on drop, `Debug` prints none, no `Clone`.
/// A host that answers more (a session token) flattens it into its own
/// answer type (`#[serde(flatten)]`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupCodesAnswer {
    /// Always `true`.
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::always_true))]
    success: bool,
    /// The new codes; every earlier code stopped working.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Vec<String>, schema_with = openapi::backup_code_list)
    )]
    backup_codes: Zeroizing<Vec<String>>,
}

impl BackupCodesAnswer {
    /// The answer showing `codes`.
    pub fn new(codes: &BackupCodes) -> Self {
        BackupCodesAnswer {
            success: true,
            backup_codes: Zeroizing::new(codes.iter().map(|c| c.as_str().to_owned()).collect()),
        }
    }

    /// The codes, for a host whose answer names them otherwise.
    pub fn codes(&self) -> &[String] {
        &self.backup_codes
    }
}

impl fmt::Debug for BackupCodesAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupCodesAnswer")
            .field("backup_codes", &self.backup_codes.len())
            .finish_non_exhaustive()
    }
}

/// What a successful second-factor verification tells the client:
/// `{"backupCodesRemaining"}`, and `"newBackupCode"` when the backup code
/// used was replaced by a new one
/// ([`BackupCodePolicy::reissue_on_use`](crate::policy::BackupCodePolicy::reissue_on_use)),
/// shown this once. A host flattens it into its answer beside the session it
/// issues (`#[serde(flatten)]`).
///
/// Holds the new code, if any: wiped on drop, `Debug` prints none, no
/// `Clone`.
///
/// ```
/// # fn demo(verified: &mfa::Verified) {
/// let body = serde_json::to_value(mfa::http::VerifiedAnswer::from(verified)).unwrap();
/// assert!(body["backupCodesRemaining"].is_u64());
/// # }
/// ```
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifiedAnswer {
    /// Unused backup codes left.
    pub backup_codes_remaining: usize,
    /// The backup code issued in the place of the one used, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, schema_with = openapi::backup_code)
    )]
    new_backup_code: Option<Zeroizing<String>>,
}

impl VerifiedAnswer {
    /// The backup code issued in the place of the one used, if any.
    pub fn new_backup_code(&self) -> Option<&str> {
        self.new_backup_code.as_deref().map(String::as_str)
    }
}

impl fmt::Debug for VerifiedAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedAnswer")
            .field("backup_codes_remaining", &self.backup_codes_remaining)
            .field(
                "new_backup_code",
                &self.new_backup_code.as_ref().map(|_| "REDACTED"),
            )
            .finish()
    }
}

impl From<&Verified> for VerifiedAnswer {
    fn from(verified: &Verified) -> Self {
        VerifiedAnswer {
            backup_codes_remaining: verified.backup_codes_remaining,
            new_backup_code: verified
                .new_backup_code
                .as_ref()
                .map(|code| Zeroizing::new(code.as_str().to_owned())),
        }
    }
}
