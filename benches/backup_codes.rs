//! Backup codes with the default Argon2id parameters (m = 19456 KiB, t = 2,
//! p = 1), against the designs a user would compare with.
//!
//! - `backup_attempt/failed`: a failed attempt on a set of 10 stored codes.
//!   The crate's locator design runs at most one Argon2 evaluation (when the
//!   first two characters name an unused code) and none when they name no
//!   code. The naive design stores 10 Argon2id PHC strings, each with its own
//!   salt, and verifies each in turn with `argon2::PasswordVerifier`, so a
//!   failed attempt always costs 10 evaluations.
//!   The same failed attempt on a set of the NIST recovery-code preset
//!   (`BackupCodeStrength::NistRecovery`, 15 characters): one Argon2
//!   evaluation over 15 bytes instead of 10, and none for a code of the
//!   default length.
//! - `backup_attempt/success`: a correct code. The naive design stops at the
//!   matching hash; the bench puts it 5th of 10 (mean over positions: 5.5).
//! - `backup_generate/10_codes`: confirming setup and regenerating the codes
//!   (10 new codes) against 10 sequential raw Argon2id hashes with the same
//!   parameters, pepper and salt length; plus a bench-local variant of the
//!   baseline hashing in one memory buffer allocated up front.
//! - `backup_generate/parallel`: the 10 hashes spread over the available cores
//!   with `std::thread::scope` (bench-local), with fresh or reused memory.
//!
//! Records are cloned outside the timed sections. The single-threaded groups
//! measure the thread's CPU time by default (`MFA_BENCH_WALL_TIME=1` for wall
//! time); the parallel group measures wall time.

mod common;

use std::hint::black_box;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use criterion::measurement::{Measurement, WallTime};
use criterion::{BatchSize, Criterion, SamplingMode, criterion_group};
use mfa::{MfaEnrollment, Reauth, Verified, totp};
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

fn attempts<M: Measurement>(c: &mut Criterion<M>) {
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

    // The NIST recovery-code preset: a failed attempt whose locator matches,
    // and a code of the default length, which no 15-character set hashes.
    let nist_config = nist_config();
    let nist_records = common::records(&nist_config);
    let nist_matching = common::wrong_code_with_matching_locator(&nist_records.codes);
    let nist_wrong_length = common::wrong_code_with_matching_locator(&records.codes);
    for failing in [&nist_matching, &nist_wrong_length] {
        let result = outcome(&nist_records.active, &nist_config, failing);
        assert!(matches!(result, Err(mfa::Error::InvalidCode)), "{result:?}");
    }
    assert_eq!(nist_matching.len(), 17);

    let verify = |code| verify_bench(&records.active, &config, code);

    let mut group = c.benchmark_group("backup_attempt/failed");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(
        "mfa, locator matches an unused code (1 Argon2)",
        verify(&matching),
    );
    group.bench_function("mfa, locator matches nothing (0 Argon2)", verify(&unknown));
    group.bench_function(
        "mfa NistRecovery (15 characters), locator matches an unused code (1 Argon2)",
        verify_bench(&nist_records.active, &nist_config, &nist_matching),
    );
    group.bench_function(
        "mfa NistRecovery, a 10-character code (0 Argon2)",
        verify_bench(&nist_records.active, &nist_config, &nist_wrong_length),
    );
    let wrong = canonical(&matching);
    group.bench_function("naive, 10 PHC hashes verified in turn (10 Argon2)", |b| {
        b.iter(|| naive_verify(&stored, black_box(&wrong)))
    });
    // Attribution rows: the one Argon2 evaluation alone, allocating its memory
    // as the crate does (fresh pages from the OS when the allocator has none
    // to reuse) or in a buffer allocated up front.
    let (code, salt) = ([b'a'; 10], [7u8; 16]);
    group.bench_function("bench-local, 1 Argon2id, memory allocated per hash", |b| {
        let argon2 = peppered(&PEPPER);
        b.iter(|| hash_one(&argon2, black_box(&code), &salt))
    });
    group.bench_function("bench-local, 1 Argon2id, reused buffer", |b| {
        let argon2 = peppered(&PEPPER);
        let mut blocks = vec![argon2::Block::new(); 19_456];
        b.iter(|| hash_with(&argon2, &code, &salt, &mut blocks))
    });
    // What the crate adds to each evaluation to keep no secret-derived state
    // in its memory pool: wiping the 19 MiB buffer afterwards.
    group.bench_function("bench-local, wipe of one 19 MiB Argon2 buffer", |b| {
        use zeroize::Zeroize;
        let mut blocks = vec![argon2::Block::new(); 19_456];
        b.iter(|| {
            blocks.iter_mut().for_each(Zeroize::zeroize);
            black_box(&blocks);
        })
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

/// The default policy with the NIST recovery-code preset.
fn nist_config() -> mfa::MfaContext {
    let mut policy = mfa::Policy::new("bench");
    policy.backup_codes.strength = mfa::backup::BackupCodeStrength::NistRecovery;
    mfa::MfaContext::new(common::keyring(), policy).expect("valid policy")
}

/// Times `verify_backup_code` on a fresh clone of `record` (cloned untimed).
fn verify_bench<'a, M: Measurement>(
    record: &'a MfaEnrollment,
    config: &'a mfa::MfaContext,
    code: &'a str,
) -> impl FnMut(&mut criterion::Bencher<'_, M>) + 'a {
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

fn outcome(record: &MfaEnrollment, config: &mfa::MfaContext, code: &str) -> mfa::Result<Verified> {
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

type Inputs = [([u8; 10], [u8; 16])];

/// Ten (code, salt) pairs, hashed by the baselines.
fn inputs() -> Vec<([u8; 10], [u8; 16])> {
    let mut rng = common::rng();
    (0..10)
        .map(|_| {
            let mut code = [0u8; 10];
            let mut salt = [0u8; 16];
            rng.fill_bytes(&mut code);
            rng.fill_bytes(&mut salt);
            (code, salt)
        })
        .collect()
}

const PEPPER: [u8; 32] = [0x24; 32];

/// The baseline: 10 sequential hashes, each allocating its own Argon2 memory
/// (`hash_password_into`, as the crate does).
fn sequential(inputs: &Inputs) -> Vec<[u8; 32]> {
    let argon2 = peppered(&PEPPER);
    inputs
        .iter()
        .map(|(code, salt)| hash_one(&argon2, black_box(code), salt))
        .collect()
}

fn hash_with(
    argon2: &Argon2<'_>,
    code: &[u8; 10],
    salt: &[u8; 16],
    blocks: &mut [argon2::Block],
) -> [u8; 32] {
    let mut out = [0u8; 32];
    argon2
        .hash_password_into_with_memory(black_box(code), salt, &mut out, blocks)
        .expect("hashes");
    out
}

/// 10 sequential hashes in one Argon2 memory buffer allocated up front.
fn sequential_reused(inputs: &Inputs, blocks: &mut [argon2::Block]) -> Vec<[u8; 32]> {
    let argon2 = peppered(&PEPPER);
    inputs
        .iter()
        .map(|(code, salt)| hash_with(&argon2, code, salt, blocks))
        .collect()
}

/// The 10 hashes split over `threads` scoped threads; each hash allocates its
/// own memory, or each thread uses one of `buffers` when given.
fn parallel(
    inputs: &Inputs,
    threads: usize,
    buffers: Option<&mut [Vec<argon2::Block>]>,
) -> Vec<[u8; 32]> {
    let argon2 = peppered(&PEPPER);
    let per_thread = inputs.len().div_ceil(threads);
    let mut buffers: Vec<Option<&mut Vec<argon2::Block>>> = match buffers {
        Some(b) => b.iter_mut().map(Some).collect(),
        None => (0..threads).map(|_| None).collect(),
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .chunks(per_thread)
            .zip(buffers.iter_mut())
            .map(|(chunk, buffer)| {
                let argon2 = &argon2;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(code, salt)| match buffer {
                            Some(blocks) => hash_with(argon2, code, salt, blocks),
                            None => hash_one(argon2, black_box(code), salt),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("hashing thread"))
            .collect()
    })
}

fn generation<M: Measurement>(c: &mut Criterion<M>) {
    let config = common::default_config();
    let records = common::records(&config);
    let params = config.policy().totp.params();
    let confirm_code = totp::generate(&records.secret, params, records.confirmed_at).expect("code");
    let inputs = inputs();

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
                    Reauth::RecentProof(&records.proof),
                    NOW,
                    &mut rand::rng(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline, 10 sequential Argon2id", |b| {
        b.iter(|| sequential(&inputs))
    });
    group.bench_function(
        "bench-local, 10 sequential Argon2id, one reused buffer",
        |b| {
            let mut blocks = vec![argon2::Block::new(); 19_456];
            b.iter(|| sequential_reused(&inputs, &mut blocks))
        },
    );
    group.finish();
}

/// Wall-clock time: spreading the 10 hashes over the available cores.
fn spread(c: &mut Criterion<WallTime>) {
    let inputs = inputs();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("backup_generate/parallel");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("baseline, 10 sequential Argon2id", |b| {
        b.iter(|| sequential(&inputs))
    });
    group.bench_function(
        format!("bench-local, 10 Argon2id over {cores} threads"),
        |b| b.iter(|| parallel(&inputs, cores, None)),
    );
    group.bench_function(
        format!("bench-local, 10 Argon2id over {cores} threads, reused buffers"),
        |b| {
            let mut buffers: Vec<Vec<argon2::Block>> = (0..cores)
                .map(|_| vec![argon2::Block::new(); 19_456])
                .collect();
            b.iter(|| parallel(&inputs, cores, Some(&mut buffers)))
        },
    );
    group.finish();
}

criterion_group! {
    name = cpu_time;
    config = common::slow_criterion().with_measurement(common::ThreadCpuTime);
    targets = attempts, generation
}
criterion_group! {
    name = wall_time;
    config = common::slow_criterion().with_measurement(WallTime);
    targets = attempts, generation
}
criterion_group! {
    name = parallel_wall_time;
    config = common::slow_criterion();
    targets = spread
}

/// Thread CPU time for the single-threaded comparisons by default (robust to
/// other load on the machine; `MFA_BENCH_WALL_TIME=1` for wall-clock time),
/// wall-clock time for the parallel one.
fn main() {
    if common::wall_time() {
        wall_time();
    } else {
        cpu_time();
    }
    parallel_wall_time();
    Criterion::default().configure_from_args().final_summary();
}
