//! Support for the feature-combination tests: a minimal executor, so that the
//! crate's service runs without tokio, and the whole flow every combination
//! must get through.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use mfa::totp::{self, TotpSecret};
use mfa::{
    KeyId, Keyring, LoginStep, MasterKey, MemoryStore, Mfa, MfaContext, MfaStore, Policy, Reauth,
};

/// Runs a future to completion on this thread by polling it. The crate's
/// service over `MemoryStore` without tokio never waits on anything, so
/// every poll makes progress.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// A context with cheap Argon2 parameters (the tests are not about them).
pub fn context() -> MfaContext {
    let mut policy = Policy::new("feature-tests");
    policy.backup_codes.argon2 = mfa::backup::Argon2Params::insecure_for_tests(64, 1, 1).unwrap();
    MfaContext::new(
        Keyring::new(KeyId(1), MasterKey::from_bytes([9; 32])),
        policy,
    )
    .unwrap()
}

/// The context the golden records were written under (the crate's
/// `testkit::test_config`: key id 1, 32 bytes of `0x42`), with cheap Argon2.
pub fn golden_context() -> MfaContext {
    let mut policy = Policy::new("mfa-tests");
    policy.backup_codes.argon2 = mfa::backup::Argon2Params::insecure_for_tests(64, 1, 1).unwrap();
    MfaContext::new(
        Keyring::new(KeyId(1), MasterKey::from_bytes([0x42; 32])),
        policy,
    )
    .unwrap()
}

/// The whole flow through `Mfa`: setup, confirm, a login through its
/// challenge, a backup code used once, regeneration on a recent proof,
/// disable. `now` is the wall clock of the service.
pub async fn whole_flow<S: MfaStore>(mfa: &Mfa<S>, user: &str) {
    let setup = mfa.begin_setup(user, "user@example.com").await.unwrap();
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let params = mfa.context().policy().totp.params();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = totp::generate(&secret, params, now).unwrap();
    let enabled = mfa.confirm_setup(user, &code).await.unwrap();
    let codes = enabled.backup_codes;
    assert_eq!(codes.len(), 10);
    let LoginStep::SecondFactor(challenge) = mfa.begin_login(user, None).await.unwrap() else {
        panic!("an active factor asks for a second step");
    };
    // The confirming step is used up.
    assert!(mfa.complete_login(&challenge, &code).await.is_err());
    let first = codes.as_strs()[0].to_owned();
    let verified = mfa.complete_login(&challenge, &first).await.unwrap();
    assert_eq!(verified.backup_codes_remaining, 9);
    assert!(
        matches!(
            mfa.complete_login(&challenge, codes.as_strs()[1]).await,
            Err(mfa::Error::InvalidChallenge)
        ),
        "a challenge completes once"
    );
    assert!(
        mfa.verify(user, &first).await.is_err(),
        "a backup code works once"
    );
    let fresh = mfa
        .regenerate_backup_codes(user, Reauth::RecentProof(&verified.proof))
        .await
        .unwrap();
    assert!(
        mfa.verify(user, codes.as_strs()[1]).await.is_err(),
        "old codes die"
    );
    let proof = mfa.disable(user, fresh.as_strs()[0]).await.unwrap();
    assert_ne!(
        proof.epoch, enabled.proof.epoch,
        "disabling moves the epoch on"
    );
    assert!(!mfa.status(user).await.unwrap().mfa_enabled);
}

/// The service over the in-memory store.
pub fn memory_service() -> Mfa<MemoryStore> {
    Mfa::new(MemoryStore::new(), context())
}
