//! The health monitor: measures the indicators of SPEC §6, evaluates the conditions
//! against their thresholds, and notices transitions.
//!
//! Every evaluation (a `/health` request, a publication, or the periodic evaluator)
//! compares the conditions it found with the ones active before, under one lock, so a
//! raise or a resolve is logged and queued for the alerts channel exactly once,
//! whoever noticed it first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub use super::conditions::{evaluate, Condition, HealthStatus, Measurement, Severity, Thresholds};
use super::history::HealthHistory;
use super::hour_counters::{DeliveryResult, HourCounter, SinkStats};
use super::millis;
use super::publisher::{EventQueue, PerformanceSummary, PublishSettings};
pub use super::report::{HealthReport, Indicators};
use crate::alerts::{AttemptOutcome, AttemptReport, DeliveryObserver};
use crate::backend::Backend;
use crate::domain::UnixTime;
use crate::sync::lock;

/// A store round trip slower than this counts as the store not answering; it also keeps
/// `/health` from hanging on a stuck writer.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The health settings: the monitor's own, the evaluator's interval, and where and
/// how often to publish.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This monitor's name in documents and channels (`--service-name`).
    pub service: String,
    /// This instance's name in documents (see [`super::instance_name`]).
    pub instance: String,
    pub thresholds: Thresholds,
    /// Whether a webhook is configured; without one, the sink indicators are `null`.
    pub sink_configured: bool,
    /// Conditions are evaluated at least this often, so that raises and resolves are
    /// noticed even when nobody asks for `/health`.
    pub evaluate_every: Duration,
    /// Where and how often to publish; `None` publishes nothing.
    pub publishing: Option<PublishSettings>,
    /// `--health-retention`: the span of the history the dashboard charts (kept in
    /// every process, publishing or not).
    pub history_retention: Duration,
}

/// The health Redis as the publisher last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RedisSeen {
    NotConfigured,
    /// Configured; no connection attempted yet.
    Unknown,
    Reachable,
    Unreachable(String),
}

/// The `channels` entries of `/health`, given each channel key's waiting entries.
pub type ChannelSummary =
    Arc<dyn Fn(&std::collections::HashMap<String, u64>) -> Value + Send + Sync>;

/// Measures, evaluates and remembers which conditions are active. Shared by the
/// `/health` handler (reads), the ping handler (counts pings), the dispatcher (as a
/// [`DeliveryObserver`]), the evaluator and the publisher.
pub struct HealthMonitor {
    backend: Arc<dyn Backend>,
    settings: Settings,
    started: Instant,
    pings: HourCounter,
    sink: SinkStats,
    /// Written by the publisher after every Redis operation.
    redis: Mutex<RedisSeen>,
    /// The conditions raised and not yet resolved, by code.
    active: Mutex<BTreeMap<&'static str, Condition>>,
    /// Raises, resolves and job alerts for the system alerts channel.
    events: EventQueue,
    /// Set once by the performance layer; `null` in metrics publications until then.
    performance: OnceLock<PerformanceSummary>,
    /// Set once at start by `run`: the per-channel entries of the report.
    channels: OnceLock<ChannelSummary>,
    /// Written by the health sampler, read by the dashboard's health page.
    history: HealthHistory,
}

impl HealthMonitor {
    /// A monitor of `backend` with `settings`, queueing raises and resolves on `events`.
    pub fn new(backend: Arc<dyn Backend>, settings: Settings, events: EventQueue) -> Self {
        let redis = if settings.publishing.is_some() {
            RedisSeen::Unknown
        } else {
            RedisSeen::NotConfigured
        };
        Self {
            backend,
            history: HealthHistory::new(settings.history_retention),
            settings,
            started: Instant::now(),
            pings: HourCounter::default(),
            sink: SinkStats::default(),
            redis: Mutex::new(redis),
            active: Mutex::new(BTreeMap::new()),
            events,
            performance: OnceLock::new(),
            channels: OnceLock::new(),
        }
    }

    /// The thresholds the conditions are measured against.
    pub fn thresholds(&self) -> &Thresholds {
        &self.settings.thresholds
    }

    /// The health figures sampled over `--health-retention`, for the dashboard.
    pub fn history(&self) -> &HealthHistory {
        &self.history
    }

    /// `--service-name`.
    pub fn service(&self) -> &str {
        &self.settings.service
    }

    /// The host name reported as `instance`.
    pub fn instance(&self) -> &str {
        &self.settings.instance
    }

    /// Counts a recorded ping for `pings_per_hour`; two atomic operations.
    pub fn count_ping(&self, now_secs: i64) {
        self.pings.record(now_secs);
    }

    /// The publisher reports the outcome of its last Redis operation here.
    pub fn set_redis_reachable(&self, result: Result<(), String>) {
        let seen = match result {
            Ok(()) => RedisSeen::Reachable,
            Err(e) => RedisSeen::Unreachable(e),
        };
        *lock(&self.redis) = seen;
    }

    /// Connects the performance summary of SPEC §7 to the metrics publications; only
    /// the first call counts.
    pub fn set_performance_summary(&self, summary: PerformanceSummary) {
        let _ = self.performance.set(summary);
    }

    /// Connects the per-channel entries of the report; only the first call counts.
    pub fn set_channel_summary(&self, summary: ChannelSummary) {
        let _ = self.channels.set(summary);
    }

    /// The performance summary, `null` when none is connected.
    pub fn performance_summary(&self) -> Value {
        self.performance
            .get()
            .map_or(Value::Null, |summary| summary())
    }

    /// Measures every indicator: a real store round trip, the backlog, the job counts,
    /// the sliding windows and the publisher's last word on Redis. Never waits on Redis.
    pub async fn measure(&self) -> Measurement {
        let now = UnixTime::now();
        let check = tokio::time::timeout(STORE_CHECK_TIMEOUT, self.backend.check()).await;
        let (store_latency, store_error) = match check {
            Ok(Ok(latency)) => (Some(millis(latency)), None),
            Ok(Err(e)) => (None, Some(e.to_string())),
            Err(_) => (
                None,
                Some(format!(
                    "no answer within {} s",
                    STORE_CHECK_TIMEOUT.as_secs()
                )),
            ),
        };
        let counts = self.backend.counts().await.unwrap_or_default();
        let backlog = self.backend.backlog().await.unwrap_or(0);
        let oldest = self.backend.oldest_pending_alert().await.ok().flatten();
        // Replicas sharing a store count pings there, so that each reports them all.
        let pings_per_hour = match self.backend.pings_last_hour(now).await {
            Ok(Some(shared)) => shared,
            Ok(None) | Err(_) => self.pings.sum(now.secs()),
        };
        let sink = self.sink.snapshot(now.secs());
        let configured = self.settings.sink_configured;
        let (redis_reachable, redis_error) = match &*lock(&self.redis) {
            RedisSeen::NotConfigured | RedisSeen::Unknown => (None, None),
            RedisSeen::Reachable => (Some(true), None),
            RedisSeen::Unreachable(e) => (Some(false), Some(e.clone())),
        };
        Measurement {
            indicators: Indicators {
                store_reachable: store_error.is_none(),
                store_latency_ms: store_latency,
                alert_sink_configured: configured,
                alert_sink_reachable: sink.reachable.filter(|_| configured),
                alert_sink_response_time_ms: sink.response_time.map(millis).filter(|_| configured),
                alert_delivery_success_rate_percent: sink
                    .success_rate_percent
                    .filter(|_| configured),
                alert_backlog: backlog as u64,
                oldest_pending_alert_age_seconds: oldest.map_or(0, |raised| now.since(raised)),
                services_monitored: counts.total as u64,
                services_down: counts.down as u64,
                pings_per_hour: pings_per_hour as f64,
                health_redis_reachable: redis_reachable,
            },
            consecutive_failures: sink.consecutive_failures,
            store_error,
            redis_error,
        }
    }

    /// Measures, evaluates, records transitions, and returns the `/health` document.
    pub async fn report(&self) -> HealthReport {
        let measurement = self.measure().await;
        let alerts = evaluate(&measurement, &self.settings.thresholds);
        // An unreachable store shows in the indicators; the channels then show none.
        let backlog = self.backend.channel_backlog().await.unwrap_or_default();
        self.observe(&alerts);
        HealthReport {
            status: HealthStatus::of(&alerts),
            service: self.settings.service.clone(),
            instance: self.settings.instance.clone(),
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: self.started.elapsed().as_secs(),
            checked_at: UnixTime::now().rfc3339(),
            indicators: measurement.indicators,
            alerts,
            channels: self
                .channels
                .get()
                .map_or_else(|| Value::Array(Vec::new()), |summary| summary(&backlog)),
        }
    }

    /// Compares `current` with the active conditions: a new code, or a known code at a
    /// new severity, is raised; a code no longer present is resolved. Each transition
    /// is logged once and queued for the alerts channel.
    fn observe(&self, current: &[Condition]) {
        let mut transitions = Vec::new();
        {
            let mut active = lock(&self.active);
            for condition in current {
                let changed = active
                    .get(condition.code)
                    .is_none_or(|known| known.severity != condition.severity);
                if changed {
                    active.insert(condition.code, condition.clone());
                    transitions.push(("raised", condition.clone()));
                }
            }
            let gone: Vec<&'static str> = active
                .keys()
                .filter(|code| current.iter().all(|c| c.code != **code))
                .copied()
                .collect();
            for code in gone {
                if let Some(condition) = active.remove(code) {
                    transitions.push(("resolved", condition));
                }
            }
        }
        for (state, condition) in transitions {
            if state == "raised" {
                tracing::warn!(
                    code = condition.code,
                    severity = condition.severity.as_str(),
                    value = %condition.value,
                    threshold = %condition.threshold,
                    "health condition raised: {}",
                    condition.message
                );
            } else {
                tracing::info!(
                    code = condition.code,
                    severity = condition.severity.as_str(),
                    "health condition resolved: {}",
                    condition.code
                );
            }
            if self.events.is_enabled() {
                self.events.push(json!({
                    "source": self.settings.service,
                    "kind": "monitor",
                    "state": state,
                    "severity": condition.severity.as_str(),
                    "code": condition.code,
                    "message": condition.message,
                    "at": UnixTime::now().rfc3339(),
                }));
            }
        }
    }
}

impl DeliveryObserver for HealthMonitor {
    fn attempt(&self, report: &AttemptReport<'_>) {
        let now = UnixTime::now();
        if report.to_webhook {
            let result = match report.outcome {
                AttemptOutcome::Delivered => DeliveryResult::Delivered,
                AttemptOutcome::Retrying | AttemptOutcome::Refused | AttemptOutcome::GaveUp => {
                    DeliveryResult::Failed
                }
            };
            self.sink.record(now.secs(), result, report.elapsed);
        }
        // Each job alert is published once, at its first attempt, whatever its fate (and
        // however many channels take it).
        if report.attempt == 1 && report.first_of_attempt && self.events.is_enabled() {
            let mut event = serde_json::Map::new();
            event.insert("source".into(), json!(self.settings.service));
            event.insert("kind".into(), json!("job"));
            if let Value::Object(payload) = report.alert.payload(now, &self.settings.service) {
                event.extend(payload);
            }
            self.events.push(Value::Object(event));
        }
    }
}

/// Evaluates every `every` until `shutdown`, so that conditions are raised, resolved,
/// logged and published even when nobody asks for `/health`.
pub async fn evaluate_periodically(
    monitor: Arc<HealthMonitor>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                monitor.report().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Measurement {
        Measurement {
            indicators: Indicators {
                store_reachable: true,
                store_latency_ms: Some(0.2),
                alert_sink_configured: true,
                alert_sink_reachable: Some(true),
                alert_sink_response_time_ms: Some(12.0),
                alert_delivery_success_rate_percent: Some(100.0),
                alert_backlog: 0,
                oldest_pending_alert_age_seconds: 0,
                services_monitored: 3,
                services_down: 0,
                pings_per_hour: 60.0,
                health_redis_reachable: Some(true),
            },
            consecutive_failures: 0,
            store_error: None,
            redis_error: None,
        }
    }

    fn codes(conditions: &[Condition]) -> Vec<(&'static str, Severity)> {
        conditions.iter().map(|c| (c.code, c.severity)).collect()
    }

    #[test]
    fn nothing_wrong_is_healthy() {
        let found = evaluate(&healthy(), &Thresholds::default());
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(HealthStatus::of(&found), HealthStatus::Healthy);
    }

    #[test]
    fn an_unreachable_store_is_critical() {
        let mut m = healthy();
        m.indicators.store_reachable = false;
        m.store_error = Some("writer stopped".into());
        let found = evaluate(&m, &Thresholds::default());
        assert_eq!(codes(&found), [("store_unreachable", Severity::Critical)]);
        assert!(found[0].message.contains("writer stopped"));
        assert_eq!(HealthStatus::of(&found), HealthStatus::Unhealthy);
    }

    #[test]
    fn the_sink_is_unreachable_after_the_threshold_of_consecutive_failures() {
        let mut m = healthy();
        m.consecutive_failures = 2;
        assert!(evaluate(&m, &Thresholds::default()).is_empty());
        m.consecutive_failures = 3;
        let found = evaluate(&m, &Thresholds::default());
        assert_eq!(
            codes(&found),
            [("alert_sink_unreachable", Severity::Critical)]
        );
        assert_eq!(
            found[0].message,
            "last 3 deliveries to the alert webhook failed"
        );
        assert_eq!(
            (found[0].value.clone(), found[0].threshold.clone()),
            (json!(3), json!(3))
        );
    }

    #[test]
    fn the_success_rate_warns_below_80_and_is_critical_below_50() {
        let t = Thresholds::default();
        let with_rate = |rate: f64| {
            let mut m = healthy();
            m.indicators.alert_delivery_success_rate_percent = Some(rate);
            codes(&evaluate(&m, &t))
        };
        assert_eq!(with_rate(80.0), []);
        assert_eq!(
            with_rate(79.9),
            [("alert_success_rate_low", Severity::Warning)]
        );
        assert_eq!(
            with_rate(50.0),
            [("alert_success_rate_low", Severity::Warning)]
        );
        assert_eq!(
            with_rate(42.0),
            [("alert_success_rate_low", Severity::Critical)]
        );
    }

    #[test]
    fn a_slow_sink_is_a_warning_above_the_threshold() {
        let mut m = healthy();
        m.indicators.alert_sink_response_time_ms = Some(10_000.0);
        assert!(evaluate(&m, &Thresholds::default()).is_empty());
        m.indicators.alert_sink_response_time_ms = Some(10_023.0);
        let found = evaluate(&m, &Thresholds::default());
        assert_eq!(codes(&found), [("alert_sink_slow", Severity::Warning)]);
        assert_eq!(found[0].threshold, json!(10_000.0));
    }

    #[test]
    fn the_backlog_warns_above_1000_and_is_critical_above_10000() {
        let t = Thresholds::default();
        let with_backlog = |n: u64| {
            let mut m = healthy();
            m.indicators.alert_backlog = n;
            codes(&evaluate(&m, &t))
        };
        assert_eq!(with_backlog(1000), []);
        assert_eq!(
            with_backlog(1001),
            [("alert_backlog_large", Severity::Warning)]
        );
        assert_eq!(
            with_backlog(10_000),
            [("alert_backlog_large", Severity::Warning)]
        );
        assert_eq!(
            with_backlog(10_001),
            [("alert_backlog_large", Severity::Critical)]
        );
    }

    #[test]
    fn without_a_webhook_only_the_missing_uri_is_reported() {
        let mut m = healthy();
        m.indicators.alert_sink_configured = false;
        m.indicators.alert_sink_reachable = None;
        m.indicators.alert_sink_response_time_ms = None;
        m.indicators.alert_delivery_success_rate_percent = None;
        m.consecutive_failures = 10;
        let found = evaluate(&m, &Thresholds::default());
        assert_eq!(codes(&found), [("alert_uri_missing", Severity::Warning)]);
        assert_eq!(HealthStatus::of(&found), HealthStatus::Degraded);
    }

    #[test]
    fn an_unreachable_health_redis_is_a_warning_and_unknown_is_none() {
        let mut m = healthy();
        m.indicators.health_redis_reachable = None;
        assert!(evaluate(&m, &Thresholds::default()).is_empty());
        m.indicators.health_redis_reachable = Some(false);
        let found = evaluate(&m, &Thresholds::default());
        assert_eq!(
            codes(&found),
            [("health_redis_unreachable", Severity::Warning)]
        );
    }

    #[test]
    fn critical_conditions_come_first_and_decide_the_status() {
        let mut m = healthy();
        m.indicators.alert_sink_response_time_ms = Some(20_000.0);
        m.consecutive_failures = 5;
        m.indicators.alert_delivery_success_rate_percent = Some(0.0);
        let found = evaluate(&m, &Thresholds::default());
        assert_eq!(
            codes(&found),
            [
                ("alert_sink_unreachable", Severity::Critical),
                ("alert_success_rate_low", Severity::Critical),
                ("alert_sink_slow", Severity::Warning),
            ]
        );
        assert_eq!(HealthStatus::of(&found), HealthStatus::Unhealthy);
    }

    #[test]
    fn the_document_serialises_every_indicator_in_the_spec_order() {
        let value = serde_json::to_value(healthy().indicators).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "store_reachable",
                "store_latency_ms",
                "alert_sink_configured",
                "alert_sink_reachable",
                "alert_sink_response_time_ms",
                "alert_delivery_success_rate_percent",
                "alert_backlog",
                "oldest_pending_alert_age_seconds",
                "services_monitored",
                "services_down",
                "pings_per_hour",
                "health_redis_reachable",
            ]
        );
    }

    #[tokio::test]
    async fn transitions_are_noticed_once_each() {
        use crate::backend::{BackendOptions, LocalBackend, SyncMode, Wakers};
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::in_memory(
            BackendOptions {
                max_services: 10,
                history: 100,
                realert_every: None,
                realert_max: Duration::from_secs(24 * 3600),
                startup_grace: Duration::from_secs(60),
                sync: SyncMode::Normal,
                fanout: crate::backend::Fanout::default(),
            },
            Wakers::default(),
        ));
        let (events, receiver) = super::super::channel(true);
        let mut receiver = receiver.unwrap();
        let monitor = HealthMonitor::new(
            backend,
            Settings {
                service: "svc".into(),
                instance: "host".into(),
                thresholds: Thresholds::default(),
                sink_configured: false,
                evaluate_every: Duration::from_secs(5),
                publishing: Some(PublishSettings {
                    redis: crate::health::RedisUrl::parse("redis://127.0.0.1:1").unwrap(),
                    status_every: Duration::from_secs(30),
                    metrics_every: Duration::from_secs(300),
                    retention: Duration::from_secs(3600),
                }),
                history_retention: Duration::from_secs(3600),
            },
            events,
        );
        let first = monitor.report().await;
        assert_eq!(first.status, HealthStatus::Degraded);
        monitor.report().await;
        let raised: Value = serde_json::from_str(&receiver.try_recv().unwrap()).unwrap();
        assert_eq!(raised["state"], "raised");
        assert_eq!(raised["code"], "alert_uri_missing");
        assert_eq!(raised["kind"], "monitor");
        assert_eq!(raised["source"], "svc");
        assert!(receiver.try_recv().is_err(), "raised only once");

        monitor.set_redis_reachable(Err("connection refused".into()));
        let report = monitor.report().await;
        assert_eq!(report.indicators.health_redis_reachable, Some(false));
        let raised: Value = serde_json::from_str(&receiver.try_recv().unwrap()).unwrap();
        assert_eq!(raised["code"], "health_redis_unreachable");
        assert_eq!(raised["severity"], "warning");

        monitor.set_redis_reachable(Ok(()));
        monitor.report().await;
        monitor.report().await;
        let resolved: Value = serde_json::from_str(&receiver.try_recv().unwrap()).unwrap();
        assert_eq!(resolved["state"], "resolved");
        assert_eq!(resolved["code"], "health_redis_unreachable");
        assert!(receiver.try_recv().is_err(), "resolved only once");
    }
}
