//! Who is looking at a dashboard page: their session (if sign-in is on) and the CSRF
//! token their forms must send back.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::session::Session;
use crate::domain::UnixTime;
use crate::http::{ApiError, AppState};

/// The person a page is rendered for. The access check of the dashboard's routes puts
/// it into the request; a handler takes it as an extractor.
#[derive(Debug, Clone)]
pub struct Viewer {
    session: Option<Session>,
    csrf: String,
}

impl Viewer {
    /// The viewer of a request that has `session` (`None`: sign-in is off, or the
    /// request came with the bearer token).
    pub fn new(app: &AppState, session: Option<Session>) -> Self {
        let csrf = app.dashboard.csrf_token(session.as_ref());
        Self { session, csrf }
    }

    /// The CSRF token every form of the page carries in its `csrf` field.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether a session is open (then the header shows "Sign out").
    pub fn signed_in(&self) -> bool {
        self.session.is_some()
    }

    /// The open session, if any.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(viewer) = parts.extensions.get::<Viewer>() {
            return Ok(viewer.clone());
        }
        // A route outside the access check (the sign-in page): read the cookie here.
        let session = app.dashboard.from_headers(&parts.headers, UnixTime::now());
        Ok(Self::new(app, session))
    }
}
