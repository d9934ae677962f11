//! Passkeys: the second step against bare `webauthn-rs`, and what a full
//! factor set costs the TOTP path.
//!
//! - `passkey_second_step`: the same assertion of the same credential,
//!   checked by `webauthn-rs`'s `finish_passkey_authentication` with its
//!   ceremony state already in memory (the baseline), and by the crate's
//!   whole pure transition `MfaEnrollment::complete_login_with_passkey` on a
//!   stored record: the state read back from the login challenge, the
//!   signature, origin, challenge and user-verification checks, the
//!   counter's clone check, the lockout bookkeeping, the login count and the
//!   event (the record is cloned outside the timed section). Target: the
//!   crate within 1.3× the baseline.
//! - `factor_set_size`: `MfaEnrollment::verify_totp` (a right code) on a
//!   record with an app only, and on one with the app, 10 passkeys and 10
//!   remembered devices. Target: within 1.3×. The records' sizes are
//!   printed at the start.
//!
//! Measured in the thread's CPU time by default (see `common::ThreadCpuTime`);
//! `MFA_BENCH_WALL_TIME=1` measures wall-clock time.

mod common;
#[path = "../tests/common/passkey.rs"]
mod passkey;

use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion};
use mfa::passkey::RelyingParty;
use mfa::testkit::{TEST_ORIGIN, TEST_RP_ID};
use mfa::{LoginStep, MfaContext, MfaEnrollment, totp};
use webauthn_rs::prelude::{PasskeyAuthentication, Url, WebauthnBuilder};

use common::{NOW, USER};
use passkey::Authenticator;

fn config() -> MfaContext {
    common::default_config()
        .with_relying_party(RelyingParty::new(TEST_RP_ID, "bench", &[TEST_ORIGIN]).expect("valid"))
}

/// `record` with `n` more passkeys of `key`, added at `at` on `proof`.
fn with_passkeys(
    config: &MfaContext,
    mut record: MfaEnrollment,
    mut proof: mfa::Proof,
    key: &mut Authenticator,
    n: usize,
    at: u64,
) -> (MfaEnrollment, mfa::Proof) {
    let mut rng = common::rng();
    for i in 0..n {
        let begun = record.begin_passkey_registration(
            config,
            USER,
            "bench@example.com",
            Some(&proof),
            at,
            &mut rng,
        );
        let options = begun.outcome.expect("begins");
        let created = key.register(&options);
        let added = begun.state.confirm_passkey_registration(
            config,
            USER,
            &format!("Key {i}"),
            &created,
            Some(&proof),
            at,
            &mut rng,
        );
        proof = added.outcome.expect("adds").proof;
        record = added.state;
    }
    (record, proof)
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let config = config();
    let enrolled = common::records(&config);
    let at = NOW - 200;
    let mut key = Authenticator::default();
    let (one, _) = with_passkeys(
        &config,
        enrolled.active.clone(),
        enrolled.proof,
        &mut key,
        1,
        at,
    );

    // The second step: one challenge, one assertion, checked by both.
    let LoginStep::SecondFactor(challenge) = one.begin_login(&config, USER, None, NOW) else {
        panic!("a second step")
    };
    let assertion = key.assert(challenge.passkey_options().expect("passkey options"));
    let stored: serde_json::Value = serde_json::to_value(&challenge).expect("serializes");
    let state: PasskeyAuthentication =
        serde_json::from_value(stored["passkey"].clone()).expect("the ceremony state");
    let origin = Url::parse(TEST_ORIGIN).expect("origin");
    let webauthn = WebauthnBuilder::new(TEST_RP_ID, &origin)
        .expect("rp")
        .build()
        .expect("webauthn");
    webauthn
        .finish_passkey_authentication(&assertion, &state)
        .expect("webauthn-rs accepts it");
    let checked = one.clone().complete_login_with_passkey(
        &config,
        USER,
        &challenge,
        &assertion,
        NOW,
        &mut rand::rng(),
    );
    checked.outcome.expect("the crate accepts it");

    let mut group = c.benchmark_group("passkey_second_step");
    group.bench_function("webauthn-rs finish_passkey_authentication", |b| {
        b.iter(|| webauthn.finish_passkey_authentication(black_box(&assertion), black_box(&state)))
    });
    group.bench_function("mfa MfaEnrollment::complete_login_with_passkey", |b| {
        b.iter_batched(
            || one.clone(),
            |record: MfaEnrollment| {
                record.complete_login_with_passkey(
                    &config,
                    USER,
                    black_box(&challenge),
                    black_box(&assertion),
                    NOW,
                    &mut rand::rng(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // The TOTP path on an app alone, and beside 10 passkeys and 10 devices.
    let mut other = Authenticator::default();
    let (full, proof) = with_passkeys(
        &config,
        enrolled.active.clone(),
        enrolled.proof,
        &mut other,
        10,
        at,
    );
    let mut full = full;
    for _ in 0..10 {
        let t = full.remember_device(&config, USER, &proof, at, &mut common::rng());
        t.outcome.expect("remembers");
        full = t.state;
    }
    let plain = enrolled.active.clone();
    println!(
        "record sizes: app only {} bytes; app, 10 passkeys and 10 devices {} bytes",
        plain.to_json().len(),
        full.to_json().len()
    );
    let code = totp::generate(&enrolled.secret, config.policy().totp.params(), NOW).expect("code");
    let mut group = c.benchmark_group("factor_set_size");
    for (name, record) in [
        ("app only", &plain),
        ("app, 10 passkeys, 10 devices", &full),
    ] {
        let t = record
            .clone()
            .verify_totp(&config, USER, &code, NOW, &mut rand::rng());
        t.outcome.expect("the code verifies");
        group.bench_function(format!("verify_totp: {name}"), |b| {
            b.iter_batched(
                || record.clone(),
                |record: MfaEnrollment| {
                    record.verify_totp(&config, USER, black_box(&code), NOW, &mut rand::rng())
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

common::cpu_or_wall_main!(bench);
