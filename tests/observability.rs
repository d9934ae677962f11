//! What the service tells about itself (features `tracing` and `metrics`):
//! every security event as a `tracing` event whose fields are exactly the
//! event's serialized fields, a span per operation with its outcome, store
//! time, hashing wait and conflicts, and the metrics a dashboard reads —
//! never a secret, a code or a key in any of it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use mfa::event::{SecurityEvent, TracingSink};
use mfa::testkit::{FaultyStore, ManualClock, SaveFault, test_config};
use mfa::totp::{self, TotpMatch, TotpParams, TotpSecret};
use mfa::{MemoryStore, Mfa};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const T0: u64 = 1_700_000_000;

/// Field values as text, by name.
type Fields = BTreeMap<String, String>;

#[derive(Debug, Clone)]
struct Captured {
    target: String,
    level: tracing::Level,
    fields: Fields,
    /// The fields of the innermost span the event happened in.
    span: Option<Fields>,
}

/// Keeps every event and every span's fields (as they end).
#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
    spans: Arc<Mutex<Vec<Fields>>>,
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        values.record(&mut Collect(extensions.get_mut::<Fields>().unwrap()));
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Collect(&mut fields));
        let span = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<Fields>().cloned());
        self.events.lock().unwrap().push(Captured {
            target: event.metadata().target().into(),
            level: *event.metadata().level(),
            fields,
            span,
        });
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        if let Some(fields) = span.extensions().get::<Fields>() {
            self.spans.lock().unwrap().push(fields.clone());
        }
    }
}

/// One of each security event, with made-up values.
fn every_event() -> Vec<SecurityEvent> {
    let matched = SecurityEvent::TotpAccepted(TotpMatch {
        step: 56_666_666,
        drift: -1,
    });
    let passkey = || "pk_0123".to_owned();
    vec![
        SecurityEvent::SetupStarted { expires_at: 5 },
        SecurityEvent::FactorEnabled,
        SecurityEvent::FactorDisabled,
        SecurityEvent::FactorImported {
            backup_codes: 3,
            legacy_backup_codes: 2,
        },
        matched,
        SecurityEvent::BackupCodeUsed { remaining: 9 },
        SecurityEvent::BackupCodesRunningLow { remaining: 2 },
        SecurityEvent::BackupCodeReissued,
        SecurityEvent::LegacyBackupCodeUsed {
            legacy_remaining: 1,
        },
        SecurityEvent::BackupCodesRegenerated { count: 10 },
        SecurityEvent::AttemptFailed {
            consecutive_failures: 4,
        },
        SecurityEvent::LockoutStarted {
            retry_after: Some(30),
            consecutive_failures: 5,
        },
        SecurityEvent::OperatorUnlocked {
            actor: "ops@example.com".into(),
            reason: "called \"support\"".into(),
        },
        SecurityEvent::OperatorReset {
            actor: "ops".into(),
            reason: "lost phone".into(),
        },
        SecurityEvent::ReplayRefused { step: 7 },
        SecurityEvent::SecretReencrypted,
        SecurityEvent::ReplacementStarted { expires_at: 8 },
        SecurityEvent::AuthenticatorReplaced,
        SecurityEvent::DeviceRemembered {
            expires_at: 9,
            forgotten: 1,
        },
        SecurityEvent::RememberedDeviceLoginDuringLockout,
        SecurityEvent::DevicesForgotten { count: 2 },
        SecurityEvent::PasskeyAdded { passkey: passkey() },
        SecurityEvent::PasskeyRemoved { passkey: passkey() },
        SecurityEvent::PasskeyRenamed { passkey: passkey() },
        SecurityEvent::PasskeyUsed { passkey: passkey() },
        SecurityEvent::PasskeyCloneSuspected { passkey: passkey() },
    ]
}

/// The event's serialized fields as text, `event` named `security_event`.
fn serialized(event: &SecurityEvent) -> Fields {
    let serde_json::Value::Object(map) = serde_json::to_value(event).unwrap() else {
        panic!("an event serializes to an object");
    };
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let key = if k == "event" {
                "security_event".into()
            } else {
                k
            };
            let text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (key, text)
        })
        .collect()
}

#[test]
fn each_event_is_traced_with_exactly_its_serialized_fields() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let events = every_event();
    tracing::subscriber::with_default(subscriber, || {
        for event in &events {
            mfa::event::EventSink::record(&TracingSink, "user-7", event);
        }
    });
    let traced = capture.events.lock().unwrap().clone();
    assert_eq!(traced.len(), events.len());
    for (event, traced) in events.iter().zip(&traced) {
        assert_eq!(traced.target, "mfa::security");
        let mut fields = traced.fields.clone();
        assert_eq!(fields.remove("user_id").as_deref(), Some("user-7"));
        assert_eq!(fields.remove("message").as_deref(), Some("security event"));
        assert_eq!(fields, serialized(event), "{event:?}");
        assert_eq!(traced.fields["security_event"], event.name());
        let warns = matches!(
            event,
            SecurityEvent::LockoutStarted { .. }
                | SecurityEvent::ReplayRefused { .. }
                | SecurityEvent::PasskeyCloneSuspected { .. }
                | SecurityEvent::RememberedDeviceLoginDuringLockout
        );
        let level = if warns {
            tracing::Level::WARN
        } else {
            tracing::Level::INFO
        };
        assert_eq!(traced.level, level, "{event:?}");
    }
}

fn service(
    store: Arc<FaultyStore<MemoryStore>>,
    clock: &ManualClock,
) -> Mfa<Arc<FaultyStore<MemoryStore>>> {
    Mfa::new(store, test_config())
        .with_clock(clock.clone())
        .with_event_sink(TracingSink)
}

fn code(secret: &TotpSecret, now: u64) -> String {
    totp::generate(secret, TotpParams::default(), now).unwrap()
}

/// Every value of every captured field and span, for looking for secrets.
fn everything(capture: &Capture) -> String {
    let events = capture.events.lock().unwrap();
    let spans = capture.spans.lock().unwrap();
    format!("{events:?}{spans:?}")
}

/// The whole flow in spans, and the metrics it leaves. The only test of
/// this binary that records metrics: the recorder is the process's.
#[test]
fn operations_are_spans_and_metrics_without_secrets() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = ManualClock::new(T0);
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let mfa = service(Arc::clone(&store), &clock);
    let user = "user-42";

    let (secret, backup_codes) = runtime.block_on(async {
        let setup = mfa.begin_setup(user, "alice@example.com").await.unwrap();
        let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
        let enabled = mfa.confirm_setup(user, &code(&secret, T0)).await.unwrap();
        let codes: Vec<String> = enabled
            .backup_codes
            .as_strs()
            .iter()
            .map(|c| c.to_string())
            .collect();
        (secret, codes)
    });
    let secret_text = secret.to_base32().to_string();
    runtime.block_on(async {
        clock.advance(30);
        // A wrong code, then a right one whose first save meets a conflict.
        let wrong = if code(&secret, T0 + 30) == "000000" {
            "111111"
        } else {
            "000000"
        };
        assert!(mfa.verify_totp(user, wrong).await.is_err());
        store.fail_save(1, SaveFault::Conflict);
        mfa.verify(user, &code(&secret, T0 + 30)).await.unwrap();
        // A backup code: charged first, then hashed under a permit.
        mfa.verify(user, &backup_codes[0]).await.unwrap();
        // Wrong codes up to the lock.
        for _ in 0..6 {
            let _ = mfa.verify_totp(user, wrong).await;
        }
    });
    drop(_default);

    // Spans: one per operation, with what it did.
    let spans = capture.spans.lock().unwrap().clone();
    let of = |operation: &str| -> Vec<Fields> {
        spans
            .iter()
            .filter(|s| s.get("operation").map(String::as_str) == Some(operation))
            .cloned()
            .collect()
    };
    let confirm = &of("confirm_setup")[0];
    assert_eq!(confirm["outcome"], "ok");
    assert_eq!(confirm["method"], "totp");
    assert_eq!(confirm["user_id"], user);
    assert!(confirm["store_ms"].parse::<f64>().unwrap() >= 0.0);
    let verifies = of("verify");
    assert_eq!(verifies.len(), 2);
    assert_eq!(verifies[0]["conflicts"], "1", "the scripted conflict");
    assert_eq!(verifies[0]["method"], "totp");
    assert_eq!(verifies[1]["method"], "backup_code");
    assert_eq!(verifies[1]["conflicts"], "0");
    assert!(verifies[1]["hash_wait_ms"].parse::<f64>().unwrap() >= 0.0);
    let failed: Vec<_> = of("verify_totp")
        .into_iter()
        .map(|s| s["outcome"].clone())
        .collect();
    assert_eq!(failed[0], "INVALID_CODE");
    assert!(failed.contains(&"LOCKED_OUT".to_owned()), "{failed:?}");

    // Each security event happened inside its operation's span.
    let events = capture.events.lock().unwrap().clone();
    let enabled = events
        .iter()
        .find(|e| e.fields.get("security_event").map(String::as_str) == Some("factor_enabled"))
        .expect("factor_enabled");
    assert_eq!(enabled.span.as_ref().unwrap()["operation"], "confirm_setup");

    // No secret, code or key anywhere.
    let all = everything(&capture);
    assert!(!all.contains(&secret_text), "the TOTP secret leaked");
    for c in &backup_codes {
        assert!(!all.contains(c.as_str()), "a backup code leaked");
    }
    assert!(!all.contains(&code(&secret, T0 + 30)));

    // Metrics.
    let metrics = metrics_of(&snapshotter);
    let counter = |key: &str| match metrics.get(key) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{key}: {other:?} in {:#?}", metrics.keys()),
    };
    assert_eq!(
        counter("mfa_verifications_total{method=totp,outcome=ok}"),
        2,
        "the confirmation and the login"
    );
    assert_eq!(
        counter("mfa_verifications_total{method=backup_code,outcome=ok}"),
        1
    );
    assert!(counter("mfa_verifications_total{method=totp,outcome=INVALID_CODE}") >= 5);
    assert!(counter("mfa_verifications_total{method=totp,outcome=LOCKED_OUT}") >= 1);
    assert_eq!(counter("mfa_lockouts_total"), 1);
    assert_eq!(counter("mfa_conflicts_total{operation=verify}"), 1);
    assert_eq!(
        counter("mfa_security_events_total{event=factor_enabled}"),
        1
    );
    assert_eq!(
        counter("mfa_operations_total{operation=begin_setup,outcome=ok}"),
        1
    );
    match metrics.get("mfa_hash_permits_in_use") {
        Some(DebugValue::Gauge(g)) => assert_eq!(g.into_inner(), 0.0, "every permit returned"),
        other => panic!("the permit gauge: {other:?}"),
    }
    let histogram = |key: &str| match metrics.get(key) {
        Some(DebugValue::Histogram(h)) => h.len(),
        other => panic!("{key}: {other:?}"),
    };
    assert!(
        histogram("mfa_hash_wait_seconds") >= 2,
        "the backup code and the new set"
    );
    assert!(histogram("mfa_store_seconds{call=load}") >= 10);
    assert!(histogram("mfa_store_seconds{call=save}") >= 5);
    assert!(histogram("mfa_operation_seconds{operation=verify}") == 2);
}

/// The snapshot as `name{label=value,…}` → value (labels sorted).
fn metrics_of(snapshotter: &Snapshotter) -> BTreeMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            (name, value)
        })
        .collect()
}
