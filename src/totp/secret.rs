//! The TOTP shared secret.

use std::fmt;

use rand::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// A TOTP shared secret (the HMAC key the authenticator app holds).
///
/// 160 random bits by default (RFC 4226 §4), at least 128 and at most 512.
/// The bytes live on the stack, are wiped on drop, and never print:
/// `Debug` and `Display` show `REDACTED`. The type has no `Clone` and no
/// `Serialize`; it is stored only inside an encrypted [`Envelope`](crate::keys::Envelope).
///
/// ```
/// use mfa::totp::TotpSecret;
/// let secret = TotpSecret::generate(&mut rand::rng());
/// assert_eq!(secret.as_bytes().len(), 20);
/// assert_eq!(format!("{secret:?}"), "TotpSecret(REDACTED)");
/// assert_eq!(secret.to_base32().len(), 32);
/// ```
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct TotpSecret {
    bytes: [u8; TotpSecret::MAX_LEN],
    len: u8,
}

impl TotpSecret {
    /// The default length in bytes (160 bits).
    pub const DEFAULT_LEN: usize = 20;
    /// The shortest accepted secret in bytes (128 bits, RFC 4226 §4).
    pub const MIN_LEN: usize = 16;
    /// The longest accepted secret in bytes (512 bits).
    pub const MAX_LEN: usize = 64;

    /// Draws a new 160-bit secret from a cryptographically secure RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::generate_with_len(Self::DEFAULT_LEN, rng)
            .expect("the default length is within bounds")
    }

    /// Draws a new secret of `len` bytes.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `len` is outside `16..=64`.
    pub fn generate_with_len<R: CryptoRng + ?Sized>(len: usize, rng: &mut R) -> Result<Self> {
        check_len(len)?;
        let mut secret = TotpSecret {
            bytes: [0; Self::MAX_LEN],
            len: len as u8,
        };
        rng.fill_bytes(&mut secret.bytes[..len]);
        Ok(secret)
    }

    /// Wraps existing secret bytes (for example when importing a factor).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the length is outside `16..=64`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
            return Err(Error::InvalidInput("a TOTP secret has 16 to 64 bytes"));
        }
        let mut secret = TotpSecret {
            bytes: [0; Self::MAX_LEN],
            len: bytes.len() as u8,
        };
        secret.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(secret)
    }

    /// Parses an RFC 4648 base32 secret (case-insensitive; spaces and padding ignored).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the text is not base32 or decodes to a bad length.
    pub fn from_base32(text: &str) -> Result<Self> {
        let bytes =
            base32_bytes(text).ok_or(Error::InvalidInput("a TOTP secret must be base32"))?;
        Self::from_bytes(&bytes)
    }

    /// The secret as unpadded RFC 4648 base32, for manual entry in an authenticator app.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(base32::encode(
            base32::Alphabet::Rfc4648 { padding: false },
            self.as_bytes(),
        ))
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// A secret of `len` zero bytes, to decrypt into.
    pub(crate) fn zeroed(len: usize) -> Result<Self> {
        check_len(len).map_err(|_| Error::DecryptionFailed)?;
        Ok(TotpSecret {
            bytes: [0; Self::MAX_LEN],
            len: len as u8,
        })
    }

    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.bytes[..usize::from(self.len)]
    }
}

/// The bytes of RFC 4648 base32 text (case-insensitive; white space and
/// padding ignored), in memory wiped on drop.
pub(crate) fn base32_bytes(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let cleaned: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &cleaned).map(Zeroizing::new)
}

fn check_len(len: usize) -> Result<()> {
    if (TotpSecret::MIN_LEN..=TotpSecret::MAX_LEN).contains(&len) {
        Ok(())
    } else {
        Err(Error::InvalidConfig("a TOTP secret has 16 to 64 bytes"))
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(REDACTED)")
    }
}

impl fmt::Display for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trip_and_lengths() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(&*secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let parsed = TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(parsed.as_bytes(), secret.as_bytes());
        assert!(TotpSecret::from_bytes(&[0; 15]).is_err());
        assert!(TotpSecret::from_bytes(&[0; 65]).is_err());
        assert!(TotpSecret::from_base32("not base32!").is_err());
        assert!(TotpSecret::generate_with_len(8, &mut rand::rng()).is_err());
    }

    #[test]
    fn never_prints() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(format!("{secret}"), "REDACTED");
        assert!(!format!("{secret:?}").contains("GEZD"));
    }
}
