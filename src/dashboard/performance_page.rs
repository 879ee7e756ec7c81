//! `GET /ui/performance`: section 7's aggregates and charts (SPEC §15).

use super::layout::{Nav, Page};
use super::placeholder;
use super::viewer::Viewer;
use crate::http::ApiError;

/// `GET /ui/performance`.
#[utoipa::path(
    get,
    path = "/ui/performance",
    tag = "dashboard",
    summary = "The performance page",
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 303, description = "Sign in first (with `--admin-token`)"),
    ),
)]
pub async fn page(viewer: Viewer) -> Result<Page, ApiError> {
    placeholder::page(
        &viewer,
        Nav::Performance,
        "Performance",
        "The performance page is not drawn yet.",
    )
}
