//! Transitions on real records: sequences of arbitrary code strings (and
//! right codes, clock moves, regenerations, logins through challenges,
//! operator actions) through verify, confirm, disable, regenerate,
//! begin/complete login and operator unlock/reset. Never panics, and after
//! every step:
//!
//! - a malformed code, a locked factor, a closed challenge or an invalid
//!   operator note changes nothing;
//! - no code succeeds while the factor is locked;
//! - accepted TOTP steps strictly increase (I2), a backup code succeeds at most once (I3);
//! - the epoch moves by exactly one on enable, disable and operator reset, and
//!   at no other step; a login challenge completes only while it is open (this
//!   user, this epoch, unexpired, begun after the last completed login), so at
//!   most once; every proof belongs to the epoch it was minted under, and a
//!   recent proof regenerates only when it is recent and of this epoch (I12);
//! - the state serializes and loads back to itself.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mfa::testkit::{fixtures::Enrolled, test_config};
use mfa::{
    BackupCodes, Epoch, Error, FactorState, LoginChallenge, LoginStep, MfaContext, MfaEnrollment,
    Proof, Reauth, VerifiedBy,
    event::SecurityEvent,
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
    proof: Proof,
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
            proof: enrolled.proof,
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
    Regenerate(String),
    /// Regenerate with the n-th proof collected so far.
    RegenerateWithProof(u8),
    RightTotp,
    RightBackupCode(u8),
    ConfirmRight,
    Advance(u16),
    Back(u16),
    /// Begin a login, as this user or (false) as another.
    BeginLogin(bool),
    /// Complete the n-th challenge begun so far with this code.
    CompleteLogin(u8, String),
    /// Complete the n-th challenge with the right TOTP code.
    CompleteLoginRightTotp(u8),
    /// Complete the n-th challenge with the m-th backup code.
    CompleteLoginRightBackupCode(u8, u8),
    /// An operator's unlock: with well-formed notes, or with these.
    OperatorUnlock(Option<(String, String)>),
    /// An operator's reset: with well-formed notes, or with these.
    OperatorReset(Option<(String, String)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    start_active: bool,
    ops: Vec<Op>,
}

/// A challenge begun during the run, with what the model knows about it.
struct Begun {
    challenge: LoginChallenge,
    /// The completed logins the model had counted when it began.
    serial: u64,
}

/// What one step did.
struct Step {
    state: MfaEnrollment,
    changed: bool,
    outcome: Result<(), Error>,
    events: Vec<SecurityEvent>,
    verified: Option<VerifiedBy>,
    proof: Option<Proof>,
    new_codes: Option<Vec<String>>,
}

impl Step {
    fn of<T>(t: mfa::enrollment::Transition<T>) -> (Self, Option<T>) {
        let (outcome, output) = match t.outcome {
            Ok(out) => (Ok(()), Some(out)),
            Err(e) => (Err(e), None),
        };
        let step = Step {
            state: t.state,
            changed: t.changed,
            outcome,
            events: t.events,
            verified: None,
            proof: None,
            new_codes: None,
        };
        (step, output)
    }
}

/// Whether an operator's note is one the crate accepts.
fn note_ok(note: &str) -> bool {
    !note.trim().is_empty() && note.len() <= 512 && !note.chars().any(char::is_control)
}

fuzz_target!(|input: Input| {
    let f = fixture();
    let config = &f.config;
    let window = config.policy().step_up_window_secs;
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
    let mut logins: u64 = 0;
    let mut challenges: Vec<Begun> = Vec::new();
    let mut proofs: Vec<Proof> = vec![f.proof];
    for op in input.ops.into_iter().take(24) {
        let before = record.clone();
        let locked = record.status(config, now).locked_out;
        let totp_now = || totp::generate(&f.secret, config.policy().totp.params(), now).unwrap();
        let pick = |i: u8| challenges.get(usize::from(i) % challenges.len().max(1));
        // Whether the model expects a challenge to be open now.
        let open = |begun: &Begun| {
            before.is_active()
                && begun.challenge.user_id() == USER
                && begun.challenge.epoch() == before.epoch()
                && begun.serial == logins
                && now < begun.challenge.expires_at()
        };
        let mut completed: Option<bool> = None;
        let step = match &op {
            Op::Advance(s) => {
                now += u64::from(*s);
                continue;
            }
            Op::Back(s) => {
                now = now.saturating_sub(u64::from(*s));
                continue;
            }
            Op::BeginLogin(as_user) => {
                let user = if *as_user { USER } else { "someone-else" };
                match record.begin_login(config, user, None, now) {
                    LoginStep::Complete(epoch) => {
                        assert!(!record.is_active());
                        assert_eq!(epoch, record.epoch());
                    }
                    LoginStep::SecondFactor(challenge) => {
                        assert!(record.is_active());
                        assert_eq!(challenge.epoch(), record.epoch());
                        assert_eq!(challenge.user_id(), user);
                        if challenges.len() < 8 {
                            challenges.push(Begun {
                                challenge,
                                serial: logins,
                            });
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
                continue;
            }
            Op::OperatorUnlock(notes) => {
                let (actor, reason) = notes
                    .as_ref()
                    .map_or(("fuzz-operator", "fuzzing"), |(a, r)| (a, r));
                let (step, _) = Step::of(record.operator_unlock(actor, reason));
                assert_eq!(step.outcome.is_ok(), note_ok(actor) && note_ok(reason));
                if step.outcome.is_ok() {
                    assert!(!step.state.status(config, now).locked_out);
                    assert_eq!(
                        step.events,
                        [SecurityEvent::OperatorUnlocked {
                            actor: actor.to_owned(),
                            reason: reason.to_owned()
                        }]
                    );
                }
                step
            }
            Op::OperatorReset(notes) => {
                let (actor, reason) = notes
                    .as_ref()
                    .map_or(("fuzz-operator", "fuzzing"), |(a, r)| (a, r));
                let (step, _) = Step::of(record.operator_reset(actor, reason));
                assert_eq!(step.outcome.is_ok(), note_ok(actor) && note_ok(reason));
                if step.outcome.is_ok() {
                    assert!(step.changed);
                    assert_eq!(step.state.factor(), &FactorState::Disabled);
                }
                step
            }
            Op::Confirm(code) => {
                let (mut step, enabled) =
                    Step::of(record.confirm_setup(config, USER, code, now, &mut rng));
                step.new_codes = enabled.as_ref().map(|e| strings(&e.backup_codes));
                step.proof = enabled.map(|e| e.proof);
                step
            }
            Op::ConfirmRight => {
                let (mut step, enabled) =
                    Step::of(record.confirm_setup(config, USER, &totp_now(), now, &mut rng));
                step.new_codes = enabled.as_ref().map(|e| strings(&e.backup_codes));
                step.proof = enabled.map(|e| e.proof);
                step
            }
            Op::Regenerate(code) => {
                let reauth = Reauth::TotpCode(code);
                let (mut step, fresh) =
                    Step::of(record.regenerate_backup_codes(config, USER, reauth, now, &mut rng));
                step.new_codes = fresh.as_ref().map(strings);
                step
            }
            Op::RegenerateWithProof(i) => {
                let proof = proofs[usize::from(*i) % proofs.len()];
                let recent = proof.epoch == record.epoch()
                    && now.abs_diff(proof.verified_at) <= window
                    && !locked;
                let reauth = Reauth::RecentProof(&proof);
                let (mut step, fresh) =
                    Step::of(record.regenerate_backup_codes(config, USER, reauth, now, &mut rng));
                assert_eq!(
                    step.outcome.is_ok(),
                    recent && before.is_active(),
                    "{op:?}: {:?}",
                    step.outcome
                );
                if !recent {
                    assert!(!step.changed, "a refused step-up changed the record");
                }
                step.new_codes = fresh.as_ref().map(strings);
                step
            }
            Op::Disable(code) => {
                let (mut step, proof) = Step::of(record.disable(config, USER, code, now, &mut rng));
                step.proof = proof;
                step
            }
            Op::Verify(code) | Op::VerifyTotp(code) | Op::VerifyBackupCode(code) => {
                let t = match &op {
                    Op::Verify(_) => record.verify(config, USER, code, now, &mut rng),
                    Op::VerifyTotp(_) => record.verify_totp(config, USER, code, now, &mut rng),
                    _ => record.verify_backup_code(config, USER, code, now, &mut rng),
                };
                let (mut step, v) = Step::of(t);
                step.verified = v.map(|v| v.by);
                step.proof = v.map(|v| v.proof);
                step
            }
            Op::RightTotp => {
                let (mut step, v) =
                    Step::of(record.verify_totp(config, USER, &totp_now(), now, &mut rng));
                step.verified = v.map(|v| v.by);
                step.proof = v.map(|v| v.proof);
                step
            }
            Op::RightBackupCode(i) => {
                let code = codes[usize::from(*i) % codes.len()].clone();
                let (mut step, v) =
                    Step::of(record.verify_backup_code(config, USER, &code, now, &mut rng));
                step.verified = v.map(|v| v.by);
                step.proof = v.map(|v| v.proof);
                step
            }
            Op::CompleteLogin(i, _)
            | Op::CompleteLoginRightTotp(i)
            | Op::CompleteLoginRightBackupCode(i, _) => {
                let Some(begun) = pick(*i) else {
                    continue;
                };
                let code = match &op {
                    Op::CompleteLogin(_, code) => code.clone(),
                    Op::CompleteLoginRightTotp(_) => totp_now(),
                    Op::CompleteLoginRightBackupCode(_, j) => {
                        codes[usize::from(*j) % codes.len()].clone()
                    }
                    _ => unreachable!(),
                };
                let is_open = open(begun);
                let t = record.complete_login(config, USER, &begun.challenge, &code, now, &mut rng);
                let (mut step, v) = Step::of(t);
                if is_open {
                    assert!(
                        !matches!(step.outcome, Err(Error::InvalidChallenge)),
                        "{op:?}: an open challenge was refused"
                    );
                } else {
                    assert!(
                        matches!(step.outcome, Err(Error::InvalidChallenge)),
                        "{op:?}: a closed challenge gave {:?}",
                        step.outcome
                    );
                }
                completed = Some(step.outcome.is_ok());
                step.verified = v.map(|v| v.by);
                step.proof = v.map(|v| v.proof);
                step
            }
        };
        let Step {
            state,
            changed,
            outcome,
            events: _,
            verified,
            proof,
            new_codes,
        } = step;
        match &outcome {
            Err(
                Error::MalformedCode(_)
                | Error::LockedOut { .. }
                | Error::InvalidChallenge
                | Error::InvalidInput(_),
            ) => {
                assert!(!changed, "{op:?}: a refused attempt changed the record");
                assert_eq!(state, before, "{op:?}");
            }
            Ok(()) if locked && !matches!(op, Op::OperatorUnlock(_) | Op::OperatorReset(_)) => {
                panic!("{op:?} succeeded while locked")
            }
            _ => {}
        }
        if !changed {
            assert_eq!(state, before, "{op:?}: unchanged but different");
        }

        // The epoch (I12).
        let moves = outcome.is_ok()
            && matches!(
                op,
                Op::Confirm(_) | Op::ConfirmRight | Op::Disable(_) | Op::OperatorReset(_)
            );
        let expected = if moves {
            Epoch::new(before.epoch().get() + 1)
        } else {
            before.epoch()
        };
        assert_eq!(state.epoch(), expected, "{op:?}: the epoch");
        if let Some(proof) = proof {
            assert_eq!(
                proof.epoch,
                state.epoch(),
                "{op:?}: a proof of another epoch"
            );
            assert_eq!(proof.verified_at, now);
            state
                .check_proof(config, &proof, now)
                .expect("a fresh proof is recent");
            if proofs.len() < 16 {
                proofs.push(proof);
            }
        }
        for proof in &proofs {
            if proof.epoch != state.epoch() {
                assert!(matches!(
                    state.check_proof(config, proof, now),
                    Err(Error::Revoked)
                ));
            }
        }
        if completed == Some(true) {
            logins += 1;
        }

        match verified {
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
                let index = match op {
                    Op::RightBackupCode(i) | Op::CompleteLoginRightBackupCode(_, i) => {
                        Some(usize::from(i) % codes.len())
                    }
                    _ => None,
                };
                if let Some(i) = index {
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
        if let FactorState::Active(a) = state.factor()
            && let Some(step) = a.last_step()
        {
            last_step = Some(last_step.map_or(step, |s| s.max(step)));
        }
        let reloaded = MfaEnrollment::from_json(&state.to_json()).expect("reloads");
        assert_eq!(reloaded, state);
        record = state;
    }
});
