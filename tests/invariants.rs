//! One test (at least) per invariant of ARCHITECTURE.md that would fail without it.
//! I1 (one-time output only after a durable save) is proven under injected
//! faults in `tests/faults.rs`; I9 (records load forever) by `tests/golden.rs`;
//! I12 (epochs, single-use login challenges, proofs) by `tests/session.rs`;
//! I13 (hashing work that does not multiply) by `tests/hash_once.rs`.

mod common;

use std::sync::Arc;

use common::{Harness, T0, wrong_code};
use mfa::testkit::test_config_with;
use mfa::{
    Error, FactorState, KeyId, Keyring, MasterKey, MemoryStore, Mfa, MfaContext, MfaStore, Policy,
    Reauth, event::SecurityEvent, store::WriteId,
};

// ---------- I2: a TOTP time step is accepted at most once ----------

#[tokio::test]
async fn i2_confirming_step_cannot_log_in() {
    let h = Harness::memory();
    let setup = h.mfa.begin_setup("u", "u@example.com").await.unwrap();
    let secret = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let code = h.code(&secret);
    h.mfa.confirm_setup("u", &code).await.unwrap();
    assert!(matches!(
        h.mfa.verify_totp("u", &code).await,
        Err(Error::InvalidCode)
    ));
    // Not even 29 seconds later, while the step is still in the window.
    h.clock.advance(29);
    assert!(matches!(
        h.mfa.verify_totp("u", &code).await,
        Err(Error::InvalidCode)
    ));
}

#[tokio::test]
async fn i2_older_step_after_newer_is_refused_and_replays_are_not_failures() {
    let h = Harness::memory();
    let (secret, _) = h.enroll("u").await;
    let now = h.clock.get();
    let previous =
        mfa::totp::generate(&secret, mfa::totp::TotpParams::default(), now - 30).unwrap();
    let current = h.code(&secret);
    if previous == current {
        return; // one in a million: the two steps share a code
    }
    h.mfa.verify_totp("u", &current).await.unwrap();
    for _ in 0..10 {
        assert!(matches!(
            h.mfa.verify_totp("u", &previous).await,
            Err(Error::InvalidCode)
        ));
        assert!(matches!(
            h.mfa.verify_totp("u", &current).await,
            Err(Error::InvalidCode)
        ));
    }
    // Twenty replays later the factor is not locked: replays are not guesses.
    h.clock.advance(30);
    h.mfa.verify_totp("u", &h.code(&secret)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i2_concurrent_same_totp_code_succeeds_once() {
    for round in 0..20 {
        let h = Harness::memory();
        let user = format!("u{round}");
        let (secret, _) = h.enroll(&user).await;
        let code = h.code(&secret);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (mfa, user, code) = (Arc::clone(&h.mfa), user.clone(), code.clone());
                tokio::spawn(async move { mfa.verify_totp(&user, &code).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(Error::InvalidCode) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 1, "round {round}");
    }
}

// ---------- I3: a backup code is consumed at most once ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i3_concurrent_same_backup_code_succeeds_once() {
    let h = Harness::memory();
    let (_, codes) = h.enroll("u").await;
    for (round, code) in codes.iter().enumerate().take(5) {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (mfa, code) = (Arc::clone(&h.mfa), code.clone());
                tokio::spawn(async move { mfa.verify_backup_code("u", &code).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(v) => {
                    ok += 1;
                    assert_eq!(v.backup_codes_remaining, 9 - round);
                }
                Err(Error::InvalidCode) => {}
                // Charged before their hash (I16), concurrent submissions
                // look like guesses: past the threshold they are refused
                // unhashed, until the success gives every charge back.
                Err(Error::LockedOut { .. }) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 1);
        assert!(
            !h.mfa.status("u").await.unwrap().locked_out,
            "round {round}"
        );
    }
    assert_eq!(h.mfa.status("u").await.unwrap().backup_codes_remaining, 5);
}

// ---------- I4: failed attempts cannot be raced past ----------

#[tokio::test]
async fn i4_lockout_refuses_even_a_correct_code() {
    let h = Harness::memory();
    let (secret, codes) = h.enroll("u").await;
    let wrong = wrong_code(&secret, h.clock.get());
    for _ in 0..4 {
        assert!(matches!(
            h.mfa.verify_totp("u", &wrong).await,
            Err(Error::InvalidCode)
        ));
    }
    assert!(matches!(
        h.mfa.verify_totp("u", &wrong).await,
        Err(Error::InvalidCode)
    ));
    let locked = h.mfa.verify_totp("u", &h.code(&secret)).await;
    assert!(
        matches!(
            locked,
            Err(Error::LockedOut {
                retry_after: Some(30)
            })
        ),
        "{locked:?}"
    );
    assert!(matches!(
        h.mfa.verify_backup_code("u", &codes[0]).await,
        Err(Error::LockedOut { .. })
    ));
    assert!(h.mfa.status("u").await.unwrap().locked_out);
    h.clock.advance(30);
    h.mfa.verify_totp("u", &h.code(&secret)).await.unwrap();
    // Success resets the counter: four more failures pass without a lock.
    for _ in 0..4 {
        assert!(matches!(
            h.mfa.verify_totp("u", &wrong).await,
            Err(Error::InvalidCode)
        ));
    }
    assert!(h.events_for("u").iter().any(|e| matches!(
        e,
        SecurityEvent::LockoutStarted {
            retry_after: Some(30),
            consecutive_failures: 5
        }
    )));
}

#[tokio::test]
async fn i4_backoff_doubles_and_hard_limit_needs_reset() {
    let h = Harness::memory();
    let (secret, _) = h.enroll("u").await;
    let mut delays = Vec::new();
    let mut failures = 0;
    let mut hard_locked = false;
    for _ in 0..1_000 {
        let wrong = wrong_code(&secret, h.clock.get());
        match h.mfa.verify_totp("u", &wrong).await {
            Err(Error::InvalidCode) => failures += 1,
            Err(Error::LockedOut {
                retry_after: Some(s),
            }) => {
                delays.push(s);
                h.clock.advance(s);
            }
            Err(Error::LockedOut { retry_after: None }) => {
                hard_locked = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(hard_locked, "no hard lock after 1,000 attempts");
    assert_eq!(
        failures, 100,
        "the hard stop comes after exactly 100 consecutive failures"
    );
    assert_eq!(&delays[..8], &[30, 60, 120, 240, 480, 900, 900, 900]);
    assert_eq!(delays.len(), 95);
    // The hard stop outlasts any wait, and only an operator's unlock lifts it.
    h.clock.advance(365 * 24 * 3600);
    assert!(matches!(
        h.mfa.verify_totp("u", &h.code(&secret)).await,
        Err(Error::LockedOut { retry_after: None })
    ));
    h.mfa
        .operator_unlock("u", "support-desk", "identity checked by phone")
        .await
        .unwrap();
    h.mfa.verify_totp("u", &h.code(&secret)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i4_concurrent_failures_are_all_counted() {
    let h = Harness::new(Arc::new(MemoryStore::new()), |p| {
        p.lockout.lock_after_failures = 50;
        p.lockout.max_consecutive_failures = 100;
    });
    let (secret, _) = h.enroll("u").await;
    let wrong = wrong_code(&secret, h.clock.get());
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (mfa, wrong) = (Arc::clone(&h.mfa), wrong.clone());
            tokio::spawn(async move { mfa.verify_totp("u", &wrong).await })
        })
        .collect();
    let mut counted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::InvalidCode) => counted += 1,
            Err(Error::StoreConflict) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let stored = h.mfa.store().load("u").await.unwrap().unwrap().record;
    let FactorState::Active(active) = stored.factor() else {
        panic!()
    };
    assert_eq!(
        active.attempts().failures(),
        counted,
        "every reported failure is stored"
    );
    assert!(counted > 0);
}

#[tokio::test]
async fn i4_failures_count_across_routes() {
    let h = Harness::memory();
    let (secret, _) = h.enroll("u").await;
    let wrong = wrong_code(&secret, h.clock.get());
    assert!(matches!(
        h.mfa.verify_totp("u", &wrong).await,
        Err(Error::InvalidCode)
    ));
    let guess = h.mfa.verify_backup_code("u", "zzzzz-zzzzz").await;
    assert!(matches!(guess, Err(Error::InvalidCode)));
    assert!(matches!(
        h.mfa.disable("u", &wrong).await,
        Err(Error::InvalidCode)
    ));
    let regenerate = h
        .mfa
        .regenerate_backup_codes("u", Reauth::TotpCode(&wrong))
        .await;
    assert!(matches!(regenerate, Err(Error::InvalidCode)));
    let stored = h.mfa.store().load("u").await.unwrap().unwrap().record;
    let FactorState::Active(active) = stored.factor() else {
        panic!()
    };
    assert_eq!(active.attempts().failures(), 4);
}

// ---------- I5: pending never authenticates; setup never clobbers ----------

#[tokio::test]
async fn i5_pending_secret_never_authenticates_and_wrong_confirm_enables_nothing() {
    let h = Harness::memory();
    let setup = h.mfa.begin_setup("u", "u@example.com").await.unwrap();
    let secret = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    assert!(matches!(
        h.mfa.verify("u", &h.code(&secret)).await,
        Err(Error::MfaNotEnabled)
    ));
    let wrong = wrong_code(&secret, h.clock.get());
    assert!(matches!(
        h.mfa.confirm_setup("u", &wrong).await,
        Err(Error::InvalidCode)
    ));
    let status = h.mfa.status("u").await.unwrap();
    assert!(!status.mfa_enabled && status.pending_setup);
    assert!(matches!(
        h.mfa.confirm_setup("u", "").await,
        Err(Error::MalformedCode(_))
    ));
    assert!(!h.mfa.status("u").await.unwrap().mfa_enabled);
}

#[tokio::test]
async fn i5_new_setup_never_clobbers_an_active_secret() {
    let h = Harness::memory();
    let (secret, _) = h.enroll("u").await;
    let before = h.mfa.store().load("u").await.unwrap().unwrap();
    assert!(matches!(
        h.mfa.begin_setup("u", "u@example.com").await,
        Err(Error::MfaAlreadyEnabled)
    ));
    assert_eq!(h.mfa.store().load("u").await.unwrap().unwrap(), before);
    h.mfa.verify_totp("u", &h.code(&secret)).await.unwrap();
}

#[tokio::test]
async fn i5_pending_setup_expires() {
    let h = Harness::memory();
    let setup = h.mfa.begin_setup("u", "u@example.com").await.unwrap();
    assert_eq!(setup.expires_at(), T0 + 600);
    let secret = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    h.clock.advance(600);
    assert!(!h.mfa.status("u").await.unwrap().pending_setup);
    assert!(matches!(
        h.mfa.confirm_setup("u", &h.code(&secret)).await,
        Err(Error::PendingExpired)
    ));
    h.mfa.begin_setup("u", "u@example.com").await.unwrap();
}

// ---------- I6: secrets never leak ----------

#[tokio::test]
async fn i6_outputs_and_records_never_print_secrets() {
    let h = Harness::memory();
    let setup = h.mfa.begin_setup("u", "u@example.com").await.unwrap();
    let b32 = setup.secret_base32().to_owned();
    let secret = mfa::totp::TotpSecret::from_base32(&b32).unwrap();
    let enabled = h.mfa.confirm_setup("u", &h.code(&secret)).await.unwrap();
    let codes = &enabled.backup_codes;
    let record = h.mfa.store().load("u").await.unwrap().unwrap().record;
    let printed = [
        format!("{setup:?}"),
        format!("{secret:?} {secret}"),
        format!("{codes:?}"),
        format!("{enabled:?}"),
        format!(
            "{:?} {}",
            codes.iter().next().unwrap(),
            codes.iter().next().unwrap()
        ),
        format!("{record:?}"),
        record.to_json(),
        format!("{:?}", Reauth::TotpCode("123456")),
    ];
    for text in &printed {
        assert!(!text.contains(&b32), "secret leaked in {text}");
        assert!(!text.contains("123456"));
        for code in codes.as_strs() {
            assert!(
                !text.contains(code) && !text.contains(&code.replace('-', "")),
                "code leaked in {text}"
            );
        }
    }
}

// ---------- I7: ciphertext is bound to its owner; rotation ----------

#[tokio::test]
async fn i7_record_copied_to_another_user_fails_to_decrypt() {
    let h = Harness::memory();
    let (secret, _) = h.enroll("alice").await;
    let record = h.mfa.store().load("alice").await.unwrap().unwrap().record;
    h.mfa
        .store()
        .save("mallory", None, &record, WriteId::random())
        .await
        .unwrap();
    let result = h.mfa.verify_totp("mallory", &h.code(&secret)).await;
    assert!(matches!(result, Err(Error::DecryptionFailed)), "{result:?}");
}

#[tokio::test]
async fn i7_old_key_still_decrypts_and_rotation_reencrypts_on_next_write() {
    let store = Arc::new(MemoryStore::new());
    let clock = mfa::testkit::ManualClock::new(T0);
    let old = Mfa::new(Arc::clone(&store), test_config_with(|_| {})).with_clock(clock.clone());
    let setup = old.begin_setup("u", "u@example.com").await.unwrap();
    let secret = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let code = |t| mfa::totp::generate(&secret, mfa::totp::TotpParams::default(), t).unwrap();
    let codes = old
        .confirm_setup("u", &code(T0))
        .await
        .unwrap()
        .backup_codes;

    let mut policy = Policy::new("mfa-tests");
    policy.backup_codes.argon2 = mfa::backup::Argon2Params::insecure_for_tests(64, 1, 1).unwrap();
    let rotated = Keyring::new(KeyId(2), MasterKey::from_bytes([9; 32]))
        .with_old_key(KeyId(1), MasterKey::from_bytes([0x42; 32]))
        .unwrap();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let new = Mfa::new(
        Arc::clone(&store),
        MfaContext::new(rotated, policy).unwrap(),
    )
    .with_clock(clock.clone())
    .with_event_sink(move |_: &str, e: &SecurityEvent| sink.lock().unwrap().push(e.clone()));
    clock.advance(30);
    new.verify_totp("u", &code(T0 + 30)).await.unwrap();
    let record = store.load("u").await.unwrap().unwrap().record;
    let FactorState::Active(active) = record.factor() else {
        panic!()
    };
    assert!(
        events
            .lock()
            .unwrap()
            .contains(&SecurityEvent::SecretReencrypted)
    );
    // Backup codes keep the pepper's key id until regenerated.
    assert_eq!(active.backup_codes().key_id(), KeyId(1));
    new.verify_backup_code("u", codes.as_strs()[0])
        .await
        .unwrap();
    // The secret now needs the new key: a keyring without it cannot decrypt.
    let only_old = Mfa::new(Arc::clone(&store), test_config_with(|_| {})).with_clock(clock.clone());
    clock.advance(30);
    assert!(matches!(
        only_old.verify_totp("u", &code(T0 + 60)).await,
        Err(Error::UnknownKey(2))
    ));
}

// ---------- I8: no panic on any input ----------

#[tokio::test]
async fn i8_hostile_inputs_are_typed_errors() {
    let h = Harness::memory();
    let (_, _) = h.enroll("u").await;
    let long = "9".repeat(100_000);
    let inputs = [
        "",
        " ",
        "\0",
        "-",
        "--------",
        "١٢٣٤٥٦",
        "12345６",
        "𝟏𝟐𝟑𝟒𝟓𝟔",
        "+12345",
        "-12345",
        "1e5",
        "0x1234",
        "\u{200b}123456",
        "abcde-fghjk-",
        "ABCDE-FGHJK",
        "ééééé-ééééé",
        &long,
    ];
    for input in inputs {
        for result in [
            h.mfa.verify("u", input).await,
            h.mfa.verify_totp("u", input).await,
            h.mfa.verify_backup_code("u", input).await,
        ] {
            let err = result.expect_err(input);
            assert!(err.is_client_error(), "{input:?}: {err:?}");
        }
    }
}

// ---------- I10: constant-time comparison of secret-derived values ----------

/// Backup-code hashes and truncated TOTP values are compared with `subtle`.
/// This guards the source against a regression to `==`.
#[test]
fn i10_secret_comparisons_are_constant_time() {
    let source = include_str!("../src/backup/set.rs");
    assert!(source.contains("hash.ct_eq(&stored.hash)"));
    assert!(!source.contains("== stored.hash") && !source.contains("stored.hash =="));
    let totp = include_str!("../src/totp/mod.rs");
    assert!(totp.contains("value.ct_eq(&submitted)"));
    assert!(!totp.contains("value == submitted"));
}

#[test]
fn default_policy_uses_owasp_argon2_and_refuses_weaker() {
    assert!(mfa::backup::Argon2Params::new(1024, 1, 1).is_err());
    assert_eq!(
        Policy::new("x").backup_codes.argon2,
        mfa::backup::Argon2Params::default()
    );
}
