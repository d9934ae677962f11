//! What transitions return once, and what they demand: the setup's secret,
//! a verification, the codes of a confirmed setup, a re-authentication.

use std::fmt;

use zeroize::Zeroizing;

use crate::backup::BackupCodes;
#[cfg(feature = "qr")]
use crate::error::Result;
use crate::session::Proof;
use crate::totp::TotpMatch;

/// The one-time output of beginning setup: what the user's authenticator app needs.
///
/// Holds the plaintext secret: wiped on drop, `Debug` prints no secret, no
/// `Clone`, no `Serialize`.
pub struct TotpSetup {
    #[cfg_attr(not(feature = "qr"), allow(dead_code))]
    pub(super) totp: totp_rs::Totp,
    pub(super) uri: Zeroizing<String>,
    pub(super) secret_base32: Zeroizing<String>,
    pub(super) expires_at: u64,
}

impl TotpSetup {
    /// The `otpauth://totp/Issuer:account?secret=…&issuer=…` URI.
    pub fn otpauth_uri(&self) -> &str {
        &self.uri
    }

    /// The secret as unpadded base32, for manual entry.
    pub fn secret_base32(&self) -> &str {
        &self.secret_base32
    }

    /// When the pending setup expires (unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// A QR code of the URI as PNG bytes, wiped on drop: anyone who reads
    /// the image has the secret.
    ///
    /// # Errors
    /// [`Error::Internal`](crate::Error::Internal) if the URI cannot be encoded.
    #[cfg(feature = "qr")]
    #[cfg_attr(docsrs, doc(cfg(feature = "qr")))]
    pub fn qr_png(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.totp
            .to_qr_png()
            .map(Zeroizing::new)
            .map_err(|_| crate::Error::Internal("QR encoding failed"))
    }

    /// The QR code as a `data:image/png;base64,…` URI, for an `<img src>`;
    /// wiped on drop, like the PNG it encodes.
    ///
    /// # Errors
    /// [`Error::Internal`](crate::Error::Internal) if the URI cannot be encoded.
    #[cfg(feature = "qr")]
    #[cfg_attr(docsrs, doc(cfg(feature = "qr")))]
    pub fn qr_data_uri(&self) -> Result<Zeroizing<String>> {
        const PREFIX: &str = "data:image/png;base64,";
        let base64 = Zeroizing::new(
            self.totp
                .to_qr_base64()
                .map_err(|_| crate::Error::Internal("QR encoding failed"))?,
        );
        // Sized once, so no reallocation leaves a copy behind.
        let mut uri = Zeroizing::new(String::with_capacity(PREFIX.len() + base64.len()));
        uri.push_str(PREFIX);
        uri.push_str(&base64);
        Ok(uri)
    }
}

impl fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSetup")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a code verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifiedBy {
    /// A TOTP code, with its step and drift.
    Totp(TotpMatch),
    /// A backup code, now used up.
    BackupCode,
    /// A passkey with user verification.
    Passkey,
}

/// A successful second-factor verification. Not `Clone`: it may carry a
/// new backup code, a one-time secret.
#[derive(Debug)]
#[non_exhaustive]
pub struct Verified {
    /// Which kind of code it was.
    pub by: VerifiedBy,
    /// Unused backup codes left.
    pub backup_codes_remaining: usize,
    /// The proof to keep in the session this verification opens or refreshes.
    pub proof: Proof,
    /// The backup code issued in the place of the one used, to show the user
    /// once, when the policy reissues codes
    /// ([`BackupCodePolicy::reissue_on_use`](crate::policy::BackupCodePolicy::reissue_on_use)).
    pub new_backup_code: Option<crate::backup::BackupCode>,
}

/// The output of a confirmed setup: the backup codes, shown this once, and
/// the proof of the code that confirmed it. Not `Clone`: the codes are
/// one-time secrets.
#[derive(Debug)]
#[non_exhaustive]
pub struct Enabled {
    /// The new backup codes.
    pub backup_codes: BackupCodes,
    /// A proof under the new epoch, for the session the host issues now.
    pub proof: Proof,
}

/// What an operation that manages the factor demands: a code now, or a
/// recent proof.
///
/// Either way a locked factor refuses, and a proof counts only for its user,
/// under the record's current epoch and within
/// [`Policy::step_up_window_secs`](crate::Policy::step_up_window_secs) (I12,
/// I17): a session opened before MFA was enabled, or before the last change,
/// cannot manage the factor. A proof is what a session carries, so whoever
/// steals the session has it too: for an operation that hands the factor to
/// someone else (beginning a replacement), ask for a code and the password.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Reauth<'a> {
    /// A proof from the session, recent enough
    /// ([`MfaEnrollment::check_proof`](super::MfaEnrollment::check_proof)).
    RecentProof(&'a Proof),
    /// A current TOTP code (checked, counted and consumed like a login).
    TotpCode(&'a str),
    /// A current TOTP code or an unused backup code, told apart by shape
    /// (checked, counted and consumed like a login; [`Mfa`](crate::Mfa)
    /// charges a backup code to the lockout before hashing it, I16). For a
    /// user whose phone is lost, a backup code is the only code left.
    Code(&'a str),
}

impl fmt::Debug for Reauth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reauth::RecentProof(proof) => f.debug_tuple("RecentProof").field(proof).finish(),
            Reauth::TotpCode(_) => f.write_str("TotpCode(REDACTED)"),
            Reauth::Code(_) => f.write_str("Code(REDACTED)"),
        }
    }
}
