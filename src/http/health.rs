//! `GET /health` (SPEC §6): the monitor's own health, measured on each request.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::health::HealthStatus;

/// 200 when healthy or degraded, 503 ([`ApiError::Unhealthy`]) when unhealthy; the
/// body is the report either way. Cheap: one store round trip and in-memory counters;
/// the health Redis is never asked (its indicator is the publisher's last word).
#[utoipa::path(
    get,
    path = "/health",
    tag = "monitor",
    summary = "The monitor's own health",
    responses(
        (status = 200, description = "Healthy or degraded", body = super::openapi::HealthDocument),
        (status = 503, description = "Unhealthy: the same document", body = super::openapi::HealthDocument),
    ),
)]
pub async fn health(State(app): State<AppState>) -> Result<Response, ApiError> {
    let report = app.health.report().await;
    if report.status == HealthStatus::Unhealthy {
        return Err(ApiError::Unhealthy(Box::new(report)));
    }
    let mut response = Json(report).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
