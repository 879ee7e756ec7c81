//! Dashboard sessions and their CSRF tokens (SPEC §15).
//!
//! A session is a signed cookie, not a row anywhere: `overdue_session=<id>.<expiry>.<mac>`
//! where the MAC is HMAC-SHA256 over the random id and the expiry, keyed from the admin
//! token. Every replica configured with the same token derives the same key, so a
//! session opened on one is accepted by all of them behind a load balancer, with nothing
//! to share. Signing out adds the id to a revocation set that lives until the cookie
//! would have expired anyway; that set is per replica (a signed-out cookie replayed to
//! another replica is still accepted there until it expires, at most 12 hours).
//!
//! The CSRF token of a page is HMAC-SHA256 of the session id under a second key derived
//! from the same secret: a page can only be posted back by someone who could read it.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::header::{COOKIE, HOST, ORIGIN, REFERER};
use axum::http::{HeaderMap, HeaderValue};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::UnixTime;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "overdue_session";
/// How long a session lasts, in seconds.
pub const SESSION_SECONDS: u64 = 12 * 60 * 60;
/// Most signed-out sessions remembered at once; past it the one closest to its own
/// expiry is forgotten first, so memory stays bounded whatever a client does.
const MAX_REVOKED: usize = 65_536;
/// Bytes of a session id.
const ID_BYTES: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// A session id: random bytes, never a secret on its own (the MAC is).
type SessionId = [u8; ID_BYTES];

/// The sessions of this replica: the keys that sign cookies and CSRF tokens, and the
/// ids signed out before their expiry.
pub struct Sessions {
    /// Signs and checks cookies.
    cookie_key: [u8; 32],
    /// Derives CSRF tokens from session ids.
    csrf_key: [u8; 32],
    /// Whether sign-in is needed at all (`--admin-token` is set).
    required: bool,
    /// Signed-out ids and the time their cookie expires.
    revoked: Mutex<HashMap<SessionId, u64>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

/// A valid session, as read from its cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    id: SessionId,
    expires: u64,
}

/// Why sessions could not be set up or opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the system's random number generator failed: {0}")]
    Random(String),
}

impl Sessions {
    /// Sessions keyed from `secret`, the admin token's digest: the same on every replica
    /// that has the same token. Without an admin token there is no sign-in, and a
    /// random key of this process alone protects the forms' CSRF tokens.
    pub fn new(secret: Option<[u8; 32]>) -> Result<Self, SessionError> {
        let (root, required) = match secret {
            Some(secret) => (secret, true),
            None => (random_bytes::<32>()?, false),
        };
        Ok(Self {
            cookie_key: derive(&root, b"overdue dashboard session cookie"),
            csrf_key: derive(&root, b"overdue dashboard csrf token"),
            required,
            revoked: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the dashboard asks for sign-in (`--admin-token` is set).
    pub fn required(&self) -> bool {
        self.required
    }

    /// Opens a new session at `now`: the session and its `Set-Cookie` value.
    pub fn open(&self, now: UnixTime, secure: bool) -> Result<(Session, String), SessionError> {
        let session = Session {
            id: random_bytes::<ID_BYTES>()?,
            expires: unix_secs(now).saturating_add(SESSION_SECONDS),
        };
        let value = format!(
            "{}.{}.{}",
            hex(&session.id),
            session.expires,
            hex(&self.cookie_mac(&session))
        );
        Ok((session, cookie_header(&value, SESSION_SECONDS, secure)))
    }

    /// The valid, unexpired, not signed-out session the request's cookie carries.
    pub fn from_headers(&self, headers: &HeaderMap, now: UnixTime) -> Option<Session> {
        if !self.required {
            return None;
        }
        let value = cookie_value(headers, COOKIE_NAME)?;
        let mut parts = value.split('.');
        let id: SessionId = unhex(parts.next()?)?;
        let expires: u64 = parts.next()?.parse().ok()?;
        let mac: [u8; 32] = unhex(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        // Only the exact text `open` writes: upper-case hex or a padded expiry would
        // give one session many cookies.
        if value != format!("{}.{}.{}", hex(&id), expires, hex(&mac)) {
            return None;
        }
        let session = Session { id, expires };
        let expected = self.cookie_mac(&session);
        if !bool::from(expected.ct_eq(&mac)) {
            return None;
        }
        let now = unix_secs(now);
        if expires <= now || expires > now.saturating_add(SESSION_SECONDS) {
            return None;
        }
        if self.lock_revoked().contains_key(&session.id) {
            return None;
        }
        Some(session)
    }

    /// Signs `session` out on this replica: its cookie is refused from now on.
    pub fn revoke(&self, session: &Session, now: UnixTime) {
        let now = unix_secs(now);
        let mut revoked = self.lock_revoked();
        revoked.retain(|_, expires| *expires > now);
        if revoked.len() >= MAX_REVOKED {
            let soonest = revoked
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(id, _)| *id);
            if let Some(id) = soonest {
                revoked.remove(&id);
            }
        }
        revoked.insert(session.id, session.expires);
    }

    /// The CSRF token of pages shown in `session` (or, without sign-in, to anyone).
    pub fn csrf_token(&self, session: Option<&Session>) -> String {
        let id = session.map_or([0; ID_BYTES], |s| s.id);
        let mut mac = keyed(&self.csrf_key);
        mac.update(b"csrf|");
        mac.update(&id);
        hex(&mac.finalize().into_bytes())
    }

    /// Whether `presented` is the CSRF token of `session`, compared in constant time.
    pub fn csrf_matches(&self, session: Option<&Session>, presented: &str) -> bool {
        let expected = self.csrf_token(session);
        expected.len() == presented.len()
            && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }

    fn cookie_mac(&self, session: &Session) -> [u8; 32] {
        let mut mac = keyed(&self.cookie_key);
        mac.update(b"session|");
        mac.update(&session.id);
        mac.update(b"|");
        mac.update(session.expires.to_string().as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn lock_revoked(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, u64>> {
        // A panic while holding this lock cannot leave the map half-changed in a way
        // that matters: at worst one id is missing or extra until it expires.
        self.revoked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn clearing_cookie(secure: bool) -> String {
    cookie_header("", 0, secure)
}

fn cookie_header(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
}

/// Whether the request reached us over HTTPS, directly or through a proxy that says so.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Whether a state-changing request comes from a page of this same site: its `Origin`
/// (or, without one, its `Referer`) names the host the request was sent to. A request
/// with neither (curl, an old browser) passes: the CSRF token still guards it.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // Every `Origin` must agree: a second one must not smuggle another site past us.
    let origins = headers.get_all(ORIGIN);
    if origins.iter().next().is_some() {
        return origins.iter().all(|o| names_host(o, host));
    }
    headers.get_all(REFERER).iter().all(|r| names_host(r, host))
}

/// Like [`same_origin`], but a request that names no origin at all is refused too:
/// for a JSON route called with the session cookie, where the caller is always a
/// script of our own pages, which sends `Origin`.
pub fn named_same_origin(headers: &HeaderMap) -> bool {
    (headers.contains_key(ORIGIN) || headers.contains_key(REFERER)) && same_origin(headers)
}

/// Whether `source` (`scheme://host[:port]`, followed by a path for a `Referer`) names
/// `host`.
fn names_host(source: &HeaderValue, host: &str) -> bool {
    let Ok(source) = source.to_str() else {
        return false;
    };
    let Some((_, rest)) = source.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.eq_ignore_ascii_case(host.trim())
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

fn keyed(key: &[u8; 32]) -> HmacSha256 {
    // HMAC pads a short key with zeros to its block: padding it here gives the same
    // MAC through the constructor that cannot fail.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as KeyInit>::new(&block.into())
}

fn unix_secs(now: UnixTime) -> u64 {
    u64::try_from(now.secs()).unwrap_or(0)
}

fn derive(root: &[u8; 32], purpose: &[u8]) -> [u8; 32] {
    let mut mac = keyed(root);
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SessionError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SessionError::Random(e.to_string()))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != N * 2 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn cookie_of(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn a_session_opened_on_one_replica_is_accepted_by_another_with_the_same_token() {
        let a = Sessions::new(Some([7; 32])).unwrap();
        let b = Sessions::new(Some([7; 32])).unwrap();
        let now = UnixTime::from_secs(1_800_000_000).unwrap();
        let (session, set) = a.open(now, false).unwrap();
        let request = headers(&[("cookie", &cookie_of(&set))]);
        assert_eq!(b.from_headers(&request, now), Some(session));
        let other = Sessions::new(Some([8; 32])).unwrap();
        assert_eq!(other.from_headers(&request, now), None);
    }

    #[test]
    fn a_session_expires_after_twelve_hours_and_when_revoked() {
        let sessions = Sessions::new(Some([1; 32])).unwrap();
        let now = UnixTime::from_secs(1_800_000_000).unwrap();
        let (session, set) = sessions.open(now, true).unwrap();
        assert!(set.ends_with("; Secure"));
        let request = headers(&[("cookie", &format!("a=b; {}", cookie_of(&set)))]);
        assert!(sessions.from_headers(&request, now).is_some());
        let later = UnixTime::from_secs(1_800_000_000 + SESSION_SECONDS as i64).unwrap();
        assert!(sessions.from_headers(&request, later).is_none());
        sessions.revoke(&session, now);
        assert!(sessions.from_headers(&request, now).is_none());
    }

    #[test]
    fn a_tampered_cookie_is_refused() {
        let sessions = Sessions::new(Some([1; 32])).unwrap();
        let now = UnixTime::from_secs(1_800_000_000).unwrap();
        let (_, set) = sessions.open(now, false).unwrap();
        let cookie = cookie_of(&set);
        let (head, _) = cookie.rsplit_once('.').unwrap();
        let (id_part, expiry) = head.rsplit_once('.').unwrap();
        let longer = format!("{id_part}.{}", expiry.parse::<u64>().unwrap() + 1);
        let forged = format!("{longer}.{}", cookie.rsplit_once('.').unwrap().1);
        assert!(sessions
            .from_headers(&headers(&[("cookie", &forged)]), now)
            .is_none());
    }

    #[test]
    fn only_the_cookie_as_written_is_accepted() {
        let sessions = Sessions::new(Some([1; 32])).unwrap();
        let now = UnixTime::from_secs(1_800_000_000).unwrap();
        let (_, set) = sessions.open(now, false).unwrap();
        let cookie = cookie_of(&set);
        let value = cookie.strip_prefix("overdue_session=").unwrap();
        let (id, rest) = value.split_once('.').unwrap();
        let (expiry, mac) = rest.split_once('.').unwrap();
        for altered in [
            format!("{}.{expiry}.{mac}", id.to_uppercase()),
            format!("{id}.{expiry}.{}", mac.to_uppercase()),
            format!("{id}.0{expiry}.{mac}"),
            format!("{id}.+{expiry}.{mac}"),
        ]
        .into_iter()
        // An id or MAC without letters reads the same in upper case.
        .filter(|altered| altered != value)
        {
            let request = headers(&[("cookie", &format!("overdue_session={altered}"))]);
            assert!(sessions.from_headers(&request, now).is_none(), "{altered}");
        }
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let sessions = Sessions::new(Some([1; 32])).unwrap();
        let now = UnixTime::from_secs(1_800_000_000).unwrap();
        let (one, _) = sessions.open(now, false).unwrap();
        let (two, _) = sessions.open(now, false).unwrap();
        let token = sessions.csrf_token(Some(&one));
        assert!(sessions.csrf_matches(Some(&one), &token));
        assert!(!sessions.csrf_matches(Some(&two), &token));
        assert!(!sessions.csrf_matches(Some(&one), ""));
    }

    #[test]
    fn origin_must_name_the_requested_host() {
        let same = headers(&[("host", "mon:4000"), ("origin", "http://mon:4000")]);
        assert!(same_origin(&same));
        let other = headers(&[("host", "mon:4000"), ("origin", "http://evil.example")]);
        assert!(!same_origin(&other));
        let null = headers(&[("host", "mon:4000"), ("origin", "null")]);
        assert!(!same_origin(&null));
        let referer = headers(&[
            ("host", "mon:4000"),
            ("referer", "https://mon:4000/ui/job?x"),
        ]);
        assert!(same_origin(&referer));
        let bad_referer = headers(&[("host", "mon:4000"), ("referer", "https://mon:4000.evil/")]);
        assert!(!same_origin(&bad_referer));
        assert!(same_origin(&headers(&[("host", "mon:4000")])));
        assert!(!named_same_origin(&headers(&[("host", "mon:4000")])));
        assert!(named_same_origin(&same));
        let twice = headers(&[
            ("host", "mon:4000"),
            ("origin", "http://mon:4000"),
            ("origin", "http://evil.example"),
        ]);
        assert!(!same_origin(&twice));
    }
}
