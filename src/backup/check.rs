//! Checking an attempt against a stored set in two halves, so that the slow
//! one can run after the attempt was charged to the lockout (I16) and at
//! most once however often the operation is retried (I13):
//! [`StoredBackupCodes::find`] runs the slow hash and names the stored code
//! it matched; [`StoredBackupCodes::redeem`] marks that code used on the
//! record as it stands when the operation saves, with no hash at all.

use super::{Attempt, Lookup, SALT_LEN, StoredBackupCodes};
use crate::error::Result;
use crate::keys::Keyring;

/// What the slow hash of one attempt found: the identity of the stored code
/// it matched, so that a later record can be checked to hold that same code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// Nothing matched (or nothing was left to hash against).
    Nothing,
    /// The code at `index`, stored with `salt` (unique to that code).
    Code {
        /// Its place in the set.
        index: usize,
        /// Its salt, which tells it from any code of a later set.
        salt: [u8; SALT_LEN],
    },
    /// The legacy hash at `index`, as stored.
    Legacy {
        /// Its place among the legacy hashes.
        index: usize,
        /// The stored hash, which tells it from any other.
        hash: String,
    },
}

impl StoredBackupCodes {
    /// Runs the slow hash of `input` against this set: one Argon2
    /// evaluation for the candidate its locator names, or one legacy hash
    /// per unused legacy code; none when nothing could match.
    ///
    /// # Errors
    /// [`Error::UnknownKey`](crate::Error::UnknownKey) if the set's pepper is
    /// not in the keyring; those of opening a sealed devise pepper.
    pub(crate) fn find(&self, input: &Attempt, keyring: &Keyring, user_id: &str) -> Result<Found> {
        Ok(match self.lookup(input, keyring)? {
            Lookup::NoMatch | Lookup::Used => Found::Nothing,
            Lookup::Candidate(index) if self.verify(index, input, keyring)? => Found::Code {
                index,
                salt: self.codes[index].salt,
            },
            Lookup::Candidate(_) => Found::Nothing,
            Lookup::Legacy => {
                let (Attempt::Foreign(code), Some(imported)) = (input, &self.imported) else {
                    return Ok(Found::Nothing);
                };
                match imported.verify_legacy(code, keyring, user_id)? {
                    Some(index) => Found::Legacy {
                        index,
                        hash: imported.legacy()[index].hash.clone(),
                    },
                    None => Found::Nothing,
                }
            }
        })
    }

    /// Marks the code `found` names used at `now`, if this set still holds
    /// it unused. Returns whether it was a legacy code, or `None` when
    /// nothing was redeemed (nothing found, or the code is used or gone).
    pub(crate) fn redeem(&mut self, found: &Found, now: u64) -> Option<bool> {
        match found {
            Found::Nothing => None,
            Found::Code { index, salt } => {
                let code = self.codes.get_mut(*index)?;
                if code.used_at.is_some() || code.salt != *salt {
                    return None;
                }
                code.used_at = Some(now);
                Some(false)
            }
            Found::Legacy { index, hash } => {
                let stored = self.imported.as_mut()?.legacy_mut().get_mut(*index)?;
                if stored.used_at.is_some() || stored.hash != *hash {
                    return None;
                }
                stored.used_at = Some(now);
                Some(true)
            }
        }
    }
}
