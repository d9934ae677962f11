//! Model-based property test: random sequences of operations run against the
//! service (on `MemoryStore`) and against a small reference model written
//! here, from the rules rather than from the code. After every step both must
//! agree on the outcome (success and its details, proofs included, or the
//! exact error), on the status, on the stored epoch, and on the stored failure
//! counter and replay mark.
//!
//! The model's rules: the 5th consecutive failure locks for 30 s, each
//! further failure for twice as long up to 900 s, and from 100 consecutive failures every
//! code refused until a reset; a locked factor refuses even right codes; a
//! replayed TOTP step and a used backup code are refused without counting; a
//! malformed code is not counted; a pending setup expires after 600 s and
//! keeps its failure counter when restarted; the confirming step counts as
//! used; ±1 step of skew.
//!
//! Epochs, proofs and login challenges (I12): the epoch moves on exactly when
//! a setup is confirmed, the factor disabled or an operator resets it; every
//! successful code check returns a proof of its kind, time and epoch (the
//! disabling one under the new epoch). Beginning a login writes nothing and
//! opens a challenge only for an active factor; a challenge stays open while
//! its epoch is current, it is unexpired (300 s), and no login was completed
//! since it began. Completing it checks the code like `verify` (a wrong code
//! counts and leaves it open); a closed challenge is refused before anything
//! is counted. Regenerating with a proof needs no code, only an unlocked
//! factor and a proof of the current epoch at most 600 s from now (either
//! way, as servers sharing a store may disagree on the time). An operator unlock clears the counter (a write only if there
//! was one); an operator reset deletes the factor and moves the epoch on.
//!
//! Replacing the authenticator: beginning needs an active factor and a
//! re-authentication like regenerating (a proof, or a TOTP code of the
//! active app, checked and counted); it replaces an earlier pending
//! replacement and expires after 600 s. Confirming checks the lockout, then
//! the expiry (at exactly `expires_at`), then the code against the new
//! secret only (±1 step): a right code swaps the secrets, uses that step,
//! resets the counter, forgets every device and moves the epoch on (a proof
//! of setup confirmation under the new epoch); a wrong one (an old-app code
//! included) counts on the active factor. The pending secret authenticates
//! nothing. Remembered devices: remembering needs an active factor and a
//! proof of the current epoch within 600 s (no lockout check); it drops
//! expired devices and forgets the oldest beyond 10; a token works for 30
//! days. Forgetting re-authenticates like beginning a replacement and
//! returns the number of valid devices. A login begun with a valid token of
//! the active factor yields the epoch and no challenge; any other token is
//! ignored.
//!
//! Imports: a factor from another system (a fixed secret, no backup codes,
//! the old system's last step the current one) becomes the active factor
//! from no factor or a pending setup, at the next epoch, and is refused over
//! an active one; the current step is then a replay. Until the codes are
//! regenerated, backup-code input follows an imported set's rules: white
//! space and dashes dropped, 1 to 64 printable ASCII characters, case kept,
//! no look-alikes; any such input is a counted wrong code (the set is empty).
//! Plain imported codes are not modelled: their keyed locator depends on the
//! pepper and a random per-set salt, so whether a wrong code meets a used
//! code's locator (refused without counting) is known only to the service;
//! `tests/import.rs` and the faults, races and golden suites cover them.
//!
//! The number of cases is `MFA_MODEL_CASES` (default 1024).

use std::sync::Arc;

use mfa::testkit::strategies::code_input;
use mfa::testkit::{ManualClock, test_config};
use mfa::{
    Error, FactorState, LoginChallenge, LoginStep, MemoryStore, Mfa, MfaStatus, Proof, ProofMethod,
    Reauth, VerifiedBy,
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
const CHALLENGE_TTL: u64 = 300;
/// Whether a proof no longer counts at `now`: older than the window, or
/// further ahead than the clock skew servers may have (I17).
fn stale(proof: &Proof, now: u64) -> bool {
    match proof.verified_at.checked_sub(now) {
        Some(ahead) => ahead > Proof::MAX_CLOCK_SKEW_SECS,
        None => now - proof.verified_at > STEP_UP_WINDOW,
    }
}

const STEP_UP_WINDOW: u64 = 600;
const PERIOD: u64 = 30;
const SKEW: u64 = 1;
const ALPHABET: &str = "0123456789abcdefghjkmnpqrstvwxyz";
const MAX_DEVICES: usize = 10;
const DEVICE_TTL: u64 = 30 * 24 * 60 * 60;

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
        /// A pending replacement: its secret and expiry.
        replacement: Option<(String, u64)>,
        /// Remembered devices, oldest first: the index of the token in
        /// `World::tokens` and the expiry.
        devices: Vec<(usize, u64)>,
        /// The factor was imported without backup codes and not regenerated
        /// since: backup-code input follows an imported set's rules.
        imported: bool,
    },
}

/// A proof as both sides report it: method, time, epoch.
type ProofOut = (ProofMethod, u64, u64);

fn proof_out(p: &Proof) -> ProofOut {
    (p.method, p.verified_at, p.epoch.get())
}

/// What an operation did, as both sides report it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    SetupStarted,
    Enabled(usize, ProofOut),
    Codes(usize),
    Done,
    Totp {
        step: u64,
        drift: i64,
        remaining: usize,
        proof: ProofOut,
    },
    BackupCode {
        remaining: usize,
        proof: ProofOut,
    },
    Disabled(ProofOut),
    /// A replacement begun: its expiry.
    ReplacementStarted(u64),
    /// A replacement confirmed.
    Replaced(ProofOut),
    /// A device remembered: its token's expiry.
    Remembered(u64),
    /// Devices forgotten: how many were valid.
    Forgot(usize),
    /// A factor imported, at this epoch.
    Imported(u64),
    /// `begin_login` with a remembered device's token: the session's epoch.
    LoginRemembered(u64),
    /// `begin_login` for a user without an active factor: the session's epoch.
    LoginComplete(u64),
    /// `begin_login` for an active factor.
    Challenge {
        epoch: u64,
        expires_at: u64,
    },
    /// An operator action; whether it wrote the record.
    Operator {
        wrote: bool,
    },
    InvalidCode,
    InvalidChallenge,
    Revoked,
    StepUpRequired,
    InvalidInput,
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
        Error::InvalidChallenge => Outcome::InvalidChallenge,
        Error::Revoked => Outcome::Revoked,
        Error::StepUpRequired => Outcome::StepUpRequired,
        Error::InvalidInput(_) => Outcome::InvalidInput,
        other => Outcome::Other(format!("{other:?}")),
    }
}

fn from_verified(v: mfa::Verified) -> Outcome {
    let proof = proof_out(&v.proof);
    match v.by {
        VerifiedBy::Totp(m) => Outcome::Totp {
            step: m.step,
            drift: m.drift,
            remaining: v.backup_codes_remaining,
            proof,
        },
        VerifiedBy::BackupCode => Outcome::BackupCode {
            remaining: v.backup_codes_remaining,
            proof,
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
/// `i`/`l` → `1`, then exactly ten or fifteen characters of the alphabet (the
/// lengths of the two presets; the model's sets are of ten).
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
    matches!(out.chars().count(), 10 | 15).then_some(out)
}

/// Input for an imported set (of plain codes, here none): white space and
/// dashes dropped, case kept, then 1 to 64 printable ASCII characters.
fn parse_imported(input: &str) -> Option<String> {
    let out: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let valid = (1..=64).contains(&out.len()) && out.chars().all(|c| c.is_ascii_graphic());
    valid.then_some(out)
}

/// The secret of the factor `Step::Import` brings.
const IMPORTED_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// The fields of [`MfaStatus`] the model predicts.
#[derive(Debug, PartialEq, Eq)]
struct Status {
    mfa_enabled: bool,
    mfa_method: Option<mfa::MfaMethod>,
    pending_setup: bool,
    backup_codes_remaining: usize,
    locked_out: bool,
    replacement_pending: bool,
    remembered_devices: usize,
}

impl From<MfaStatus> for Status {
    fn from(s: MfaStatus) -> Self {
        Status {
            mfa_enabled: s.mfa_enabled,
            mfa_method: s.mfa_method,
            pending_setup: s.pending_setup,
            backup_codes_remaining: s.backup_codes_remaining,
            locked_out: s.locked_out,
            replacement_pending: s.replacement_pending,
            remembered_devices: s.remembered_devices,
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
                replacement_pending: false,
                remembered_devices: 0,
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
                replacement_pending: false,
                remembered_devices: 0,
            },
            Model::Active {
                codes,
                failures,
                replacement,
                devices,
                ..
            } => Status {
                mfa_enabled: true,
                mfa_method: Some(mfa::MfaMethod::Totp),
                pending_setup: false,
                backup_codes_remaining: codes.iter().filter(|c| !c.used).count(),
                locked_out: failures.locked(now).is_some(),
                replacement_pending: replacement.as_ref().is_some_and(|(_, e)| now < *e),
                remembered_devices: devices.iter().filter(|(_, e)| now < *e).count(),
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

    /// Checks a code against an active factor at `epoch`, updating it in place.
    fn check_code(&mut self, kind: Kind, input: &str, now: u64, epoch: u64) -> Outcome {
        let Model::Active {
            secret,
            last_step,
            codes,
            failures,
            imported,
            ..
        } = self
        else {
            return Outcome::MfaNotEnabled;
        };
        let parse_backup = if *imported {
            parse_imported
        } else {
            parse_backup
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
                        proof: (ProofMethod::Totp, now, epoch),
                    };
                }
                if !replayed {
                    failures.fail(now);
                }
                Outcome::InvalidCode
            }
            Err(code) => {
                // A code of another length than the set's matches no locator.
                let same_shape = |c: &Code| c.canonical.len() == code.len();
                match codes
                    .iter()
                    .position(|c| same_shape(c) && c.canonical[..2] == code[..2])
                {
                    Some(i) if codes[i].used => {}
                    Some(i) if codes[i].canonical == code => {
                        codes[i].used = true;
                        *failures = Failures::default();
                        return Outcome::BackupCode {
                            remaining: remaining(codes),
                            proof: (ProofMethod::BackupCode, now, epoch),
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
    /// The code of the step `now + offset` of the pending replacement's
    /// secret (the new app), if there is one.
    NewApp(i8),
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

/// How a regeneration proves the user.
#[derive(Debug, Clone)]
enum ReauthIn {
    /// A proof the service returned earlier: 0 is the latest, 1 the one
    /// before, and so on (the oldest is a proof from before MFA was enabled).
    Proof(usize),
    Totp(TotpIn),
}

/// A device token presented at login.
#[derive(Debug, Clone)]
enum TokenIn {
    /// A token the service handed out: 0 is the latest, 1 the one before…
    Issued(usize),
    /// Anything else.
    Text(String),
}

#[derive(Debug, Clone)]
enum Step {
    BeginSetup,
    BeginReplacement(ReauthIn),
    ConfirmReplacement(TotpIn),
    /// On a proof returned earlier (as `ReauthIn::Proof`).
    RememberDevice(usize),
    ForgetDevices(ReauthIn),
    BeginLoginWith(TokenIn),
    Confirm(TotpIn),
    Cancel,
    BeginLogin,
    /// Completes a challenge begun earlier: 0 is the latest, 1 the one before…
    CompleteLogin(usize, AnyIn),
    VerifyTotp(TotpIn),
    VerifyBackupCode(BackupIn),
    Verify(AnyIn),
    Regenerate(ReauthIn),
    Disable(AnyIn),
    /// With a valid actor and reason, or with an empty actor.
    OperatorUnlock(bool),
    OperatorReset,
    /// A factor from another system (`IMPORTED_SECRET`, without backup
    /// codes) whose old system accepted the current step.
    Import,
    Forward(u64),
    Backward(u64),
}

fn totp_in() -> impl Strategy<Value = TotpIn> {
    prop_oneof![
        5 => (-2i8..=2).prop_map(TotpIn::Right),
        2 => Just(TotpIn::Replay),
        3 => any::<u32>().prop_map(TotpIn::Wrong),
        2 => code_input().prop_map(TotpIn::Text),
        2 => (-2i8..=2).prop_map(TotpIn::NewApp),
    ]
}

fn token_in() -> impl Strategy<Value = TokenIn> {
    prop_oneof![
        6 => back().prop_map(TokenIn::Issued),
        1 => prop_oneof![Just(String::new()), "[A-Za-z0-9_-]{43}", ".{0,80}"].prop_map(TokenIn::Text),
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

/// Mostly the latest of something, sometimes an earlier one.
fn back() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 2 => 1usize..4]
}

fn reauth_in() -> impl Strategy<Value = ReauthIn> {
    prop_oneof![
        back().prop_map(ReauthIn::Proof),
        totp_in().prop_map(ReauthIn::Totp),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::BeginSetup),
        6 => totp_in().prop_map(Step::Confirm),
        1 => Just(Step::Cancel),
        4 => Just(Step::BeginLogin),
        6 => (back(), any_in()).prop_map(|(i, code)| Step::CompleteLogin(i, code)),
        6 => totp_in().prop_map(Step::VerifyTotp),
        4 => backup_in().prop_map(Step::VerifyBackupCode),
        5 => any_in().prop_map(Step::Verify),
        3 => reauth_in().prop_map(Step::Regenerate),
        1 => any_in().prop_map(Step::Disable),
        1 => proptest::bool::weighted(0.9).prop_map(Step::OperatorUnlock),
        1 => Just(Step::OperatorReset),
        1 => Just(Step::Import),
        4 => prop_oneof![Just(30u64), 1u64..60, 60u64..1200, Just(PENDING_TTL)].prop_map(Step::Forward),
        2 => prop_oneof![Just(30u64), 1u64..120].prop_map(Step::Backward),
        2 => reauth_in().prop_map(Step::BeginReplacement),
        3 => prop_oneof![
            3 => (-2i8..=2).prop_map(TotpIn::NewApp),
            1 => (-1i8..=1).prop_map(TotpIn::Right),
            1 => any::<u32>().prop_map(TotpIn::Wrong),
        ]
        .prop_map(Step::ConfirmReplacement),
        3 => back().prop_map(Step::RememberDevice),
        1 => reauth_in().prop_map(Step::ForgetDevices),
        4 => token_in().prop_map(Step::BeginLoginWith),
    ]
}

/// A login challenge the service handed out, and what the model knows of it.
struct Challenge {
    real: LoginChallenge,
    /// The epoch it was begun under.
    epoch: u64,
    expires_at: u64,
    /// A login was completed since it began.
    used: bool,
}

/// The service and the model side by side.
struct World {
    rt: tokio::runtime::Runtime,
    mfa: Mfa<Arc<MemoryStore>>,
    clock: ManualClock,
    model: Model,
    /// The model's epoch.
    epoch: u64,
    /// Every challenge begun, oldest first.
    challenges: Vec<Challenge>,
    /// Every proof the service returned, oldest first, after one from before
    /// MFA was ever enabled.
    proofs: Vec<Proof>,
    previous_codes: Vec<String>,
    current_codes: Vec<String>,
    last_accepted: Option<String>,
    /// Every device token the service handed out, oldest first.
    tokens: Vec<String>,
}

impl World {
    fn new() -> Self {
        let clock = ManualClock::new(T0);
        let before_mfa: Proof = serde_json::from_value(serde_json::json!({
            "method": "totp",
            "verifiedAt": T0,
            "epoch": 0,
        }))
        .unwrap();
        World {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            mfa: Mfa::new(Arc::new(MemoryStore::new()), test_config()).with_clock(clock.clone()),
            clock,
            model: Model::Disabled,
            epoch: 0,
            challenges: Vec::new(),
            proofs: vec![before_mfa],
            previous_codes: Vec::new(),
            current_codes: Vec::new(),
            last_accepted: None,
            tokens: Vec::new(),
        }
    }

    fn now(&self) -> u64 {
        self.clock.get()
    }

    /// The stored record's version (`None` before the first save).
    fn version(&self) -> Option<u64> {
        self.rt
            .block_on(mfa::MfaStore::load(self.mfa.store(), USER))
            .unwrap()
            .map(|v| v.version)
    }

    /// Keeps the proof a successful operation returned.
    fn keep_proof(&mut self, proof: Proof) {
        self.proofs.push(proof);
    }

    fn keep_verified(&mut self, v: mfa::Result<mfa::Verified>) -> Outcome {
        match v {
            Ok(v) => {
                self.keep_proof(v.proof);
                from_verified(v)
            }
            Err(e) => from_error(&e),
        }
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
            TotpIn::NewApp(offset) => match &self.model {
                Model::Active {
                    replacement: Some((new, _)),
                    ..
                } => {
                    let step = (now / PERIOD).saturating_add_signed(i64::from(*offset));
                    totp_at(new, step)
                }
                _ => "000000".into(),
            },
        }
    }

    /// The proof `back` from the latest.
    fn proof(&self, back: usize) -> Proof {
        self.proofs[self.proofs.len() - 1 - back % self.proofs.len()]
    }

    /// The model's answer to a re-authentication (a proof or a TOTP code of
    /// the active app) for managing the factor: `None` if it passes.
    fn model_reauth(&mut self, reauth: &ReauthIn, code: &str, now: u64) -> Option<Outcome> {
        match reauth {
            ReauthIn::Proof(back) => {
                let proof = self.proof(*back);
                match &self.model {
                    Model::Disabled | Model::Pending { .. } => Some(Outcome::MfaNotEnabled),
                    Model::Active { failures, .. } => match failures.locked(now) {
                        Some(retry) => Some(Outcome::LockedOut(retry)),
                        None if proof.epoch.get() != self.epoch => Some(Outcome::Revoked),
                        None if stale(&proof, now) => Some(Outcome::StepUpRequired),
                        None => None,
                    },
                }
            }
            ReauthIn::Totp(_) => match self.model.check_code(Kind::Totp, code, now, self.epoch) {
                Outcome::Totp { .. } => {
                    self.last_accepted = Some(code.to_owned());
                    None
                }
                other => Some(other),
            },
        }
    }

    fn reauth_code(&self, reauth: &ReauthIn) -> String {
        match reauth {
            ReauthIn::Proof(_) => String::new(),
            ReauthIn::Totp(input) => self.totp(input),
        }
    }

    /// Begins a login on both sides, with the token the client sent.
    fn begin_login(&mut self, token: Option<String>, now: u64) -> (Outcome, Outcome) {
        let version = self.version();
        let actual = self
            .rt
            .block_on(self.mfa.begin_login(USER, token.as_deref()));
        let remembered = match (&self.model, &token) {
            (Model::Active { devices, .. }, Some(token)) => devices
                .iter()
                .any(|(i, expires_at)| self.tokens[*i] == *token && now < *expires_at),
            _ => false,
        };
        let expected = match self.model {
            Model::Active { .. } if remembered => Outcome::LoginRemembered(self.epoch),
            Model::Active { .. } => Outcome::Challenge {
                epoch: self.epoch,
                expires_at: now + CHALLENGE_TTL,
            },
            _ => Outcome::LoginComplete(self.epoch),
        };
        let actual = match actual {
            _ if self.version() != version => Outcome::Other("begin_login wrote".into()),
            Ok(LoginStep::Complete(epoch)) => Outcome::LoginComplete(epoch.get()),
            Ok(LoginStep::RememberedDevice(epoch)) => Outcome::LoginRemembered(epoch.get()),
            Ok(LoginStep::SecondFactor(real)) => {
                let outcome = Outcome::Challenge {
                    epoch: real.epoch().get(),
                    expires_at: real.expires_at(),
                };
                assert_eq!(real.user_id(), USER);
                self.challenges.push(Challenge {
                    real,
                    epoch: self.epoch,
                    expires_at: now + CHALLENGE_TTL,
                    used: false,
                });
                outcome
            }
            Ok(other) => Outcome::Other(format!("{other:?}")),
            Err(e) => from_error(&e),
        };
        (expected, actual)
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
                                        replacement: None,
                                        devices: Vec::new(),
                                        imported: false,
                                    };
                                    self.epoch += 1;
                                    self.last_accepted = Some(code);
                                    Outcome::Enabled(
                                        10,
                                        (ProofMethod::SetupConfirmation, now, self.epoch),
                                    )
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
                    Ok(enabled) => {
                        let adopted = self.adopt_codes(&enabled.backup_codes);
                        if let Model::Active { codes: c, .. } = &mut self.model {
                            *c = adopted;
                        }
                        self.keep_proof(enabled.proof);
                        Outcome::Enabled(enabled.backup_codes.len(), proof_out(&enabled.proof))
                    }
                    Err(e) => from_error(&e),
                };
                (expected, actual)
            }
            Step::Import => {
                let step = now / PERIOD;
                let factor = mfa::import::ImportedFactor::from_base32(
                    IMPORTED_SECRET,
                    TotpParams::default(),
                )
                .unwrap()
                .with_last_step(step);
                let actual = self.rt.block_on(self.mfa.import(USER, factor));
                let expected = match &self.model {
                    Model::Active { .. } => Outcome::MfaAlreadyEnabled,
                    _ => {
                        self.model = Model::Active {
                            secret: IMPORTED_SECRET.into(),
                            last_step: Some(step),
                            codes: Vec::new(),
                            failures: Failures::default(),
                            replacement: None,
                            devices: Vec::new(),
                            imported: true,
                        };
                        self.epoch += 1;
                        self.last_accepted = Some(totp_at(IMPORTED_SECRET, step));
                        self.previous_codes = std::mem::take(&mut self.current_codes);
                        Outcome::Imported(self.epoch)
                    }
                };
                let actual = match actual {
                    Ok(()) => Outcome::Imported(self.epoch),
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
            Step::BeginLogin => self.begin_login(None, now),
            Step::BeginLoginWith(input) => {
                let token = match input {
                    TokenIn::Issued(back) => match self.tokens.len().checked_sub(1 + back) {
                        Some(i) => self.tokens[i].clone(),
                        None => "no-token-yet".into(),
                    },
                    TokenIn::Text(text) => text.clone(),
                };
                self.begin_login(Some(token), now)
            }
            Step::BeginReplacement(reauth) => {
                let code = self.reauth_code(reauth);
                let actual = self.rt.block_on(self.mfa.begin_replacement(
                    USER,
                    "user@example.com",
                    match reauth {
                        ReauthIn::Proof(back) => Reauth::RecentProof(
                            &self.proofs[self.proofs.len() - 1 - back % self.proofs.len()],
                        ),
                        ReauthIn::Totp(_) => Reauth::TotpCode(&code),
                    },
                ));
                let expected = match self.model_reauth(reauth, &code, now) {
                    Some(refused) => refused,
                    None => Outcome::ReplacementStarted(now + PENDING_TTL),
                };
                let actual = match actual {
                    Ok(setup) => {
                        if let Model::Active { replacement, .. } = &mut self.model {
                            *replacement =
                                Some((setup.secret_base32().to_owned(), setup.expires_at()));
                        }
                        Outcome::ReplacementStarted(setup.expires_at())
                    }
                    Err(e) => from_error(&e),
                };
                (expected, actual)
            }
            Step::ConfirmReplacement(input) => {
                let code = self.totp(input);
                let actual = self.rt.block_on(self.mfa.confirm_replacement(USER, &code));
                let mut swapped = false;
                let expected = match &mut self.model {
                    Model::Disabled | Model::Pending { .. } => Outcome::MfaNotEnabled,
                    Model::Active {
                        replacement: None, ..
                    } => Outcome::NoPendingSetup,
                    Model::Active {
                        secret,
                        last_step,
                        failures,
                        replacement: Some((new, expires_at)),
                        devices,
                        ..
                    } => {
                        if let Some(retry) = failures.locked(now) {
                            Outcome::LockedOut(retry)
                        } else if now >= *expires_at {
                            Outcome::PendingExpired
                        } else if let Some(parsed) = parse_totp(&code) {
                            let origin = now / PERIOD;
                            let matched = (origin - SKEW..=origin + SKEW)
                                .find(|s| totp_at(new, *s) == parsed);
                            match matched {
                                Some(step) => {
                                    *secret = new.clone();
                                    *last_step = Some(step);
                                    *failures = Failures::default();
                                    devices.clear();
                                    swapped = true;
                                    Outcome::Replaced((
                                        ProofMethod::SetupConfirmation,
                                        now,
                                        self.epoch + 1,
                                    ))
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
                if swapped {
                    if let Model::Active { replacement, .. } = &mut self.model {
                        *replacement = None;
                    }
                    self.epoch += 1;
                    self.last_accepted = Some(code);
                }
                let actual = match actual {
                    Ok(proof) => {
                        self.keep_proof(proof);
                        Outcome::Replaced(proof_out(&proof))
                    }
                    Err(e) => from_error(&e),
                };
                (expected, actual)
            }
            Step::RememberDevice(back) => {
                let proof = self.proof(*back);
                let actual = self.rt.block_on(self.mfa.remember_device(USER, &proof));
                let epoch = self.epoch;
                let expected = match &mut self.model {
                    Model::Disabled | Model::Pending { .. } => Outcome::MfaNotEnabled,
                    // While codes are refused, no device is remembered.
                    Model::Active { failures, .. } if failures.locked(now).is_some() => {
                        Outcome::LockedOut(failures.locked(now).flatten())
                    }
                    Model::Active { .. } if proof.epoch.get() != epoch => Outcome::Revoked,
                    Model::Active { .. } if stale(&proof, now) => Outcome::StepUpRequired,
                    Model::Active { devices, .. } => {
                        devices.retain(|(_, e)| now < *e);
                        let evicted = (devices.len() + 1).saturating_sub(MAX_DEVICES);
                        devices.drain(..evicted);
                        // The token's index, known once the service answers.
                        devices.push((self.tokens.len(), now + DEVICE_TTL));
                        Outcome::Remembered(now + DEVICE_TTL)
                    }
                };
                let actual = match actual {
                    Ok(token) => {
                        assert!(
                            !self.tokens.iter().any(|t| t == token.as_str()),
                            "a token handed out twice"
                        );
                        self.tokens.push(token.as_str().to_owned());
                        Outcome::Remembered(token.expires_at())
                    }
                    Err(e) => from_error(&e),
                };
                (expected, actual)
            }
            Step::ForgetDevices(reauth) => {
                let code = self.reauth_code(reauth);
                let actual = self.rt.block_on(self.mfa.forget_devices(
                    USER,
                    match reauth {
                        ReauthIn::Proof(back) => Reauth::RecentProof(
                            &self.proofs[self.proofs.len() - 1 - back % self.proofs.len()],
                        ),
                        ReauthIn::Totp(_) => Reauth::TotpCode(&code),
                    },
                ));
                let expected = match self.model_reauth(reauth, &code, now) {
                    Some(refused) => refused,
                    None => match &mut self.model {
                        Model::Active { devices, .. } => {
                            let valid = devices.iter().filter(|(_, e)| now < *e).count();
                            devices.clear();
                            Outcome::Forgot(valid)
                        }
                        _ => unreachable!("a re-authentication passed without a factor"),
                    },
                };
                (
                    expected,
                    actual.map_or_else(|e| from_error(&e), Outcome::Forgot),
                )
            }
            Step::CompleteLogin(back, input) => {
                let Some(i) = self.challenges.len().checked_sub(1 + back) else {
                    return (Outcome::Done, Outcome::Done);
                };
                let code = self.code(input);
                let challenge = &self.challenges[i];
                let actual = self
                    .rt
                    .block_on(self.mfa.complete_login(&challenge.real, &code));
                let open = matches!(self.model, Model::Active { .. })
                    && !challenge.used
                    && challenge.epoch == self.epoch
                    && now < challenge.expires_at;
                let expected = if open {
                    self.model.check_code(Kind::Either, &code, now, self.epoch)
                } else {
                    Outcome::InvalidChallenge
                };
                if matches!(expected, Outcome::Totp { .. } | Outcome::BackupCode { .. }) {
                    // A completed login closes every challenge begun before it.
                    for c in &mut self.challenges {
                        c.used = true;
                    }
                }
                self.note_accepted(&expected, &code);
                (expected, self.keep_verified(actual))
            }
            Step::VerifyTotp(input) => {
                let code = self.totp(input);
                let actual = self.rt.block_on(self.mfa.verify_totp(USER, &code));
                let expected = self.model.check_code(Kind::Totp, &code, now, self.epoch);
                self.note_accepted(&expected, &code);
                (expected, self.keep_verified(actual))
            }
            Step::VerifyBackupCode(input) => {
                let code = self.backup(input);
                let actual = self.rt.block_on(self.mfa.verify_backup_code(USER, &code));
                let expected = self.model.check_code(Kind::Backup, &code, now, self.epoch);
                (expected, self.keep_verified(actual))
            }
            Step::Verify(input) => {
                let code = self.code(input);
                let actual = self.rt.block_on(self.mfa.verify(USER, &code));
                let expected = self.model.check_code(Kind::Either, &code, now, self.epoch);
                self.note_accepted(&expected, &code);
                (expected, self.keep_verified(actual))
            }
            Step::Regenerate(ReauthIn::Proof(back)) => {
                let proof = self.proof(*back);
                let actual = self.rt.block_on(
                    self.mfa
                        .regenerate_backup_codes(USER, Reauth::RecentProof(&proof)),
                );
                let expected = match &self.model {
                    Model::Disabled | Model::Pending { .. } => Outcome::MfaNotEnabled,
                    Model::Active { failures, .. } => match failures.locked(now) {
                        Some(retry) => Outcome::LockedOut(retry),
                        None if proof.epoch.get() != self.epoch => Outcome::Revoked,
                        None if stale(&proof, now) => Outcome::StepUpRequired,
                        None => Outcome::Codes(10),
                    },
                };
                (expected, self.regenerated(actual))
            }
            Step::Regenerate(ReauthIn::Totp(input)) => {
                let code = self.totp(input);
                let actual = self.rt.block_on(
                    self.mfa
                        .regenerate_backup_codes(USER, Reauth::TotpCode(&code)),
                );
                let expected = match self.model.check_code(Kind::Totp, &code, now, self.epoch) {
                    Outcome::Totp { .. } => {
                        self.last_accepted = Some(code.clone());
                        Outcome::Codes(10)
                    }
                    other => other,
                };
                (expected, self.regenerated(actual))
            }
            Step::Disable(input) => {
                let code = self.code(input);
                let actual = self.rt.block_on(self.mfa.disable(USER, &code));
                let expected = match self.model.check_code(Kind::Either, &code, now, self.epoch) {
                    Outcome::Totp {
                        proof: (method, at, _),
                        ..
                    }
                    | Outcome::BackupCode {
                        proof: (method, at, _),
                        ..
                    } => {
                        self.model = Model::Disabled;
                        self.epoch += 1;
                        self.current_codes.clear();
                        self.last_accepted = None;
                        Outcome::Disabled((method, at, self.epoch))
                    }
                    other => other,
                };
                let actual = match actual {
                    Ok(proof) => {
                        self.keep_proof(proof);
                        Outcome::Disabled(proof_out(&proof))
                    }
                    Err(e) => from_error(&e),
                };
                (expected, actual)
            }
            Step::OperatorUnlock(valid) => {
                let version = self.version();
                let actor = if *valid { "support:42" } else { " " };
                let actual =
                    self.rt
                        .block_on(self.mfa.operator_unlock(USER, actor, "identity checked"));
                let expected = if !valid {
                    Outcome::InvalidInput
                } else if let Model::Pending { failures, .. } | Model::Active { failures, .. } =
                    &mut self.model
                {
                    let wrote = failures.count > 0;
                    *failures = Failures::default();
                    Outcome::Operator { wrote }
                } else {
                    Outcome::Operator { wrote: false }
                };
                let wrote = self.version() != version;
                (
                    expected,
                    actual.map_or_else(|e| from_error(&e), |()| Outcome::Operator { wrote }),
                )
            }
            Step::OperatorReset => {
                let version = self.version();
                let actual =
                    self.rt
                        .block_on(self.mfa.operator_reset(USER, "support:42", "lost phone"));
                self.model = Model::Disabled;
                self.epoch += 1;
                self.current_codes.clear();
                self.last_accepted = None;
                let wrote = self.version() != version;
                (
                    Outcome::Operator { wrote: true },
                    actual.map_or_else(|e| from_error(&e), |()| Outcome::Operator { wrote }),
                )
            }
        }
    }

    /// The service's answer to a regeneration; its codes become the current set.
    fn regenerated(&mut self, actual: mfa::Result<mfa::BackupCodes>) -> Outcome {
        match actual {
            Ok(codes) => {
                let adopted = self.adopt_codes(&codes);
                if let Model::Active {
                    codes: c, imported, ..
                } = &mut self.model
                {
                    *c = adopted;
                    *imported = false;
                }
                Outcome::Codes(codes.len())
            }
            Err(e) => from_error(&e),
        }
    }

    fn note_accepted(&mut self, outcome: &Outcome, code: &str) {
        if matches!(outcome, Outcome::Totp { .. }) {
            self.last_accepted = Some(code.to_owned());
        }
    }

    /// Status, epoch, failure counter and replay mark agree.
    fn compare_state(&self, ctx: &str) {
        let now = self.now();
        let status = self.rt.block_on(self.mfa.status(USER)).unwrap();
        assert_eq!(
            Status::from(status),
            self.model.status(now),
            "{ctx}: status"
        );
        let stored = self.rt.block_on(self.mfa.load(USER)).unwrap();
        assert_eq!(stored.epoch().get(), self.epoch, "{ctx}: epoch");
        let (failures, last_step) = match stored.factor() {
            FactorState::Disabled => (None, None),
            FactorState::Pending(p) => (Some(p.attempts_failures()), None),
            FactorState::Active(a) => (Some(a.attempts().failures()), a.last_step()),
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
fn kind(step: &Step, outcome: &Outcome) -> &'static str {
    match (step, outcome) {
        (Step::CompleteLogin(..), Outcome::Totp { .. }) => "login completed by totp",
        (Step::CompleteLogin(..), Outcome::BackupCode { .. }) => "login completed by backup code",
        (Step::CompleteLogin(..), Outcome::InvalidCode) => "login: invalid code",
        (Step::CompleteLogin(..), Outcome::LockedOut(_)) => "login: locked out",
        (Step::Regenerate(ReauthIn::Proof(_)), Outcome::Codes(_)) => "regenerated with a proof",
        (Step::OperatorUnlock(_), Outcome::Operator { wrote: true }) => "unlocked",
        (Step::OperatorUnlock(_), Outcome::Operator { wrote: false }) => "unlock without a lock",
        (Step::OperatorReset, Outcome::Operator { .. }) => "reset",
        (Step::ConfirmReplacement(_), Outcome::InvalidCode) => "replacement: invalid code",
        (Step::ConfirmReplacement(_), Outcome::LockedOut(_)) => "replacement: locked out",
        (Step::ConfirmReplacement(_), Outcome::PendingExpired) => "replacement expired",
        (Step::ForgetDevices(_), Outcome::Forgot(0)) => "forgot no device",
        (Step::BeginReplacement(_), Outcome::Revoked | Outcome::StepUpRequired) => {
            "replacement: reauth refused"
        }
        (Step::RememberDevice(_), Outcome::Revoked | Outcome::StepUpRequired) => {
            "remember: stale proof"
        }
        (_, outcome) => kind_of(outcome),
    }
}

fn kind_of(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::SetupStarted => "setup started",
        Outcome::Enabled(..) => "enabled",
        Outcome::Codes(_) => "codes",
        Outcome::Done => "done",
        Outcome::Totp { .. } => "totp accepted",
        Outcome::BackupCode { .. } => "backup code accepted",
        Outcome::Disabled(_) => "disabled",
        Outcome::ReplacementStarted(_) => "replacement started",
        Outcome::Replaced(_) => "replaced",
        Outcome::Remembered(_) => "remembered",
        Outcome::Forgot(_) => "forgot devices",
        Outcome::Imported(_) => "imported",
        Outcome::LoginRemembered(_) => "login on a remembered device",
        Outcome::LoginComplete(_) => "login without a second factor",
        Outcome::Challenge { .. } => "challenge",
        Outcome::Operator { .. } => "operator",
        Outcome::InvalidChallenge => "invalid challenge",
        Outcome::Revoked => "revoked",
        Outcome::StepUpRequired => "step-up required",
        Outcome::InvalidInput => "invalid input",
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
            *tally.borrow_mut().entry(kind(step, &actual)).or_default() += 1;
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
        "enabled",
        "codes",
        "regenerated with a proof",
        "disabled",
        "login without a second factor",
        "challenge",
        "login completed by totp",
        "login completed by backup code",
        "login: invalid code",
        "login: locked out",
        "invalid challenge",
        "revoked",
        "step-up required",
        "unlocked",
        "unlock without a lock",
        "reset",
        "invalid input",
        "totp accepted",
        "backup code accepted",
        "invalid code",
        "malformed",
        "locked out",
        "no pending secret",
        "pending expired",
        "not enabled",
        "already enabled",
        "replacement started",
        "replaced",
        "replacement: invalid code",
        "replacement: locked out",
        "replacement expired",
        "replacement: reauth refused",
        "remembered",
        "remember: stale proof",
        "forgot devices",
        "forgot no device",
        "login on a remembered device",
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
    let (expected, actual) = world.step(&Step::OperatorUnlock(true));
    assert_eq!(
        (&expected, &actual),
        (
            &Outcome::Operator { wrote: true },
            &Outcome::Operator { wrote: true }
        )
    );
    world.compare_state("after the unlock");
    let (expected, actual) = world.step(&Step::VerifyTotp(TotpIn::Right(0)));
    assert_eq!(expected, actual);
    assert!(matches!(actual, Outcome::Totp { .. }), "{actual:?}");
}
