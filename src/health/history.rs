//! The health figures over `--health-retention`, for the dashboard's health chart: a
//! [`Ring`] of samples taken by [`sample_periodically`] in every process (a Redis
//! replica keeps its own), so memory stays bounded whatever the retention.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::conditions::{evaluate, HealthStatus};
use super::monitor::HealthMonitor;
use crate::domain::UnixTime;
use crate::sync::lock;
use crate::timeline::{sampling_interval, Ring, Sample, CAPACITY};

/// What one sample reads: the status and the main indicators of SPEC §6.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthPoint {
    pub status: HealthStatus,
    /// `None` when the store did not answer.
    pub store_latency_ms: Option<f64>,
    pub alert_backlog: u64,
    pub services_monitored: u64,
    pub services_down: u64,
    pub pings_per_hour: f64,
    /// `None` before any delivery to the webhook.
    pub alert_delivery_success_rate_percent: Option<f64>,
}

/// The samples of the health figures, written by the sampler, read by the health page.
pub struct HealthHistory {
    retention: Duration,
    ring: Mutex<Ring<HealthPoint>>,
}

impl HealthHistory {
    /// An empty history covering `retention` in [`CAPACITY`] samples.
    pub fn new(retention: Duration) -> Self {
        Self {
            retention,
            ring: Mutex::new(Ring::new(CAPACITY)),
        }
    }

    /// `--health-retention`: the span the chart covers.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Time between two samples.
    pub fn interval(&self) -> Duration {
        sampling_interval(self.retention, CAPACITY)
    }

    /// Keeps a sample taken at `at_ms` (unix milliseconds).
    pub fn record(&self, at_ms: i64, point: HealthPoint) {
        lock(&self.ring).push(at_ms, point);
    }

    /// The samples within the retention before `now_ms`, oldest first.
    pub fn window(&self, now_ms: i64) -> Vec<Sample<HealthPoint>> {
        lock(&self.ring)
            .window(now_ms, self.retention)
            .copied()
            .collect()
    }
}

/// Measures the monitor (without noting transitions: the evaluator does that) and keeps
/// the result in its history.
pub async fn sample_once(monitor: &HealthMonitor) {
    let measurement = monitor.measure().await;
    let status = HealthStatus::of(&evaluate(&measurement, monitor.thresholds()));
    let i = measurement.indicators;
    monitor.history().record(
        UnixTime::now().millis(),
        HealthPoint {
            status,
            store_latency_ms: i.store_latency_ms,
            alert_backlog: i.alert_backlog,
            services_monitored: i.services_monitored,
            services_down: i.services_down,
            pings_per_hour: i.pings_per_hour,
            alert_delivery_success_rate_percent: i.alert_delivery_success_rate_percent,
        },
    );
}

/// Samples the health figures every retention / capacity until `shutdown`, the first
/// sample at once so that a fresh start has a point to show.
pub async fn sample_periodically(monitor: Arc<HealthMonitor>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(monitor.history().interval());
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => sample_once(&monitor).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(down: u64) -> HealthPoint {
        HealthPoint {
            status: HealthStatus::Healthy,
            store_latency_ms: Some(0.1),
            alert_backlog: 0,
            services_monitored: 5,
            services_down: down,
            pings_per_hour: 1.0,
            alert_delivery_success_rate_percent: None,
        }
    }

    #[test]
    fn the_window_is_the_retention() {
        let history = HealthHistory::new(Duration::from_secs(10));
        for (at, down) in [(0, 0), (5_000, 1), (12_000, 2)] {
            history.record(at, point(down));
        }
        let seen: Vec<u64> = history
            .window(12_000)
            .iter()
            .map(|s| s.value.services_down)
            .collect();
        assert_eq!(seen, [1, 2]);
    }

    #[test]
    fn a_long_retention_samples_less_often_and_a_short_one_is_floored() {
        let day = HealthHistory::new(Duration::from_secs(24 * 3600));
        assert_eq!(day.interval(), Duration::from_secs(240));
        let tiny = HealthHistory::new(Duration::from_secs(1));
        assert_eq!(tiny.interval(), crate::timeline::MIN_INTERVAL);
    }
}
