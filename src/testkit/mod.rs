//! Test support for hosts and store implementers (feature `testkit`).
//!
//! - [`conformance`]: the suite every [`MfaStore`](crate::MfaStore) must pass;
//! - [`faults`]: [`FaultyStore`], a store wrapper that fails scripted operations;
//! - [`every_error`]: one value of every error variant;
//! - [`fixtures`]: a user enrolled through the public transitions;
//! - [`legacy`]: backup-code hashes as devise-two-factor and GitLab write them;
//! - [`ManualClock`]: a clock tests move by hand;
//! - [`proof_of`]: a proof as a host kept it, for records a test did not verify;
//! - [`strategies`]: proptest strategies for the crate's types;
//! - [`test_config`]: a configuration with fast (insecure) Argon2 parameters;
//! - [`argon2_evaluations`], [`legacy_hash_evaluations`]: the process's slow
//!   hashes, for tests of bounded work.

pub mod conformance;
mod errors;
pub mod faults;
pub mod fixtures;
pub mod legacy;
pub mod strategies;

pub use errors::every_error;
pub use faults::{FaultyStore, LoadFault, SaveFault};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backup::Argon2Params;
use crate::keys::{KeyId, Keyring, MasterKey};
use crate::policy::{MfaContext, Policy};
use crate::service::Clock;

/// How many Argon2 evaluations this process has run so far: backup codes
/// hashed and checked. Tests of bounded work (I13) compare it before and
/// after an operation; other tests of the same process hashing at the same
/// time add to it.
pub fn argon2_evaluations() -> u64 {
    crate::backup::evaluations()
}

/// How many legacy backup-code hashes (bcrypt, PBKDF2 of imported sets)
/// this process has checked so far, as [`argon2_evaluations`] counts Argon2.
pub fn legacy_hash_evaluations() -> u64 {
    crate::backup::legacy_evaluations()
}

/// How many passkey assertions this process has checked (signatures
/// verified), as [`argon2_evaluations`] counts Argon2: the slow half of an
/// assertion that charge-first (I16) bounds.
#[cfg(feature = "passkeys")]
#[cfg_attr(docsrs, doc(cfg(feature = "passkeys")))]
pub fn passkey_verifications() -> u64 {
    crate::passkey::verifications()
}

/// A proof of `user_id` as a host would have kept it in a session: for
/// tests that need a proof of a record they did not verify (a fuzzed one,
/// say). Never a way to skip verification in a host.
pub fn proof_of(
    user_id: &str,
    method: crate::session::ProofMethod,
    verified_at: u64,
    epoch: crate::session::Epoch,
) -> crate::session::Proof {
    crate::session::Proof::new(method, verified_at, epoch, user_id)
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(now)))
    }
    /// Sets the time (backwards too).
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
    /// Moves the time forward.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    /// The time shown.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.get()
    }
}

/// **Insecure.** A configuration for tests: a fixed key (id 1) and Argon2 at
/// 64 KiB and one pass, so that tests that are not about Argon2 run fast.
pub fn test_config() -> MfaContext {
    test_config_with(|_| {})
}

/// [`test_config`] with the policy adjusted by `adjust`.
pub fn test_config_with(adjust: impl FnOnce(&mut Policy)) -> MfaContext {
    let mut policy = Policy::new("mfa-tests");
    policy.backup_codes.argon2 = Argon2Params::insecure_for_tests(64, 1, 1).expect("valid");
    adjust(&mut policy);
    let ctx = MfaContext::new(test_keyring(), policy).expect("valid test policy");
    #[cfg(feature = "passkeys")]
    let ctx = ctx.with_relying_party(
        crate::passkey::RelyingParty::new(TEST_RP_ID, "mfa-tests", &[TEST_ORIGIN])
            .expect("valid test relying party"),
    );
    ctx
}

/// The relying party id of [`test_config`] (with the `passkeys` feature).
pub const TEST_RP_ID: &str = "localhost";

/// The one origin [`test_config`] allows passkeys from.
pub const TEST_ORIGIN: &str = "http://localhost:8080";

/// The keyring of [`test_config`]: key id 1, 32 bytes of `0x42`.
pub fn test_keyring() -> Keyring {
    Keyring::new(KeyId(1), MasterKey::from_bytes([0x42; 32]))
}
