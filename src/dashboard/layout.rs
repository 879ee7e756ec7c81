//! The shell every dashboard page shares: the head with its assets, the navigation,
//! the sign-out form, and the headers that make the page safe to show (SPEC §15).

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::assets;
use super::viewer::Viewer;
use crate::http::ApiError;

/// The policy of every page: nothing from another host, no inline script or style, no
/// framing. Charts are SVG with presentation attributes, so `style-src 'self'` holds.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// The page a navigation link leads to; the current one is marked in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Jobs,
    Health,
    Performance,
    /// A page outside the navigation (sign-in, a confirmation).
    None,
}

/// One link of the header's navigation.
struct NavItem {
    href: &'static str,
    label: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    csrf: &'a str,
    signed_in: bool,
    nav: Vec<NavItem>,
    body: &'a str,
    css_url: String,
    js_url: String,
    icon_url: String,
}

/// A rendered dashboard page: HTML with the dashboard's security and cache headers.
#[derive(Debug)]
pub struct Page {
    status: StatusCode,
    html: String,
}

impl Page {
    /// `html` answered with 200.
    pub fn ok(html: String) -> Self {
        Self {
            status: StatusCode::OK,
            html,
        }
    }

    /// The same page with another status (a refused sign-in is a 401 with its form).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Renders a template to HTML; a failure is logged and answered 503 (it can only be a
/// formatting error of our own).
pub fn render<T: Template>(template: &T) -> Result<String, ApiError> {
    template.render().map_err(|e| {
        tracing::error!(error = %e, "cannot render a dashboard template");
        ApiError::Unavailable("the page could not be rendered".to_owned())
    })
}

/// The whole page: `body` (HTML the page's own template rendered and escaped) inside
/// the shared shell, titled `title`, with `current` marked in the navigation and the
/// sign-out form when `viewer` is signed in.
pub fn layout(title: &str, viewer: &Viewer, current: Nav, body: &str) -> Result<Page, ApiError> {
    let nav = [
        ("/", "Jobs", Nav::Jobs),
        ("/ui/health", "Health", Nav::Health),
        ("/ui/performance", "Performance", Nav::Performance),
    ]
    .into_iter()
    .map(|(href, label, item)| NavItem {
        href,
        label,
        current: item == current,
    })
    .collect();
    let page = Layout {
        title,
        csrf: viewer.csrf(),
        signed_in: viewer.signed_in(),
        nav,
        body,
        css_url: assets::url("dashboard.css"),
        js_url: assets::url("dashboard.js"),
        icon_url: assets::url("icon.svg"),
    };
    Ok(Page::ok(render(&page)?))
}
