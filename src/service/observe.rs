//! What each [`Mfa`](super::Mfa) operation tells about itself, for the
//! host's logs and dashboards: with the `tracing` feature a span per
//! operation, and with the `metrics` feature counters and histograms through
//! the `metrics` facade. Neither carries a secret, a code or a key: the
//! fields are the operation's name, the user id, the method (`totp`,
//! `backup_code`, `passkey`), the outcome (`ok` or the error's stable code)
//! and times.
//!
//! The metrics (the host installs an exporter, such as
//! `metrics-exporter-prometheus`):
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `mfa_operations_total` | counter | `operation`, `outcome` | every operation |
//! | `mfa_operation_seconds` | histogram | `operation` | its whole time |
//! | `mfa_verifications_total` | counter | `method`, `outcome` | second-factor checks (codes, passkeys, remembered devices) |
//! | `mfa_security_events_total` | counter | `event` | every [`SecurityEvent`], by its name |
//! | `mfa_lockouts_total` | counter | | locks started by failures |
//! | `mfa_store_seconds` | histogram | `call` (`load`, `save`) | each store call |
//! | `mfa_conflicts_total` | counter | `operation` | compare-and-swap conflicts, each retried |
//! | `mfa_hash_wait_seconds` | histogram | | the wait for a hashing permit |
//! | `mfa_hash_permits_in_use` | gauge | | hashing permits held now |

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::event::SecurityEvent;

/// One operation under way: what it is, and the times it adds up.
pub(super) struct Observation {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    operation: &'static str,
    /// `totp`, `backup_code` or `passkey` when the operation checks a second factor.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    method: Option<&'static str>,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    started: Instant,
    store_nanos: AtomicU64,
    hash_wait_nanos: AtomicU64,
    conflicts: AtomicU32,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Observation {
    /// Starts observing `operation` for `user_id`.
    pub(super) fn start(
        operation: &'static str,
        user_id: &str,
        method: Option<&'static str>,
    ) -> Self {
        #[cfg(not(feature = "tracing"))]
        let _ = user_id;
        Observation {
            operation,
            method,
            started: Instant::now(),
            store_nanos: AtomicU64::new(0),
            hash_wait_nanos: AtomicU64::new(0),
            conflicts: AtomicU32::new(0),
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(
                target: "mfa",
                "mfa",
                operation,
                user_id,
                method,
                outcome = tracing::field::Empty,
                store_ms = tracing::field::Empty,
                hash_wait_ms = tracing::field::Empty,
                conflicts = tracing::field::Empty,
            ),
        }
    }

    /// The span the operation runs in (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub(super) fn span(&self) -> tracing::Span {
        self.span.clone()
    }

    /// Times one store call, `load` or `save`.
    pub(super) async fn store<T>(&self, call: &'static str, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = work.await;
        let took = started.elapsed();
        self.store_nanos.fetch_add(nanos(took), Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::histogram!("mfa_store_seconds", "call" => call).record(took);
        #[cfg(not(feature = "metrics"))]
        let _ = call;
        out
    }

    /// The wait for a hashing permit just ended.
    pub(super) fn waited_for_permit(&self, took: Duration) {
        self.hash_wait_nanos
            .fetch_add(nanos(took), Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::histogram!("mfa_hash_wait_seconds").record(took);
    }

    /// A compare-and-swap conflict: the operation runs its round again.
    pub(super) fn conflict(&self) {
        self.conflicts.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("mfa_conflicts_total", "operation" => self.operation).increment(1);
    }

    /// A security event the operation reports, once its state is saved.
    pub(super) fn event(&self, event: &SecurityEvent) {
        count_event(event);
    }

    /// The operation ended with `result`.
    pub(super) fn finish<T>(&self, result: &Result<T>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        #[cfg(feature = "tracing")]
        {
            let ms = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64 / 1e6;
            self.span.record("outcome", outcome);
            self.span.record("store_ms", ms(&self.store_nanos));
            self.span.record("hash_wait_ms", ms(&self.hash_wait_nanos));
            self.span
                .record("conflicts", self.conflicts.load(Ordering::Relaxed));
        }
        #[cfg(feature = "metrics")]
        {
            let operation = self.operation;
            metrics::counter!("mfa_operations_total", "operation" => operation, "outcome" => outcome)
                .increment(1);
            metrics::histogram!("mfa_operation_seconds", "operation" => operation)
                .record(self.started.elapsed());
            if let Some(method) = self.method {
                verification(method, outcome);
            }
        }
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        let _ = outcome;
    }
}

/// Counts one security event (and a lock among them).
pub(super) fn count_event(event: &SecurityEvent) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("mfa_security_events_total", "event" => event.name()).increment(1);
        if matches!(event, SecurityEvent::LockoutStarted { .. }) {
            metrics::counter!("mfa_lockouts_total").increment(1);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = event;
}

/// Counts one second-factor check: `method` with `outcome` (`ok` or the
/// error's code).
pub(super) fn verification(method: &'static str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mfa_verifications_total", "method" => method, "outcome" => outcome)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (method, outcome);
}

/// The method a submitted code is checked as, by its shape: digits (and
/// spaces) are a TOTP code, anything else a backup code, as
/// [`Mfa::verify`](super::Mfa::verify) tells them apart.
pub(super) fn code_method(code: &str) -> &'static str {
    if crate::totp::TotpCode::is_shaped(code) {
        "totp"
    } else {
        "backup_code"
    }
}

/// The hashing permits held now (feature `metrics`): one more while a
/// permit lives.
pub(super) struct PermitGauge;

impl PermitGauge {
    pub(super) fn held() -> Self {
        #[cfg(feature = "metrics")]
        metrics::gauge!("mfa_hash_permits_in_use").increment(1.0);
        PermitGauge
    }
}

impl Drop for PermitGauge {
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        metrics::gauge!("mfa_hash_permits_in_use").decrement(1.0);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
