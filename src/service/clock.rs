//! The service's clock: the system's, or any the host (or a test) gives.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in unix seconds.
pub trait Clock: Send + Sync + 'static {
    /// Now, in seconds since the unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

impl<F: Fn() -> u64 + Send + Sync + 'static> Clock for F {
    fn now(&self) -> u64 {
        self()
    }
}
