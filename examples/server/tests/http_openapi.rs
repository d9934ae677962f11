//! `GET /openapi.json` describes every route of the server and only those:
//! the document's operations are the routes of the server's README table, each
//! documented method is served (not the 404 or 405 of an unknown route) and
//! every other method is 405, undocumented paths are 404, and the operator
//! routes are in the document exactly when they exist. `GET /docs` renders
//! the same document as a self-contained page.

mod http_common;

use std::collections::BTreeSet;

use http_common::{Options, Server};
use serde_json::Value;
use utoipa::OpenApi as _;

const ADMIN_TOKEN: &str = "operator-token-0123456789abcdefghijklmnop";

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// `(METHOD, /path)` of every route in the table of routes of the server's
/// README (`examples/server/README.md`).
fn readme_routes() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("the server's README");
    let table = readme
        .split("\n## The routes\n")
        .nth(1)
        .expect("the server's README's section on the routes");
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| {
            let first = line.split('|').nth(1)?.trim().trim_matches('`');
            let (method, path) = first.split_once(' ')?;
            METHODS
                .contains(&method)
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

/// `(METHOD, /path)` of every operation of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|m| METHODS.contains(&m.to_uppercase().as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

async fn document(server: &Server) -> Value {
    let r = server.get("/openapi.json", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.body
}

/// `method path`, with an empty JSON object as the body if `json`.
async fn send(server: &Server, method: &str, path: &str, json: bool) -> http_common::Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    if json {
        server
            .raw(method, path, http_common::json_headers(), b"{}".to_vec())
            .await
    } else {
        server
            .raw(method, path, Default::default(), Vec::new())
            .await
    }
}

/// Whether the answer is the router's own 404 (no such route) or 405.
fn unrouted(r: &http_common::Resp) -> bool {
    r.status == 405 || (r.status == 404 && r.body["detail"] == "No route matches this path.")
}

#[tokio::test]
async fn the_document_describes_every_route_and_no_other() {
    let server = Server::start_with(Options {
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        ..Options::default()
    });
    let doc = document(&server).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );

    let operations = documented(&doc);
    let readme = readme_routes();
    assert!(readme.len() >= 20, "the server README's table: {readme:?}");
    assert_eq!(
        operations, readme,
        "the document's operations are the server README's routes"
    );

    let id = "0123456789abcdef0123456789abcdef";
    for (method, path) in &operations {
        let path = path.replace("{id}", id);
        // The documented method reaches a handler: whatever it answers, it
        // is not the router's 404 or 405.
        let r = send(&server, method, &path, true).await;
        assert!(!unrouted(&r), "{method} {path}: {} {}", r.status, r.text);
        // Every method the path does not document is 405.
        let documented_here: Vec<&String> = operations
            .iter()
            .filter(|(_, p)| p.replace("{id}", id) == path)
            .map(|(m, _)| m)
            .collect();
        for other in METHODS
            .iter()
            .filter(|m| !documented_here.iter().any(|d| d == *m))
        {
            let r = send(&server, other, &path, false).await;
            assert_eq!(r.status, 405, "{other} {path}: {}", r.text);
            r.assert_problem(405, "METHOD_NOT_ALLOWED");
        }
    }
    // Paths that are not in the document are not routes.
    for path in [
        "/index.html",
        "/api",
        "/api/auth",
        "/api/user/me",
        "/api/user/me/totp/unknown",
        "/openapi.yaml",
        "/docs/",
        "/api/admin/users",
    ] {
        for method in ["GET", "POST"] {
            let r = send(&server, method, path, false).await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
            assert!(unrouted(&r), "{method} {path}: {}", r.text);
        }
    }
}

/// The router is built only through `OpenApiRouter`s, which document what
/// they route: `routes.rs` registers the server's own routes with
/// `routes!(…)` and nests (and for the page merges) `mfa-axum`'s routers
/// (built the same way), and no
/// route by another way (but the benchmark's floor, which exists only in a
/// build made for the benchmark); the document then has as many operations
/// as the server's own routes and `mfa-axum`'s documents together.
#[tokio::test]
async fn every_route_is_registered_with_its_description() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes.rs"))
        .expect("routes.rs");
    let plain: Vec<&str> = source
        .lines()
        .filter(|line| {
            line.contains(".route(")
                || ((line.contains(".nest(") || line.contains(".merge("))
                    && !line.contains("mfa_axum::"))
        })
        .collect();
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert!(plain[0].contains("/bench/floor"), "{plain:?}");
    let main = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/main.rs"))
        .expect("main.rs");
    assert!(!main.contains(".route(") && !main.contains(".nest(") && !main.contains(".merge("));
    let own = source.matches(".routes(routes!(").count();
    let nested = source.matches(".nest(\"/api\", mfa_axum::").count();
    assert_eq!(
        nested, 3,
        "the MFA routes, passwordless login and the operators'"
    );
    assert!(source.contains(".merge(mfa_axum::page_router())"));
    let from_mfa_axum: usize = [
        mfa_axum::PageApiDoc::openapi(),
        mfa_axum::ApiDoc::openapi(),
        mfa_axum::PasswordlessApiDoc::openapi(),
        mfa_axum::OperatorApiDoc::openapi(),
    ]
    .iter()
    .map(|doc| {
        let doc = serde_json::to_value(doc).unwrap();
        doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum::<usize>()
    })
    .sum();
    let server = Server::start_with(Options {
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        ..Options::default()
    });
    assert_eq!(
        (own, own + from_mfa_axum),
        (6, documented(&document(&server).await).len())
    );
}

/// The operator routes: `/api/admin/…` and the metrics.
fn operator_path(path: &str) -> bool {
    path.starts_with("/api/admin/") || path == "/metrics"
}

#[tokio::test]
async fn without_the_operator_token_the_operator_routes_are_neither_served_nor_described() {
    let server = Server::start();
    let doc = document(&server).await;
    let operations = documented(&doc);
    let expected: BTreeSet<_> = readme_routes()
        .into_iter()
        .filter(|(_, path)| !operator_path(path))
        .collect();
    assert_eq!(operations, expected);
    let r = send(
        &server,
        "POST",
        "/api/admin/users/0123456789abcdef0123456789abcdef/mfa/reset",
        true,
    )
    .await;
    r.assert_problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn every_operation_has_its_answers_schemas_and_security() {
    let server = Server::start_with(Options {
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        ..Options::default()
    });
    let doc = document(&server).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    // The crate's schemas, merged in.
    for name in [
        "ProblemDetails",
        "SetupAnswer",
        "BackupCodesAnswer",
        "VerifiedAnswer",
        "MfaStatus",
        "MfaMethod",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
    // Problem codes: the crate's and the server's own.
    let codes: Vec<&str> = schemas["ProblemDetails"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for code in mfa::Error::CODES.iter().chain(&[
        "VALIDATION_FAILED",
        "EMAIL_TAKEN",
        "INVALID_CREDENTIALS",
        "INVALID_PASSWORD",
        "TOO_MANY_ATTEMPTS",
        "UNAUTHENTICATED",
        "NOT_FOUND",
    ]) {
        assert!(codes.contains(code), "{code}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["scheme"], "bearer");
    assert_eq!(schemes["operator"]["scheme"], "bearer");

    for (method, path) in documented(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        let success: Vec<&String> = responses.keys().filter(|s| s.starts_with('2')).collect();
        assert_eq!(success.len(), 1, "{method} {path}: one success status");
        for (status, response) in responses {
            let content = response["content"].as_object().expect("a body");
            if status.starts_with('2') {
                assert!(!content.contains_key("application/problem+json"));
            } else {
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/ProblemDetails",
                    "{method} {path} {status}"
                );
            }
        }
        for status in ["400", "408", "413", "500"] {
            assert!(responses.contains_key(status), "{method} {path} {status}");
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("415"), "{method} {path}");
        }
        let authenticated = path.starts_with("/api/user/") || path.starts_with("/api/auth/step-up");
        let operator = operator_path(&path);
        let security = op["security"].to_string();
        assert_eq!(
            security.contains("\"session\""),
            authenticated,
            "{method} {path}: {security}"
        );
        assert_eq!(
            security.contains("\"operator\""),
            operator,
            "{method} {path}"
        );
        if authenticated || operator {
            assert!(responses.contains_key("401"), "{method} {path}");
        }
    }
    // A few answers the contract names, with their schemas.
    let answer = |method: &str, path: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(answer("post", "/api/auth/register", "201"), "Created");
    assert_eq!(
        answer("post", "/api/user/me/totp/setup", "200"),
        "SetupAnswer"
    );
    assert_eq!(
        answer("post", "/api/user/me/totp/replace", "200"),
        "SetupAnswer"
    );
    assert_eq!(
        answer("post", "/api/user/me/totp/backup-codes/regenerate", "200"),
        "BackupCodesAnswer"
    );
    assert_eq!(answer("get", "/api/user/me/totp", "200"), "MfaStatus");
    assert_eq!(
        answer("post", "/api/auth/login/mfa", "200"),
        "LoginMfaAnswer"
    );
    let paths = &doc["paths"];
    assert!(paths["/api/auth/login/mfa"]["post"]["responses"]["429"].is_object());
    assert!(paths["/api/user/me/totp/setup"]["post"]["responses"]["409"].is_object());
    assert!(paths["/api/user/me/devices/forget"]["post"]["responses"]["403"].is_object());
}

#[tokio::test]
async fn the_docs_page_renders_the_document_with_nothing_from_elsewhere() {
    let server = Server::start();
    let doc = document(&server).await;
    let r = server.get("/docs", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = &r.text;
    assert!(html.starts_with("<!doctype html>"));
    assert!(!html.contains("<script"), "no script");
    for attribute in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
    ] {
        assert!(
            !html.contains(attribute),
            "nothing from elsewhere: {attribute}"
        );
    }
    for (method, path) in documented(&doc) {
        assert!(
            html.contains(&format!(
                "<span class=\"method\">{}</span> <code>{}</code>",
                method, path
            )),
            "{method} {path}"
        );
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
}

/// Every answer — JSON, problem documents, the page and its files, the
/// document and its page — says `X-Content-Type-Options: nosniff`, and the
/// two HTML pages may not be framed (`/docs` could be, and its JSON answers
/// lacked `nosniff`).
#[tokio::test]
async fn every_answer_says_nosniff_and_the_pages_refuse_frames() {
    let server = Server::start();
    server.register("headers@example.com").await;
    let token = server.login("headers@example.com").await;
    let login = serde_json::json!({"email": "headers@example.com", "password": "wrong password"});
    let answers = [
        server.get("/health", None).await,
        server.get("/openapi.json", None).await,
        server.get("/docs", None).await,
        server.get("/", None).await,
        server.get("/app.js", None).await,
        server.get("/app.css", None).await,
        server.get("/api/user/me/totp", Some(&token)).await,
        server.get("/api/user/me/totp", None).await,
        server.get("/nowhere", None).await,
        server.post("/api/auth/login", None, Some(login)).await,
        server.post("/api/auth/login", None, None).await,
        server
            .raw(
                reqwest::Method::DELETE,
                "/health",
                Default::default(),
                Vec::new(),
            )
            .await,
    ];
    for r in &answers {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{r:?}");
    }
    assert_eq!(
        answers.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 200, 200, 200, 200, 200, 401, 404, 401, 415, 405]
    );
    for path in ["/docs", "/"] {
        let r = server.get(path, None).await;
        let policy = r.header("content-security-policy").unwrap_or("");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
    }
}
