//! The security epoch, single-use login challenges, proofs of verification,
//! step-up with a recent proof, and operator unlock and reset (I12): first on
//! the pure transitions, then through `Mfa` over `MemoryStore`.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use mfa::testkit::{ManualClock, fixtures::Enrolled, test_config_with};
use mfa::{
    Epoch, Error, FactorState, LoginChallenge, LoginStep, MemoryStore, Mfa, MfaContext,
    MfaEnrollment, MfaStore, Proof, ProofMethod, Reauth, VerifiedBy,
    enrollment::Transition,
    event::SecurityEvent,
    totp::{self, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};

const USER: &str = "session-user";
const T0: u64 = 1_700_000_000;
/// The policy's step-up window (its default, checked in `ctx`).
const WINDOW: u64 = 600;
/// The policy's login-challenge lifetime (its default, checked in `ctx`).
const TTL: u64 = 300;

/// Small Argon2; the second consecutive failure locks for 30 s, the third is
/// the hard stop that only an operator lifts.
fn ctx() -> MfaContext {
    let ctx = test_config_with(|p| {
        p.lockout.lock_after_failures = 2;
        p.lockout.max_consecutive_failures = 3;
    });
    assert_eq!(ctx.policy().step_up_window_secs, WINDOW);
    assert_eq!(ctx.policy().login_challenge_ttl_secs, TTL);
    ctx
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(12)
}

fn code(ctx: &MfaContext, secret: &TotpSecret, at: u64) -> String {
    totp::generate(secret, ctx.policy().totp.params(), at).unwrap()
}

/// A TOTP code that is wrong at `at`, one step either side included.
fn wrong(ctx: &MfaContext, secret: &TotpSecret, at: u64) -> String {
    let window: Vec<String> = [at - 30, at, at + 30]
        .iter()
        .map(|t| code(ctx, secret, *t))
        .collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .unwrap()
}

/// The record and output of a transition that must succeed.
#[track_caller]
fn ok<T: Debug>(t: Transition<T>) -> (MfaEnrollment, T) {
    match t.outcome {
        Ok(out) => (t.state, out),
        Err(e) => panic!("expected success, got {e:?}"),
    }
}

/// Checks that a transition refused with `expected` and changed nothing.
#[track_caller]
fn refused_unchanged<T: Debug>(
    before: &MfaEnrollment,
    t: Transition<T>,
    expected: fn(&Error) -> bool,
) {
    match &t.outcome {
        Err(e) if expected(e) => {}
        other => panic!("unexpected outcome {other:?}"),
    }
    assert!(!t.changed, "a refusal changed the record");
    assert_eq!(&t.state, before, "a refusal changed the record");
    assert!(t.events.is_empty(), "a refusal reported {:?}", t.events);
}

fn challenge(ctx: &MfaContext, record: &MfaEnrollment, user: &str, at: u64) -> LoginChallenge {
    match record.begin_login(ctx, user, None, at) {
        LoginStep::SecondFactor(c) => c,
        other => panic!("an active factor asks for a second step, not {other:?}"),
    }
}

/// Three wrong codes from `at` on, waiting out the lock after the second:
/// the hard stop, which only an operator lifts.
fn hard_stop(
    ctx: &MfaContext,
    mut record: MfaEnrollment,
    secret: &TotpSecret,
    at: u64,
) -> MfaEnrollment {
    for t in [at, at, at + 30] {
        let step = record.verify_totp(ctx, USER, &wrong(ctx, secret, t), t, &mut rng());
        assert!(
            matches!(step.outcome, Err(Error::InvalidCode)),
            "{:?}",
            step.outcome
        );
        assert!(step.changed);
        record = step.state;
    }
    assert_eq!(failures(&record), 3);
    record
}

fn failures(record: &MfaEnrollment) -> u32 {
    match record.factor() {
        FactorState::Active(a) => a.attempts().failures(),
        other => panic!("not active: {other:?}"),
    }
}

/// A proof of [`USER`] as a host would have stored it (in a session or a
/// signed token).
fn stored_proof(method: &str, verified_at: u64, epoch: u64) -> Proof {
    stored_proof_of(USER, method, verified_at, epoch)
}

/// A proof of `user` as stored: its `user` is the first 128 bits of the
/// SHA-256 of `mfa/proof-user`, a zero byte and the user id, in base64url
/// (the format hosts keep in their sessions, pinned here).
fn stored_proof_of(user: &str, method: &str, verified_at: u64, epoch: u64) -> Proof {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"mfa/proof-user\0")
        .chain_update(user.as_bytes())
        .finalize();
    let user = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    serde_json::from_value(serde_json::json!({
        "method": method, "verifiedAt": verified_at, "epoch": epoch, "user": user
    }))
    .unwrap()
}

const OPERATOR: &str = "support-desk";
const REASON: &str = "identity checked by video call";

// ---------- The epoch ----------

#[test]
fn epoch_moves_on_enable_disable_and_operator_reset_only() {
    let ctx = ctx();
    let mut rng = rng();
    let epoch = |r: &MfaEnrollment| r.epoch().get();
    let record = MfaEnrollment::default();
    assert_eq!(record.epoch(), Epoch::default());
    assert_eq!(epoch(&record), 0);

    // Setup, a failed confirmation, cancel, setup again: no move.
    let (record, setup) = ok(record.begin_setup(&ctx, USER, "u@example.com", T0, &mut rng));
    assert_eq!(epoch(&record), 0, "setup");
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let t = record.confirm_setup(&ctx, USER, &wrong(&ctx, &secret, T0), T0, &mut rng);
    assert!(matches!(t.outcome, Err(Error::InvalidCode)) && t.changed);
    assert_eq!(epoch(&t.state), 0, "failed confirmation");
    let (record, ()) = ok(t.state.cancel_setup());
    assert_eq!(epoch(&record), 0, "cancel");
    let (record, setup) = ok(record.begin_setup(&ctx, USER, "u@example.com", T0, &mut rng));
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    assert_eq!(epoch(&record), 0, "setup again");

    // Enable: 1.
    let (record, enabled) =
        ok(record.confirm_setup(&ctx, USER, &code(&ctx, &secret, T0), T0, &mut rng));
    assert_eq!(epoch(&record), 1, "enable");
    let backup: Vec<String> = enabled
        .backup_codes
        .as_strs()
        .into_iter()
        .map(str::to_owned)
        .collect();

    // Verify, log in, regenerate both ways, fail, get locked, unlock: no move.
    let (record, _) =
        ok(record.verify_totp(&ctx, USER, &code(&ctx, &secret, T0 + 30), T0 + 30, &mut rng));
    assert_eq!(epoch(&record), 1, "TOTP verification");
    let (record, _) = ok(record.verify_backup_code(&ctx, USER, &backup[0], T0 + 31, &mut rng));
    assert_eq!(epoch(&record), 1, "backup-code verification");
    let login = challenge(&ctx, &record, USER, T0 + 60);
    let (record, _) = ok(record.complete_login(
        &ctx,
        USER,
        &login,
        &code(&ctx, &secret, T0 + 60),
        T0 + 60,
        &mut rng,
    ));
    assert_eq!(epoch(&record), 1, "login");
    let (record, _) = ok(record.regenerate_backup_codes(
        &ctx,
        USER,
        Reauth::TotpCode(&code(&ctx, &secret, T0 + 90)),
        T0 + 90,
        &mut rng,
    ));
    assert_eq!(epoch(&record), 1, "regenerate with a code");
    let (record, backup) = ok(record.regenerate_backup_codes(
        &ctx,
        USER,
        Reauth::RecentProof(&enabled.proof),
        T0 + 91,
        &mut rng,
    ));
    assert_eq!(epoch(&record), 1, "regenerate with a proof");
    let record = hard_stop(&ctx, record, &secret, T0 + 200);
    assert_eq!(epoch(&record), 1, "failed attempts and the hard stop");
    let (record, ()) = ok(record.operator_unlock(OPERATOR, REASON));
    assert_eq!(epoch(&record), 1, "operator unlock");
    let t = record.clone().disable(
        &ctx,
        USER,
        &wrong(&ctx, &secret, T0 + 240),
        T0 + 240,
        &mut rng,
    );
    assert!(matches!(t.outcome, Err(Error::InvalidCode)) && t.changed);
    assert_eq!(epoch(&t.state), 1, "failed disable");

    // Disable: 2.
    let (record, proof) = ok(record.disable(&ctx, USER, backup.as_strs()[0], T0 + 250, &mut rng));
    assert_eq!(epoch(&record), 2, "disable");
    assert_eq!(proof.epoch, record.epoch());

    // Operator resets: of a user without a factor (3), of a pending setup
    // (4), of an active factor (6, after the enable that makes it 5).
    let (record, ()) = ok(record.operator_reset(OPERATOR, REASON));
    assert_eq!(epoch(&record), 3, "operator reset without a factor");
    let (record, _) = ok(record.begin_setup(&ctx, USER, "u@example.com", T0 + 300, &mut rng));
    assert_eq!(epoch(&record), 3, "setup");
    let (record, ()) = ok(record.operator_reset(OPERATOR, REASON));
    assert_eq!(epoch(&record), 4, "operator reset of a pending setup");
    let (record, setup) = ok(record.begin_setup(&ctx, USER, "u@example.com", T0 + 330, &mut rng));
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let (record, _) = ok(record.confirm_setup(
        &ctx,
        USER,
        &code(&ctx, &secret, T0 + 330),
        T0 + 330,
        &mut rng,
    ));
    assert_eq!(epoch(&record), 5, "enable again");
    let (record, ()) = ok(record.operator_reset(OPERATOR, REASON));
    assert_eq!(epoch(&record), 6, "operator reset of an active factor");

    // Sessions bound to any earlier epoch are revoked.
    record.check_epoch(Epoch::new(6)).unwrap();
    for old in 0..6 {
        assert!(matches!(
            record.check_epoch(Epoch::new(old)),
            Err(Error::Revoked)
        ));
    }
    assert!(matches!(
        record.check_epoch(Epoch::new(7)),
        Err(Error::Revoked)
    ));
    // The epoch survives storage.
    let reloaded = MfaEnrollment::from_json(&record.to_json()).unwrap();
    assert_eq!(reloaded.epoch(), Epoch::new(6));
    assert_eq!(Epoch::new(6).get(), 6);
}

// ---------- Login challenges ----------

#[test]
fn a_challenge_completes_once_and_a_wrong_code_leaves_it_open() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let at = T0 + 30;
    let begun = challenge(&ctx, &user.active, USER, at);
    assert_eq!(begun.user_id(), USER);
    assert_eq!(begun.epoch(), user.active.epoch());
    assert_eq!(begun.expires_at(), at + TTL);
    // Beginning a login is a pure read: the same step every time.
    assert_eq!(
        user.active.begin_login(&ctx, USER, None, at),
        LoginStep::SecondFactor(begun.clone())
    );

    // A wrong code is counted and leaves the challenge open.
    let t = user.active.clone().complete_login(
        &ctx,
        USER,
        &begun,
        &wrong(&ctx, &user.secret, at),
        at,
        &mut rng(),
    );
    assert!(matches!(t.outcome, Err(Error::InvalidCode)));
    assert!(t.changed);
    assert_eq!(failures(&t.state), 1);
    let (done, verified) = ok(t.state.complete_login(
        &ctx,
        USER,
        &begun,
        &code(&ctx, &user.secret, at),
        at,
        &mut rng(),
    ));
    assert!(matches!(verified.by, VerifiedBy::Totp(_)));
    assert_eq!(failures(&done), 0);

    // Completed: refused with any other valid code, uncounted.
    let codes = user.code_strings();
    refused_unchanged(
        &done,
        done.clone()
            .complete_login(&ctx, USER, &begun, &codes[0], at + 1, &mut rng()),
        |e| matches!(e, Error::InvalidChallenge),
    );
    refused_unchanged(
        &done,
        done.clone().complete_login(
            &ctx,
            USER,
            &begun,
            &code(&ctx, &user.secret, at + 30),
            at + 30,
            &mut rng(),
        ),
        |e| matches!(e, Error::InvalidChallenge),
    );
    // A challenge begun now completes.
    let next = challenge(&ctx, &done, USER, at + 30);
    ok(done.complete_login(&ctx, USER, &next, &codes[0], at + 30, &mut rng()));
}

#[test]
fn a_challenge_expires_at_exactly_its_expiry() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let challenge = challenge(&ctx, &user.active, USER, T0 + 10);
    let expires = challenge.expires_at();
    assert_eq!(expires, T0 + 10 + TTL);
    let last = expires - 1;
    ok(user.active.clone().complete_login(
        &ctx,
        USER,
        &challenge,
        &code(&ctx, &user.secret, last),
        last,
        &mut rng(),
    ));
    refused_unchanged(
        &user.active,
        user.active.clone().complete_login(
            &ctx,
            USER,
            &challenge,
            &code(&ctx, &user.secret, expires),
            expires,
            &mut rng(),
        ),
        |e| matches!(e, Error::InvalidChallenge),
    );
    // A wrong code after expiry is not counted either.
    refused_unchanged(
        &user.active,
        user.active.clone().complete_login(
            &ctx,
            USER,
            &challenge,
            &wrong(&ctx, &user.secret, expires + 100),
            expires + 100,
            &mut rng(),
        ),
        |e| matches!(e, Error::InvalidChallenge),
    );
}

#[test]
fn a_challenge_of_another_user_or_epoch_is_refused() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let at = T0 + 30;
    let right = code(&ctx, &user.secret, at);

    // Begun for someone else, or completed as someone else.
    let theirs = challenge(&ctx, &user.active, "someone-else", at);
    refused_unchanged(
        &user.active,
        user.active
            .clone()
            .complete_login(&ctx, USER, &theirs, &right, at, &mut rng()),
        |e| matches!(e, Error::InvalidChallenge),
    );
    let mine = challenge(&ctx, &user.active, USER, at);
    refused_unchanged(
        &user.active,
        user.active
            .clone()
            .complete_login(&ctx, "someone-else", &mine, &right, at, &mut rng()),
        |e| matches!(e, Error::InvalidChallenge),
    );

    // Under an earlier epoch: disabled, then enabled again (same login count).
    let (off, _) = ok(user
        .active
        .clone()
        .disable(&ctx, USER, &right, at, &mut rng()));
    refused_unchanged(
        &off,
        off.clone()
            .complete_login(&ctx, USER, &mine, &right, at, &mut rng()),
        |e| matches!(e, Error::InvalidChallenge),
    );
    let mut r = rng();
    let (pending, setup) = ok(off.begin_setup(&ctx, USER, "u@example.com", at + 30, &mut r));
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let (again, _) =
        ok(pending.confirm_setup(&ctx, USER, &code(&ctx, &secret, at + 30), at + 30, &mut r));
    assert_eq!(again.epoch(), Epoch::new(3));
    let later = at + 60;
    refused_unchanged(
        &again,
        again.clone().complete_login(
            &ctx,
            USER,
            &mine,
            &code(&ctx, &secret, later),
            later,
            &mut rng(),
        ),
        |e| matches!(e, Error::InvalidChallenge),
    );
    // After an operator reset and a new enrollment, likewise.
    let (reset, ()) = ok(again.clone().operator_reset(OPERATOR, REASON));
    let (pending, setup) = ok(reset.begin_setup(&ctx, USER, "u@example.com", later, &mut r));
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let (fresh, _) =
        ok(pending.confirm_setup(&ctx, USER, &code(&ctx, &secret, later), later, &mut r));
    let old = challenge(&ctx, &again, USER, later);
    let at = later + 30;
    refused_unchanged(
        &fresh,
        fresh
            .clone()
            .complete_login(&ctx, USER, &old, &code(&ctx, &secret, at), at, &mut rng()),
        |e| matches!(e, Error::InvalidChallenge),
    );
    let new = challenge(&ctx, &fresh, USER, at);
    ok(fresh.complete_login(&ctx, USER, &new, &code(&ctx, &secret, at), at, &mut rng()));
}

#[test]
fn a_completed_login_uses_up_every_challenge_begun_before_it() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let codes = user.code_strings();
    let first = challenge(&ctx, &user.active, USER, T0 + 1);
    let second = challenge(&ctx, &user.active, USER, T0 + 2);
    // A verification outside a login (a step-up) leaves challenges open.
    let (record, _) =
        ok(user
            .active
            .clone()
            .verify_backup_code(&ctx, USER, &codes[5], T0 + 3, &mut rng()));
    let (record, _) = ok(record.complete_login(&ctx, USER, &second, &codes[0], T0 + 4, &mut rng()));
    // The other one, begun before that completion, is dead.
    refused_unchanged(
        &record,
        record
            .clone()
            .complete_login(&ctx, USER, &first, &codes[1], T0 + 5, &mut rng()),
        |e| matches!(e, Error::InvalidChallenge),
    );
    let third = challenge(&ctx, &record, USER, T0 + 6);
    let (record, verified) =
        ok(record.complete_login(&ctx, USER, &third, &codes[1], T0 + 6, &mut rng()));
    assert_eq!(verified.by, VerifiedBy::BackupCode);
    assert_eq!(verified.backup_codes_remaining, 7);
    // The count of logins survives storage: the dead challenge stays dead.
    let reloaded = MfaEnrollment::from_json(&record.to_json()).unwrap();
    for dead in [&first, &second, &third] {
        refused_unchanged(
            &reloaded,
            reloaded
                .clone()
                .complete_login(&ctx, USER, dead, &codes[2], T0 + 7, &mut rng()),
            |e| matches!(e, Error::InvalidChallenge),
        );
    }
}

#[test]
fn without_an_active_factor_a_login_completes_with_the_epoch() {
    let ctx = ctx();
    let none = MfaEnrollment::default();
    assert_eq!(
        none.begin_login(&ctx, USER, None, T0),
        LoginStep::Complete(Epoch::new(0))
    );
    let user = Enrolled::new(&ctx, USER, T0);
    // A pending setup never asks for a second step.
    assert_eq!(
        user.pending.begin_login(&ctx, USER, None, T0),
        LoginStep::Complete(Epoch::new(0))
    );
    let open = challenge(&ctx, &user.active, USER, T0 + 30);
    let right = code(&ctx, &user.secret, T0 + 30);
    let (off, _) = ok(user.active.disable(&ctx, USER, &right, T0 + 30, &mut rng()));
    assert_eq!(
        off.begin_login(&ctx, USER, None, T0 + 40),
        LoginStep::Complete(Epoch::new(2))
    );
    // A challenge of the active factor cannot complete once it is gone.
    refused_unchanged(
        &off,
        off.clone().complete_login(
            &ctx,
            USER,
            &open,
            &code(&ctx, &user.secret, T0 + 60),
            T0 + 60,
            &mut rng(),
        ),
        |e| matches!(e, Error::InvalidChallenge),
    );
    refused_unchanged(
        &user.pending,
        user.pending
            .clone()
            .complete_login(&ctx, USER, &open, &right, T0 + 30, &mut rng()),
        |e| matches!(e, Error::InvalidChallenge),
    );
}

// ---------- Proofs ----------

#[test]
fn every_code_check_gives_a_proof_of_its_kind_and_epoch() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let codes = user.code_strings();
    assert_eq!(user.proof.method, ProofMethod::SetupConfirmation);
    assert_eq!(user.proof.verified_at, T0);
    assert_eq!(user.proof.epoch, Epoch::new(1));
    assert_eq!(user.active.epoch(), user.proof.epoch);

    let proof_of = |t: Transition<mfa::Verified>| ok(t).1.proof;
    let at = T0 + 30;
    let p = proof_of(user.active.clone().verify_totp(
        &ctx,
        USER,
        &code(&ctx, &user.secret, at),
        at,
        &mut rng(),
    ));
    assert_eq!(
        (p.method, p.verified_at, p.epoch),
        (ProofMethod::Totp, at, Epoch::new(1))
    );
    let p = proof_of(user.active.clone().verify(
        &ctx,
        USER,
        &code(&ctx, &user.secret, at),
        at,
        &mut rng(),
    ));
    assert_eq!(p.method, ProofMethod::Totp);
    let p =
        proof_of(
            user.active
                .clone()
                .verify_backup_code(&ctx, USER, &codes[0], at + 1, &mut rng()),
        );
    assert_eq!(
        (p.method, p.verified_at, p.epoch),
        (ProofMethod::BackupCode, at + 1, Epoch::new(1))
    );
    let p = proof_of(
        user.active
            .clone()
            .verify(&ctx, USER, &codes[0], at + 2, &mut rng()),
    );
    assert_eq!(p.method, ProofMethod::BackupCode);
    let c = challenge(&ctx, &user.active, USER, at);
    let p =
        proof_of(
            user.active
                .clone()
                .complete_login(&ctx, USER, &c, &codes[0], at + 3, &mut rng()),
        );
    assert_eq!((p.method, p.verified_at), (ProofMethod::BackupCode, at + 3));
    let p = proof_of(user.active.clone().complete_login(
        &ctx,
        USER,
        &c,
        &code(&ctx, &user.secret, at),
        at,
        &mut rng(),
    ));
    assert_eq!(p.method, ProofMethod::Totp);

    // Disabling gives a proof under the new epoch, which it is then valid in.
    let (off, p) =
        ok(user
            .active
            .clone()
            .disable(&ctx, USER, &code(&ctx, &user.secret, at), at, &mut rng()));
    assert_eq!(
        (p.method, p.verified_at, p.epoch),
        (ProofMethod::Totp, at, Epoch::new(2))
    );
    off.check_proof(&ctx, USER, &p, at).unwrap();
    assert!(matches!(
        off.check_proof(&ctx, USER, &user.proof, at),
        Err(Error::Revoked)
    ));
    let (off, p) = ok(user
        .active
        .clone()
        .disable(&ctx, USER, &codes[1], at, &mut rng()));
    assert_eq!((p.method, p.epoch), (ProofMethod::BackupCode, off.epoch()));

    // Confirming gives a proof under the epoch it moves to.
    let mut r = rng();
    let (pending, setup) = ok(off.begin_setup(&ctx, USER, "u@example.com", at + 30, &mut r));
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let (on, enabled) =
        ok(pending.confirm_setup(&ctx, USER, &code(&ctx, &secret, at + 30), at + 30, &mut r));
    assert_eq!(enabled.proof.method, ProofMethod::SetupConfirmation);
    assert_eq!(enabled.proof.epoch, Epoch::new(3));
    on.check_proof(&ctx, USER, &enabled.proof, at + 30).unwrap();
    // A proof survives the host's storage unchanged.
    let json = serde_json::to_string(&enabled.proof).unwrap();
    assert_eq!(serde_json::from_str::<Proof>(&json).unwrap(), enabled.proof);
    assert_eq!(
        stored_proof("setup_confirmation", at + 30, 3),
        enabled.proof
    );
}

#[test]
fn check_proof_boundaries() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let (record, proof) = (&user.active, &user.proof);
    record.check_proof(&ctx, USER, proof, T0).unwrap();
    record.check_proof(&ctx, USER, proof, T0 + WINDOW).unwrap();
    assert!(matches!(
        record.check_proof(&ctx, USER, proof, T0 + WINDOW + 1),
        Err(Error::StepUpRequired)
    ));
    // From the future: only within the clock skew two servers may have
    // (I17), never for as long as the window; a server whose clock runs
    // fast cannot issue proofs that others keep recent for longer.
    let skew = Proof::MAX_CLOCK_SKEW_SECS;
    assert!(skew <= 60, "a minute at most");
    record.check_proof(&ctx, USER, proof, T0 - 1).unwrap();
    record.check_proof(&ctx, USER, proof, T0 - skew).unwrap();
    for early in [skew + 1, WINDOW, WINDOW + 1] {
        assert!(matches!(
            record.check_proof(&ctx, USER, proof, T0 - early),
            Err(Error::StepUpRequired)
        ));
    }
    let far_future = stored_proof("totp", u64::MAX, 1);
    assert!(matches!(
        record.check_proof(&ctx, USER, &far_future, T0),
        Err(Error::StepUpRequired)
    ));
    // Another user's proof, at the same epoch and time: worth nothing
    // here (I17), and a proof stored before proofs named their user
    // (no `user`) proves nothing either.
    let bobs = stored_proof_of("bob", "totp", T0, 1);
    assert_eq!(
        (bobs.epoch, bobs.verified_at),
        (proof.epoch, proof.verified_at)
    );
    assert!(!bobs.is_for(USER) && bobs.is_for("bob") && proof.is_for(USER));
    assert!(matches!(
        record.check_proof(&ctx, USER, &bobs, T0),
        Err(Error::Revoked)
    ));
    assert!(matches!(
        record.check_proof(&ctx, "bob", proof, T0),
        Err(Error::Revoked)
    ));
    let unbound: Proof = serde_json::from_value(serde_json::json!({
        "method": "totp", "verifiedAt": T0, "epoch": 1
    }))
    .unwrap();
    assert!(matches!(
        record.check_proof(&ctx, USER, &unbound, T0),
        Err(Error::Revoked)
    ));
    // Another epoch: revoked, however fresh, and before staleness.
    for epoch in [0, 2, u64::MAX] {
        let other = stored_proof("totp", T0, epoch);
        assert!(matches!(
            record.check_proof(&ctx, USER, &other, T0),
            Err(Error::Revoked)
        ));
        let stale = stored_proof("totp", T0 - 10 * WINDOW, epoch);
        assert!(matches!(
            record.check_proof(&ctx, USER, &stale, T0),
            Err(Error::Revoked)
        ));
    }
    // A record without a factor checks proofs of its epoch the same way.
    let none = MfaEnrollment::default();
    none.check_proof(&ctx, USER, &stored_proof("totp", T0, 0), T0)
        .unwrap();
    assert!(matches!(
        none.check_proof(&ctx, USER, proof, T0),
        Err(Error::Revoked)
    ));
}

#[test]
fn regenerating_with_a_recent_proof() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let active = &user.active;
    let regenerate = |record: &MfaEnrollment, proof: &Proof, at: u64| {
        record.clone().regenerate_backup_codes(
            &ctx,
            USER,
            Reauth::RecentProof(proof),
            at,
            &mut rng(),
        )
    };
    // Fresh enough, up to the window.
    let (after, fresh) = ok(regenerate(active, &user.proof, T0 + WINDOW));
    assert_eq!(fresh.len(), 10);
    assert_ne!(after, *active);
    // Stale.
    refused_unchanged(
        active,
        regenerate(active, &user.proof, T0 + WINDOW + 1),
        |e| matches!(e, Error::StepUpRequired),
    );
    // Issued before the factor was enabled (while MFA was off: epoch 0).
    refused_unchanged(
        active,
        regenerate(active, &stored_proof("totp", T0, 0), T0),
        |e| matches!(e, Error::Revoked),
    );

    // Locked out (the second failure locks for 30 s): refused with a fresh proof.
    let mut locked = active.clone();
    for _ in 0..2 {
        let t = locked.verify_totp(
            &ctx,
            USER,
            &wrong(&ctx, &user.secret, T0 + 10),
            T0 + 10,
            &mut rng(),
        );
        assert!(matches!(t.outcome, Err(Error::InvalidCode)));
        locked = t.state;
    }
    refused_unchanged(&locked, regenerate(&locked, &user.proof, T0 + 11), |e| {
        matches!(
            e,
            Error::LockedOut {
                retry_after: Some(29)
            }
        )
    });
    ok(regenerate(&locked, &user.proof, T0 + 40));
    // At the hard stop, however long one waits.
    let t = locked.verify_totp(
        &ctx,
        USER,
        &wrong(&ctx, &user.secret, T0 + 40),
        T0 + 40,
        &mut rng(),
    );
    assert!(matches!(t.outcome, Err(Error::InvalidCode)));
    let stopped = t.state;
    assert_eq!(failures(&stopped), 3);
    let fresh_proof = stored_proof("totp", T0 + 100_000, 1);
    refused_unchanged(
        &stopped,
        regenerate(&stopped, &fresh_proof, T0 + 100_000),
        |e| matches!(e, Error::LockedOut { retry_after: None }),
    );

    // The proof of a session opened before MFA was enabled again.
    let right = code(&ctx, &user.secret, T0 + 30);
    let (off, off_proof) = ok(active
        .clone()
        .disable(&ctx, USER, &right, T0 + 30, &mut rng()));
    let mut r = rng();
    let (pending, setup) =
        ok(off
            .clone()
            .begin_setup(&ctx, USER, "u@example.com", T0 + 60, &mut r));
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let (again, enabled) =
        ok(pending.confirm_setup(&ctx, USER, &code(&ctx, &secret, T0 + 60), T0 + 60, &mut r));
    for old in [&off_proof, &user.proof] {
        refused_unchanged(&again, regenerate(&again, old, T0 + 61), |e| {
            matches!(e, Error::Revoked)
        });
    }
    ok(regenerate(&again, &enabled.proof, T0 + 61));
    // Without a factor: nothing to regenerate.
    refused_unchanged(&off, regenerate(&off, &off_proof, T0 + 31), |e| {
        matches!(e, Error::MfaNotEnabled)
    });
}

// ---------- Operator actions ----------

#[test]
fn operator_unlock_lifts_the_hard_stop_and_is_always_reported() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let record = hard_stop(&ctx, user.active.clone(), &user.secret, T0 + 30);
    let at = T0 + 365 * 24 * 3600;
    let locked =
        record
            .clone()
            .verify_totp(&ctx, USER, &code(&ctx, &user.secret, at), at, &mut rng());
    assert!(matches!(
        locked.outcome,
        Err(Error::LockedOut { retry_after: None })
    ));
    assert!(record.status(&ctx, at).locked_out);

    let t = record.clone().operator_unlock(OPERATOR, REASON);
    assert!(t.outcome.is_ok() && t.changed);
    assert_eq!(
        t.events,
        [SecurityEvent::OperatorUnlocked {
            actor: OPERATOR.into(),
            reason: REASON.into()
        }]
    );
    let unlocked = t.state;
    assert_eq!(failures(&unlocked), 0);
    assert_eq!(unlocked.epoch(), record.epoch());
    assert!(!unlocked.status(&ctx, at).locked_out);
    ok(unlocked
        .clone()
        .verify_totp(&ctx, USER, &code(&ctx, &user.secret, at), at, &mut rng()));

    // Nothing locked: reported all the same, nothing written.
    for calm in [
        &unlocked,
        &user.active,
        &user.pending,
        &MfaEnrollment::default(),
    ] {
        let t = calm.clone().operator_unlock(OPERATOR, "routine check");
        assert!(t.outcome.is_ok());
        assert!(!t.changed);
        assert_eq!(&t.state, calm);
        assert_eq!(
            t.events,
            [SecurityEvent::OperatorUnlocked {
                actor: OPERATOR.into(),
                reason: "routine check".into()
            }]
        );
    }
    // A pending setup's counter is cleared too.
    let t = user.pending.clone().confirm_setup(
        &ctx,
        USER,
        &wrong(&ctx, &user.secret, T0),
        T0,
        &mut rng(),
    );
    assert!(t.changed);
    let t = t.state.operator_unlock(OPERATOR, REASON);
    assert!(t.changed);
    assert_eq!(t.state, user.pending);
}

#[test]
fn operator_notes_must_be_short_single_line_text() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let locked = hard_stop(&ctx, user.active.clone(), &user.secret, T0 + 30);
    let long = "a".repeat(513);
    let long_wide = "é".repeat(257);
    let bad = [
        "",
        " ",
        "\t \n",
        &long,
        &long_wide,
        "two\nlines",
        "carriage\rreturn",
        "nul\0byte",
        "escape\u{1b}[31m",
        "delete\u{7f}",
        "next-line\u{85}",
    ];
    for note in bad {
        for (actor, reason) in [(note, REASON), (OPERATOR, note)] {
            refused_unchanged(
                &locked,
                locked.clone().operator_unlock(actor, reason),
                |e| matches!(e, Error::InvalidInput(_)),
            );
            refused_unchanged(&locked, locked.clone().operator_reset(actor, reason), |e| {
                matches!(e, Error::InvalidInput(_))
            });
        }
    }
    // Up to 512 bytes, any language.
    for note in [
        "a".repeat(512),
        "é".repeat(256),
        "Zoë O'Brien (support, 2nd line)".into(),
    ] {
        let t = locked.clone().operator_unlock(&note, &note);
        assert!(t.outcome.is_ok(), "{note}: {:?}", t.outcome);
        assert_eq!(failures(&t.state), 0);
    }
}

#[test]
fn operator_reset_from_every_state() {
    let ctx = ctx();
    let user = Enrolled::new(&ctx, USER, T0);
    let codes = user.code_strings();
    let event = SecurityEvent::OperatorReset {
        actor: OPERATOR.into(),
        reason: REASON.into(),
    };
    // With some logins behind it, so the count can be seen to survive.
    let c = challenge(&ctx, &user.active, USER, T0 + 1);
    let (active, _) =
        ok(user
            .active
            .clone()
            .complete_login(&ctx, USER, &c, &codes[0], T0 + 1, &mut rng()));
    let open = challenge(&ctx, &active, USER, T0 + 2);
    let proof = ok(active
        .clone()
        .verify_backup_code(&ctx, USER, &codes[1], T0 + 2, &mut rng()))
    .1
    .proof;
    // What each record's earlier sessions may hold: proofs of its epoch.
    let off_proof = stored_proof("totp", T0 + 2, 0);
    for (what, before, minted) in [
        ("active", active.clone(), vec![proof, user.proof]),
        ("pending", user.pending.clone(), vec![off_proof]),
        ("disabled", MfaEnrollment::default(), vec![off_proof]),
    ] {
        for p in &minted {
            before.check_proof(&ctx, USER, p, T0 + 3).unwrap();
        }
        let t = before.clone().operator_reset(OPERATOR, REASON);
        assert!(t.outcome.is_ok() && t.changed, "{what}");
        assert_eq!(t.events, std::slice::from_ref(&event), "{what}");
        let after = t.state;
        assert_eq!(after.factor(), &FactorState::Disabled, "{what}");
        assert_eq!(after.epoch().get(), before.epoch().get() + 1, "{what}");
        assert!(
            matches!(after.check_epoch(before.epoch()), Err(Error::Revoked)),
            "{what}"
        );
        assert_eq!(
            after.begin_login(&ctx, USER, None, T0 + 3),
            LoginStep::Complete(after.epoch())
        );
        let status = after.status(&ctx, T0 + 3);
        assert!(!status.mfa_enabled && !status.pending_setup && status.backup_codes_remaining == 0);
        // The factor, the setup and the codes are gone.
        refused_unchanged(
            &after,
            after
                .clone()
                .verify(&ctx, USER, &codes[2], T0 + 3, &mut rng()),
            |e| matches!(e, Error::MfaNotEnabled),
        );
        refused_unchanged(
            &after,
            after
                .clone()
                .confirm_setup(&ctx, USER, &code(&ctx, &user.secret, T0), T0, &mut rng()),
            |e| matches!(e, Error::NoPendingSetup),
        );
        // Everything minted before it is void.
        for p in &minted {
            assert!(
                matches!(
                    after.check_proof(&ctx, USER, p, T0 + 3),
                    Err(Error::Revoked)
                ),
                "{what}"
            );
        }
        refused_unchanged(
            &after,
            after
                .clone()
                .complete_login(&ctx, USER, &open, &codes[2], T0 + 3, &mut rng()),
            |e| matches!(e, Error::InvalidChallenge),
        );
    }
    // The count of completed logins is kept.
    let (reset, ()) = ok(active.clone().operator_reset(OPERATOR, REASON));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&reset.to_json()).unwrap()["logins"],
        1
    );
}

// ---------- Through the service ----------

struct Service {
    mfa: Arc<Mfa<Arc<MemoryStore>>>,
    clock: ManualClock,
    events: Arc<Mutex<Vec<(String, SecurityEvent)>>>,
}

fn service() -> Service {
    let clock = ManualClock::new(T0);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let mfa = Mfa::new(Arc::new(MemoryStore::new()), ctx())
        .with_clock(clock.clone())
        .with_event_sink(move |user: &str, e: &SecurityEvent| {
            sink.lock().unwrap().push((user.to_owned(), e.clone()))
        });
    Service {
        mfa: Arc::new(mfa),
        clock,
        events,
    }
}

impl Service {
    /// Enrolls `user` now; returns the secret, the backup codes and the proof.
    async fn enroll(&self, user: &str) -> (TotpSecret, Vec<String>, Proof) {
        let setup = self.mfa.begin_setup(user, "u@example.com").await.unwrap();
        let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
        let enabled = self
            .mfa
            .confirm_setup(user, &self.code(&secret))
            .await
            .unwrap();
        let codes = enabled
            .backup_codes
            .as_strs()
            .into_iter()
            .map(str::to_owned)
            .collect();
        (secret, codes, enabled.proof)
    }

    fn code(&self, secret: &TotpSecret) -> String {
        code(self.mfa.context(), secret, self.clock.get())
    }

    async fn epoch(&self, user: &str) -> u64 {
        self.mfa.load(user).await.unwrap().epoch().get()
    }

    async fn version(&self, user: &str) -> Option<u64> {
        self.mfa
            .store()
            .load(user)
            .await
            .unwrap()
            .map(|s| s.version)
    }

    fn events(&self, user: &str) -> Vec<SecurityEvent> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

#[tokio::test]
async fn service_epoch_moves_exactly_on_enable_disable_and_reset() {
    let s = service();
    let user = "epochs";
    assert_eq!(s.epoch(user).await, 0);
    s.mfa.begin_setup(user, "u@example.com").await.unwrap();
    s.mfa.cancel_setup(user).await.unwrap();
    assert_eq!(s.epoch(user).await, 0, "setup and cancel");
    let (secret, codes, proof) = s.enroll(user).await;
    assert_eq!(s.epoch(user).await, 1, "enable");
    assert_eq!(proof.epoch, Epoch::new(1));
    s.clock.advance(30);
    let verified = s.mfa.verify(user, &s.code(&secret)).await.unwrap();
    assert_eq!(verified.proof.epoch, Epoch::new(1));
    s.mfa.verify(user, &codes[0]).await.unwrap();
    s.mfa
        .regenerate_backup_codes(user, Reauth::RecentProof(&verified.proof))
        .await
        .unwrap();
    for _ in 0..3 {
        let wrong = wrong(s.mfa.context(), &secret, s.clock.get());
        assert!(matches!(
            s.mfa.verify_totp(user, &wrong).await,
            Err(Error::InvalidCode)
        ));
        s.clock.advance(31);
    }
    s.mfa.operator_unlock(user, OPERATOR, REASON).await.unwrap();
    assert_eq!(
        s.epoch(user).await,
        1,
        "verify, regenerate, failures, unlock"
    );
    let off = s.mfa.disable(user, &s.code(&secret)).await.unwrap();
    assert_eq!(
        (s.epoch(user).await, off.epoch),
        (2, Epoch::new(2)),
        "disable"
    );
    s.mfa.operator_reset(user, OPERATOR, REASON).await.unwrap();
    assert_eq!(s.epoch(user).await, 3, "reset without a factor");
    // A user the store has never seen: reset writes the first record.
    assert_eq!(s.version("never-enrolled").await, None);
    s.mfa
        .operator_reset("never-enrolled", OPERATOR, REASON)
        .await
        .unwrap();
    assert_eq!(s.epoch("never-enrolled").await, 1);
    assert_eq!(s.version("never-enrolled").await, Some(1));
}

#[tokio::test]
async fn service_login_through_a_challenge() {
    let s = service();
    let user = "login";
    // Without MFA, the password step completes the login.
    assert_eq!(
        s.mfa.begin_login(user, None).await.unwrap(),
        LoginStep::Complete(Epoch::new(0))
    );
    assert_eq!(
        s.version(user).await,
        None,
        "beginning a login writes nothing"
    );
    let (secret, codes, _) = s.enroll(user).await;
    s.clock.advance(30);
    let version = s.version(user).await;
    let LoginStep::SecondFactor(challenge) = s.mfa.begin_login(user, None).await.unwrap() else {
        panic!("an active factor asks for a code")
    };
    assert_eq!(
        s.version(user).await,
        version,
        "beginning a login writes nothing"
    );
    assert_eq!(challenge.expires_at(), s.clock.get() + TTL);

    let wrong = wrong(s.mfa.context(), &secret, s.clock.get());
    assert!(matches!(
        s.mfa.complete_login(&challenge, &wrong).await,
        Err(Error::InvalidCode)
    ));
    let verified = s
        .mfa
        .complete_login(&challenge, &s.code(&secret))
        .await
        .unwrap();
    assert_eq!(verified.proof.method, ProofMethod::Totp);
    assert_eq!(verified.proof.verified_at, s.clock.get());
    s.mfa
        .load(user)
        .await
        .unwrap()
        .check_proof(s.mfa.context(), user, &verified.proof, s.mfa.now())
        .unwrap();
    let before = s.mfa.store().load(user).await.unwrap();
    assert!(matches!(
        s.mfa.complete_login(&challenge, &codes[0]).await,
        Err(Error::InvalidChallenge)
    ));
    assert_eq!(
        s.mfa.store().load(user).await.unwrap(),
        before,
        "nothing counted"
    );

    // Expiry at exactly expires_at, by the service's clock.
    let LoginStep::SecondFactor(late) = s.mfa.begin_login(user, None).await.unwrap() else {
        panic!()
    };
    s.clock.set(late.expires_at());
    assert!(matches!(
        s.mfa.complete_login(&late, &codes[0]).await,
        Err(Error::InvalidChallenge)
    ));
    s.clock.set(late.expires_at() - 1);
    assert_eq!(
        s.mfa
            .complete_login(&late, &codes[0])
            .await
            .unwrap()
            .proof
            .method,
        ProofMethod::BackupCode
    );

    // A reset revokes the session's epoch and every open challenge.
    let LoginStep::SecondFactor(open) = s.mfa.begin_login(user, None).await.unwrap() else {
        panic!()
    };
    s.mfa.operator_reset(user, OPERATOR, REASON).await.unwrap();
    let record = s.mfa.load(user).await.unwrap();
    assert!(matches!(
        record.check_epoch(verified.proof.epoch),
        Err(Error::Revoked)
    ));
    assert!(matches!(
        record.check_proof(s.mfa.context(), user, &verified.proof, s.mfa.now()),
        Err(Error::Revoked)
    ));
    assert!(matches!(
        s.mfa.complete_login(&open, &codes[1]).await,
        Err(Error::InvalidChallenge)
    ));
    assert_eq!(
        s.mfa.begin_login(user, None).await.unwrap(),
        LoginStep::Complete(Epoch::new(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_concurrent_completions_of_one_challenge_succeed_once() {
    for round in 0..5 {
        let s = service();
        let user = format!("race{round}");
        let (_, codes, _) = s.enroll(&user).await;
        let LoginStep::SecondFactor(challenge) = s.mfa.begin_login(&user, None).await.unwrap()
        else {
            panic!()
        };
        // Each request brings a different valid backup code: only the
        // challenge stands between them and a second login.
        let tasks: Vec<_> = codes
            .iter()
            .take(8)
            .map(|code| {
                let (mfa, challenge, code) = (Arc::clone(&s.mfa), challenge.clone(), code.clone());
                tokio::spawn(async move { mfa.complete_login(&challenge, &code).await })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => wins += 1,
                // Charged first (I16): past the lock threshold a
                // submission is refused unhashed.
                Err(Error::InvalidChallenge | Error::StoreConflict | Error::LockedOut { .. }) => {}
                Err(e) => panic!("round {round}: unexpected {e:?}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
        assert_eq!(s.mfa.status(&user).await.unwrap().backup_codes_remaining, 9);
    }
}

#[tokio::test]
async fn service_step_up_with_a_recent_proof() {
    let s = service();
    let user = "step-up";
    // A session opened while MFA was off carries no proof of the factor.
    let LoginStep::Complete(session) = s.mfa.begin_login(user, None).await.unwrap() else {
        panic!()
    };
    let (secret, _, enabled) = s.enroll(user).await;
    let record = s.mfa.load(user).await.unwrap();
    assert!(matches!(record.check_epoch(session), Err(Error::Revoked)));
    assert!(matches!(
        s.mfa
            .regenerate_backup_codes(
                user,
                Reauth::RecentProof(&stored_proof("totp", s.clock.get(), 0))
            )
            .await,
        Err(Error::Revoked)
    ));
    s.clock.advance(WINDOW);
    s.mfa
        .regenerate_backup_codes(user, Reauth::RecentProof(&enabled))
        .await
        .unwrap();
    s.clock.advance(1);
    let version = s.version(user).await;
    assert!(matches!(
        s.mfa
            .regenerate_backup_codes(user, Reauth::RecentProof(&enabled))
            .await,
        Err(Error::StepUpRequired)
    ));
    assert_eq!(
        s.version(user).await,
        version,
        "a refused step-up writes nothing"
    );
    // Stepping up: a code gives a fresh proof.
    let fresh = s
        .mfa
        .verify_totp(user, &s.code(&secret))
        .await
        .unwrap()
        .proof;
    s.mfa
        .regenerate_backup_codes(user, Reauth::RecentProof(&fresh))
        .await
        .unwrap();
    // Locked out: refused with the fresh proof.
    s.clock.advance(30);
    let wrong = wrong(s.mfa.context(), &secret, s.clock.get());
    for _ in 0..2 {
        assert!(matches!(
            s.mfa.verify_totp(user, &wrong).await,
            Err(Error::InvalidCode)
        ));
    }
    assert!(matches!(
        s.mfa
            .regenerate_backup_codes(user, Reauth::RecentProof(&fresh))
            .await,
        Err(Error::LockedOut {
            retry_after: Some(_)
        })
    ));
}

#[tokio::test]
async fn service_operator_actions_are_reported_and_checked() {
    let s = service();
    let user = "operated";
    let (secret, _, _) = s.enroll(user).await;
    s.clock.advance(30);
    for _ in 0..3 {
        let wrong = wrong(s.mfa.context(), &secret, s.clock.get());
        assert!(matches!(
            s.mfa.verify_totp(user, &wrong).await,
            Err(Error::InvalidCode)
        ));
        s.clock.advance(31);
    }
    s.clock.advance(30 * 24 * 3600);
    assert!(matches!(
        s.mfa.verify_totp(user, &s.code(&secret)).await,
        Err(Error::LockedOut { retry_after: None })
    ));

    // Bad notes: refused, nothing written, nothing reported.
    let version = s.version(user).await;
    let reported = s.events(user).len();
    for (actor, reason) in [
        ("", REASON),
        (OPERATOR, "two\nlines"),
        (OPERATOR, &*"x".repeat(513)),
    ] {
        assert!(matches!(
            s.mfa.operator_unlock(user, actor, reason).await,
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            s.mfa.operator_reset(user, actor, reason).await,
            Err(Error::InvalidInput(_))
        ));
    }
    assert_eq!(s.version(user).await, version);
    assert_eq!(s.events(user).len(), reported);
    assert!(s.mfa.status(user).await.unwrap().locked_out);

    s.mfa.operator_unlock(user, OPERATOR, REASON).await.unwrap();
    assert!(!s.mfa.status(user).await.unwrap().locked_out);
    assert_eq!(
        s.events(user).last(),
        Some(&SecurityEvent::OperatorUnlocked {
            actor: OPERATOR.into(),
            reason: REASON.into()
        })
    );
    s.mfa.verify_totp(user, &s.code(&secret)).await.unwrap();

    // Unlocking an unlocked user: reported, not written.
    let version = s.version(user).await;
    s.mfa
        .operator_unlock(user, "auditor", "quarterly review")
        .await
        .unwrap();
    assert_eq!(s.version(user).await, version);
    assert_eq!(
        s.events(user).last(),
        Some(&SecurityEvent::OperatorUnlocked {
            actor: "auditor".into(),
            reason: "quarterly review".into()
        })
    );

    s.mfa
        .operator_reset(user, OPERATOR, "phone lost")
        .await
        .unwrap();
    assert_eq!(
        s.events(user).last(),
        Some(&SecurityEvent::OperatorReset {
            actor: OPERATOR.into(),
            reason: "phone lost".into()
        })
    );
    let status = s.mfa.status(user).await.unwrap();
    assert!(!status.mfa_enabled && !status.pending_setup);
    // The user enrolls again, under a new epoch.
    s.clock.advance(30);
    let (_, _, proof) = s.enroll(user).await;
    assert_eq!(proof.epoch, Epoch::new(3));
}
