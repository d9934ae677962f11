//! Reissue on use (`BackupCodePolicy::reissue_on_use`, NIST SP 800-63B-4
//! §4.2.1.1 SRC-5): a backup code used to log in or step up is replaced by a
//! new one, shown once with the verification and saved in the same save as
//! the use; the number of unused codes stays. Exactly once under races; a
//! wrong code hashes once and reissues nothing; a re-authentication with a
//! code reissues nothing; an imported set is not topped up.
//!
//! Argon2 evaluations are counted with `mfa::testkit::argon2_evaluations`,
//! which is process-wide: the one test that counts them runs its operations
//! one at a time, and every other test of this binary waits for it.

use std::sync::Arc;

use mfa::backup::BackupCode;
use mfa::event::{EventSink, SecurityEvent};
use mfa::session::LoginStep;
use mfa::testkit::{ManualClock, argon2_evaluations, fixtures::Enrolled, test_config_with};
use mfa::{Error, MemoryStore, Mfa, MfaContext, Reauth, totp};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Mutex;

const T0: u64 = 1_700_000_000;

/// The argon2 counter is process-wide: tests that hash take turns.
static HASHING: Mutex<()> = Mutex::const_new(());

type Service = Mfa<Arc<MemoryStore>>;

fn reissuing() -> MfaContext {
    test_config_with(|p| p.backup_codes.reissue_on_use = true)
}

/// Events, kept.
#[derive(Default, Clone)]
struct Events(Arc<std::sync::Mutex<Vec<SecurityEvent>>>);

impl EventSink for Events {
    fn record(&self, _user_id: &str, event: &SecurityEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// A service whose policy reissues codes, and a user enrolled on it: the
/// codes shown.
async fn enrolled(config: MfaContext, user: &str) -> (Service, ManualClock, Events, Vec<String>) {
    let clock = ManualClock::new(T0);
    let events = Events::default();
    let mfa = Mfa::new(Arc::new(MemoryStore::new()), config)
        .with_clock(clock.clone())
        .with_event_sink(events.clone());
    let setup = mfa.begin_setup(user, "u@example.com").await.unwrap();
    let secret = totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let code = totp::generate(&secret, mfa.context().policy().totp.params(), T0).unwrap();
    let enabled = mfa.confirm_setup(user, &code).await.unwrap();
    clock.advance(30);
    let codes = enabled
        .backup_codes
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    (mfa, clock, events, codes)
}

fn significant(code: &str) -> String {
    code.chars().filter(|c| *c != '-').collect()
}

#[tokio::test]
async fn a_used_code_is_replaced_by_a_new_one_shown_once() {
    let _turn = HASHING.lock().await;
    let (mfa, _clock, events, codes) = enrolled(reissuing(), "u").await;
    let before = argon2_evaluations();
    let verified = mfa.verify_backup_code("u", &codes[0]).await.unwrap();
    assert_eq!(
        argon2_evaluations() - before,
        2,
        "the code's hash and the new code's, once each"
    );
    let new = verified.new_backup_code.as_ref().expect("a new code");
    let new = new.as_str().to_owned();
    assert_eq!(verified.backup_codes_remaining, 10, "the place is refilled");
    assert!(!codes.contains(&new));
    assert_eq!(new.len(), codes[0].len(), "the set's own preset");
    // The new code keeps the used one's locator, and nothing more of it.
    let (old, fresh) = (significant(&codes[0]), significant(&new));
    assert_eq!(
        old[..BackupCode::LOCATOR_LEN],
        fresh[..BackupCode::LOCATOR_LEN]
    );
    assert!(
        events
            .0
            .lock()
            .unwrap()
            .contains(&SecurityEvent::BackupCodeReissued)
    );
    // The used code is refused. Its locator now names the new code, so it
    // is checked like a wrong code (one hash, one failure), as a used legacy
    // code is.
    let before = argon2_evaluations();
    assert!(matches!(
        mfa.verify_backup_code("u", &codes[0]).await,
        Err(Error::InvalidCode)
    ));
    assert_eq!(argon2_evaluations() - before, 1);
    let again = mfa.verify_backup_code("u", &new).await.unwrap();
    let newer = again
        .new_backup_code
        .as_ref()
        .expect("a newer code")
        .as_str()
        .to_owned();
    assert_ne!(newer, new);
    assert!(mfa.verify_backup_code("u", &new).await.is_err());
    assert_eq!(mfa.status("u").await.unwrap().backup_codes_remaining, 10);
    // A wrong code of the same shape hashes once and reissues nothing.
    let mut wrong = significant(&codes[1]);
    let last = if wrong.ends_with('2') { '3' } else { '2' };
    wrong.pop();
    wrong.push(last);
    let before = argon2_evaluations();
    assert!(matches!(
        mfa.verify_backup_code("u", &wrong).await,
        Err(Error::InvalidCode)
    ));
    assert_eq!(argon2_evaluations() - before, 1);
}

#[tokio::test]
async fn logins_and_step_ups_reissue_management_does_not() {
    let _turn = HASHING.lock().await;
    let (mfa, _clock, _events, codes) = enrolled(reissuing(), "u").await;
    // The login's second step.
    let LoginStep::SecondFactor(challenge) = mfa.begin_login("u", None).await.unwrap() else {
        panic!("a second step")
    };
    let login = mfa.complete_login(&challenge, &codes[0]).await.unwrap();
    assert!(login.new_backup_code.is_some());
    assert_eq!(login.backup_codes_remaining, 10);
    // `verify` (a step-up) with either kind of code.
    let step_up = mfa.verify("u", &codes[1]).await.unwrap();
    assert!(step_up.new_backup_code.is_some());
    // Re-authenticating a management operation with a code uses it up:
    // nothing shows a new code, so none is made.
    mfa.forget_devices("u", Reauth::Code(&codes[2]))
        .await
        .unwrap();
    assert_eq!(mfa.status("u").await.unwrap().backup_codes_remaining, 9);
    // Without the policy, nothing is reissued.
    let (plain, _, _, codes) = enrolled(test_config_with(|_| {}), "p").await;
    let verified = plain.verify_backup_code("p", &codes[0]).await.unwrap();
    assert!(verified.new_backup_code.is_none());
    assert_eq!(verified.backup_codes_remaining, 9);
}

#[test]
fn the_pure_transition_reissues_with_its_own_rng() {
    let config = reissuing();
    let user = Enrolled::new(&config, "u", T0);
    let code = user.codes.as_strs()[0].to_owned();
    let mut rng = StdRng::seed_from_u64(7);
    let step = user.active.clone().verify_backup_code(
        &config,
        "u",
        &code,
        user.confirmed_at + 30,
        &mut rng,
    );
    let verified = step.outcome.unwrap();
    let new = verified
        .new_backup_code
        .expect("a new code")
        .as_str()
        .to_owned();
    assert!(step.events.contains(&SecurityEvent::BackupCodeReissued));
    let mut rng = StdRng::seed_from_u64(8);
    let again =
        step.state
            .clone()
            .verify_backup_code(&config, "u", &new, user.confirmed_at + 60, &mut rng);
    assert!(again.outcome.is_ok(), "the new code is stored");
    let old = step
        .state
        .verify_backup_code(&config, "u", &code, user.confirmed_at + 60, &mut rng);
    assert!(matches!(old.outcome, Err(Error::InvalidCode)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_reissue_exactly_once() {
    let _turn = HASHING.lock().await;
    let (mfa, _clock, _events, codes) = enrolled(reissuing(), "u").await;
    let mfa = Arc::new(mfa);
    // Three submissions of one code and one of each of two others, at once:
    // five charges, all admitted before the lock the fifth starts.
    let mut submitted: Vec<String> = vec![codes[0].clone(); 3];
    submitted.extend([codes[1].clone(), codes[2].clone()]);
    let tasks: Vec<_> = submitted
        .into_iter()
        .map(|code| {
            let mfa = Arc::clone(&mfa);
            tokio::spawn(async move {
                let out = mfa.verify_backup_code("u", &code).await;
                (
                    code,
                    out.map(|v| v.new_backup_code.map(|c| c.as_str().to_owned())),
                )
            })
        })
        .collect();
    let mut new_codes = Vec::new();
    let mut wins = std::collections::HashMap::new();
    for task in tasks {
        let (code, out) = task.await.unwrap();
        match out {
            Ok(new) => {
                *wins.entry(code).or_insert(0) += 1;
                new_codes.push(new.expect("a new code with every success"));
            }
            Err(Error::InvalidCode) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(wins.get(&codes[0]), Some(&1), "one code, one success");
    assert_eq!(wins.get(&codes[1]), Some(&1));
    assert_eq!(wins.get(&codes[2]), Some(&1));
    assert_eq!(new_codes.len(), 3);
    // Every new code shown is stored and works once; the set stays full.
    assert_eq!(mfa.status("u").await.unwrap().backup_codes_remaining, 10);
    for new in &new_codes {
        assert!(mfa.verify_backup_code("u", new).await.is_ok(), "{new}");
        assert!(mfa.verify_backup_code("u", new).await.is_err(), "{new}");
    }
}
