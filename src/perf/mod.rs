//! Performance monitoring (SPEC §7): the time of every request by route template, of
//! every store operation and of every alert delivery, in one registry of constant size.
//!
//! Three producers feed it: the tower layer of [`layer`] (requests), the backend through
//! [`StoreTimer`] (store operations, on the journal's fold thread too), and the
//! dispatcher through its [`DeliveryObserver`] (deliveries). Each series keeps a
//! windowed histogram for the JSON of `/metrics/performance` and fixed Prometheus
//! buckets since start for `/metrics` ([`histogram`], [`export`]). Recording takes no lock
//! and allocates nothing once a series exists; the route series are found in a
//! fixed-size table whose reads are single atomic loads.

mod export;
pub mod histogram;
mod layer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::alerts::{AttemptOutcome, AttemptReport, DeliveryObserver};
use crate::backend::{StoreObserver, StoreOp, StoreTimer};
use crate::logging;
pub use export::{Gauges, CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE};
use histogram::{Cumulative, Stats, Tick, Window};
pub use layer::{Timing, TimingFuture, TimingLayer};

/// Longest accepted retention: a sub-window (1/12 of it) must fit `u32` bucket counts.
pub const MAX_RETENTION_SECS: u64 = 24 * 3600;
/// Longest accepted slow-operation threshold.
pub const MAX_THRESHOLD_MS: f64 = 3_600_000.0;
/// Route of requests that matched no route: one series per method, whatever the path.
pub const UNMATCHED: &str = "unmatched";
/// Route of the series that takes requests if the route table were ever full.
const OVERFLOW: &str = "overflow";
/// Route series at most (method × route template); far above what the router has.
const ROUTE_CAPACITY: usize = 256;
/// Methods are kept apart up to these; any other method counts as `OTHER`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];
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

/// Turns instants into sub-window ticks. The retention and a generation (bumped when
/// the retention changes) share one atomic, so a tick is always computed from a
/// consistent pair.
struct Clock {
    origin: Instant,
    /// Unix time of `origin`, in microseconds, for `last_at`.
    origin_unix_us: i64,
    /// Generation (high 24 bits) and sub-window length in microseconds (low 40 bits).
    packed: AtomicU64,
    retention_secs: AtomicU64,
}

const SUB_BITS: u32 = 40;
const SUB_MASK: u64 = (1 << SUB_BITS) - 1;

impl Clock {
    fn new(retention_secs: u64) -> Self {
        let origin_unix_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self {
            origin: Instant::now(),
            origin_unix_us,
            packed: AtomicU64::new(Self::pack(1, retention_secs)),
            retention_secs: AtomicU64::new(retention_secs),
        }
    }

    fn pack(generation: u64, retention_secs: u64) -> u64 {
        let sub_us = (retention_secs * 1_000_000 / histogram::SUB_WINDOWS).max(1);
        (generation << SUB_BITS) | (sub_us & SUB_MASK)
    }

    #[inline]
    fn tick(&self, at: Instant) -> Tick {
        let packed = self.packed.load(Ordering::Acquire);
        let sub_us = (packed & SUB_MASK).max(1);
        let offset_us = at.saturating_duration_since(self.origin).as_micros() as u64;
        Tick::new(packed >> SUB_BITS, offset_us / sub_us)
    }

    /// Microseconds since `origin`, plus one, so that 0 can mean "never".
    fn stamp(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_micros() as u64 + 1
    }

    fn unix_us(&self, stamp: u64) -> i64 {
        self.origin_unix_us
            .saturating_add(i64::try_from(stamp.saturating_sub(1)).unwrap_or(i64::MAX))
    }

    /// A new retention starts new aggregates: the next generation's sub-windows.
    fn set_retention(&self, retention_secs: u64) {
        let generation = (self.packed.load(Ordering::Acquire) >> SUB_BITS) + 1;
        self.retention_secs.store(retention_secs, Ordering::Release);
        self.packed
            .store(Self::pack(generation, retention_secs), Ordering::Release);
    }
}

/// One timed thing: a windowed histogram (JSON) and Prometheus buckets since start.
#[derive(Default)]
struct Series {
    window: Window,
    total: Cumulative,
    last_ns: AtomicU64,
    /// [`Clock::stamp`] of the last sample; 0 before the first.
    last_at: AtomicU64,
}

impl Series {
    #[inline]
    fn record(&self, clock: &Clock, elapsed: Duration, end: Instant) -> u64 {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.window.record(clock.tick(end), ns);
        self.total.record(ns);
        self.last_ns.store(ns, Ordering::Relaxed);
        self.last_at.store(clock.stamp(end), Ordering::Relaxed);
        ns
    }

    fn heap_bytes(&self) -> usize {
        self.window.heap_bytes()
    }
}

/// The series of one method and route template, with its status counts.
struct RouteEntry {
    method: &'static str,
    route: Box<str>,
    /// `"GET /ping"`: the key in the JSON.
    key: Box<str>,
    /// A 2xx answer on this route is a recorded ping.
    is_ping: bool,
    series: Series,
    /// Answers by status, 100 to 599.
    statuses: Box<[AtomicU64]>,
}

const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 500;

impl RouteEntry {
    fn new(method: &'static str, route: &str) -> Self {
        Self {
            method,
            route: route.into(),
            key: format!("{method} {route}").into(),
            is_ping: is_ping(method, route),
            series: Series::default(),
            statuses: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn status_counts(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses.iter().enumerate().filter_map(|(i, c)| {
            let n = c.load(Ordering::Relaxed);
            (n > 0).then(|| (STATUS_MIN + i as u16, n))
        })
    }
}

fn is_ping(method: &str, route: &str) -> bool {
    route == "/ping" && matches!(method, "GET" | "HEAD" | "POST")
}

/// A fixed-size open-addressing table of route series. A slot is written once (a
/// `OnceLock`), so finding a series is a hash and one or two atomic loads, and two
/// requests racing to create the same series end up with one.
struct RouteTable {
    slots: Box<[OnceLock<Box<RouteEntry>>]>,
    /// Where requests go if the table were ever full: memory stays bounded.
    overflow: Box<RouteEntry>,
}

impl RouteTable {
    fn new() -> Self {
        Self {
            slots: (0..ROUTE_CAPACITY).map(|_| OnceLock::new()).collect(),
            overflow: Box::new(RouteEntry::new("OTHER", OVERFLOW)),
        }
    }

    /// The index of the series for `method` and `route`, created on first use.
    fn find(&self, method: &'static str, route: &str) -> usize {
        let n = self.slots.len();
        let start = fnv1a(method, route) as usize % n;
        for probe in 0..n {
            let index = (start + probe) % n;
            let entry = self.slots[index].get_or_init(|| Box::new(RouteEntry::new(method, route)));
            if entry.method == method && &*entry.route == route {
                return index;
            }
        }
        n
    }

    fn get(&self, index: usize) -> &RouteEntry {
        match self.slots.get(index).and_then(OnceLock::get) {
            Some(entry) => entry,
            None => &self.overflow,
        }
    }

    fn entries(&self) -> impl Iterator<Item = &RouteEntry> {
        self.slots
            .iter()
            .filter_map(|s| s.get().map(|e| &**e))
            .chain(std::iter::once(&*self.overflow))
    }
}

fn fnv1a(method: &str, route: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in method.bytes().chain([0]).chain(route.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The method as a series label: one of the standard methods, or `OTHER`, so that
/// invented methods cannot grow the table.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    let name = method.as_str();
    METHODS
        .iter()
        .find(|m| **m == name)
        .copied()
        .unwrap_or("OTHER")
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
        // Loading every job at start is one long operation by nature (about 0.6 s for
        // a million jobs), and so is a background fold of many jobs, which no request
        // waits for: timed, but not worth a warning.
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
        let _one_update_at_a_time = settings
            .update
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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

#[derive(Default)]
struct ConfigUpdate {
    enabled: Option<bool>,
    timing_header: Option<bool>,
    log_all: Option<bool>,
    retention_secs: Option<u64>,
    slow_request_ns: Option<u64>,
    slow_store_ns: Option<u64>,
}

fn bool_field(field: &str, value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{field} must be true or false, got {value}"))
}

fn retention_field(value: &Value) -> Result<u64, String> {
    value
        .as_u64()
        .filter(|s| (1..=MAX_RETENTION_SECS).contains(s))
        .ok_or_else(|| {
            format!(
                "retention_seconds must be a whole number of seconds from 1 to {MAX_RETENTION_SECS}, got {value}"
            )
        })
}

fn threshold_field(field: &str, value: &Value) -> Result<u64, String> {
    value
        .as_f64()
        .filter(|ms| ms.is_finite() && (0.0..=MAX_THRESHOLD_MS).contains(ms))
        .map(|ms| (ms * 1e6).round() as u64)
        .ok_or_else(|| {
            format!("{field} must be a number of milliseconds from 0 to {MAX_THRESHOLD_MS}, got {value}")
        })
}

/// A threshold in milliseconds: an integer when it is whole.
fn threshold_json(ns: u64) -> Value {
    if ns % 1_000_000 == 0 {
        json!(ns / 1_000_000)
    } else {
        json!(millis(ns))
    }
}

/// RFC 3339 in UTC with a `Z`, to the millisecond.
fn rfc3339_micros(unix_us: i64) -> String {
    let nanos = i128::from(unix_us) * 1000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
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
mod tests {
    use super::*;
    use axum::http::Method;

    fn perf() -> Perf {
        Perf::new(PerfSettings::default())
    }

    #[test]
    fn the_same_route_always_finds_the_same_series() {
        let p = perf();
        let a = p.route_index(&Method::GET, Some("/ping"));
        let b = p.route_index(&Method::GET, Some("/ping"));
        let c = p.route_index(&Method::HEAD, Some("/ping"));
        let d = p.route_index(&Method::from_bytes(b"BREW").unwrap(), Some("/ping"));
        let e = p.route_index(&Method::from_bytes(b"WHEN").unwrap(), Some("/ping"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(d, e, "invented methods share OTHER");
        assert_eq!(p.route_series(), 3);
    }

    #[test]
    fn a_full_table_sends_new_routes_to_one_overflow_series() {
        let p = perf();
        for i in 0..ROUTE_CAPACITY + 10 {
            p.route_index(&Method::GET, Some(&format!("/r{i}")));
        }
        assert_eq!(p.route_series(), ROUTE_CAPACITY);
        let overflow = p.route_index(&Method::GET, Some("/yet-another"));
        assert_eq!(overflow, ROUTE_CAPACITY);
    }

    #[test]
    fn a_million_requests_leave_the_registry_the_same_size() {
        let p = perf();
        let index = p.route_index(&Method::GET, Some("/ping"));
        let start = Instant::now();
        p.finish_request(index, 200, Duration::from_micros(50), start);
        let before = p.heap_bytes();
        for i in 0..1_000_000u64 {
            p.finish_request(index, 200, Duration::from_nanos(i % 5_000_000), start);
        }
        assert_eq!(p.heap_bytes(), before);
        assert_eq!(p.pings_total(), 1_000_001);
    }

    #[test]
    fn summary_has_every_field_of_the_spec() {
        let p = perf();
        let index = p.route_index(&Method::GET, Some("/ping"));
        for ms in [1, 2, 3] {
            p.finish_request(index, 200, Duration::from_millis(ms), Instant::now());
        }
        p.record_store(StoreOp::Upsert, Duration::from_micros(20), Instant::now());
        let s = p.summary_json();
        let route = &s["routes"]["GET /ping"];
        assert_eq!(route["count"], 3);
        assert_eq!(route["total_ms"], 6.0);
        assert_eq!(route["min_ms"], 1.0);
        assert_eq!(route["max_ms"], 3.0);
        assert_eq!(route["last_ms"], 3.0);
        assert!((route["avg_ms"].as_f64().unwrap() - 2.0).abs() < 1e-9);
        assert!(route["last_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(s["store"]["upsert"]["count"], 1);
        assert_eq!(s["alerts"], json!({}));
        assert_eq!(
            s["config"],
            json!({"enabled": true, "timing_header": false, "log_all_timings": false,
                   "retention_seconds": 3600, "slow_request_ms": 250, "slow_store_ms": 100})
        );
    }

    #[test]
    fn a_new_retention_starts_new_aggregates() {
        let p = perf();
        let index = p.route_index(&Method::GET, Some("/ping"));
        p.finish_request(index, 200, Duration::from_millis(1), Instant::now());
        p.update_config(br#"{"retention_seconds": 3600}"#).unwrap();
        assert_eq!(
            p.summary_json()["routes"]["GET /ping"]["count"],
            1,
            "unchanged"
        );
        p.update_config(br#"{"retention_seconds": 60}"#).unwrap();
        assert_eq!(p.summary_json()["routes"], json!({}));
        p.finish_request(index, 200, Duration::from_millis(1), Instant::now());
        assert_eq!(p.summary_json()["routes"]["GET /ping"]["count"], 1);
    }

    #[test]
    fn config_updates_are_checked_as_a_whole_and_name_the_field() {
        let p = perf();
        for (body, field) in [
            (r#"{"enabled": "yes"}"#, "enabled"),
            (r#"{"timing_header": 1}"#, "timing_header"),
            (r#"{"log_all_timings": null}"#, "log_all_timings"),
            (r#"{"retention_seconds": 0}"#, "retention_seconds"),
            (r#"{"retention_seconds": 1.5}"#, "retention_seconds"),
            (r#"{"retention_seconds": 1000000}"#, "retention_seconds"),
            (r#"{"slow_request_ms": -1}"#, "slow_request_ms"),
            (r#"{"slow_store_ms": "fast"}"#, "slow_store_ms"),
            (r#"{"enabled": false, "colour": "blue"}"#, "colour"),
        ] {
            let err = p.update_config(body.as_bytes()).unwrap_err();
            assert!(err.contains(field), "{body}: {err}");
        }
        assert!(p.update_config(b"[1]").is_err());
        assert!(p.update_config(b"not json").is_err());
        assert!(p.enabled(), "nothing applied from a refused update");
        let config = p
            .update_config(br#"{"slow_request_ms": 12.5, "slow_store_ms": 0, "enabled": false}"#)
            .unwrap();
        assert_eq!(config["slow_request_ms"], 12.5);
        assert_eq!(config["slow_store_ms"], 0);
        assert_eq!(config["enabled"], false);
        assert_eq!(p.update_config(b"{}").unwrap(), config);
    }
}
