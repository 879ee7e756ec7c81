//! Bearer tokens for admin routes and pings, compared in constant time.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, Unauthorized};
use super::AppState;
use crate::secret::Secret;

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
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Admin routes: 401 without a token, 403 with a wrong one.
pub async fn require_admin(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = &app.admin_token else {
        return next.run(request).await;
    };
    match bearer(request.headers()) {
        Some(token) if expected.matches(token) => next.run(request).await,
        Some(_) => ApiError::Forbidden.into_response(),
        None => ApiError::Unauthorized(Unauthorized::AdminTokenMissing).into_response(),
    }
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
