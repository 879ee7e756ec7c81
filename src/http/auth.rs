//! Who may call a route: bearer tokens for admin routes and pings, compared in
//! constant time, and the dashboard's session cookie (SPEC §15) with its CSRF and
//! same-origin checks for anything that changes state.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, Unauthorized};
use super::query::Query;
use super::{AppState, MAX_BODY_BYTES};
use crate::dashboard::{named_same_origin, same_origin, Viewer};
use crate::domain::UnixTime;
use crate::secret::Secret;

/// The header a script sends the CSRF token in, for a JSON admin route called with the
/// session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field of the CSRF token on the dashboard's own forms.
pub const CSRF_FIELD: &str = "csrf";
/// Where a page request without a session is sent.
pub const SIGN_IN_PATH: &str = "/ui/sign-in";

/// A configured token. Only its digest is kept, so comparing digests in constant time
/// reveals neither the token's bytes nor its length.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl Token {
    pub fn new(secret: &Secret) -> Self {
        Self {
            digest: Sha256::digest(secret.expose().as_bytes()).into(),
        }
    }

    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        presented.ct_eq(&self.digest).into()
    }

    /// The secret dashboard sessions are signed with: derived from the token alone, so
    /// every replica configured with the same token accepts the same sessions, and
    /// never the token itself.
    pub fn session_secret(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(b"overdue dashboard sessions|");
        hash.update(self.digest);
        hash.finalize().into()
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Admin routes: 401 without a token, 403 with a wrong one. A dashboard session
/// cookie stands for the token; then a request that changes state must also carry the
/// session's CSRF token in `X-CSRF-Token` and come from this same origin, or any page
/// on the web could make a signed-in browser send it.
pub async fn require_admin(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = &app.admin_token else {
        return next.run(request).await;
    };
    match bearer(request.headers()) {
        Some(token) if expected.matches(token) => next.run(request).await,
        Some(_) => ApiError::Forbidden.into_response(),
        None => {
            let headers = request.headers();
            let Some(session) = app.dashboard.from_headers(headers, UnixTime::now()) else {
                return ApiError::Unauthorized(Unauthorized::AdminTokenMissing).into_response();
            };
            if is_safe(request.method()) {
                return next.run(request).await;
            }
            if !named_same_origin(headers) {
                return cross_origin();
            }
            let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            match presented {
                Some(token) if app.dashboard.csrf_matches(Some(&session), token) => {
                    next.run(request).await
                }
                _ => csrf_refused(),
            }
        }
    }
}

/// Dashboard pages and forms. With `--admin-token`, a page without a session (or the
/// bearer token) is sent to the sign-in page, and a form post without one is 401.
/// Every post, signed in or not, must come from this same origin and carry the page's
/// CSRF token in its `csrf` field (a bearer-token client needs none: it sends no
/// ambient credential a forged request could borrow). The handler finds the
/// [`Viewer`] in the request.
pub async fn require_page(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let session = app.dashboard.from_headers(headers, UnixTime::now());
    let bearer_ok = match (&app.admin_token, bearer(headers)) {
        (Some(expected), Some(token)) => expected.matches(token),
        _ => false,
    };
    let safe = is_safe(request.method());
    if app.admin_token.is_some() && session.is_none() && !bearer_ok {
        if safe {
            return see_other(SIGN_IN_PATH);
        }
        return match bearer(headers) {
            Some(_) => ApiError::Forbidden.into_response(),
            None => (
                StatusCode::UNAUTHORIZED,
                "sign in first: this form needs a dashboard session\n",
            )
                .into_response(),
        };
    }
    let viewer = Viewer::new(&app, session);
    let mut request = request;
    if !safe {
        if !same_origin(request.headers()) {
            return cross_origin();
        }
        if !bearer_ok || session.is_some() {
            let (parts, body) = request.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
                Ok(bytes) => bytes,
                Err(_) => return ApiError::PayloadTooLarge.into_response(),
            };
            let presented = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| Query::parse(Some(text)).ok())
                .and_then(|form| form.get(CSRF_FIELD).map(str::to_owned));
            let valid =
                presented.is_some_and(|token| app.dashboard.csrf_matches(session.as_ref(), &token));
            if !valid {
                return csrf_refused();
            }
            request = Request::from_parts(parts, Body::from(bytes));
        }
    }
    request.extensions_mut().insert(viewer);
    next.run(request).await
}

/// `GET` and `HEAD` change nothing, so they need no CSRF token.
fn is_safe(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// 303 to `path`: after a form post, or to the sign-in page.
pub fn see_other(path: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(path) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// 403 for a post sent from another site's page.
pub fn cross_origin() -> Response {
    tracing::warn!("cross-origin post refused");
    (
        StatusCode::FORBIDDEN,
        "refused: the request came from another origin\n",
    )
        .into_response()
}

fn csrf_refused() -> Response {
    tracing::warn!("post without a valid csrf token refused");
    (
        StatusCode::FORBIDDEN,
        "refused: the CSRF token is missing or wrong; reload the page and try again\n",
    )
        .into_response()
}

/// Pings when `--ping-token` is set: the `token` parameter or a bearer header.
pub fn check_ping_token(
    expected: Option<&Token>,
    param: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    match param.filter(|t| !t.is_empty()).or_else(|| bearer(headers)) {
        Some(token) if expected.matches(token) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized(Unauthorized::PingTokenWrong)),
        None => Err(ApiError::Unauthorized(Unauthorized::PingTokenMissing)),
    }
}
