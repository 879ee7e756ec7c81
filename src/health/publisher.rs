//! Publishing health to Redis (SPEC §6), on a task of its own.
//!
//! Nothing on the ping or delivery path ever waits for Redis: condition changes and job
//! alerts reach this task through a bounded queue ([`EventQueue::push`] never blocks
//! and drops when the queue is full), and `/health` reads the publisher's last word on
//! Redis instead of asking it. Every Redis operation has a time limit; a failure marks
//! Redis unreachable, pauses publishing and probes again with exponential backoff
//! (0.5 s doubling up to 5 s) through the same connection manager, which reconnects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{HealthMonitor, RedisUrl, SYSTEM_ALERTS_CHANNEL};
use crate::domain::UnixTime;
use crate::redis_target::{describe, Connector, RedisConnection};

/// Produces the performance summary of SPEC §7 for metrics publications.
pub type PerformanceSummary = Arc<dyn Fn() -> Value + Send + Sync>;

/// Events waiting for the alerts channel; beyond this they are dropped.
const QUEUE_CAPACITY: usize = 1024;
/// Longest wait for one Redis operation (connecting included).
const OP_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The sending side of the alerts-channel queue; disabled when no health Redis is set.
#[derive(Clone, Default)]
pub struct EventQueue {
    sender: Option<mpsc::Sender<String>>,
    /// Set while events are being dropped, so that a full queue warns once per episode.
    dropping: Arc<AtomicBool>,
}

/// A queue for `health:system:alerts` and its receiving end, or a disabled queue.
pub fn channel(enabled: bool) -> (EventQueue, Option<mpsc::Receiver<String>>) {
    if !enabled {
        return (EventQueue::default(), None);
    }
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let queue = EventQueue {
        sender: Some(sender),
        dropping: Arc::default(),
    };
    (queue, Some(receiver))
}

impl EventQueue {
    pub fn is_enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues `event` for the alerts channel without waiting.
    pub fn push(&self, event: Value) {
        let Some(sender) = &self.sender else {
            return;
        };
        match sender.try_send(event.to_string()) {
            Ok(()) => self.dropping.store(false, Ordering::Relaxed),
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        capacity = QUEUE_CAPACITY,
                        "health alerts queue is full while Redis is unreachable; dropping events"
                    );
                }
            }
            // The publisher has stopped: shutting down.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// The keys and channels of one service (`S` = `--service-name`).
struct Keys {
    status: String,
    metrics: String,
    latest: String,
    history: String,
}

impl Keys {
    fn of(service: &str) -> Self {
        let key = |suffix: &str| format!("health:service:{service}:{suffix}");
        Self {
            status: key("status"),
            metrics: key("metrics"),
            latest: key("latest"),
            history: key("history"),
        }
    }
}

/// Where and how often health is published (`--health-redis` and its intervals).
#[derive(Debug, Clone)]
pub struct PublishSettings {
    pub redis: RedisUrl,
    /// Interval between status publications.
    pub status_every: Duration,
    /// Interval between metrics publications.
    pub metrics_every: Duration,
    /// How long published history is kept.
    pub retention: Duration,
}

/// Publishes status, metrics and history on its intervals and drains the alerts queue.
pub struct Publisher {
    connector: Connector,
    monitor: Arc<HealthMonitor>,
    events: mpsc::Receiver<String>,
    status_every: Duration,
    metrics_every: Duration,
    retention: Duration,
    keys: Keys,
}

/// What woke the publisher.
enum Step {
    Probe,
    Status,
    Metrics,
    Event(String),
}

/// A Redis operation, with its document already built.
enum Op {
    Probe,
    Status(String),
    /// Unix milliseconds of the publication (the history score) and the document.
    Metrics(i64, String),
    Event(String),
}

impl Publisher {
    /// A publisher for `settings`, fed by `events`; it connects when it runs.
    pub fn new(
        settings: &PublishSettings,
        monitor: Arc<HealthMonitor>,
        events: mpsc::Receiver<String>,
    ) -> redis::RedisResult<Self> {
        let keys = Keys::of(monitor.service());
        Ok(Self {
            connector: settings.redis.connector()?,
            monitor,
            events,
            status_every: settings.status_every,
            metrics_every: settings.metrics_every,
            retention: settings.retention,
            keys,
        })
    }

    /// Why the health Redis refuses this monitor, when it answers but refuses (a wrong
    /// user or password, a certificate not trusted): a misconfiguration that stops the
    /// start. An unreachable Redis is not one; publishing waits for it.
    pub async fn refusal_at_start(&self) -> Option<String> {
        let attempt = async {
            let mut conn = self
                .connector
                .connect(ConnectionManagerConfig::new().set_number_of_retries(0))
                .await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await
        };
        match tokio::time::timeout(OP_TIMEOUT, attempt).await {
            Ok(Err(e)) => tokio::time::timeout(OP_TIMEOUT, self.connector.refusal(&e))
                .await
                .ok()
                .flatten(),
            Ok(Ok(())) | Err(_) => None,
        }
    }

    /// Publishes until `shutdown`. Connects at once; while Redis is unreachable, status
    /// and metrics ticks are skipped (they would be stale when it returns) and events
    /// wait in the queue; the first status goes out as soon as Redis answers again.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut conn: Option<RedisConnection> = None;
        let mut failures: u32 = 0;
        // `Some` while Redis is unreachable (or not yet connected): when to probe next.
        let mut retry_at = Some(Instant::now());
        // An event whose publication failed goes out first after reconnecting.
        let mut unsent: Option<String> = None;
        let mut status_tick = tokio::time::interval(self.status_every);
        status_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut metrics_tick = tokio::time::interval(self.metrics_every);
        metrics_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let resend = if retry_at.is_none() {
                unsent.take()
            } else {
                None
            };
            let step = match resend {
                Some(event) => Step::Event(event),
                None => {
                    let down = retry_at.is_some();
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if down => Step::Probe,
                        _ = status_tick.tick() => Step::Status,
                        _ = metrics_tick.tick() => Step::Metrics,
                        Some(event) = self.events.recv(), if !down => Step::Event(event),
                    }
                }
            };
            if retry_at.is_some() && !matches!(step, Step::Probe) {
                continue;
            }
            // Documents are built before the Redis time limit starts: a slow store
            // check must not pass for a slow Redis.
            let op = match step {
                Step::Probe => Op::Probe,
                Step::Status => Op::Status(self.monitor.report().await.to_json().to_string()),
                Step::Metrics => {
                    let at = UnixTime::now().millis();
                    Op::Metrics(at, self.metrics_document(at).await.to_string())
                }
                Step::Event(event) => Op::Event(event),
            };
            let probing = matches!(op, Op::Probe);
            let event = match &op {
                Op::Event(event) => Some(event.clone()),
                _ => None,
            };
            let outcome = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                outcome = tokio::time::timeout(OP_TIMEOUT, self.perform(op, &mut conn)) => outcome,
            };
            let result = match outcome {
                Ok(Ok(())) => Ok(()),
                // A refusal names the option to fix, as the start's refusal does.
                Ok(Err(e)) => Err(describe(&e)
                    .map_or_else(|| e.to_string(), |why| format!("--health-redis: {why}"))),
                Err(_) => Err(format!("no answer within {} s", OP_TIMEOUT.as_secs())),
            };
            match result {
                Ok(()) => {
                    if probing {
                        tracing::info!(
                            failed_probes = failures,
                            "health redis reachable; publishing"
                        );
                        failures = 0;
                        retry_at = None;
                        // A fresh status as soon as Redis answers again.
                        status_tick.reset_immediately();
                    }
                    self.monitor.set_redis_reachable(Ok(()));
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures);
                    tracing::debug!(error = %e, retry_in_ms = wait.as_millis() as u64, "health publication failed");
                    unsent = unsent.or(event);
                    // Behind Sentinels the master may have moved: look it up again.
                    if self.connector.follows_failovers() {
                        conn = None;
                    }
                    retry_at = Some(Instant::now() + wait);
                    self.monitor.set_redis_reachable(Err(e));
                }
            }
        }
    }

    async fn perform(&self, op: Op, conn: &mut Option<RedisConnection>) -> redis::RedisResult<()> {
        if conn.is_none() {
            let config = ConnectionManagerConfig::new()
                // Retries are this task's own backoff; the manager reconnects on demand.
                .set_number_of_retries(0)
                .set_connection_timeout(OP_TIMEOUT)
                .set_response_timeout(OP_TIMEOUT);
            *conn = Some(self.connector.connect(config).await?);
        }
        let Some(conn) = conn.as_mut() else {
            return Ok(());
        };
        match op {
            Op::Probe => redis::cmd("PING").query_async::<()>(conn).await,
            // A cluster routes a pipeline to one node, and the channel and the key of a
            // publication live in different slots: there, the publication goes alone.
            Op::Status(document) if matches!(conn, RedisConnection::Cluster(_)) => {
                redis::cmd("PUBLISH")
                    .arg(&self.keys.status)
                    .arg(&document)
                    .query_async::<()>(&mut *conn)
                    .await?;
                redis::cmd("SET")
                    .arg(&self.keys.latest)
                    .arg(&document)
                    .arg("EX")
                    .arg(self.retention_secs())
                    .query_async::<()>(conn)
                    .await
            }
            Op::Metrics(at, document) if matches!(conn, RedisConnection::Cluster(_)) => {
                redis::cmd("PUBLISH")
                    .arg(&self.keys.metrics)
                    .arg(&document)
                    .query_async::<()>(&mut *conn)
                    .await?;
                self.history_pipe(at, &document)
                    .query_async::<()>(conn)
                    .await
            }
            Op::Status(document) => {
                redis::pipe()
                    .cmd("PUBLISH")
                    .arg(&self.keys.status)
                    .arg(&document)
                    .ignore()
                    .cmd("SET")
                    .arg(&self.keys.latest)
                    .arg(&document)
                    .arg("EX")
                    .arg(self.retention_secs())
                    .ignore()
                    .query_async::<()>(conn)
                    .await
            }
            Op::Metrics(at, document) => {
                let retention_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
                redis::pipe()
                    .atomic()
                    .cmd("PUBLISH")
                    .arg(&self.keys.metrics)
                    .arg(&document)
                    .ignore()
                    .cmd("ZADD")
                    .arg(&self.keys.history)
                    .arg(at)
                    .arg(&document)
                    .ignore()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&self.keys.history)
                    .arg("-inf")
                    .arg(format!("({}", at.saturating_sub(retention_ms)))
                    .ignore()
                    // The whole history goes once nothing was added for a retention.
                    .cmd("PEXPIRE")
                    .arg(&self.keys.history)
                    .arg(retention_ms)
                    .ignore()
                    .query_async::<()>(conn)
                    .await
            }
            Op::Event(event) => {
                redis::cmd("PUBLISH")
                    .arg(SYSTEM_ALERTS_CHANNEL)
                    .arg(event)
                    .query_async::<()>(conn)
                    .await
            }
        }
    }

    /// The history's part of a metrics publication, in one transaction on its one key.
    fn history_pipe(&self, at: i64, document: &str) -> redis::Pipeline {
        let retention_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZADD")
            .arg(&self.keys.history)
            .arg(at)
            .arg(document)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&self.keys.history)
            .arg("-inf")
            .arg(format!("({}", at.saturating_sub(retention_ms)))
            .ignore()
            // The whole history goes once nothing was added for a retention.
            .cmd("PEXPIRE")
            .arg(&self.keys.history)
            .arg(retention_ms)
            .ignore();
        pipe
    }

    /// The metrics publication: the indicators with the status they make, and the
    /// performance summary of SPEC §7.
    async fn metrics_document(&self, at_ms: i64) -> Value {
        let report = self.monitor.report().await;
        json!({
            "service": report.service,
            "instance": report.instance,
            "at": UnixTime::from_millis(at_ms).unwrap_or_else(UnixTime::now).rfc3339(),
            "at_unix_ms": at_ms,
            "status": report.status,
            "indicators": report.indicators,
            "performance": self.monitor.performance_summary(),
        })
    }

    /// The `latest` key's expiry: the retention in whole seconds, rounded up.
    fn retention_secs(&self) -> u64 {
        let secs = self.retention.as_secs();
        let rounded = if self.retention.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        };
        rounded.max(1)
    }
}

/// 0.5 s, 1 s, 2 s, 4 s, then 5 s between probes of an unreachable Redis.
fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(8);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_back_off_from_half_a_second_to_five() {
        let waits: Vec<u128> = (1..=7).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn keys_follow_the_service_name() {
        let keys = Keys::of("billing");
        assert_eq!(keys.status, "health:service:billing:status");
        assert_eq!(keys.metrics, "health:service:billing:metrics");
        assert_eq!(keys.latest, "health:service:billing:latest");
        assert_eq!(keys.history, "health:service:billing:history");
    }

    #[test]
    fn a_full_queue_drops_instead_of_waiting() {
        let (queue, receiver) = channel(true);
        for n in 0..QUEUE_CAPACITY + 10 {
            queue.push(json!({ "n": n }));
        }
        let mut receiver = receiver.unwrap();
        let mut received = 0;
        while receiver.try_recv().is_ok() {
            received += 1;
        }
        assert_eq!(received, QUEUE_CAPACITY);
        let (disabled, none) = channel(false);
        assert!(!disabled.is_enabled() && none.is_none());
        disabled.push(json!({}));
    }
}
