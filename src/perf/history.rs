//! The performance figures over `--perf-retention`, for the dashboard's charts: the
//! request rate and the median and 99th percentile latency of all requests, one
//! [`PerfPoint`] per sampling interval, in a [`Ring`] of fixed size.
//!
//! The sampler reads the Prometheus buckets since start (a handful of atomics per
//! route) and keeps the difference from its previous reading, so a point describes its
//! own interval and the request path does no extra work.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::histogram::{CumulativeSnapshot, PROM_BOUNDS_NS};
use super::Perf;
use crate::domain::UnixTime;
use crate::sync::lock;
use crate::timeline::{sampling_interval, Ring, Sample, CAPACITY};

/// What one sample reads about the requests answered during its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerfPoint {
    pub requests_per_second: f64,
    /// `None` when no request was answered in the interval.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The samples of the performance figures, written by the sampler, read by the
/// performance page.
pub(super) struct PerfHistory {
    ring: Mutex<Ring<PerfPoint>>,
}

impl Default for PerfHistory {
    fn default() -> Self {
        Self {
            ring: Mutex::new(Ring::new(CAPACITY)),
        }
    }
}

impl PerfHistory {
    pub(super) fn record(&self, at_ms: i64, point: PerfPoint) {
        lock(&self.ring).push(at_ms, point);
    }

    pub(super) fn window(&self, now_ms: i64, span: Duration) -> Vec<Sample<PerfPoint>> {
        lock(&self.ring).window(now_ms, span).copied().collect()
    }
}

/// The requests answered between two readings of the buckets since start.
fn point_between(
    before: &CumulativeSnapshot,
    after: &CumulativeSnapshot,
    elapsed: Duration,
) -> PerfPoint {
    let delta: Vec<u64> = after
        .buckets
        .iter()
        .zip(before.buckets.iter().chain(std::iter::repeat(&0)))
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let count = delta.last().copied().unwrap_or(0);
    let secs = elapsed.as_secs_f64();
    PerfPoint {
        requests_per_second: if secs > 0.0 { count as f64 / secs } else { 0.0 },
        p50_ms: quantile_ms(&delta, 0.5),
        p99_ms: quantile_ms(&delta, 0.99),
    }
}

/// The `q` quantile of cumulative bucket counts, interpolated linearly inside its
/// bucket as Prometheus's `histogram_quantile` does; above the last bound, that bound.
fn quantile_ms(cumulative: &[u64], q: f64) -> Option<f64> {
    let count = *cumulative.last()?;
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let index = cumulative.iter().position(|&c| c as f64 >= rank)?;
    let last_bound = PROM_BOUNDS_NS[PROM_BOUNDS_NS.len() - 1];
    let Some(&upper) = PROM_BOUNDS_NS.get(index) else {
        return Some(last_bound as f64 / 1e6);
    };
    let lower = index
        .checked_sub(1)
        .and_then(|i| PROM_BOUNDS_NS.get(i))
        .copied()
        .unwrap_or(0);
    let below = index
        .checked_sub(1)
        .and_then(|i| cumulative.get(i))
        .copied()
        .unwrap_or(0);
    let inside = cumulative[index].saturating_sub(below).max(1) as f64;
    let ns = lower as f64 + (upper - lower) as f64 * ((rank - below as f64) / inside).min(1.0);
    Some(ns / 1e6)
}

/// The buckets since start summed over every route.
fn all_requests(perf: &Perf) -> CumulativeSnapshot {
    let mut sum = CumulativeSnapshot {
        buckets: vec![0; PROM_BOUNDS_NS.len() + 1],
        sum_ns: 0,
    };
    for entry in perf.0.routes.entries() {
        let snapshot = entry.series.total.snapshot();
        for (total, n) in sum.buckets.iter_mut().zip(snapshot.buckets) {
            *total += n;
        }
        sum.sum_ns = sum.sum_ns.saturating_add(snapshot.sum_ns);
    }
    sum
}

/// Samples the request figures every retention / capacity until `shutdown`. The
/// retention is read again before each wait, so a change through the configuration
/// route also changes the sampling interval.
pub async fn sample_periodically(perf: Perf, shutdown: CancellationToken) {
    let mut before = all_requests(&perf);
    let mut since = Instant::now();
    loop {
        let interval = sampling_interval(perf.retention(), CAPACITY);
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        let after = all_requests(&perf);
        let now = Instant::now();
        let point = point_between(&before, &after, now.duration_since(since));
        perf.0.history.record(UnixTime::now().millis(), point);
        (before, since) = (after, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::histogram::Cumulative;

    fn snapshot(samples_ns: &[u64]) -> CumulativeSnapshot {
        let c = Cumulative::default();
        for ns in samples_ns {
            c.record(*ns);
        }
        c.snapshot()
    }

    #[test]
    fn a_point_counts_only_the_requests_of_its_interval() {
        let before = snapshot(&[1_000_000; 10]);
        let mut samples = vec![1_000_000; 10];
        samples.extend([3_000_000; 20]);
        let after = snapshot(&samples);
        let point = point_between(&before, &after, Duration::from_secs(2));
        assert_eq!(point.requests_per_second, 10.0);
        let p50 = point.p50_ms.unwrap();
        assert!(p50 > 2.5 && p50 <= 5.0, "{p50}");
    }

    #[test]
    fn an_idle_interval_has_a_zero_rate_and_no_latency() {
        let same = snapshot(&[1_000; 3]);
        let point = point_between(&same, &same, Duration::from_secs(1));
        assert_eq!(
            point,
            PerfPoint {
                requests_per_second: 0.0,
                p50_ms: None,
                p99_ms: None
            }
        );
    }

    #[test]
    fn quantiles_interpolate_inside_their_bucket_and_stop_at_the_last_bound() {
        // 100 samples in (0.5 ms, 1 ms]: the median is half-way through the bucket.
        let one_bucket = snapshot(&[800_000; 100]);
        let median = quantile_ms(&one_bucket.buckets, 0.5).unwrap();
        assert!((median - 0.75).abs() < 1e-9, "{median}");
        let slow = snapshot(&[60_000_000_000; 4]);
        assert_eq!(quantile_ms(&slow.buckets, 0.99), Some(30_000.0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_sampler_keeps_one_point_per_interval() {
        let perf = Perf::new(super::super::PerfSettings {
            retention: Duration::from_secs(36),
            ..Default::default()
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sample_periodically(perf.clone(), shutdown.clone()));
        // The sampler takes its first reading before this request.
        tokio::task::yield_now().await;
        perf.record_request(
            &axum::http::Method::GET,
            Some("/ping"),
            200,
            Duration::from_millis(2),
        );
        // The retention spread over the capacity: a point every 100 ms.
        tokio::time::sleep(Duration::from_millis(350)).await;
        shutdown.cancel();
        task.await.unwrap();
        let (_, points) = perf.history();
        assert_eq!(points.len(), 3, "{points:?}");
        assert!(points[0].value.requests_per_second > 0.0);
        assert!(points[0].value.p50_ms.is_some());
    }
}
