//! Helpers of the API tests that the shared `common` module does not have: raw HTTP
//! over TCP (for requests reqwest will not send), polling, and time formatting.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestApp;

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    /// The value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// Sends `request` as is on a fresh connection and reads the answer until the server
/// closes it (callers send `Connection: close`). A reset after the answer arrived is
/// tolerated: servers may reset a connection whose request body they did not read.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before the whole body is written.
    let _ = stream.write_all(request).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let read_all = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("server answers within 30 s");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response head in {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    RawResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// `GET <path_and_query>` written byte for byte.
pub async fn raw_get(addr: SocketAddr, path_and_query: &str) -> RawResponse {
    let request =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw_request(addr, request.as_bytes()).await
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn poll_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `unix` as RFC 3339 with a `Z`.
pub fn rfc3339_z(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).expect("valid time");
    t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("format")
}

/// `unix` as RFC 3339 in the offset `hours` east of UTC, e.g. `…T05:00:00+02:00`.
pub fn rfc3339_offset(unix: i64, hours: i8) -> String {
    let offset = time::UtcOffset::from_hms(hours, 0, 0).expect("offset");
    let t = time::OffsetDateTime::from_unix_timestamp(unix)
        .expect("valid time")
        .to_offset(offset);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// A ping with `Accept: application/json`; returns the status and the body as JSON.
pub async fn ping_json(app: &TestApp, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = app
        .client
        .get(app.url("/ping"))
        .query(params)
        .header("accept", "application/json")
        .send()
        .await
        .expect("ping");
    let status = response.status().as_u16();
    let body = response.json().await.expect("json body");
    (status, body)
}

/// `GET /ping/{name}`: the status code and the body, whatever they are.
pub async fn job_status(app: &TestApp, name: &str) -> (u16, String) {
    let response = app
        .get(&format!("/ping/{}", crate::common::encode(name)))
        .await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Asserts a plain-text error: `status`, `text/plain`, one non-empty line.
pub async fn assert_text_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "content-type {content_type:?}"
    );
    let body = response.text().await.unwrap();
    assert!(!body.trim().is_empty(), "empty error body");
    assert!(
        !body.trim_end().contains('\n'),
        "error body is not one line: {body:?}"
    );
    body
}
