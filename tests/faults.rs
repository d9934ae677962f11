//! Every service operation with a store fault at every step (I1, and "nothing
//! half-applied").
//!
//! For each operation of [`mfa::Mfa`] and each fault plan, a fresh user is
//! brought to the state the operation needs, the fault is scripted into a
//! [`FaultyStore`], and the operation runs once. Then:
//!
//! - if it returned output (backup codes, a setup secret, a verification), that
//!   output matches what is stored: the codes verify against the stored hashes,
//!   the secret confirms the stored pending setup (I1: shown only if saved);
//! - if it failed because of the store and nothing landed, the stored record is
//!   exactly the previous one, and the previous secret and codes still work;
//! - if the write landed but neither the save nor the read-back could say so,
//!   the caller got an error and no output (the codes were never shown);
//! - a retry without faults succeeds; an operation that already took effect
//!   does not take effect twice (a login challenge completes once).
//!
//! Login completions also check the challenge: still open after a fault that
//! did not land (and after a wrong code), used up after a completion that
//! did. Operations that move the epoch (confirm, disable, operator reset,
//! confirm a replacement) are checked to move it by exactly one, and every
//! proof returned to belong to the stored epoch. A pending replacement and
//! remembered devices survive every fault that did not land; a replacement is
//! confirmed once; a device token is shown only if its hash was stored.
//!
//! The previous secret and codes are checked with pure transitions on a copy of
//! the stored record, so checking never consumes them.
//!
//! Passkey operations join it: adding a first passkey (which mints backup
//! codes) and one beside the app, completing a login, a step-up and a
//! passwordless login with an assertion (charged first, I16, so with two
//! saves to strike), renaming, removing, and disabling on a recent proof. A
//! registration, a step-up challenge and a passwordless challenge complete
//! at most once (I14).
//!
//! The matrix runs on `MemoryStore`, `SqliteStore` and (with
//! `MFA_TEST_POSTGRES_URL` and `MFA_TEST_MYSQL_URL`; required when `CI` is
//! set) `PostgresStore` and `MysqlStore`.

mod common;
mod db_common;

use std::future::Future;
use std::sync::Arc;

use common::passkey::Authenticator;
use mfa::import::{CodeCase, ImportedFactor};
use mfa::testkit::{FaultyStore, LoadFault, ManualClock, SaveFault, test_config, test_config_with};
use mfa::{
    Epoch, Error, FactorState, LoginChallenge, LoginStep, MemoryStore, Mfa, MfaContext,
    MfaEnrollment, MfaStore, Proof, ProofMethod, Reauth, SqliteStore,
    store::{Versioned, WriteId},
    totp::{self, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};

const T0: u64 = 1_700_000_000;

/// The operations under test: every method of `Mfa` that writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    BeginSetup,
    BeginSetupAgain,
    ConfirmSetup,
    CancelSetup,
    VerifyTotp,
    VerifyBackupCode,
    VerifyWithTotp,
    VerifyWithBackupCode,
    WrongCode,
    CompleteLoginWithTotp,
    CompleteLoginWithBackupCode,
    CompleteLoginWrongCode,
    RegenerateWithProof,
    RegenerateWithTotp,
    DisableWithTotp,
    DisableWithBackupCode,
    OperatorUnlock,
    OperatorReset,
    BeginReplacement,
    ConfirmReplacement,
    ConfirmReplacementWrongCode,
    RememberDevice,
    ForgetDevices,
    Import,
    AddFirstPasskey,
    AddPasskey,
    LoginWithPasskey,
    StepUpWithPasskey,
    PasswordlessLogin,
    RenamePasskey,
    RemovePasskey,
    DisableWithProof,
    /// A backup code under a policy that reissues it (SRC-5): the new code
    /// is saved with the use, in the save the plans strike.
    VerifyBackupCodeReissuing,
    CompleteLoginReissuing,
}

const OPS: [Op; 34] = [
    Op::BeginSetup,
    Op::BeginSetupAgain,
    Op::ConfirmSetup,
    Op::CancelSetup,
    Op::VerifyTotp,
    Op::VerifyBackupCode,
    Op::VerifyWithTotp,
    Op::VerifyWithBackupCode,
    Op::WrongCode,
    Op::CompleteLoginWithTotp,
    Op::CompleteLoginWithBackupCode,
    Op::CompleteLoginWrongCode,
    Op::RegenerateWithProof,
    Op::RegenerateWithTotp,
    Op::DisableWithTotp,
    Op::DisableWithBackupCode,
    Op::OperatorUnlock,
    Op::OperatorReset,
    Op::BeginReplacement,
    Op::ConfirmReplacement,
    Op::ConfirmReplacementWrongCode,
    Op::RememberDevice,
    Op::ForgetDevices,
    Op::Import,
    Op::AddFirstPasskey,
    Op::AddPasskey,
    Op::LoginWithPasskey,
    Op::StepUpWithPasskey,
    Op::PasswordlessLogin,
    Op::RenamePasskey,
    Op::RemovePasskey,
    Op::DisableWithProof,
    Op::VerifyBackupCodeReissuing,
    Op::CompleteLoginReissuing,
];

/// The factor `Op::Import` brings: a secret, and plain backup codes hashed
/// at import.
const IMPORTED_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const IMPORTED_CODES: [&str; 3] = ["ab2cd3ef", "gh4ij5kl", "mn6op7qr"];

fn imported_factor() -> ImportedFactor {
    ImportedFactor::from_base32(IMPORTED_SECRET, mfa::totp::TotpParams::default())
        .unwrap()
        .with_plain_backup_codes(IMPORTED_CODES, CodeCase::Insensitive)
        .unwrap()
}

impl Op {
    /// Whether the operation's backup code is charged to the lockout, and
    /// the charge saved, before its hash runs (I16): two saves, the charge
    /// and then the effect, each struck by every plan in turn.
    fn charges_first(self) -> bool {
        matches!(
            self,
            Op::VerifyBackupCode
                | Op::VerifyWithBackupCode
                | Op::CompleteLoginWithBackupCode
                | Op::VerifyBackupCodeReissuing
                | Op::CompleteLoginReissuing
                | Op::DisableWithBackupCode
                | Op::LoginWithPasskey
                | Op::StepUpWithPasskey
                | Op::PasswordlessLogin
        )
    }

    /// Whether what is charged first is a passkey's assertion.
    fn checks_assertion(self) -> bool {
        matches!(
            self,
            Op::LoginWithPasskey | Op::StepUpWithPasskey | Op::PasswordlessLogin
        )
    }

    /// Whether the user holds a passkey (beside the app) before the operation.
    fn has_passkey(self) -> bool {
        matches!(
            self,
            Op::LoginWithPasskey
                | Op::StepUpWithPasskey
                | Op::PasswordlessLogin
                | Op::RenamePasskey
                | Op::RemovePasskey
        )
    }

    /// The saves a plan can strike: the charge's and the effect's, or the
    /// one save of any other operation.
    fn stages(self) -> &'static [Stage] {
        if self.charges_first() {
            &[Stage::Charge, Stage::Effect]
        } else {
            &[Stage::Effect]
        }
    }

    /// A login completion that succeeds.
    fn completes_login(self) -> bool {
        matches!(
            self,
            Op::CompleteLoginWithTotp
                | Op::CompleteLoginWithBackupCode
                | Op::LoginWithPasskey
                | Op::CompleteLoginReissuing
        )
    }

    /// Whether the operation fails with a wrong code by design.
    fn wrong_code(self) -> bool {
        matches!(
            self,
            Op::WrongCode | Op::CompleteLoginWrongCode | Op::ConfirmReplacementWrongCode
        )
    }

    /// Whether the user holds a pending replacement and a remembered device
    /// before the operation.
    fn replacing(self) -> bool {
        matches!(
            self,
            Op::ConfirmReplacement | Op::ConfirmReplacementWrongCode
        )
    }
}

/// Where the faults go. In a fault-free run every operation is one load and
/// one save; a failed save is followed by a read-back load, and a conflict by
/// a second load and save. These plans hit each of those steps.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// The first load fails.
    Load(LoadFault),
    /// The first save fails.
    Save(SaveFault),
    /// The first save fails and so does the read-back load after it.
    SaveAndReadBack(SaveFault),
    /// The first save conflicts; the retry's save fails.
    ConflictThenSave(SaveFault),
    /// The first save conflicts; the retry's load fails.
    ConflictThenLoad(LoadFault),
    /// The first save fails (nothing written) and the read-back load finds the record corrupt.
    SaveThenCorruptReadBack,
    /// Every save conflicts, more often than the retry budget allows.
    ConflictsExhaustRetries,
}

fn plans() -> Vec<Plan> {
    let loads = [LoadFault::Unavailable, LoadFault::Corrupt];
    let saves = [
        SaveFault::Unavailable,
        SaveFault::WrittenButFailed,
        SaveFault::Conflict,
    ];
    let mut plans = Vec::new();
    plans.extend(loads.map(Plan::Load));
    plans.extend(saves.map(Plan::Save));
    plans.extend(saves.map(Plan::SaveAndReadBack));
    plans.extend(saves.map(Plan::ConflictThenSave));
    plans.extend(loads.map(Plan::ConflictThenLoad));
    // A save that times out and lands after the read-back, with or without
    // the read-back failing too.
    plans.push(Plan::Save(SaveFault::TimedOut));
    plans.push(Plan::SaveAndReadBack(SaveFault::TimedOut));
    plans.push(Plan::SaveThenCorruptReadBack);
    plans.push(Plan::ConflictsExhaustRetries);
    plans
}

/// Which save of an operation a plan strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The save of a charge (I16), before any slow hash: one load before it.
    Charge,
    /// The save that holds the operation's effect. After a charge it comes
    /// second, after three loads for a backup code (the charge's, the one
    /// after the wait for a hashing permit, the effect's) and two for a
    /// passkey (whose check waits for no permit, so the charged record is
    /// not loaded back).
    Effect,
}

impl Stage {
    /// The saves and loads of the operation before the stage's own.
    fn offsets(self, op: Op) -> (u64, u64) {
        match self {
            Stage::Effect if op.checks_assertion() => (1, 1),
            Stage::Effect if op.charges_first() => (1, 2),
            _ => (0, 0),
        }
    }
}

/// What the plan lets the operation do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The operation completes normally; its output must match the stored state.
    Completes,
    /// A store error, and the stored record is the previous one.
    FailsIntact,
    /// A store error, but the new record was written: no output was shown.
    FailsLanded,
    /// A store error, and the stored record is the previous one with the
    /// attempt charged to the lockout (I16): nothing else changed.
    FailsCharged,
}

const RETRIES: u32 = 3;

fn expectation(plan: Plan) -> Expect {
    match plan {
        Plan::Load(_)
        | Plan::Save(SaveFault::Unavailable)
        | Plan::SaveAndReadBack(SaveFault::Unavailable | SaveFault::Conflict)
        | Plan::ConflictThenSave(SaveFault::Unavailable)
        | Plan::ConflictThenLoad(_)
        | Plan::SaveThenCorruptReadBack
        | Plan::ConflictsExhaustRetries => Expect::FailsIntact,
        Plan::Save(SaveFault::WrittenButFailed | SaveFault::Conflict)
        | Plan::ConflictThenSave(SaveFault::WrittenButFailed | SaveFault::Conflict) => {
            Expect::Completes
        }
        Plan::SaveAndReadBack(SaveFault::WrittenButFailed)
        | Plan::Save(SaveFault::TimedOut)
        | Plan::SaveAndReadBack(SaveFault::TimedOut) => Expect::FailsLanded,
        // Future fault kinds: no expectation yet.
        _ => unreachable!("unknown plan {plan:?}"),
    }
}

/// What the plan lets an operation do when it strikes `stage`: a charge
/// that landed is all that landed, and after a charge "nothing written"
/// still leaves the charge.
fn expectation_at(plan: Plan, op: Op, stage: Stage) -> Expect {
    match (expectation(plan), stage) {
        (Expect::FailsLanded, Stage::Charge) => Expect::FailsCharged,
        (Expect::FailsIntact, Stage::Effect) if op.charges_first() => Expect::FailsCharged,
        (expect, _) => expect,
    }
}

/// Scripts `plan` onto the save and loads of `stage`: after `saves` saves
/// and `loads` loads that pass.
fn script<S>(store: &FaultyStore<S>, plan: Plan, (saves, loads): (u64, u64)) {
    let save = |n: u64, fault| store.fail_save(saves + n, fault);
    let load = |n: u64, fault| store.fail_load(loads + n, fault);
    let passing = || (0..saves).map(|_| None);
    match plan {
        Plan::Load(fault) => load(1, fault),
        Plan::Save(fault) => save(1, fault),
        Plan::SaveAndReadBack(SaveFault::Conflict) => {
            // A conflict is retried by loading again: fail that load.
            save(1, SaveFault::Conflict);
            load(2, LoadFault::Unavailable);
        }
        Plan::SaveAndReadBack(fault) => {
            save(1, fault);
            load(2, LoadFault::Unavailable);
        }
        Plan::ConflictThenSave(fault) => {
            store.plan_saves(passing().chain([Some(SaveFault::Conflict), Some(fault)]))
        }
        Plan::ConflictThenLoad(fault) => {
            save(1, SaveFault::Conflict);
            load(2, fault);
        }
        Plan::SaveThenCorruptReadBack => {
            save(1, SaveFault::Unavailable);
            load(2, LoadFault::Corrupt);
        }
        // The rounds of the retry budget that earlier saves did not use.
        Plan::ConflictsExhaustRetries => store.plan_saves(
            passing().chain((saves..=u64::from(RETRIES)).map(|_| Some(SaveFault::Conflict))),
        ),
    }
}

/// `before` with one more failure counted, as a charge leaves it (I16).
fn charged(before: &MfaEnrollment) -> MfaEnrollment {
    let mut json: serde_json::Value = serde_json::from_str(&before.to_json()).unwrap();
    let failures = &mut json["factor"]["attempts"]["failures"];
    *failures = (failures.as_u64().expect("a failure count") + 1).into();
    MfaEnrollment::from_json(&json.to_string()).unwrap()
}

/// What a user knows before the operation: the current secret and codes,
/// the proof from the confirmation, and a login challenge (for the
/// operations that complete or revoke one).
#[derive(Default)]
struct Known {
    secret: Option<String>,
    codes: Vec<String>,
    proof: Option<Proof>,
    challenge: Option<LoginChallenge>,
    /// The secret of a pending replacement (the new app's).
    new_secret: Option<String>,
    /// Tokens of remembered devices.
    devices: Vec<String>,
    /// The soft passkey of a user with passkeys.
    key: std::sync::Mutex<Option<Authenticator>>,
    /// The crate's id of the user's passkey.
    passkey: Option<String>,
    /// A registration begun and answered by the authenticator, to confirm.
    created: Option<mfa::passkey::RegisterPublicKeyCredential>,
    /// A step-up or passwordless challenge, answered by the authenticator.
    passkey_challenge: Option<(
        mfa::passkey::PasskeyChallenge,
        mfa::passkey::PublicKeyCredential,
    )>,
    /// The login challenge's assertion.
    assertion: Option<mfa::passkey::PublicKeyCredential>,
}

/// What an operation gave back.
enum Output {
    Setup(String),
    Enabled(Vec<String>, Proof),
    Codes(Vec<String>),
    /// The accepted TOTP step (`u64::MAX` for a backup code) and the proof.
    Verified(u64, Proof),
    Disabled(Proof),
    Replaced(Proof),
    Device(String),
    Forgot(usize),
    /// A passkey added: its id, the backup codes of a first factor, the proof.
    Added(String, Vec<String>, Proof),
    /// A passwordless login: the user and the proof.
    Passwordless(String, Proof),
    Renamed(String),
    Removed(Proof),
    /// A backup code accepted and replaced: the new code and the proof.
    Reissued(String, Proof),
    Done,
}

struct Env<S> {
    store: Arc<FaultyStore<S>>,
    mfa: Mfa<Arc<FaultyStore<S>>>,
    /// The same store under a policy that reissues used backup codes.
    reissuing: Mfa<Arc<FaultyStore<S>>>,
    clock: ManualClock,
    config: MfaContext,
    user: String,
}

impl<S: MfaStore + 'static> Env<S> {
    fn new(inner: S, user: String) -> Self {
        let store = Arc::new(FaultyStore::new(inner));
        let clock = ManualClock::new(T0);
        let mfa = Mfa::new(Arc::clone(&store), test_config())
            .with_clock(clock.clone())
            .with_conflict_retries(RETRIES);
        let reissue = |p: &mut mfa::Policy| p.backup_codes.reissue_on_use = true;
        let reissuing = Mfa::new(Arc::clone(&store), test_config_with(reissue))
            .with_clock(clock.clone())
            .with_conflict_retries(RETRIES);
        Env {
            store,
            mfa,
            reissuing,
            clock,
            config: test_config(),
            user,
        }
    }

    async fn stored(&self) -> Option<Versioned<MfaEnrollment>> {
        self.store
            .inner()
            .load(&self.user)
            .await
            .expect("inner load")
    }

    async fn record(&self) -> MfaEnrollment {
        self.stored().await.map(|v| v.record).unwrap_or_default()
    }

    fn totp(&self, secret: &str) -> String {
        let secret = TotpSecret::from_base32(secret).unwrap();
        totp::generate(
            &secret,
            self.config.policy().totp.params(),
            self.clock.get(),
        )
        .unwrap()
    }

    /// A code certainly wrong for `secret` around now.
    fn wrong(&self, secret: &str) -> String {
        let now = self.clock.get();
        let secret = TotpSecret::from_base32(secret).unwrap();
        let window: Vec<String> = [now - 30, now, now + 30]
            .iter()
            .map(|t| totp::generate(&secret, self.config.policy().totp.params(), *t).unwrap())
            .collect();
        (0..1_000_000u32)
            .map(|n| format!("{n:06}"))
            .find(|c| !window.contains(c))
            .unwrap()
    }

    /// Brings the user to the state `op` needs, without faults.
    async fn prepare(&self, op: Op) -> Known {
        let mut known = Known::default();
        if matches!(op, Op::BeginSetup | Op::Import) {
            return known;
        }
        if op == Op::AddFirstPasskey {
            let mut key = Authenticator::default();
            let options = self
                .mfa
                .begin_passkey_registration(&self.user, "user@example.com", None)
                .await
                .unwrap();
            known.created = Some(key.register(&options));
            *known.key.lock().unwrap() = Some(key);
            return known;
        }
        let setup = self.mfa.begin_setup(&self.user, "user@example.com").await;
        known.secret = Some(setup.unwrap().secret_base32().to_owned());
        if matches!(op, Op::BeginSetupAgain | Op::ConfirmSetup | Op::CancelSetup) {
            return known;
        }
        let secret = known.secret.clone().unwrap();
        let enabled = self
            .mfa
            .confirm_setup(&self.user, &self.totp(&secret))
            .await
            .unwrap();
        known.codes = enabled
            .backup_codes
            .as_strs()
            .into_iter()
            .map(Into::into)
            .collect();
        known.proof = Some(enabled.proof);
        self.clock.advance(30);
        if op.completes_login()
            || op.replacing()
            || matches!(op, Op::CompleteLoginWrongCode | Op::OperatorReset)
        {
            match self.mfa.begin_login(&self.user, None).await.unwrap() {
                LoginStep::SecondFactor(challenge) => known.challenge = Some(challenge),
                other => panic!("no challenge for an active factor: {other:?}"),
            }
        }
        if op.replacing() || op == Op::ForgetDevices {
            let proof = *proof_of(&known);
            for _ in 0..(1 + usize::from(op == Op::ForgetDevices)) {
                let token = self.mfa.remember_device(&self.user, &proof).await.unwrap();
                known.devices.push(token.as_str().to_owned());
            }
        }
        if op.replacing() {
            let setup = self
                .mfa
                .begin_replacement(
                    &self.user,
                    "user@example.com",
                    Reauth::RecentProof(proof_of(&known)),
                )
                .await
                .unwrap();
            known.new_secret = Some(setup.secret_base32().to_owned());
        }
        if op.has_passkey() || op == Op::AddPasskey {
            let mut key = Authenticator::default();
            let options = self
                .mfa
                .begin_passkey_registration(&self.user, "user@example.com", known.proof.as_ref())
                .await
                .unwrap();
            let created = key.register(&options);
            if op == Op::AddPasskey {
                known.created = Some(created);
            } else {
                let added = self
                    .mfa
                    .confirm_passkey_registration(&self.user, "Key", &created, known.proof.as_ref())
                    .await
                    .unwrap();
                known.passkey = Some(added.passkey.id().to_owned());
                known.proof = Some(added.proof);
            }
            match op {
                Op::LoginWithPasskey => {
                    match self.mfa.begin_login(&self.user, None).await.unwrap() {
                        LoginStep::SecondFactor(c) => {
                            known.assertion = Some(key.assert(c.passkey_options().unwrap()));
                            known.challenge = Some(c);
                        }
                        other => panic!("no challenge: {other:?}"),
                    }
                }
                Op::StepUpWithPasskey => {
                    let c = self.mfa.begin_passkey_step_up(&self.user).await.unwrap();
                    let a = key.assert(c.options().unwrap());
                    known.passkey_challenge = Some((c, a));
                }
                Op::PasswordlessLogin => {
                    let c = self.mfa.begin_passwordless().unwrap();
                    let a = key.assert(c.options().unwrap());
                    known.passkey_challenge = Some((c, a));
                }
                _ => {}
            }
            *known.key.lock().unwrap() = Some(key);
        }
        if op == Op::OperatorUnlock {
            for _ in 0..3 {
                let wrong = self.wrong(&secret);
                assert!(matches!(
                    self.mfa.verify(&self.user, &wrong).await,
                    Err(Error::InvalidCode)
                ));
            }
        }
        known
    }

    async fn run(&self, op: Op, known: &Known) -> Result<Output, Error> {
        let (mfa, user) = (&self.mfa, self.user.as_str());
        let secret = known.secret.as_deref().unwrap_or("");
        let codes =
            |c: mfa::BackupCodes| Output::Codes(c.as_strs().into_iter().map(Into::into).collect());
        let step = |v: mfa::Verified| match v.by {
            mfa::VerifiedBy::Totp(m) => Output::Verified(m.step, v.proof),
            _ => Output::Verified(u64::MAX, v.proof),
        };
        let reissued = |v: mfa::Verified| {
            let code = v.new_backup_code.as_ref().expect("a new code");
            Output::Reissued(code.as_str().to_owned(), v.proof)
        };
        let challenge = || known.challenge.as_ref().expect("a challenge");
        match op {
            Op::BeginSetup | Op::BeginSetupAgain => mfa
                .begin_setup(user, "user@example.com")
                .await
                .map(|s| Output::Setup(s.secret_base32().to_owned())),
            Op::ConfirmSetup => mfa.confirm_setup(user, &self.totp(secret)).await.map(|e| {
                match codes(e.backup_codes) {
                    Output::Codes(c) => Output::Enabled(c, e.proof),
                    _ => unreachable!(),
                }
            }),
            Op::CancelSetup => mfa.cancel_setup(user).await.map(|()| Output::Done),
            Op::VerifyTotp => mfa.verify_totp(user, &self.totp(secret)).await.map(step),
            Op::VerifyWithTotp => mfa.verify(user, &self.totp(secret)).await.map(step),
            Op::VerifyBackupCode => mfa
                .verify_backup_code(user, &known.codes[0])
                .await
                .map(step),
            Op::VerifyWithBackupCode => mfa.verify(user, &known.codes[0]).await.map(step),
            Op::WrongCode => mfa.verify(user, &self.wrong(secret)).await.map(step),
            Op::CompleteLoginWithTotp => mfa
                .complete_login(challenge(), &self.totp(secret))
                .await
                .map(step),
            Op::CompleteLoginWithBackupCode => mfa
                .complete_login(challenge(), &known.codes[0])
                .await
                .map(step),
            Op::VerifyBackupCodeReissuing => self
                .reissuing
                .verify_backup_code(user, &known.codes[0])
                .await
                .map(reissued),
            Op::CompleteLoginReissuing => self
                .reissuing
                .complete_login(challenge(), &known.codes[0])
                .await
                .map(reissued),
            Op::CompleteLoginWrongCode => mfa
                .complete_login(challenge(), &self.wrong(secret))
                .await
                .map(step),
            Op::RegenerateWithProof => {
                let proof = known.proof.as_ref().expect("a proof");
                mfa.regenerate_backup_codes(user, Reauth::RecentProof(proof))
                    .await
                    .map(codes)
            }
            Op::RegenerateWithTotp => mfa
                .regenerate_backup_codes(user, Reauth::TotpCode(&self.totp(secret)))
                .await
                .map(codes),
            Op::DisableWithTotp => mfa
                .disable(user, &self.totp(secret))
                .await
                .map(Output::Disabled),
            Op::DisableWithBackupCode => mfa
                .disable(user, &known.codes[0])
                .await
                .map(Output::Disabled),
            Op::OperatorUnlock => mfa
                .operator_unlock(user, "support:7", "identity checked by phone")
                .await
                .map(|()| Output::Done),
            Op::OperatorReset => mfa
                .operator_reset(user, "support:7", "lost the phone")
                .await
                .map(|()| Output::Done),
            Op::BeginReplacement => mfa
                .begin_replacement(
                    user,
                    "user@example.com",
                    Reauth::RecentProof(proof_of(known)),
                )
                .await
                .map(|s| Output::Setup(s.secret_base32().to_owned())),
            Op::ConfirmReplacement => mfa
                .confirm_replacement(user, &self.totp(new_secret(known)))
                .await
                .map(Output::Replaced),
            Op::ConfirmReplacementWrongCode => mfa
                .confirm_replacement(user, &self.wrong(new_secret(known)))
                .await
                .map(Output::Replaced),
            Op::RememberDevice => mfa
                .remember_device(user, proof_of(known))
                .await
                .map(|t| Output::Device(t.as_str().to_owned())),
            Op::ForgetDevices => mfa
                .forget_devices(user, Reauth::RecentProof(proof_of(known)))
                .await
                .map(Output::Forgot),
            Op::Import => mfa
                .import(user, imported_factor())
                .await
                .map(|()| Output::Done),
            Op::AddFirstPasskey | Op::AddPasskey => {
                let created = known.created.as_ref().expect("a created credential");
                mfa.confirm_passkey_registration(user, "Key", created, known.proof.as_ref())
                    .await
                    .map(|added| {
                        let codes = added
                            .backup_codes
                            .map(|c| c.as_strs().into_iter().map(Into::into).collect())
                            .unwrap_or_default();
                        Output::Added(added.passkey.id().to_owned(), codes, added.proof)
                    })
            }
            Op::LoginWithPasskey => {
                let assertion = known.assertion.as_ref().expect("an assertion");
                mfa.complete_login_with_passkey(challenge(), assertion)
                    .await
                    .map(step)
            }
            Op::StepUpWithPasskey => {
                let (c, a) = known.passkey_challenge.as_ref().expect("a challenge");
                mfa.step_up_with_passkey(user, c, a).await.map(step)
            }
            Op::PasswordlessLogin => {
                let (c, a) = known.passkey_challenge.as_ref().expect("a challenge");
                mfa.complete_passwordless(c, a)
                    .await
                    .map(|(user, v)| Output::Passwordless(user, v.proof))
            }
            Op::RenamePasskey => mfa
                .rename_passkey(user, passkey_of(known), "Renamed")
                .await
                .map(|p| Output::Renamed(p.name().to_owned())),
            Op::RemovePasskey => mfa
                .remove_passkey(
                    user,
                    passkey_of(known),
                    Reauth::RecentProof(proof_of(known)),
                )
                .await
                .map(Output::Removed),
            Op::DisableWithProof => mfa
                .disable_with(user, Reauth::RecentProof(proof_of(known)))
                .await
                .map(Output::Disabled),
        }
    }

    /// Whether `challenge` is still open on a copy of `record`: anything but
    /// `InvalidChallenge`, which is checked before the code.
    fn challenge_open(&self, record: &MfaEnrollment, challenge: &LoginChallenge) -> bool {
        let t = record.clone().complete_login(
            &self.config,
            &self.user,
            challenge,
            "000000",
            self.clock.get(),
            &mut StdRng::seed_from_u64(0),
        );
        !matches!(t.outcome, Err(Error::InvalidChallenge))
    }

    /// Pure checks on a copy of `record`: never touches the store.
    fn confirms(&self, record: &MfaEnrollment, secret: &str) -> bool {
        let code = self.totp(secret);
        let t = record.clone().confirm_setup(
            &self.config,
            &self.user,
            &code,
            self.clock.get(),
            &mut StdRng::seed_from_u64(0),
        );
        t.outcome.is_ok()
    }

    fn totp_works(&self, record: &MfaEnrollment, secret: &str) -> bool {
        let code = self.totp(secret);
        record
            .clone()
            .verify_totp(
                &self.config,
                &self.user,
                &code,
                self.clock.get(),
                &mut StdRng::seed_from_u64(0),
            )
            .outcome
            .is_ok()
    }

    fn backup_code_works(&self, record: &MfaEnrollment, code: &str) -> bool {
        record
            .clone()
            .verify_backup_code(
                &self.config,
                &self.user,
                code,
                self.clock.get(),
                &mut StdRng::seed_from_u64(0),
            )
            .outcome
            .is_ok()
    }

    /// Whether a code of `secret` confirms the pending replacement of a copy of `record`.
    fn replacement_confirms(&self, record: &MfaEnrollment, secret: &str) -> bool {
        let code = self.totp(secret);
        record
            .clone()
            .confirm_replacement(
                &self.config,
                &self.user,
                &code,
                self.clock.get(),
                &mut StdRng::seed_from_u64(0),
            )
            .outcome
            .is_ok()
    }

    /// Whether `token` is recognised as a remembered device by `record`.
    fn remembers(&self, record: &MfaEnrollment, token: &str) -> bool {
        matches!(
            record.begin_login(&self.config, &self.user, Some(token), self.clock.get()),
            LoginStep::RememberedDevice(_)
        )
    }

    fn devices(record: &MfaEnrollment) -> usize {
        match record.factor() {
            FactorState::Active(a) => a.devices().len(),
            _ => 0,
        }
    }

    fn failures(record: &MfaEnrollment) -> u32 {
        match record.factor() {
            FactorState::Active(a) => a.attempts().failures(),
            _ => panic!("not active: {record:?}"),
        }
    }

    /// The epoch after `before`'s.
    fn next_epoch(before: &MfaEnrollment) -> Epoch {
        Epoch::new(before.epoch().get() + 1)
    }

    /// A proof returned now belongs to the stored epoch.
    fn assert_proof(&self, ctx: &str, after: &MfaEnrollment, proof: &Proof, method: ProofMethod) {
        assert_eq!(
            (proof.method, proof.verified_at, proof.epoch),
            (method, self.clock.get(), after.epoch()),
            "{ctx}: the proof returned is not of the stored epoch"
        );
    }

    /// The challenge the user holds is open or used up, as `op` leaves it.
    fn assert_challenge(&self, ctx: &str, op: Op, after: &MfaEnrollment, known: &Known) {
        let Some(challenge) = &known.challenge else {
            return;
        };
        let open = self.challenge_open(after, challenge);
        if op.completes_login() {
            assert!(!open, "{ctx}: the completed challenge is still open");
        } else if op == Op::OperatorReset {
            assert!(!open, "{ctx}: the reset left the challenge open (I12)");
        } else if op == Op::ConfirmReplacement {
            assert!(
                !open,
                "{ctx}: the replacement left the challenge open (I12)"
            );
        } else if op == Op::RemovePasskey {
            assert!(!open, "{ctx}: the removal left the challenge open (I12)");
        } else {
            assert!(open, "{ctx}: the challenge was used up");
        }
    }

    /// The state before the operation is intact: the record is unchanged and
    /// the previous secret, codes and challenge still work.
    fn assert_intact(
        &self,
        ctx: &str,
        before: &MfaEnrollment,
        after: &MfaEnrollment,
        known: &Known,
    ) {
        assert_eq!(
            after, before,
            "{ctx}: a failed operation changed the record"
        );
        match after.factor() {
            FactorState::Pending(_) => {
                let secret = known.secret.as_deref().unwrap();
                assert!(self.confirms(after, secret), "{ctx}: pending secret lost");
            }
            FactorState::Active(_) => {
                let secret = known.secret.as_deref().unwrap();
                if Self::failures(after) < 5 {
                    assert!(self.totp_works(after, secret), "{ctx}: secret lost");
                    for code in [&known.codes[0], &known.codes[9]] {
                        assert!(self.backup_code_works(after, code), "{ctx}: old code lost");
                    }
                }
                if let Some(challenge) = &known.challenge {
                    assert!(
                        self.challenge_open(after, challenge),
                        "{ctx}: the challenge was used up by a failed operation"
                    );
                }
                if let Some(proof) = &known.proof {
                    after
                        .check_proof(&self.config, &self.user, proof, self.clock.get())
                        .unwrap_or_else(|e| panic!("{ctx}: the proof no longer counts: {e:?}"));
                }
                if let Some(new) = &known.new_secret
                    && Self::failures(after) < 5
                {
                    assert!(
                        self.replacement_confirms(after, new),
                        "{ctx}: the pending replacement was lost"
                    );
                }
                for token in &known.devices {
                    assert!(
                        self.remembers(after, token),
                        "{ctx}: a device was forgotten"
                    );
                }
            }
            FactorState::Disabled => {}
        }
    }

    /// The operation's effect is in the store, and its output matches it (I1).
    fn assert_effect(
        &self,
        ctx: &str,
        op: Op,
        before: &MfaEnrollment,
        after: &MfaEnrollment,
        known: &Known,
        output: &Result<Output, Error>,
    ) {
        match (op, output) {
            (Op::BeginSetup | Op::BeginSetupAgain, Ok(Output::Setup(secret))) => {
                assert!(matches!(after.factor(), FactorState::Pending(_)), "{ctx}");
                assert!(
                    self.confirms(after, secret),
                    "{ctx}: shown secret not stored"
                );
                if let Some(old) = &known.secret {
                    assert!(
                        !self.confirms(after, old),
                        "{ctx}: old secret still pending"
                    );
                }
            }
            (Op::ConfirmSetup, Ok(Output::Enabled(codes, proof))) => {
                assert!(after.is_active(), "{ctx}: confirm not saved");
                assert_eq!(after.epoch(), Self::next_epoch(before), "{ctx}: epoch");
                self.assert_proof(ctx, after, proof, ProofMethod::SetupConfirmation);
                assert_eq!(codes.len(), 10, "{ctx}");
                for code in codes {
                    assert!(
                        self.backup_code_works(after, code),
                        "{ctx}: shown code not stored"
                    );
                }
            }
            (Op::CancelSetup, Ok(Output::Done)) => {
                assert!(matches!(after.factor(), FactorState::Disabled), "{ctx}");
                assert_eq!(after.epoch(), before.epoch(), "{ctx}: epoch moved");
            }
            (Op::DisableWithTotp | Op::DisableWithBackupCode, Ok(Output::Disabled(proof))) => {
                assert!(matches!(after.factor(), FactorState::Disabled), "{ctx}");
                assert_eq!(after.epoch(), Self::next_epoch(before), "{ctx}: epoch");
                let method = if op == Op::DisableWithTotp {
                    ProofMethod::Totp
                } else {
                    ProofMethod::BackupCode
                };
                self.assert_proof(ctx, after, proof, method);
            }
            (
                Op::VerifyTotp | Op::VerifyWithTotp | Op::CompleteLoginWithTotp,
                Ok(Output::Verified(step, proof)),
            ) => {
                let FactorState::Active(a) = after.factor() else {
                    panic!("{ctx}")
                };
                assert_eq!(
                    a.last_step(),
                    Some(*step),
                    "{ctx}: accepted step not saved (I2)"
                );
                let secret = known.secret.as_deref().unwrap();
                assert!(!self.totp_works(after, secret), "{ctx}: step usable twice");
                self.assert_proof(ctx, after, proof, ProofMethod::Totp);
            }
            (
                Op::VerifyBackupCode | Op::VerifyWithBackupCode | Op::CompleteLoginWithBackupCode,
                Ok(Output::Verified(_, proof)),
            ) => {
                let FactorState::Active(a) = after.factor() else {
                    panic!("{ctx}")
                };
                assert_eq!(a.backup_codes().remaining(), 9, "{ctx}: use not saved (I3)");
                assert!(
                    !self.backup_code_works(after, &known.codes[0]),
                    "{ctx}: code usable twice"
                );
                self.assert_proof(ctx, after, proof, ProofMethod::BackupCode);
            }
            (
                Op::VerifyBackupCodeReissuing | Op::CompleteLoginReissuing,
                Ok(Output::Reissued(new, proof)),
            ) => {
                let FactorState::Active(a) = after.factor() else {
                    panic!("{ctx}")
                };
                assert_eq!(
                    a.backup_codes().remaining(),
                    10,
                    "{ctx}: the new code takes the used one's place"
                );
                assert!(
                    !self.backup_code_works(after, &known.codes[0]),
                    "{ctx}: code usable twice"
                );
                assert!(
                    self.backup_code_works(after, new),
                    "{ctx}: the new code shown is not stored (I1)"
                );
                assert!(!known.codes.contains(new), "{ctx}: not a new code");
                self.assert_proof(ctx, after, proof, ProofMethod::BackupCode);
            }
            (Op::WrongCode | Op::CompleteLoginWrongCode, Err(Error::InvalidCode)) => {
                assert_eq!(
                    Self::failures(after),
                    Self::failures(before) + 1,
                    "{ctx}: failure not counted (I4)"
                );
            }
            (Op::RegenerateWithProof | Op::RegenerateWithTotp, Ok(Output::Codes(codes))) => {
                assert_eq!(codes.len(), 10, "{ctx}");
                for code in codes {
                    assert!(
                        self.backup_code_works(after, code),
                        "{ctx}: shown code not stored"
                    );
                }
                for old in &known.codes {
                    assert!(
                        !self.backup_code_works(after, old),
                        "{ctx}: old code survived"
                    );
                }
            }
            (Op::OperatorUnlock, Ok(Output::Done)) => {
                assert_eq!(Self::failures(after), 0, "{ctx}: unlock not saved");
            }
            (Op::OperatorReset, Ok(Output::Done)) => {
                assert!(matches!(after.factor(), FactorState::Disabled), "{ctx}");
                assert_eq!(after.epoch(), Self::next_epoch(before), "{ctx}: epoch");
                let proof = known.proof.as_ref().unwrap();
                assert!(
                    matches!(
                        after.check_proof(&self.config, &self.user, proof, self.clock.get()),
                        Err(Error::Revoked)
                    ),
                    "{ctx}: the reset left the proof valid (I12)"
                );
            }
            (Op::BeginReplacement, Ok(Output::Setup(new))) => {
                assert!(after.is_active(), "{ctx}");
                assert_eq!(after.epoch(), before.epoch(), "{ctx}: epoch moved");
                assert!(
                    self.replacement_confirms(after, new),
                    "{ctx}: shown replacement secret not stored"
                );
                let old = known.secret.as_deref().unwrap();
                assert!(self.totp_works(after, old), "{ctx}: the old app stopped");
            }
            (Op::ConfirmReplacement, Ok(Output::Replaced(proof))) => {
                let FactorState::Active(a) = after.factor() else {
                    panic!("{ctx}")
                };
                assert!(a.replacement().is_none(), "{ctx}: replacement kept");
                assert_eq!(after.epoch(), Self::next_epoch(before), "{ctx}: epoch");
                self.assert_proof(ctx, after, proof, ProofMethod::SetupConfirmation);
                let (old, new) = (known.secret.as_deref().unwrap(), new_secret(known));
                assert!(
                    !self.totp_works(after, old),
                    "{ctx}: the old app still works"
                );
                assert!(
                    !self.totp_works(after, new),
                    "{ctx}: confirming step usable twice"
                );
                assert!(
                    self.backup_code_works(after, &known.codes[0]),
                    "{ctx}: backup codes lost"
                );
                assert!(
                    !self.remembers(after, &known.devices[0]),
                    "{ctx}: a device survived the replacement"
                );
                let old_proof = known.proof.as_ref().unwrap();
                assert!(
                    matches!(
                        after.check_proof(&self.config, &self.user, old_proof, self.clock.get()),
                        Err(Error::Revoked)
                    ),
                    "{ctx}: the replacement left the proof valid (I12)"
                );
            }
            (Op::ConfirmReplacementWrongCode, Err(Error::InvalidCode)) => {
                assert_eq!(
                    Self::failures(after),
                    Self::failures(before) + 1,
                    "{ctx}: failure not counted (I4)"
                );
                assert_eq!(after.epoch(), before.epoch(), "{ctx}: epoch moved");
                assert!(
                    self.replacement_confirms(after, new_secret(known)),
                    "{ctx}: a wrong code dropped the replacement"
                );
                assert!(self.remembers(after, &known.devices[0]), "{ctx}");
            }
            (Op::RememberDevice, Ok(Output::Device(token))) => {
                assert_eq!(
                    Self::devices(after),
                    Self::devices(before) + 1,
                    "{ctx}: device not stored"
                );
                assert_eq!(
                    after.begin_login(&self.config, &self.user, Some(token), self.clock.get()),
                    LoginStep::RememberedDevice(after.epoch()),
                    "{ctx}: the token shown is not stored"
                );
            }
            (Op::Import, Ok(Output::Done)) => {
                assert!(after.is_active(), "{ctx}: import not saved");
                assert_eq!(after.epoch(), Self::next_epoch(before), "{ctx}: epoch");
                assert!(
                    self.totp_works(after, IMPORTED_SECRET),
                    "{ctx}: imported secret not stored"
                );
                for code in IMPORTED_CODES {
                    assert!(
                        self.backup_code_works(after, code),
                        "{ctx}: imported code not stored"
                    );
                }
            }
            (Op::ForgetDevices, Ok(Output::Forgot(count))) => {
                assert_eq!(*count, known.devices.len(), "{ctx}: count");
                assert_eq!(Self::devices(after), 0, "{ctx}: forget not saved");
                for token in &known.devices {
                    assert!(!self.remembers(after, token), "{ctx}: a device survived");
                }
            }
            (Op::AddFirstPasskey | Op::AddPasskey, Ok(Output::Added(id, codes, proof))) => {
                assert!(after.is_active(), "{ctx}: the passkey was not saved");
                assert!(
                    after.passkeys().iter().any(|p| p.id() == id),
                    "{ctx}: the passkey shown is not stored"
                );
                assert_eq!(after.epoch(), Self::next_epoch(before), "{ctx}: epoch");
                self.assert_proof(ctx, after, proof, ProofMethod::Passkey);
                if op == Op::AddFirstPasskey {
                    assert_eq!(codes.len(), 10, "{ctx}: a first factor's codes");
                    for code in codes {
                        assert!(
                            self.backup_code_works(after, code),
                            "{ctx}: shown code not stored"
                        );
                    }
                } else {
                    assert!(codes.is_empty(), "{ctx}: codes issued beside an app");
                    assert!(
                        self.backup_code_works(after, &known.codes[0]),
                        "{ctx}: the set's codes were lost"
                    );
                }
            }
            (Op::LoginWithPasskey | Op::StepUpWithPasskey, Ok(Output::Verified(_, proof))) => {
                self.assert_proof(ctx, after, proof, ProofMethod::Passkey);
                let used = &after.passkeys()[0];
                assert_eq!(
                    used.last_used_at(),
                    Some(self.clock.get()),
                    "{ctx}: use not saved"
                );
                assert!(
                    used.counter() > before.passkeys()[0].counter(),
                    "{ctx}: counter"
                );
                if op == Op::StepUpWithPasskey {
                    let (c, a) = known.passkey_challenge.as_ref().unwrap();
                    let again = after.clone().step_up_with_passkey(
                        &self.config,
                        &self.user,
                        c,
                        a,
                        self.clock.get(),
                        &mut StdRng::seed_from_u64(0),
                    );
                    assert!(
                        matches!(again.outcome, Err(Error::InvalidChallenge)),
                        "{ctx}: the step-up challenge is not spent"
                    );
                }
            }
            (Op::PasswordlessLogin, Ok(Output::Passwordless(owner, proof))) => {
                assert_eq!(owner, &self.user, "{ctx}: the index named another user");
                self.assert_proof(ctx, after, proof, ProofMethod::Passkey);
                let (c, a) = known.passkey_challenge.as_ref().unwrap();
                let again = after.clone().complete_passwordless(
                    &self.config,
                    &self.user,
                    c,
                    a,
                    self.clock.get(),
                    &mut StdRng::seed_from_u64(0),
                );
                assert!(
                    matches!(again.outcome, Err(Error::InvalidPasskey)),
                    "{ctx}: the passwordless challenge is not spent"
                );
            }
            (Op::RenamePasskey, Ok(Output::Renamed(name))) => {
                assert_eq!(after.passkeys()[0].name(), name, "{ctx}: rename not saved");
                assert_eq!(after.epoch(), before.epoch(), "{ctx}: epoch moved");
            }
            (Op::RemovePasskey, Ok(Output::Removed(proof))) => {
                assert!(after.passkeys().is_empty(), "{ctx}: removal not saved");
                assert_eq!(after.epoch(), Self::next_epoch(before), "{ctx}: epoch");
                assert_eq!(proof.epoch, after.epoch(), "{ctx}: the proof's epoch");
                let old = known.proof.as_ref().unwrap();
                assert!(
                    matches!(
                        after.check_proof(&self.config, &self.user, old, self.clock.get()),
                        Err(Error::Revoked)
                    ),
                    "{ctx}: the removal left the old proof valid (I12)"
                );
            }
            (Op::DisableWithProof, Ok(Output::Disabled(proof))) => {
                assert!(
                    matches!(after.factor(), FactorState::Disabled),
                    "{ctx}: {after:?}"
                );
                assert_eq!(after.epoch(), Self::next_epoch(before), "{ctx}: epoch");
                assert_eq!(proof.epoch, after.epoch(), "{ctx}: the proof's epoch");
            }
            (_, Err(e)) => panic!("{ctx}: expected the operation to complete, got {e:?}"),
            (_, Ok(_)) => panic!("{ctx}: unexpected output"),
        }
        self.assert_challenge(ctx, op, after, known);
    }
}

fn proof_of(known: &Known) -> &Proof {
    known.proof.as_ref().expect("a proof")
}

fn passkey_of(known: &Known) -> &str {
    known.passkey.as_deref().expect("a passkey")
}

fn new_secret(known: &Known) -> &str {
    known.new_secret.as_deref().expect("a pending replacement")
}

fn is_store_error(e: &Error) -> bool {
    matches!(
        e,
        Error::StoreUnavailable(_) | Error::CorruptRecord(_) | Error::StoreConflict
    )
}

/// Runs one operation under one plan, striking one stage of it, on a fresh
/// user of `inner`.
async fn scenario<S: MfaStore + 'static>(inner: S, op: Op, plan: Plan, stage: Stage, tag: &str) {
    let user = mfa::testkit::conformance::user(&format!("faults-{tag}"));
    let env = Env::new(inner, user);
    let ctx = format!("{tag}: {op:?} under {plan:?} at its {stage:?} save");
    let known = env.prepare(op).await;
    let before = env.record().await;
    let version_before = env.stored().await.map(|v| v.version);
    let (earlier_saves, _) = stage.offsets(op);
    script(&env.store, plan, stage.offsets(op));
    let result = env.run(op, &known).await;
    let after = env.record().await;
    let expect = expectation_at(plan, op, stage);
    match expect {
        Expect::Completes => env.assert_effect(&ctx, op, &before, &after, &known, &result),
        Expect::FailsIntact => {
            match &result {
                Err(e) if is_store_error(e) => {}
                Err(e) => panic!("{ctx}: expected a store error, got {e:?}"),
                Ok(_) => panic!("{ctx}: output returned although nothing was saved (I1)"),
            }
            env.assert_intact(&ctx, &before, &after, &known);
        }
        Expect::FailsLanded => {
            match &result {
                Err(Error::StoreUnavailable(_)) => {}
                Err(e) => panic!("{ctx}: expected StoreUnavailable, got {e:?}"),
                Ok(_) => panic!("{ctx}: output returned although the save was reported failed"),
            }
            assert_eq!(
                env.stored().await.map(|v| v.version),
                Some(version_before.map_or(1, |v| v + 1 + earlier_saves)),
                "{ctx}: the write should have landed exactly once"
            );
            env.assert_challenge(&ctx, op, &after, &known);
        }
        Expect::FailsCharged => {
            match &result {
                Err(e) if is_store_error(e) => {}
                Err(e) => panic!("{ctx}: expected a store error, got {e:?}"),
                Ok(_) => panic!("{ctx}: output returned although only the charge was saved"),
            }
            env.assert_intact(&ctx, &charged(&before), &after, &known);
        }
    }
    assert_eq!(
        env.store.pending_faults(),
        0,
        "{ctx}: a scripted fault never fired"
    );

    // A retry without faults.
    env.store.clear_faults();
    let retry = env.run(op, &known).await;
    let after_retry = env.record().await;
    match expect {
        Expect::FailsIntact | Expect::FailsCharged => env.assert_effect(
            &format!("{ctx}, retry"),
            op,
            &before,
            &after_retry,
            &known,
            &retry,
        ),
        // The operation already took effect: the retry meets the new state,
        // and answers from it without a store error.
        Expect::Completes | Expect::FailsLanded => {
            if let Err(e) = &retry {
                assert!(!is_store_error(e), "{ctx}, retry: {e:?}");
            }
            // A factor is imported once.
            if op == Op::Import {
                assert!(
                    matches!(retry, Err(Error::MfaAlreadyEnabled)),
                    "{ctx}, retry: imported twice: {:?}",
                    retry.as_ref().err()
                );
            }
            // A registration completes once.
            if matches!(op, Op::AddPasskey | Op::AddFirstPasskey) {
                assert!(
                    matches!(retry, Err(Error::NoPendingSetup)),
                    "{ctx}, retry: the passkey was added twice: {:?}",
                    retry.as_ref().err()
                );
            }
            // A step-up or passwordless challenge completes once (I14).
            if op == Op::StepUpWithPasskey {
                assert!(
                    matches!(retry, Err(Error::InvalidChallenge)),
                    "{ctx}, retry: {:?}",
                    retry.as_ref().err()
                );
            }
            if op == Op::PasswordlessLogin {
                assert!(
                    matches!(retry, Err(Error::InvalidPasskey)),
                    "{ctx}, retry: {:?}",
                    retry.as_ref().err()
                );
            }
            // A replacement is confirmed once.
            if op == Op::ConfirmReplacement {
                assert!(
                    matches!(retry, Err(Error::NoPendingSetup)),
                    "{ctx}, retry: the replacement was confirmed twice: {:?}",
                    retry.as_ref().err()
                );
            }
            // A login completes once: its challenge is used up.
            if op.completes_login() {
                assert!(
                    matches!(retry, Err(Error::InvalidChallenge)),
                    "{ctx}, retry: the challenge completed twice: {:?}",
                    retry.as_ref().err()
                );
            }
        }
    }
}

async fn every_operation_every_fault<S, F, Fut>(make_store: F, tag: &str) -> usize
where
    S: MfaStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let mut count = 0;
    for op in OPS {
        for &stage in op.stages() {
            for plan in plans() {
                scenario(make_store().await, op, plan, stage, tag).await;
                count += 1;
            }
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_every_operation_every_fault() {
    let n = every_operation_every_fault(|| async { MemoryStore::new() }, "memory").await;
    assert_eq!(n, scenarios());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_every_operation_every_fault() {
    let db = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    let n = every_operation_every_fault(|| async { Arc::clone(&db) }, "sqlite").await;
    assert_eq!(n, scenarios());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_every_operation_every_fault() {
    let Some(url) = db_common::Server::Postgres.url() else {
        return;
    };
    let db = Arc::new(mfa::PostgresStore::connect(&url).await.unwrap());
    let n = every_operation_every_fault(|| async { Arc::clone(&db) }, "postgres").await;
    assert_eq!(n, scenarios());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_every_operation_every_fault() {
    let Some(url) = db_common::Server::Mysql.url() else {
        return;
    };
    let db = Arc::new(mfa::MysqlStore::connect(&url).await.unwrap());
    let n = every_operation_every_fault(|| async { Arc::clone(&db) }, "mysql").await;
    assert_eq!(n, scenarios());
}

/// Every operation under every plan at every stage.
fn scenarios() -> usize {
    OPS.iter().map(|op| op.stages().len()).sum::<usize>() * plans().len()
}

/// In a fault-free run each operation is exactly one load and one save, or,
/// charging first, a load and the charge's save, the load after the wait
/// for a hashing permit (a backup code's, not a passkey's), and the effect's
/// load and save: the step counts the plans above rely on.
#[tokio::test]
async fn a_fault_free_operation_is_one_load_and_one_save() {
    for op in OPS {
        let env = Env::new(MemoryStore::new(), format!("count-{op:?}"));
        let known = env.prepare(op).await;
        let (loads, saves) = (env.store.loads(), env.store.saves());
        let result = env.run(op, &known).await;
        assert!(
            result.is_ok() || op.wrong_code(),
            "{op:?}: {:?}",
            result.err()
        );
        let steps = if op.checks_assertion() {
            (2, 2)
        } else if op.charges_first() {
            (3, 2)
        } else {
            (1, 1)
        };
        assert_eq!(
            (env.store.loads() - loads, env.store.saves() - saves),
            steps,
            "{op:?}"
        );
        assert_eq!(env.store.faults_injected(), 0);
    }
}

/// Reading status never writes, and a failed load is an error, not a
/// default "disabled" status that would let a host skip the second factor.
#[tokio::test]
async fn status_under_a_load_fault_is_an_error() {
    let env = Env::new(MemoryStore::new(), "status".into());
    env.prepare(Op::VerifyTotp).await;
    for fault in [LoadFault::Unavailable, LoadFault::Corrupt] {
        env.store.fail_load(1, fault);
        assert!(env.mfa.status(&env.user).await.is_err(), "{fault:?}");
    }
    let saves = env.store.saves();
    assert!(env.mfa.status(&env.user).await.unwrap().mfa_enabled);
    assert_eq!(env.store.saves(), saves);
}

/// The fault wrapper itself: counting, ordering, and that each fault does
/// what it says to the wrapped store.
#[tokio::test]
async fn faulty_store_does_what_it_is_told() {
    let store = FaultyStore::new(MemoryStore::new());
    let rec = MfaEnrollment::default();
    store.plan_saves([
        None,
        Some(SaveFault::Unavailable),
        Some(SaveFault::Conflict),
    ]);
    assert_eq!(
        store
            .save("u", None, &rec, WriteId::random())
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        store.save("u", Some(1), &rec, WriteId::random()).await,
        Err(Error::StoreUnavailable(_))
    ));
    assert_eq!(store.inner().load("u").await.unwrap().unwrap().version, 1);
    assert!(matches!(
        store.save("u", Some(1), &rec, WriteId::random()).await,
        Err(Error::StoreConflict)
    ));
    assert_eq!(store.inner().load("u").await.unwrap().unwrap().version, 2);
    store.fail_save(2, SaveFault::WrittenButFailed);
    assert_eq!(
        store
            .save("u", Some(2), &rec, WriteId::random())
            .await
            .unwrap(),
        3
    );
    assert!(
        store
            .save("u", Some(3), &rec, WriteId::random())
            .await
            .is_err()
    );
    assert_eq!(store.inner().load("u").await.unwrap().unwrap().version, 4);
    store.plan_loads([Some(LoadFault::Corrupt), None, Some(LoadFault::Unavailable)]);
    assert!(matches!(
        store.load("u").await,
        Err(Error::CorruptRecord(_))
    ));
    assert!(store.load("u").await.unwrap().is_some());
    assert!(matches!(
        store.load("u").await,
        Err(Error::StoreUnavailable(_))
    ));
    assert_eq!(store.pending_faults(), 0);
    store.fail_load(5, LoadFault::Corrupt);
    assert_eq!(store.pending_faults(), 1);
    store.clear_faults();
    assert_eq!(store.pending_faults(), 0);
    assert_eq!(
        (store.loads(), store.saves(), store.faults_injected()),
        (3, 5, 5)
    );
}
