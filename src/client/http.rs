//! The HTTP client every subcommand shares: where the monitor is, which token goes
//! with which route, what counts as "refused" and what as "unreachable", and the
//! bounded retries of the pings.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::{Method, StatusCode, Url};
use tokio::time::Instant;

use crate::secret::Secret;

/// First pause between two attempts of a ping; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// The monitor's base URL, parsed once: `http://` or `https://` with a host.
#[derive(Debug, Clone)]
pub struct MonitorUrl {
    url: Url,
    /// As the user wrote it, without a trailing slash: the form error lines show.
    shown: String,
}

impl MonitorUrl {
    /// Parses `--url`; the message shows the accepted form.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim().trim_end_matches('/');
        let url = Url::parse(trimmed)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .filter(|u| u.query().is_none() && u.fragment().is_none())
            .ok_or_else(|| {
                format!("{raw:?} is not a monitor URL; expected http://HOST:PORT or https://HOST[/PATH]")
            })?;
        Ok(Self {
            url,
            shown: trimmed.to_owned(),
        })
    }

    fn join(&self, path: &str) -> Result<Url, RequestError> {
        let base = self.url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).map_err(|e| RequestError::Unreachable {
            url: self.shown.clone(),
            reason: e.to_string(),
        })
    }
}

/// Which token a route needs (SPEC §3 and §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Ping,
    Admin,
}

/// One request to the monitor, rebuilt for every attempt.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Path and nothing else, its segments already percent-encoded.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    pub access: Access,
    /// Ask for `application/json` (the job object, `{"error": …}`) instead of text.
    pub json: bool,
}

impl Call {
    pub fn new(method: Method, path: String, access: Access) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            body: None,
            access,
            json: false,
        }
    }
}

/// Why a request did not succeed; the message is the client's one line on stderr.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the monitor answered {status}: {message}")]
    Refused { status: u16, message: String },
}

impl RequestError {
    /// Whether another attempt may succeed: the monitor was down, slow, overloaded or
    /// restarting. A 4xx other than 408 and 429 will be refused again.
    fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { status, .. } => *status >= 500 || *status == 408 || *status == 429,
        }
    }
}

/// The monitor and the tokens to talk to it with. Cheap to clone: the connection pool
/// is shared.
#[derive(Debug, Clone)]
pub struct Monitor {
    url: MonitorUrl,
    client: reqwest::Client,
    ping_token: Option<Secret>,
    admin_token: Option<Secret>,
}

impl Monitor {
    pub fn new(
        url: MonitorUrl,
        ping_token: Option<Secret>,
        admin_token: Option<Secret>,
    ) -> Result<Self, RequestError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("overdue/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RequestError::Unreachable {
                url: url.shown.clone(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            url,
            client,
            ping_token,
            admin_token,
        })
    }

    /// One attempt, given up after `timeout`; the answer's body on a 2xx.
    pub async fn send(&self, call: &Call, timeout: Duration) -> Result<Vec<u8>, RequestError> {
        let mut request = self
            .client
            .request(call.method.clone(), self.url.join(&call.path)?)
            .query(&call.query)
            .timeout(timeout);
        let token = match call.access {
            Access::Ping => &self.ping_token,
            Access::Admin => &self.admin_token,
        };
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        if call.json {
            request = request.header(ACCEPT, "application/json");
        }
        if let Some(body) = &call.body {
            request = request.body(body.clone());
        }
        let unreachable = |e: reqwest::Error| RequestError::Unreachable {
            url: self.url.shown.clone(),
            reason: reason(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(RequestError::Refused {
                status: status.as_u16(),
                message: refusal_message(status, &body),
            })
        }
    }

    /// Tries `call` until it succeeds, is refused for good, or `budget` is spent:
    /// each attempt may use what is left of the budget, so a monitor that never
    /// answers costs `budget` and no more.
    pub async fn send_within(
        &self,
        call: &Call,
        budget: Duration,
    ) -> Result<Vec<u8>, RequestError> {
        let deadline = Instant::now() + budget;
        let mut pause = FIRST_PAUSE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let error = match self.send(call, left).await {
                Ok(body) => return Ok(body),
                Err(e) => e,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if !error.is_transient() || left <= pause {
                return Err(error);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// The innermost cause of a transport error, in the words a user expects.
fn reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".to_owned();
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
                std::io::ErrorKind::TimedOut => "no answer in time".to_owned(),
                _ => io.to_string(),
            };
        }
        innermost = Some(cause);
        source = cause.source();
    }
    innermost.map_or_else(|| e.to_string(), |cause| cause.to_string())
}

/// The monitor's one-line message: `{"error": …}` or the text body; the status's own
/// reason when the body says nothing.
fn refusal_message(status: StatusCode, body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
    let text = from_json.unwrap_or_else(|| {
        String::from_utf8_lossy(body)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_owned()
    });
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_lowercase()
    } else {
        text
    }
}

/// Percent-encodes one path segment (a job's name).
pub fn segment(raw: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(raw, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_url_must_be_http_with_a_host() {
        assert!(MonitorUrl::parse("http://127.0.0.1:4000").is_ok());
        assert!(MonitorUrl::parse("https://monitor.example/overdue/").is_ok());
        assert!(MonitorUrl::parse("monitor:4000").is_err());
        assert!(MonitorUrl::parse("ftp://monitor").is_err());
        assert!(MonitorUrl::parse("http://monitor/?a=b").is_err());
    }

    #[test]
    fn the_refusal_message_is_the_monitors_one_line() {
        let json = refusal_message(StatusCode::NOT_FOUND, br#"{"error": "not found"}"#);
        assert_eq!(json, "not found");
        let text = refusal_message(StatusCode::UNAUTHORIZED, b"ping token missing\n");
        assert_eq!(text, "ping token missing");
        let empty = refusal_message(StatusCode::METHOD_NOT_ALLOWED, b"");
        assert_eq!(empty, "method not allowed");
    }

    #[test]
    fn a_name_is_one_path_segment() {
        assert_eq!(segment("db/backup nightly"), "db%2Fbackup%20nightly");
        assert_eq!(segment("a-b.c_d~e"), "a-b.c_d~e");
    }
}
