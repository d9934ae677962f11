//! The whole MFA flow, self-running, on the in-memory store.
//!
//! `cargo run --bin quickstart`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mfa::{
    Error, KeyId, Keyring, LoginStep, MasterKey, MemoryStore, Mfa, MfaContext, Policy, Reauth,
    VerifiedBy,
    event::SecurityEvent,
    totp::{self, TotpParams, TotpSecret},
};

fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Draws a QR code with Unicode half blocks, two modules per character cell.
fn print_qr(text: &str) {
    let qr = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Low)
        .expect("an otpauth URI fits in a QR code");
    let border = 2;
    let dark = |x: i32, y: i32| qr.get_module(x, y);
    for y in (-border..qr.size() + border).step_by(2) {
        let line: String = (-border..qr.size() + border)
            .map(|x| match (dark(x, y), dark(x, y + 1)) {
                (true, true) => ' ',
                (true, false) => '▄',
                (false, true) => '▀',
                (false, false) => '█',
            })
            .collect();
        println!("    {line}");
    }
}

fn step(title: &str) {
    println!("\n── {title} ──");
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Instead of waiting for the app's next 30-second code, the demo moves
    // the service's clock forward: `offset` seconds are added to real time.
    let offset = Arc::new(AtomicU64::new(0));
    let clock_offset = Arc::clone(&offset);

    // In production the master key comes from a secret manager and stays fixed.
    let keyring = Keyring::new(KeyId(1), MasterKey::generate(&mut rand::rng()));
    let config = MfaContext::new(keyring, Policy::new("Quickstart"))?;
    let mfa = Mfa::new(MemoryStore::new(), config)
        .with_clock(move || system_now() + clock_offset.load(Ordering::SeqCst))
        .with_event_sink(|user: &str, event: &SecurityEvent| {
            println!(
                "   [audit] {user}: {}",
                serde_json::to_string(event).unwrap_or_default()
            );
        });
    let now = || system_now() + offset.load(Ordering::SeqCst);
    let user = "user-42";

    step("1. Begin setup");
    let setup = mfa.begin_setup(user, "alice@example.com").await?;
    println!("otpauth URI:   {}", setup.otpauth_uri());
    println!("manual entry:  {}", setup.secret_base32());
    println!("scan with an authenticator app (this demo plays the app itself):");
    print_qr(setup.otpauth_uri());

    // The "app": it knows the secret from the QR code.
    let app = TotpSecret::from_base32(setup.secret_base32())?;
    let app_code = |t: u64| totp::generate(&app, TotpParams::default(), t);

    step("2. Confirm with the app's current code");
    let confirm_code = app_code(now())?;
    let enabled = mfa.confirm_setup(user, &confirm_code).await?;
    println!("MFA enabled. Backup codes, shown this once:");
    for code in &enabled.backup_codes {
        println!("    {}", code.as_str());
    }
    println!(
        "security epoch now {}: every session from before is revoked",
        enabled.proof.epoch.get()
    );
    let backup: Vec<String> = enabled
        .backup_codes
        .as_strs()
        .iter()
        .map(|c| c.to_string())
        .collect();

    step("3. Log in: after the password, a single-use challenge");
    let LoginStep::SecondFactor(challenge) = mfa.begin_login(user, None).await? else {
        unreachable!("MFA is on");
    };
    println!("challenge open until {}", challenge.expires_at());
    match mfa.complete_login(&challenge, &confirm_code).await {
        Err(e) => println!("the confirming code is refused: {} ({})", e, e.code()),
        Ok(_) => unreachable!("a time step is accepted at most once"),
    }

    step("4. Complete it with the app's next code (30 s later)");
    offset.fetch_add(30, Ordering::SeqCst);
    let login_code = app_code(now())?;
    let verified = mfa.complete_login(&challenge, &login_code).await?;
    if let VerifiedBy::Totp(m) = verified.by {
        println!("accepted: time step {}, drift {} steps", m.step, m.drift);
    }
    println!(
        "the session keeps this proof: {}",
        serde_json::to_string(&verified.proof).unwrap_or_default()
    );

    step("5. The challenge cannot complete a second login");
    let replay = mfa.complete_login(&challenge, &backup[0]).await;
    println!(
        "refused: {}",
        replay.expect_err("challenges are single-use").code()
    );

    step("6. Another login, with a backup code");
    let LoginStep::SecondFactor(challenge) = mfa.begin_login(user, None).await? else {
        unreachable!("MFA is on");
    };
    let with_backup = mfa.complete_login(&challenge, &backup[0]).await?;
    println!(
        "accepted; {} backup codes left",
        with_backup.backup_codes_remaining
    );

    step("7. The same backup code a second time (a step-up)");
    let again = mfa.verify(user, &backup[0]).await;
    println!(
        "refused: {}",
        again.expect_err("backup codes are single-use").code()
    );

    step("8. Regenerate backup codes on the session's recent proof");
    let fresh = mfa
        .regenerate_backup_codes(user, Reauth::RecentProof(&with_backup.proof))
        .await?;
    println!("{} new codes, e.g. {}", fresh.len(), fresh.as_strs()[0]);
    let old = mfa.verify(user, &backup[1]).await;
    println!(
        "an old code is refused: {}",
        old.expect_err("old codes are dead").code()
    );

    step("9. Status");
    let status = mfa.status(user).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&status).unwrap_or_default()
    );
    assert!(status.mfa_enabled && status.backup_codes_remaining == 10);

    println!("\nDone.");
    Ok(())
}
