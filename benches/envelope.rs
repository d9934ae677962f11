//! Envelope encryption of a 20-byte TOTP secret (AES-256-GCM), with a
//! prebuilt `Keyring` (HKDF and AES key schedule done once) against per-call
//! key set-up (a `Keyring` built from the master key on every call, as code
//! that keeps only the raw key around would do). Thread CPU time by default,
//! `MFA_BENCH_WALL_TIME=1` for wall-clock time.

mod common;

use std::hint::black_box;

use criterion::Criterion;
use criterion::measurement::Measurement;
use mfa::{KeyId, Keyring, MasterKey, keys::Envelope};

use common::{KEY, USER};

const PURPOSE: &str = "totp-secret";
const SECRET: [u8; 20] = [7; 20];

fn per_call_keyring() -> Keyring {
    Keyring::new(KeyId(1), MasterKey::from_bytes(black_box(KEY)))
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let keyring = common::keyring();
    let mut rng = rand::rng();
    let sealed = Envelope::seal(&keyring, PURPOSE, USER, &SECRET, &mut rng).expect("seals");

    let mut group = c.benchmark_group("envelope/seal_20B");
    group.bench_function("prebuilt keyring", |b| {
        b.iter(|| Envelope::seal(&keyring, PURPOSE, USER, black_box(&SECRET), &mut rng))
    });
    group.bench_function("per-call key set-up", |b| {
        b.iter(|| {
            let keyring = per_call_keyring();
            Envelope::seal(&keyring, PURPOSE, USER, black_box(&SECRET), &mut rng)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("envelope/open_20B");
    group.bench_function("prebuilt keyring, open (Vec)", |b| {
        b.iter(|| black_box(&sealed).open(&keyring, PURPOSE, USER))
    });
    group.bench_function("prebuilt keyring, open_secret (stack)", |b| {
        b.iter(|| black_box(&sealed).open_secret(&keyring, USER))
    });
    group.bench_function("per-call key set-up, open_secret (stack)", |b| {
        b.iter(|| {
            let keyring = per_call_keyring();
            black_box(&sealed).open_secret(&keyring, USER)
        })
    });
    group.finish();
}

common::cpu_or_wall_main!(bench);
