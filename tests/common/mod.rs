//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod passkey;

use std::sync::{Arc, Mutex};

use mfa::testkit::{ManualClock, test_config, test_config_with};
use mfa::{
    MemoryStore, Mfa, MfaStore, Policy,
    event::SecurityEvent,
    totp::{self, TotpParams, TotpSecret},
};

pub const T0: u64 = 1_700_000_000;

/// A service over `store` with a manual clock at `T0` and an event log.
pub struct Harness<S> {
    pub mfa: Arc<Mfa<S>>,
    pub clock: ManualClock,
    pub events: Arc<Mutex<Vec<(String, SecurityEvent)>>>,
}

impl Harness<Arc<MemoryStore>> {
    pub fn memory() -> Self {
        Self::new(Arc::new(MemoryStore::new()), |_| {})
    }
}

impl<S: MfaStore + 'static> Harness<S> {
    pub fn new(store: S, adjust: impl FnOnce(&mut Policy)) -> Self {
        let clock = ManualClock::new(T0);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let mfa = Mfa::new(store, test_config_with(adjust))
            .with_clock(clock.clone())
            .with_event_sink(move |user: &str, e: &SecurityEvent| {
                sink.lock().unwrap().push((user.to_owned(), e.clone()))
            });
        Harness {
            mfa: Arc::new(mfa),
            clock,
            events,
        }
    }

    /// Begins and confirms setup; returns the secret and the backup codes.
    pub async fn enroll(&self, user: &str) -> (TotpSecret, Vec<String>) {
        let setup = self
            .mfa
            .begin_setup(user, "user@example.com")
            .await
            .unwrap();
        let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
        let code = self.code(&secret);
        let enabled = self.mfa.confirm_setup(user, &code).await.unwrap();
        let codes = enabled
            .backup_codes
            .as_strs()
            .into_iter()
            .map(str::to_owned)
            .collect();
        // The confirming step is used: move to the next one.
        self.clock.advance(30);
        (secret, codes)
    }

    /// The current TOTP code.
    pub fn code(&self, secret: &TotpSecret) -> String {
        totp::generate(secret, TotpParams::default(), self.clock.get()).unwrap()
    }

    pub fn events_for(&self, user: &str) -> Vec<SecurityEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// A code that is certainly wrong for `secret` at `now` (±1 step).
pub fn wrong_code(secret: &TotpSecret, now: u64) -> String {
    let window: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| totp::generate(secret, TotpParams::default(), *t).unwrap())
        .collect();
    (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .unwrap()
}

pub fn config() -> mfa::MfaContext {
    test_config()
}
