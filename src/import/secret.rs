//! The secret's sources: base32 (most systems and otpauth URIs), hex
//! (django-otp), and otpauth URIs with their parameters.

use zeroize::Zeroizing;

use super::ImportedFactor;
use crate::error::{Error, Result};
use crate::totp::{Algorithm, TotpParams, TotpSecret};

impl ImportedFactor {
    /// A factor whose secret is RFC 4648 base32 (case-insensitive, spaces
    /// and padding ignored), as devise-two-factor, GitLab, Fortify, ASP.NET
    /// Core Identity and otpauth URIs keep it.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] if the text is not base32 or the parameters
    /// are out of range; [`Error::WeakSecret`] under 128 bits.
    pub fn from_base32(text: &str, params: TotpParams) -> Result<Self> {
        let bytes = crate::totp::base32_bytes(text)
            .ok_or(Error::InvalidImport("the secret is not base32"))?;
        Self::new(secret_from_bytes(&bytes)?, params)
    }

    /// A factor whose secret is hexadecimal, as django-otp keeps it
    /// (`TOTPDevice.key`).
    ///
    /// # Errors
    /// [`Error::InvalidImport`] if the text is not hex or the parameters are
    /// out of range; [`Error::WeakSecret`] under 128 bits.
    pub fn from_hex(text: &str, params: TotpParams) -> Result<Self> {
        let text = text.trim();
        if !text.len().is_multiple_of(2) {
            return Err(Error::InvalidImport("the secret is not hex"));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(text.len() / 2));
        for pair in text.as_bytes().chunks(2) {
            let digit = |b: u8| (b as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => bytes.push((high * 16 + low) as u8),
                _ => return Err(Error::InvalidImport("the secret is not hex")),
            }
        }
        Self::new(secret_from_bytes(&bytes)?, params)
    }

    /// A factor from an `otpauth://totp/…?secret=…` URI (Google's Key URI
    /// Format), parsed by `totp-rs`: `secret` (unpadded base32, as the format
    /// asks), and `algorithm` (`SHA1`, `SHA256`, `SHA512`, any case), `digits`
    /// and `period` where given (RFC 6238's defaults otherwise); a label's
    /// issuer must agree with an `issuer` parameter; other parameters are
    /// ignored.
    ///
    /// # Errors
    /// [`Error::InvalidImport`] for anything but a TOTP otpauth URI with a
    /// base32 secret and parameters in range; [`Error::WeakSecret`] under
    /// 128 bits.
    pub fn from_otpauth_uri(uri: &str) -> Result<Self> {
        let parsed = totp_rs::Totp::from_url_unchecked(uri.trim())
            .map_err(|_| Error::InvalidImport("not an otpauth://totp/ URI with a base32 secret"))?;
        let algorithm = match parsed.algorithm() {
            totp_rs::Algorithm::SHA1 => Algorithm::Sha1,
            totp_rs::Algorithm::SHA256 => Algorithm::Sha256,
            totp_rs::Algorithm::SHA512 => Algorithm::Sha512,
            _ => return Err(Error::InvalidImport("unsupported TOTP algorithm")),
        };
        let params = TotpParams {
            algorithm,
            digits: parsed.digits(),
            period: parsed.step(),
        };
        Self::new(secret_from_bytes(parsed.secret().as_ref())?, params)
    }
}

/// A secret of `bytes`, refused as weak under 128 bits.
fn secret_from_bytes(bytes: &[u8]) -> Result<TotpSecret> {
    if bytes.len() < TotpSecret::MIN_LEN {
        return Err(Error::WeakSecret {
            bits: bytes.len() * 8,
        });
    }
    TotpSecret::from_bytes(bytes).map_err(|_| Error::InvalidImport("the secret is over 512 bits"))
}
