//! Transitions on real records: sequences of arbitrary code strings (and
//! right codes, clock moves, regenerations) through verify, confirm, disable
//! and regenerate. Never panics, and after every step:
//!
//! - a malformed code or a locked factor changes nothing;
//! - nothing succeeds while the factor is locked;
//! - accepted TOTP steps strictly increase (I2), a backup code succeeds at most once (I3);
//! - the state serializes and loads back to itself.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mfa::testkit::{fixtures::Enrolled, test_config};
use mfa::{
    BackupCodes, Error, MfaContext, MfaEnrollment, Reauth, VerifiedBy,
    totp::{self, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};

const USER: &str = "fuzz-user";
const T0: u64 = 1_700_000_000;

struct Fixture {
    config: MfaContext,
    secret: TotpSecret,
    pending: MfaEnrollment,
    active: MfaEnrollment,
    codes: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config = test_config();
        let enrolled = Enrolled::new(&config, USER, T0);
        Fixture {
            codes: enrolled.code_strings(),
            secret: enrolled.secret,
            pending: enrolled.pending,
            active: enrolled.active,
            config,
        }
    })
}

fn strings(codes: &BackupCodes) -> Vec<String> {
    codes.as_strs().into_iter().map(str::to_owned).collect()
}

#[derive(Arbitrary, Debug)]
enum Op {
    Verify(String),
    VerifyTotp(String),
    VerifyBackupCode(String),
    Confirm(String),
    Disable(String),
    Regenerate(Option<String>),
    RightTotp,
    RightBackupCode(u8),
    ConfirmRight,
    Advance(u16),
    Back(u16),
    ResetLockout,
}

#[derive(Arbitrary, Debug)]
struct Input {
    start_active: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let f = fixture();
    let config = &f.config;
    let mut rng = StdRng::seed_from_u64(2);
    let mut record = if input.start_active {
        f.active.clone()
    } else {
        f.pending.clone()
    };
    let mut now = T0;
    let mut codes = f.codes.clone();
    let mut used = vec![false; codes.len()];
    let mut last_step: Option<u64> = None;
    for op in input.ops.into_iter().take(24) {
        let before = record.clone();
        let locked = record.status(config, now).locked_out;
        let totp_now = || totp::generate(&f.secret, config.policy().totp.params(), now).unwrap();
        let (state, changed, outcome, verified, new_codes) = match &op {
            Op::Advance(s) => {
                now += u64::from(*s);
                continue;
            }
            Op::Back(s) => {
                now = now.saturating_sub(u64::from(*s));
                continue;
            }
            Op::ResetLockout => {
                let t = record.reset_lockout();
                (t.state, t.changed, t.outcome.map(|_| ()), None, None)
            }
            Op::Confirm(code) => {
                let t = record.confirm_setup(config, USER, code, now, &mut rng);
                let codes = t.outcome.as_ref().ok().map(strings);
                (t.state, t.changed, t.outcome.map(|_| ()), None, codes)
            }
            Op::ConfirmRight => {
                let t = record.confirm_setup(config, USER, &totp_now(), now, &mut rng);
                let codes = t.outcome.as_ref().ok().map(strings);
                (t.state, t.changed, t.outcome.map(|_| ()), None, codes)
            }
            Op::Regenerate(code) => {
                let reauth = code
                    .as_deref()
                    .map_or(Reauth::SessionOnly, Reauth::TotpCode);
                let t = record.regenerate_backup_codes(config, USER, reauth, now, &mut rng);
                let codes = t.outcome.as_ref().ok().map(strings);
                (t.state, t.changed, t.outcome.map(|_| ()), None, codes)
            }
            Op::Disable(code) => {
                let t = record.disable(config, USER, code, now, &mut rng);
                (t.state, t.changed, t.outcome, None, None)
            }
            Op::Verify(code) | Op::VerifyTotp(code) | Op::VerifyBackupCode(code) => {
                let t = match &op {
                    Op::Verify(_) => record.verify(config, USER, code, now, &mut rng),
                    Op::VerifyTotp(_) => record.verify_totp(config, USER, code, now, &mut rng),
                    _ => record.verify_backup_code(config, USER, code, now, &mut rng),
                };
                let v = t.outcome.as_ref().ok().copied();
                (t.state, t.changed, t.outcome.map(|_| ()), v, None)
            }
            Op::RightTotp => {
                let t = record.verify_totp(config, USER, &totp_now(), now, &mut rng);
                let v = t.outcome.as_ref().ok().copied();
                (t.state, t.changed, t.outcome.map(|_| ()), v, None)
            }
            Op::RightBackupCode(i) => {
                let code = codes[usize::from(*i) % codes.len()].clone();
                let t = record.verify_backup_code(config, USER, &code, now, &mut rng);
                let v = t.outcome.as_ref().ok().copied();
                (t.state, t.changed, t.outcome.map(|_| ()), v, None)
            }
        };
        match &outcome {
            Err(Error::MalformedCode(_)) | Err(Error::LockedOut { .. }) => {
                assert!(!changed, "{op:?}: a refused attempt changed the record");
                assert_eq!(state, before, "{op:?}");
            }
            Ok(()) if locked && !matches!(op, Op::ResetLockout | Op::Regenerate(None)) => {
                panic!("{op:?} succeeded while locked")
            }
            _ => {}
        }
        if !changed {
            assert_eq!(state, before, "{op:?}: unchanged but different");
        }
        match verified.map(|v| v.by) {
            Some(VerifiedBy::Totp(m)) => {
                assert!(
                    last_step.is_none_or(|s| m.step > s),
                    "step {} accepted twice",
                    m.step
                );
                last_step = Some(m.step);
            }
            Some(VerifiedBy::BackupCode) => {
                // Which code? Any successful one must be one we had and not used.
                let fresh = codes.iter().zip(&used).filter(|(_, u)| !**u).count();
                assert!(fresh > 0, "a backup code succeeded with none unused");
                if let Op::RightBackupCode(i) = op {
                    let i = usize::from(i) % codes.len();
                    assert!(!used[i], "backup code {i} accepted twice");
                    used[i] = true;
                }
            }
            _ => {}
        }
        if let Some(fresh) = new_codes {
            used = vec![false; fresh.len()];
            codes = fresh;
        }
        if let MfaEnrollment::Active(a) = &state
            && let Some(step) = a.last_step()
        {
            last_step = Some(last_step.map_or(step, |s| s.max(step)));
        }
        let reloaded = MfaEnrollment::from_json(&state.to_json()).expect("reloads");
        assert_eq!(reloaded, state);
        record = state;
    }
});
