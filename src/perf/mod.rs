//! Performance monitoring (SPEC §7): the time of every request by route template, of
//! every store operation and of every alert delivery, in one registry of constant size.
//!
//! Three producers feed it: the tower layer of [`layer`] (requests), the backend through
//! [`StoreTimer`] (store operations, on the journal's fold thread too), and the
//! dispatcher through its [`DeliveryObserver`] (deliveries). Each series keeps a
//! windowed histogram for the JSON of `/metrics/performance` and fixed Prometheus
//! buckets since start for `/metrics` ([`histogram`], [`export`]). Recording takes no lock
//! and allocates nothing once a series exists; the route series are found in a
//! fixed-size table whose reads are single atomic loads. A sampler ([`history`]) reads
//! the series on its own interval and keeps the request rate and latency over the
//! retention in a ring of fixed size, for the dashboard's charts.

mod export;
mod fields;
pub mod histogram;
pub mod history;
mod layer;
mod routes;
mod series;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::alerts::{AttemptOutcome, AttemptReport, DeliveryObserver};
use crate::backend::{StoreObserver, StoreOp, StoreTimer};
use crate::logging;
use crate::sync::lock;
pub use export::{Gauges, CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE};
use fields::*;
use histogram::{Stats, Tick};
use history::PerfHistory;
pub use history::PerfPoint;
pub use layer::{Timing, TimingFuture, TimingLayer};
pub use routes::method_label;
use routes::{is_ping, RouteTable, STATUS_MIN};
use series::{Clock, Series};

/// Longest accepted retention: a sub-window (1/12 of it) must fit `u32` bucket counts.
pub const MAX_RETENTION_SECS: u64 = 24 * 3600;
/// Longest accepted slow-operation threshold.
pub const MAX_THRESHOLD_MS: f64 = 3_600_000.0;
/// Route of requests that matched no route: one series per method, whatever the path.
pub const UNMATCHED: &str = "unmatched";
/// Delivery outcomes, in the order the JSON and Prometheus list them.
const OUTCOMES: [AttemptOutcome; 4] = [
    AttemptOutcome::Delivered,
    AttemptOutcome::Retrying,
    AttemptOutcome::Refused,
    AttemptOutcome::GaveUp,
];

/// The settings `PUT /metrics/performance/config` can change, as they start.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfSettings {
    pub enabled: bool,
    pub timing_header: bool,
    pub log_all_timings: bool,
    pub retention: Duration,
    pub slow_request: Duration,
    pub slow_store: Duration,
}

impl Default for PerfSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            timing_header: false,
            log_all_timings: false,
            retention: Duration::from_secs(3600),
            slow_request: Duration::from_millis(250),
            slow_store: Duration::from_millis(100),
        }
    }
}

/// The metrics registry; cheap to clone. The layer, the backend's store timer, the
/// dispatcher's observer and the metrics routes all hold one.
#[derive(Clone)]
pub struct Perf(Arc<Registry>);

struct Registry {
    settings: Settings,
    clock: Clock,
    routes: RouteTable,
    store: [Series; StoreOp::ALL.len()],
    alerts: [Series; OUTCOMES.len()],
    /// Delivery attempts by channel name and outcome; a handful of channels, counted
    /// even with timing off. The `alerts` series stay the totals over all channels.
    channel_attempts: Mutex<std::collections::BTreeMap<(String, &'static str), u64>>,
    /// Pings answered 2xx; counted even with timing off (it is a count, not a timing).
    pings: AtomicU64,
    /// Written by the sampler of [`history`], read by the dashboard's performance page.
    history: PerfHistory,
}

/// Run-time settings: atomics, read on every request, so a change applies at once.
struct Settings {
    enabled: AtomicBool,
    timing_header: AtomicBool,
    log_all: AtomicBool,
    slow_request_ns: AtomicU64,
    slow_store_ns: AtomicU64,
    /// Serializes configuration updates, so that one PUT applies as a whole.
    update: Mutex<()>,
}

fn millis(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Perf {
    /// An empty registry with these settings (a retention outside 1 s to 24 h is
    /// clamped into it; the flag parser refuses such values before).
    pub fn new(settings: PerfSettings) -> Self {
        let retention_secs = settings.retention.as_secs().clamp(1, MAX_RETENTION_SECS);
        Self(Arc::new(Registry {
            settings: Settings {
                enabled: AtomicBool::new(settings.enabled),
                timing_header: AtomicBool::new(settings.timing_header),
                log_all: AtomicBool::new(settings.log_all_timings),
                slow_request_ns: AtomicU64::new(duration_ns(settings.slow_request)),
                slow_store_ns: AtomicU64::new(duration_ns(settings.slow_store)),
                update: Mutex::new(()),
            },
            clock: Clock::new(retention_secs),
            routes: RouteTable::new(),
            store: std::array::from_fn(|_| Series::default()),
            alerts: std::array::from_fn(|_| Series::default()),
            channel_attempts: Mutex::new(std::collections::BTreeMap::new()),
            pings: AtomicU64::new(0),
            history: PerfHistory::default(),
        }))
    }

    /// Delivery attempts by channel and outcome, in name order.
    pub fn channel_attempts(&self) -> Vec<(String, &'static str, u64)> {
        self.0
            .channel_attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((channel, outcome), count)| (channel.clone(), *outcome, *count))
            .collect()
    }

    /// The window the aggregates and the charts cover (`--perf-retention`, or as the
    /// configuration route last set it).
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.0.clock.retention_secs.load(Ordering::Acquire))
    }

    /// The retention and the request figures sampled within it, oldest first.
    pub fn history(&self) -> (Duration, Vec<crate::timeline::Sample<PerfPoint>>) {
        let retention = self.retention();
        let now = crate::domain::UnixTime::now().millis();
        (retention, self.0.history.window(now, retention))
    }

    /// Whether anything is timed (`--perf`, `enabled`).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.0.settings.enabled.load(Ordering::Relaxed)
    }

    /// The tower layer that times every request; see [`TimingLayer`].
    pub fn layer(&self) -> TimingLayer {
        TimingLayer::new(self.clone())
    }

    /// The handle the backend times its store operations with.
    pub fn store_timer(&self) -> StoreTimer {
        StoreTimer::new(Arc::new(self.clone()))
    }

    /// The observer the dispatcher reports every delivery attempt to.
    pub fn delivery_observer(&self) -> Arc<dyn DeliveryObserver> {
        Arc::new(self.clone())
    }

    /// Pings answered with a 2xx since start.
    pub fn pings_total(&self) -> u64 {
        self.0.pings.load(Ordering::Relaxed)
    }

    /// The route series of a request: its method and route template (`None` when it
    /// matched no route).
    pub(crate) fn route_index(&self, method: &axum::http::Method, route: Option<&str>) -> usize {
        self.0
            .routes
            .find(method_label(method), route.unwrap_or(UNMATCHED))
    }

    /// Records one request as the timing layer does: `route` is its template, `None`
    /// when it matched no route. Returns whether a `Server-Timing` header is due.
    pub fn record_request(
        &self,
        method: &axum::http::Method,
        route: Option<&str>,
        status: u16,
        elapsed: Duration,
    ) -> bool {
        let index = self.route_index(method, route);
        self.finish_request(index, status, elapsed, Instant::now())
    }

    /// Counts a 2xx answer to `/ping` when timing is off.
    pub(crate) fn count_ping(&self, status: u16) {
        if (200..300).contains(&status) {
            self.0.pings.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a request of route series `index`; returns whether its response gets a
    /// `Server-Timing` header.
    pub(crate) fn finish_request(
        &self,
        index: usize,
        status: u16,
        elapsed: Duration,
        end: Instant,
    ) -> bool {
        let registry = &*self.0;
        let entry = registry.routes.get(index);
        let ns = entry.series.record(&registry.clock, elapsed, end);
        if let Some(slot) = status
            .checked_sub(STATUS_MIN)
            .and_then(|i| entry.statuses.get(usize::from(i)))
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        if entry.is_ping && (200..300).contains(&status) {
            registry.pings.fetch_add(1, Ordering::Relaxed);
        }
        let settings = &registry.settings;
        if ns > settings.slow_request_ns.load(Ordering::Relaxed) {
            tracing::warn!(
                method = entry.method,
                route = %entry.route,
                status,
                duration_ms = logging::millis(Duration::from_nanos(ns)),
                "slow request"
            );
        } else if settings.log_all.load(Ordering::Relaxed) {
            tracing::info!(
                method = entry.method,
                route = %entry.route,
                status,
                duration_ms = logging::millis(Duration::from_nanos(ns)),
                "request timed"
            );
        }
        settings.timing_header.load(Ordering::Relaxed)
    }

    fn record_store(&self, op: StoreOp, elapsed: Duration, end: Instant) {
        let registry = &*self.0;
        let ns = registry.store[op as usize].record(&registry.clock, elapsed, end);
        let settings = &registry.settings;
        // Loading every job at start is one long operation by nature, and so is a
        // background fold of many jobs, which no request waits for: timed, but not
        // worth a warning.
        let slow = ns > settings.slow_store_ns.load(Ordering::Relaxed);
        if slow && !matches!(op, StoreOp::Load | StoreOp::Fold) {
            tracing::warn!(
                op = op.as_str(),
                duration_ms = logging::millis(Duration::from_nanos(ns)),
                "slow store operation"
            );
        } else if slow || settings.log_all.load(Ordering::Relaxed) {
            tracing::info!(
                op = op.as_str(),
                duration_ms = logging::millis(Duration::from_nanos(ns)),
                "store operation timed"
            );
        }
    }

    /// The configuration as `GET`/`PUT /metrics/performance/config` show it.
    pub fn config_json(&self) -> Value {
        let s = &self.0.settings;
        json!({
            "enabled": s.enabled.load(Ordering::Relaxed),
            "timing_header": s.timing_header.load(Ordering::Relaxed),
            "log_all_timings": s.log_all.load(Ordering::Relaxed),
            "retention_seconds": self.0.clock.retention_secs.load(Ordering::Acquire),
            "slow_request_ms": threshold_json(s.slow_request_ns.load(Ordering::Relaxed)),
            "slow_store_ms": threshold_json(s.slow_store_ns.load(Ordering::Relaxed)),
        })
    }

    /// Applies a `PUT /metrics/performance/config` body: any subset of the config
    /// fields. Everything is checked before anything changes; the error names the
    /// field. A changed `retention_seconds` starts new aggregates (the windowed figures
    /// restart empty; the Prometheus totals go on).
    pub fn update_config(&self, body: &[u8]) -> Result<Value, String> {
        let fields = "enabled, timing_header, log_all_timings, retention_seconds, slow_request_ms, slow_store_ms";
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("the body must be a JSON object with any of {fields}: {e}"))?;
        let Value::Object(object) = value else {
            return Err(format!(
                "the body must be a JSON object with any of {fields}"
            ));
        };
        let mut update = ConfigUpdate::default();
        for (field, value) in &object {
            match field.as_str() {
                "enabled" => update.enabled = Some(bool_field(field, value)?),
                "timing_header" => update.timing_header = Some(bool_field(field, value)?),
                "log_all_timings" => update.log_all = Some(bool_field(field, value)?),
                "retention_seconds" => update.retention_secs = Some(retention_field(value)?),
                "slow_request_ms" => update.slow_request_ns = Some(threshold_field(field, value)?),
                "slow_store_ms" => update.slow_store_ns = Some(threshold_field(field, value)?),
                other => {
                    return Err(format!("unknown field {other:?}; the fields are {fields}"));
                }
            }
        }
        let settings = &self.0.settings;
        let _one_update_at_a_time = lock(&settings.update);
        if let Some(secs) = update.retention_secs {
            if secs != self.0.clock.retention_secs.load(Ordering::Acquire) {
                self.0.clock.set_retention(secs);
            }
        }
        if let Some(ns) = update.slow_request_ns {
            settings.slow_request_ns.store(ns, Ordering::Relaxed);
        }
        if let Some(ns) = update.slow_store_ns {
            settings.slow_store_ns.store(ns, Ordering::Relaxed);
        }
        if let Some(on) = update.timing_header {
            settings.timing_header.store(on, Ordering::Relaxed);
        }
        if let Some(on) = update.log_all {
            settings.log_all.store(on, Ordering::Relaxed);
        }
        if let Some(on) = update.enabled {
            settings.enabled.store(on, Ordering::Relaxed);
        }
        let config = self.config_json();
        tracing::info!(config = %config, "performance settings changed");
        Ok(config)
    }

    /// The JSON of `GET /metrics/performance`: aggregates over the retention window of
    /// every route, store operation and delivery outcome with a sample in it, and the
    /// configuration. The health publisher sends the same document.
    pub fn summary_json(&self) -> Value {
        let registry = &*self.0;
        let now = registry.clock.tick(Instant::now());
        let mut routes: Vec<(&str, Value)> = registry
            .routes
            .entries()
            .filter_map(|e| Some((&*e.key, self.series_json(&e.series, now)?)))
            .collect();
        routes.sort_by(|a, b| a.0.cmp(b.0));
        let store: Map<String, Value> = StoreOp::ALL
            .iter()
            .filter_map(|op| {
                let stats = self.series_json(&registry.store[*op as usize], now)?;
                Some((op.as_str().to_owned(), stats))
            })
            .collect();
        let alerts: Map<String, Value> = OUTCOMES
            .iter()
            .enumerate()
            .filter_map(|(i, outcome)| {
                let stats = self.series_json(&registry.alerts[i], now)?;
                Some((outcome.as_str().to_owned(), stats))
            })
            .collect();
        json!({
            "routes": routes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>(),
            "store": store,
            "alerts": alerts,
            "config": self.config_json(),
        })
    }

    fn series_json(&self, series: &Series, now: Tick) -> Option<Value> {
        let Stats {
            count,
            sum_ns,
            min_ns,
            max_ns,
            p50_ns,
            p95_ns,
            p99_ns,
        } = series.window.stats(now)?;
        let avg_ns = (sum_ns as f64 / count as f64).round() as u64;
        let last_at = series.last_at.load(Ordering::Relaxed);
        Some(json!({
            "count": count,
            "avg_ms": millis(avg_ns),
            "median_ms": millis(p50_ns),
            "p95_ms": millis(p95_ns),
            "p99_ms": millis(p99_ns),
            "min_ms": millis(min_ns),
            "max_ms": millis(max_ns),
            "total_ms": millis(sum_ns),
            "last_ms": millis(series.last_ns.load(Ordering::Relaxed)),
            "last_at": rfc3339_micros(self.0.clock.unix_us(last_at)),
        }))
    }

    /// Bytes the registry holds in histograms on the heap; constant once every series
    /// has filled its ring.
    pub fn heap_bytes(&self) -> usize {
        let registry = &*self.0;
        registry
            .routes
            .entries()
            .map(|e| e.series.heap_bytes())
            .chain(registry.store.iter().map(Series::heap_bytes))
            .chain(registry.alerts.iter().map(Series::heap_bytes))
            .sum()
    }

    /// How many route series exist (each method and route template seen, and one per
    /// method for unmatched paths).
    pub fn route_series(&self) -> usize {
        self.0.routes.entries().count() - 1
    }
}

impl StoreObserver for Perf {
    #[inline]
    fn timing_enabled(&self) -> bool {
        self.enabled()
    }

    fn store_operation(&self, op: StoreOp, elapsed: Duration, end: Instant) {
        self.record_store(op, elapsed, end);
    }
}

impl DeliveryObserver for Perf {
    fn attempt(&self, report: &AttemptReport<'_>) {
        if let Some(channel) = report.channel {
            let mut counts = self
                .0
                .channel_attempts
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *counts
                .entry((channel.to_owned(), report.outcome.as_str()))
                .or_insert(0) += 1;
        }
        if !self.enabled() {
            return;
        }
        let index = OUTCOMES
            .iter()
            .position(|o| *o == report.outcome)
            .unwrap_or(0);
        let end = Instant::now();
        let registry = &*self.0;
        let ns = registry.alerts[index].record(&registry.clock, report.elapsed, end);
        if registry.settings.log_all.load(Ordering::Relaxed) {
            tracing::info!(
                outcome = report.outcome.as_str(),
                duration_ms = logging::millis(Duration::from_nanos(ns)),
                "alert delivery timed"
            );
        }
    }
}

#[cfg(test)]
mod tests;
