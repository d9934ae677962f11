//! The example server under hostile input: malformed JSON, wrong types,
//! missing fields, non-ASCII digits, oversized bodies, wrong content types and
//! garbage credentials on every route, the operator routes included (with
//! bad reasons, odd user ids, and user tokens or near misses for the
//! operator token), and device tokens and `rememberDevice` flags of every
//! shape. Every answer must be a 4xx problem document with the contract's
//! fields, none may echo a submitted secret, and the server must keep
//! serving; a device token that is not valid, whatever its shape, is
//! ignored.

mod http_common;

use std::io::{Read, Write};
use std::sync::Arc;

use http_common::{Options, PASSWORD, Resp, Server};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;

/// Values that must never come back in an answer.
const PASSWORD_MARKER: &str = "P@ss-Marker-91827";
const CODE_MARKER: &str = "918273";
const BACKUP_MARKER: &str = "qqqqq-zzzzz";
const DEVICE_MARKER: &str = "Dev1ce-Marker-Tok3n-abcdefghijklmnopqrstuvw";
/// The operator token of the server under test: never echoed either.
const ADMIN_TOKEN: &str = "sweep-operator-token-abcdefghijklmnopqrstuvwxyz";

/// Who a route lets in.
#[derive(Clone, Copy, PartialEq)]
enum Auth {
    Nobody,
    /// A user's bearer session token.
    User,
    /// The operator token.
    Operator,
}

struct Route {
    method: Method,
    path: String,
    auth: Auth,
    body: bool,
}

fn route(method: Method, path: &str, auth: Auth, body: bool) -> Route {
    Route {
        method,
        path: path.to_owned(),
        auth,
        body,
    }
}

/// Every route; the operator routes for `user_id` (user A), for a well-formed
/// id that no user has, and for ids of other shapes.
fn routes(user_id: &str) -> Vec<Route> {
    let mut routes = vec![
        route(Method::GET, "/health", Auth::Nobody, false),
        route(Method::POST, "/api/auth/register", Auth::Nobody, true),
        route(Method::POST, "/api/auth/login", Auth::Nobody, true),
        route(Method::POST, "/api/auth/login/mfa", Auth::Nobody, true),
        route(Method::GET, "/api/user/me/totp", Auth::User, false),
        route(Method::POST, "/api/user/me/totp/setup", Auth::User, true),
        route(Method::POST, "/api/user/me/totp/confirm", Auth::User, true),
        route(
            Method::POST,
            "/api/user/me/totp/backup-codes/regenerate",
            Auth::User,
            false,
        ),
        route(
            Method::POST,
            "/api/user/profile/mfa/backup-codes",
            Auth::User,
            true,
        ),
        route(Method::POST, "/api/user/me/totp/disable", Auth::User, true),
        route(Method::POST, "/api/auth/step-up", Auth::User, true),
        route(Method::POST, "/api/user/me/totp/replace", Auth::User, true),
        route(
            Method::POST,
            "/api/user/me/totp/replace/confirm",
            Auth::User,
            true,
        ),
        route(
            Method::POST,
            "/api/user/me/devices/forget",
            Auth::User,
            false,
        ),
    ];
    for id in [
        user_id,
        "0123456789abcdef0123456789abcdef",
        "nobody",
        "%00",
        "%ff%fe",
        "..%2f..%2fetc",
        &"a".repeat(3000),
    ] {
        for action in ["unlock", "reset"] {
            routes.push(route(
                Method::POST,
                &format!("/api/admin/users/{id}/mfa/{action}"),
                Auth::Operator,
                true,
            ));
        }
    }
    routes
}

/// Bodies that are wrong for every route that takes one: not JSON, not an
/// object, wrong types, missing fields, codes in other scripts' digits.
fn bad_json_bodies(mfa_token: &str, bearer: &str) -> Vec<Vec<u8>> {
    let p = PASSWORD_MARKER;
    let c = CODE_MARKER;
    let b = BACKUP_MARKER;
    let mut bodies: Vec<Vec<u8>> = [
        "",
        " ",
        "{",
        "}",
        "{\"code\": }",
        "not json",
        "null",
        "[]",
        "true",
        "123",
        "\"918273\"",
        "{\"code\":\"918273\"",
        "{'code': '918273'}",
        "{\"code\":\"918273\",}",
        "{\"code\":\"918273\" \"password\":\"x\"}",
        "\u{feff}{\"code\":\"918273\"}",
        "{\"code\": 1e400}",
        "{\"code\": 918273}",
        "{\"code\": -918273}",
        "{\"code\": [\"918273\"]}",
        "{\"code\": {\"$gt\": \"\"}}",
        "{\"code\": null}",
        "{\"code\": true}",
        "{\"code\":\"918273\",\"code\":\"918274\"}",
        "{\"password\": null, \"code\": null}",
        "{}",
        "{\"reason\": null}",
        "{\"reason\": \"\"}",
        "{\"reason\": \"   \"}",
        "{\"reason\": 5}",
        "{\"reason\": [\"lost phone\"]}",
        "{\"reason\": {\"why\": \"lost phone\"}}",
        "{\"reason\": \"lost\\nphone\"}",
        "{\"reason\": \"lost\\u0000phone\"}",
        "{\"reason\": \"\\u001b[31mred\"}",
        "{\"why\": \"lost phone\"}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bodies.push(b"\xff\xfe{\"code\":\"\xc0\xaf\"}".to_vec());
    bodies.push(b"{\"code\":\"91\x00\x0082\"}".to_vec());
    bodies.push(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes());
    bodies.push(format!("{}1{}", "{\"a\":".repeat(2000), "}".repeat(2000)).into_bytes());
    let codes = [
        "１２３４５６",     // fullwidth
        "١٢٣٤٥٦",           // Arabic-Indic
        "۹۱۸۲۷۳",           // extended Arabic-Indic
        "९१८२७३",           // Devanagari
        "９１８２７３",     // fullwidth, the marker
        "91827３",          // one fullwidth digit
        "𝟗𝟏𝟖𝟐𝟕𝟑",           // mathematical bold
        "\u{202e}918273",   // right-to-left override
        "918273\u{200b}",   // zero-width space
        "9182730000000000", // too long
        "91827",            // too short
        "0x918273",
        "+918273",
        "-918273",
        "9.18273",
        "",
        "   ",
        "ｑｑｑｑｑ-ｚｚｚｚｚ", // fullwidth backup code
        "qqqqq-zzzzz-qqqqq",
        "ǫǫǫǫǫ-ǫǫǫǫǫ",
        "qqqqq_zzzzz!",
    ];
    for code in codes {
        for body in [
            json!({ "code": code }),
            json!({ "password": p, "code": code }),
            json!({ "mfaToken": mfa_token, "code": code }),
            json!({ "mfaToken": mfa_token, "backupCode": code }),
        ] {
            bodies.push(body.to_string().into_bytes());
        }
    }
    let long = "9".repeat(15_000);
    for body in [
        json!({ "code": long }),
        json!({ "password": p }),
        json!({ "password": p, "code": 918273 }),
        json!({ "password": 12345678, "code": c }),
        json!({ "password": [p], "code": c }),
        json!({ "password": { "p": p }, "code": c }),
        json!({ "password": p, "code": [c] }),
        json!({ "password": p, "code": null }),
        json!({ "email": 5, "password": p }),
        json!({ "email": ["a@example.com"], "password": p }),
        json!({ "email": "no-at-sign", "password": p }),
        json!({ "email": "@example.com", "password": p }),
        json!({ "email": "a b@example.com", "password": p }),
        json!({ "email": "a@example.com", "password": 12345678 }),
        json!({ "email": "short@example.com", "password": "p" }),
        json!({ "email": "x".repeat(300) + "@example.com", "password": p }),
        json!({ "mfaToken": 5, "code": c }),
        json!({ "mfaToken": "", "code": c }),
        json!({ "mfaToken": null, "backupCode": b }),
        json!({ "mfaToken": bearer, "code": c }),
        json!({ "mfaToken": bearer, "backupCode": b }),
        json!({ "mfaToken": format!("{mfa_token}x"), "code": c }),
        json!({ "mfaToken": mfa_token, "code": c, "backupCode": b }),
        json!({ "mfaToken": mfa_token, "code": 918273 }),
        json!({ "mfaToken": mfa_token, "backupCode": ["qqqqq", "zzzzz"] }),
        json!({ "mfaToken": mfa_token }),
        json!({ "mfaToken": [mfa_token], "code": c }),
        json!({ "email": "a@example.com", "password": p, "deviceToken": DEVICE_MARKER }),
        json!({ "email": "a@example.com", "password": p, "deviceToken": 5 }),
        json!({ "email": "a@example.com", "password": p, "deviceToken": null }),
        json!({ "email": "a@example.com", "password": p, "deviceToken": [DEVICE_MARKER] }),
        json!({ "email": "a@example.com", "password": p, "deviceToken": { "t": DEVICE_MARKER } }),
        json!({ "email": "a@example.com", "password": p, "deviceToken": "x".repeat(15_000) }),
        json!({ "email": "a@example.com", "deviceToken": DEVICE_MARKER }),
        json!({ "mfaToken": mfa_token, "code": c, "rememberDevice": "yes" }),
        json!({ "mfaToken": mfa_token, "code": c, "rememberDevice": 1 }),
        json!({ "mfaToken": mfa_token, "code": c, "rememberDevice": [true] }),
        json!({ "mfaToken": mfa_token, "backupCode": b, "rememberDevice": true }),
        json!({ "mfaToken": mfa_token, "rememberDevice": true }),
        json!({ "reason": "r".repeat(513) }),
        json!({ "reason": format!("{}\u{7f}", "r".repeat(20)) }),
    ] {
        bodies.push(body.to_string().into_bytes());
    }
    bodies
}

/// A body that would pass if only its content type were right.
fn plausible_body(mfa_token: &str) -> Vec<u8> {
    json!({
        "email": "nobody@example.com",
        "password": PASSWORD_MARKER,
        "mfaToken": mfa_token,
        "code": CODE_MARKER,
    })
    .to_string()
    .into_bytes()
}

const WRONG_CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("text/plain"),
    Some("text/json"),
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data; boundary=x"),
    Some("application/jsonx"),
    Some("application/xml"),
    Some("json"),
    Some(""),
    Some("application/json-seq"),
    Some("*/*"),
];

fn headers(content_type: Option<&str>, auth: Option<&[u8]>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(ct) = content_type {
        h.insert("content-type", HeaderValue::from_str(ct).unwrap());
    }
    if let Some(auth) = auth {
        h.insert("authorization", HeaderValue::from_bytes(auth).unwrap());
    }
    h
}

struct Case {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    /// The status it must get, when that is certain; otherwise any 4xx.
    expect: Option<u16>,
}

/// Checks one answer; returns a description of what is wrong with it.
fn check(case: &Case, r: &Resp, secrets: &[String]) -> Result<(), String> {
    let what = format!(
        "{} {} ({} bytes) -> {} {}",
        case.method,
        case.path,
        case.body.len(),
        r.status,
        r.text
    );
    if !(400..500).contains(&r.status) {
        return Err(format!("not a 4xx: {what}"));
    }
    if let Some(expected) = case.expect
        && r.status != expected
    {
        return Err(format!("expected {expected}: {what}"));
    }
    if r.header("content-type") != Some("application/problem+json") {
        return Err(format!("not a problem document: {what}"));
    }
    for field in ["type", "title", "detail", "code", "requestId"] {
        if r.body[field].as_str().is_none_or(str::is_empty) {
            return Err(format!("no `{field}`: {what}"));
        }
    }
    if r.body["status"] != r.status {
        return Err(format!("`status` differs: {what}"));
    }
    let id = r.header("x-request-id").unwrap_or("");
    if r.body["requestId"] != id {
        return Err(format!("requestId is not x-request-id: {what}"));
    }
    // The request id is random hex: leave it out of the search for echoes.
    let text = r.text.replace(id, "");
    for secret in secrets {
        if text.contains(secret.as_str()) {
            return Err(format!("echoes a submitted secret: {what}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_bad_requests_get_4xx_problems_and_the_server_survives() {
    let server = Arc::new(Server::start_with(Options {
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Options::default()
    }));

    // One user with MFA on (A), one with a setup pending (B).
    let id_a = server.register("a@example.com").await;
    let token = server.login("a@example.com").await;
    let mut app_a = server.begin_totp_setup(&token).await;
    let (codes_a, token_a) = server
        .confirm_totp_setup(&token, &app_a.next_code().await)
        .await;
    let mfa_token_a = server.login_for_mfa("a@example.com").await;
    server.register("b@example.com").await;
    let token_b = server.login("b@example.com").await;
    let setup_b = server.setup(&token_b, PASSWORD).await;
    assert_eq!(setup_b.status, 200);
    let secret_b = setup_b.body["secret"].as_str().unwrap().to_owned();

    let mut secrets: Vec<String> = vec![
        PASSWORD_MARKER.into(),
        PASSWORD.into(),
        CODE_MARKER.into(),
        BACKUP_MARKER.into(),
        DEVICE_MARKER.into(),
        "１２３４５６".into(),
        "١٢٣٤٥٦".into(),
        token_a.clone(),
        mfa_token_a.clone(),
        token_b.clone(),
        secret_b,
        ADMIN_TOKEN.into(),
    ];
    secrets.extend(codes_a.iter().cloned());

    let bearer_a = format!("Bearer {token_a}");
    let bearer_b = format!("Bearer {token_b}");
    let bad_auth: Vec<Vec<u8>> = vec![
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer    ".to_vec(),
        b"Basic dXNlcjpwYXNz".to_vec(),
        b"bearer garbage".to_vec(),
        b"Bearer a.b.c".to_vec(),
        b"Bearer ...".to_vec(),
        format!("Bearer {mfa_token_a}").into_bytes(),
        format!("Token {token_a}").into_bytes(),
        format!("Bearer {token_a}x").into_bytes(),
        format!("Bearer {token_a} {token_a}").into_bytes(),
        token_a.clone().into_bytes(),
        format!("Bearer {}", "A".repeat(6000)).into_bytes(),
        b"Bearer \xff\xfe\xfd".to_vec(),
        format!(
            "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            token_a.split('.').nth(1).unwrap()
        )
        .into_bytes(),
    ];

    // The operator routes refuse these too, and a user's session token.
    let mut bad_operator_auth = bad_auth.clone();
    bad_operator_auth.extend([
        bearer_a.clone().into_bytes(),
        format!("Bearer {ADMIN_TOKEN}x").into_bytes(),
        format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]).into_bytes(),
        format!("Bearer {}", ADMIN_TOKEN.to_uppercase()).into_bytes(),
        format!("Basic {ADMIN_TOKEN}").into_bytes(),
        ADMIN_TOKEN.as_bytes().to_vec(),
    ]);
    let bearer_admin = format!("Bearer {ADMIN_TOKEN}");

    let mut cases = Vec::new();
    let bodies = bad_json_bodies(&mfa_token_a, &token_a);
    for r in routes(&id_a) {
        // Methods the route does not have.
        for method in [Method::PUT, Method::DELETE, Method::PATCH] {
            cases.push(Case {
                method,
                path: r.path.clone(),
                headers: headers(Some("application/json"), Some(bearer_a.as_bytes())),
                body: plausible_body(&mfa_token_a),
                expect: Some(405),
            });
        }
        // Oversized bodies, declared.
        for size in [16 * 1024 + 1, 64 * 1024, 1024 * 1024] {
            let mut body = b"{\"code\":\"".to_vec();
            body.resize(size - 2, b'9');
            body.extend_from_slice(b"\"}");
            cases.push(Case {
                method: r.method.clone(),
                path: r.path.clone(),
                headers: headers(Some("application/json"), Some(bearer_a.as_bytes())),
                body,
                expect: Some(413),
            });
        }
        let refused = match r.auth {
            Auth::Nobody => &[][..],
            Auth::User => &bad_auth[..],
            Auth::Operator => &bad_operator_auth[..],
        };
        if r.auth != Auth::Nobody {
            for auth in refused.iter().map(|a| Some(a.as_slice())).chain([None]) {
                cases.push(Case {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    headers: headers(Some("application/json"), auth),
                    body: plausible_body(&mfa_token_a),
                    expect: Some(401),
                });
            }
        }
        if r.body {
            let tokens: Vec<Option<&[u8]>> = match r.auth {
                Auth::Nobody => vec![None],
                Auth::User => vec![Some(bearer_a.as_bytes()), Some(bearer_b.as_bytes())],
                Auth::Operator => vec![Some(bearer_admin.as_bytes())],
            };
            for auth in tokens {
                for body in &bodies {
                    cases.push(Case {
                        method: r.method.clone(),
                        path: r.path.clone(),
                        headers: headers(Some("application/json"), auth),
                        body: body.clone(),
                        expect: None,
                    });
                }
                for &ct in WRONG_CONTENT_TYPES {
                    cases.push(Case {
                        method: r.method.clone(),
                        path: r.path.clone(),
                        headers: headers(ct, auth),
                        body: plausible_body(&mfa_token_a),
                        expect: Some(415),
                    });
                }
                cases.push(Case {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    headers: headers(Some("application/x-www-form-urlencoded"), auth),
                    body: format!("password={PASSWORD_MARKER}&code={CODE_MARKER}").into_bytes(),
                    expect: Some(415),
                });
            }
        }
    }
    assert!(cases.len() >= 500, "only {} cases", cases.len());

    // Send them eight at a time.
    let total = cases.len();
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let secrets = Arc::new(secrets);
    let mut tasks = tokio::task::JoinSet::new();
    for case in cases {
        let (server, limit, secrets) = (
            Arc::clone(&server),
            Arc::clone(&limit),
            Arc::clone(&secrets),
        );
        tasks.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let r = server
                .try_raw(
                    case.method.clone(),
                    &case.path,
                    case.headers.clone(),
                    case.body.clone(),
                )
                .await;
            match r {
                Ok(r) => check(&case, &r, &secrets),
                Err(e) => Err(format!(
                    "no answer to {} {} ({} bytes, {:?}): {e:?}",
                    case.method,
                    case.path,
                    case.body.len(),
                    case.headers
                )),
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(result) = tasks.join_next().await {
        if let Err(failure) = result.expect("a request task") {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} answers are wrong; the first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Nothing was logged as a server-side failure.
    assert!(
        !server.stderr().contains("error"),
        "server errors: {}",
        server.stderr()
    );
    // It still serves: health, A's status, and a whole new enrollment.
    assert_eq!(server.get("/health", None).await.status, 200);
    let status = server.get("/api/user/me/totp", Some(&token_a)).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.body["mfaEnabled"], true);
    let (token_c, mut app, codes_c) = server.enrolled_user("c@example.com").await;
    let mfa_token_c = server.login_for_mfa("c@example.com").await;
    let r = server
        .post(
            "/api/auth/login/mfa",
            None,
            Some(json!({"mfaToken": mfa_token_c, "code": app.next_code().await})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mfa_token_c = server.login_for_mfa("c@example.com").await;
    let r = server
        .post(
            "/api/auth/login/mfa",
            None,
            Some(json!({"mfaToken": mfa_token_c, "backupCode": codes_c[0]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let status = server.get("/api/user/me/totp", Some(&token_c)).await;
    assert_eq!(status.body["backupCodesRemaining"], 9);
}

/// With the right password, a `deviceToken` of any shape that is not a
/// valid device token is ignored: the answer is the usual one (`mfaRequired`
/// with MFA on, a session with MFA off), the same bytes apart from the
/// `mfaToken` or session token. Only a body that is not JSON is refused.
#[tokio::test]
async fn device_tokens_of_any_shape_are_ignored_at_login() {
    let server = Server::start();
    server.enrolled_user("on@example.com").await;
    server.register("off@example.com").await;
    let shapes = [
        json!(null),
        json!(""),
        json!(DEVICE_MARKER),
        json!("\u{0}\u{1}\u{7f}"),
        json!("１２３４５６７８"),
        json!("é".repeat(3000)),
        json!("=".repeat(43)),
        json!("A".repeat(43)),
        json!(-1),
        json!(1e300),
        json!(false),
        json!([]),
        json!([DEVICE_MARKER]),
        json!({}),
        json!({ "deviceToken": DEVICE_MARKER }),
    ];
    for (email, field) in [("on@example.com", "mfaToken"), ("off@example.com", "token")] {
        let mut answers = Vec::new();
        for shape in &shapes {
            let r = server.login_with_device(email, shape.clone()).await;
            assert_eq!(r.status, 200, "{shape}: {}", r.text);
            assert_eq!(r.header("content-type"), Some("application/json"));
            let token = r.body[field].as_str().expect("a token");
            assert!(!r.text.contains(DEVICE_MARKER));
            answers.push(r.text.replace(token, "TOKEN"));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    }
    // Malformed JSON is refused whatever the token, and never echoed.
    for body in [
        format!("{{\"email\":\"on@example.com\",\"password\":\"{PASSWORD}\",\"deviceToken\":}}"),
        format!(
            "{{\"email\":\"on@example.com\",\"password\":\"{PASSWORD}\",\"deviceToken\":\"{DEVICE_MARKER}\""
        ),
        format!(
            "{{\"email\":\"on@example.com\",\"password\":\"{PASSWORD}\",\"deviceToken\":{DEVICE_MARKER}}}"
        ),
    ] {
        let r = server
            .raw(
                Method::POST,
                "/api/auth/login",
                http_common::json_headers(),
                body.into_bytes(),
            )
            .await;
        r.assert_problem(400, "VALIDATION_FAILED");
        assert!(!r.text.contains(DEVICE_MARKER) && !r.text.contains(PASSWORD));
    }
}

/// Sends raw bytes over one connection and returns the raw answer.
fn raw_exchange(server: &Server, request: &[u8]) -> String {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    // The server may answer (and close) before the whole body is sent.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn undeclared_oversized_bodies_are_refused_too() {
    let server = Server::start();
    // Chunked, so the size is only known while reading: 40 chunks of 1 KiB.
    let mut request = format!(
        "POST /api/auth/login HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        server.base.trim_start_matches("http://")
    )
    .into_bytes();
    request.extend_from_slice(b"1\r\n{\r\n");
    for _ in 0..40 {
        request.extend_from_slice(b"400\r\n");
        request.extend_from_slice(&[b' '; 0x400]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"1\r\n}\r\n0\r\n\r\n");
    let answer = raw_exchange(&server, &request);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(
        answer.contains("\"code\":\"PAYLOAD_TOO_LARGE\""),
        "{answer}"
    );

    // A small chunked body is fine.
    let body = json!({"email": "nobody@example.com", "password": "x"}).to_string();
    let request = format!(
        "POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let answer = raw_exchange(&server, request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("INVALID_CREDENTIALS"), "{answer}");
}
