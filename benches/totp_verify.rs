//! TOTP verification, full path, against `totp-rs`'s bare `check`.
//!
//! Same secret, same time, same ±1 window, in the same group:
//!
//! - `totp-rs check`: a prebuilt `totp_rs::Totp` (secret in the clear, in
//!   memory), `Totp::check(code, now)`;
//! - `mfa open_secret + totp_check`: what an active factor runs: decrypt the
//!   stored secret (AES-256-GCM, on the stack), parse the code, check the
//!   window oldest step first, refuse steps at or below the last accepted one;
//! - `mfa MfaEnrollment::verify_totp`: the whole pure transition on a stored
//!   record (the above plus lockout bookkeeping and the security event); the
//!   record is cloned outside the timed section.
//!
//! Two more rows attribute the cost (not targets):
//!
//! - `mfa totp_check (secret in the clear)`: the window and replay check
//!   without the decryption;
//! - `prototype open_secret + keyed-once HMAC`: a bench-local HOTP that keys
//!   HMAC-SHA-1 once per verification and clones the keyed state for each
//!   step (RFC 4226 truncation, constant-time compare), to show what a
//!   verification that does not re-key HMAC per step would cost.
//!
//! Measured in the thread's CPU time by default (see `common::ThreadCpuTime`);
//! `MFA_BENCH_WALL_TIME=1` measures wall-clock time.
//!
//! A correct code is the current step's (two HMACs: step −1 misses, step 0
//! hits); a wrong code matches no step (three HMACs, the worst case).

mod common;

use std::hint::black_box;

use criterion::measurement::{Measurement, WallTime};
use criterion::{BatchSize, Criterion, criterion_group};
use hmac::{Hmac, KeyInit, Mac};
use mfa::{Envelope, MfaEnrollment, TotpCode, TotpSecret, totp_check, totp_generate};
use subtle::ConstantTimeEq;

use common::{NOW, USER};

/// RFC 4226 HOTP over a ±`skew` window with HMAC keyed once; returns the
/// first matching step above `last_step`. Bench-local, SHA-1 and 6 digits only.
fn keyed_once_check(
    secret: &TotpSecret,
    code: &str,
    now: u64,
    skew: u64,
    last_step: Option<u64>,
) -> Option<u64> {
    let code = TotpCode::parse(code, 6).ok()?;
    let wanted: u32 = code.as_str().parse().ok()?;
    let keyed = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).ok()?;
    let origin = now / 30;
    (origin.saturating_sub(skew)..=origin + skew).find(|&step| {
        let mut mac = keyed.clone();
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0xf);
        let value = u32::from_be_bytes(digest[offset..offset + 4].try_into().expect("4 bytes"))
            & 0x7fff_ffff;
        bool::from((value % 1_000_000).ct_eq(&wanted)) && last_step.is_none_or(|used| step > used)
    })
}

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

    let correct = totp_generate(&records.secret, params, NOW).expect("code");
    let window: Vec<String> = [NOW - 30, NOW, NOW + 30]
        .iter()
        .map(|&t| totp_generate(&records.secret, params, t).expect("code"))
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
        group.bench_function("mfa open_secret + totp_check", |b| {
            b.iter(|| {
                let secret = black_box(&envelope)
                    .open_secret(config.keyring(), black_box(USER))
                    .expect("opens");
                let code = TotpCode::parse(black_box(code), params.digits).expect("shape");
                totp_check(&secret, params, skew, &code, black_box(NOW), last_step)
                    .expect("valid params")
            })
        });
        group.bench_function("mfa totp_check (secret in the clear)", |b| {
            b.iter(|| {
                let code = TotpCode::parse(black_box(code), params.digits).expect("shape");
                totp_check(
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
        assert_eq!(
            keyed_once_check(&records.secret, code, NOW, 1, last_step).is_some(),
            accepted
        );
        group.bench_function("prototype open_secret + keyed-once HMAC", |b| {
            b.iter(|| {
                let secret = black_box(&envelope)
                    .open_secret(config.keyring(), black_box(USER))
                    .expect("opens");
                keyed_once_check(&secret, black_box(code), black_box(NOW), 1, last_step)
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

criterion_group! {
    name = cpu_time;
    config = common::fast_criterion().with_measurement(common::ThreadCpuTime);
    targets = bench
}
criterion_group! {
    name = wall_time;
    config = common::fast_criterion().with_measurement(WallTime);
    targets = bench
}

/// Thread CPU time by default (robust to other load on the machine);
/// `MFA_BENCH_WALL_TIME=1` for wall-clock time.
fn main() {
    if common::wall_time() {
        wall_time();
    } else {
        cpu_time();
    }
    Criterion::default().configure_from_args().final_summary();
}
