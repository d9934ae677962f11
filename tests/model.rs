//! Model-based property test: random sequences of operations run against the
//! service (on `MemoryStore`) and against a small reference model written
//! here, from the rules rather than from the code. After every step both must
//! agree on the outcome (success and its details, or the exact error), on the
//! status, and on the stored failure counter and replay mark.
//!
//! The model's rules: the 5th consecutive failure locks for 30 s, each
//! further failure for twice as long up to 900 s, and from 100 consecutive failures every
//! code refused until a reset; a locked factor refuses even right codes; a
//! replayed TOTP step and a used backup code are refused without counting; a
//! malformed code is not counted; a pending setup expires after 600 s and
//! keeps its failure counter when restarted; the confirming step counts as
//! used; ±1 step of skew; regeneration with the session only needs no code.
//!
//! The number of cases is `MFA_MODEL_CASES` (default 1024).

use std::sync::Arc;

use mfa::testkit::strategies::code_input;
use mfa::testkit::{ManualClock, test_config};
use mfa::{
    Error, MemoryStore, Mfa, MfaEnrollment, MfaStatus, Reauth, VerifiedBy,
    totp::{self, TotpParams, TotpSecret},
};
use proptest::prelude::*;

const T0: u64 = 1_700_000_000;
const USER: &str = "model-user";

// The rules, as numbers.
const FREE_FAILURES: u32 = 5;
const BASE_DELAY: u64 = 30;
const MAX_DELAY: u64 = 900;
const HARD_LIMIT: u32 = 100;
const PENDING_TTL: u64 = 600;
const PERIOD: u64 = 30;
const SKEW: u64 = 1;
const ALPHABET: &str = "0123456789abcdefghjkmnpqrstvwxyz";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Failures {
    count: u32,
    locked_until: Option<u64>,
}

impl Failures {
    /// `Some(retry_after)` while locked; `Some(None)` past the hard limit.
    fn locked(&self, now: u64) -> Option<Option<u64>> {
        if self.count >= HARD_LIMIT {
            return Some(None);
        }
        match self.locked_until {
            Some(until) if now < until => Some(Some(until - now)),
            _ => None,
        }
    }

    fn fail(&mut self, now: u64) {
        self.count += 1;
        if self.count >= HARD_LIMIT {
            self.locked_until = None;
        } else if self.count >= FREE_FAILURES {
            let doublings = self.count - FREE_FAILURES;
            let delay = if doublings >= 10 {
                MAX_DELAY
            } else {
                (BASE_DELAY << doublings).min(MAX_DELAY)
            };
            self.locked_until = Some(now + delay);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Code {
    canonical: String,
    used: bool,
}

#[derive(Debug, Clone)]
enum Model {
    Disabled,
    Pending {
        secret: String,
        expires_at: u64,
        failures: Failures,
    },
    Active {
        secret: String,
        last_step: Option<u64>,
        codes: Vec<Code>,
        failures: Failures,
    },
}

/// What an operation did, as both sides report it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    SetupStarted,
    Codes(usize),
    Done,
    Totp {
        step: u64,
        drift: i64,
        remaining: usize,
    },
    BackupCode {
        remaining: usize,
    },
    InvalidCode,
    Malformed,
    LockedOut(Option<u64>),
    NoPendingSetup,
    PendingExpired,
    MfaNotEnabled,
    MfaAlreadyEnabled,
    Other(String),
}

fn from_error(e: &Error) -> Outcome {
    match e {
        Error::InvalidCode => Outcome::InvalidCode,
        Error::MalformedCode(_) => Outcome::Malformed,
        Error::LockedOut { retry_after } => Outcome::LockedOut(*retry_after),
        Error::NoPendingSetup => Outcome::NoPendingSetup,
        Error::PendingExpired => Outcome::PendingExpired,
        Error::MfaNotEnabled => Outcome::MfaNotEnabled,
        Error::MfaAlreadyEnabled => Outcome::MfaAlreadyEnabled,
        other => Outcome::Other(format!("{other:?}")),
    }
}

fn from_verified(v: mfa::Verified) -> Outcome {
    match v.by {
        VerifiedBy::Totp(m) => Outcome::Totp {
            step: m.step,
            drift: m.drift,
            remaining: v.backup_codes_remaining,
        },
        VerifiedBy::BackupCode => Outcome::BackupCode {
            remaining: v.backup_codes_remaining,
        },
        _ => Outcome::Other("unknown verification".into()),
    }
}

fn totp_at(secret: &str, step: u64) -> String {
    let secret = TotpSecret::from_base32(secret).unwrap();
    totp::generate(&secret, TotpParams::default(), step * PERIOD).unwrap()
}

/// TOTP input: white space dropped, then exactly six ASCII digits.
fn parse_totp(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// Backup-code input: white space and dashes dropped, case folded, `o` → `0`,
/// `i`/`l` → `1`, then exactly ten characters of the alphabet.
fn parse_backup(input: &str) -> Option<String> {
    let mut out = String::new();
    for c in input.chars() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        if !c.is_ascii() {
            return None;
        }
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !ALPHABET.contains(c) {
            return None;
        }
        out.push(c);
    }
    (out.chars().count() == 10).then_some(out)
}

/// The fields of [`MfaStatus`] the model predicts.
#[derive(Debug, PartialEq, Eq)]
struct Status {
    mfa_enabled: bool,
    mfa_method: Option<mfa::MfaMethod>,
    pending_setup: bool,
    backup_codes_remaining: usize,
    locked_out: bool,
}

impl From<MfaStatus> for Status {
    fn from(s: MfaStatus) -> Self {
        Status {
            mfa_enabled: s.mfa_enabled,
            mfa_method: s.mfa_method,
            pending_setup: s.pending_setup,
            backup_codes_remaining: s.backup_codes_remaining,
            locked_out: s.locked_out,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Totp,
    Backup,
    Either,
}

impl Model {
    fn status(&self, now: u64) -> Status {
        match self {
            Model::Disabled => Status {
                mfa_enabled: false,
                mfa_method: None,
                pending_setup: false,
                backup_codes_remaining: 0,
                locked_out: false,
            },
            Model::Pending {
                expires_at,
                failures,
                ..
            } => Status {
                mfa_enabled: false,
                mfa_method: None,
                pending_setup: now < *expires_at,
                backup_codes_remaining: 0,
                locked_out: failures.locked(now).is_some(),
            },
            Model::Active {
                codes, failures, ..
            } => Status {
                mfa_enabled: true,
                mfa_method: Some(mfa::MfaMethod::Totp),
                pending_setup: false,
                backup_codes_remaining: codes.iter().filter(|c| !c.used).count(),
                locked_out: failures.locked(now).is_some(),
            },
        }
    }

    fn failures(&self) -> Option<u32> {
        match self {
            Model::Disabled => None,
            Model::Pending { failures, .. } | Model::Active { failures, .. } => {
                Some(failures.count)
            }
        }
    }

    fn secret(&self) -> Option<&str> {
        match self {
            Model::Disabled => None,
            Model::Pending { secret, .. } | Model::Active { secret, .. } => Some(secret),
        }
    }

    /// Checks a code against an active factor, updating it in place.
    fn check_code(&mut self, kind: Kind, input: &str, now: u64) -> Outcome {
        let Model::Active {
            secret,
            last_step,
            codes,
            failures,
        } = self
        else {
            return Outcome::MfaNotEnabled;
        };
        if let Some(retry) = failures.locked(now) {
            return Outcome::LockedOut(retry);
        }
        let totp = match kind {
            Kind::Totp => match parse_totp(input) {
                Some(code) => Ok(code),
                None => return Outcome::Malformed,
            },
            Kind::Backup => match parse_backup(input) {
                Some(code) => Err(code),
                None => return Outcome::Malformed,
            },
            Kind::Either => match (parse_totp(input), parse_backup(input)) {
                (Some(code), _) => Ok(code),
                (None, Some(code)) => Err(code),
                (None, None) => return Outcome::Malformed,
            },
        };
        let remaining = |codes: &[Code]| codes.iter().filter(|c| !c.used).count();
        match totp {
            Ok(code) => {
                let origin = now / PERIOD;
                let mut replayed = false;
                for step in origin.saturating_sub(SKEW)..=origin + SKEW {
                    if totp_at(secret, step) != code {
                        continue;
                    }
                    if last_step.is_some_and(|used| step <= used) {
                        replayed = true;
                        continue;
                    }
                    *last_step = Some(step);
                    *failures = Failures::default();
                    return Outcome::Totp {
                        step,
                        drift: step as i64 - origin as i64,
                        remaining: remaining(codes),
                    };
                }
                if !replayed {
                    failures.fail(now);
                }
                Outcome::InvalidCode
            }
            Err(code) => {
                match codes.iter().position(|c| c.canonical[..2] == code[..2]) {
                    Some(i) if codes[i].used => {}
                    Some(i) if codes[i].canonical == code => {
                        codes[i].used = true;
                        *failures = Failures::default();
                        return Outcome::BackupCode {
                            remaining: remaining(codes),
                        };
                    }
                    _ => failures.fail(now),
                }
                Outcome::InvalidCode
            }
        }
    }
}

/// A TOTP-shaped input, resolved against the current state when it runs.
#[derive(Debug, Clone)]
enum TotpIn {
    /// The code of the step `now + offset` (±1 is within the skew, ±2 is not).
    Right(i8),
    /// The last code the service accepted.
    Replay,
    /// A code of no step near now.
    Wrong(u32),
    /// Anything a user might type.
    Text(String),
}

#[derive(Debug, Clone, Copy)]
enum Style {
    Shown,
    Upper,
    Spaced,
    LookAlikes,
}

#[derive(Debug, Clone)]
enum BackupIn {
    /// A code of the current set (used or not).
    Current(usize, Style),
    /// A code of the set before the last regeneration.
    Previous(usize),
    /// A current code's locator with a wrong secret part.
    WrongSecret(usize),
    Text(String),
}

#[derive(Debug, Clone)]
enum AnyIn {
    Totp(TotpIn),
    Backup(BackupIn),
}

#[derive(Debug, Clone)]
enum Step {
    BeginSetup,
    Confirm(TotpIn),
    Cancel,
    VerifyTotp(TotpIn),
    VerifyBackupCode(BackupIn),
    Verify(AnyIn),
    Regenerate(Option<TotpIn>),
    Disable(AnyIn),
    ResetLockout,
    Forward(u64),
    Backward(u64),
}

fn totp_in() -> impl Strategy<Value = TotpIn> {
    prop_oneof![
        5 => (-2i8..=2).prop_map(TotpIn::Right),
        2 => Just(TotpIn::Replay),
        3 => any::<u32>().prop_map(TotpIn::Wrong),
        2 => code_input().prop_map(TotpIn::Text),
    ]
}

fn backup_in() -> impl Strategy<Value = BackupIn> {
    let style = prop_oneof![
        Just(Style::Shown),
        Just(Style::Upper),
        Just(Style::Spaced),
        Just(Style::LookAlikes)
    ];
    prop_oneof![
        5 => (0usize..10, style).prop_map(|(i, s)| BackupIn::Current(i, s)),
        1 => (0usize..10).prop_map(BackupIn::Previous),
        2 => (0usize..10).prop_map(BackupIn::WrongSecret),
        1 => code_input().prop_map(BackupIn::Text),
    ]
}

fn any_in() -> impl Strategy<Value = AnyIn> {
    prop_oneof![
        totp_in().prop_map(AnyIn::Totp),
        backup_in().prop_map(AnyIn::Backup)
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::BeginSetup),
        6 => totp_in().prop_map(Step::Confirm),
        1 => Just(Step::Cancel),
        8 => totp_in().prop_map(Step::VerifyTotp),
        6 => backup_in().prop_map(Step::VerifyBackupCode),
        6 => any_in().prop_map(Step::Verify),
        2 => proptest::option::of(totp_in()).prop_map(Step::Regenerate),
        1 => any_in().prop_map(Step::Disable),
        1 => Just(Step::ResetLockout),
        4 => prop_oneof![Just(30u64), 1u64..60, 60u64..1200, Just(PENDING_TTL)].prop_map(Step::Forward),
        2 => prop_oneof![Just(30u64), 1u64..120].prop_map(Step::Backward),
    ]
}

/// The service and the model side by side.
struct World {
    rt: tokio::runtime::Runtime,
    mfa: Mfa<Arc<MemoryStore>>,
    clock: ManualClock,
    model: Model,
    previous_codes: Vec<String>,
    current_codes: Vec<String>,
    last_accepted: Option<String>,
}

impl World {
    fn new() -> Self {
        let clock = ManualClock::new(T0);
        World {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            mfa: Mfa::new(Arc::new(MemoryStore::new()), test_config()).with_clock(clock.clone()),
            clock,
            model: Model::Disabled,
            previous_codes: Vec::new(),
            current_codes: Vec::new(),
            last_accepted: None,
        }
    }

    fn now(&self) -> u64 {
        self.clock.get()
    }

    fn totp(&self, input: &TotpIn) -> String {
        let now = self.now();
        let Some(secret) = self.model.secret() else {
            return "123456".into();
        };
        match input {
            TotpIn::Right(offset) => {
                let step = (now / PERIOD).saturating_add_signed(i64::from(*offset));
                totp_at(secret, step)
            }
            TotpIn::Replay => self
                .last_accepted
                .clone()
                .unwrap_or_else(|| totp_at(secret, now / PERIOD)),
            TotpIn::Wrong(seed) => {
                let origin = now / PERIOD;
                let window: Vec<String> = (origin - SKEW..=origin + SKEW)
                    .map(|s| totp_at(secret, s))
                    .collect();
                (0..)
                    .map(|i| format!("{:06}", (seed.wrapping_add(i)) % 1_000_000))
                    .find(|c| !window.contains(c))
                    .unwrap()
            }
            TotpIn::Text(text) => text.clone(),
        }
    }

    fn backup(&self, input: &BackupIn) -> String {
        let pick = |codes: &[String], i: usize| codes.get(i % codes.len().max(1)).cloned();
        match input {
            BackupIn::Current(i, style) => {
                let Some(code) = pick(&self.current_codes, *i) else {
                    return "a1b2c-d3e4f".into();
                };
                match style {
                    Style::Shown => code,
                    Style::Upper => code.to_uppercase(),
                    Style::Spaced => code
                        .replace('-', " ")
                        .chars()
                        .flat_map(|c| [c, ' '])
                        .collect(),
                    Style::LookAlikes => code.replace('0', "O").replace('1', "l"),
                }
            }
            BackupIn::Previous(i) => {
                pick(&self.previous_codes, *i).unwrap_or_else(|| "zzzzz-zzzzz".into())
            }
            BackupIn::WrongSecret(i) => {
                let Some(code) = pick(&self.current_codes, *i) else {
                    return "a1b2c-d3e4g".into();
                };
                let last = code.chars().last().unwrap();
                let other = if last == 'z' { 'y' } else { 'z' };
                format!("{}{other}", &code[..code.len() - 1])
            }
            BackupIn::Text(text) => text.clone(),
        }
    }

    fn code(&self, input: &AnyIn) -> String {
        match input {
            AnyIn::Totp(t) => self.totp(t),
            AnyIn::Backup(b) => self.backup(b),
        }
    }

    fn adopt_codes(&mut self, codes: &mfa::BackupCodes) -> Vec<Code> {
        self.previous_codes = std::mem::take(&mut self.current_codes);
        self.current_codes = codes.as_strs().into_iter().map(str::to_owned).collect();
        self.current_codes
            .iter()
            .map(|c| Code {
                canonical: c.replace('-', ""),
                used: false,
            })
            .collect()
    }

    /// Runs one step on both sides; returns (model's outcome, service's outcome).
    fn step(&mut self, step: &Step) -> (Outcome, Outcome) {
        let now = self.now();
        match step {
            Step::Forward(secs) => {
                self.clock.advance(*secs);
                (Outcome::Done, Outcome::Done)
            }
            Step::Backward(secs) => {
                self.clock.set(now - secs);
                (Outcome::Done, Outcome::Done)
            }
            Step::BeginSetup => {
                let actual = self
                    .rt
                    .block_on(self.mfa.begin_setup(USER, "user@example.com"));
                let expected = match &self.model {
                    Model::Active { .. } => Outcome::MfaAlreadyEnabled,
                    _ => Outcome::SetupStarted,
                };
                match actual {
                    Ok(setup) => {
                        let failures = match &self.model {
                            Model::Pending { failures, .. } => *failures,
                            _ => Failures::default(),
                        };
                        self.model = Model::Pending {
                            secret: setup.secret_base32().to_owned(),
                            expires_at: now + PENDING_TTL,
                            failures,
                        };
                        (expected, Outcome::SetupStarted)
                    }
                    Err(e) => (expected, from_error(&e)),
                }
            }
            Step::Confirm(input) => {
                let code = self.totp(input);
                let actual = self.rt.block_on(self.mfa.confirm_setup(USER, &code));
                let expected = match &mut self.model {
                    Model::Disabled => Outcome::NoPendingSetup,
                    Model::Active { .. } => Outcome::MfaAlreadyEnabled,
                    Model::Pending {
                        secret,
                        expires_at,
                        failures,
                    } => {
                        if let Some(retry) = failures.locked(now) {
                            Outcome::LockedOut(retry)
                        } else if now >= *expires_at {
                            Outcome::PendingExpired
                        } else if let Some(code) = parse_totp(&code) {
                            let origin = now / PERIOD;
                            let matched = (origin - SKEW..=origin + SKEW)
                                .find(|s| totp_at(secret, *s) == code);
                            match matched {
                                Some(step) => {
                                    let secret = secret.clone();
                                    self.model = Model::Active {
                                        secret,
                                        last_step: Some(step),
                                        codes: Vec::new(),
                                        failures: Failures::default(),
                                    };
                                    self.last_accepted = Some(code);
                                    Outcome::Codes(10)
                                }
                                None => {
                                    failures.fail(now);
                                    Outcome::InvalidCode
                                }
                            }
                        } else {
                            Outcome::Malformed
                        }
                    }
                };
                let actual = match actual {
                    Ok(codes) => {
                        let adopted = self.adopt_codes(&codes);
                        if let Model::Active { codes: c, .. } = &mut self.model {
                            *c = adopted;
                        }
                        Outcome::Codes(codes.len())
                    }
                    Err(e) => from_error(&e),
                };
                (expected, actual)
            }
            Step::Cancel => {
                let actual = self.rt.block_on(self.mfa.cancel_setup(USER));
                let expected = match self.model {
                    Model::Pending { .. } => {
                        self.model = Model::Disabled;
                        Outcome::Done
                    }
                    _ => Outcome::NoPendingSetup,
                };
                (
                    expected,
                    actual.map_or_else(|e| from_error(&e), |()| Outcome::Done),
                )
            }
            Step::VerifyTotp(input) => {
                let code = self.totp(input);
                let actual = self.rt.block_on(self.mfa.verify_totp(USER, &code));
                let expected = self.model.check_code(Kind::Totp, &code, now);
                self.note_accepted(&expected, &code);
                (
                    expected,
                    actual.map_or_else(|e| from_error(&e), from_verified),
                )
            }
            Step::VerifyBackupCode(input) => {
                let code = self.backup(input);
                let actual = self.rt.block_on(self.mfa.verify_backup_code(USER, &code));
                let expected = self.model.check_code(Kind::Backup, &code, now);
                (
                    expected,
                    actual.map_or_else(|e| from_error(&e), from_verified),
                )
            }
            Step::Verify(input) => {
                let code = self.code(input);
                let actual = self.rt.block_on(self.mfa.verify(USER, &code));
                let expected = self.model.check_code(Kind::Either, &code, now);
                self.note_accepted(&expected, &code);
                (
                    expected,
                    actual.map_or_else(|e| from_error(&e), from_verified),
                )
            }
            Step::Regenerate(reauth) => {
                let code = reauth.as_ref().map(|t| self.totp(t));
                let proof = code
                    .as_deref()
                    .map_or(Reauth::SessionOnly, Reauth::TotpCode);
                let actual = self
                    .rt
                    .block_on(self.mfa.regenerate_backup_codes(USER, proof));
                let expected = match (&code, &self.model) {
                    (_, Model::Disabled | Model::Pending { .. }) => Outcome::MfaNotEnabled,
                    (None, Model::Active { .. }) => Outcome::Codes(10),
                    (Some(code), Model::Active { .. }) => {
                        match self.model.check_code(Kind::Totp, code, now) {
                            Outcome::Totp { .. } => {
                                self.last_accepted = Some(code.clone());
                                Outcome::Codes(10)
                            }
                            other => other,
                        }
                    }
                };
                let actual = match actual {
                    Ok(codes) => {
                        let adopted = self.adopt_codes(&codes);
                        if let Model::Active { codes: c, .. } = &mut self.model {
                            *c = adopted;
                        }
                        Outcome::Codes(codes.len())
                    }
                    Err(e) => from_error(&e),
                };
                (expected, actual)
            }
            Step::Disable(input) => {
                let code = self.code(input);
                let actual = self.rt.block_on(self.mfa.disable(USER, &code));
                let expected = match self.model.check_code(Kind::Either, &code, now) {
                    Outcome::Totp { .. } | Outcome::BackupCode { .. } => {
                        self.model = Model::Disabled;
                        self.current_codes.clear();
                        self.last_accepted = None;
                        Outcome::Done
                    }
                    other => other,
                };
                (
                    expected,
                    actual.map_or_else(|e| from_error(&e), |()| Outcome::Done),
                )
            }
            Step::ResetLockout => {
                let actual = self.rt.block_on(self.mfa.reset_lockout(USER));
                if let Model::Pending { failures, .. } | Model::Active { failures, .. } =
                    &mut self.model
                {
                    *failures = Failures::default();
                }
                (
                    Outcome::Done,
                    actual.map_or_else(|e| from_error(&e), |()| Outcome::Done),
                )
            }
        }
    }

    fn note_accepted(&mut self, outcome: &Outcome, code: &str) {
        if matches!(outcome, Outcome::Totp { .. }) {
            self.last_accepted = Some(code.to_owned());
        }
    }

    /// Status, failure counter and replay mark agree.
    fn compare_state(&self, ctx: &str) {
        let now = self.now();
        let status = self.rt.block_on(self.mfa.status(USER)).unwrap();
        assert_eq!(
            Status::from(status),
            self.model.status(now),
            "{ctx}: status"
        );
        let stored = self
            .rt
            .block_on(mfa::MfaStore::load(self.mfa.store(), USER))
            .unwrap()
            .map(|v| v.record)
            .unwrap_or_default();
        let (failures, last_step) = match &stored {
            MfaEnrollment::default() => (None, None),
            MfaEnrollment::Pending(p) => (Some(p.attempts_failures()), None),
            MfaEnrollment::Active(a) => (Some(a.attempts().failures()), a.last_step()),
        };
        assert_eq!(failures, self.model.failures(), "{ctx}: failure counter");
        if let Model::Active { last_step: m, .. } = &self.model {
            assert_eq!(last_step, *m, "{ctx}: replay mark");
        }
    }
}

/// The pending setup's failure counter, read through the record's JSON (the
/// type exposes no accessor for it).
trait PendingFailures {
    fn attempts_failures(&self) -> u32;
}

impl PendingFailures for mfa::enrollment::PendingSetup {
    fn attempts_failures(&self) -> u32 {
        let json = serde_json::to_value(self).unwrap();
        json["attempts"]["failures"].as_u64().unwrap_or(0) as u32
    }
}

fn cases() -> u32 {
    std::env::var("MFA_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// The name of an outcome's kind, for the coverage tally.
fn kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::SetupStarted => "setup started",
        Outcome::Codes(_) => "codes",
        Outcome::Done => "done",
        Outcome::Totp { .. } => "totp accepted",
        Outcome::BackupCode { .. } => "backup code accepted",
        Outcome::InvalidCode => "invalid code",
        Outcome::Malformed => "malformed",
        Outcome::LockedOut(Some(_)) => "locked out",
        Outcome::LockedOut(None) => "hard locked",
        Outcome::NoPendingSetup => "no pending secret",
        Outcome::PendingExpired => "pending expired",
        Outcome::MfaNotEnabled => "not enabled",
        Outcome::MfaAlreadyEnabled => "already enabled",
        Outcome::Other(_) => "other",
    }
}

#[test]
fn service_agrees_with_the_model() {
    let config = ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    };
    let tally = std::cell::RefCell::new(std::collections::BTreeMap::<&str, u64>::new());
    let started = std::time::Instant::now();
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (
        proptest::bool::weighted(0.75),
        proptest::collection::vec(step(), 1..60),
    );
    let result = runner.run(&strategy, |(enrolled, steps)| {
        let mut world = World::new();
        let prefix = [Step::BeginSetup, Step::Confirm(TotpIn::Right(0))];
        let prefix = if enrolled { &prefix[..] } else { &[] };
        for (i, step) in prefix.iter().chain(&steps).enumerate() {
            let ctx = format!("step {i}: {step:?} at {}", world.now());
            let (expected, actual) = world.step(step);
            prop_assert_eq!(&expected, &actual, "{}", ctx);
            world.compare_state(&ctx);
            *tally.borrow_mut().entry(kind(&actual)).or_default() += 1;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let tally = tally.into_inner();
    eprintln!(
        "model: {} cases, {} steps in {:.1?}: {tally:?}",
        cases(),
        tally.values().sum::<u64>(),
        started.elapsed()
    );
    // The random sequences reach every outcome but the hard limit (which
    // `the_schedule_to_the_hard_limit` covers) and errors the model has no name for.
    for outcome in [
        "setup started",
        "codes",
        "totp accepted",
        "backup code accepted",
        "invalid code",
        "malformed",
        "locked out",
        "no pending secret",
        "pending expired",
        "not enabled",
        "already enabled",
    ] {
        assert!(
            tally.contains_key(outcome),
            "no case reached {outcome:?}: {tally:?}"
        );
    }
}

/// Long stretches of failures reach every delay of the schedule and the hard
/// limit, which random sequences rarely do.
#[test]
fn the_schedule_to_the_hard_limit() {
    let mut world = World::new();
    world.step(&Step::BeginSetup);
    world.step(&Step::Confirm(TotpIn::Right(0)));
    let mut delays = Vec::new();
    for i in 0..HARD_LIMIT {
        let ctx = format!("attempt {i}");
        let (expected, actual) = world.step(&Step::VerifyTotp(TotpIn::Wrong(i)));
        assert_eq!(expected, actual, "{ctx}");
        assert_eq!(actual, Outcome::InvalidCode, "{ctx}");
        world.compare_state(&ctx);
        // A malformed probe is refused as locked while locked, and is not counted otherwise.
        let probe = Step::VerifyTotp(TotpIn::Text("x".into()));
        let (expected, actual) = world.step(&probe);
        assert_eq!(expected, actual, "{ctx}: probe");
        match actual {
            Outcome::LockedOut(Some(retry)) => {
                delays.push(retry);
                world.step(&Step::Forward(retry - 1));
                let (expected, actual) = world.step(&probe);
                assert_eq!(
                    (&expected, &actual),
                    (&Outcome::LockedOut(Some(1)), &Outcome::LockedOut(Some(1))),
                    "{ctx}"
                );
                world.step(&Step::Forward(1));
            }
            Outcome::Malformed => delays.push(0),
            Outcome::LockedOut(None) => delays.push(u64::MAX),
            other => panic!("{ctx}: {other:?}"),
        }
        world.compare_state(&ctx);
    }
    let mut expected_delays = vec![0, 0, 0, 0, 30, 60, 120, 240, 480];
    expected_delays.resize(99, 900);
    expected_delays.push(u64::MAX);
    assert_eq!(delays, expected_delays);
    let (expected, actual) = world.step(&Step::VerifyTotp(TotpIn::Right(0)));
    assert_eq!(
        (&expected, &actual),
        (&Outcome::LockedOut(None), &Outcome::LockedOut(None))
    );
    world.step(&Step::Forward(10_000_000));
    let (expected, actual) =
        world.step(&Step::VerifyBackupCode(BackupIn::Current(0, Style::Shown)));
    assert_eq!(
        (&expected, &actual),
        (&Outcome::LockedOut(None), &Outcome::LockedOut(None))
    );
    let (expected, actual) = world.step(&Step::ResetLockout);
    assert_eq!(expected, actual);
    world.compare_state("after reset");
    let (expected, actual) = world.step(&Step::VerifyTotp(TotpIn::Right(0)));
    assert_eq!(expected, actual);
    assert!(matches!(actual, Outcome::Totp { .. }), "{actual:?}");
}
