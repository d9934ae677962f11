//! The floor of the throughput benchmark (`benches/throughput.rs`), compiled
//! only with the feature `bench-floor`: `POST /bench/floor {"userId"}` does
//! with the database what the login second step does — one load and one
//! compare-and-swap save of the same record — through the same HTTP stack
//! (connections, request context, JSON body), and nothing else: no token, no
//! decryption, no code.

use axum::Json;
use axum::extract::State;
use mfa::store::{MfaStore, WriteId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use mfa_axum::Body as JsonBody;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Floor {
    user_id: String,
}

pub async fn floor(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<Floor>,
) -> Result<Json<Value>, ApiError> {
    let store = app.mfa.store();
    let loaded = store
        .load(&body.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let version = store
        .save(
            &body.user_id,
            Some(loaded.version),
            &loaded.record,
            WriteId::random(),
        )
        .await?;
    Ok(Json(json!({ "version": version })))
}
