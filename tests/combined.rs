//! A race meeting a failing database (I11, with I1–I4).
//!
//! The reliability suites each test one trouble at a time: `races.rs` many
//! racers against a healthy store, `faults.rs` one operation against a failing
//! one. Here both happen at once, scripted with [`FaultyStore`] rather than
//! left to timing: `n` racers submit the same input, their loads are gated so
//! that all read the same version, the first save lands, and every later save
//! fails with a fault that is not a plain conflict:
//!
//! - `Unavailable`: nothing written, the save reports an error;
//! - `WrittenButFailed`: the save's compare-and-swap runs (and loses to the
//!   twin that landed first), as a connection dropped around a commit;
//! - `TimedOut`: the save reports an error and its write is tried late, after
//!   the read-back.
//!
//! A twin that lost its save builds a record byte-identical to the one that
//! landed (same code, same second). A service that judged an interrupted save
//! by the stored record's content would claim the twin's write as its own and
//! report a second success; with write identities exactly one racer succeeds,
//! every consumption and every counted failure is stored once, and the other
//! racers' answers are exact.
//!
//! Login completions race too: the racers complete one login challenge, each
//! with a different backup code, and exactly one login completes (I12): one
//! code used, one login counted; a racer whose save lost and who retried
//! finds the challenge used up.
//!
//! A replacement is confirmed by racers with the same code of the new app:
//! exactly one swap, the epoch moved on once, the step used; a racer whose
//! save lost and who retried finds no replacement pending.
//!
//! An imported factor's legacy backup code (a devise-two-factor bcrypt hash)
//! is submitted by every racer: it works once. And racers import the same
//! factor over a pending setup: exactly one import lands, the others find
//! the factor on.
//!
//! Under a policy that reissues used backup codes, every racer submits the
//! same code: one success, whose new code is the one stored, and the set
//! stays full.
//!
//! Passkeys race too: one assertion submitted by every racer to one login,
//! step-up or passwordless challenge completes once (I14), and one
//! registration confirmed by every racer adds one passkey.
//!
//! Every operation that consumes or counts runs on `MemoryStore`, a SQLite
//! file and (with `MFA_TEST_POSTGRES_URL` and `MFA_TEST_MYSQL_URL`; required
//! when `CI` is set) PostgreSQL and MariaDB, with 2 and 3 racers.

mod common;
mod db_common;

use std::sync::Arc;

use common::passkey::Authenticator;
use mfa::import::{CodeCase, ImportedFactor};
use mfa::testkit::conformance::user;
use mfa::testkit::legacy::devise_backup_code_hash;
use mfa::testkit::{FaultyStore, ManualClock, SaveFault, test_config, test_config_with};
use mfa::{
    Epoch, FactorState, LoginChallenge, LoginStep, MemoryStore, Mfa, MfaContext, MfaEnrollment,
    MfaStore, PostgresStore, Reauth, SqliteStore,
    totp::{self, TotpParams, TotpSecret},
};
use rand::{SeedableRng, rngs::StdRng};

const T0: u64 = 1_700_000_000;

/// The operations that consume a code or count a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    ConfirmSetup,
    VerifyTotp,
    VerifyBackupCode,
    WrongCode,
    RegenerateWithTotp,
    DisableWithTotp,
    DisableWithBackupCode,
    /// One login challenge, a different backup code per racer.
    CompleteLogin,
    /// The same code of the new app, confirming one replacement.
    ConfirmReplacement,
    /// The same legacy (bcrypt) backup code of an imported factor.
    VerifyLegacyBackupCode,
    /// The same factor imported over a pending setup.
    Import,
    /// One login challenge, the same passkey assertion.
    PasskeyLogin,
    /// One step-up challenge, the same passkey assertion.
    PasskeyStepUp,
    /// One passwordless challenge, the same passkey assertion.
    Passwordless,
    /// One passkey registration, confirmed by every racer.
    AddPasskey,
    /// The same backup code, under a policy that replaces a used code.
    VerifyBackupCodeReissuing,
}

const OPS: [Op; 16] = [
    Op::ConfirmSetup,
    Op::VerifyTotp,
    Op::VerifyBackupCode,
    Op::WrongCode,
    Op::RegenerateWithTotp,
    Op::DisableWithTotp,
    Op::DisableWithBackupCode,
    Op::CompleteLogin,
    Op::ConfirmReplacement,
    Op::VerifyLegacyBackupCode,
    Op::Import,
    Op::PasskeyLogin,
    Op::PasskeyStepUp,
    Op::Passwordless,
    Op::AddPasskey,
    Op::VerifyBackupCodeReissuing,
];

/// The imported factor's secret (160 bits), its plain codes, and its
/// devise-two-factor codes with their pepper.
const IMPORTED_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const PLAIN_CODES: [&str; 3] = ["Alpha-7k2Q", "bravo-9X4m", "Charlie-3v8W"];
const DEVISE_CODES: [&str; 3] = ["4f1c9a2b7e", "8d3e6b0a1c", "b7a2c4e9f0"];
const DEVISE_PEPPER: &str = "a-devise-pepper";

/// The factor the `Import` racers bring.
fn imported_factor() -> ImportedFactor {
    ImportedFactor::from_base32(IMPORTED_SECRET, TotpParams::default())
        .unwrap()
        .with_plain_backup_codes(PLAIN_CODES, CodeCase::Sensitive)
        .unwrap()
}

const FAULTS: [SaveFault; 3] = [
    SaveFault::Unavailable,
    SaveFault::WrittenButFailed,
    SaveFault::TimedOut,
];

/// What one racer got back: success, or the error's machine code.
type Answer = Result<Option<Vec<String>>, &'static str>;

struct Round<S> {
    store: Arc<FaultyStore<S>>,
    mfa: Arc<Mfa<Arc<FaultyStore<S>>>>,
    config: MfaContext,
    user: String,
    secret: String,
    codes: Vec<String>,
    challenge: Option<LoginChallenge>,
    /// The secret of a pending replacement.
    new_secret: Option<String>,
    /// A registration answered by the authenticator, to confirm.
    created: Option<mfa::passkey::RegisterPublicKeyCredential>,
    /// A step-up or passwordless challenge.
    passkey_challenge: Option<mfa::passkey::PasskeyChallenge>,
    /// The assertion every passkey racer submits.
    assertion: Option<mfa::passkey::PublicKeyCredential>,
    /// The proof of the confirmation, that binding a passkey needs.
    proof: Option<mfa::Proof>,
}

impl<S: MfaStore + 'static> Round<S> {
    /// A fresh user in the state `op` needs: pending for confirm, else active.
    async fn new(inner: S, op: Op) -> Self {
        let store = Arc::new(FaultyStore::new(inner));
        let make_config = || match op {
            Op::VerifyBackupCodeReissuing => {
                test_config_with(|p| p.backup_codes.reissue_on_use = true)
            }
            _ => test_config(),
        };
        let config = make_config();
        let mfa = Mfa::new(Arc::clone(&store), make_config()).with_clock(ManualClock::new(T0));
        // Set up half a minute before the race, so that the step the racers use is unused.
        let early =
            Mfa::new(Arc::clone(&store), test_config()).with_clock(ManualClock::new(T0 - 30));
        let user = user("combined");
        let setup = early.begin_setup(&user, "user@example.com").await.unwrap();
        let mut round = Round {
            store,
            mfa: Arc::new(mfa),
            config,
            user,
            secret: setup.secret_base32().to_owned(),
            codes: Vec::new(),
            challenge: None,
            new_secret: None,
            created: None,
            passkey_challenge: None,
            assertion: None,
            proof: None,
        };
        if op == Op::VerifyLegacyBackupCode {
            // cost 4: the bcrypt crate's minimum; the scheme, not the cost, is under test.
            let hashes = DEVISE_CODES.map(|c| devise_backup_code_hash(c, DEVISE_PEPPER, 4));
            let factor = ImportedFactor::from_base32(IMPORTED_SECRET, TotpParams::default())
                .unwrap()
                .with_bcrypt_backup_codes(hashes, DEVISE_PEPPER)
                .unwrap();
            early.import(&round.user, factor).await.unwrap();
            round.secret = IMPORTED_SECRET.to_owned();
            round.codes = DEVISE_CODES.map(String::from).to_vec();
        } else if op != Op::ConfirmSetup && op != Op::Import {
            let code = round.totp_at(T0 - 30);
            let enabled = early.confirm_setup(&round.user, &code).await.unwrap();
            round.codes = enabled
                .backup_codes
                .as_strs()
                .into_iter()
                .map(Into::into)
                .collect();
            if passkeys(op) {
                let mut key = Authenticator::default();
                let proof = Some(&enabled.proof);
                let options = early
                    .begin_passkey_registration(&round.user, "user@example.com", proof)
                    .await
                    .unwrap();
                let created = key.register(&options);
                if op == Op::AddPasskey {
                    round.created = Some(created);
                    round.proof = Some(enabled.proof);
                } else {
                    early
                        .confirm_passkey_registration(&round.user, "Key", &created, proof)
                        .await
                        .unwrap();
                    match op {
                        Op::PasskeyLogin => {
                            let LoginStep::SecondFactor(c) =
                                round.mfa.begin_login(&round.user, None).await.unwrap()
                            else {
                                panic!("no challenge for an active factor")
                            };
                            round.assertion = Some(key.assert(c.passkey_options().unwrap()));
                            round.challenge = Some(c);
                        }
                        Op::PasskeyStepUp => {
                            let c = round.mfa.begin_passkey_step_up(&round.user).await.unwrap();
                            round.assertion = Some(key.assert(c.options().unwrap()));
                            round.passkey_challenge = Some(c);
                        }
                        _ => {
                            let c = round.mfa.begin_passwordless().unwrap();
                            round.assertion = Some(key.assert(c.options().unwrap()));
                            round.passkey_challenge = Some(c);
                        }
                    }
                }
            }
            if op == Op::ConfirmReplacement {
                let reauth = Reauth::RecentProof(&enabled.proof);
                let setup = early
                    .begin_replacement(&round.user, "user@example.com", reauth)
                    .await
                    .unwrap();
                round.new_secret = Some(setup.secret_base32().to_owned());
            }
        }
        if op == Op::CompleteLogin {
            match round.mfa.begin_login(&round.user, None).await.unwrap() {
                LoginStep::SecondFactor(challenge) => round.challenge = Some(challenge),
                other => panic!("no challenge for an active factor: {other:?}"),
            }
        }
        round
    }

    fn totp_at(&self, t: u64) -> String {
        Self::code_of(&self.secret, &self.config, t)
    }

    fn code_of(secret: &str, config: &MfaContext, t: u64) -> String {
        let secret = TotpSecret::from_base32(secret).unwrap();
        totp::generate(&secret, config.policy().totp.params(), t).unwrap()
    }

    /// A six-digit code that no step around `T0` accepts.
    fn wrong(&self) -> String {
        let window: Vec<String> = [T0 - 60, T0 - 30, T0, T0 + 30]
            .iter()
            .map(|t| self.totp_at(*t))
            .collect();
        (0..1_000_000u32)
            .map(|n| format!("{n:06}"))
            .find(|c| !window.contains(c))
            .unwrap()
    }

    /// The input racer `i` submits: the same for all, but for a login
    /// completion, where each racer has a backup code of its own.
    fn input(&self, op: Op, i: usize) -> String {
        match op {
            Op::VerifyBackupCode
            | Op::DisableWithBackupCode
            | Op::VerifyLegacyBackupCode
            | Op::VerifyBackupCodeReissuing => self.codes[0].clone(),
            Op::Import => String::new(),
            Op::CompleteLogin => self.codes[i].clone(),
            Op::WrongCode => self.wrong(),
            Op::ConfirmReplacement => {
                Self::code_of(self.new_secret.as_deref().unwrap(), &self.config, T0)
            }
            _ => self.totp_at(T0),
        }
    }

    async fn race(&self, op: Op, racers: usize) -> Vec<Answer> {
        let tasks: Vec<_> = (0..racers)
            .map(|i| {
                let (mfa, user, code) =
                    (Arc::clone(&self.mfa), self.user.clone(), self.input(op, i));
                let challenge = self.challenge.clone();
                let (created, passkey_challenge, assertion, proof) = (
                    self.created.clone(),
                    self.passkey_challenge.clone(),
                    self.assertion.clone(),
                    self.proof,
                );
                tokio::spawn(async move {
                    let codes = |c: mfa::BackupCodes| {
                        Some(c.as_strs().into_iter().map(String::from).collect())
                    };
                    let answer = match op {
                        Op::ConfirmSetup => mfa
                            .confirm_setup(&user, &code)
                            .await
                            .map(|e| codes(e.backup_codes)),
                        Op::VerifyTotp => mfa.verify_totp(&user, &code).await.map(|_| None),
                        Op::VerifyBackupCode | Op::VerifyLegacyBackupCode => {
                            mfa.verify_backup_code(&user, &code).await.map(|_| None)
                        }
                        Op::VerifyBackupCodeReissuing => mfa
                            .verify_backup_code(&user, &code)
                            .await
                            .map(|v| v.new_backup_code.map(|c| vec![c.as_str().to_owned()])),
                        Op::Import => mfa.import(&user, imported_factor()).await.map(|_| None),
                        Op::WrongCode => mfa.verify(&user, &code).await.map(|_| None),
                        Op::RegenerateWithTotp => mfa
                            .regenerate_backup_codes(&user, Reauth::TotpCode(&code))
                            .await
                            .map(codes),
                        Op::DisableWithTotp | Op::DisableWithBackupCode => {
                            mfa.disable(&user, &code).await.map(|_| None)
                        }
                        Op::CompleteLogin => mfa
                            .complete_login(challenge.as_ref().expect("a challenge"), &code)
                            .await
                            .map(|_| None),
                        Op::ConfirmReplacement => {
                            mfa.confirm_replacement(&user, &code).await.map(|_| None)
                        }
                        Op::PasskeyLogin => mfa
                            .complete_login_with_passkey(
                                challenge.as_ref().expect("a challenge"),
                                assertion.as_ref().expect("an assertion"),
                            )
                            .await
                            .map(|_| None),
                        Op::PasskeyStepUp => mfa
                            .step_up_with_passkey(
                                &user,
                                passkey_challenge.as_ref().expect("a challenge"),
                                assertion.as_ref().expect("an assertion"),
                            )
                            .await
                            .map(|_| None),
                        Op::Passwordless => mfa
                            .complete_passwordless(
                                passkey_challenge.as_ref().expect("a challenge"),
                                assertion.as_ref().expect("an assertion"),
                            )
                            .await
                            .map(|_| None),
                        Op::AddPasskey => mfa
                            .confirm_passkey_registration(
                                &user,
                                "Key",
                                created.as_ref().expect("a credential"),
                                proof.as_ref(),
                            )
                            .await
                            .map(|_| None),
                    };
                    answer.map_err(|e| e.code())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("racer"));
        }
        answers
    }

    async fn stored(&self) -> (u64, MfaEnrollment) {
        let v = self.store.inner().load(&self.user).await.unwrap().unwrap();
        (v.version, v.record)
    }

    fn backup_code_works(&self, record: &MfaEnrollment, code: &str) -> bool {
        record
            .clone()
            .verify_backup_code(
                &self.config,
                &self.user,
                code,
                T0 + 60,
                &mut StdRng::seed_from_u64(0),
            )
            .outcome
            .is_ok()
    }
}

/// The record's count of completed logins, as it stores it.
fn logins(record: &MfaEnrollment) -> u64 {
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    json["logins"].as_u64().expect("a login count")
}

/// Whether the operation's backup code is charged to the lockout, and the
/// charge saved, before its hash runs (I16): one save more per racer.
fn charges_first(op: Op) -> bool {
    matches!(
        op,
        Op::VerifyBackupCode
            | Op::VerifyBackupCodeReissuing
            | Op::DisableWithBackupCode
            | Op::CompleteLogin
            | Op::VerifyLegacyBackupCode
            | Op::PasskeyLogin
            | Op::PasskeyStepUp
            | Op::Passwordless
    )
}

/// Whether the user holds a passkey (or begins registering one).
fn passkeys(op: Op) -> bool {
    matches!(
        op,
        Op::PasskeyLogin | Op::PasskeyStepUp | Op::Passwordless | Op::AddPasskey
    )
}

/// The answer a racer whose save lost gets once it retried on the new state.
fn after_retry(op: Op) -> &'static str {
    match op {
        Op::ConfirmSetup | Op::Import => "MFA_ALREADY_ENABLED",
        Op::DisableWithTotp | Op::DisableWithBackupCode => "MFA_NOT_ENABLED",
        Op::CompleteLogin | Op::PasskeyLogin | Op::PasskeyStepUp => "INVALID_MFA_TOKEN",
        Op::ConfirmReplacement | Op::AddPasskey => "NO_PENDING_SECRET",
        Op::Passwordless => "INVALID_PASSKEY",
        _ => "INVALID_CODE",
    }
}

/// One race under one fault.
async fn scenario<S: MfaStore + 'static>(inner: S, op: Op, fault: SaveFault, racers: usize) {
    let round = Round::new(inner, op).await;
    let ctx = format!("{op:?}, {racers} racers, later saves {fault:?}");
    let (version_before, record_before) = round.stored().await;
    round.store.gate_loads(racers);
    round
        .store
        .plan_saves(std::iter::once(None).chain((1..racers).map(|_| Some(fault))));
    let answers = round.race(op, racers).await;
    let (version_after, record) = round.stored().await;

    let successes: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    let mut errors: Vec<&str> = answers
        .iter()
        .filter_map(|a| a.as_ref().err())
        .copied()
        .collect();
    errors.sort_unstable();
    let losers = racers - 1;
    // Whether the losers retried on fresh state (their save conflicted) or
    // gave up with the store's error (their save's fate was unknown, and the
    // stored write was provably not theirs).
    let loser_answer = match fault {
        SaveFault::WrittenButFailed => {
            if op == Op::WrongCode {
                "INVALID_CODE"
            } else {
                after_retry(op)
            }
        }
        _ => "STORE_UNAVAILABLE",
    };

    if op == Op::WrongCode {
        assert!(successes.is_empty(), "{ctx}: a wrong code succeeded");
        let mut expected = vec!["INVALID_CODE"];
        expected.extend(std::iter::repeat_n(loser_answer, losers));
        expected.sort_unstable();
        assert_eq!(errors, expected, "{ctx}: answers");
        let counted = match fault {
            SaveFault::WrittenButFailed => racers,
            _ => 1,
        };
        let FactorState::Active(active) = record.factor() else {
            panic!("{ctx}: not active")
        };
        assert_eq!(
            active.attempts().failures() as usize,
            counted,
            "{ctx}: every answered failure is counted exactly once (I4)"
        );
        assert_eq!(version_after, version_before + counted as u64, "{ctx}");
        return;
    }

    if charges_first(op) && successes.is_empty() {
        // The winner's charge took the first save, so a fault may strike its
        // own consuming save: then nobody is told of a success (I1, I11),
        // and the code is used exactly when that write landed.
        assert!(
            errors.contains(&"STORE_UNAVAILABLE"),
            "{ctx}: nobody succeeded, and no save failed: {answers:?}"
        );
        let landed = fault != SaveFault::Unavailable;
        let used = consumed(op, &round, &record, &record_before);
        assert!(used <= 1, "{ctx}: consumed {used} times");
        assert!(
            used == 0 || landed,
            "{ctx}: a failed write consumed the code"
        );
        return;
    }
    assert_eq!(
        successes.len(),
        1,
        "{ctx}: exactly one racer succeeds (I2, I3, I11), got {answers:?}"
    );
    if charges_first(op) {
        assert_eq!(
            consumed(op, &round, &record, &record_before),
            1,
            "{ctx}: consumed once"
        );
    }
    if charges_first(op) {
        // A loser failed its own save (a charge or a consume), or retried
        // and found the code used.
        for error in &errors {
            assert!(
                [loser_answer, after_retry(op), "STORE_UNAVAILABLE"].contains(error),
                "{ctx}: a loser's answer: {answers:?}"
            );
        }
    } else {
        assert_eq!(
            errors,
            vec![loser_answer; losers],
            "{ctx}: the other racers' answers"
        );
    }
    // A used legacy code is refused as a wrong code, and counted: telling it
    // from a wrong one would take a slow hash against every used hash too.
    // So a racer that retried after its twin's success also stored its
    // counted failure.
    let refusals_counted = match (op, fault) {
        (Op::VerifyLegacyBackupCode, SaveFault::WrittenButFailed) => losers,
        _ => 0,
    };
    if charges_first(op) {
        // Charge before work (I16): the winner's charge and its consuming
        // save, and a charge for each loser that got one in (its own, or
        // its retry's) before the code was seen used.
        let saved = version_after - version_before;
        assert!(
            (2..=1 + racers as u64).contains(&saved),
            "{ctx}: one success landed beside the charges ({saved} saves)"
        );
    } else {
        assert_eq!(
            version_after,
            version_before + 1 + refusals_counted as u64,
            "{ctx}: exactly one success landed"
        );
    }
    match op {
        Op::ConfirmSetup | Op::RegenerateWithTotp => {
            let codes = successes[0].as_ref().expect("codes");
            for code in codes {
                assert!(
                    round.backup_code_works(&record, code),
                    "{ctx}: the codes shown are the codes stored (I1)"
                );
            }
            for old in &round.codes {
                assert!(!round.backup_code_works(&record, old), "{ctx}: old code");
            }
        }
        Op::VerifyTotp => {
            let FactorState::Active(active) = record.factor() else {
                panic!("{ctx}")
            };
            assert_eq!(active.last_step(), Some(T0 / 30), "{ctx}: step burned (I2)");
        }
        Op::VerifyBackupCode => {
            let FactorState::Active(active) = record.factor() else {
                panic!("{ctx}")
            };
            assert_eq!(
                active.backup_codes().remaining(),
                9,
                "{ctx}: used once (I3)"
            );
            assert!(!round.backup_code_works(&record, &round.codes[0]), "{ctx}");
        }
        Op::DisableWithTotp | Op::DisableWithBackupCode => {
            assert!(matches!(record.factor(), FactorState::Disabled), "{ctx}");
            assert_eq!(
                record.epoch(),
                Epoch::new(record_before.epoch().get() + 1),
                "{ctx}: the epoch moved on once"
            );
        }
        Op::CompleteLogin => {
            let FactorState::Active(active) = record.factor() else {
                panic!("{ctx}")
            };
            assert_eq!(
                active.backup_codes().remaining(),
                9,
                "{ctx}: one code used (I3)"
            );
            assert_eq!(active.attempts().failures(), 0, "{ctx}: a refusal counted");
            assert_eq!(
                logins(&record),
                logins(&record_before) + 1,
                "{ctx}: one login counted (I12)"
            );
            let used = round.codes[..racers]
                .iter()
                .filter(|c| !round.backup_code_works(&record, c))
                .count();
            assert_eq!(used, 1, "{ctx}: the racers' codes used");
            let challenge = round.challenge.as_ref().unwrap();
            let again = round.mfa.complete_login(challenge, &round.codes[9]).await;
            assert!(
                matches!(again, Err(mfa::Error::InvalidChallenge)),
                "{ctx}: the challenge completed again: {again:?}"
            );
        }
        Op::VerifyBackupCodeReissuing => {
            let FactorState::Active(active) = record.factor() else {
                panic!("{ctx}")
            };
            assert_eq!(
                active.backup_codes().remaining(),
                10,
                "{ctx}: the used code's place refilled once"
            );
            assert!(!round.backup_code_works(&record, &round.codes[0]), "{ctx}");
            let shown = successes[0].as_ref().expect("the new code");
            assert_eq!(shown.len(), 1, "{ctx}");
            assert!(
                round.backup_code_works(&record, &shown[0]),
                "{ctx}: the new code shown is the code stored (I1)"
            );
        }
        Op::ConfirmReplacement => {
            let FactorState::Active(active) = record.factor() else {
                panic!("{ctx}")
            };
            assert!(active.replacement().is_none(), "{ctx}: still pending");
            assert_eq!(active.last_step(), Some(T0 / 30), "{ctx}: step burned (I2)");
            assert_eq!(active.attempts().failures(), 0, "{ctx}: a refusal counted");
            assert_eq!(active.backup_codes().remaining(), 10, "{ctx}: codes kept");
            assert_eq!(
                record.epoch(),
                Epoch::new(record_before.epoch().get() + 1),
                "{ctx}: the epoch moved on once"
            );
            let old = record.clone().verify_totp(
                &round.config,
                &round.user,
                &round.totp_at(T0 + 30),
                T0 + 30,
                &mut StdRng::seed_from_u64(0),
            );
            assert!(
                matches!(old.outcome, Err(mfa::Error::InvalidCode)),
                "{ctx}: the old app works after the swap"
            );
        }
        Op::VerifyLegacyBackupCode => {
            let FactorState::Active(active) = record.factor() else {
                panic!("{ctx}")
            };
            let codes = active.backup_codes();
            assert_eq!(codes.legacy_remaining(), 2, "{ctx}: used once (I3)");
            // A loser charged before the winner's success is given back
            // with it (a success ends the run of failures, I16).
            assert!(
                active.attempts().failures() as usize <= refusals_counted,
                "{ctx}: each answered refusal counted at most once (I4)"
            );
            assert!(!round.backup_code_works(&record, &round.codes[0]), "{ctx}");
            assert!(round.backup_code_works(&record, &round.codes[1]), "{ctx}");
        }
        Op::Import => {
            let FactorState::Active(_) = record.factor() else {
                panic!("{ctx}: not active")
            };
            let secret = IMPORTED_SECRET.to_owned();
            let code = Round::<S>::code_of(&secret, &round.config, T0 + 30);
            let verified = record.clone().verify_totp(
                &round.config,
                &round.user,
                &code,
                T0 + 30,
                &mut StdRng::seed_from_u64(0),
            );
            assert!(
                verified.outcome.is_ok(),
                "{ctx}: the imported secret is the one stored"
            );
            for code in PLAIN_CODES {
                assert!(
                    round.backup_code_works(&record, code),
                    "{ctx}: {code} imported once"
                );
            }
        }
        Op::PasskeyLogin | Op::PasskeyStepUp | Op::Passwordless => {
            assert_eq!(
                consumed(op, &round, &record, &record_before),
                1,
                "{ctx}: the assertion used once (I14)"
            );
            if op == Op::PasskeyLogin {
                assert_eq!(
                    logins(&record),
                    logins(&record_before) + 1,
                    "{ctx}: one login counted (I12)"
                );
            }
        }
        Op::AddPasskey => {
            assert_eq!(record.passkeys().len(), 1, "{ctx}: one passkey added");
            assert_eq!(
                record.epoch(),
                Epoch::new(record_before.epoch().get() + 1),
                "{ctx}: the epoch moved on once"
            );
        }
        Op::WrongCode => unreachable!(),
    }
    // A loser that found the code used before it saved anything never met
    // its fault.
    if !charges_first(op) {
        assert_eq!(
            round.store.pending_faults(),
            0,
            "{ctx}: a fault never fired"
        );
    }
}

/// How many racers' codes the record shows used, for the operations that
/// charge first: a backup code, a login, a legacy code, or the factor itself.
fn consumed<S: MfaStore + 'static>(
    op: Op,
    round: &Round<S>,
    record: &MfaEnrollment,
    before: &MfaEnrollment,
) -> usize {
    match (op, record.factor()) {
        (Op::DisableWithBackupCode, FactorState::Disabled) => 1,
        (Op::DisableWithBackupCode, _) => 0,
        (Op::CompleteLogin, _) => (logins(record) - logins(before)) as usize,
        (Op::PasskeyLogin | Op::PasskeyStepUp | Op::Passwordless, _) => {
            let counter = |r: &MfaEnrollment| r.passkeys()[0].counter();
            usize::from(counter(record) > counter(before))
        }
        (Op::VerifyLegacyBackupCode, FactorState::Active(a)) => {
            3 - a.backup_codes().legacy_remaining()
        }
        (_, FactorState::Active(_)) => {
            usize::from(!round.backup_code_works(record, &round.codes[0]))
        }
        _ => panic!("{op:?}: not active"),
    }
}

async fn matrix<S, F, Fut>(make_store: F, tag: &str)
where
    S: MfaStore + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let mut scenarios = 0;
    for op in OPS {
        for fault in FAULTS {
            for racers in [2, 3] {
                scenario(make_store().await, op, fault, racers).await;
                scenarios += 1;
            }
        }
    }
    eprintln!("{tag}: {scenarios} race-and-fault scenarios");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_race_meets_failing_save() {
    let store = Arc::new(MemoryStore::new());
    matrix(|| std::future::ready(Arc::clone(&store)), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_race_meets_failing_save() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open_file(dir.path().join("combined.db"))
            .await
            .unwrap(),
    );
    matrix(|| std::future::ready(Arc::clone(&store)), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_race_meets_failing_save() {
    let Some(url) = db_common::Server::Postgres.url() else {
        return;
    };
    let store = Arc::new(PostgresStore::connect(&url).await.unwrap());
    matrix(|| std::future::ready(Arc::clone(&store)), "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_store_race_meets_failing_save() {
    let Some(url) = db_common::Server::Mysql.url() else {
        return;
    };
    let store = Arc::new(mfa::MysqlStore::connect(&url).await.unwrap());
    matrix(|| std::future::ready(Arc::clone(&store)), "mysql").await;
}
