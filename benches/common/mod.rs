//! Shared set-up for the benches: a configuration with the default (OWASP)
//! Argon2 parameters, and records built through the public transitions.
#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;
use mfa::testkit::fixtures::Enrolled;
use mfa::{BackupCodes, KeyId, Keyring, MasterKey, MfaContext, Policy};
use rand::{SeedableRng, rngs::StdRng};

/// The time every bench runs at (unix seconds).
pub const NOW: u64 = 1_700_000_000;
/// The user the records belong to.
pub const USER: &str = "user-0001";
/// Key material of the benches' keyring.
pub const KEY: [u8; 32] = [0x42; 32];

pub fn keyring() -> Keyring {
    Keyring::new(KeyId(1), MasterKey::from_bytes(KEY))
}

/// The default policy: SHA-1, 6 digits, 30 s, skew 1, 10 backup codes,
/// Argon2id m = 19456 KiB, t = 2, p = 1.
pub fn default_config() -> MfaContext {
    MfaContext::new(keyring(), Policy::new("bench")).expect("default policy is valid")
}

/// A deterministic RNG for set-up.
pub fn rng() -> StdRng {
    StdRng::seed_from_u64(4)
}

/// The pending setup, the active factor it was confirmed into (at
/// `NOW - 300`), the plaintext backup codes and the TOTP secret.
pub fn records(config: &MfaContext) -> Enrolled {
    Enrolled::new(config, USER, NOW - 300)
}

/// A backup code whose locator (first two characters) matches a stored,
/// unused code but whose secret part is wrong: costs one Argon2 evaluation.
pub fn wrong_code_with_matching_locator(codes: &BackupCodes) -> String {
    let text = codes.iter().next().expect("one code").as_str().to_owned();
    let last = text.chars().last().expect("non-empty");
    let other = if last == '2' { '3' } else { '2' };
    format!("{}{}", &text[..text.len() - 1], other)
}

/// A well-formed backup code whose locator matches no stored code: costs no
/// Argon2 evaluation at all.
pub fn code_with_unknown_locator(codes: &BackupCodes) -> String {
    let taken: Vec<String> = codes.iter().map(|c| c.as_str()[..2].to_owned()).collect();
    let alphabet = std::str::from_utf8(mfa::backup::BackupCode::ALPHABET).expect("ASCII");
    for a in alphabet.chars() {
        for b in alphabet.chars() {
            let locator = format!("{a}{b}");
            if !taken.contains(&locator) {
                return format!("{locator}abc-defgh");
            }
        }
    }
    unreachable!("10 codes cannot take 1024 locators")
}

/// Whether `--quick` was passed (`cargo bench -- --quick`): criterion then
/// stops each bench at 5 % relative deviation; groups also shorten their
/// measurement time.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick") || std::env::var_os("MFA_BENCH_QUICK").is_some()
}

/// Criterion for microsecond-scale benches.
pub fn fast_criterion() -> Criterion {
    let (warm, measure) = if quick() { (0.2, 1.0) } else { (1.0, 3.0) };
    Criterion::default()
        .warm_up_time(Duration::from_secs_f64(warm))
        .measurement_time(Duration::from_secs_f64(measure))
        .sample_size(if quick() { 10 } else { 60 })
        .configure_from_args()
}

/// Criterion for Argon2-bound benches (tens to hundreds of milliseconds per
/// iteration): the minimum of 10 samples, flat sampling, short warm-up.
pub fn slow_criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(if quick() { 100 } else { 500 }))
        .measurement_time(Duration::from_secs(if quick() { 1 } else { 4 }))
        .sample_size(10)
        .configure_from_args()
}

/// Whether `MFA_BENCH_WALL_TIME` is set: the microsecond-scale benches then
/// measure wall-clock time instead of the thread's CPU time.
pub fn wall_time() -> bool {
    std::env::var_os("MFA_BENCH_WALL_TIME").is_some() || !cfg!(target_os = "linux")
}

/// Criterion measurement of the benchmarking thread's CPU time
/// (`CLOCK_THREAD_CPUTIME_ID`): time the thread spends descheduled while
/// other processes run does not count, so ratios measured on a busy shared
/// machine stay close to those of an idle one. Only for single-threaded
/// routines. Falls back to wall time off Linux.
pub struct ThreadCpuTime;

#[cfg(target_os = "linux")]
fn cpu_clock_ns(clock: i32) -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids are Linux's.
    let rc = unsafe { clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock})");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time of the calling thread.
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> u64 {
    cpu_clock_ns(3) // CLOCK_THREAD_CPUTIME_ID
}

/// CPU time of the whole process, every thread included.
#[cfg(target_os = "linux")]
pub fn process_cpu_ns() -> u64 {
    cpu_clock_ns(2) // CLOCK_PROCESS_CPUTIME_ID
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

#[cfg(not(target_os = "linux"))]
pub fn process_cpu_ns() -> u64 {
    thread_cpu_ns()
}

impl criterion::measurement::Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        &CpuNanos
    }
}

struct CpuNanos;

impl criterion::measurement::ValueFormatter for CpuNanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns (cpu)"),
            t if t < 1e6 => (1e-3, "µs (cpu)"),
            t if t < 1e9 => (1e-6, "ms (cpu)"),
            _ => (1e-9, "s (cpu)"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &criterion::Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per = match *throughput {
            criterion::Throughput::Elements(n) => n as f64,
            _ => 1.0,
        };
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "elem/s (cpu)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// Defines `main` for a bench whose one function `$bench` runs in thread CPU
/// time by default (robust to other load on the machine), or in wall-clock
/// time with `MFA_BENCH_WALL_TIME=1`.
#[allow(unused_macros)]
macro_rules! cpu_or_wall_main {
    ($bench:path) => {
        ::criterion::criterion_group! {
            name = cpu_time;
            config = common::fast_criterion().with_measurement(common::ThreadCpuTime);
            targets = $bench
        }
        ::criterion::criterion_group! {
            name = wall_time;
            config = common::fast_criterion().with_measurement(::criterion::measurement::WallTime);
            targets = $bench
        }

        fn main() {
            if common::wall_time() {
                wall_time();
            } else {
                cpu_time();
            }
            ::criterion::Criterion::default()
                .configure_from_args()
                .final_summary();
        }
    };
}
#[allow(unused_imports)]
pub(crate) use cpu_or_wall_main;
