//! Failed backup-code attempts against imported sets (feature `import`), with
//! the default Argon2id parameters (m = 19456 KiB, t = 2, p = 1):
//!
//! - `legacy_attempt/failed`: a wrong code against 10 imported codes.
//!   Plain codes hashed at import sit under keyed locators: a wrong code
//!   whose locator names an unused code costs one Argon2 evaluation, any
//!   other none (one HMAC-SHA-256). Legacy hashes have no locator, so a
//!   wrong code is checked against each unused one: the largest sets the
//!   import bound admits (`mfa::import::MAX_LEGACY_WORK_ATTEMPTS`, ten
//!   native attempts) of devise-two-factor's bcrypt, two hashes at cost 10
//!   and one at cost 11 (Devise's default cost of 12 is refused), and
//!   GitLab's PBKDF2-SHA-512 at its 20 000 rounds, 10 hashes. The first
//!   case, one Argon2 evaluation, is the native attempt they compare with.
//!
//! Records are cloned outside the timed sections. Thread CPU time by default
//! (`MFA_BENCH_WALL_TIME=1` for wall time), as `backup_codes` measures.

mod common;

use criterion::measurement::{Measurement, WallTime};
use criterion::{BatchSize, Criterion, criterion_group};
use mfa::MfaEnrollment;
use mfa::import::{CodeCase, ImportedFactor};
use mfa::testkit::legacy::{devise_backup_code_hash, gitlab_backup_code_hash};
use mfa::totp::TotpParams;

use common::{NOW, USER};

/// Ten 16-character hex codes, as devise-two-factor and GitLab generate them.
fn hex_codes() -> Vec<String> {
    (0..10u64)
        .map(|i| format!("{:016x}", 0x0123_4567_89ab_cdef_u64.wrapping_mul(i + 3)))
        .collect()
}

fn imported(config: &mfa::MfaContext, factor: ImportedFactor) -> MfaEnrollment {
    let sealed = factor
        .seal(config, USER, NOW - 60, &mut common::rng())
        .expect("seals");
    let t = MfaEnrollment::default().import(&sealed, USER, NOW - 60);
    t.outcome.expect("imports");
    t.state
}

fn factor() -> ImportedFactor {
    ImportedFactor::from_hex(
        "3132333435363738393031323334353637383930",
        TotpParams::default(),
    )
    .expect("a 160-bit secret")
}

fn attempts<M: Measurement>(c: &mut Criterion<M>) {
    let config = common::default_config();
    let codes = hex_codes();
    let plain = imported(
        &config,
        factor()
            .with_plain_backup_codes(&codes, CodeCase::Insensitive)
            .unwrap(),
    );
    // Wrong codes whose keyed locator names an unused code, and names none.
    let wrong: Vec<String> = (0..10_000).map(|i| format!("wrong-code-{i}")).collect();
    let hits = wrong
        .iter()
        .find(|w| plain.would_hash(&config, w, NOW))
        .expect("some wrong code shares a locator");
    let misses = wrong
        .iter()
        .find(|w| !plain.would_hash(&config, w, NOW))
        .expect("most wrong codes share none");
    let bcrypt = |cost, n| {
        let pepper = "a-devise-pepper";
        let hashes: Vec<String> = codes[..n]
            .iter()
            .map(|c| devise_backup_code_hash(c, pepper, cost))
            .collect();
        imported(
            &config,
            factor().with_bcrypt_backup_codes(&hashes, pepper).unwrap(),
        )
    };
    let token = "q3Zk-9xV_aPw7LmN2bYc4RtE6uHj8KsD0fGhJ1lOiUyTrEwQaSdFgHjKlZxCvBnM";
    let pbkdf2: Vec<String> = codes
        .iter()
        .map(|c| gitlab_backup_code_hash(c, token, 20_000))
        .collect();
    let sets = [
        (
            "imported plain, locator names an unused code (1 Argon2)",
            plain.clone(),
            hits.as_str(),
        ),
        (
            "imported plain, locator names no code (0 Argon2)",
            plain.clone(),
            misses.as_str(),
        ),
        (
            "devise-two-factor bcrypt cost 10, 2 hashes (the bound)",
            bcrypt(10, 2),
            "ffffffffffffffff",
        ),
        (
            "devise-two-factor bcrypt cost 11, 1 hash (the bound)",
            bcrypt(11, 1),
            "ffffffffffffffff",
        ),
        (
            "GitLab PBKDF2-SHA-512 20000 rounds, 10 hashes",
            imported(
                &config,
                factor().with_pbkdf2_sha512_backup_codes(&pbkdf2).unwrap(),
            ),
            "ffffffffffffffff",
        ),
    ];
    let mut group = c.benchmark_group("legacy_attempt/failed");
    for (name, record, code) in &sets {
        group.bench_function(*name, |b| {
            b.iter_batched(
                || record.clone(),
                |r| {
                    let t = r.verify_backup_code(&config, USER, code, NOW, &mut common::rng());
                    assert!(t.outcome.is_err());
                    t
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = cpu_time;
    config = common::slow_criterion().with_measurement(common::ThreadCpuTime);
    targets = attempts
}
criterion_group! {
    name = wall_time;
    config = common::slow_criterion().with_measurement(WallTime);
    targets = attempts
}

fn main() {
    if common::wall_time() {
        wall_time();
    } else {
        cpu_time();
    }
    Criterion::default().configure_from_args().final_summary();
}
