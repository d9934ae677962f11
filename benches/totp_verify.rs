//! TOTP verification, full path, against `totp-rs`'s bare `check`.
//!
//! Same secret, same time, same ±1 window, in the same group:
//!
//! - `totp-rs check`: a prebuilt `totp_rs::Totp` (secret in the clear, in
//!   memory), `Totp::check(code, now)`;
//! - `mfa open_secret + totp::check`: what an active factor runs: decrypt the
//!   stored secret (AES-256-GCM, on the stack), parse the code, check the
//!   window oldest step first, refuse steps at or below the last accepted one;
//! - `mfa MfaEnrollment::verify_totp`: the whole pure transition on a stored
//!   record (the above plus lockout bookkeeping and the security event); the
//!   record is cloned outside the timed section.
//!
//! One more row attributes the cost (not a target): `mfa totp::check (secret
//! in the clear)`, the window and replay check without the decryption.
//!
//! Measured in the thread's CPU time by default (see `common::ThreadCpuTime`);
//! `MFA_BENCH_WALL_TIME=1` measures wall-clock time.
//!
//! A correct code is the current step's (two HMACs: step −1 misses, step 0
//! hits); a wrong code matches no step (three HMACs, the worst case).

mod common;

use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion};
use mfa::{
    MfaEnrollment,
    keys::Envelope,
    totp::{self, TotpCode},
};

use common::{NOW, USER};

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let config = common::default_config();
    let records = common::records(&config);
    let params = config.policy().totp.params();
    let skew = config.policy().totp.skew;
    let last_step = Some(records.confirmed_at / params.period);
    let envelope =
        Envelope::seal_secret(config.keyring(), USER, &records.secret, &mut common::rng())
            .expect("seals");

    let bytes: [u8; 20] = records.secret.as_bytes().try_into().expect("160 bits");
    let bare = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(params.digits)
        .with_step_duration(params.period)
        .with_skew(u16::from(skew))
        .with_secret(totp_rs::Secret::new_stack(bytes))
        .build()
        .expect("valid totp-rs factor");

    let correct = totp::generate(&records.secret, params, NOW).expect("code");
    let window: Vec<String> = [NOW - 30, NOW, NOW + 30]
        .iter()
        .map(|&t| totp::generate(&records.secret, params, t).expect("code"))
        .collect();
    let wrong = (1..)
        .map(|i| format!("{:06}", (correct.parse::<u32>().unwrap() + i) % 1_000_000))
        .find(|c| !window.contains(c))
        .expect("a code outside the window");
    assert_eq!(bare.check(&correct, NOW), Some(NOW / params.period));
    assert_eq!(bare.check(&wrong, NOW), None);

    for (case, code, accepted) in [("correct", &correct, true), ("wrong", &wrong, false)] {
        let mut group = c.benchmark_group(format!("totp_verify/{case}"));
        group.bench_function("totp-rs check", |b| {
            b.iter(|| bare.check(black_box(code), black_box(NOW)))
        });
        group.bench_function("mfa open_secret + totp::check", |b| {
            b.iter(|| {
                let secret = black_box(&envelope)
                    .open_secret(config.keyring(), black_box(USER))
                    .expect("opens");
                let code = TotpCode::parse(black_box(code), params.digits).expect("shape");
                totp::check(&secret, params, skew, &code, black_box(NOW), last_step)
                    .expect("valid params")
            })
        });
        group.bench_function("mfa totp::check (secret in the clear)", |b| {
            b.iter(|| {
                let code = TotpCode::parse(black_box(code), params.digits).expect("shape");
                totp::check(
                    black_box(&records.secret),
                    params,
                    skew,
                    &code,
                    black_box(NOW),
                    last_step,
                )
                .expect("valid params")
            })
        });
        let record = records.active.clone();
        let outcome = record
            .clone()
            .verify_totp(&config, USER, code, NOW, &mut rand::rng());
        assert_eq!(outcome.outcome.is_ok(), accepted);
        group.bench_function("mfa MfaEnrollment::verify_totp", |b| {
            b.iter_batched(
                || record.clone(),
                |record: MfaEnrollment| {
                    record.verify_totp(&config, USER, black_box(code), NOW, &mut rand::rng())
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

common::cpu_or_wall_main!(bench);
