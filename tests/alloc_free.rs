//! Heap allocations of TOTP verification, counted with a counting global
//! allocator, against `totp-rs`'s own `Totp::check` on the same secret, time
//! and code. The counter is per thread, so tests running in parallel do not
//! see each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mfa::testkit::test_config;
use mfa::{
    KeyId, Keyring, MasterKey,
    keys::Envelope,
    totp::{self, Algorithm, TotpCode, TotpParams, TotpSecret},
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator may run while a thread's locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations `f` makes on this thread (including dropping its result).
fn allocations<T>(f: impl FnOnce() -> T) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    drop(std::hint::black_box(f()));
    ALLOCATIONS.with(Cell::get) - before
}

const NOW: u64 = 1_700_000_000;
const USER: &str = "user-1";

struct Case {
    keyring: Keyring,
    envelope: Envelope,
    secret: TotpSecret,
    params: TotpParams,
    bare: totp_rs::Totp,
    correct: String,
    wrong: String,
}

fn case(secret_len: usize, algorithm: Algorithm) -> Case {
    let keyring = Keyring::new(KeyId(1), MasterKey::from_bytes([3; 32]));
    let secret = TotpSecret::generate_with_len(secret_len, &mut rand::rng()).unwrap();
    let envelope = Envelope::seal_secret(&keyring, USER, &secret, &mut rand::rng()).unwrap();
    let params = TotpParams {
        algorithm,
        ..TotpParams::default()
    };
    // The baseline is built once, outside the counted section, as a host
    // keeping its factors in memory would.
    let bare = totp_rs::Builder::new()
        .with_algorithm(match algorithm {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            _ => totp_rs::Algorithm::SHA512,
        })
        .with_digits(params.digits)
        .with_step_duration(params.period)
        .with_skew(1)
        .with_secret(totp_rs::Secret::from(secret.as_bytes()))
        .build()
        .unwrap();
    let correct = totp::generate(&secret, params, NOW).unwrap();
    let window: Vec<String> = [NOW - 30, NOW, NOW + 30]
        .iter()
        .map(|&t| totp::generate(&secret, params, t).unwrap())
        .collect();
    let wrong = (1..)
        .map(|i| format!("{:06}", (correct.parse::<u32>().unwrap() + i) % 1_000_000))
        .find(|c| !window.contains(c))
        .unwrap();
    Case {
        keyring,
        envelope,
        secret,
        params,
        bare,
        correct,
        wrong,
    }
}

/// What an active factor runs: decrypt the stored secret, parse the code,
/// check the ±1 window and refuse steps at or below the last accepted one.
fn crate_verify(case: &Case, code: &str) -> bool {
    let secret = case.envelope.open_secret(&case.keyring, USER).unwrap();
    let code = TotpCode::parse(code, case.params.digits).unwrap();
    let last_step = Some(NOW / 30 - 10);
    matches!(
        totp::check(&secret, case.params, 1, &code, NOW, last_step).unwrap(),
        mfa::totp::TotpCheck::Accepted(_)
    )
}

#[test]
fn the_counter_counts() {
    assert_eq!(allocations(|| vec![1u8; 4]), 1);
    assert_eq!(allocations(|| 7u64), 0);
}

#[test]
fn default_secret_verification_allocates_no_more_than_totp_rs() {
    let case = case(TotpSecret::DEFAULT_LEN, Algorithm::Sha1);
    assert_eq!(case.secret.as_bytes().len(), 20);
    for (code, accepted) in [(&case.correct, true), (&case.wrong, false)] {
        assert_eq!(crate_verify(&case, code), accepted);
        assert_eq!(case.bare.check(code, NOW).is_some(), accepted);
        let ours = allocations(|| crate_verify(&case, code));
        let theirs = allocations(|| case.bare.check(code, NOW));
        assert!(
            ours <= theirs,
            "accepted={accepted}: the crate made {ours} allocations, totp-rs {theirs}"
        );
        // Both are in fact allocation-free.
        assert_eq!((ours, theirs), (0, 0), "accepted={accepted}");
    }
}

#[test]
fn every_step_of_the_path_is_heap_free_for_160_bit_secrets() {
    let case = case(20, Algorithm::Sha1);
    assert_eq!(
        allocations(|| case.envelope.open_secret(&case.keyring, USER).unwrap()),
        0
    );
    assert_eq!(allocations(|| TotpCode::parse(" 123 456 ", 6).unwrap()), 0);
    let code = TotpCode::parse(&case.wrong, 6).unwrap();
    assert_eq!(
        allocations(|| totp::check(&case.secret, case.params, 1, &code, NOW, None).unwrap()),
        0
    );
    // The general-purpose `open` returns the plaintext in a (zeroizing) Vec.
    assert_eq!(
        allocations(|| case
            .envelope
            .open(&case.keyring, "totp-secret", USER)
            .unwrap()),
        1
    );
}

/// Secrets of other lengths than 160 bits (allowed: 128 to 512 bits) are
/// keyed into HMAC straight from the stack: no allocation either.
#[test]
fn other_secret_lengths_allocate_no_more_than_totp_rs() {
    for (len, algorithm) in [
        (16, Algorithm::Sha1),
        (32, Algorithm::Sha256),
        (64, Algorithm::Sha512),
    ] {
        let case = case(len, algorithm);
        for code in [&case.correct, &case.wrong] {
            let ours = allocations(|| crate_verify(&case, code));
            let theirs = allocations(|| case.bare.check(code, NOW));
            assert!(ours <= theirs, "{len} bytes: {ours} > {theirs}");
        }
    }
}

/// The whole pure transition on a stored record allocates only for what it
/// returns: the `Transition::events` vector carrying the one security event
/// (`TotpAccepted`, or `AttemptFailed` for a wrong code).
#[test]
fn the_verify_transition_allocates_only_its_event_list() {
    let config = test_config();
    let now = NOW;
    let enrolled = mfa::testkit::fixtures::Enrolled::new(&config, USER, now - 300);
    let (secret, active) = (enrolled.secret, enrolled.active);
    let params = TotpParams::default();
    let correct = totp::generate(&secret, params, now).unwrap();
    let wrong = format!(
        "{:06}",
        (correct.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    // Made outside the counted section: the thread's RNG allocates on first use.
    let mut rng = rand::rng();
    for (code, accepted) in [(&correct, true), (&wrong, false)] {
        let record = active.clone();
        let mut events = 0;
        let n = allocations(|| {
            let t = record.verify_totp(&config, USER, code, now, &mut rng);
            assert_eq!(t.outcome.is_ok(), accepted);
            events = t.events.len();
            t
        });
        assert_eq!(events, 1, "accepted={accepted}");
        assert_eq!(n, 1, "accepted={accepted}: only the events vector");
    }
}
