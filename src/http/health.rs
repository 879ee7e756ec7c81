//! `GET /health` (SPEC §6): the monitor's own health, measured on each request.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::KeepBody;
use super::AppState;
use crate::health::HealthStatus;

/// 200 when healthy or degraded, 503 when unhealthy. Cheap: one store round trip and
/// in-memory counters; the health Redis is never asked (its indicator is the
/// publisher's last word).
pub async fn health(State(app): State<AppState>) -> Response {
    let report = app.health.report().await;
    let code = match report.status {
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        HealthStatus::Healthy | HealthStatus::Degraded => StatusCode::OK,
    };
    let mut response = (code, Json(report)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The 503 carries the report itself, not a generic error line.
    response.extensions_mut().insert(KeepBody);
    response
}
