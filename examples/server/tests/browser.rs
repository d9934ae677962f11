//! The browser page (`GET /`) in a real browser: headless Chromium driven
//! over WebDriver (chromedriver, through `fantoccini`), against the built
//! server on a temporary database.
//!
//! The walk: register; enable MFA, reading the QR code from a screenshot of
//! the page (decoded with `rqrr`) and computing codes from its secret with
//! the tests' own RFC 6238 implementation; the backup codes shown once, and
//! downloaded; log out; log in with the second step, after a wrong code
//! whose problem document's `detail` the page shows, remembering the device;
//! log out and in again, recognised by the remembered device; a refused
//! regeneration (403 `STEP_UP_REQUIRED`), step-up with a backup code,
//! regeneration, forgetting devices, replacing the authenticator (the new
//! QR code read the same way), and disabling MFA. The first half runs in a
//! phone-sized window, the rest in a desktop one. The test fails on any
//! console error, uncaught exception or Content-Security-Policy violation,
//! read from the browser's log (chromedriver's `goog:loggingPrefs`) and from
//! listeners installed in the page; a deliberate violation at the end
//! proves that both catch one.
//!
//! A second walk uses passkeys, through Chromium's virtual authenticator
//! (the WebDriver WebAuthn extension) on the page at `http://localhost`:
//! add a passkey (MFA on, backup codes shown), log out, sign in with the
//! passkey alone, log in with the password and the passkey, refused while the
//! authenticator does not verify the user, rename it, refused to remove it as
//! the last factor, add an authenticator app beside it (the backup codes
//! stay), then remove it.
//!
//! Both walks run again against the axum-login application of `mfa-axum`,
//! which mounts the same page on cookie sessions.
//!
//! With `MFA_SCREENSHOTS_DIR` set, the main steps are saved there as PNG
//! files (those of `docs/screenshots/`).
//!
//! Chromium and chromedriver are looked up on `PATH` (or named by
//! `MFA_TEST_CHROMIUM` and `MFA_TEST_CHROMEDRIVER`). Without them the walk is
//! left out with a note on stderr, unless `CI` is set: then it fails.
//! `page_answers_with_its_security_headers` needs no browser and always runs.

mod http_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use http_common::{Authenticator, Options, PASSWORD, Server};
use serde_json::{Value, json};

/// Every id that the HTTP contract names for the page.
const CONTRACT_IDS: [&str; 32] = [
    "email",
    "password",
    "register",
    "login",
    "mfa-code",
    "remember-device",
    "submit-mfa",
    "status",
    "setup-password",
    "enable-mfa",
    "qr",
    "secret",
    "confirm-code",
    "confirm",
    "backup-codes",
    "regenerate",
    "step-up-code",
    "step-up",
    "replace-password",
    "replace-code",
    "disable-password",
    "disable-code",
    "disable",
    "logout",
    "error",
    "add-passkey",
    "passkey-name",
    "passkey-password",
    "passkeys",
    "passkey-login",
    "mfa-passkey",
    "step-up-passkey",
];

const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const PHONE: (u32, u32) = (390, 800);
const DESKTOP: (u32, u32) = (1280, 900);

#[tokio::test]
async fn page_answers_with_its_security_headers() {
    let server = Server::start();
    // Printed right after `listening on`, at the default origin (passkeys
    // work on http://localhost, not on http://127.0.0.1).
    let line = format!("page: {}/\n", server.origin());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stdout().contains(&line) {
        assert!(
            Instant::now() < deadline,
            "the server prints the page's address: {}",
            server.stdout()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/webauthn.js", "text/javascript; charset=utf-8"),
        ("/app.css", "text/css; charset=utf-8"),
    ] {
        let r = server.get(path, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(r.header("content-security-policy"), Some(CSP), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(r.header("set-cookie").is_none(), "no cookie on {path}");
        assert!(!r.text.is_empty());
    }
    let html = server.get("/", None).await.text;
    for id in CONTRACT_IDS {
        assert_eq!(
            html.matches(&format!("id=\"{id}\"")).count(),
            1,
            "exactly one element with id {id}"
        );
    }
    // Nothing inline and nothing from elsewhere: the CSP would refuse it.
    assert!(!html.contains("<script>") && !html.contains(" style=") && !html.contains("<style"));
    assert_eq!(inline_handlers(&html), Vec::<String>::new());
    for needle in ["http://", "https://", "//"] {
        for attr in ["src=\"", "href=\""] {
            assert!(
                !html.contains(&format!("{attr}{needle}")),
                "no {attr}{needle} resource in the page"
            );
        }
    }
    // The page's routes take GET only; the rest of the API is unchanged.
    server
        .post("/", None, None)
        .await
        .assert_problem(405, "METHOD_NOT_ALLOWED");
    server
        .get("/app.mjs", None)
        .await
        .assert_problem(404, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_real_browser() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let started = Instant::now();
    let server = Server::start();
    let browser = Browser::start(&tools).await;
    walk(&server, &browser, "MFA Example").await;
    browser.close().await;
    eprintln!(
        "browser walk finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_in_a_real_browser() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let started = Instant::now();
    let server = Server::start();
    let browser = Browser::start(&tools).await;
    passkey_walk(&server, &browser).await;
    browser.close().await;
    eprintln!(
        "passkey walk finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Both walks against the axum-login application of `mfa-axum`
/// (`mfa-axum/examples/axum_login.rs`), which mounts the same page on
/// cookie sessions: the answers carry no token, the browser sends the
/// `session` cookie, and "Sign out" ends the session at the application's
/// `POST /api/auth/logout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_on_cookie_sessions() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let started = Instant::now();
    let app = || {
        Server::start_with(Options {
            binary: Some(http_common::axum_login_binary()),
            session_cookie: Some("session"),
            extra_args: vec!["--insecure-password-delay".into(), "1".into()],
            ..Options::default()
        })
    };
    let (server, browser) = (app(), Browser::start(&tools).await);
    walk(&server, &browser, "axum-login example").await;
    browser.close().await;
    let (server, browser) = (app(), Browser::start(&tools).await);
    passkey_walk(&server, &browser).await;
    // Signed out, the cookie's session is gone: the API refuses it.
    let cookie = browser
        .client
        .get_named_cookie("session")
        .await
        .expect("the page's session cookie");
    let cookie = cookie.value().to_owned();
    let r = server.get("/api/user/me/totp", Some(&cookie)).await;
    assert_eq!(r.status, 200, "signed in: {}", r.text);
    browser.click("logout").await;
    browser.wait_visible("login").await;
    let r = server.get("/api/user/me/totp", Some(&cookie)).await;
    r.assert_problem(401, "UNAUTHENTICATED");
    browser.close().await;
    eprintln!(
        "cookie-session walks finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Under `--policy nist-aal2` a backup code used at the login's second step
/// is replaced: the page shows the new code once, in the codes section, and
/// that code is the one the server stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reissued_backup_code_on_the_page() {
    let Some(tools) = BrowserTools::find() else {
        return;
    };
    let server = Server::start_with(Options {
        extra_args: vec!["--policy".into(), "nist-aal2".into()],
        ..Options::default()
    });
    let email = "reissue@example.com";
    let (_, _, codes) = server.enrolled_user(email).await;
    let b = Browser::start(&tools).await;
    b.client.goto(&server.url("/")).await.expect("the page");
    b.install_collector().await;
    b.fill("email", email).await;
    b.fill("password", &format!("{PASSWORD}\u{E007}")).await; // Enter submits
    b.wait_visible("mfa-code").await;
    b.fill("mfa-code", &codes[0]).await;
    b.click("submit-mfa").await;
    b.wait_text("status", "MFA on").await;
    b.wait_visible("codes-section").await;
    b.wait_text("codes-title", "new backup code").await;
    let shown = b.backup_codes().await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(!codes.contains(&shown[0]), "{shown:?}");
    b.click("codes-done").await;
    assert!(!b.visible("codes-section").await);
    // The code shown logs in (and is replaced in turn).
    let mfa_token = server.login_for_mfa(email).await;
    let r = server.login_mfa(&mfa_token, "backupCode", &shown[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["newBackupCode"].is_string());
    b.close().await;
}

async fn passkey_walk(server: &Server, b: &Browser) {
    let email = "pia@example.com";
    let shots = std::env::var_os("MFA_SCREENSHOTS_DIR").map(PathBuf::from);
    b.client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("window size");
    // WebAuthn needs a secure context: http://localhost is one.
    b.client
        .goto(&format!("{}/", server.origin()))
        .await
        .expect("the page");
    b.install_collector().await;
    let authenticator = b.virtual_authenticator().await;

    b.fill("email", email).await;
    b.fill("password", PASSWORD).await;
    b.click("register").await;
    b.wait_text("status", "MFA off").await;

    // Add a passkey: the first factor turns MFA on, with backup codes.
    b.fill("passkey-name", "Laptop <b>1</b>").await;
    b.fill("passkey-password", PASSWORD).await;
    b.click("add-passkey").await;
    b.wait_js("return document.querySelectorAll('#backup-codes li').length === 10")
        .await;
    b.wait_text("status", "MFA on (1 passkey)").await;
    b.wait_js("return document.querySelectorAll('#passkeys li').length === 1")
        .await;
    // The name is text, not markup.
    assert_eq!(b.passkey_names().await, ["Laptop <b>1</b>"]);
    assert_eq!(
        b.js("return document.querySelectorAll('#passkeys b').length")
            .await,
        json!(0)
    );
    let codes = b.backup_codes().await;
    save(
        &shots,
        "passkey-added",
        &b.client.screenshot().await.unwrap(),
    );
    b.click("codes-done").await;
    assert_eq!(b.credential_count(&authenticator).await, 1);

    // Log out; sign in with the passkey alone.
    b.click("logout").await;
    b.wait_visible("login").await;
    b.click("passkey-login").await;
    b.wait_text("status", "MFA on (1 passkey)").await;
    assert!(!b.visible("error").await);

    // Log out; the password, then the passkey at the second step — from here
    // on without the browser's JSON helpers, through the page's own codec.
    let native = b
        .js(
            "return typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function' \
             && typeof PublicKeyCredential.prototype.toJSON === 'function'",
        )
        .await;
    eprintln!("the browser's WebAuthn JSON helpers: {native}");
    let gone = b
        .js("delete PublicKeyCredential.parseRequestOptionsFromJSON; \
             delete PublicKeyCredential.parseCreationOptionsFromJSON; \
             delete PublicKeyCredential.prototype.toJSON; \
             return [typeof PublicKeyCredential.parseRequestOptionsFromJSON, \
                     typeof PublicKeyCredential.prototype.toJSON]")
        .await;
    assert_eq!(gone, json!(["undefined", "undefined"]));
    b.click("logout").await;
    b.wait_visible("login").await;
    b.fill("email", email).await;
    b.fill("password", PASSWORD).await;
    b.click("login").await;
    b.wait_visible("mfa-passkey").await;
    save(
        &shots,
        "passkey-second-step",
        &b.client.screenshot().await.unwrap(),
    );
    b.click("mfa-passkey").await;
    b.wait_text("status", "MFA on").await;

    // An authenticator that does not verify its user is refused.
    b.click("logout").await;
    b.wait_visible("login").await;
    b.set_user_verified(&authenticator, false).await;
    b.fill("email", email).await;
    b.fill("password", PASSWORD).await;
    b.click("login").await;
    b.wait_visible("mfa-passkey").await;
    b.click("mfa-passkey").await;
    b.wait_visible("error").await;
    let refused = b.text("error").await;
    eprintln!("without user verification: {refused}");
    assert!(
        refused.contains("The passkey was not accepted.") || refused.contains("did not verify you"),
        "{refused}"
    );
    assert!(b.visible("mfa-passkey").await, "still at the second step");
    b.set_user_verified(&authenticator, true).await;
    b.click("mfa-passkey").await;
    b.wait_text("status", "MFA on").await;
    assert!(!b.visible("error").await);

    // Rename: the name becomes a field, then is saved.
    b.click_css("#passkeys button.rename").await;
    b.fill_css("#passkeys input.rename-name", "Work laptop")
        .await;
    b.click_css("#passkeys button.rename").await;
    b.wait_js("return document.querySelector('#passkeys .name')?.textContent === 'Work laptop'")
        .await;

    // Step-up with the passkey.
    b.click("step-up-passkey").await;
    b.wait_text("notice", "Confirmed").await;
    assert!(!b.visible("error").await);

    // The only factor cannot be removed.
    b.click_css("#passkeys button.remove").await;
    b.wait_text("error", "only factor left").await;

    // An authenticator app beside it, with a recent confirmation: the
    // backup codes stay.
    b.fill("setup-password", PASSWORD).await;
    b.click("enable-mfa").await;
    b.wait_visible("secret").await;
    let secret = b.text("secret").await.replace(' ', "");
    let mut phone = Authenticator::new(&secret);
    b.fill("confirm-code", &phone.next_code().await).await;
    b.click("confirm").await;
    b.wait_text("status", "an authenticator app and 1 passkey")
        .await;
    assert!(b.text("status").await.contains("10 backup codes left"));
    assert!(!b.visible("codes-section").await, "no new codes");

    // Now the passkey may go.
    b.click_css("#passkeys button.remove").await;
    b.wait_js("return document.querySelectorAll('#passkeys li').length === 0")
        .await;
    b.wait_text("status", "MFA on (an authenticator app)").await;
    assert!(!b.visible("error").await);

    // The server agrees; a backup code from the start still works.
    let token = server.login_with(email, "backupCode", &codes[0]).await;
    let r = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(r.body["mfaMethods"], json!(["totp"]), "{}", r.text);

    let collected = b.collected().await;
    assert_eq!(collected, json!([]), "errors caught in the page");
    let log = b.browser_log().await;
    let unexpected: Vec<&Value> = log.iter().filter(|e| !expected_entry(e)).collect();
    assert!(
        unexpected.is_empty(),
        "the browser logged errors: {unexpected:#?}"
    );
}

/// The page's whole walk on `server`, whose policy's issuer is `issuer`.
async fn walk(server: &Server, b: &Browser, issuer: &str) {
    let email = "ann@example.com";
    let shots = std::env::var_os("MFA_SCREENSHOTS_DIR").map(PathBuf::from);

    // ---- a phone-sized window --------------------------------------------
    b.client
        .set_window_size(PHONE.0, PHONE.1)
        .await
        .expect("window size");
    b.client.goto(&server.url("/")).await.expect("the page");
    b.install_collector().await;
    assert_eq!(b.client.title().await.unwrap(), "MFA example");
    // Every form field has a label; nothing overflows 360 px.
    let unlabelled = b
        .js("return [...document.querySelectorAll('input')].filter(i => i.labels.length === 0).map(i => i.id)")
        .await;
    assert_eq!(unlabelled, json!([]), "inputs without a label");
    b.client.set_window_size(360, 740).await.unwrap();
    let overflow = b
        .js("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "the page is wider than 360 px by {overflow}"
    );
    b.client.set_window_size(PHONE.0, PHONE.1).await.unwrap();

    // Register: the page creates the account and signs in.
    b.fill("email", email).await;
    b.fill("password", PASSWORD).await;
    b.click("register").await;
    b.wait_text("status", "MFA off").await;
    assert!(!b.visible("error").await);

    // Enable MFA with the password: the QR code, read from a screenshot of
    // the page.
    b.fill("setup-password", PASSWORD).await;
    b.click("enable-mfa").await;
    b.wait_visible("qr").await;
    b.wait_js("return document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 0")
        .await;
    let src = b.attr("qr", "src").await;
    assert!(src.starts_with("data:image/png;base64,"), "{src}");
    b.scroll_to("qr").await;
    let png = b.client.screenshot().await.expect("a screenshot");
    let uri = decode_qr(&png);
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let issuer = format!("issuer={}", issuer.replace(' ', "%20"));
    assert!(
        uri.contains(&issuer) || uri.contains(&issuer.replace("%20", "+")),
        "{uri}"
    );
    let secret = query_param(&uri, "secret").expect("a secret in the QR code");
    let shown = b.text("secret").await.replace(' ', "");
    assert_eq!(
        shown, secret,
        "the secret for manual entry is the QR code's"
    );
    save(&shots, "enroll", &png);
    let mut phone = Authenticator::new(&secret);

    b.fill("confirm-code", &phone.next_code().await).await;
    b.click("confirm").await;
    b.wait_js("return document.querySelectorAll('#backup-codes li').length === 10")
        .await;
    let first_codes = b.backup_codes().await;
    assert!(
        first_codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
    );
    b.wait_text("status", "MFA on").await;
    assert!(b.text("status").await.contains("10 backup codes left"));
    assert!(b.visible("copy-codes").await);
    b.js("document.getElementById('account-title').scrollIntoView(); return true")
        .await;
    save(
        &shots,
        "backup-codes",
        &b.client.screenshot().await.unwrap(),
    );

    // Copy: the Clipboard API, after a click.
    b.click("copy-codes").await;
    b.wait_text("notice", "Backup codes copied.").await;
    assert!(!b.visible("error").await);

    // Download: a Blob saved as mfa-backup-codes.txt holding every code.
    b.click("download-codes").await;
    let file = b.downloads.path().join("mfa-backup-codes.txt");
    let text = wait_for_file(&file).await;
    for code in &first_codes {
        assert!(text.contains(code.as_str()), "{code} in the download");
    }

    // Done with them: they go from the page.
    b.click("codes-done").await;
    assert!(!b.visible("codes-section").await);
    assert_eq!(b.backup_codes().await.len(), 0);

    // ---- log out, log in with the second step ---------------------------
    b.click("logout").await;
    b.wait_visible("login").await;
    assert!(!b.visible("account-view").await);
    b.fill("email", email).await;
    b.fill("password", &format!("{PASSWORD}\u{E007}")).await; // Enter submits
    b.wait_visible("mfa-code").await;
    // Focus moved to the code, with a visible focus ring.
    let focus = b
        .js("const e = document.activeElement; return [e.id, getComputedStyle(e).outlineStyle]")
        .await;
    assert_eq!(focus, json!(["mfa-code", "solid"]));

    // A wrong code: the problem document's detail, in #error.
    b.fill("mfa-code", &phone.wrong_code()).await;
    b.click("submit-mfa").await;
    b.wait_text("error", "The code is not valid.").await;
    assert_eq!(b.attr("error", "role").await, "alert");
    assert!(b.visible("mfa-code").await, "still at the second step");

    b.fill("mfa-code", &phone.next_code().await).await;
    b.click("remember-device").await;
    save(
        &shots,
        "login-second-step",
        &b.client.screenshot().await.unwrap(),
    );
    b.click("submit-mfa").await;
    b.wait_text("status", "MFA on").await;
    assert!(!b.visible("error").await, "the error is cleared");
    assert!(b.text("status").await.contains("1 remembered device"));
    let stored = b
        .js("return localStorage.getItem('mfa-example.deviceTokens')")
        .await;
    let stored: Value =
        serde_json::from_str(stored.as_str().expect("a device token stored")).unwrap();
    assert!(stored[email].as_str().is_some_and(|t| !t.is_empty()));
    let cookies = b.js("return document.cookie").await;
    assert_eq!(cookies, json!(""), "no cookie: the session is in memory");
    b.client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    save(&shots, "status", &b.client.screenshot().await.unwrap());

    // ---- a desktop window -------------------------------------------------
    b.client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();

    // The remembered device skips the second step.
    b.click("logout").await;
    b.wait_visible("login").await;
    b.fill("email", email).await;
    b.fill("password", PASSWORD).await;
    b.click("login").await;
    b.wait_text("status", "MFA on").await;
    assert!(!b.visible("mfa-view").await, "no second step");

    // That session has no proof: regenerating needs a step-up first.
    b.click("regenerate").await;
    b.wait_text("error", "Verify your second factor again to continue.")
        .await;
    assert!(!b.visible("codes-section").await);

    // Step-up with a backup code, then regenerate.
    b.fill("step-up-code", &first_codes[0]).await;
    b.click("step-up").await;
    b.wait_text("status", "9 backup codes left").await;
    assert!(!b.visible("error").await);
    b.click("regenerate").await;
    b.wait_js("return document.querySelectorAll('#backup-codes li').length === 10")
        .await;
    let second_codes = b.backup_codes().await;
    assert!(second_codes.iter().all(|c| !first_codes.contains(c)));
    b.wait_text("status", "10 backup codes left").await;
    b.click("codes-done").await;

    // Forget the remembered devices.
    b.click("forget-devices").await;
    b.wait_text("status", "0 remembered devices").await;
    let stored = b
        .js("return JSON.parse(localStorage.getItem('mfa-example.deviceTokens') || '{}')")
        .await;
    assert!(stored.get(email).is_none(), "the device token is dropped");

    // A new phone, begun with the password and a backup code (the old phone
    // may be lost): its QR code read from a screenshot too, confirmed with
    // one of its codes.
    b.fill("replace-password", PASSWORD).await;
    b.fill("replace-code", &second_codes[0]).await;
    b.click("replace").await;
    b.wait_visible("replace-qr").await;
    b.wait_js("return document.getElementById('replace-qr').naturalWidth > 0")
        .await;
    b.wait_text("status", "a new authenticator waits").await;
    b.scroll_to("replace-qr").await;
    let uri = decode_qr(&b.client.screenshot().await.unwrap());
    let new_secret = query_param(&uri, "secret").expect("a secret");
    assert_ne!(new_secret, secret);
    assert_eq!(b.text("replace-secret").await.replace(' ', ""), new_secret);
    let mut new_phone = Authenticator::new(&new_secret);
    b.fill("replace-confirm-code", &new_phone.next_code().await)
        .await;
    b.click("replace-confirm").await;
    b.wait_js("return document.getElementById('replace-setup').hidden")
        .await;
    b.wait_text("status", "MFA on").await;
    assert!(!b.text("status").await.contains("waits"));
    assert!(!b.visible("error").await);

    // Disable with the password and a code of the new app.
    b.fill("disable-password", PASSWORD).await;
    b.fill("disable-code", &new_phone.next_code().await).await;
    b.click("disable").await;
    b.wait_text("status", "MFA off").await;
    assert!(b.visible("enable-mfa").await);
    assert!(!b.visible("manage-section").await);
    b.click("logout").await;
    b.wait_visible("login").await;

    // The server agrees: MFA is off for the account.
    let token = server.login(email).await;
    let r = server.get("/api/user/me/totp", Some(&token)).await;
    assert_eq!(r.body["mfaEnabled"], false, "{}", r.text);

    // ---- no console error, no CSP violation ---------------------------------
    let collected = b.collected().await;
    assert_eq!(collected, json!([]), "errors caught in the page");
    let log = b.browser_log().await;
    // The log is read for real: the refused wrong code is in it.
    assert!(
        log.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("/api/auth/login/mfa") && m.contains("401"))),
        "the browser's log holds the refused code: {log:#?}"
    );
    let unexpected: Vec<&Value> = log.iter().filter(|e| !expected_entry(e)).collect();
    assert!(
        unexpected.is_empty(),
        "the browser logged errors: {unexpected:#?}"
    );

    // The detectors work: an inline script is refused and reported by both.
    b.client
        .execute(
            "const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.append(s);",
            vec![],
        )
        .await
        .unwrap();
    b.wait_js("return window.__problems.length > 0").await;
    assert_eq!(b.js("return window.ran === undefined").await, json!(true));
    let collected = b.collected().await.to_string();
    assert!(collected.contains("script-src"), "{collected}");
    let log = wait_for_log(b, "Content Security Policy").await;
    let violation: Vec<&Value> = log
        .iter()
        .filter(|e| e.to_string().contains("Content Security Policy"))
        .collect();
    assert!(
        !violation.is_empty(),
        "the browser logs the violation: {log:#?}"
    );
    assert!(
        violation.iter().all(|e| !expected_entry(e)),
        "a CSP violation is never an expected entry: {violation:#?}"
    );
}

/// Attributes like ` onclick=` (inline event handlers, which the CSP refuses).
fn inline_handlers(html: &str) -> Vec<String> {
    html.match_indices(" on")
        .filter_map(|(at, _)| {
            let name: String = html[at + 1..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            html[at + 1 + name.len()..].starts_with('=').then_some(name)
        })
        .collect()
}

/// What the walk provokes on purpose: the refused wrong code (401) and the
/// refused regeneration (403), which Chromium logs as failed loads.
fn expected_entry(entry: &Value) -> bool {
    let message = entry["message"].as_str().unwrap_or_default();
    let level = entry["level"].as_str().unwrap_or_default();
    if !matches!(level, "SEVERE" | "WARNING") {
        return true;
    }
    entry["source"] == "network"
        && ((message.contains("/api/auth/login/mfa") && message.contains("status of 401"))
            || (message.contains("/api/user/me/totp/backup-codes/regenerate")
                && message.contains("status of 403"))
            || (message.contains("/api/user/me/passkeys/") && message.contains("status of 409")))
}

async fn wait_for_log(b: &Browser, needle: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut all = Vec::new();
    loop {
        all.extend(b.browser_log().await);
        if all.iter().any(|e| e.to_string().contains(needle)) || Instant::now() > deadline {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} was not downloaded",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the one QR code in a PNG screenshot.
fn decode_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png)
        .expect("a PNG screenshot")
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the screenshot");
    let (_, content) = grids[0].decode().expect("a readable QR code");
    content
}

fn query_param(uri: &str, name: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Saves a screenshot into `dir` (when set) as `<name>.png`, recompressed.
fn save(dir: &Option<PathBuf>, name: &str, png: &[u8]) {
    let Some(dir) = dir else { return };
    std::fs::create_dir_all(dir).expect("the screenshots directory");
    let image = image::load_from_memory(png)
        .expect("a PNG screenshot")
        .to_rgb8();
    let path = dir.join(format!("{name}.png"));
    let file = std::fs::File::create(&path).expect("a screenshot file");
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        std::io::BufWriter::new(file),
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    );
    image.write_with_encoder(encoder).expect("a PNG");
}

/// Chromium and chromedriver.
struct BrowserTools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl BrowserTools {
    /// Both tools, or `None` (with a note on stderr) when one is missing;
    /// panics instead when `CI` is set.
    fn find() -> Option<BrowserTools> {
        let chromium = tool(
            "MFA_TEST_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = tool("MFA_TEST_CHROMEDRIVER", &["chromedriver"]);
        if let (Some(chromium), Some(chromedriver)) = (&chromium, &chromedriver) {
            return Some(BrowserTools {
                chromium: chromium.clone(),
                chromedriver: chromedriver.clone(),
            });
        }
        let missing = match (chromium, chromedriver) {
            (None, None) => "Chromium and chromedriver are",
            (None, _) => "Chromium is",
            _ => "chromedriver is",
        };
        if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
            panic!(
                "{missing} not installed but CI is set: the browser test must run in CI \
                 (.ci/run installs the packages chromium and chromium-driver)"
            );
        }
        let _ = writeln!(
            std::io::stderr(),
            "note: the browser walk of tests/browser.rs was left out: {missing} not found \
             (on PATH, or at MFA_TEST_CHROMIUM and MFA_TEST_CHROMEDRIVER). \
             To run it: apt-get install chromium chromium-driver"
        );
        None
    }
}

/// The file `var` names if it is set (`None` if there is no such file),
/// otherwise the first of `names` on `PATH`.
fn tool(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// A free loopback port (free when asked; chromedriver binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A headless Chromium session through a chromedriver of the test's own.
/// Dropping it ends the session (the browser quits) and the driver.
struct Browser {
    client: Client,
    driver: Child,
    driver_url: String,
    session: String,
    downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(tools: &BrowserTools) -> Browser {
        let port = free_port();
        let driver_url = format!("http://127.0.0.1:{port}");
        let mut driver = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{driver_url}/status")).send().await
                && let Ok(status) = r.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            if let Ok(Some(exit)) = driver.try_wait() {
                panic!("chromedriver exited ({exit}) before it was ready");
            }
            assert!(Instant::now() < deadline, "chromedriver is not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let profile = tempfile::tempdir().unwrap();
        let downloads = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-extensions".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            "--password-store=basic".to_owned(),
            "--lang=en-US".to_owned(),
            format!("--window-size={},{}", PHONE.0, PHONE.1),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if running_as_root() {
            args.push("--no-sandbox".to_owned());
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tools.chromium,
                "args": args,
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| {
                let _ = driver.kill();
                panic!("no browser session: {e}")
            });
        let session = client
            .session_id()
            .await
            .expect("a session id")
            .expect("a session id");
        Browser {
            client,
            driver,
            driver_url,
            session,
            downloads,
            _profile: profile,
        }
    }

    async fn close(&self) {
        let _ = self.client.clone().close().await;
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    async fn wait_js(&self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.js(condition).await != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for `{condition}`; #error says {:?}",
                self.text("error").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element's whole text, shown or not.
    async fn text(&self, id: &str) -> String {
        let value = self
            .client
            .execute(
                "const e = document.getElementById(arguments[0]); return e ? e.textContent : null",
                vec![json!(id)],
            )
            .await
            .unwrap();
        value
            .as_str()
            .unwrap_or_else(|| panic!("no element #{id}"))
            .to_owned()
    }

    async fn attr(&self, id: &str, name: &str) -> String {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    async fn visible(&self, id: &str) -> bool {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .is_displayed()
            .await
            .unwrap()
    }

    async fn wait_visible(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.visible(id).await {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for #{id}; #error says {:?}",
                self.text("error").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element is shown and its text contains `needle`.
    async fn wait_text(&self, id: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.visible(id).await && self.text(id).await.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?} in #{id}, which says {:?}; #error says {:?}",
                self.text(id).await,
                self.text("error").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `value` into the field, as a user would, after clearing it.
    async fn fill(&self, id: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"));
        field.clear().await.unwrap();
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("typing into #{id}: {e}"));
    }

    async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking #{id}: {e}"));
    }

    async fn click_css(&self, selector: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    async fn fill_css(&self, selector: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn passkey_names(&self) -> Vec<String> {
        let names = self
            .js("return [...document.querySelectorAll('#passkeys .name')].map(e => e.textContent)")
            .await;
        serde_json::from_value(names).expect("strings")
    }

    /// A virtual authenticator (the WebDriver WebAuthn extension) for this
    /// session: a platform authenticator that keeps discoverable credentials
    /// and verifies its user. Its id.
    async fn virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        });
        let id = self
            .client
            .issue_cmd(WebAuthnCommand::post("authenticator", options))
            .await
            .expect("a virtual authenticator");
        id.as_str().expect("its id").to_owned()
    }

    /// Whether the virtual authenticator verifies its user from now on.
    async fn set_user_verified(&self, authenticator: &str, verified: bool) {
        self.client
            .issue_cmd(WebAuthnCommand::post(
                &format!("authenticator/{authenticator}/uv"),
                json!({ "isUserVerified": verified }),
            ))
            .await
            .expect("user verification set");
    }

    /// How many credentials the virtual authenticator holds.
    async fn credential_count(&self, authenticator: &str) -> usize {
        let credentials = self
            .client
            .issue_cmd(WebAuthnCommand::get(&format!(
                "authenticator/{authenticator}/credentials"
            )))
            .await
            .expect("the credentials");
        credentials.as_array().map_or(0, Vec::len)
    }

    async fn scroll_to(&self, id: &str) {
        self.client
            .execute(
                "document.getElementById(arguments[0]).scrollIntoView({block: 'center'})",
                vec![json!(id)],
            )
            .await
            .unwrap();
    }

    async fn backup_codes(&self) -> Vec<String> {
        let codes = self
            .js("return [...document.querySelectorAll('#backup-codes li')].map(li => li.textContent)")
            .await;
        serde_json::from_value(codes).expect("strings")
    }

    /// Listeners for uncaught errors, rejected promises and CSP violations,
    /// collecting into `window.__problems` (a second check beside the
    /// browser's log; they see what happens after the page loaded).
    async fn install_collector(&self) {
        self.js(
            "window.__problems = [];
             window.addEventListener('error', e => window.__problems.push('error: ' + e.message));
             window.addEventListener('unhandledrejection', e => window.__problems.push('rejection: ' + e.reason));
             document.addEventListener('securitypolicyviolation', e =>
               window.__problems.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI));
             return true;",
        )
        .await;
    }

    async fn collected(&self) -> Value {
        self.js("return window.__problems").await
    }

    /// The browser's log since the last call: chromedriver's log endpoint,
    /// which fantoccini does not wrap, asked directly.
    async fn browser_log(&self) -> Vec<Value> {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let r = http
            .post(format!(
                "{}/session/{}/se/log",
                self.driver_url, self.session
            ))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .expect("the log endpoint answers");
        let body: Value = r.json().await.expect("JSON");
        body["value"]
            .as_array()
            .unwrap_or_else(|| panic!("a log: {body}"))
            .clone()
    }
}

/// A command of the WebDriver WebAuthn extension
/// (`/session/{id}/webauthn/...`), which fantoccini sends like its own.
#[derive(Debug)]
struct WebAuthnCommand {
    path: String,
    body: Option<Value>,
}

impl WebAuthnCommand {
    fn post(path: &str, body: Value) -> Self {
        WebAuthnCommand {
            path: path.to_owned(),
            body: Some(body),
        }
    }

    fn get(path: &str) -> Self {
        WebAuthnCommand {
            path: path.to_owned(),
            body: None,
        }
    }
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/webauthn/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (hyper::http::Method, Option<String>) {
        match &self.body {
            Some(body) => (hyper::http::Method::POST, Some(body.to_string())),
            None => (hyper::http::Method::GET, None),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and so the browser) even when the walk panicked,
        // with a plain blocking request: no runtime is needed here.
        let addr = self.driver_url.trim_start_matches("http://").to_owned();
        if let Ok(mut stream) = TcpStream::connect(&addr) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
