//! A password lock for an application on one process: every password check
//! is charged before the password is hashed (the `mfa` crate's I16), so
//! that concurrent requests buy no extra guesses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::problem::Problem;

/// Charged wrong passwords that lock a key (the charge that reaches it is
/// still let through).
const THRESHOLD: u32 = 5;
/// The first wait once a key is locked; each lock after it doubles, up to
/// [`MAX_DELAY`].
const BASE_DELAY: Duration = Duration::from_secs(30);
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// How long after its last charge and the end of its lock a count is forgotten.
const FORGET: Duration = Duration::from_secs(24 * 60 * 60);

/// Wrong passwords per key (an account's email or id), in this process's
/// memory: what an application on one process puts in front of its
/// password hash. Every check is charged *before* the hash
/// ([`PasswordLock::charge`]); the charge that brings a key's count to five
/// locks it at once (30 s, doubling with each lock after, at most 15
/// minutes), so that of any number of concurrent wrong passwords at most
/// five are hashed, and the rest answer 429 `TOO_MANY_ATTEMPTS` with
/// `Retry-After` unhashed. A right password gives back its own charge and
/// nothing else. An unknown account must be charged and hashed like a known
/// one, so that the answer tells nothing about which accounts exist.
///
/// Servers that share a database share their lock there instead (the
/// repository's example server keeps it in SQL).
///
/// ```
/// # async fn hash_and_compare(_: &str) -> bool { false }
/// # async fn check() -> Result<(), mfa_axum::Problem> {
/// let lock = mfa_axum::PasswordLock::new();
/// let charge = lock.charge("alice@example.com")?; // before the hash
/// let right = hash_and_compare("the password").await;
/// charge.settle(right);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PasswordLock {
    counts: Arc<Mutex<HashMap<String, Count>>>,
    base_delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Count {
    charged: u32,
    locks: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

/// One charged password check: [`settle`](PasswordCharge::settle) it with
/// the outcome. A charge that reaches the threshold locks the key at once
/// (so that concurrent checks wait); a right password lifts that lock again. Dropped unsettled (the request went away mid-hash), it stays
/// counted, as a wrong password would.
#[derive(Debug)]
#[must_use = "settle the charge with the password's outcome"]
pub struct PasswordCharge {
    lock: PasswordLock,
    key: String,
    /// The key's lock before this charge, when this charge locked it.
    locked: Option<(Option<Instant>, u32, Instant)>,
}

impl PasswordLock {
    /// An empty lock.
    pub fn new() -> Self {
        PasswordLock {
            counts: Arc::default(),
            base_delay: BASE_DELAY,
        }
    }

    /// **Tests and demos only**: the first wait once a key is locked is
    /// `delay` instead of 30 s (each later lock still doubles it). A short
    /// wait lets a password guesser try more often; never in production.
    pub fn with_insecure_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// Charges one password check of `key`, before the password is hashed.
    ///
    /// # Errors
    /// 429 `TOO_MANY_ATTEMPTS` with `Retry-After` while `key` is locked:
    /// then do not hash the password.
    pub fn charge(&self, key: &str) -> Result<PasswordCharge, Problem> {
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.len() > 10_000 {
            counts.retain(|_, c| c.locked_until.is_some_and(|t| t > now) || now - c.last < FORGET);
        }
        let count = counts.entry(key.to_owned()).or_insert(Count {
            charged: 0,
            locks: 0,
            locked_until: None,
            last: now,
        });
        if count.locked_until.is_none_or(|t| t <= now) && now - count.last >= FORGET {
            *count = Count {
                charged: 0,
                locks: 0,
                locked_until: None,
                last: now,
            };
        }
        if let Some(until) = count.locked_until.filter(|t| *t > now) {
            let secs = (until - now).as_secs_f64().ceil() as u64;
            return Err(too_many_attempts(secs.max(1)));
        }
        count.charged += 1;
        count.last = now;
        let mut locked = None;
        if count.charged >= THRESHOLD {
            let delay = self.base_delay.saturating_mul(1 << count.locks.min(5));
            let until = now + delay.min(MAX_DELAY);
            locked = Some((count.locked_until, count.locks, until));
            count.locked_until = Some(until);
            count.locks += 1;
        }
        Ok(PasswordCharge {
            lock: self.clone(),
            key: key.to_owned(),
            locked,
        })
    }

    /// Forgets `key`'s count and lock (an operator's unlock).
    pub fn clear(&self, key: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.remove(key);
    }
}

impl Default for PasswordLock {
    fn default() -> Self {
        PasswordLock::new()
    }
}

impl PasswordCharge {
    /// The check's outcome: a right password gives back this charge (and
    /// nothing else: wrong ones charged meanwhile stay counted); a wrong one
    /// stays counted.
    pub fn settle(self, right: bool) {
        if !right {
            return;
        }
        let mut counts = self
            .lock
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            count.charged = count.charged.saturating_sub(1);
            // The lock this charge set, unless a later charge locked again.
            if let Some((before, locks, until)) = self.locked
                && count.locked_until == Some(until)
            {
                count.locked_until = before;
                count.locks = locks;
            }
        }
    }
}

/// 429 `TOO_MANY_ATTEMPTS`: the password was not checked.
fn too_many_attempts(retry_after: u64) -> Problem {
    Problem::new(
        429,
        "TOO_MANY_ATTEMPTS",
        "Too many attempts",
        "Too many wrong passwords for this account; try again after the time in Retry-After.",
    )
    .with_retry_after(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_many_wrong_passwords_at_once_five_are_hashed() {
        let lock = PasswordLock::new();
        // Every request charges before any of them has hashed.
        let charges: Vec<_> = (0..50).map(|_| lock.charge("alice")).collect();
        let ahead = charges.iter().filter(|c| c.is_ok()).count();
        assert_eq!(ahead, THRESHOLD as usize);
        let refused = charges.iter().find_map(|c| c.as_ref().err()).unwrap();
        assert_eq!(
            (refused.status(), refused.code()),
            (429, "TOO_MANY_ATTEMPTS")
        );
        for charge in charges.into_iter().flatten() {
            charge.settle(false);
        }
        assert!(lock.charge("alice").is_err(), "still locked");
        assert!(lock.charge("bob").is_ok(), "another key is not");
    }

    #[test]
    fn a_right_password_gives_back_its_own_charge_only() {
        let lock = PasswordLock::new();
        for _ in 0..THRESHOLD - 1 {
            lock.charge("alice").unwrap().settle(false);
        }
        let right = lock.charge("alice").unwrap(); // the fifth: locks
        assert!(lock.charge("alice").is_err(), "while it is hashed");
        right.settle(true);
        // It lifted its own lock; four wrong ones stay counted: the next
        // wrong one locks again.
        let fifth = lock.charge("alice").unwrap();
        fifth.settle(false);
        assert!(lock.charge("alice").is_err());
        lock.clear("alice");
        assert!(lock.charge("alice").is_ok());
    }

    #[test]
    fn after_the_wait_a_right_password_goes_through_every_time() {
        let lock = PasswordLock::new();
        for _ in 0..THRESHOLD {
            lock.charge("alice").unwrap().settle(false);
        }
        let expire = |lock: &PasswordLock| {
            let mut counts = lock.counts.lock().unwrap();
            counts.get_mut("alice").unwrap().locked_until = Some(Instant::now());
        };
        expire(&lock);
        // Two right passwords in a row: neither leaves a lock behind.
        lock.charge("alice").unwrap().settle(true);
        lock.charge("alice").unwrap().settle(true);
        // A wrong one locks for twice the first wait.
        lock.charge("alice").unwrap().settle(false);
        let count = lock.counts.lock().unwrap()["alice"];
        assert_eq!(count.locked_until.unwrap() - count.last, BASE_DELAY * 2);
    }

    #[test]
    fn each_lock_doubles_the_wait() {
        let lock = PasswordLock::new();
        for _ in 0..THRESHOLD {
            lock.charge("alice").unwrap().settle(false);
        }
        let first = lock.counts.lock().unwrap()["alice"];
        assert_eq!(first.locked_until.unwrap() - first.last, BASE_DELAY);
        // The wait is over: the next charge goes ahead and locks for twice as long.
        lock.counts
            .lock()
            .unwrap()
            .get_mut("alice")
            .unwrap()
            .locked_until = Some(Instant::now());
        lock.charge("alice").unwrap().settle(false);
        let second = lock.counts.lock().unwrap()["alice"];
        assert_eq!(second.locked_until.unwrap() - second.last, BASE_DELAY * 2);
    }
}
