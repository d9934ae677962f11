//! Versioned AES-256-GCM ciphertext envelopes, bound to a purpose and a user.

use std::fmt;

use aes_gcm::aead::AeadInOut;
use base64::Engine as _;
use rand::CryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyId, Keyring};
use crate::totp::TotpSecret;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// The largest plaintext an envelope carries (it holds secrets, not documents).
const MAX_PLAINTEXT: usize = 4096;

/// The purpose label of an encrypted TOTP secret.
pub(crate) const TOTP_SECRET: &str = "totp-secret";

/// A secret encrypted with AES-256-GCM under one key of a [`Keyring`].
///
/// Layout (then base64url without padding in serialized records):
///
/// ```text
/// version (1 byte, = 1) | key id (4 bytes, big endian) | nonce (12 bytes, random) | ciphertext | tag (16 bytes)
/// ```
///
/// The associated data names the version, the key id, the purpose label and
/// the user id (each variable part length-prefixed), so a ciphertext copied
/// to another user's record, put to another purpose, or given another key id
/// fails to decrypt (invariant I7). Nonces are 96 random bits; with one
/// encryption per enrollment or rotation, collisions are out of reach.
///
/// ```
/// use mfa::{KeyId, Keyring, MasterKey, keys::Envelope};
/// let keyring = Keyring::new(KeyId(1), MasterKey::from_bytes([5; 32]));
/// let mut rng = rand::rng();
/// let sealed = Envelope::seal(&keyring, "note", "user-1", b"attack at dawn", &mut rng).unwrap();
/// assert_eq!(&*sealed.open(&keyring, "note", "user-1").unwrap(), b"attack at dawn");
/// assert!(sealed.open(&keyring, "note", "user-2").is_err());
/// let bytes = sealed.to_bytes();
/// assert_eq!(mfa::keys::Envelope::from_bytes(&bytes).unwrap(), sealed);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    key_id: KeyId,
    nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the tag.
    sealed: Vec<u8>,
}

impl Envelope {
    /// The format version written by this release.
    pub const FORMAT_VERSION: u8 = 1;

    /// Encrypts `plaintext` under the keyring's primary key.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the plaintext is larger than 4 KiB.
    pub fn seal<R: CryptoRng + ?Sized>(
        keyring: &Keyring,
        purpose: &str,
        user_id: &str,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Self> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(Error::InvalidInput("an envelope holds at most 4 KiB"));
        }
        let key_id = keyring.primary_id();
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(plaintext);
        let cipher = keyring.cipher(key_id)?;
        let tag = with_associated_data(key_id, purpose, user_id, |aad| {
            cipher.encrypt_inout_detached(&nonce.into(), aad, sealed.as_mut_slice().into())
        })
        .map_err(|_| Error::Internal("AES-GCM encryption failed"))?;
        sealed.extend_from_slice(&tag);
        Ok(Envelope {
            key_id,
            nonce,
            sealed,
        })
    }

    /// Decrypts and authenticates the envelope.
    ///
    /// # Errors
    /// [`Error::UnknownKey`] if the keyring lacks the key; [`Error::DecryptionFailed`]
    /// for a wrong key, purpose or user id, or a tampered envelope.
    pub fn open(
        &self,
        keyring: &Keyring,
        purpose: &str,
        user_id: &str,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(self.sealed[..self.plaintext_len()].to_vec());
        self.open_in_place(keyring, purpose, user_id, &mut out)?;
        Ok(out)
    }

    /// Seals a TOTP secret for `user_id`, under the purpose label the crate's
    /// records use for secrets (what [`MfaEnrollment`](crate::MfaEnrollment)
    /// stores).
    ///
    /// # Errors
    /// [`Error::UnknownKey`] if the keyring lacks its primary key (never for a
    /// keyring built with [`Keyring::new`]).
    pub fn seal_secret<R: CryptoRng + ?Sized>(
        keyring: &Keyring,
        user_id: &str,
        secret: &TotpSecret,
        rng: &mut R,
    ) -> Result<Self> {
        Self::seal(keyring, TOTP_SECRET, user_id, secret.as_bytes(), rng)
    }

    /// Opens a TOTP secret sealed with [`Envelope::seal_secret`] into stack
    /// memory, without touching the heap: the decryption step of TOTP
    /// verification, for hosts that check codes with [`totp::check`](crate::totp::check)
    /// themselves.
    ///
    /// ```
    /// use mfa::{KeyId, Keyring, MasterKey, keys::Envelope, totp::TotpSecret};
    /// let keyring = Keyring::new(KeyId(1), MasterKey::from_bytes([5; 32]));
    /// let secret = TotpSecret::from_bytes(&[9; 20]).unwrap();
    /// let sealed = Envelope::seal_secret(&keyring, "user-1", &secret, &mut rand::rng()).unwrap();
    /// assert_eq!(sealed.open_secret(&keyring, "user-1").unwrap().as_bytes(), &[9; 20]);
    /// assert!(sealed.open_secret(&keyring, "user-2").is_err());
    /// ```
    ///
    /// # Errors
    /// As [`Envelope::open`], and [`Error::DecryptionFailed`] if the plaintext
    /// is not 16 to 64 bytes long.
    pub fn open_secret(&self, keyring: &Keyring, user_id: &str) -> Result<TotpSecret> {
        let mut secret = TotpSecret::zeroed(self.plaintext_len())?;
        secret
            .as_mut_bytes()
            .copy_from_slice(&self.sealed[..self.plaintext_len()]);
        self.open_in_place(keyring, TOTP_SECRET, user_id, secret.as_mut_bytes())?;
        Ok(secret)
    }

    /// `buffer` holds the ciphertext (without tag) and receives the plaintext.
    fn open_in_place(
        &self,
        keyring: &Keyring,
        purpose: &str,
        user_id: &str,
        buffer: &mut [u8],
    ) -> Result<()> {
        let (_, tag) = self.sealed.split_at(self.plaintext_len());
        let tag = aes_gcm::Tag::try_from(tag).map_err(|_| Error::DecryptionFailed)?;
        let cipher = keyring.cipher(self.key_id)?;
        with_associated_data(self.key_id, purpose, user_id, |aad| {
            cipher.decrypt_inout_detached(&self.nonce.into(), aad, buffer.into(), &tag)
        })
        .map_err(|_| Error::DecryptionFailed)
    }

    fn plaintext_len(&self) -> usize {
        self.sealed.len() - TAG_LEN
    }

    /// The id of the key this envelope was sealed under.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.sealed.len());
        out.push(Self::FORMAT_VERSION);
        out.extend_from_slice(&self.key_id.0.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.sealed);
        out
    }

    /// Parses the binary form. Never panics.
    ///
    /// # Errors
    /// [`Error::CorruptRecord`] for an unknown version or a truncated or oversized envelope.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = |why: &str| Error::CorruptRecord(format!("envelope: {why}"));
        let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
        if version != Self::FORMAT_VERSION {
            return Err(corrupt("unknown format version"));
        }
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(corrupt("truncated"));
        }
        if bytes.len() > HEADER_LEN + MAX_PLAINTEXT + TAG_LEN {
            return Err(corrupt("too long"));
        }
        let (key_id, rest) = rest.split_at(4);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        Ok(Envelope {
            key_id: KeyId(u32::from_be_bytes(key_id.try_into().expect("4 bytes"))),
            nonce: nonce.try_into().expect("12 bytes"),
            sealed: sealed.to_vec(),
        })
    }

    /// The serialized text form: base64url of [`Envelope::to_bytes`], unpadded.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.to_bytes())
    }

    /// Parses the text form. Never panics.
    ///
    /// # Errors
    /// [`Error::CorruptRecord`] if the text is not a valid envelope.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| Error::CorruptRecord("envelope: not base64url".into()))?;
        Self::from_bytes(&bytes)
    }
}

/// Calls `f` with the associated data: a label, the format version, the key
/// id (big endian), then the purpose and the user id, each preceded by its
/// length (u64, big endian). Built on the stack unless the user id is long.
fn with_associated_data<T>(
    key_id: KeyId,
    purpose: &str,
    user_id: &str,
    f: impl FnOnce(&[u8]) -> T,
) -> T {
    const LABEL: &[u8] = b"mfa/envelope";
    let parts: [&[u8]; 7] = [
        LABEL,
        &[Envelope::FORMAT_VERSION],
        &key_id.0.to_be_bytes(),
        &(purpose.len() as u64).to_be_bytes(),
        purpose.as_bytes(),
        &(user_id.len() as u64).to_be_bytes(),
        user_id.as_bytes(),
    ];
    let len = parts.iter().map(|p| p.len()).sum();
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let buffer = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap[..]
    };
    let mut at = 0;
    for part in parts {
        buffer[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    f(buffer)
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("key_id", &self.key_id)
            .field("len", &self.sealed.len())
            .finish_non_exhaustive()
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Envelope::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;

    fn ring(id: u32, byte: u8) -> Keyring {
        Keyring::new(KeyId(id), MasterKey::from_bytes([byte; 32]))
    }

    #[test]
    fn binds_purpose_user_and_key() {
        let keyring = ring(1, 1);
        let mut rng = rand::rng();
        let env = Envelope::seal(
            &keyring,
            TOTP_SECRET,
            "alice",
            b"0123456789abcdef0123",
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            &*env.open(&keyring, TOTP_SECRET, "alice").unwrap(),
            b"0123456789abcdef0123"
        );
        assert!(matches!(
            env.open(&keyring, TOTP_SECRET, "bob"),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            env.open(&keyring, "other", "alice"),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            env.open(&ring(1, 2), TOTP_SECRET, "alice"),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            env.open(&ring(2, 1), TOTP_SECRET, "alice"),
            Err(Error::UnknownKey(1))
        ));
        // A forged key id fails authentication even where the key exists.
        let mut bytes = env.to_bytes();
        bytes[4] = 2;
        let two = ring(1, 1)
            .with_old_key(KeyId(2), MasterKey::from_bytes([1; 32]))
            .unwrap();
        let forged = Envelope::from_bytes(&bytes).unwrap();
        assert!(matches!(
            forged.open(&two, TOTP_SECRET, "alice"),
            Err(Error::DecryptionFailed)
        ));
    }

    #[test]
    fn tamper_and_truncation_are_typed_errors() {
        let keyring = ring(1, 1);
        let env = Envelope::seal(&keyring, TOTP_SECRET, "a", &[7; 20], &mut rand::rng()).unwrap();
        let bytes = env.to_bytes();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            match Envelope::from_bytes(&t) {
                Ok(e) => assert!(e.open(&keyring, TOTP_SECRET, "a").is_err(), "flip at {i}"),
                Err(Error::CorruptRecord(_)) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        for len in 0..bytes.len() {
            let _ = Envelope::from_bytes(&bytes[..len]).map(|e| e.open(&keyring, TOTP_SECRET, "a"));
        }
        assert!(Envelope::from_base64("%%%").is_err());
    }

    #[test]
    fn long_user_ids_are_bound_too() {
        let keyring = ring(1, 1);
        let long = "u".repeat(1000);
        let env = Envelope::seal(&keyring, TOTP_SECRET, &long, b"x", &mut rand::rng()).unwrap();
        assert_eq!(&*env.open(&keyring, TOTP_SECRET, &long).unwrap(), b"x");
        assert!(env.open(&keyring, TOTP_SECRET, &long[..999]).is_err());
        // Length prefixes keep purpose and user id apart.
        let a = Envelope::seal(&keyring, "ab", "c", b"x", &mut rand::rng()).unwrap();
        assert!(a.open(&keyring, "a", "bc").is_err());
    }

    #[test]
    fn secret_round_trip_on_the_stack() {
        let keyring = ring(1, 1);
        let secret = TotpSecret::from_bytes(&[42; 20]).unwrap();
        let env = Envelope::seal_secret(&keyring, "u", &secret, &mut rand::rng()).unwrap();
        assert_eq!(
            env.open_secret(&keyring, "u").unwrap().as_bytes(),
            &[42; 20]
        );
        let short = Envelope::seal(&keyring, TOTP_SECRET, "u", &[1; 8], &mut rand::rng()).unwrap();
        assert!(matches!(
            short.open_secret(&keyring, "u"),
            Err(Error::DecryptionFailed)
        ));
    }
}
