//! Backup codes with the default Argon2id parameters (m = 19456 KiB, t = 2,
//! p = 1), against the designs a user would compare with.
//!
//! - `backup_attempt/failed`: a failed attempt on a set of 10 stored codes.
//!   The crate's locator design runs at most one Argon2 evaluation (when the
//!   first two characters name an unused code) and none when they name no
//!   code. The naive design stores 10 Argon2id PHC strings, each with its own
//!   salt, and verifies each in turn with `argon2::PasswordVerifier`, so a
//!   failed attempt always costs 10 evaluations.
//! - `backup_attempt/success`: a correct code. The naive design stops at the
//!   matching hash; the bench puts it 5th of 10 (mean over positions: 5.5).
//! - `backup_generate/10_codes`: confirming setup and regenerating the codes
//!   (10 new codes) against 10 sequential raw Argon2id hashes with the same
//!   parameters, pepper and salt length; plus two bench-local variants of the
//!   baseline: the 10 hashes spread over the available cores with
//!   `std::thread::scope`, and 10 sequential hashes reusing one memory buffer.
//!
//! Records are cloned outside the timed sections.

mod common;

use std::hint::black_box;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use mfa::{MfaEnrollment, Reauth, Verified, totp_generate};
use rand::Rng;

use common::{NOW, USER};

/// The naive design: one PHC string per code, each verified in turn.
fn naive_verify(stored: &[String], input: &str) -> Option<usize> {
    let argon2 = Argon2::default();
    stored.iter().position(|phc| {
        argon2
            .verify_password(input.as_bytes(), phc.as_str())
            .is_ok()
    })
}

fn canonical(code: &str) -> String {
    code.chars().filter(|c| *c != '-').collect()
}

fn attempts(c: &mut Criterion) {
    let config = common::default_config();
    let records = common::records(&config);
    let plain: Vec<String> = records
        .codes
        .iter()
        .map(|c| canonical(c.as_str()))
        .collect();
    assert_eq!(plain.len(), 10);

    let argon2 = Argon2::default();
    let mut rng = common::rng();
    let stored: Vec<String> = plain
        .iter()
        .map(|code| {
            let mut salt = [0u8; 16];
            rng.fill_bytes(&mut salt);
            argon2
                .hash_password_with_salt(code.as_bytes(), &salt)
                .expect("hashes")
                .to_string()
        })
        .collect();

    let matching = common::wrong_code_with_matching_locator(&records.codes);
    let unknown = common::code_with_unknown_locator(&records.codes);
    let correct = records
        .codes
        .iter()
        .next()
        .expect("a code")
        .as_str()
        .to_owned();
    for failing in [&matching, &unknown] {
        let result = outcome(&records.active, &config, failing);
        assert!(matches!(result, Err(mfa::Error::InvalidCode)), "{result:?}");
    }
    assert!(outcome(&records.active, &config, &correct).is_ok());
    assert_eq!(naive_verify(&stored, &canonical(&matching)), None);
    assert_eq!(naive_verify(&stored, &plain[4]), Some(4));

    let verify = |code| verify_bench(&records.active, &config, code);

    let mut group = c.benchmark_group("backup_attempt/failed");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(
        "mfa, locator matches an unused code (1 Argon2)",
        verify(&matching),
    );
    group.bench_function("mfa, locator matches nothing (0 Argon2)", verify(&unknown));
    let wrong = canonical(&matching);
    group.bench_function("naive, 10 PHC hashes verified in turn (10 Argon2)", |b| {
        b.iter(|| naive_verify(&stored, black_box(&wrong)))
    });
    group.finish();

    let mut group = c.benchmark_group("backup_attempt/success");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("mfa (1 Argon2)", verify(&correct));
    group.bench_function("naive, code 5th of 10 (5 Argon2)", |b| {
        b.iter(|| naive_verify(&stored, black_box(&plain[4])))
    });
    group.finish();
}

/// Times `verify_backup_code` on a fresh clone of `record` (cloned untimed).
fn verify_bench<'a>(
    record: &'a MfaEnrollment,
    config: &'a mfa::MfaConfig,
    code: &'a str,
) -> impl FnMut(&mut criterion::Bencher<'_>) + 'a {
    move |b| {
        b.iter_batched(
            || record.clone(),
            |record: MfaEnrollment| {
                record.verify_backup_code(config, USER, black_box(code), NOW, &mut rand::rng())
            },
            BatchSize::SmallInput,
        )
    }
}

fn outcome(record: &MfaEnrollment, config: &mfa::MfaConfig, code: &str) -> mfa::Result<Verified> {
    record
        .clone()
        .verify_backup_code(config, USER, code, NOW, &mut rand::rng())
        .outcome
}

/// The Argon2 instance the crate uses: Argon2id v1.3, default parameters,
/// a 32-byte pepper as Argon2's secret input, 32-byte output.
fn peppered(pepper: &[u8; 32]) -> Argon2<'_> {
    let params = argon2::Params::new(19_456, 2, 1, Some(32)).expect("valid");
    Argon2::new_with_secret(
        pepper,
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    )
    .expect("valid")
}

fn hash_one(argon2: &Argon2<'_>, code: &[u8; 10], salt: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    argon2
        .hash_password_into(code, salt, &mut out)
        .expect("hashes");
    out
}

fn generation(c: &mut Criterion) {
    let config = common::default_config();
    let records = common::records(&config);
    let params = config.policy().totp.params();
    let confirm_code = totp_generate(&records.secret, params, records.confirmed_at).expect("code");
    let pepper = [0x24u8; 32];
    let inputs: Vec<([u8; 10], [u8; 16])> = (0..10)
        .map(|_| {
            let mut rng = rand::rng();
            let mut code = [0u8; 10];
            let mut salt = [0u8; 16];
            rng.fill_bytes(&mut code);
            rng.fill_bytes(&mut salt);
            (code, salt)
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let mut group = c.benchmark_group("backup_generate/10_codes");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("mfa confirm_setup", |b| {
        b.iter_batched(
            || records.pending.clone(),
            |record: MfaEnrollment| {
                let t = record.confirm_setup(
                    &config,
                    USER,
                    black_box(&confirm_code),
                    records.confirmed_at,
                    &mut rand::rng(),
                );
                assert!(t.outcome.is_ok());
                t
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("mfa regenerate_backup_codes", |b| {
        b.iter_batched(
            || records.active.clone(),
            |record: MfaEnrollment| {
                record.regenerate_backup_codes(
                    &config,
                    USER,
                    Reauth::SessionOnly,
                    NOW,
                    &mut rand::rng(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline, 10 sequential Argon2id", |b| {
        b.iter(|| {
            let argon2 = peppered(&pepper);
            inputs
                .iter()
                .map(|(code, salt)| hash_one(&argon2, black_box(code), salt))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function(
        format!("bench-local, 10 Argon2id over {cores} threads"),
        |b| {
            b.iter(|| {
                let argon2 = peppered(&pepper);
                let per_thread = inputs.len().div_ceil(cores);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = inputs
                        .chunks(per_thread)
                        .map(|chunk| {
                            let argon2 = &argon2;
                            scope.spawn(move || {
                                chunk
                                    .iter()
                                    .map(|(code, salt)| hash_one(argon2, black_box(code), salt))
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .flat_map(|h| h.join().expect("hashing thread"))
                        .collect::<Vec<_>>()
                })
            })
        },
    );
    group.bench_function(
        format!("bench-local, 10 Argon2id over {cores} threads, reused buffers"),
        |b| {
            let per_thread = inputs.len().div_ceil(cores);
            let mut buffers: Vec<Vec<argon2::Block>> = inputs
                .chunks(per_thread)
                .map(|_| vec![argon2::Block::new(); 19_456])
                .collect();
            b.iter(|| {
                let argon2 = peppered(&pepper);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = inputs
                        .chunks(per_thread)
                        .zip(buffers.iter_mut())
                        .map(|(chunk, blocks)| {
                            let argon2 = &argon2;
                            scope.spawn(move || {
                                chunk
                                    .iter()
                                    .map(|(code, salt)| {
                                        let mut out = [0u8; 32];
                                        argon2
                                            .hash_password_into_with_memory(
                                                black_box(code),
                                                salt,
                                                &mut out,
                                                &mut blocks[..],
                                            )
                                            .expect("hashes");
                                        out
                                    })
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .flat_map(|h| h.join().expect("hashing thread"))
                        .collect::<Vec<_>>()
                })
            })
        },
    );
    group.bench_function(
        "bench-local, 10 sequential Argon2id, one reused buffer",
        |b| {
            let mut blocks = vec![argon2::Block::new(); 19_456];
            b.iter(|| {
                let argon2 = peppered(&pepper);
                inputs
                    .iter()
                    .map(|(code, salt)| {
                        let mut out = [0u8; 32];
                        argon2
                            .hash_password_into_with_memory(
                                black_box(code),
                                salt,
                                &mut out,
                                &mut blocks[..],
                            )
                            .expect("hashes");
                        out
                    })
                    .collect::<Vec<_>>()
            })
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::slow_criterion();
    targets = attempts, generation
}
criterion_main!(benches);
