//! Argon2id: the cost parameters, and hashing one code with its salt and
//! the keyring's pepper, on pooled working memory.

use argon2::Argon2;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyId, Keyring};

use super::memory::with_memory;
use super::{HASH_LEN, SALT_LEN};

/// Argon2id cost parameters for backup-code hashes.
///
/// [`Argon2Params::default`] is OWASP's first recommendation (m = 19456 KiB,
/// t = 2, p = 1). [`Argon2Params::new`] refuses anything weaker than OWASP's
/// table; only [`Argon2Params::insecure_for_tests`] goes below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Params {
    #[serde(rename = "m")]
    m_cost: u32,
    #[serde(rename = "t")]
    t_cost: u32,
    #[serde(rename = "p")]
    p_cost: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            m_cost: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl Argon2Params {
    /// Parameters at least as strong as OWASP's table (memory ≥ 7 MiB and
    /// memory × passes ≥ 7168 KiB × 5).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for weaker or invalid parameters.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let asked = Argon2Params {
            m_cost: m_cost_kib,
            t_cost,
            p_cost,
        };
        if !asked.meets_owasp() {
            return Err(Error::InvalidConfig(
                "Argon2 parameters are below OWASP's recommendations",
            ));
        }
        Self::insecure_for_tests(m_cost_kib, t_cost, p_cost)
    }

    /// Whether these parameters are at least as strong as OWASP's table
    /// (memory ≥ 7 MiB and memory × passes ≥ 7168 KiB × 5), as
    /// [`Argon2Params::new`] demands.
    pub fn meets_owasp(&self) -> bool {
        self.m_cost >= 7_168 && u64::from(self.m_cost) * u64::from(self.t_cost) >= 7_168 * 5
    }

    /// **Insecure.** Any parameters Argon2 accepts, however weak: only for
    /// tests that are not about the parameters themselves.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if Argon2 itself refuses them.
    pub fn insecure_for_tests(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Argon2Params {
            m_cost: m_cost_kib,
            t_cost,
            p_cost,
        };
        params.argon2_params()?;
        if m_cost_kib > 4 * 1024 * 1024 {
            return Err(Error::InvalidConfig("Argon2 memory above 4 GiB"));
        }
        Ok(params)
    }

    /// Memory cost in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.m_cost
    }
    /// Number of passes.
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }
    /// Degree of parallelism.
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }

    pub(super) fn argon2_params(&self) -> Result<argon2::Params> {
        argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(HASH_LEN))
            .map_err(|_| Error::InvalidConfig("Argon2 refused the parameters"))
    }
}

pub(super) fn hash_code(
    keyring: &Keyring,
    key_id: KeyId,
    params: &Argon2Params,
    input: &[u8],
    salt: &[u8; SALT_LEN],
) -> Result<Zeroizing<[u8; HASH_LEN]>> {
    let argon = Argon2::new_with_secret(
        keyring.pepper(key_id)?,
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.argon2_params()?,
    )
    .map_err(|_| Error::Internal("Argon2 set-up failed"))?;
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    with_memory(argon.params().block_count(), |memory| {
        argon.hash_password_into_with_memory(input, salt, out.as_mut(), memory)
    })
    .map_err(|_| Error::Internal("Argon2 hashing failed"))?;
    Ok(out)
}
