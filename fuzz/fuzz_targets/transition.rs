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
//! - replacing the authenticator: beginning keeps the epoch; the pending
//!   secret authenticates nothing (its code is refused by verify); a right
//!   code of the new app confirms, moves the epoch by one and retires the old
//!   app's secret; the status says whether one is pending;
//! - remembered devices: a token is recognised exactly while the factor is
//!   active, under the epoch it was issued in, unexpired and not forgotten;
//!   any other string never is; remembering needs an unlocked factor and a
//!   proof recent and of this epoch;
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
    /// Begin a replacement on the n-th proof.
    BeginReplacement(u8),
    /// Begin a replacement with this code as re-authentication.
    BeginReplacementWithCode(String),
    ConfirmReplacement(String),
    /// Confirm with the new app's code now.
    ConfirmReplacementRight,
    /// Confirm with the old app's code now.
    ConfirmReplacementOld,
    /// Verify the new app's code now (before the swap: refused).
    VerifyNewApp,
    /// Remember a device on the n-th proof.
    RememberDevice(u8),
    /// Forget devices on the n-th proof.
    ForgetDevices(u8),
    /// Begin a login with the n-th token handed out.
    BeginLoginWithToken(u8),
    /// Begin a login with any string as a token.
    BeginLoginWithText(String),
}

/// A device token handed out during the run.
struct Token {
    token: String,
    epoch: Epoch,
    expires_at: u64,
    forgotten: bool,
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
/// The crate's rule for a recent proof: at most `window` old, and from the
/// future only within the clock skew two servers may have.
fn proof_is_recent(proof: &Proof, now: u64, window: u64) -> bool {
    match proof.verified_at.checked_sub(now) {
        Some(ahead) => ahead <= Proof::MAX_CLOCK_SKEW_SECS,
        None => now - proof.verified_at <= window,
    }
}

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
    let mut active_secret = f.secret.to_base32().to_string();
    // The new app's secret while a replacement is pending.
    let mut replacement: Option<(String, u64)> = None;
    let mut tokens: Vec<Token> = Vec::new();
    for op in input.ops.into_iter().take(24) {
        let before = record.clone();
        let locked = record.status(config, now).locked_out;
        let code_of = |b32: &str, t: u64| {
            let secret = TotpSecret::from_base32(b32).unwrap();
            totp::generate(&secret, config.policy().totp.params(), t).unwrap()
        };
        let totp_now = || code_of(&active_secret, now);
        let new_now = || replacement.as_ref().map(|(b32, _)| code_of(b32, now));
        let token_ok = |t: &Token| {
            before.is_active() && t.epoch == before.epoch() && now < t.expires_at && !t.forgotten
        };
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
            Op::BeginLoginWithToken(_) | Op::BeginLoginWithText(_) => {
                let (token, expected) = match &op {
                    Op::BeginLoginWithToken(i) if !tokens.is_empty() => {
                        let t = &tokens[usize::from(*i) % tokens.len()];
                        (t.token.clone(), token_ok(t))
                    }
                    Op::BeginLoginWithText(text) => (
                        text.clone(),
                        tokens.iter().any(|t| t.token == *text && token_ok(t)),
                    ),
                    _ => continue,
                };
                let step = record.begin_login(config, USER, Some(&token), now);
                match step {
                    LoginStep::RememberedDevice(epoch) => {
                        assert!(expected, "{op:?}: a token recognised that should not be");
                        assert_eq!(epoch, record.epoch());
                    }
                    LoginStep::SecondFactor(_) => {
                        assert!(!expected, "{op:?}: a valid token ignored");
                        assert!(record.is_active());
                    }
                    LoginStep::Complete(_) => assert!(!record.is_active()),
                    other => panic!("unexpected {other:?}"),
                }
                continue;
            }
            Op::BeginReplacement(_) | Op::BeginReplacementWithCode(_) => {
                let proof = match &op {
                    Op::BeginReplacement(i) => Some(proofs[usize::from(*i) % proofs.len()]),
                    _ => None,
                };
                let reauth = match (&op, &proof) {
                    (_, Some(proof)) => Reauth::RecentProof(proof),
                    (Op::BeginReplacementWithCode(code), None) => Reauth::TotpCode(code),
                    _ => unreachable!(),
                };
                let t = record.begin_replacement(
                    config,
                    USER,
                    "fuzz@example.com",
                    reauth,
                    now,
                    &mut rng,
                );
                let (step, setup) = Step::of(t);
                if let Some(proof) = proof {
                    let recent = proof.epoch == before.epoch()
                        && proof_is_recent(&proof, now, window)
                        && !locked;
                    assert_eq!(step.outcome.is_ok(), recent && before.is_active(), "{op:?}");
                }
                if let Some(setup) = setup {
                    assert_eq!(setup.expires_at(), now + config.policy().pending_ttl_secs);
                    replacement = Some((setup.secret_base32().to_owned(), setup.expires_at()));
                }
                step
            }
            Op::ConfirmReplacement(_) | Op::ConfirmReplacementRight | Op::ConfirmReplacementOld => {
                let code = match &op {
                    Op::ConfirmReplacement(code) => code.clone(),
                    Op::ConfirmReplacementRight => new_now().unwrap_or_else(totp_now),
                    _ => totp_now(),
                };
                let t = record.confirm_replacement(config, USER, &code, now, &mut rng);
                let (mut step, proof) = Step::of(t);
                if let Some(proof) = proof {
                    assert_eq!(proof.method, mfa::ProofMethod::SetupConfirmation);
                    let (new, expires_at) = replacement.take().expect("a pending replacement");
                    assert!(now < expires_at, "an expired replacement confirmed");
                    let origin = now / 30;
                    assert!(
                        (origin - 1..=origin + 1).any(|s| code_of(&new, s * 30) == code),
                        "{op:?}: confirmed by a code not of the new app"
                    );
                    let old = std::mem::replace(&mut active_secret, new);
                    // The confirming step is used; the old app is retired.
                    last_step = None;
                    let retired = step.state.clone().verify_totp(
                        config,
                        USER,
                        &code_of(&old, now),
                        now,
                        &mut StdRng::seed_from_u64(0),
                    );
                    if code_of(&old, now) != code {
                        assert!(retired.outcome.is_err(), "the old app works after the swap");
                    }
                    for t in &mut tokens {
                        t.forgotten = true;
                    }
                }
                step.proof = proof;
                step
            }
            Op::VerifyNewApp => {
                let Some(code) = new_now() else {
                    continue;
                };
                let t = record.verify_totp(config, USER, &code, now, &mut rng);
                let (mut step, v) = Step::of(t);
                let old_window =
                    (now / 30 - 1..=now / 30 + 1).any(|s| code_of(&active_secret, s * 30) == code);
                if !old_window {
                    assert!(step.outcome.is_err(), "the pending secret authenticated");
                }
                step.verified = v.as_ref().map(|v| v.by);
                step.proof = v.map(|v| v.proof);
                step
            }
            Op::RememberDevice(i) => {
                if tokens.len() >= 8 {
                    // Below the policy's 10: no device is evicted.
                    continue;
                }
                let proof = proofs[usize::from(*i) % proofs.len()];
                let recent = proof.epoch == before.epoch()
                    && proof_is_recent(&proof, now, window)
                    && !locked;
                let (step, token) = Step::of(record.remember_device(config, USER, &proof, now, &mut rng));
                assert_eq!(step.outcome.is_ok(), recent && before.is_active(), "{op:?}");
                if let Some(token) = token {
                    assert_eq!(token.as_str().len(), 43);
                    assert!(
                        matches!(
                            step.state
                                .begin_login(config, USER, Some(token.as_str()), now),
                            LoginStep::RememberedDevice(_)
                        ),
                        "a token just remembered is not recognised"
                    );
                    tokens.push(Token {
                        token: token.as_str().to_owned(),
                        epoch: step.state.epoch(),
                        expires_at: token.expires_at(),
                        forgotten: false,
                    });
                }
                step
            }
            Op::ForgetDevices(i) => {
                let proof = proofs[usize::from(*i) % proofs.len()];
                let recent = proof.epoch == before.epoch()
                    && proof_is_recent(&proof, now, window)
                    && !locked;
                let (step, count) =
                    Step::of(record.forget_devices(config, USER, Reauth::RecentProof(&proof), now));
                assert_eq!(step.outcome.is_ok(), recent && before.is_active(), "{op:?}");
                if let Some(count) = count {
                    let valid = tokens.iter().filter(|t| token_ok(t)).count();
                    assert_eq!(count, valid, "{op:?}: forgot a different number");
                    for t in &mut tokens {
                        t.forgotten = true;
                    }
                }
                step
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
                    && proof_is_recent(&proof, now, window)
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
                step.verified = v.as_ref().map(|v| v.by);
                step.proof = v.map(|v| v.proof);
                step
            }
            Op::RightTotp => {
                let (mut step, v) =
                    Step::of(record.verify_totp(config, USER, &totp_now(), now, &mut rng));
                step.verified = v.as_ref().map(|v| v.by);
                step.proof = v.map(|v| v.proof);
                step
            }
            Op::RightBackupCode(i) => {
                let code = codes[usize::from(*i) % codes.len()].clone();
                let (mut step, v) =
                    Step::of(record.verify_backup_code(config, USER, &code, now, &mut rng));
                step.verified = v.as_ref().map(|v| v.by);
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
                step.verified = v.as_ref().map(|v| v.by);
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
                Op::Confirm(_)
                    | Op::ConfirmRight
                    | Op::Disable(_)
                    | Op::OperatorReset(_)
                    | Op::ConfirmReplacement(_)
                    | Op::ConfirmReplacementRight
                    | Op::ConfirmReplacementOld
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
                .check_proof(config, USER, &proof, now)
                .expect("a fresh proof is recent");
            if proofs.len() < 16 {
                proofs.push(proof);
            }
        }
        for proof in &proofs {
            if proof.epoch != state.epoch() {
                assert!(matches!(
                    state.check_proof(config, USER, proof, now),
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
        // The pending replacement and the devices, as tracked.
        if !state.is_active() {
            replacement = None;
        }
        if let FactorState::Active(a) = state.factor() {
            assert_eq!(
                a.replacement().map(|r| r.expires_at()),
                replacement.as_ref().map(|(_, e)| *e),
                "{op:?}: the pending replacement"
            );
        }
        assert_eq!(
            state.status(config, now).replacement_pending,
            replacement.as_ref().is_some_and(|(_, e)| now < *e),
            "{op:?}"
        );
        let valid = tokens
            .iter()
            .filter(|t| {
                state.is_active() && t.epoch == state.epoch() && now < t.expires_at && !t.forgotten
            })
            .count();
        assert_eq!(
            state.status(config, now).remembered_devices,
            valid,
            "{op:?}: devices"
        );
        let reloaded = MfaEnrollment::from_json(&state.to_json()).expect("reloads");
        assert_eq!(reloaded, state);
        record = state;
    }
});
