//! What the HTTP kinds share: sending a request and reading the answer as SPEC §5
//! does (2xx delivered; connection errors, timeouts, 408, 429 and 5xx retried, with
//! `Retry-After` on 429 and 503; any other answer refused).

use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::Outcome;
use crate::domain::UnixTime;

/// Of a service's error answer, at most this much is read, looking for its first line.
const ANSWER_READ_BYTES: usize = 4 * 1024;
/// Of that first line, at most this much is kept.
const ANSWER_LOG_BYTES: usize = 200;
/// A `Retry-After` is never honoured beyond the give-up horizon.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// A JSON body for `request`. Encoding a `serde_json::Value` cannot fail; should it, the
/// body is empty and the service refuses it, which is logged.
pub(super) fn json(request: RequestBuilder, body: &serde_json::Value) -> RequestBuilder {
    request
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(serde_json::to_vec(body).unwrap_or_default())
}

/// Sends `request` and classifies the answer; `service` names who answered in reasons
/// (`slack answered 404 Not Found`).
pub(super) async fn send(request: RequestBuilder, service: &str) -> Outcome {
    match request.send().await {
        Err(e) => Outcome::Retry {
            reason: if e.is_timeout() {
                "timed out after 10s".to_owned()
            } else {
                format!("connection failed: {}", error_chain(e))
            },
            status: None,
            retry_after: None,
            answer: None,
        },
        Ok(response) => classify(response, service).await,
    }
}

async fn classify(response: reqwest::Response, service: &str) -> Outcome {
    let status = response.status();
    if status.is_success() {
        return Outcome::Delivered {
            status: Some(status.as_u16()),
        };
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let reason = format!("{service} answered {status}");
    let answer = answer_line(response).await;
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Outcome::Retry {
            reason,
            status: Some(status.as_u16()),
            retry_after: retry_after.filter(|_| {
                status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            }),
            answer,
        }
    } else {
        Outcome::GiveUp {
            reason,
            status: Some(status.as_u16()),
            answer,
        }
    }
}

/// The first non-empty line of a service's error answer, so that the operator sees why
/// it refused. At most [`ANSWER_READ_BYTES`] of the body are read (within the attempt's
/// timeout) and [`ANSWER_LOG_BYTES`] of the line kept: a service cannot fill the log or
/// hold the dispatcher with a large answer.
async fn answer_line(mut response: reqwest::Response) -> Option<String> {
    let mut read = Vec::new();
    while read.len() < ANSWER_READ_BYTES && !read.contains(&b'\n') {
        match response.chunk().await {
            Ok(Some(chunk)) => read.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    first_line(&read, ANSWER_LOG_BYTES)
}

/// The first non-empty line of `bytes`, trimmed, cut to at most `max` bytes on a
/// character boundary; `None` when there is none.
fn first_line(bytes: &[u8], max: usize) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let end = (0..=line.len().min(max))
        .rev()
        .find(|&i| line.is_char_boundary(i))
        .unwrap_or(0);
    line.get(..end).map(str::to_owned)
}

/// `Retry-After` as delta-seconds or an HTTP date, capped at the give-up horizon.
fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP));
    }
    let at = httpdate_to_unix(raw)?;
    let now = UnixTime::now().secs();
    Some(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)).min(RETRY_AFTER_CAP))
}

fn httpdate_to_unix(raw: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(raw, &format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// An error and its causes on one line. reqwest names the URL in its errors; the URL is
/// cut out, since channel URLs carry tokens in their paths and queries.
pub(super) fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_of_an_answer_is_kept_bounded() {
        assert_eq!(
            first_line(b"\r\n  missing field x \r\nsecond line", 200).as_deref(),
            Some("missing field x")
        );
        assert_eq!(first_line(b"", 200), None);
        assert_eq!(first_line(b"\n \n", 200), None);
        let long = "x".repeat(5000);
        assert_eq!(first_line(long.as_bytes(), 200).map(|l| l.len()), Some(200));
        // Never cut inside a character.
        let wide = "\u{e9}".repeat(150);
        let cut = first_line(wide.as_bytes(), 201).expect("a line");
        assert_eq!(cut.len(), 200);
        assert!(cut.chars().all(|c| c == '\u{e9}'));
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
