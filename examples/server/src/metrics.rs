//! `GET /metrics` in the Prometheus text format, from the
//! `metrics-exporter-prometheus` recorder: the crate's own metrics (its
//! `metrics` feature: operations, verifications by method and outcome,
//! lockouts, store latency, hashing permits and their wait, conflicts) and
//! the server's password checks. Served to an operator (the bearer token),
//! and, with `--metrics-addr`, on a second listener without one.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::operators::Operator;

/// The buckets of every `_seconds` histogram: 100 µs to 5 s.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Installs the process's recorder and describes the server's metrics; the
/// handle renders them.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .map_err(|e| format!("metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    metrics::describe_counter!(
        "app_password_checks_total",
        "Password checks by outcome: right, wrong, or locked (refused unhashed)."
    );
    // Histograms are kept in buckets that must be drained now and then.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticks.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Counts one password check: `right`, `wrong` or `locked`.
pub fn password_checked(outcome: &'static str) {
    metrics::counter!("app_password_checks_total", "outcome" => outcome).increment(1);
}

/// The server's metrics, in the Prometheus text format (version 0.0.4):
/// `mfa_operations_total`, `mfa_verifications_total` (by `method` and
/// `outcome`), `mfa_lockouts_total`, `mfa_hash_permits_in_use`,
/// `mfa_hash_wait_seconds`, `mfa_store_seconds`, `mfa_conflicts_total`,
/// `app_password_checks_total` and the rest of the crate's.
#[utoipa::path(get, path = "/metrics", tag = "operators",
    security(("operator" = [])),
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain", body = String),
        (status = 401, description = "`UNAUTHORIZED`: no operator token, or not one of the operators'.", body = Problem),
    ))]
pub async fn metrics(_operator: Operator, State(app): State<AppState>) -> impl IntoResponse {
    exposition(&app.metrics)
}

fn exposition(handle: &PrometheusHandle) -> impl IntoResponse + use<> {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

/// Serves `GET /metrics` alone on `addr`, without a token, until the
/// process ends: for a scraper on a private network.
pub async fn serve_apart(addr: SocketAddr, handle: PrometheusHandle) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the metrics address: {e}"))?;
    let router = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                async move { exposition(&handle) }
            }),
        )
        .fallback(|| async { ApiError::not_found() });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("the metrics listener stopped: {e}");
        }
    });
    Ok(local)
}
