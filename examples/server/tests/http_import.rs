//! The importer (`examples/import/`, the guide's "Migrating from another
//! system", `mfa::guide::migration`) against a running server: one line per source system, each
//! with fixtures in that system's own encoding, then logins over HTTP with
//! TOTP codes computed here by hand (HMAC-SHA-1 and HMAC-SHA-256) and with
//! every old backup code, each once; bad lines (unknown email, MFA already
//! on, bad hex, a short secret, an unknown format, malformed JSON) are named
//! in the report and write nothing, and the exit status says so.
//!
//! The importer is an example of this package; the test builds it with
//! cargo into the server's target directory before running it
//! (`cargo test -p mfa-example-server --test http_import` runs this file
//! alone).

mod http_common;

use hmac::{Hmac, KeyInit, Mac};
use http_common::{Server, totp_at_step, unix_now};
use mfa::testkit::legacy::{devise_backup_code_hash, gitlab_backup_code_hash};
use serde_json::{Value, json};

use http_common::base32_encode as base32;

/// An 8-digit HMAC-SHA-256 TOTP code with a 60-second step, by hand.
fn sha256_code_at_step(key: &[u8], step: u64) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[31] & 0x0f) as usize;
    let value = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:08}", value % 100_000_000)
}

struct Imported {
    email: &'static str,
    /// The step the old system accepted last, if it exported one.
    last_step: Option<u64>,
    key: Vec<u8>,
    sha256: bool,
    codes: Vec<String>,
}

fn run_importer(server: &Server, lines: &[String]) -> (std::process::ExitStatus, String, String) {
    let dir = server.dir.as_ref().expect("the server's directory");
    let database = dir.path().join("server.db");
    http_common::run_importer(database.to_str().unwrap(), dir.path(), lines)
}

async fn status(server: &Server, email: &str) -> Value {
    // A user without MFA gets a session at the password step.
    let r = server
        .post(
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": http_common::PASSWORD})),
        )
        .await;
    match r.body["token"].as_str() {
        Some(token) => server.get("/api/user/me/totp", Some(token)).await.body,
        None => json!({"mfaEnabled": true}),
    }
}

#[tokio::test]
async fn every_format_imports_and_logs_in_and_bad_lines_write_nothing() {
    // Built (if need be) before the server starts: a build can take long
    // enough for the client's idle connections to meet the server's idle timeout.
    http_common::importer();
    let server = Server::start();
    let step = (unix_now() / 30.0) as u64;
    let key = |seed: u8| -> Vec<u8> {
        (0..20)
            .map(|i| seed.wrapping_mul(31).wrapping_add(i))
            .collect()
    };

    let django_codes = vec!["ab2cd3ef".to_owned(), "gh4ij5kl".to_owned()];
    let devise_codes = vec!["0f1e2d3c4b5a6978".to_owned(), "8899aabbccddeeff".to_owned()];
    let gitlab_codes = vec!["a1b2c3d4e5f60718".to_owned(), "f0e1d2c3b4a59687".to_owned()];
    let fortify_codes = vec![
        "aB3dE5gH7j-Kl9MnOp1Qr".to_owned(),
        "ZyXwVuTsRq-PoNmLkJiHg".to_owned(),
    ];
    let aspnet_codes = vec!["B2C3D-F4G5H".to_owned(), "JKMNP-QRTVW".to_owned()];
    let kratos_codes = vec!["ab12cd34".to_owned(), "ef56gh78".to_owned()];
    let otpauth_codes = vec!["Plain-Code-One".to_owned()];
    let pepper = "devise pepper";
    let users = vec![
        Imported {
            email: "django@example.com",
            last_step: Some(step),
            key: key(1),
            sha256: false,
            codes: django_codes.clone(),
        },
        Imported {
            email: "devise@example.com",
            last_step: Some(step),
            key: key(2),
            sha256: false,
            codes: devise_codes.clone(),
        },
        Imported {
            email: "gitlab@example.com",
            last_step: Some(step),
            key: key(3),
            sha256: false,
            codes: gitlab_codes.clone(),
        },
        Imported {
            email: "fortify@example.com",
            last_step: None,
            key: key(4),
            sha256: false,
            codes: fortify_codes.clone(),
        },
        Imported {
            email: "aspnet@example.com",
            last_step: None,
            key: key(5),
            sha256: false,
            codes: aspnet_codes.clone(),
        },
        Imported {
            email: "kratos@example.com",
            last_step: None,
            key: key(6),
            sha256: false,
            codes: kratos_codes.clone(),
        },
        Imported {
            email: "otpauth@example.com",
            last_step: None,
            key: key(7),
            sha256: true,
            codes: otpauth_codes.clone(),
        },
    ];
    for user in &users {
        server.register(user.email).await;
    }
    for email in [
        "badhex@example.com",
        "short@example.com",
        "unknown-format@example.com",
    ] {
        server.register(email).await;
    }
    let (_, mut enrolled_app, _) = server.enrolled_user("enrolled@example.com").await;

    let b32 = |seed| base32(&key(seed));
    let hex: String = key(1).iter().map(|b| format!("{b:02x}")).collect();
    let friendly_token = "q3Zk-9xV_aPw7LmN2bYc4RtE6uHj8KsD0fGhJ1lOiUyTrEwQaSdFgHjKlZxCvBnM";
    let lines: Vec<String> = vec![
        json!({"email": "django@example.com", "format": "django-otp", "key": hex,
               "step": 30, "t0": 0, "digits": 6, "last_t": step,
               "static_tokens": django_codes}),
        json!({"email": "devise@example.com", "format": "devise-two-factor",
               "otp_secret": b32(2), "consumed_timestep": step, "pepper": pepper,
               "otp_backup_codes": devise_codes.iter()
                   .map(|c| devise_backup_code_hash(c, pepper, 4)).collect::<Vec<_>>()}),
        json!({"email": "gitlab@example.com", "format": "gitlab",
               "otp_secret": b32(3), "consumed_timestep": step,
               "otp_backup_codes": [
                   gitlab_backup_code_hash(&gitlab_codes[0], friendly_token, 20_000),
                   gitlab_backup_code_hash(&gitlab_codes[1], friendly_token, 2)]}),
        json!({"email": "Fortify@Example.com ", "format": "fortify",
               "two_factor_secret": b32(4),
               "two_factor_recovery_codes": serde_json::to_string(&fortify_codes).unwrap()}),
        json!({"email": "aspnet@example.com", "format": "aspnet-identity",
               "AuthenticatorKey": b32(5), "RecoveryCodes": aspnet_codes.join(";")}),
        json!({"email": "kratos@example.com", "format": "kratos",
               "totp_url": format!("otpauth://totp/Kratos:kratos@example.com?secret={}&issuer=Kratos", b32(6)),
               "recovery_codes": [
                   {"code": kratos_codes[0]}, {"code": "used0000", "used_at": "2024-01-01T00:00:00Z"},
                   {"code": kratos_codes[1], "used_at": null}]}),
        json!({"email": "otpauth@example.com", "format": "otpauth",
               "otpauthUrl": format!("otpauth://totp/Acme:o?secret={}&algorithm=SHA256&digits=8&period=60", b32(7)),
               "backupCodes": otpauth_codes}),
        // Line 8 on: each fails and writes nothing.
        json!({"email": "nobody@example.com", "format": "otpauth",
               "otpauthUrl": format!("otpauth://totp/x?secret={}", b32(8))}),
        json!({"email": "enrolled@example.com", "format": "aspnet-identity",
               "AuthenticatorKey": b32(9)}),
        json!({"email": "badhex@example.com", "format": "django-otp", "key": "not hex at all"}),
        json!({"email": "short@example.com", "format": "fortify",
               "two_factor_secret": "JBSWY3DPEHPK3PXP"}),
        json!({"email": "unknown-format@example.com", "format": "authy", "secret": b32(10)}),
    ]
    .into_iter()
    .map(|v| v.to_string())
    .chain(["{\"email\": \"django@example.com\", \"format\": ".to_owned()])
    .collect();

    let (exit, stdout, stderr) = run_importer(&server, &lines);
    assert_eq!(exit.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("imported 7, failed 6"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for (line, what) in [
        (8, "no account"),
        (9, "MFA_ALREADY_ENABLED"),
        (10, "INVALID_IMPORT"),
        (11, "WEAK_SECRET"),
        (12, "unknown format"),
        (13, "malformed JSON"),
    ] {
        let reported = stderr
            .lines()
            .find(|l| l.starts_with(&format!("line {line}: ")))
            .unwrap_or_else(|| panic!("line {line} is not reported:\n{stderr}"));
        assert!(reported.contains(what), "{reported}");
    }
    for secret in [pepper, &django_codes[0], &fortify_codes[0], &b32(4)] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }

    // The failed lines wrote nothing.
    for email in [
        "badhex@example.com",
        "short@example.com",
        "unknown-format@example.com",
    ] {
        assert_eq!(status(&server, email).await["mfaEnabled"], false, "{email}");
    }
    let code = enrolled_app.next_code().await;
    let token = server
        .login_with("enrolled@example.com", "code", &code)
        .await;
    let own = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(own.body["backupCodesRemaining"], 10, "{}", own.text);

    for user in &users {
        let email = user.email;
        let at = |s: u64| {
            if user.sha256 {
                sha256_code_at_step(&user.key, s)
            } else {
                totp_at_step(&user.key, s)
            }
        };
        let now_step = if user.sha256 {
            (unix_now() / 60.0) as u64
        } else {
            (unix_now() / 30.0) as u64
        };
        // A step the old system accepted is refused; a later one logs in once.
        if let Some(last) = user.last_step {
            let mfa_token = server.login_for_mfa(email).await;
            let r = server.login_mfa(&mfa_token, "code", &at(last)).await;
            r.assert_problem(401, "INVALID_CODE");
        }
        let next = user
            .last_step
            .map_or(now_step, |last| last + 1)
            .max(now_step);
        let token = server.login_with(email, "code", &at(next)).await;
        let mfa_token = server.login_for_mfa(email).await;
        let r = server.login_mfa(&mfa_token, "code", &at(next)).await;
        r.assert_problem(401, "INVALID_CODE");
        let status = server.get("/api/user/me/totp", Some(&token)).await;
        assert_eq!(status.body["mfaEnabled"], true, "{email}: {}", status.text);
        assert_eq!(
            status.body["backupCodesRemaining"],
            user.codes.len(),
            "{email}: {}",
            status.text
        );
        // Hashed codes from devise-two-factor and GitLab: regeneration is due.
        let legacy = if email.starts_with("devise") || email.starts_with("gitlab") {
            user.codes.len()
        } else {
            0
        };
        assert_eq!(status.body["legacyBackupCodes"], legacy, "{}", status.text);
        // Every old backup code works once.
        for code in &user.codes {
            let token = server.login_with(email, "backupCode", code).await;
            assert!(!token.is_empty());
            let mfa_token = server.login_for_mfa(email).await;
            let again = server.login_mfa(&mfa_token, "backupCode", code).await;
            again.assert_problem(401, "INVALID_CODE");
        }
    }
}

/// A line that is not UTF-8, or longer than the importer's bound (64 KiB),
/// is reported with its number and skipped, and the lines after it are
/// imported (the importer used to stop at the first line it could not
/// decode).
#[tokio::test]
async fn a_line_that_is_not_utf8_or_too_long_is_reported_and_skipped() {
    http_common::importer();
    let server = Server::start();
    for email in ["first@example.com", "last@example.com"] {
        server.register(email).await;
    }
    let line = |email: &str, seed: u8| {
        let secret = base32(&[seed; 20]);
        json!({"email": email, "format": "otpauth",
               "otpauthUrl": format!("otpauth://totp/Old:{email}?secret={secret}&issuer=Old")})
        .to_string()
        .into_bytes()
    };
    let mut input = line("first@example.com", 7);
    input.extend_from_slice(
        b"\n{\"email\": \"bad\xff\xfe@example.com\", \"format\": \"otpauth\"}\r\n",
    );
    let mut long = b"{\"email\": \"long@example.com\", \"pad\": \"".to_vec();
    long.resize(64 * 1024 + 100, b'x');
    long.extend_from_slice(b"\"}\n");
    input.extend_from_slice(&long);
    input.extend_from_slice(b"\xc3\n");
    input.extend_from_slice(&line("last@example.com", 9));
    // No newline at the end of the last line.
    let dir = server.dir.as_ref().expect("the server's directory");
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, &input).expect("the input file");
    let output = std::process::Command::new(http_common::importer())
        .arg("--database")
        .arg(dir.path().join("server.db"))
        .arg(&file)
        .env("MFA_MASTER_KEY", http_common::MASTER_KEY)
        .output()
        .expect("the importer runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("line 1: imported first@example.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 5: imported last@example.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains("imported 2, failed 3"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("line 2: not UTF-8; skipped"), "{stderr}");
    assert!(
        stderr.contains("line 3: longer than 65536 bytes; skipped"),
        "{stderr}"
    );
    assert!(stderr.contains("line 4: not UTF-8; skipped"), "{stderr}");
    assert!(!stderr.contains("xxxxxxxx"), "the long line is not echoed");
    for email in ["first@example.com", "last@example.com"] {
        assert_eq!(status(&server, email).await["mfaEnabled"], true, "{email}");
    }
}
