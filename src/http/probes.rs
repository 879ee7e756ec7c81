//! `/livez` and `/readyz`, for orchestrators and scripts that wait for the server.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::text;
use super::AppState;

pub async fn livez() -> Response {
    text(StatusCode::OK, "ok".to_owned())
}

/// Ready once state is loaded (the router only serves after that) and the store
/// answers a real round trip.
pub async fn readyz(State(app): State<AppState>) -> Response {
    match app.backend.check().await {
        Ok(_) => text(StatusCode::OK, "ready".to_owned()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the store does not answer".to_owned(),
            )
        }
    }
}
