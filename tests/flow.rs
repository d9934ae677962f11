//! The whole documented flow through the service on the in-memory store.

mod common;

use common::{Harness, wrong_code};
use mfa::{Epoch, Error, MfaMethod, ProofMethod, Reauth, VerifiedBy, event::SecurityEvent};

#[tokio::test]
async fn whole_flow() {
    let h = Harness::memory();
    let user = "user-1";

    let status = h.mfa.status(user).await.unwrap();
    assert!(!status.mfa_enabled && !status.pending_setup);

    let setup = h.mfa.begin_setup(user, "alice@example.com").await.unwrap();
    assert!(
        setup
            .otpauth_uri()
            .starts_with("otpauth://totp/mfa-tests:alice%40example.com?")
    );
    assert_eq!(setup.secret_base32().len(), 32);
    // Both encode the secret, so both are wiped on drop.
    let png: zeroize::Zeroizing<Vec<u8>> = setup.qr_png().unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let uri: zeroize::Zeroizing<String> = setup.qr_data_uri().unwrap();
    let encoded = uri.strip_prefix("data:image/png;base64,").unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(decoded, *png, "the data URI carries the same PNG");
    assert!(h.mfa.status(user).await.unwrap().pending_setup);

    let secret = mfa::totp::TotpSecret::from_base32(setup.secret_base32()).unwrap();
    let confirm_code = h.code(&secret);
    let enabled = h.mfa.confirm_setup(user, &confirm_code).await.unwrap();
    assert_eq!(enabled.backup_codes.len(), 10);
    assert_eq!(enabled.proof.method, ProofMethod::SetupConfirmation);
    let codes: Vec<String> = enabled
        .backup_codes
        .as_strs()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let status = h.mfa.status(user).await.unwrap();
    assert!(status.mfa_enabled);
    assert_eq!(status.mfa_method, Some(MfaMethod::Totp));
    assert_eq!(status.backup_codes_remaining, 10);

    // The confirming code cannot log in (I2).
    assert!(matches!(
        h.mfa.verify(user, &confirm_code).await,
        Err(Error::InvalidCode)
    ));

    h.clock.advance(30);
    let login = h.mfa.verify(user, &h.code(&secret)).await.unwrap();
    assert!(matches!(login.by, VerifiedBy::Totp(m) if m.drift == 0));
    assert_eq!(login.proof.method, ProofMethod::Totp);
    assert_eq!(login.proof.verified_at, h.clock.get());
    assert!(matches!(
        h.mfa.verify_totp(user, &h.code(&secret)).await,
        Err(Error::InvalidCode)
    ));

    let used = h.mfa.verify(user, &codes[0].to_uppercase()).await.unwrap();
    assert_eq!(used.proof.method, ProofMethod::BackupCode);
    assert_eq!(
        (used.by, used.backup_codes_remaining),
        (VerifiedBy::BackupCode, 9)
    );
    assert!(matches!(
        h.mfa.verify_backup_code(user, &codes[0]).await,
        Err(Error::InvalidCode)
    ));

    h.clock.advance(30);
    let fresh = h
        .mfa
        .regenerate_backup_codes(user, Reauth::TotpCode(&h.code(&secret)))
        .await
        .unwrap();
    assert_eq!(fresh.len(), 10);
    // Three old codes (more would start a lockout, as they count as failures).
    for old in &codes[1..4] {
        assert!(matches!(
            h.mfa.verify_backup_code(user, old).await,
            Err(Error::InvalidCode)
        ));
    }
    let fresh: Vec<String> = fresh.as_strs().iter().map(|s| s.to_string()).collect();
    let again = h
        .mfa
        .regenerate_backup_codes(user, Reauth::RecentProof(&used.proof))
        .await
        .unwrap();
    assert!(matches!(
        h.mfa.verify_backup_code(user, &fresh[0]).await,
        Err(Error::InvalidCode)
    ));
    let again: Vec<String> = again.as_strs().iter().map(|s| s.to_string()).collect();

    assert!(matches!(
        h.mfa.disable(user, "000000x").await,
        Err(Error::MalformedCode(_))
    ));
    let off = h.mfa.disable(user, &again[3]).await.unwrap();
    assert_eq!(off.method, ProofMethod::BackupCode);
    assert_eq!(off.epoch, Epoch::new(enabled.proof.epoch.get() + 1));
    let status = h.mfa.status(user).await.unwrap();
    assert!(!status.mfa_enabled && status.backup_codes_remaining == 0);
    assert!(matches!(
        h.mfa.verify(user, &again[4]).await,
        Err(Error::MfaNotEnabled)
    ));

    let events = h.events_for(user);
    for expected in [
        SecurityEvent::FactorEnabled,
        SecurityEvent::BackupCodeUsed { remaining: 9 },
        SecurityEvent::BackupCodesRegenerated { count: 10 },
        SecurityEvent::FactorDisabled,
    ] {
        assert!(
            events.contains(&expected),
            "missing {expected:?} in {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SecurityEvent::ReplayRefused { .. }))
    );
}

#[tokio::test]
async fn errors_of_each_state() {
    let h = Harness::memory();
    let user = "user-2";
    assert!(matches!(
        h.mfa.confirm_setup(user, "123456").await,
        Err(Error::NoPendingSetup)
    ));
    assert!(matches!(
        h.mfa
            .regenerate_backup_codes(user, Reauth::TotpCode("123456"))
            .await,
        Err(Error::MfaNotEnabled)
    ));
    assert!(matches!(
        h.mfa.disable(user, "123456").await,
        Err(Error::MfaNotEnabled)
    ));
    assert!(matches!(
        h.mfa.cancel_setup(user).await,
        Err(Error::NoPendingSetup)
    ));
    assert!(matches!(
        h.mfa.begin_setup(user, "").await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        h.mfa.begin_setup(user, "a:b").await,
        Err(Error::InvalidInput(_))
    ));

    let (secret, _) = h.enroll(user).await;
    assert!(matches!(
        h.mfa.begin_setup(user, "x@example.com").await,
        Err(Error::MfaAlreadyEnabled)
    ));
    assert!(matches!(
        h.mfa.confirm_setup(user, &h.code(&secret)).await,
        Err(Error::MfaAlreadyEnabled)
    ));
    for bad in [
        "",
        "   ",
        "12345",
        "1234567",
        "12345a",
        "١٢٣٤٥٦",
        "abcde-fghj",
    ] {
        let r = h.mfa.verify_totp(user, bad).await;
        assert!(matches!(r, Err(Error::MalformedCode(_))), "{bad:?}: {r:?}");
    }
    let wrong = wrong_code(&secret, h.clock.get());
    assert!(matches!(
        h.mfa.verify_totp(user, &wrong).await,
        Err(Error::InvalidCode)
    ));
    let r = h
        .mfa
        .regenerate_backup_codes(user, Reauth::TotpCode(&wrong))
        .await;
    assert!(matches!(r, Err(Error::InvalidCode)));
}

#[tokio::test]
async fn cancel_and_restart_setup() {
    let h = Harness::memory();
    let user = "user-3";
    let first = h.mfa.begin_setup(user, "a@example.com").await.unwrap();
    let second = h.mfa.begin_setup(user, "a@example.com").await.unwrap();
    assert_ne!(first.secret_base32(), second.secret_base32());
    // Only the latest pending secret confirms.
    let old = mfa::totp::TotpSecret::from_base32(first.secret_base32()).unwrap();
    let code = h.code(&old);
    let new = mfa::totp::TotpSecret::from_base32(second.secret_base32()).unwrap();
    if code != h.code(&new) {
        assert!(matches!(
            h.mfa.confirm_setup(user, &code).await,
            Err(Error::InvalidCode)
        ));
    }
    h.mfa.cancel_setup(user).await.unwrap();
    assert!(!h.mfa.status(user).await.unwrap().pending_setup);
    assert!(matches!(
        h.mfa.confirm_setup(user, &h.code(&new)).await,
        Err(Error::NoPendingSetup)
    ));
}

/// Every backup-code use is reported, and from the policy's threshold down
/// (2 by default) it is reported as running low too, so hosts can notify.
#[test]
fn backup_code_uses_are_reported_and_running_low_from_the_threshold() {
    use mfa::testkit::{fixtures::Enrolled, test_config};
    let ctx = test_config();
    assert_eq!(ctx.policy().backup_codes.low_threshold, 2);
    let user = Enrolled::new(&ctx, "low", 1_700_000_000);
    let mut record = user.active.clone();
    let mut low = Vec::new();
    for (used, code) in user.code_strings().iter().enumerate() {
        let step = record.verify_backup_code(
            &ctx,
            "low",
            code,
            user.confirmed_at + 1 + used as u64,
            &mut rand::rng(),
        );
        let remaining = 10 - (used + 1);
        assert!(step.outcome.is_ok());
        assert!(
            step.events
                .contains(&SecurityEvent::BackupCodeUsed { remaining })
        );
        if step
            .events
            .contains(&SecurityEvent::BackupCodesRunningLow { remaining })
        {
            low.push(remaining);
        }
        record = step.state;
    }
    assert_eq!(low, [2, 1, 0]);
}
