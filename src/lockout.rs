//! Consecutive-failure counting and lockout (NIST 800-63B §5.2.2).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How failures lock a factor.
///
/// Default: the 5th consecutive failure locks the factor for 30 s, and each
/// further failure locks it for twice as long as the one before, up to 15 min;
/// after 100 consecutive failures every code is refused until
/// an operator unlocks it
/// ([`MfaEnrollment::operator_unlock`](crate::MfaEnrollment::operator_unlock)).
/// While locked, even a correct code is refused, and a success resets the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockoutPolicy {
    /// The consecutive failure that starts the first lock (default 5): the
    /// failures before it are not delayed.
    pub lock_after_failures: u32,
    /// The first delay, in seconds.
    pub base_delay_secs: u64,
    /// The longest delay, in seconds.
    pub max_delay_secs: u64,
    /// Consecutive failures after which the factor refuses every code until reset
    /// (at most 100, NIST 800-63B §5.2.2).
    pub max_consecutive_failures: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            lock_after_failures: 5,
            base_delay_secs: 30,
            max_delay_secs: 15 * 60,
            max_consecutive_failures: 100,
        }
    }
}

impl LockoutPolicy {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_consecutive_failures == 0 || self.max_consecutive_failures > 100 {
            return Err(Error::InvalidConfig(
                "the hard failure limit is 1 to 100 (NIST SP 800-63B-4 RL-2)",
            ));
        }
        if self.base_delay_secs > self.max_delay_secs {
            return Err(Error::InvalidConfig(
                "the base delay exceeds the maximum delay",
            ));
        }
        Ok(())
    }

    /// The delay imposed after the `failures`-th consecutive failure.
    pub fn delay_after(&self, failures: u32) -> u64 {
        if failures < self.lock_after_failures.max(1) {
            return 0;
        }
        let doublings = failures - self.lock_after_failures.max(1);
        let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
        self.base_delay_secs
            .saturating_mul(factor)
            .min(self.max_delay_secs)
    }
}

/// The failure counter of a factor, saved with it so that concurrent requests
/// cannot race past it (invariant I4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempts {
    /// Consecutive failed attempts.
    failures: u32,
    /// Unix time before which every code is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locked_until: Option<u64>,
}

impl Attempts {
    /// Consecutive failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Refuses the attempt if the factor is locked at `now`.
    pub(crate) fn check(&self, policy: &LockoutPolicy, now: u64) -> Result<()> {
        if self.failures >= policy.max_consecutive_failures {
            return Err(Error::LockedOut { retry_after: None });
        }
        match self.locked_until {
            Some(until) if now < until => Err(Error::LockedOut {
                retry_after: Some(until - now),
            }),
            _ => Ok(()),
        }
    }

    /// The lock in force at `now`, if any.
    pub(crate) fn locked(&self, policy: &LockoutPolicy, now: u64) -> Option<Lock> {
        match self.check(policy, now) {
            Err(Error::LockedOut {
                retry_after: Some(secs),
            }) => Some(Lock::For(secs)),
            Err(Error::LockedOut { retry_after: None }) => Some(Lock::UntilReset),
            _ => None,
        }
    }

    /// Counts a failure; returns the lock it starts, if any.
    pub(crate) fn record_failure(&mut self, policy: &LockoutPolicy, now: u64) -> Option<Lock> {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= policy.max_consecutive_failures {
            self.locked_until = None;
            return Some(Lock::UntilReset);
        }
        let delay = policy.delay_after(self.failures);
        if delay == 0 {
            return None;
        }
        self.locked_until = Some(now.saturating_add(delay));
        Some(Lock::For(delay))
    }

    /// Clears the counter after a success or an administrative reset.
    pub(crate) fn reset(&mut self) {
        *self = Attempts::default();
    }
}

/// A lock on a factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Codes are refused for this many more seconds.
    For(u64),
    /// The hard limit was reached: codes are refused until a reset.
    UntilReset,
}

impl Lock {
    /// Seconds until codes are accepted again; `None` until a reset.
    pub(crate) fn retry_after(self) -> Option<u64> {
        match self {
            Lock::For(secs) => Some(secs),
            Lock::UntilReset => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule() {
        let p = LockoutPolicy::default();
        let delays: Vec<u64> = (1..=12).map(|f| p.delay_after(f)).collect();
        assert_eq!(delays, [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(p.delay_after(u32::MAX), 900);
    }

    #[test]
    fn locks_and_hard_stop() {
        let p = LockoutPolicy::default();
        let mut a = Attempts::default();
        let mut now = 1000;
        for _ in 0..4 {
            assert_eq!(a.record_failure(&p, now), None);
            a.check(&p, now).unwrap();
        }
        assert_eq!(a.record_failure(&p, now), Some(Lock::For(30)));
        assert!(matches!(
            a.check(&p, now + 29),
            Err(Error::LockedOut {
                retry_after: Some(1)
            })
        ));
        a.check(&p, now + 30).unwrap();
        for _ in 5..99 {
            now += 1000;
            a.record_failure(&p, now);
        }
        assert_eq!(a.record_failure(&p, now), Some(Lock::UntilReset));
        assert!(matches!(
            a.check(&p, u64::MAX),
            Err(Error::LockedOut { retry_after: None })
        ));
        a.reset();
        a.check(&p, now).unwrap();
    }
}
