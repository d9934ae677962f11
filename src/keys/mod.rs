//! Encryption keys and the backup-code pepper.

use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use hkdf::Hkdf;
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

mod envelope;

pub use envelope::Envelope;

/// Names a key in a [`Keyring`]. Stored beside every ciphertext and hash set
/// so that old data still finds its key after a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// 32 bytes of host-supplied key material, from which the crate derives (with
/// HKDF-SHA-256 and distinct labels) an AES-256-GCM key and the backup-code pepper.
///
/// Wiped on drop; prints `REDACTED`; no `Clone`, no `Serialize`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Wraps 32 bytes of key material. They must come from a CSPRNG or a KMS.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    /// Parses standard base64 (with or without padding) of exactly 32 bytes.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the text is not base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self> {
        let text = text.trim().trim_end_matches('=');
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text)
                .map_err(|_| Error::InvalidConfig("the master key must be base64"))?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::InvalidConfig("the master key must be 32 bytes"))?;
        Ok(MasterKey(array))
    }

    /// Draws a fresh key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// The key as standard base64, for writing to a key file or a secret manager.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0))
    }

    /// Derives 32 bytes for another purpose of the host's (HKDF-SHA-256 with
    /// `label` as info), for example a JWT signing key.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a label beginning with
    /// [`MasterKey::RESERVED_LABEL_PREFIX`]: those derive the crate's own
    /// encryption key and pepper, which a host must never hold.
    pub fn derive(&self, label: &str) -> Result<Zeroizing<[u8; 32]>> {
        if label.starts_with(Self::RESERVED_LABEL_PREFIX) {
            return Err(Error::InvalidConfig(
                "labels beginning with `mfa/` are reserved for the crate's own keys",
            ));
        }
        Ok(derive(&self.0, label.as_bytes()))
    }

    /// The prefix of the labels the crate derives its own keys with.
    pub const RESERVED_LABEL_PREFIX: &'static str = "mfa/";
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(REDACTED)")
    }
}

fn derive(ikm: &[u8; 32], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(b"mfa keyring v1"), ikm)
        .expand(info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    out
}

struct Entry {
    id: KeyId,
    cipher: Aes256Gcm,
    pepper: Zeroizing<[u8; 32]>,
}

/// The keys the crate encrypts secrets and peppers backup codes with.
///
/// One primary key encrypts every new write; older keys still decrypt what
/// was written under them. A secret found under an older key is re-encrypted
/// under the primary on the record's next write. Keep old keys until no record
/// names them (backup-code hashes keep the key id of the pepper they were made
/// with until the codes are regenerated).
///
/// Ciphers are set up once here, so no encryption or decryption pays for a key
/// schedule.
///
/// ```
/// use mfa::{KeyId, Keyring, MasterKey};
/// let keyring = Keyring::new(KeyId(2), MasterKey::from_bytes([7; 32]))
///     .with_old_key(KeyId(1), MasterKey::from_bytes([1; 32]))
///     .unwrap();
/// assert_eq!(keyring.primary_id(), KeyId(2));
/// assert_eq!(format!("{keyring:?}"), "Keyring { primary: 2, keys: [2, 1] }");
/// ```
pub struct Keyring {
    primary: KeyId,
    entries: Vec<Entry>,
}

impl Keyring {
    /// A keyring whose primary key is `key`, named `id`.
    pub fn new(id: KeyId, key: MasterKey) -> Self {
        Keyring {
            primary: id,
            entries: vec![Entry::new(id, &key)],
        }
    }

    /// Adds an older key that still decrypts but never encrypts.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the id is already in the keyring.
    pub fn with_old_key(mut self, id: KeyId, key: MasterKey) -> Result<Self> {
        if self.entries.iter().any(|e| e.id == id) {
            return Err(Error::InvalidConfig("duplicate key id in keyring"));
        }
        self.entries.push(Entry::new(id, &key));
        Ok(self)
    }

    /// The id of the key that encrypts new writes.
    pub fn primary_id(&self) -> KeyId {
        self.primary
    }

    /// Whether the keyring holds a key with this id.
    pub fn contains(&self, id: KeyId) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    fn entry(&self, id: KeyId) -> Result<&Entry> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .ok_or(Error::UnknownKey(id.0))
    }

    pub(crate) fn cipher(&self, id: KeyId) -> Result<&Aes256Gcm> {
        self.entry(id).map(|e| &e.cipher)
    }

    pub(crate) fn pepper(&self, id: KeyId) -> Result<&[u8; 32]> {
        self.entry(id).map(|e| &*e.pepper)
    }
}

impl Entry {
    fn new(id: KeyId, key: &MasterKey) -> Self {
        let aead_key = derive(&key.0, b"mfa/v1/aes-256-gcm");
        Entry {
            id,
            cipher: Aes256Gcm::new((&*aead_key).into()),
            pepper: derive(&key.0, b"mfa/v1/backup-code-pepper"),
        }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u32> = self.entries.iter().map(|e| e.id.0).collect();
        write!(f, "Keyring {{ primary: {}, keys: {ids:?} }}", self.primary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_parsing() {
        let key = MasterKey::from_bytes([9; 32]);
        let text = key.to_base64();
        let back = MasterKey::from_base64(&text).unwrap();
        assert_eq!(back.0, [9; 32]);
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("***").is_err());
        assert_eq!(format!("{key:?}"), "MasterKey(REDACTED)");
    }

    #[test]
    fn hosts_cannot_derive_the_crates_own_keys() {
        let key = MasterKey::from_bytes([3; 32]);
        for label in ["mfa/v1/backup-code-pepper", "mfa/v1/aes-256-gcm", "mfa/"] {
            assert!(
                matches!(key.derive(label), Err(Error::InvalidConfig(_))),
                "{label}"
            );
        }
        let ring = Keyring::new(KeyId(1), MasterKey::from_bytes([3; 32]));
        // Not a prefix match: the host's own `mfa-jwt` label is fine.
        assert_ne!(
            *key.derive("mfa-jwt").unwrap(),
            *ring.pepper(KeyId(1)).unwrap()
        );
    }

    #[test]
    fn derivations_are_distinct() {
        let key = MasterKey::from_bytes([3; 32]);
        let ring = Keyring::new(KeyId(1), MasterKey::from_bytes([3; 32]));
        let jwt = key.derive("jwt").unwrap();
        assert_ne!(*jwt, *ring.pepper(KeyId(1)).unwrap());
        assert_ne!(*jwt, *key.derive("other").unwrap());
        assert!(matches!(ring.pepper(KeyId(9)), Err(Error::UnknownKey(9))));
        assert!(
            Keyring::new(KeyId(1), MasterKey::from_bytes([0; 32]))
                .with_old_key(KeyId(1), MasterKey::from_bytes([1; 32]))
                .is_err()
        );
    }
}
