//! Record deserialisation: `MfaEnrollment::from_json` on any text. Never
//! panics; a record that loads serializes and loads back to itself (in the
//! current format, whatever format it was read from), and every operation on
//! it returns a typed result; an operator's unlock keeps the epoch and a
//! reset moves it by one; remembering, forgetting, beginning and confirming a
//! replacement write records that reload; no fuzzed token is recognised.
//! Passkeys: listing, renaming, removing, beginning a registration and
//! disabling on a proof give typed results and records that reload; a
//! removal and a disable move the epoch by one, a rename never.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mfa::{MfaContext, MfaEnrollment, testkit::test_config};
use rand::{SeedableRng, rngs::StdRng};

fn config() -> &'static MfaContext {
    static CONFIG: OnceLock<MfaContext> = OnceLock::new();
    CONFIG.get_or_init(test_config)
}

fuzz_target!(|text: &str| {
    let Ok(record) = MfaEnrollment::from_json(text) else {
        return;
    };
    let json = record.to_json();
    let back = MfaEnrollment::from_json(&json).expect("a loaded record reloads");
    assert_eq!(back, record);
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(value["format"], mfa::MfaEnrollment::FORMAT);
    let config = config();
    let now = 1_700_000_000;
    let _ = record.status(config, now);
    let _ = record.would_hash(config, "a1b2c-d3e4f", now);
    let mut rng = StdRng::seed_from_u64(0);
    for code in ["123456", "a1b2c-d3e4f", "x"] {
        let _ = record.clone().verify(config, "user-1", code, now, &mut rng);
        let _ = record
            .clone()
            .confirm_setup(config, "user-1", code, now, &mut rng);
    }
    let epoch = record.epoch();
    let _ = record.check_epoch(epoch);
    let step = record.begin_login(config, "user-1", None, now);
    if let mfa::LoginStep::SecondFactor(challenge) = &step {
        let _ = record
            .clone()
            .complete_login(config, "user-1", challenge, "123456", now, &mut rng);
    }
    // The lifecycle: typed results, and whatever is written reloads. No
    // token the fuzzer can write is recognised (only SHA-256 hashes are stored).
    assert!(!matches!(
        record.begin_login(config, "user-1", Some("x"), now),
        mfa::LoginStep::RememberedDevice(_)
    ));
    let proof = mfa::testkit::proof_of("user-1", mfa::ProofMethod::Totp, now, epoch);
    let status = record.status(config, now);
    if let mfa::FactorState::Active(a) = record.factor() {
        assert!(status.remembered_devices <= a.devices().len());
    } else {
        assert_eq!(status.remembered_devices, 0);
        assert!(!status.replacement_pending);
    }
    let remembered = record
        .clone()
        .remember_device(config, "user-1", &proof, now, &mut rng);
    if let Ok(token) = &remembered.outcome {
        assert!(record.is_active());
        assert!(matches!(
            remembered
                .state
                .begin_login(config, "user-1", Some(token.as_str()), now),
            mfa::LoginStep::RememberedDevice(e) if e == epoch
        ));
    }
    let forgot =
        record
            .clone()
            .forget_devices(config, "user-1", mfa::Reauth::RecentProof(&proof), now);
    let begun = record.clone().begin_replacement(
        config,
        "user-1",
        "fuzz@example.com",
        mfa::Reauth::RecentProof(&proof),
        now,
        &mut rng,
    );
    let confirmed = record
        .clone()
        .confirm_replacement(config, "user-1", "123456", now, &mut rng);
    for state in [
        &remembered.state,
        &forgot.state,
        &begun.state,
        &confirmed.state,
    ] {
        assert_eq!(
            &MfaEnrollment::from_json(&state.to_json()).expect("reloads"),
            state
        );
    }
    if confirmed.outcome.is_ok() {
        assert_eq!(confirmed.state.epoch().get(), epoch.get().saturating_add(1));
    } else {
        assert_eq!(confirmed.state.epoch(), epoch);
    }
    let unlocked = record.clone().operator_unlock("fuzz-operator", "fuzzing");
    assert!(unlocked.outcome.is_ok());
    assert_eq!(unlocked.state.epoch(), epoch);
    let reset = record.clone().operator_reset("fuzz-operator", "fuzzing");
    assert!(reset.outcome.is_ok() && reset.changed);
    assert_eq!(reset.state.epoch().get(), epoch.get().saturating_add(1));
    // Passkeys: the stored credentials are data the fuzzer wrote.
    let ids: Vec<&[u8]> = record.credential_ids().collect();
    assert_eq!(ids.len(), record.passkeys().len());
    assert_eq!(status.passkeys, ids.len());
    let first = record.passkeys().first().map(|p| p.id().to_owned());
    let id = first.as_deref().unwrap_or("none");
    let renamed = record
        .clone()
        .rename_passkey(config, "user-1", id, "Fuzzed key", &mut rng);
    assert_eq!(renamed.state.epoch(), epoch);
    let removed = record.clone().remove_passkey(
        config,
        "user-1",
        id,
        mfa::Reauth::RecentProof(&proof),
        now,
        &mut rng,
    );
    let disabled =
        record
            .clone()
            .disable_with(config, "user-1", mfa::Reauth::RecentProof(&proof), now, &mut rng);
    let registering = record.clone().begin_passkey_registration(
        config,
        "user-1",
        "fuzz@example.com",
        Some(&proof),
        now,
        &mut rng,
    );
    for (state, moves) in [
        (&renamed.state, false),
        (&removed.state, removed.outcome.is_ok()),
        (&disabled.state, disabled.outcome.is_ok()),
        (&registering.state, false),
    ] {
        assert_eq!(
            &MfaEnrollment::from_json(&state.to_json()).expect("reloads"),
            state
        );
        let expected = if moves {
            epoch.get().saturating_add(1)
        } else {
            epoch.get()
        };
        assert_eq!(state.epoch().get(), expected);
    }
    if let mfa::LoginStep::SecondFactor(challenge) = &step {
        // Offered only for a stored passkey (one whose key parses).
        assert!(!challenge.accepts_passkey() || !record.passkeys().is_empty());
    }
    let _ = record.cancel_setup();
});
