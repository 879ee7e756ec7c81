//! `GET /ui/health`: the `/health` document as a person reads it (SPEC §15).

use super::layout::{Nav, Page};
use super::placeholder;
use super::viewer::Viewer;
use crate::http::ApiError;

/// `GET /ui/health`.
#[utoipa::path(
    get,
    path = "/ui/health",
    tag = "dashboard",
    summary = "The health page",
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 303, description = "Sign in first (with `--admin-token`)"),
    ),
)]
pub async fn page(viewer: Viewer) -> Result<Page, ApiError> {
    placeholder::page(
        &viewer,
        Nav::Health,
        "Health",
        "The health page is not drawn yet.",
    )
}
