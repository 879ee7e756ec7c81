//! Delivers alerts from the outbox with bounded concurrency, one at a time per job, and
//! retries with exponential backoff. An alert leaves the outbox only after every
//! channel that takes it has delivered it or refused it, or when it gives up, so a
//! restart never loses one.
//!
//! Interim, until the outbox holds one entry per alert and channel: an alert goes to
//! its channels at once (one task each, so a channel that hangs delays no other beyond
//! the attempt's timeout), and a failure of any of them retries the alert. The channels
//! that already took it are remembered in memory and skipped on its retries; after a
//! restart they may get it twice (at-least-once, receivers dedupe).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::channels::{Channel, ChannelKind, Outcome, Transports};
use crate::backend::{Backend, Delivery, PendingAlert, Wakers};
use crate::domain::{Alert, DeliveryEvent, UnixTime};

/// Deliveries in flight at once; one per job at most.
const CONCURRENCY: usize = 64;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// An alert that could not be delivered for this long is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long shutdown waits for deliveries in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Of an error kept for `GET /channels`, at most this many characters.
const LAST_ERROR_CHARS: usize = 300;
/// Of why a delivery failed, at most this much is kept in its event.
const ERROR_EVENT_BYTES: usize = 300;

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx (or written to the log when no channel is set).
    Delivered,
    /// Failed; the alert will be tried again.
    Retrying,
    /// The channel refused it (a 4xx other than 408 and 429, a 3xx, an SMTP 5xx): not
    /// retried.
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

/// One delivery attempt to one channel, as the observers see it.
#[derive(Debug, Clone)]
pub struct AttemptReport<'a> {
    pub alert: &'a Alert,
    /// 1 for the first attempt of this alert.
    pub attempt: u32,
    pub outcome: AttemptOutcome,
    /// How long the attempt took (the service's round trip).
    pub elapsed: Duration,
    /// The service's HTTP status, when it answered one.
    pub status: Option<u16>,
    /// `false` when no channel is configured and the alert went to the log.
    pub to_webhook: bool,
    /// The channel's name (`slack:hooks.slack.com`); `None` when logged.
    pub channel: Option<&'a str>,
    /// Whether this is the first report of this attempt of the alert (an alert's
    /// attempt is reported once per channel).
    pub first_of_attempt: bool,
}

/// Watches delivery attempts: health indicators, metrics and publishers implement it.
/// Called on the delivery task after each attempt; it must not block.
pub trait DeliveryObserver: Send + Sync {
    fn attempt(&self, report: &AttemptReport<'_>);
}

/// One channel's counters since the start, for `GET /channels` and `/health`.
#[derive(Debug, Default)]
pub struct ChannelStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// Alerts waiting for a retry to this channel (this process's view).
    backlog: AtomicU64,
    /// Failed attempts since the last success.
    consecutive_failures: AtomicU32,
    last_error: Mutex<Option<String>>,
}

impl ChannelStats {
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Failed attempts (retried, refused or given up).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    /// Delivered attempts over all attempts, in percent; `None` before the first.
    pub fn success_rate_percent(&self) -> Option<f64> {
        let delivered = self.delivered();
        let total = delivered + self.failed();
        #[allow(clippy::cast_precision_loss)]
        (total > 0).then(|| (delivered as f64) * 100.0 / (total as f64))
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    fn record(&self, outcome: &Outcome) {
        match outcome.error() {
            None => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
            Some(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                *lock(&self.last_error) = Some(error.chars().take(LAST_ERROR_CHARS).collect());
            }
        }
    }
}

/// The configured channels and their counters: shared by the dispatcher, which
/// counts, and the HTTP routes, which show. Cheap to clone.
#[derive(Clone)]
pub struct DispatcherStats {
    channels: Arc<[Channel]>,
    stats: Arc<[ChannelStats]>,
}

impl DispatcherStats {
    pub fn new(channels: Vec<Channel>) -> Self {
        let stats = channels.iter().map(|_| ChannelStats::default()).collect();
        Self {
            channels: channels.into(),
            stats,
        }
    }

    /// Each channel with its counters, in configuration order.
    pub fn channels(&self) -> impl Iterator<Item = (&Channel, &ChannelStats)> {
        self.channels.iter().zip(self.stats.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

pub struct Dispatcher {
    backend: Arc<dyn Backend>,
    signals: Wakers,
    stats: DispatcherStats,
    transports: Transports,
    observers: Vec<Arc<dyn DeliveryObserver>>,
    /// Per alert id being retried, the channels that already took it.
    delivered_to: Mutex<HashMap<String, Vec<bool>>>,
}

impl Dispatcher {
    pub fn new(
        backend: Arc<dyn Backend>,
        signals: Wakers,
        stats: DispatcherStats,
        transports: Transports,
        observers: Vec<Arc<dyn DeliveryObserver>>,
    ) -> Self {
        Self {
            backend,
            signals,
            stats,
            transports,
            observers,
            delivered_to: Mutex::new(HashMap::new()),
        }
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
        let outcome = if self.stats.is_empty() {
            self.log_only(&pending)
        } else {
            self.to_channels(&pending).await
        };
        if let Err(e) = self.backend.finish_alert(&pending, outcome).await {
            tracing::error!(alert_id = %pending.alert.id, error = %e, "could not record the delivery outcome");
        }
        self.signals.dispatcher.notify_one();
    }

    fn log_only(&self, pending: &PendingAlert) -> Delivery {
        let alert = &pending.alert;
        tracing::warn!(
            job = %alert.name,
            event = alert.event.as_str(),
            alert_id = %alert.id,
            alert_count = alert.alert_count,
            overdue_seconds = alert.overdue_seconds,
            expected_by = %alert.expected_by,
            "job alert (no PING_ALERT_URI set, logged only)"
        );
        let report = AttemptReport {
            alert,
            attempt: pending.attempts + 1,
            outcome: AttemptOutcome::Delivered,
            elapsed: Duration::ZERO,
            status: None,
            to_webhook: false,
            channel: None,
            first_of_attempt: true,
        };
        for observer in &self.observers {
            observer.attempt(&report);
        }
        Delivery::Delivered
    }

    /// One attempt to each channel that takes the alert and has not taken it yet, all
    /// at once; the alert is retried while any of them asks for it.
    async fn to_channels(&self, pending: &PendingAlert) -> Delivery {
        let alert = &pending.alert;
        let attempt_no = pending.attempts + 1;
        let done = lock(&self.delivered_to).get(&alert.id).cloned();
        let targets: Vec<usize> = self
            .stats
            .channels
            .iter()
            .enumerate()
            .filter(|(i, channel)| {
                channel.wants(alert) && done.as_ref().is_none_or(|d| d.get(*i) != Some(&true))
            })
            .map(|(i, _)| i)
            .collect();
        let mut attempts = JoinSet::new();
        let sent_at = UnixTime::now();
        for &index in &targets {
            let channels = self.stats.channels.clone();
            let transports = self.transports.clone();
            let alert = alert.clone();
            attempts.spawn(async move {
                let started = Instant::now();
                let outcome = match channels.get(index) {
                    Some(channel) => transports.send(channel, &alert, sent_at).await,
                    None => Outcome::Delivered { status: None },
                };
                (index, outcome, started.elapsed())
            });
        }
        let mut results = Vec::with_capacity(targets.len());
        while let Some(joined) = attempts.join_next().await {
            match joined {
                Ok(result) => results.push(result),
                Err(e) => {
                    tracing::error!(alert_id = %alert.id, error = %e, "a channel's delivery task failed")
                }
            }
        }
        // A task that failed to report counts as a retry of its channel.
        let mut retry_delay: Option<Duration> =
            (results.len() < targets.len()).then(|| backoff(pending.attempts));
        for (_, outcome, _) in &results {
            if let Outcome::Retry { retry_after, .. } = outcome {
                let backoff = backoff(pending.attempts);
                // Retry-After is honoured, but never below the first backoff step: a
                // "0" or a past date must not turn retries into a flood.
                let delay = retry_after.map_or(backoff, |after| after.max(FIRST_BACKOFF));
                retry_delay = Some(retry_delay.map_or(delay, |d| d.max(delay)));
            }
        }
        let next = retry_delay.map(|delay| {
            UnixTime::now().plus_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
        });
        let deadline = UnixTime::from_secs(alert.raised_at_unix)
            .unwrap_or(sent_at)
            .plus(GIVE_UP_AFTER.as_secs());
        let giving_up = next.is_some_and(|next| next > deadline);

        let retried_before = done.is_some();
        let mut taken = done.unwrap_or_else(|| vec![false; self.stats.channels.len()]);
        for (position, (index, outcome, elapsed)) in results.iter().enumerate() {
            let (Some(channel), Some(stats)) = (
                self.stats.channels.get(*index),
                self.stats.stats.get(*index),
            ) else {
                continue;
            };
            let observed = self.log_attempt(
                channel, alert, attempt_no, outcome, *elapsed, giving_up, next,
            );
            stats.record(outcome);
            let was_waiting = retried_before && taken.get(*index) == Some(&false);
            match outcome {
                Outcome::Retry { .. } if !giving_up => {
                    if !was_waiting {
                        stats.backlog.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ => {
                    if was_waiting {
                        stats.backlog.fetch_sub(1, Ordering::Relaxed);
                    }
                    if let Some(slot) = taken.get_mut(*index) {
                        *slot = true;
                    }
                    self.record_delivery(channel, alert, attempt_no, outcome);
                }
            }
            let report = AttemptReport {
                alert,
                attempt: attempt_no,
                outcome: observed,
                elapsed: *elapsed,
                status: outcome.status(),
                to_webhook: true,
                channel: Some(channel.name()),
                first_of_attempt: position == 0,
            };
            for observer in &self.observers {
                observer.attempt(&report);
            }
        }
        match next {
            Some(next) if !giving_up => {
                // Channels still waiting are marked "not taken" and counted in their
                // backlog; remembered so that the next attempt knows which to skip.
                let mut waiting = lock(&self.delivered_to);
                waiting.insert(alert.id.clone(), taken);
                Delivery::RetryAt(next)
            }
            _ => {
                lock(&self.delivered_to).remove(&alert.id);
                if giving_up {
                    Delivery::GaveUp
                } else {
                    Delivery::Delivered
                }
            }
        }
    }

    /// Writes the end of a delivery to one channel into the job's history (SPEC §13)
    /// on a task of its own: the history is a record, not part of delivering, so a
    /// slow or failing store write neither delays the next delivery nor is retried.
    fn record_delivery(&self, channel: &Channel, alert: &Alert, attempts: u32, outcome: &Outcome) {
        let event = DeliveryEvent {
            alert_id: alert.id.to_string(),
            event: alert.event.as_str(),
            channel: channel.name().to_owned(),
            delivered: matches!(outcome, Outcome::Delivered { .. }),
            attempts,
            last_status: outcome.status(),
            last_error: outcome
                .error()
                .and_then(|e| first_line(e.as_bytes(), ERROR_EVENT_BYTES)),
        };
        let backend = self.backend.clone();
        let name = alert.name.clone();
        tokio::spawn(async move {
            if let Err(e) = backend.record_delivery(&name, event, UnixTime::now()).await {
                tracing::debug!(job = %name, error = %e, "could not record a delivery event");
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn log_attempt(
        &self,
        channel: &Channel,
        alert: &Alert,
        attempt_no: u32,
        outcome: &Outcome,
        elapsed: Duration,
        giving_up: bool,
        next: Option<UnixTime>,
    ) -> AttemptOutcome {
        let elapsed_ms = crate::logging::millis(elapsed);
        let name = channel.name();
        match outcome {
            Outcome::Delivered { status } => {
                tracing::info!(
                    job = %alert.name, alert_id = %alert.id, event = alert.event.as_str(),
                    channel = name, attempt = attempt_no, status, elapsed_ms,
                    "alert delivered"
                );
                AttemptOutcome::Delivered
            }
            Outcome::GiveUp { reason, answer, .. } => {
                if channel.kind() == ChannelKind::Webhook {
                    tracing::error!(
                        job = %alert.name, alert_id = %alert.id, channel = name, attempt = attempt_no,
                        %reason, answer = answer.as_deref(), elapsed_ms,
                        "alert refused by the webhook; not retried"
                    );
                } else {
                    tracing::error!(
                        job = %alert.name, alert_id = %alert.id, channel = name, attempt = attempt_no,
                        %reason, answer = answer.as_deref(), elapsed_ms,
                        "alert refused by the channel; not retried"
                    );
                }
                AttemptOutcome::Refused
            }
            Outcome::Retry { reason, answer, .. } if giving_up => {
                tracing::error!(
                    job = %alert.name, alert_id = %alert.id, channel = name, attempt = attempt_no,
                    %reason, answer = answer.as_deref(), "alert undeliverable for 24 h; giving up"
                );
                AttemptOutcome::GaveUp
            }
            Outcome::Retry { reason, answer, .. } => {
                let retry_in_ms =
                    next.map_or(0, |next| UnixTime::now().until(next).as_millis() as u64);
                tracing::warn!(
                    job = %alert.name, alert_id = %alert.id, channel = name, attempt = attempt_no,
                    %reason, answer = answer.as_deref(), elapsed_ms, retry_in_ms,
                    "alert delivery failed; will retry"
                );
                AttemptOutcome::Retrying
            }
        }
    }
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let secs: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
