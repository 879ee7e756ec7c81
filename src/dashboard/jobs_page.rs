//! `GET /`: the jobs page (SPEC §15).

use super::layout::{Nav, Page};
use super::placeholder;
use super::viewer::Viewer;
use crate::http::ApiError;

/// `GET /`.
#[utoipa::path(
    get,
    path = "/",
    tag = "dashboard",
    summary = "The jobs page",
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 303, description = "Sign in first (with `--admin-token`)"),
    ),
)]
pub async fn page(viewer: Viewer) -> Result<Page, ApiError> {
    placeholder::page(
        &viewer,
        Nav::Jobs,
        "Jobs",
        "The jobs page is not drawn yet.",
    )
}
