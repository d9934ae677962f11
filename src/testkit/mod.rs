//! Test support for hosts and store implementers (feature `testkit`).
//!
//! - [`conformance`]: the suite every [`MfaStore`](crate::MfaStore) must pass;
//! - [`faults`]: [`FaultyStore`], a store wrapper that fails scripted operations;
//! - [`every_error`]: one value of every error variant;
//! - [`fixtures`]: a user enrolled through the public transitions;
//! - [`legacy`]: backup-code hashes as devise-two-factor and GitLab write them;
//! - [`ManualClock`]: a clock tests move by hand;
//! - [`strategies`]: proptest strategies for the crate's types;
//! - [`test_config`]: a configuration with fast (insecure) Argon2 parameters;
//! - [`argon2_evaluations`]: the process's Argon2 count, for tests of bounded work.

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
    MfaContext::new(test_keyring(), policy).expect("valid test policy")
}

/// The keyring of [`test_config`]: key id 1, 32 bytes of `0x42`.
pub fn test_keyring() -> Keyring {
    Keyring::new(KeyId(1), MasterKey::from_bytes([0x42; 32]))
}
