//! Argon2id password hashing: PHC strings with the `argon2` crate's defaults
//! (m = 19456 KiB, t = 2, p = 1), on tokio's blocking pool, a bounded number
//! at once, in working memory that is reused from one hash to the next.
//!
//! Two things keep a flood of logins from growing the process, whatever the
//! clients do:
//!
//! - The permit moves into the blocking job. A client that hangs up drops
//!   its request's future, but its hash runs on and holds the permit until
//!   it is done, so no more than one hash per CPU ever runs at once; and a
//!   request whose client hangs up before it gets a permit gives up its place
//!   (`connections::unless_hung_up`), so abandoned logins never queue.
//! - Each hash borrows one of at most that many 19 MiB buffers instead of
//!   allocating its own. Allocated per hash, freed buffers stay resident in
//!   glibc's per-thread arenas, so memory would grow with the number of
//!   blocking threads that ever hashed rather than with the number hashing
//!   at once. A buffer is wiped before it is returned (the crate's backup
//!   codes do the same: `src/backup/memory.rs`).

use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::{Zeroize, Zeroizing};

use crate::connections::unless_hung_up;
use crate::error::ApiError;
use crate::users::{Secret, User};

/// Password hashing on the blocking pool, at most one per CPU at once.
pub struct Passwords {
    hasher: Arc<Hasher>,
    /// Verified against when the email is unknown, so that a login for an
    /// unknown email costs as much as one for a known email.
    dummy_hash: Arc<str>,
}

/// What a blocking job needs: the bound and the buffers it shares.
struct Hasher {
    permits: Arc<Semaphore>,
    /// How many permits there are: the most hashes that run at once.
    capacity: usize,
    /// Wiped working memory, at most one buffer per permit.
    memory: Mutex<Vec<Vec<Block>>>,
}

impl Passwords {
    pub async fn new() -> Result<Self, ApiError> {
        let capacity = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hasher = Arc::new(Hasher {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            memory: Mutex::new(Vec::new()),
        });
        let dummy: [u8; 16] = rand::random();
        let dummy = Secret::new(dummy.iter().map(|b| format!("{b:02x}")).collect());
        let dummy_hash = Hasher::run(&hasher, move |h| h.hash(&dummy))
            .await?
            .ok_or_else(|| ApiError::internal("a password could not be hashed"))?;
        Ok(Passwords {
            hasher,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string of a new hash of `password`.
    pub async fn hash(&self, password: &Secret) -> Result<String, ApiError> {
        let password = Secret::new(password.expose().to_owned());
        Hasher::run(&self.hasher, move |h| h.hash(&password))
            .await?
            .ok_or_else(|| ApiError::internal("a password could not be hashed"))
    }

    /// Whether `password` is the user's (with no user, the same work and
    /// no), once a hashing permit is free and `charge` let the attempt
    /// through: the charge runs holding the permit, before the hash (I16),
    /// so a request still waiting for a permit, or whose client hung up
    /// while it waited, has written nothing, and charges come no faster than
    /// hashes can. A refused charge's error is returned without a hash.
    pub async fn verify_charged<C>(
        &self,
        password: &Secret,
        user: Option<&User>,
        charge: impl Future<Output = Result<C, ApiError>>,
    ) -> Result<(bool, C), ApiError> {
        let hash: Arc<str> = match user {
            Some(u) => u.password_hash().into(),
            None => Arc::clone(&self.dummy_hash),
        };
        let password = Secret::new(password.expose().to_owned());
        let permit = Hasher::permit(&self.hasher).await?;
        let charged = charge.await?;
        let ok =
            Hasher::run_with(&self.hasher, permit, move |h| h.verify(&password, &hash)).await?;
        Ok((ok && user.is_some(), charged))
    }
}

impl Hasher {
    /// Runs `job` on the blocking pool once a permit is free. The permit
    /// moves into the job: dropping the returned future (a client hung up)
    /// leaves the job running and its permit taken until it is done.
    async fn run<T: Send + 'static>(
        hasher: &Arc<Self>,
        job: impl FnOnce(&Hasher) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = Self::permit(hasher).await?;
        Self::run_with(hasher, permit, job).await
    }

    /// A hashing permit, once one is free. A client that hangs up while
    /// waiting gives up its place: only hashes that have started outlive
    /// their clients.
    async fn permit(hasher: &Arc<Self>) -> Result<OwnedSemaphorePermit, ApiError> {
        unless_hung_up(Arc::clone(&hasher.permits).acquire_owned())
            .await
            .ok_or_else(ApiError::client_gone)?
            .map_err(|_| ApiError::internal("the password limiter was closed"))
    }

    /// Runs `job` on the blocking pool under `permit`, which moves into it.
    async fn run_with<T: Send + 'static>(
        hasher: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        job: impl FnOnce(&Hasher) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let hasher = Arc::clone(hasher);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job(&hasher)
        })
        .await
        .map_err(|_| ApiError::internal("a password task failed"))
    }

    /// Argon2 into `out` with a pooled buffer, wiped before it goes back.
    fn argon2(&self, argon2: &Argon2<'_>, password: &Secret, salt: &[u8], out: &mut [u8]) -> bool {
        let blocks = argon2.params().block_count();
        let pooled = {
            let mut pool = self.memory.lock().unwrap_or_else(|p| p.into_inner());
            let found = pool.iter().position(|b| b.len() == blocks);
            found.map(|i| pool.swap_remove(i))
        };
        let mut memory = pooled.unwrap_or_else(|| vec![Block::default(); blocks]);
        let ok = argon2
            .hash_password_into_with_memory(password.expose().as_bytes(), salt, out, &mut memory)
            .is_ok();
        memory.iter_mut().for_each(Zeroize::zeroize);
        let mut pool = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.capacity {
            pool.push(memory);
        }
        ok
    }

    /// A new PHC string: Argon2id v19 with the default parameters and a
    /// random 128-bit salt.
    fn hash(&self, password: &Secret) -> Option<String> {
        let params = Params::default();
        let salt = Salt::generate();
        let mut out = Zeroizing::new([0u8; Params::DEFAULT_OUTPUT_LEN]);
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        if !self.argon2(&argon2, password, salt.as_ref(), &mut *out) {
            return None;
        }
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).ok()?,
            salt: Some(salt),
            hash: Some(Output::new(&*out).ok()?),
        };
        Some(phc.to_string())
    }

    /// Whether `password` hashes to the PHC string `phc`, with the
    /// algorithm, version, parameters and salt it names.
    fn verify(&self, password: &Secret, phc: &str) -> bool {
        let Ok(phc) = PasswordHash::new(phc) else {
            return false;
        };
        let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
            Algorithm::try_from(phc.algorithm.as_str()),
            Params::try_from(&phc),
            phc.salt,
            phc.hash,
        ) else {
            return false;
        };
        let version = match phc.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        let argon2 = Argon2::new(algorithm, version, params);
        self.argon2(&argon2, password, salt.as_ref(), &mut out)
            && bool::from(out.ct_eq(expected.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Hasher {
        Hasher {
            permits: Arc::new(Semaphore::new(1)),
            capacity: 1,
            memory: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn a_hash_verifies_with_the_argon2_crate_and_the_other_way_round() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let h = hasher();
        let ours = h.hash(&Secret::new("correct horse".into())).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &*ours)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horsf", &*ours)
                .is_err()
        );

        let theirs = Argon2::default()
            .hash_password(b"battery staple")
            .unwrap()
            .to_string();
        assert!(h.verify(&Secret::new("battery staple".into()), &theirs));
        assert!(!h.verify(&Secret::new("battery stapl".into()), &theirs));
        assert!(!h.verify(&Secret::new("battery staple".into()), "not a phc string"));
        // Other parameters are read from the string.
        let light = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        )
        .hash_password(b"x")
        .unwrap()
        .to_string();
        assert!(h.verify(&Secret::new("x".into()), &light));
    }

    #[test]
    fn buffers_are_reused_and_wiped() {
        let h = hasher();
        for _ in 0..3 {
            h.hash(&Secret::new("pw".into())).unwrap();
        }
        let pool = h.memory.lock().unwrap();
        assert_eq!(pool.len(), 1, "one buffer serves one hash at a time");
        assert!(pool[0].iter().all(|b| b.as_ref().iter().all(|&w| w == 0)));
    }
}
