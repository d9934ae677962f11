//! Reissue on use (NIST SP 800-63B-4 §4.2.1.1, SRC-5: "Following the use
//! of a saved recovery code, the CSP SHALL invalidate that recovery code
//! and SHALL issue a new saved recovery code"): a used code's place in the
//! set is taken by a new one, so the number of unused codes stays.
//!
//! The new code keeps the used one's locator (the two characters that name
//! a code's slot, which are not secret: a code's secret bits are the
//! characters after them) and draws every other character afresh, so it
//! cannot meet another code's locator however many are reissued at once. It
//! is hashed once, with the set's own preset, Argon2 parameters and pepper,
//! before the save that consumes the used code, and that save stores both.

use rand::CryptoRng;

use super::{
    BackupCode, Found, SALT_LEN, StoredBackupCodes, StoredCode, display_form, hash_code,
    random_code,
};
use crate::error::Result;
use crate::keys::Keyring;

/// A new code for the place of the used code at `index`: stored form and
/// plaintext.
pub(crate) struct Reissue {
    index: usize,
    /// The salt of the code it replaces, which tells that code from any
    /// other (of this set or a later one).
    replaces: [u8; SALT_LEN],
    code: StoredCode,
    plain: BackupCode,
}

impl std::fmt::Debug for Reissue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reissue")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl StoredBackupCodes {
    /// A new code for the place of the code `found` names, with one Argon2
    /// evaluation; `None` for a legacy code or an imported set, which are
    /// not topped up (their codes have another shape: regenerate them).
    ///
    /// # Errors
    /// [`Error::UnknownKey`](crate::Error::UnknownKey) if the set's pepper is
    /// not in the keyring.
    pub(crate) fn reissue<R: CryptoRng + ?Sized>(
        &self,
        found: &Found,
        keyring: &Keyring,
        rng: &mut R,
    ) -> Result<Option<Reissue>> {
        let Found::Code { index, salt } = found else {
            return Ok(None);
        };
        let Some(used) = self.codes.get(*index).filter(|_| self.imported.is_none()) else {
            return Ok(None);
        };
        let mut input = random_code(self.strength, rng);
        input.chars[..used.locator.len()].copy_from_slice(&used.locator);
        let mut new_salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut new_salt);
        let hash = hash_code(
            keyring,
            self.key_id,
            &self.argon2,
            input.significant(),
            &new_salt,
        )?;
        Ok(Some(Reissue {
            index: *index,
            replaces: *salt,
            code: StoredCode {
                locator: used.locator,
                salt: new_salt,
                hash: *hash,
                used_at: None,
            },
            plain: display_form(&input),
        }))
    }

    /// Puts `reissue` in the place of the code it replaces, if that code is
    /// still there and used (just redeemed); returns the new code's
    /// plaintext, to show once.
    pub(crate) fn apply_reissue(&mut self, reissue: &Reissue) -> Option<BackupCode> {
        let slot = self.codes.get_mut(reissue.index)?;
        if slot.salt != reissue.replaces || slot.used_at.is_none() {
            return None;
        }
        *slot = reissue.code.clone();
        Some(BackupCode {
            text: reissue.plain.text,
            strength: reissue.plain.strength,
        })
    }
}
