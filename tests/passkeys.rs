//! Passkeys beside the app, end to end through `Mfa` with a software
//! passkey: registration (first factor and beside an app), the login's
//! second step, passwordless login, step-up, and what must be refused —
//! replays (I14), a missing user verification, a counter that goes back,
//! another origin — with the shared lockout and epoch.

mod common;

use std::sync::Arc;

use common::Harness;
use common::passkey::Authenticator;
use mfa::event::SecurityEvent;
use mfa::passkey::PasskeyAdded;
use mfa::{Error, LoginStep, MemoryStore, MfaStore, ProofMethod, Reauth, VerifiedBy};

/// Registers a passkey for `user` on `key`, with `proof` when MFA is on.
async fn add<S: MfaStore + 'static>(
    h: &Harness<S>,
    key: &mut Authenticator,
    user: &str,
    name: &str,
    proof: Option<&mfa::Proof>,
) -> mfa::Result<PasskeyAdded> {
    let options = h
        .mfa
        .begin_passkey_registration(user, "user@example.com", proof)
        .await?;
    let created = key.register(&options);
    h.mfa
        .confirm_passkey_registration(user, name, &created, proof)
        .await
}

fn challenge(step: LoginStep) -> mfa::LoginChallenge {
    match step {
        LoginStep::SecondFactor(c) => c,
        other => panic!("expected a second step, got {other:?}"),
    }
}

#[tokio::test]
async fn a_first_passkey_turns_mfa_on_with_backup_codes_and_logs_in() {
    let h = Harness::memory();
    let mut key = Authenticator::default();
    let added = add(&h, &mut key, "u", "Laptop", None).await.unwrap();
    let codes = added.backup_codes.expect("the first factor issues codes");
    assert_eq!(codes.len(), 10);
    assert_eq!(added.proof.method, ProofMethod::Passkey);
    assert_eq!(added.passkey.name(), "Laptop");
    let status = h.mfa.status("u").await.unwrap();
    assert!(status.mfa_enabled);
    assert_eq!(status.passkeys, 1);
    assert_eq!(status.mfa_method, Some(mfa::MfaMethod::Passkey));
    assert_eq!(
        serde_json::to_value(status.mfa_methods).unwrap(),
        serde_json::json!(["passkey"])
    );
    // The record holds the epoch the proof was issued under.
    let record = h.mfa.load("u").await.unwrap();
    record.check_epoch(added.proof.epoch).unwrap();
    assert_eq!(
        h.mfa
            .store()
            .passkey_owner(added.passkey.credential_id())
            .await
            .unwrap()
            .as_deref(),
        Some("u")
    );

    // Second step with the passkey: once.
    let login = challenge(h.mfa.begin_login("u", None).await.unwrap());
    assert!(login.accepts_passkey());
    let options = login.passkey_options().expect("options to send").clone();
    let assertion = key.assert(&options);
    let verified = h
        .mfa
        .complete_login_with_passkey(&login, &assertion)
        .await
        .unwrap();
    assert_eq!(verified.by, VerifiedBy::Passkey);
    assert_eq!(verified.proof.method, ProofMethod::Passkey);
    assert!(matches!(
        h.mfa.complete_login_with_passkey(&login, &assertion).await,
        Err(Error::InvalidChallenge)
    ));
    // The same assertion under a fresh challenge: another challenge, refused.
    let again = challenge(h.mfa.begin_login("u", None).await.unwrap());
    assert!(matches!(
        h.mfa.complete_login_with_passkey(&again, &assertion).await,
        Err(Error::InvalidPasskey)
    ));
    // A backup code still works beside it.
    let code = codes.as_strs()[0];
    let by_code = h.mfa.complete_login(&again, code).await.unwrap();
    assert_eq!(by_code.by, VerifiedBy::BackupCode);
    let used: Vec<_> = h
        .events_for("u")
        .into_iter()
        .filter(|e| matches!(e, SecurityEvent::PasskeyUsed { .. }))
        .collect();
    assert_eq!(used.len(), 1);
}

#[tokio::test]
async fn a_challenge_survives_serialization_without_its_options() {
    let h = Harness::memory();
    let mut key = Authenticator::default();
    add(&h, &mut key, "u", "Laptop", None).await.unwrap();
    let login = challenge(h.mfa.begin_login("u", None).await.unwrap());
    let options = login.passkey_options().unwrap().clone();
    let stored = serde_json::to_string(&login).unwrap();
    let back: mfa::LoginChallenge = serde_json::from_str(&stored).unwrap();
    assert!(back.passkey_options().is_none());
    assert_eq!(back, login);
    let assertion = key.assert(&options);
    h.mfa
        .complete_login_with_passkey(&back, &assertion)
        .await
        .unwrap();
}

#[tokio::test]
async fn passwordless_login_names_its_user_once() {
    let h = Harness::memory();
    let mut key = Authenticator::default();
    add(&h, &mut key, "alice", "Phone", None).await.unwrap();
    let begun = h.mfa.begin_passwordless().unwrap();
    let options = begun.options().unwrap().clone();
    assert!(
        options.public_key.allow_credentials.is_empty(),
        "no user named"
    );
    let assertion = key.assert(&options);
    let (user, verified) = h
        .mfa
        .complete_passwordless(&begun, &assertion)
        .await
        .unwrap();
    assert_eq!(user, "alice");
    assert_eq!(verified.proof.method, ProofMethod::Passkey);
    assert!(verified.proof.is_for("alice"));
    // Spent: the same challenge and assertion again, refused.
    assert!(matches!(
        h.mfa.complete_passwordless(&begun, &assertion).await,
        Err(Error::InvalidPasskey)
    ));
    // Through serialization, still spent.
    let stored: mfa::passkey::PasskeyChallenge =
        serde_json::from_str(&serde_json::to_string(&begun).unwrap()).unwrap();
    assert!(matches!(
        h.mfa.complete_passwordless(&stored, &assertion).await,
        Err(Error::InvalidPasskey)
    ));
    // An unknown credential: the same answer, and no record is touched.
    let mut stranger = Authenticator::default();
    let other = Harness::memory();
    add(&other, &mut stranger, "mallory", "Key", None)
        .await
        .unwrap();
    let begun = h.mfa.begin_passwordless().unwrap();
    let unknown = stranger.assert(begun.options().unwrap());
    assert!(matches!(
        h.mfa.complete_passwordless(&begun, &unknown).await,
        Err(Error::InvalidPasskey)
    ));
    // Expired: the same answer.
    let begun = h.mfa.begin_passwordless().unwrap();
    let late = key.assert(begun.options().unwrap());
    h.clock.advance(10 * 60);
    assert!(matches!(
        h.mfa.complete_passwordless(&begun, &late).await,
        Err(Error::InvalidPasskey)
    ));
}

#[tokio::test]
async fn passwordless_can_be_turned_off() {
    let h = Harness::new(Arc::new(MemoryStore::new()), |p| {
        p.passkeys.passwordless = false
    });
    assert!(matches!(
        h.mfa.begin_passwordless(),
        Err(Error::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn a_missing_user_verification_is_refused_and_counted() {
    let h = Harness::memory();
    let mut key = Authenticator::default();
    add(&h, &mut key, "u", "Laptop", None).await.unwrap();
    let login = challenge(h.mfa.begin_login("u", None).await.unwrap());
    let no_uv = key.assert_without_uv(login.passkey_options().unwrap());
    assert!(matches!(
        h.mfa.complete_login_with_passkey(&login, &no_uv).await,
        Err(Error::InvalidPasskey)
    ));
    let record = h.mfa.load("u").await.unwrap();
    let mfa::FactorState::Active(active) = record.factor() else {
        panic!("active")
    };
    assert_eq!(active.attempts().failures(), 1, "a failed assertion counts");
    // Passwordless says the same.
    let begun = h.mfa.begin_passwordless().unwrap();
    let no_uv = key.assert_without_uv(begun.options().unwrap());
    assert!(matches!(
        h.mfa.complete_passwordless(&begun, &no_uv).await,
        Err(Error::InvalidPasskey)
    ));
}

#[tokio::test]
async fn another_origin_is_refused() {
    let h = Harness::memory();
    let mut key = Authenticator::default();
    add(&h, &mut key, "u", "Laptop", None).await.unwrap();
    let login = challenge(h.mfa.begin_login("u", None).await.unwrap());
    // The same credential, used by a page at a look-alike origin.
    let mut phished = Authenticator::at("http://localhost:9999");
    let options = h
        .mfa
        .begin_passkey_registration("v", "v@example.com", None)
        .await
        .unwrap();
    let created = phished.register(&options);
    assert!(matches!(
        h.mfa
            .confirm_passkey_registration("v", "Evil", &created, None)
            .await,
        Err(Error::InvalidPasskey)
    ));
    assert!(
        !h.mfa.load("v").await.unwrap().is_active(),
        "nothing stored"
    );
    drop(login);
}

#[tokio::test]
async fn a_counter_that_goes_back_is_refused_as_a_clone() {
    let h = Harness::memory();
    let mut key = Authenticator::default();
    add(&h, &mut key, "u", "Laptop", None).await.unwrap();
    // Two step-ups answered in order, completed in the opposite order: the
    // later signature counter is stored, so the earlier one looks cloned.
    let first = h.mfa.begin_passkey_step_up("u").await.unwrap();
    let second = h.mfa.begin_passkey_step_up("u").await.unwrap();
    let early = key.assert(first.options().unwrap());
    let late = key.assert(second.options().unwrap());
    h.mfa
        .step_up_with_passkey("u", &second, &late)
        .await
        .unwrap();
    assert!(matches!(
        h.mfa.step_up_with_passkey("u", &first, &early).await,
        Err(Error::InvalidPasskey)
    ));
    assert!(
        h.events_for("u")
            .iter()
            .any(|e| matches!(e, SecurityEvent::PasskeyCloneSuspected { .. }))
    );
    // The spent challenge cannot be used again either.
    let again = key.assert(second.options().unwrap());
    assert!(matches!(
        h.mfa.step_up_with_passkey("u", &second, &again).await,
        Err(Error::InvalidChallenge)
    ));
    // Another user's challenge is refused before anything is checked.
    assert!(matches!(
        h.mfa.step_up_with_passkey("v", &first, &early).await,
        Err(Error::InvalidChallenge)
    ));
}

/// Events name a passkey by the crate's id only: never the credential id
/// or the public key (which would let a log correlate a user across sites,
/// and has no place there). Problem documents of the passkey errors carry
/// no detail of the ceremony.
#[tokio::test]
async fn events_never_carry_the_credential() {
    use base64::Engine as _;
    let h = Harness::memory();
    let mut key = Authenticator::default();
    let added = add(&h, &mut key, "u", "Laptop", None).await.unwrap();
    let login = challenge(h.mfa.begin_login("u", None).await.unwrap());
    let assertion = key.assert(login.passkey_options().unwrap());
    let verified = h
        .mfa
        .complete_login_with_passkey(&login, &assertion)
        .await
        .unwrap();
    h.mfa
        .rename_passkey("u", added.passkey.id(), "Work laptop")
        .await
        .unwrap();
    let begun = h.mfa.begin_passkey_step_up("u").await.unwrap();
    let second = key.assert(begun.options().unwrap());
    let stale = key.assert(begun.options().unwrap());
    h.mfa
        .step_up_with_passkey("u", &begun, &stale)
        .await
        .unwrap();
    let begun = h.mfa.begin_passkey_step_up("u").await.unwrap();
    let _ = h.mfa.step_up_with_passkey("u", &begun, &second).await;
    h.mfa
        .disable_with("u", mfa::Reauth::RecentProof(&verified.proof))
        .await
        .unwrap();
    let credential =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(added.passkey.credential_id());
    let events = h.events_for("u");
    for kind in ["passkey_added", "passkey_used", "passkey_renamed"] {
        assert!(
            events
                .iter()
                .any(|e| serde_json::to_value(e).unwrap()["event"] == kind),
            "{kind}"
        );
    }
    for event in &events {
        let text = serde_json::to_string(event).unwrap();
        assert!(!text.contains(&credential), "{text}");
        assert!(
            !text.contains("EC_EC2") && !text.contains("cred_id"),
            "{text}"
        );
        let debug = format!("{event:?}");
        assert!(!debug.contains(&credential), "{debug}");
    }
    let challenge_debug = format!("{:?}", h.mfa.begin_passwordless().unwrap());
    assert!(
        !challenge_debug.contains("challenge\""),
        "{challenge_debug}"
    );
    for error in [Error::InvalidPasskey, Error::PasskeyAlreadyRegistered] {
        let problem = mfa::http::ProblemDetails::from(&error);
        let text = serde_json::to_string(&problem).unwrap();
        assert!(!text.contains(&credential), "{text}");
    }
}

/// Beside an app: adding a passkey needs a recent proof, moves the epoch,
/// issues no new codes; removing it needs a proof too, and the last factor
/// cannot be removed; a set of passkeys alone takes an app through a
/// replacement; disabling on a proof removes everything and frees the
/// credentials.
#[tokio::test]
async fn passkeys_beside_an_app_and_the_last_factor() {
    let h = Harness::memory();
    let (secret, codes) = h.enroll("u").await;
    let mut key = Authenticator::default();
    assert!(matches!(
        add(&h, &mut key, "u", "Laptop", None).await,
        Err(Error::StepUpRequired)
    ));
    let verified = h.mfa.verify("u", &h.code(&secret)).await.unwrap();
    let added = add(&h, &mut key, "u", "Laptop", Some(&verified.proof))
        .await
        .unwrap();
    assert!(added.backup_codes.is_none(), "the set keeps its codes");
    assert_eq!(added.proof.epoch.get(), verified.proof.epoch.get() + 1);
    let record = h.mfa.load("u").await.unwrap();
    assert!(matches!(
        record.check_epoch(verified.proof.epoch),
        Err(Error::Revoked)
    ));
    let status = h.mfa.status("u").await.unwrap();
    assert_eq!(status.mfa_method, Some(mfa::MfaMethod::Totp));
    assert_eq!(
        serde_json::to_value(status.mfa_methods).unwrap(),
        serde_json::json!(["totp", "passkey"])
    );
    assert_eq!(status.backup_codes_remaining, codes.len());
    // A name that is no name.
    assert!(matches!(
        h.mfa
            .rename_passkey("u", added.passkey.id(), " \u{202e} ")
            .await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        h.mfa.rename_passkey("u", "nope", "x").await,
        Err(Error::PasskeyNotFound)
    ));
    // The proof from before the add no longer counts.
    assert!(matches!(
        h.mfa
            .remove_passkey(
                "u",
                added.passkey.id(),
                Reauth::RecentProof(&verified.proof)
            )
            .await,
        Err(Error::Revoked)
    ));
    let proof = h
        .mfa
        .remove_passkey("u", added.passkey.id(), Reauth::RecentProof(&added.proof))
        .await
        .unwrap();
    assert_eq!(proof.epoch.get(), added.proof.epoch.get() + 1);
    assert!(
        h.mfa
            .store()
            .passkey_owner(added.passkey.credential_id())
            .await
            .unwrap()
            .is_none()
    );

    // Passkeys alone: the last one cannot be removed; an app joins through
    // a replacement, which keeps the codes.
    let solo = Harness::memory();
    let mut key = Authenticator::default();
    let first = add(&solo, &mut key, "p", "Phone", None).await.unwrap();
    assert!(matches!(
        solo.mfa
            .remove_passkey("p", first.passkey.id(), Reauth::RecentProof(&first.proof))
            .await,
        Err(Error::LastFactor)
    ));
    assert!(matches!(
        solo.mfa.verify("p", "123456").await,
        Err(Error::InvalidCode)
    ));
    assert!(matches!(
        solo.mfa.begin_setup("p", "p@example.com").await,
        Err(Error::MfaAlreadyEnabled)
    ));
    let setup = solo
        .mfa
        .begin_replacement("p", "p@example.com", Reauth::RecentProof(&first.proof))
        .await
        .unwrap();
    let app = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let joined = solo
        .mfa
        .confirm_replacement("p", &solo.code(&app))
        .await
        .unwrap();
    let status = solo.mfa.status("p").await.unwrap();
    assert_eq!(status.mfa_method, Some(mfa::MfaMethod::Totp));
    assert_eq!(status.passkeys, 1);
    assert_eq!(status.backup_codes_remaining, 10);
    assert!(
        solo.events_for("p")
            .iter()
            .any(|e| matches!(e, SecurityEvent::FactorEnabled))
    );
    // Off, on a recent proof: everything goes, the credential is free.
    solo.mfa
        .disable_with("p", Reauth::RecentProof(&joined))
        .await
        .unwrap();
    assert!(!solo.mfa.status("p").await.unwrap().mfa_enabled);
    assert!(
        solo.mfa
            .store()
            .passkey_owner(first.passkey.credential_id())
            .await
            .unwrap()
            .is_none()
    );
}

/// A failed assertion counts on the one lockout of the set: five lock the
/// codes too, a locked set refuses passkeys, and an operator unlock lifts
/// the lock for every factor.
#[tokio::test]
async fn one_lockout_for_every_factor() {
    let h = Harness::memory();
    let mut key = Authenticator::default();
    let added = add(&h, &mut key, "u", "Laptop", None).await.unwrap();
    let codes = added.backup_codes.unwrap();
    for _ in 0..5 {
        let login = challenge(h.mfa.begin_login("u", None).await.unwrap());
        let no_uv = key.assert_without_uv(login.passkey_options().unwrap());
        let _ = h.mfa.complete_login_with_passkey(&login, &no_uv).await;
    }
    assert!(h.mfa.status("u").await.unwrap().locked_out);
    let login = challenge(h.mfa.begin_login("u", None).await.unwrap());
    let right = key.assert(login.passkey_options().unwrap());
    assert!(matches!(
        h.mfa.complete_login_with_passkey(&login, &right).await,
        Err(Error::LockedOut { .. })
    ));
    assert!(matches!(
        h.mfa.complete_login(&login, codes.as_strs()[0]).await,
        Err(Error::LockedOut { .. })
    ));
    let begun = h.mfa.begin_passwordless().unwrap();
    let assertion = key.assert(begun.options().unwrap());
    assert!(matches!(
        h.mfa.complete_passwordless(&begun, &assertion).await,
        Err(Error::LockedOut { .. })
    ));
    h.mfa
        .operator_unlock("u", "support", "verified by phone")
        .await
        .unwrap();
    let right = key.assert(login.passkey_options().unwrap());
    h.mfa
        .complete_login_with_passkey(&login, &right)
        .await
        .unwrap();
    h.mfa
        .operator_reset("u", "support", "account recovery")
        .await
        .unwrap();
    assert!(h.mfa.load("u").await.unwrap().passkeys().is_empty());
}

/// A set holds at most `max_passkeys`: beginning and confirming refuse the
/// one too many.
#[tokio::test]
async fn at_most_max_passkeys() {
    let h = Harness::new(Arc::new(MemoryStore::new()), |p| {
        p.passkeys.max_passkeys = 1
    });
    let mut key = Authenticator::default();
    let first = add(&h, &mut key, "u", "One", None).await.unwrap();
    assert!(matches!(
        h.mfa
            .begin_passkey_registration("u", "u@example.com", Some(&first.proof))
            .await,
        Err(Error::TooManyPasskeys)
    ));
}
