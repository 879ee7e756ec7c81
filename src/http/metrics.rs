//! `GET /metrics`, `GET /metrics/performance` and `GET`/`PUT /metrics/performance/config`
//! (SPEC §7): admin routes that read and configure the [`crate::perf`] registry.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use crate::perf::Gauges;

/// The Prometheus text exposition. The gauges of the backend are read here; when the
/// store cannot answer they are left out rather than failing the scrape.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "monitor",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "The Prometheus text exposition (version 0.0.4)", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
    ),
    security(("admin_token" = [])),
)]
pub async fn prometheus(State(app): State<AppState>) -> Response {
    let services = match app.backend.counts().await {
        Ok(counts) => Some(counts),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read job counts for /metrics");
            None
        }
    };
    let backlog = match app.backend.backlog().await {
        Ok(backlog) => Some(backlog),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the alert backlog for /metrics");
            None
        }
    };
    let body = app.perf.prometheus(Gauges { services, backlog });
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(crate::perf::PROMETHEUS_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

/// Aggregates over the retention window, as JSON.
#[utoipa::path(
    get,
    path = "/metrics/performance",
    tag = "monitor",
    summary = "Timings over the retention window",
    responses(
        (status = 200, description = "The aggregates", body = super::openapi::Performance),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
    ),
    security(("admin_token" = [])),
)]
pub async fn performance(State(app): State<AppState>) -> Json<Value> {
    Json(app.perf.summary_json())
}

/// The current settings, as `PUT` answers them.
#[utoipa::path(
    get,
    path = "/metrics/performance/config",
    tag = "monitor",
    summary = "The performance settings",
    responses(
        (status = 200, description = "The settings", body = super::openapi::PerfConfig),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
    ),
    security(("admin_token" = [])),
)]
pub async fn config(State(app): State<AppState>) -> Json<Value> {
    Json(app.perf.config_json())
}

/// Changes any subset of the settings; answers the new configuration, or 400 naming
/// the field that is wrong (and then changes nothing).
#[utoipa::path(
    put,
    path = "/metrics/performance/config",
    tag = "monitor",
    summary = "Change the performance settings",
    request_body = super::openapi::PerfConfigUpdate,
    responses(
        (status = 200, description = "The new settings", body = super::openapi::PerfConfig),
        (status = 400, description = "A field is unknown or out of range; nothing changed"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 413, description = "The body is larger than 16 KiB"),
    ),
    security(("admin_token" = [])),
)]
pub async fn update_config(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body?;
    app.perf
        .update_config(&body)
        .map(Json)
        .map_err(ApiError::bad_request)
}
