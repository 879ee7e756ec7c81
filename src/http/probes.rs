//! `/livez` and `/readyz`, for orchestrators and scripts that wait for the server.

use axum::extract::State;
use axum::response::Response;

use super::error::{text_ok, ApiError};
use super::AppState;

/// Alive as long as the process answers.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "monitor",
    summary = "Liveness",
    responses((status = 200, description = "The process answers", body = String, example = "ok\n")),
)]
pub async fn livez() -> Response {
    text_ok("ok")
}

/// Ready once state is loaded (the router only serves after that) and the store
/// answers a real round trip.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "monitor",
    summary = "Readiness",
    responses(
        (status = 200, description = "State is loaded and the store answers", body = String, example = "ready\n"),
        (status = 503, description = "The store does not answer"),
    ),
)]
pub async fn readyz(State(app): State<AppState>) -> Result<Response, ApiError> {
    match app.backend.check().await {
        Ok(_) => Ok(text_ok("ready")),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::Unavailable(
                "not ready: the store does not answer".to_owned(),
            ))
        }
    }
}
