//! Delivers alerts from the outbox with bounded concurrency, one at a time per job, and
//! retries with exponential backoff. An alert leaves the outbox only after a 2xx or
//! when it gives up, so a restart never loses one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{AlertUri, Signer};
use crate::backend::{Backend, Delivery, PendingAlert, Wakers};
use crate::domain::{Alert, DeliveryEvent, UnixTime};

/// Deliveries in flight at once; one per job at most.
const CONCURRENCY: usize = 64;
/// One attempt may take this long before it counts as a failure.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// An alert that could not be delivered for this long is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long shutdown waits for deliveries in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Of a webhook's error answer, at most this much is read, looking for its first line.
const ANSWER_READ_BYTES: usize = 4 * 1024;
/// Of that first line, at most this much is logged.
const ANSWER_LOG_BYTES: usize = 200;
/// Of why a delivery failed, at most this much is kept in its event.
const ERROR_EVENT_BYTES: usize = 300;

/// Where alerts go.
#[derive(Clone, Debug)]
pub enum Sink {
    Webhook {
        uri: AlertUri,
        signer: Option<Signer>,
    },
    /// No webhook configured: alerts are written to the log.
    Log,
}

impl Sink {
    /// The channel's name as a delivery event shows it: `webhook:<host>` (no port,
    /// path, query or credentials), or `log`.
    pub fn channel_name(&self) -> String {
        match self {
            Sink::Webhook { uri, .. } => format!("webhook:{}", uri.url().host_str().unwrap_or("")),
            Sink::Log => "log".to_owned(),
        }
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx (or written to the log when no webhook is set).
    Delivered,
    /// Failed; the alert will be tried again.
    Retrying,
    /// The webhook refused it (a 4xx other than 408 and 429, or a 3xx): not retried.
    Refused,
    /// Still failing 24 h after it was raised: dropped.
    GaveUp,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retrying => "retrying",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::GaveUp => "gave_up",
        }
    }
}

/// One delivery attempt, as the observers see it.
#[derive(Debug, Clone)]
pub struct AttemptReport<'a> {
    pub alert: &'a Alert,
    /// 1 for the first attempt of this alert.
    pub attempt: u32,
    pub outcome: AttemptOutcome,
    /// How long the attempt took (the HTTP round trip).
    pub elapsed: Duration,
    /// The webhook's status, when it answered.
    pub status: Option<u16>,
    /// `false` when no webhook is configured and the alert went to the log.
    pub to_webhook: bool,
}

/// Watches delivery attempts: health indicators, metrics and publishers implement it.
/// Called on the delivery task after each attempt; it must not block.
pub trait DeliveryObserver: Send + Sync {
    fn attempt(&self, report: &AttemptReport<'_>);
}

pub struct Dispatcher {
    backend: Arc<dyn Backend>,
    signals: Wakers,
    sink: Sink,
    client: reqwest::Client,
    monitor: Arc<str>,
    observers: Vec<Arc<dyn DeliveryObserver>>,
}

/// What one attempt produced.
enum Attempt {
    Success(Option<StatusCode>),
    Retryable {
        reason: String,
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
        /// The first line of the webhook's answer, when it answered an error.
        answer: Option<String>,
    },
    Permanent {
        reason: String,
        status: Option<StatusCode>,
        /// The first line of the webhook's answer: why it refused, in its words.
        answer: Option<String>,
    },
}

impl Dispatcher {
    pub fn new(
        backend: Arc<dyn Backend>,
        signals: Wakers,
        sink: Sink,
        monitor: &str,
        observers: Vec<Arc<dyn DeliveryObserver>>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("overdue/", env!("CARGO_PKG_VERSION")))
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            // A redirect of a webhook POST is a misconfiguration, not something to
            // follow silently with a changed method.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            backend,
            signals,
            sink,
            client,
            monitor: Arc::from(monitor),
            observers,
        })
    }

    /// Delivers until `shutdown`, then gives deliveries in flight up to 5 s; what is not
    /// delivered by then stays in the outbox for the next start.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let mut tasks = JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            let now = UnixTime::now();
            let free = permits.available_permits();
            if free > 0 {
                let leased = match this.backend.lease_alerts(now, free).await {
                    Ok(leased) => leased,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot lease alerts; retrying shortly");
                        Vec::new()
                    }
                };
                for pending in leased {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        break;
                    };
                    let this = this.clone();
                    tasks.spawn(async move {
                        this.deliver(pending).await;
                        drop(permit);
                    });
                }
            }
            let wait = this
                .backend
                .next_alert_at()
                .await
                .map(|at| UnixTime::now().until(at))
                .unwrap_or(Duration::from_secs(60))
                // The floor keeps a store that fails to lease from turning this into a spin.
                .clamp(Duration::from_millis(5), Duration::from_secs(60));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = this.signals.dispatcher.notified() => {}
                () = tokio::time::sleep(wait), if permits.available_permits() > 0 => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                in_flight = tasks.len(),
                "alert deliveries still running at shutdown stay queued for the next start"
            );
            tasks.abort_all();
        }
    }

    async fn deliver(&self, pending: PendingAlert) {
        let alert = &pending.alert;
        let attempt_no = pending.attempts + 1;
        let started = Instant::now();
        let result = match &self.sink {
            Sink::Log => {
                tracing::warn!(
                    job = %alert.name,
                    event = alert.event.as_str(),
                    alert_id = %alert.id,
                    alert_count = alert.alert_count,
                    overdue_seconds = alert.overdue_seconds,
                    expected_by = %alert.expected_by,
                    "job alert (no PING_ALERT_URI set, logged only)"
                );
                Attempt::Success(None)
            }
            Sink::Webhook { uri, signer } => self.post(uri, signer.as_ref(), &pending).await,
        };
        let elapsed = started.elapsed();
        let elapsed_ms = crate::logging::millis(elapsed);
        let (outcome, observed, status, error) = match result {
            Attempt::Success(status) => {
                tracing::info!(
                    job = %alert.name, alert_id = %alert.id, event = alert.event.as_str(),
                    attempt = attempt_no, status = status.map(|s| s.as_u16()), elapsed_ms,
                    "alert delivered"
                );
                (Delivery::Delivered, AttemptOutcome::Delivered, status, None)
            }
            Attempt::Permanent {
                reason,
                status,
                answer,
            } => {
                tracing::error!(
                    job = %alert.name, alert_id = %alert.id, attempt = attempt_no, %reason,
                    answer = answer.as_deref(), elapsed_ms, "alert refused by the webhook; not retried"
                );
                let error = error_line(&reason, answer.as_deref());
                (Delivery::GaveUp, AttemptOutcome::Refused, status, error)
            }
            Attempt::Retryable {
                reason,
                status,
                retry_after,
                answer,
            } => {
                let backoff = backoff(pending.attempts);
                // Retry-After is honoured, but never below the first backoff step: a
                // "0" or a past date must not turn retries into a flood.
                let delay = retry_after.map_or(backoff, |after| after.max(FIRST_BACKOFF));
                let next = UnixTime::now()
                    .plus_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                let deadline = UnixTime::from_secs(alert.raised_at_unix)
                    .unwrap_or(next)
                    .plus(GIVE_UP_AFTER.as_secs());
                if next > deadline {
                    tracing::error!(
                        job = %alert.name, alert_id = %alert.id, attempt = attempt_no, %reason,
                        answer = answer.as_deref(), "alert undeliverable for 24 h; giving up"
                    );
                    let error = error_line(&reason, answer.as_deref());
                    (Delivery::GaveUp, AttemptOutcome::GaveUp, status, error)
                } else {
                    tracing::warn!(
                        job = %alert.name, alert_id = %alert.id, attempt = attempt_no, %reason,
                        answer = answer.as_deref(), elapsed_ms, retry_in_ms = delay.as_millis() as u64,
                        "alert delivery failed; will retry"
                    );
                    (
                        Delivery::RetryAt(next),
                        AttemptOutcome::Retrying,
                        status,
                        None,
                    )
                }
            }
        };
        let report = AttemptReport {
            alert,
            attempt: attempt_no,
            outcome: observed,
            elapsed,
            status: status.map(|s| s.as_u16()),
            to_webhook: matches!(self.sink, Sink::Webhook { .. }),
        };
        for observer in &self.observers {
            observer.attempt(&report);
        }
        let ended = !matches!(outcome, Delivery::RetryAt(_));
        if let Err(e) = self.backend.finish_alert(&pending, outcome).await {
            tracing::error!(alert_id = %alert.id, error = %e, "could not record the delivery outcome");
        }
        self.signals.dispatcher.notify_one();
        // The log sink is no channel (SPEC §14): only a channel's delivery is an event.
        if ended && !matches!(self.sink, Sink::Log) {
            self.record_delivery(alert, attempt_no, observed, status, error);
        }
    }

    /// Writes the end of a delivery into the job's history (SPEC §13) on a task of its
    /// own: the history is a record, not part of delivering, so a slow or failing store
    /// write neither delays the next delivery nor is retried.
    fn record_delivery(
        &self,
        alert: &Alert,
        attempts: u32,
        outcome: AttemptOutcome,
        status: Option<StatusCode>,
        last_error: Option<String>,
    ) {
        let event = DeliveryEvent {
            alert_id: alert.id.to_string(),
            event: alert.event.as_str(),
            channel: self.sink.channel_name(),
            delivered: outcome == AttemptOutcome::Delivered,
            attempts,
            last_status: status.map(|s| s.as_u16()),
            last_error,
        };
        let backend = self.backend.clone();
        let name = alert.name.clone();
        tokio::spawn(async move {
            if let Err(e) = backend.record_delivery(&name, event, UnixTime::now()).await {
                tracing::debug!(job = %name, error = %e, "could not record a delivery event");
            }
        });
    }

    async fn post(
        &self,
        uri: &AlertUri,
        signer: Option<&Signer>,
        pending: &PendingAlert,
    ) -> Attempt {
        let alert = &pending.alert;
        let now = UnixTime::now();
        let body = match serde_json::to_vec(&alert.payload(now, &self.monitor)) {
            Ok(body) => body,
            Err(e) => {
                return Attempt::Permanent {
                    reason: format!("cannot encode the alert: {e}"),
                    status: None,
                    answer: None,
                }
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(id) = HeaderValue::from_str(&alert.id) {
            headers.insert("idempotency-key", id.clone());
            if let Some(signer) = signer {
                headers.insert("webhook-id", id);
                headers.insert("webhook-timestamp", HeaderValue::from(now.secs()));
                if let Ok(sig) = HeaderValue::from_str(&signer.sign(&alert.id, now.secs(), &body)) {
                    headers.insert("webhook-signature", sig);
                }
            }
        }
        let response = self
            .client
            .post(uri.url().clone())
            .headers(headers)
            .body(body)
            .send()
            .await;
        match response {
            Err(e) => Attempt::Retryable {
                reason: if e.is_timeout() {
                    "timed out after 10s".to_owned()
                } else {
                    format!("connection failed: {}", error_chain(&e))
                },
                status: None,
                retry_after: None,
                answer: None,
            },
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    return Attempt::Success(Some(status));
                }
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let reason = format!("webhook answered {status}");
                let answer = answer_line(response).await;
                if status == StatusCode::REQUEST_TIMEOUT
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status.is_server_error()
                {
                    Attempt::Retryable {
                        reason,
                        status: Some(status),
                        retry_after: retry_after.filter(|_| {
                            status == StatusCode::TOO_MANY_REQUESTS
                                || status == StatusCode::SERVICE_UNAVAILABLE
                        }),
                        answer,
                    }
                } else {
                    Attempt::Permanent {
                        reason,
                        status: Some(status),
                        answer,
                    }
                }
            }
        }
    }
}

/// Why a delivery ended badly, as one bounded line: the reason and the webhook's own
/// first line, when it gave one.
fn error_line(reason: &str, answer: Option<&str>) -> Option<String> {
    let line = match answer {
        Some(answer) => format!("{reason}: {answer}"),
        None => reason.to_owned(),
    };
    first_line(line.as_bytes(), ERROR_EVENT_BYTES)
}

/// The first non-empty line of a webhook's error answer, for the log, so that the
/// operator sees why it refused. At most [`ANSWER_READ_BYTES`] of the body are read
/// (within the attempt's timeout) and [`ANSWER_LOG_BYTES`] of the line kept: a webhook
/// cannot fill the log or hold the dispatcher with a large answer.
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

/// 1 s, 2 s, 4 s, … capped at 5 min, after `attempts` failed attempts (≥ 1 counted on
/// the one that just failed).
pub fn backoff(previous_attempts: u32) -> Duration {
    let factor = 1u64
        .checked_shl(previous_attempts.min(20))
        .unwrap_or(u64::MAX);
    FIRST_BACKOFF
        .checked_mul(u32::try_from(factor).unwrap_or(u32::MAX))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// `Retry-After` as delta-seconds or an HTTP date, capped at the give-up horizon.
fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(GIVE_UP_AFTER));
    }
    let at = httpdate_to_unix(raw)?;
    let now = UnixTime::now().secs();
    Some(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)).min(GIVE_UP_AFTER))
}

fn httpdate_to_unix(raw: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(raw, &format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
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
    fn a_channel_is_named_without_its_port_path_query_or_credentials() {
        let uri = AlertUri::parse("https://user:pw@hooks.example:8443/x/y?key=abc").unwrap();
        let sink = Sink::Webhook { uri, signer: None };
        assert_eq!(sink.channel_name(), "webhook:hooks.example");
        assert_eq!(Sink::Log.channel_name(), "log");
    }

    #[test]
    fn a_delivery_error_is_one_bounded_line() {
        assert_eq!(
            error_line("webhook answered 410 Gone", Some("no such hook")).as_deref(),
            Some("webhook answered 410 Gone: no such hook")
        );
        let long = format!("connection failed: {}\nsecond", "x".repeat(1_000));
        let line = error_line(&long, None).expect("a line");
        assert!(
            line.len() <= ERROR_EVENT_BYTES && !line.contains('\n'),
            "{line}"
        );
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let secs: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
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
