//! The web dashboard (SPEC §15): server-rendered pages, their templates
//! (`templates/`, rendered by askama with HTML escaping), the embedded assets
//! (`assets/`), and sessions with their CSRF tokens.
//!
//! A page is one template and one handler. Handlers read the store through the same
//! [`crate::backend::Backend`] trait as the JSON routes and call the same domain
//! actions; [`layout::layout`] wraps every page in the shared shell and its security
//! headers. Who may see a page is decided by `http::auth::require_page`, which puts
//! the [`Viewer`] into the request. [`charts`] draws the health and performance
//! pages' charts as inline SVG.

pub mod assets;
pub mod charts;
mod format;
pub mod health_page;
pub mod job_page;
pub mod jobs_page;
pub mod layout;
pub mod performance_page;
pub mod session;
pub mod sign_in;
mod viewer;

pub use layout::{layout, render, Nav, Page, CONTENT_SECURITY_POLICY};
pub use session::{named_same_origin, same_origin, SessionError, Sessions};
pub use viewer::Viewer;
