//! A page that says it has nothing to show yet: the health and performance pages start
//! as this until their charts are drawn.

use askama::Template;

use super::layout::{layout, render, Nav, Page};
use super::viewer::Viewer;
use crate::http::ApiError;

#[derive(Template)]
#[template(path = "placeholder.html")]
struct Placeholder<'a> {
    heading: &'a str,
    text: &'a str,
}

/// A page titled `heading` holding one line of `text`.
pub fn page(viewer: &Viewer, current: Nav, heading: &str, text: &str) -> Result<Page, ApiError> {
    let body = render(&Placeholder { heading, text })?;
    layout(heading, viewer, current, &body)
}
