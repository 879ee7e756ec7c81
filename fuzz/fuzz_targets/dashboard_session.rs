//! The dashboard's session cookie, CSRF token and origin checks (SPEC §15), fed
//! arbitrary `Cookie`, `Origin`, `Referer`, `Host` and `X-Forwarded-Proto` values and a
//! CSRF string, against sessions under a fixed secret.
//!
//! Properties: no panic; a cookie not made by `Sessions::open` is never accepted; a
//! cookie made by `open` and then altered in any one byte is refused; the CSRF check
//! accepts exactly the token of that session.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use overdue::fuzzing::{
    is_https, named_same_origin, same_origin, HeaderMap, HeaderName, HeaderValue, Sessions,
    UnixTime,
};

const SECRET: [u8; 32] = [7; 32];
const NOW: i64 = 1_800_000_000;

#[derive(Debug, Arbitrary)]
struct Input {
    cookies: Vec<Vec<u8>>,
    origins: Vec<Vec<u8>>,
    referers: Vec<Vec<u8>>,
    host: Option<Vec<u8>>,
    proto: Option<Vec<u8>>,
    csrf: String,
    /// Seconds after the fixed start at which the request arrives.
    later: u16,
    /// Where the session's own cookie is altered, and into what.
    at: u16,
    byte: u8,
}

fn append(headers: &mut HeaderMap, name: &'static str, value: &[u8]) {
    if let Ok(value) = HeaderValue::from_bytes(value) {
        headers.append(HeaderName::from_static(name), value);
    }
}

fn cookie_header(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static("cookie"), value);
    }
    headers
}

fuzz_target!(|input: Input| {
    let Ok(sessions) = Sessions::new(Some(SECRET)) else {
        return;
    };
    let Some(start) = UnixTime::from_secs(NOW) else {
        return;
    };
    let Some(now) = UnixTime::from_secs(NOW + i64::from(input.later)) else {
        return;
    };

    // Arbitrary headers: nothing the fuzzer writes carries this secret's MAC.
    let mut headers = HeaderMap::new();
    for cookie in &input.cookies {
        append(&mut headers, "cookie", cookie);
    }
    for origin in &input.origins {
        append(&mut headers, "origin", origin);
    }
    for referer in &input.referers {
        append(&mut headers, "referer", referer);
    }
    if let Some(host) = &input.host {
        append(&mut headers, "host", host);
    }
    if let Some(proto) = &input.proto {
        append(&mut headers, "x-forwarded-proto", proto);
    }
    assert_eq!(sessions.from_headers(&headers, now), None, "{headers:?}");
    let same = same_origin(&headers);
    let named = named_same_origin(&headers);
    assert!(
        !named || same,
        "named_same_origin without same_origin: {headers:?}"
    );
    let _ = is_https(&headers);
    if !headers.contains_key("host") {
        assert!(!same, "same_origin without a Host: {headers:?}");
    }

    // A session of our own: its cookie is accepted as it was written, and refused once
    // any one byte of it changes.
    let Ok((session, set_cookie)) = sessions.open(start, false) else {
        return;
    };
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    assert_eq!(
        sessions.from_headers(&cookie_header(&cookie), start),
        Some(session),
        "{cookie}"
    );
    let mut altered = cookie.clone().into_bytes();
    let at = usize::from(input.at) % altered.len();
    if altered[at] != input.byte {
        altered[at] = input.byte;
        if let Ok(altered) = String::from_utf8(altered) {
            assert_eq!(
                sessions.from_headers(&cookie_header(&altered), start),
                None,
                "{cookie} altered at {at} into {altered}"
            );
        }
    }
    // Among the fuzzer's other headers, our cookie alone is still accepted.
    let mut with_ours = headers.clone();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        with_ours.insert(HeaderName::from_static("cookie"), value);
        assert_eq!(sessions.from_headers(&with_ours, start), Some(session));
    }

    // The CSRF check accepts the session's token and nothing else, and a token of no
    // session is not this session's.
    let token = sessions.csrf_token(Some(&session));
    assert!(sessions.csrf_matches(Some(&session), &token));
    assert_eq!(
        sessions.csrf_matches(Some(&session), &input.csrf),
        input.csrf == token,
        "{:?}",
        input.csrf
    );
    assert!(!sessions.csrf_matches(None, &token));
    let mut altered = token.clone().into_bytes();
    let at = usize::from(input.at) % altered.len();
    if altered[at] != input.byte {
        altered[at] = input.byte;
        let altered = String::from_utf8_lossy(&altered);
        assert!(
            !sessions.csrf_matches(Some(&session), &altered),
            "{altered}"
        );
    }
});
