//! The server fuzzed against its own description: Schemathesis (`st`, from
//! PyPI; `.ci/run` installs it) reads `GET /openapi.json` and runs its
//! examples, coverage, fuzzing and stateful phases against a server on a
//! temporary database, with the checks for server errors, for status codes,
//! content types, bodies and headers that the document does not describe,
//! and for requests outside the document that are not refused. It must find
//! nothing.
//!
//! The requests carry the session of a user with MFA on and a fresh proof,
//! so that the routes managing the factor answer their success too (and are
//! checked against their schemas), not only 401. The run is bounded: a few
//! examples per operation, and the whole run is stopped, failing, after
//! [`LIMIT`].
//!
//! Without `st` on the `PATH` (or in `SCHEMATHESIS`) the test says so and
//! passes, except when `CI` is set: in CI it must run.

mod http_common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_common::{Options, Server};

const ADMIN_TOKEN: &str = "operator-token-0123456789abcdefghijklmnop";

/// The longest a run of the default size may take.
const LIMIT: Duration = Duration::from_secs(300);

/// The Schemathesis command, if there is one.
fn schemathesis() -> Option<String> {
    let program = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "st".to_owned());
    let found = Command::new(&program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(program);
    }
    if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
        panic!(
            "Schemathesis (`{program}`) is not installed but CI is set: \
             `pip install schemathesis` (.ci/run does)"
        );
    }
    eprintln!(
        "NOTE: Schemathesis (`{program}`) is not installed: the server was not fuzzed \
         against its OpenAPI document (`pip install schemathesis` to run it)"
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let Some(st) = schemathesis() else {
        return;
    };
    let server = Server::start_with(Options {
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        ..Options::default()
    });
    let (token, _app, _codes) = server.enrolled_user("fuzz@example.com").await;
    let work = tempfile::tempdir().unwrap();
    // Each security scheme of the document with its credentials: a user's
    // session for `bearer`, the operator token for `operator`.
    let config = work.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[auth.openapi.bearer]\nbearer = \"{token}\"\n\n\
             [auth.openapi.operator]\nbearer = \"{ADMIN_TOKEN}\"\n"
        ),
    )
    .unwrap();
    // Longer runs: MFA_SCHEMATHESIS_EXAMPLES=500 (50 in CI).
    let examples = std::env::var("MFA_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "50".into());
    let started = Instant::now();
    let mut child = Command::new(&st)
        .current_dir(work.path())
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &server.url("/openapi.json"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance,negative_data_rejection",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            &examples,
            // One worker: with two, Hypothesis's shared strategy caches
            // (the description of a lambda, computed on first `repr`) race
            // between the threads, and now and then a phase dies with a
            // `KeyError` inside Hypothesis, reported as a flaky runtime error
            // that is not the server's.
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            "--no-color",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Schemathesis starts");
    // Read both pipes on their own threads, so that a full pipe never stalls
    // the run, and stop the run once LIMIT has passed.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > LIMIT && std::env::var("MFA_SCHEMATHESIS_EXAMPLES").is_err() {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let report = format!("{out}\n{err}");
    let Some(status) = status else {
        panic!("Schemathesis did not finish within {LIMIT:?}:\n{report}");
    };
    eprintln!(
        "Schemathesis finished in {:.0} s:\n{}",
        started.elapsed().as_secs_f64(),
        out.lines()
            .skip_while(|l| !l.contains("SUMMARY"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(status.success(), "Schemathesis found problems:\n{report}");
    let cases = out
        .lines()
        .find(|line| line.contains(" generated, "))
        .unwrap_or_default();
    assert!(
        cases.contains(" passed") && !cases.contains("fail"),
        "Schemathesis ran no test case, or found a failure:\n{report}"
    );
    assert!(
        !out.contains("No tests were run"),
        "every phase ran (the stateful one through the document's links):\n{report}"
    );
    let stderr = server.stderr();
    assert!(
        !stderr.contains("panicked"),
        "the server panicked under fuzzing:\n{stderr}"
    );
}
