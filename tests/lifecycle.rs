//! The factor's lifecycle beside the active factor: replacing the
//! authenticator (`begin_replacement`, `confirm_replacement`) and remembered
//! devices (`remember_device`, `forget_devices`, `begin_login` with a token),
//! at the sans-IO level and through `Mfa` over a `MemoryStore`.
//!
//! Every rule of the API is checked in a way that fails when the rule is
//! broken: the old app works until the swap and never after; the pending
//! secret authenticates nothing (and a code of it is a counted wrong code);
//! the confirming step is used; the backup codes stay; the epoch moves by
//! one and everything bound to the old one dies; lockout, expiry (at exactly
//! `expires_at`) and re-authentication are enforced; device tokens work
//! until they expire and only for their record, are evicted oldest first,
//! and die on forget, disable, operator reset and replacement; key rotation
//! reseals a pending replacement.

use std::sync::Arc;

use mfa::testkit::fixtures::Enrolled;
use mfa::testkit::{ManualClock, test_config, test_config_with, test_keyring};
use mfa::{
    DeviceToken, Epoch, Error, FactorState, KeyId, Keyring, LoginStep, MasterKey, MemoryStore, Mfa,
    MfaContext, MfaEnrollment, MfaStore, Proof, ProofMethod, Reauth,
    enrollment::Transition,
    event::SecurityEvent,
    totp::{self, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};

const T0: u64 = 1_700_000_010;
const USER: &str = "alice";

fn rng() -> StdRng {
    StdRng::seed_from_u64(11)
}

fn code(ctx: &MfaContext, secret: &TotpSecret, now: u64) -> String {
    totp::generate(secret, ctx.policy().totp.params(), now).unwrap()
}

/// A six-digit code that is no code of any of `secrets` within the skew at `now`.
fn wrong(ctx: &MfaContext, secrets: &[&TotpSecret], now: u64) -> String {
    let window: Vec<String> = secrets
        .iter()
        .flat_map(|s| [now - 30, now, now + 30].map(|t| code(ctx, s, t)))
        .collect();
    (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .unwrap()
}

fn failures(record: &MfaEnrollment) -> u32 {
    match record.factor() {
        FactorState::Active(a) => a.attempts().failures(),
        other => panic!("not active: {other:?}"),
    }
}

fn devices(record: &MfaEnrollment) -> usize {
    match record.factor() {
        FactorState::Active(a) => a.devices().len(),
        _ => 0,
    }
}

/// A proof of another epoch, as a host would have kept from an older session.
/// A proof of [`USER`] as a host kept it.
fn proof_at(epoch: u64, verified_at: u64) -> Proof {
    mfa::testkit::proof_of(USER, ProofMethod::Totp, verified_at, Epoch::new(epoch))
}

/// An enrolled user (at `T0`) with a replacement begun at `at` on the
/// enrollment's proof: the record and the new app's secret.
struct Replacing {
    ctx: MfaContext,
    user: Enrolled,
    record: MfaEnrollment,
    new_secret: TotpSecret,
    expires_at: u64,
}

impl Replacing {
    fn new(at: u64) -> Self {
        Self::with_ctx(test_config(), at)
    }

    fn with_ctx(ctx: MfaContext, at: u64) -> Self {
        let user = Enrolled::new(&ctx, USER, T0);
        let t = user.active.clone().begin_replacement(
            &ctx,
            USER,
            "alice@example.com",
            Reauth::RecentProof(&user.proof),
            at,
            &mut rng(),
        );
        assert!(t.changed);
        assert_eq!(
            t.state.epoch(),
            user.active.epoch(),
            "begin moved the epoch"
        );
        let setup = t.outcome.expect("replacement begins");
        assert_eq!(setup.expires_at(), at + ctx.policy().pending_ttl_secs);
        assert_eq!(
            t.events,
            vec![SecurityEvent::ReplacementStarted {
                expires_at: setup.expires_at()
            }]
        );
        let new_secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
        Replacing {
            expires_at: setup.expires_at(),
            ctx,
            user,
            record: t.state,
            new_secret,
        }
    }

    fn old_code(&self, now: u64) -> String {
        code(&self.ctx, &self.user.secret, now)
    }

    fn new_code(&self, now: u64) -> String {
        code(&self.ctx, &self.new_secret, now)
    }

    fn wrong(&self, now: u64) -> String {
        wrong(&self.ctx, &[&self.user.secret, &self.new_secret], now)
    }

    fn confirm(&self, record: &MfaEnrollment, code: &str, now: u64) -> Transition<Proof> {
        record
            .clone()
            .confirm_replacement(&self.ctx, USER, code, now, &mut rng())
    }

    fn verify_totp(
        &self,
        record: &MfaEnrollment,
        code: &str,
        now: u64,
    ) -> Transition<mfa::Verified> {
        record
            .clone()
            .verify_totp(&self.ctx, USER, code, now, &mut rng())
    }

    fn remember(&self, record: &MfaEnrollment, proof: &Proof, now: u64) -> Transition<DeviceToken> {
        record
            .clone()
            .remember_device(&self.ctx, USER, proof, now, &mut rng())
    }

    fn login(&self, record: &MfaEnrollment, token: &str, now: u64) -> LoginStep {
        record.begin_login(&self.ctx, USER, Some(token), now)
    }
}

// ---------------------------------------------------------------- replacement

#[test]
fn the_old_app_works_until_the_swap_and_never_after() {
    let r = Replacing::new(T0 + 30);
    let before = T0 + 60;
    let old = r.verify_totp(&r.record, &r.old_code(before), before);
    assert!(old.outcome.is_ok(), "old app refused before the swap");
    let FactorState::Active(a) = old.state.factor() else {
        panic!()
    };
    assert!(a.replacement().is_some(), "a login dropped the replacement");

    let at = T0 + 90;
    let confirmed = r.confirm(&r.record, &r.new_code(at), at);
    let proof = confirmed.outcome.expect("the new app confirms");
    assert!(confirmed.changed);
    assert_eq!(confirmed.events, vec![SecurityEvent::AuthenticatorReplaced]);
    assert_eq!(proof.method, ProofMethod::SetupConfirmation);
    assert_eq!(proof.verified_at, at);
    let after = confirmed.state;
    let FactorState::Active(a) = after.factor() else {
        panic!()
    };
    assert!(a.replacement().is_none(), "the replacement stayed pending");
    for later in [at + 30, at + 60, at + 600] {
        let t = r.verify_totp(&after, &r.old_code(later), later);
        assert!(
            matches!(t.outcome, Err(Error::InvalidCode)),
            "old app accepted after the swap at {later}"
        );
        assert_eq!(failures(&t.state), 1, "old code not counted as wrong");
        let t = r.verify_totp(&after, &r.new_code(later), later);
        assert!(
            t.outcome.is_ok(),
            "new app refused after the swap at {later}"
        );
    }
}

#[test]
fn the_pending_secret_authenticates_nothing() {
    let r = Replacing::new(T0 + 30);
    let now = T0 + 60;
    let new = r.new_code(now);
    assert_ne!(new, r.old_code(now));

    let LoginStep::SecondFactor(challenge) = r.record.begin_login(&r.ctx, USER, None, now) else {
        panic!("no challenge")
    };
    let login = r
        .record
        .clone()
        .complete_login(&r.ctx, USER, &challenge, &new, now, &mut rng());
    assert!(matches!(login.outcome, Err(Error::InvalidCode)));
    assert!(login.changed);
    assert_eq!(failures(&login.state), 1, "not counted as a wrong code");
    assert!(
        open(&r.ctx, &login.state, &challenge, now),
        "a wrong code closed the challenge"
    );

    let ctx = &r.ctx;
    let checks: [(&str, Transition<()>); 4] = [
        ("verify_totp", drop_ok(r.verify_totp(&r.record, &new, now))),
        (
            "verify",
            drop_ok(r.record.clone().verify(ctx, USER, &new, now, &mut rng())),
        ),
        (
            "disable",
            drop_ok(r.record.clone().disable(ctx, USER, &new, now, &mut rng())),
        ),
        (
            "regenerate",
            drop_ok(r.record.clone().regenerate_backup_codes(
                ctx,
                USER,
                Reauth::TotpCode(&new),
                now,
                &mut rng(),
            )),
        ),
    ];
    for (name, t) in checks {
        assert!(
            matches!(t.outcome, Err(Error::InvalidCode)),
            "{name}: the pending secret authenticated: {:?}",
            t.outcome
        );
        assert_eq!(failures(&t.state), 1, "{name}: not counted");
        assert!(t.state.is_active(), "{name}");
    }
    // Nor does it manage devices or the replacement itself.
    let t = r
        .record
        .clone()
        .forget_devices(ctx, USER, Reauth::TotpCode(&new), now);
    assert!(matches!(t.outcome, Err(Error::InvalidCode)));
    let t = r.record.clone().begin_replacement(
        ctx,
        USER,
        "alice@example.com",
        Reauth::TotpCode(&new),
        now,
        &mut rng(),
    );
    assert!(matches!(t.outcome, Err(Error::InvalidCode)));
}

/// Whether `challenge` can still complete a login on a copy of `record`.
fn open(
    ctx: &MfaContext,
    record: &MfaEnrollment,
    challenge: &mfa::LoginChallenge,
    now: u64,
) -> bool {
    let t = record
        .clone()
        .complete_login(ctx, USER, challenge, "000000", now, &mut rng());
    !matches!(t.outcome, Err(Error::InvalidChallenge))
}

fn drop_ok<T>(t: Transition<T>) -> Transition<()> {
    Transition {
        state: t.state,
        changed: t.changed,
        outcome: t.outcome.map(drop),
        events: t.events,
    }
}

#[test]
fn the_confirming_step_is_used_and_the_backup_codes_stay() {
    let r = Replacing::new(T0 + 30);
    let at = T0 + 95;
    let new = r.new_code(at);
    let after = r.confirm(&r.record, &new, at).state;
    let FactorState::Active(a) = after.factor() else {
        panic!()
    };
    assert_eq!(a.last_step(), Some(at / 30), "confirming step not recorded");
    assert_eq!(a.attempts().failures(), 0);
    assert_eq!(a.backup_codes().remaining(), 10, "backup codes dropped");
    let again = r.verify_totp(&after, &new, at);
    assert!(
        matches!(again.outcome, Err(Error::InvalidCode)),
        "the confirming code was accepted twice"
    );
    assert_eq!(failures(&again.state), 0, "a replay is no guess");
    // Every backup code of the enrollment still works, once.
    for c in r.user.codes.as_strs() {
        let t = after
            .clone()
            .verify_backup_code(&r.ctx, USER, c, at, &mut rng());
        assert_eq!(
            t.outcome.expect("backup code lost").backup_codes_remaining,
            9
        );
    }
}

#[test]
fn the_swap_moves_the_epoch_and_revokes_what_was_bound_to_the_old_one() {
    let r = Replacing::new(T0 + 30);
    let now = T0 + 60;
    // Collected under the old epoch, after the replacement began.
    let device = r.remember(&r.record, &r.user.proof, now);
    let token = device.outcome.unwrap();
    let record = device.state;
    let LoginStep::SecondFactor(challenge) = record.begin_login(&r.ctx, USER, None, now) else {
        panic!()
    };
    let login = r.verify_totp(&record, &r.old_code(now), now);
    let login_proof = login.outcome.unwrap().proof;
    let record = login.state;
    assert_eq!(
        record.epoch(),
        r.user.active.epoch(),
        "begin or a login moved the epoch"
    );
    assert!(record.check_proof(&r.ctx, USER, &r.user.proof, now).is_ok());
    assert!(open(&r.ctx, &record, &challenge, now));
    assert_eq!(
        r.login(&record, token.as_str(), now),
        LoginStep::RememberedDevice(record.epoch())
    );

    let at = T0 + 90;
    let confirmed = r.confirm(&record, &r.new_code(at), at);
    let proof = confirmed.outcome.unwrap();
    let after = confirmed.state;
    let old = record.epoch();
    assert_eq!(
        after.epoch(),
        Epoch::new(old.get() + 1),
        "epoch not moved by one"
    );
    assert_eq!(proof.epoch, after.epoch(), "proof of the wrong epoch");
    assert!(after.check_proof(&r.ctx, USER, &proof, at).is_ok());
    assert!(matches!(after.check_epoch(old), Err(Error::Revoked)));
    for p in [&r.user.proof, &login_proof] {
        assert!(matches!(
            after.check_proof(&r.ctx, USER, p, at),
            Err(Error::Revoked)
        ));
    }
    assert!(
        !open(&r.ctx, &after, &challenge, at),
        "old challenge still open"
    );
    let t = after.clone().complete_login(
        &r.ctx,
        USER,
        &challenge,
        &r.new_code(at + 30),
        at + 30,
        &mut rng(),
    );
    assert!(matches!(t.outcome, Err(Error::InvalidChallenge)));
    assert!(
        matches!(
            r.login(&after, token.as_str(), at),
            LoginStep::SecondFactor(_)
        ),
        "a device of the old epoch survived the replacement"
    );
    assert_eq!(devices(&after), 0);
    assert_eq!(after.status(&r.ctx, at).remembered_devices, 0);
}

#[test]
fn a_wrong_code_is_counted_on_the_active_factor() {
    let r = Replacing::new(T0 + 30);
    let now = T0 + 60;
    for (i, bad) in [r.wrong(now), r.old_code(now)].iter().enumerate() {
        let t = r.confirm(&r.record, bad, now);
        assert!(matches!(t.outcome, Err(Error::InvalidCode)), "{i}");
        assert!(t.changed, "{i}");
        assert_eq!(failures(&t.state), 1, "{i}: not counted");
        assert_eq!(
            t.events,
            vec![SecurityEvent::AttemptFailed {
                consecutive_failures: 1
            }]
        );
        assert_eq!(t.state.epoch(), r.record.epoch(), "{i}");
        let FactorState::Active(a) = t.state.factor() else {
            panic!()
        };
        assert!(
            a.replacement().is_some(),
            "{i}: a wrong code dropped the replacement"
        );
        // Still confirmable with the right code afterwards.
        assert!(r.confirm(&t.state, &r.new_code(now), now).outcome.is_ok());
    }
    // A malformed code is refused without counting.
    let t = r.confirm(&r.record, "12a456", now);
    assert!(matches!(t.outcome, Err(Error::MalformedCode(_))));
    assert!(!t.changed);
}

#[test]
fn a_locked_factor_refuses_even_the_right_new_code() {
    let r = Replacing::new(T0 + 30);
    let now = T0 + 60;
    let mut record = r.record.clone();
    for _ in 0..5 {
        record = r.confirm(&record, &r.wrong(now), now).state;
    }
    assert!(record.status(&r.ctx, now).locked_out);
    let t = r.confirm(&record, &r.new_code(now), now);
    assert!(
        matches!(t.outcome, Err(Error::LockedOut { .. })),
        "{:?}",
        t.outcome
    );
    assert!(!t.changed);
    assert_eq!(t.state, record);
    // Locked also refuses starting a replacement on a proof.
    let t = record.clone().begin_replacement(
        &r.ctx,
        USER,
        "alice@example.com",
        Reauth::RecentProof(&r.user.proof),
        now,
        &mut rng(),
    );
    assert!(matches!(t.outcome, Err(Error::LockedOut { .. })));
    assert!(!t.changed);
}

#[test]
fn the_replacement_expires_at_exactly_expires_at() {
    let r = Replacing::new(T0 + 30);
    let last = r.expires_at - 1;
    assert!(r.record.status(&r.ctx, last).replacement_pending);
    assert!(!r.record.status(&r.ctx, r.expires_at).replacement_pending);
    assert!(
        r.confirm(&r.record, &r.new_code(last), last)
            .outcome
            .is_ok()
    );
    let at = r.expires_at;
    let t = r.confirm(&r.record, &r.new_code(at), at);
    assert!(
        matches!(t.outcome, Err(Error::PendingExpired)),
        "{:?}",
        t.outcome
    );
    assert!(!t.changed);
    // The old app is unaffected by the expiry.
    assert!(
        r.verify_totp(&r.record, &r.old_code(at), at)
            .outcome
            .is_ok()
    );
}

#[test]
fn beginning_again_replaces_the_pending_secret() {
    let first = Replacing::new(T0 + 30);
    let again_at = T0 + 300;
    let t = first.record.clone().begin_replacement(
        &first.ctx,
        USER,
        "alice@example.com",
        Reauth::RecentProof(&first.user.proof),
        again_at,
        &mut StdRng::seed_from_u64(99),
    );
    let setup = t.outcome.unwrap();
    assert_eq!(t.state.epoch(), first.record.epoch());
    assert_eq!(
        setup.expires_at(),
        again_at + first.ctx.policy().pending_ttl_secs
    );
    let second = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let now = again_at + 30;
    let by_first = first.confirm(&t.state, &first.new_code(now), now);
    assert!(
        matches!(by_first.outcome, Err(Error::InvalidCode)),
        "the replaced pending secret still confirms"
    );
    let by_second = first.confirm(&t.state, &code(&first.ctx, &second, now), now);
    assert!(by_second.outcome.is_ok());
    // After its first expiry, the renewed one is still pending.
    assert!(
        t.state
            .status(&first.ctx, first.expires_at)
            .replacement_pending
    );
}

#[test]
fn replacing_demands_a_recent_proof_or_a_code() {
    let ctx = test_config();
    let user = Enrolled::new(&ctx, USER, T0);
    let begin = |record: &MfaEnrollment, reauth: Reauth<'_>, now: u64| {
        record
            .clone()
            .begin_replacement(&ctx, USER, "alice@example.com", reauth, now, &mut rng())
    };
    let window = ctx.policy().step_up_window_secs;
    let stale = T0 + window + 1;
    let t = begin(&user.active, Reauth::RecentProof(&user.proof), stale);
    assert!(
        matches!(t.outcome, Err(Error::StepUpRequired)),
        "{:?}",
        t.outcome
    );
    assert!(!t.changed);
    assert!(
        begin(&user.active, Reauth::RecentProof(&user.proof), T0 + window)
            .outcome
            .is_ok()
    );
    // A proof from before MFA was enabled (epoch 0).
    let pre = proof_at(0, T0);
    let t = begin(&user.active, Reauth::RecentProof(&pre), T0 + 1);
    assert!(matches!(t.outcome, Err(Error::Revoked)), "{:?}", t.outcome);
    // A proof from before the last replacement.
    let r = Replacing::new(T0 + 30);
    let replaced = r.confirm(&r.record, &r.new_code(T0 + 60), T0 + 60).state;
    let t = begin(&replaced, Reauth::RecentProof(&r.user.proof), T0 + 61);
    assert!(matches!(t.outcome, Err(Error::Revoked)), "{:?}", t.outcome);
    // A current code of the app works and is used up; a wrong one counts.
    let now = T0 + 60;
    let good = code(&ctx, &user.secret, now);
    let t = begin(&user.active, Reauth::TotpCode(&good), now);
    assert!(t.outcome.is_ok());
    let FactorState::Active(a) = t.state.factor() else {
        panic!()
    };
    assert_eq!(a.last_step(), Some(now / 30));
    let t = begin(
        &user.active,
        Reauth::TotpCode(&wrong(&ctx, &[&user.secret], now)),
        now,
    );
    assert!(matches!(t.outcome, Err(Error::InvalidCode)));
    assert_eq!(failures(&t.state), 1);
    // Only an active factor can be replaced; only a replacement confirmed.
    for record in [MfaEnrollment::default(), user.pending.clone()] {
        let t = begin(&record, Reauth::RecentProof(&user.proof), T0);
        assert!(matches!(t.outcome, Err(Error::MfaNotEnabled)));
        let t = record
            .clone()
            .confirm_replacement(&ctx, USER, &good, now, &mut rng());
        assert!(matches!(t.outcome, Err(Error::MfaNotEnabled)));
    }
    let t = user
        .active
        .clone()
        .confirm_replacement(&ctx, USER, &good, now, &mut rng());
    assert!(matches!(t.outcome, Err(Error::NoPendingSetup)));
    assert!(!t.changed);
}

#[test]
fn key_rotation_reseals_a_pending_replacement() {
    let r = Replacing::new(T0 + 30);
    let policy = r.ctx.policy().clone();
    let rotated = Keyring::new(KeyId(2), MasterKey::from_bytes([0x24; 32]))
        .with_old_key(KeyId(1), MasterKey::from_bytes([0x42; 32]))
        .unwrap();
    let rotated = MfaContext::new(rotated, policy.clone()).unwrap();
    let only_new = MfaContext::new(
        Keyring::new(KeyId(2), MasterKey::from_bytes([0x24; 32])),
        policy,
    )
    .unwrap();
    let now = T0 + 60;
    // Without a rewrite, the new key alone cannot open the replacement.
    let t =
        r.record
            .clone()
            .confirm_replacement(&only_new, USER, &r.new_code(now), now, &mut rng());
    assert!(
        t.outcome.is_err(),
        "sealed under key 1, opened by key 2 alone"
    );
    // Any changing transition under the rotated keyring reseals both secrets:
    // a login with the old app, and a counted wrong code.
    let login = r
        .record
        .clone()
        .verify_totp(&rotated, USER, &r.old_code(now), now, &mut rng());
    let failed =
        r.record
            .clone()
            .confirm_replacement(&rotated, USER, &r.wrong(now), now, &mut rng());
    for (name, t) in [("login", drop_ok(login)), ("wrong code", drop_ok(failed))] {
        let resealed = t
            .events
            .iter()
            .filter(|e| **e == SecurityEvent::SecretReencrypted)
            .count();
        assert_eq!(resealed, 2, "{name}: {:?}", t.events);
        let at = now + 30;
        let done =
            t.state
                .clone()
                .confirm_replacement(&only_new, USER, &r.new_code(at), at, &mut rng());
        assert!(
            done.outcome.is_ok(),
            "{name}: the replacement was not resealed"
        );
        let FactorState::Active(a) = done.state.factor() else {
            panic!()
        };
        assert!(a.replacement().is_none());
    }
    assert_eq!(test_keyring().primary_id(), KeyId(1));
}

// ---------------------------------------------------------------- devices

#[test]
fn a_device_token_works_until_it_expires() {
    let ctx = test_config();
    let user = Enrolled::new(&ctx, USER, T0);
    let t = user
        .active
        .clone()
        .remember_device(&ctx, USER, &user.proof, T0 + 5, &mut rng());
    assert!(t.changed);
    let token = t.outcome.unwrap();
    let ttl = ctx.policy().devices.ttl_secs;
    assert_eq!(token.expires_at(), T0 + 5 + ttl);
    assert_eq!(
        t.events,
        vec![SecurityEvent::DeviceRemembered {
            expires_at: token.expires_at(),
            forgotten: 0
        }]
    );
    assert_eq!(token.as_str().len(), 43);
    let record = t.state;
    let FactorState::Active(a) = record.factor() else {
        panic!()
    };
    let stored = record.to_json();
    assert!(
        !stored.contains(token.as_str()),
        "the token itself was stored"
    );
    assert_eq!(a.devices()[0].expires_at(), token.expires_at());
    let epoch = record.epoch();
    let last = token.expires_at() - 1;
    assert_eq!(
        record.begin_login(&ctx, USER, Some(token.as_str()), last),
        LoginStep::RememberedDevice(epoch)
    );
    assert_eq!(record.status(&ctx, last).remembered_devices, 1);
    assert!(matches!(
        record.begin_login(&ctx, USER, Some(token.as_str()), token.expires_at()),
        LoginStep::SecondFactor(_)
    ));
    assert_eq!(
        record.status(&ctx, token.expires_at()).remembered_devices,
        0
    );
}

#[test]
fn beyond_max_devices_the_oldest_is_forgotten_and_expired_ones_dropped() {
    let ctx = test_config_with(|p| {
        p.devices.max_devices = 3;
        p.devices.ttl_secs = 1_000;
    });
    let user = Enrolled::new(&ctx, USER, T0);
    let mut record = user.active.clone();
    let mut tokens = Vec::new();
    for i in 0..5u64 {
        let t = record.remember_device(
            &ctx,
            USER,
            &user.proof,
            T0 + i,
            &mut StdRng::seed_from_u64(i),
        );
        let forgotten = i.saturating_sub(2) as usize;
        let forgotten = forgotten.min(1);
        assert!(
            t.events.contains(&SecurityEvent::DeviceRemembered {
                expires_at: T0 + i + 1_000,
                forgotten
            }),
            "{i}: {:?}",
            t.events
        );
        tokens.push(t.outcome.unwrap());
        record = t.state;
        assert_eq!(devices(&record), (i as usize + 1).min(3));
    }
    let now = T0 + 10;
    let remembered: Vec<bool> = tokens
        .iter()
        .map(|t| {
            matches!(
                record.begin_login(&ctx, USER, Some(t.as_str()), now),
                LoginStep::RememberedDevice(_)
            )
        })
        .collect();
    assert_eq!(
        remembered,
        [false, false, true, true, true],
        "not the oldest evicted"
    );
    assert_eq!(record.status(&ctx, now).remembered_devices, 3);
    // Expired devices are dropped on the next remember, and not evicted for.
    let later = T0 + 2 + 1_000;
    let fresh = proof_at(record.epoch().get(), later);
    let t = record.remember_device(&ctx, USER, &fresh, later, &mut rng());
    assert!(t.events.contains(&SecurityEvent::DeviceRemembered {
        expires_at: later + 1_000,
        forgotten: 0
    }));
    assert_eq!(devices(&t.state), 3, "expired device kept");
    let kept: Vec<bool> = tokens[3..]
        .iter()
        .map(|tk| {
            matches!(
                t.state.begin_login(&ctx, USER, Some(tk.as_str()), later),
                LoginStep::RememberedDevice(_)
            )
        })
        .collect();
    assert_eq!(kept, [true, true]);
}

#[test]
fn tokens_of_another_user_and_garbage_are_ignored() {
    let ctx = test_config();
    let alice = Enrolled::new(&ctx, USER, T0);
    let bob = Enrolled::new(&ctx, "bob", T0);
    let now = T0 + 1;
    let a = alice
        .active
        .clone()
        .remember_device(&ctx, USER, &alice.proof, now, &mut rng());
    let (alice_record, alice_token) = (a.state, a.outcome.unwrap());
    let b = bob.active.clone().remember_device(
        &ctx,
        "bob",
        &bob.proof,
        now,
        &mut StdRng::seed_from_u64(5),
    );
    let bob_token = b.outcome.unwrap();
    let mut flipped = alice_token.as_str().to_owned();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let long = "A".repeat(1 << 20);
    let ignored = [
        bob_token.as_str(),
        "",
        "garbage",
        &flipped,
        &alice_token.as_str()[..42],
        &format!("{} ", alice_token.as_str()),
        &long,
        "\u{0}\u{7f}é",
    ];
    for token in ignored {
        assert!(
            matches!(
                alice_record.begin_login(&ctx, USER, Some(token), now),
                LoginStep::SecondFactor(_)
            ),
            "token {:?} recognised",
            &token[..token.len().min(50)]
        );
    }
    assert_eq!(
        alice_record.begin_login(&ctx, USER, Some(alice_token.as_str()), now),
        LoginStep::RememberedDevice(alice_record.epoch())
    );
    // A user without a factor: the token is irrelevant.
    assert_eq!(
        MfaEnrollment::default().begin_login(&ctx, USER, Some(alice_token.as_str()), now),
        LoginStep::Complete(Epoch::default())
    );
}

#[test]
fn forget_devices_returns_the_count_and_revokes_them() {
    let ctx = test_config_with(|p| p.devices.ttl_secs = 100);
    let user = Enrolled::new(&ctx, USER, T0);
    let mut record = user.active.clone();
    let mut tokens = Vec::new();
    for i in 0..3u64 {
        let t = record.remember_device(
            &ctx,
            USER,
            &user.proof,
            T0 + 20 * i,
            &mut StdRng::seed_from_u64(i),
        );
        tokens.push(t.outcome.unwrap());
        record = t.state;
    }
    // At T0 + 100 the first has expired: two valid of three stored.
    let now = T0 + 100;
    let fresh = proof_at(record.epoch().get(), now);
    // Re-authentication: stale proof, pre-MFA proof, wrong code.
    let stale =
        record
            .clone()
            .forget_devices(&ctx, USER, Reauth::RecentProof(&user.proof), T0 + 601 + 100);
    assert!(matches!(stale.outcome, Err(Error::StepUpRequired)));
    let pre =
        record
            .clone()
            .forget_devices(&ctx, USER, Reauth::RecentProof(&proof_at(0, now)), now);
    assert!(matches!(pre.outcome, Err(Error::Revoked)));
    let bad = record.clone().forget_devices(
        &ctx,
        USER,
        Reauth::TotpCode(&wrong(&ctx, &[&user.secret], now)),
        now,
    );
    assert!(matches!(bad.outcome, Err(Error::InvalidCode)));
    assert_eq!(devices(&bad.state), 3, "a refused forget forgot");
    let t = record
        .clone()
        .forget_devices(&ctx, USER, Reauth::RecentProof(&fresh), now);
    assert_eq!(t.outcome.unwrap(), 2);
    assert!(t.changed);
    assert_eq!(t.events, vec![SecurityEvent::DevicesForgotten { count: 2 }]);
    assert_eq!(devices(&t.state), 0);
    assert_eq!(t.state.epoch(), record.epoch(), "forget moved the epoch");
    for tk in &tokens {
        assert!(matches!(
            t.state.begin_login(&ctx, USER, Some(tk.as_str()), now),
            LoginStep::SecondFactor(_)
        ));
    }
    // By a code, too; nothing to forget is no write.
    let by_code = record.clone().forget_devices(
        &ctx,
        USER,
        Reauth::TotpCode(&code(&ctx, &user.secret, now)),
        now,
    );
    assert_eq!(by_code.outcome.unwrap(), 2);
    let none = t
        .state
        .clone()
        .forget_devices(&ctx, USER, Reauth::RecentProof(&fresh), now);
    assert_eq!(none.outcome.unwrap(), 0);
    assert!(!none.changed);
    let off = MfaEnrollment::default().forget_devices(&ctx, USER, Reauth::RecentProof(&fresh), now);
    assert!(matches!(off.outcome, Err(Error::MfaNotEnabled)));
}

#[test]
fn disable_reset_and_replacement_revoke_devices() {
    let r = Replacing::new(T0 + 30);
    let ctx = &r.ctx;
    let now = T0 + 60;
    let t = r.remember(&r.record, &r.user.proof, now);
    let (record, token) = (t.state, t.outcome.unwrap());
    assert_eq!(
        r.login(&record, token.as_str(), now),
        LoginStep::RememberedDevice(record.epoch())
    );
    let disabled = record
        .clone()
        .disable(ctx, USER, &r.old_code(now), now, &mut rng())
        .state;
    assert_eq!(
        r.login(&disabled, token.as_str(), now),
        LoginStep::Complete(disabled.epoch())
    );
    // Enrolling again does not bring the device back.
    let begun = disabled.begin_setup(ctx, USER, "a@example.com", now, &mut rng());
    let secret = TotpSecret::from_base32(begun.outcome.unwrap().secret_base32()).unwrap();
    let again = begun
        .state
        .confirm_setup(
            ctx,
            USER,
            &code(ctx, &secret, now + 30),
            now + 30,
            &mut rng(),
        )
        .state;
    assert!(again.is_active());
    assert!(matches!(
        r.login(&again, token.as_str(), now + 30),
        LoginStep::SecondFactor(_)
    ));

    let reset = record
        .clone()
        .operator_reset("support:1", "lost phone")
        .state;
    assert_eq!(
        r.login(&reset, token.as_str(), now),
        LoginStep::Complete(reset.epoch())
    );
    let replaced = r.confirm(&record, &r.new_code(now), now).state;
    assert!(matches!(
        r.login(&replaced, token.as_str(), now),
        LoginStep::SecondFactor(_)
    ));
    assert_eq!(replaced.status(ctx, now).remembered_devices, 0);
}

#[test]
fn remembering_needs_a_recent_proof_under_the_epoch() {
    let r = Replacing::new(T0 + 30);
    let ctx = &r.ctx;
    let window = ctx.policy().step_up_window_secs;
    let stale = r.remember(&r.record, &r.user.proof, T0 + window + 1);
    assert!(matches!(stale.outcome, Err(Error::StepUpRequired)));
    assert!(!stale.changed);
    assert!(
        r.remember(&r.record, &r.user.proof, T0 + window)
            .outcome
            .is_ok()
    );
    let pre = r.remember(&r.record, &proof_at(0, T0 + 1), T0 + 1);
    assert!(matches!(pre.outcome, Err(Error::Revoked)));
    assert!(!pre.changed);
    let replaced = r.confirm(&r.record, &r.new_code(T0 + 60), T0 + 60);
    let new_proof = replaced.outcome.unwrap();
    let old = r.remember(&replaced.state, &r.user.proof, T0 + 61);
    assert!(
        matches!(old.outcome, Err(Error::Revoked)),
        "pre-replacement proof"
    );
    assert!(
        r.remember(&replaced.state, &new_proof, T0 + 61)
            .outcome
            .is_ok()
    );
    for record in [MfaEnrollment::default(), r.user.pending.clone()] {
        let t = record.remember_device(ctx, USER, &r.user.proof, T0 + 1, &mut rng());
        assert!(matches!(t.outcome, Err(Error::MfaNotEnabled)));
        assert!(!t.changed);
    }
    // While codes are refused, no device is remembered on an earlier proof.
    let mut locked = r.record.clone();
    while !locked.status(ctx, T0 + 2).locked_out {
        let step = locked.verify_backup_code(ctx, USER, "aaaaa-aaaaa", T0 + 2, &mut rng());
        assert!(matches!(step.outcome, Err(Error::InvalidCode)));
        locked = step.state;
    }
    let refused = r.remember(&locked, &r.user.proof, T0 + 2);
    assert!(matches!(refused.outcome, Err(Error::LockedOut { .. })));
    assert!(!refused.changed);
}

/// A login from a remembered device is no verification: it yields only the
/// epoch for the session, no proof, and writes nothing; a host cannot use
/// it to manage the factor.
#[test]
fn a_remembered_device_login_carries_no_proof_and_writes_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mfa, clock, store) = service();
        let (secret, proof) = enroll(&mfa, &clock).await;
        let token = mfa.remember_device(USER, &proof).await.unwrap();
        let version = store.load(USER).await.unwrap().unwrap().version;
        clock.advance(3_600);
        let step = mfa.begin_login(USER, Some(token.as_str())).await.unwrap();
        let epoch = mfa.load(USER).await.unwrap().epoch();
        assert_eq!(step, LoginStep::RememberedDevice(epoch));
        assert_eq!(store.load(USER).await.unwrap().unwrap().version, version);
        // With no fresh proof, managing the factor still takes a code.
        let stale = mfa.forget_devices(USER, Reauth::RecentProof(&proof)).await;
        assert!(matches!(stale, Err(Error::StepUpRequired)));
        let code = code(mfa.context(), &secret, clock.get());
        assert_eq!(
            mfa.forget_devices(USER, Reauth::TotpCode(&code))
                .await
                .unwrap(),
            1
        );
    });
}

/// A remembered device logs in while codes are locked out (the device and
/// the password are the two factors), and the service reports it: someone
/// has been guessing the user's codes. Without a lock, nothing is reported.
#[test]
fn a_remembered_device_login_during_a_lockout_is_reported() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let events = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let (mfa, clock, _) = service();
        let mfa = mfa.with_event_sink(move |_: &str, e: &SecurityEvent| {
            sink.lock().unwrap().push(e.clone())
        });
        let (_, proof) = enroll(&mfa, &clock).await;
        let token = mfa.remember_device(USER, &proof).await.unwrap();
        let reported = || {
            events
                .lock()
                .unwrap()
                .iter()
                .filter(|e| **e == SecurityEvent::RememberedDeviceLoginDuringLockout)
                .count()
        };
        let step = mfa.begin_login(USER, Some(token.as_str())).await.unwrap();
        assert!(matches!(step, LoginStep::RememberedDevice(_)));
        assert_eq!(reported(), 0, "no lock, nothing to report");
        while !mfa.status(USER).await.unwrap().locked_out {
            let wrong = mfa.verify(USER, "aaaaa-aaaaa").await;
            assert!(matches!(wrong, Err(Error::InvalidCode)), "{wrong:?}");
        }
        let step = mfa.begin_login(USER, Some(token.as_str())).await.unwrap();
        assert!(matches!(step, LoginStep::RememberedDevice(_)));
        assert_eq!(reported(), 1);
        // Without the device, the locked user is asked for a code as usual,
        // and nothing more is reported.
        let step = mfa.begin_login(USER, None).await.unwrap();
        assert!(matches!(step, LoginStep::SecondFactor(_)));
        assert_eq!(reported(), 1);
    });
}

// ---------------------------------------------------------------- service

fn service() -> (Mfa<Arc<MemoryStore>>, ManualClock, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    let mfa = Mfa::new(Arc::clone(&store), test_config()).with_clock(clock.clone());
    (mfa, clock, store)
}

async fn enroll(mfa: &Mfa<Arc<MemoryStore>>, clock: &ManualClock) -> (TotpSecret, Proof) {
    let setup = mfa.begin_setup(USER, "alice@example.com").await.unwrap();
    let secret = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let enabled = mfa
        .confirm_setup(USER, &code(mfa.context(), &secret, clock.get()))
        .await
        .unwrap();
    clock.advance(30);
    (secret, enabled.proof)
}

#[tokio::test]
async fn service_replaces_the_authenticator() {
    let (mfa, clock, _) = service();
    let ctx = test_config();
    let (old, proof) = enroll(&mfa, &clock).await;
    let LoginStep::SecondFactor(challenge) = mfa.begin_login(USER, None).await.unwrap() else {
        panic!()
    };
    let epoch = mfa.load(USER).await.unwrap().epoch();
    let setup = mfa
        .begin_replacement(USER, "alice@example.com", Reauth::RecentProof(&proof))
        .await
        .unwrap();
    let new = TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let status = mfa.status(USER).await.unwrap();
    assert!(status.replacement_pending && status.mfa_enabled);
    assert_eq!(mfa.load(USER).await.unwrap().epoch(), epoch);

    clock.advance(30);
    let refused = mfa
        .complete_login(&challenge, &code(&ctx, &new, clock.get()))
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidCode)),
        "pending secret logged in"
    );
    let old_login = mfa
        .complete_login(&challenge, &code(&ctx, &old, clock.get()))
        .await
        .unwrap();
    assert_eq!(old_login.proof.epoch, epoch);
    let token = mfa.remember_device(USER, &old_login.proof).await.unwrap();
    assert_eq!(mfa.status(USER).await.unwrap().remembered_devices, 1);

    clock.advance(30);
    let wrong_now = wrong(&ctx, &[&old, &new], clock.get());
    assert!(matches!(
        mfa.confirm_replacement(USER, &wrong_now).await,
        Err(Error::InvalidCode)
    ));
    let proof = mfa
        .confirm_replacement(USER, &code(&ctx, &new, clock.get()))
        .await
        .unwrap();
    let record = mfa.load(USER).await.unwrap();
    assert_eq!(record.epoch(), Epoch::new(epoch.get() + 1));
    assert_eq!(proof.epoch, record.epoch());
    assert_eq!(failures(&record), 0, "the swap did not reset the counter");
    let status = mfa.status(USER).await.unwrap();
    assert!(!status.replacement_pending);
    assert_eq!(status.remembered_devices, 0);
    assert_eq!(status.backup_codes_remaining, 10);
    assert!(matches!(
        mfa.begin_login(USER, Some(token.as_str())).await.unwrap(),
        LoginStep::SecondFactor(_)
    ));
    clock.advance(30);
    assert!(matches!(
        mfa.verify_totp(USER, &code(&ctx, &old, clock.get())).await,
        Err(Error::InvalidCode)
    ));
    assert!(
        mfa.verify_totp(USER, &code(&ctx, &new, clock.get()))
            .await
            .is_ok()
    );
    assert!(matches!(
        mfa.confirm_replacement(USER, &code(&ctx, &new, clock.get()))
            .await,
        Err(Error::NoPendingSetup)
    ));
}

#[tokio::test]
async fn service_remembers_and_forgets_devices() {
    let (mfa, clock, _) = service();
    let (_, proof) = enroll(&mfa, &clock).await;
    let first = mfa.remember_device(USER, &proof).await.unwrap();
    let second = mfa.remember_device(USER, &proof).await.unwrap();
    assert_ne!(first.as_str(), second.as_str());
    assert_eq!(mfa.status(USER).await.unwrap().remembered_devices, 2);
    for token in [&first, &second] {
        assert!(matches!(
            mfa.begin_login(USER, Some(token.as_str())).await.unwrap(),
            LoginStep::RememberedDevice(_)
        ));
    }
    assert!(matches!(
        mfa.begin_login("bob", Some(first.as_str())).await.unwrap(),
        LoginStep::Complete(_)
    ));
    assert_eq!(
        mfa.forget_devices(USER, Reauth::RecentProof(&proof))
            .await
            .unwrap(),
        2
    );
    assert_eq!(mfa.status(USER).await.unwrap().remembered_devices, 0);
    assert!(matches!(
        mfa.begin_login(USER, Some(second.as_str())).await.unwrap(),
        LoginStep::SecondFactor(_)
    ));
    let third = mfa.remember_device(USER, &proof).await.unwrap();
    clock.set(third.expires_at());
    assert!(matches!(
        mfa.begin_login(USER, Some(third.as_str())).await.unwrap(),
        LoginStep::SecondFactor(_)
    ));
    assert_eq!(mfa.status(USER).await.unwrap().remembered_devices, 0);
    mfa.operator_reset(USER, "support:1", "lost phone")
        .await
        .unwrap();
    assert!(matches!(
        mfa.remember_device(USER, &proof).await,
        Err(Error::MfaNotEnabled)
    ));
}
