//! Sliding-hour windows for the health indicators: an [`HourCounter`] is 60 one-minute
//! [`MinuteBuckets`], and [`SinkStats`] keeps the webhook's attempts and successes in
//! two of them.

use std::sync::Mutex;
use std::time::Duration;

use crate::minute_buckets::MinuteBuckets;
use crate::sync::lock;

/// Events over the last hour, at one-minute resolution.
pub type HourCounter = MinuteBuckets<60>;

/// How a webhook attempt counts for health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered,
    /// Retrying, refused or given up.
    Failed,
}

/// The webhook indicators the sliding windows give.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinkSnapshot {
    /// The last attempt got a 2xx.
    pub reachable: Option<bool>,
    /// The last attempt's round trip.
    pub response_time: Option<Duration>,
    /// Successful attempts over all attempts in the last hour.
    pub success_rate_percent: Option<f64>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
}

/// What the alert webhook did lately: attempts and successes over the last hour, the
/// last attempt's response time and outcome, and the current run of failures. Only
/// attempts to the webhook count; alerts written to the log do not.
#[derive(Default)]
pub struct SinkStats {
    attempts: HourCounter,
    delivered: HourCounter,
    last: Mutex<Option<Last>>,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    delivered: bool,
    elapsed: Duration,
    consecutive_failures: u32,
}

impl SinkStats {
    /// Records one attempt to the webhook at `now_secs`.
    pub fn record(&self, now_secs: i64, result: DeliveryResult, elapsed: Duration) {
        let delivered = result == DeliveryResult::Delivered;
        self.attempts.record(now_secs);
        if delivered {
            self.delivered.record(now_secs);
        }
        let mut last = lock(&self.last);
        let failures = match (*last, delivered) {
            (_, true) => 0,
            (Some(previous), false) => previous.consecutive_failures.saturating_add(1),
            (None, false) => 1,
        };
        *last = Some(Last {
            delivered,
            elapsed,
            consecutive_failures: failures,
        });
    }

    /// The webhook indicators at `now_secs`; `None` fields where nothing was attempted.
    pub fn snapshot(&self, now_secs: i64) -> SinkSnapshot {
        let last = *lock(&self.last);
        let attempts = self.attempts.sum(now_secs);
        let delivered = self.delivered.sum(now_secs);
        let success_rate_percent = (attempts > 0)
            .then(|| ((delivered as f64 / attempts as f64) * 100.0).min(100.0))
            .map(|rate| (rate * 10.0).round() / 10.0);
        SinkSnapshot {
            reachable: last.map(|l| l.delivered),
            response_time: last.map(|l| l.elapsed),
            success_rate_percent,
            consecutive_failures: last.map_or(0, |l| l.consecutive_failures),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_143_600; // a whole minute

    #[test]
    fn sink_stats_start_empty() {
        let stats = SinkStats::default();
        let snap = stats.snapshot(T0);
        assert_eq!(snap.reachable, None);
        assert_eq!(snap.response_time, None);
        assert_eq!(snap.success_rate_percent, None);
        assert_eq!(snap.consecutive_failures, 0);
    }

    #[test]
    fn sink_stats_track_failures_the_last_response_and_the_hourly_rate() {
        let stats = SinkStats::default();
        let ms = Duration::from_millis;
        stats.record(T0, DeliveryResult::Delivered, ms(5));
        stats.record(T0, DeliveryResult::Failed, ms(7));
        stats.record(T0 + 60, DeliveryResult::Failed, ms(9));
        let snap = stats.snapshot(T0 + 60);
        assert_eq!(snap.reachable, Some(false));
        assert_eq!(snap.response_time, Some(ms(9)));
        assert_eq!(snap.consecutive_failures, 2);
        assert_eq!(snap.success_rate_percent, Some(33.3));

        stats.record(T0 + 120, DeliveryResult::Delivered, ms(3));
        let snap = stats.snapshot(T0 + 120);
        assert_eq!(snap.reachable, Some(true));
        assert_eq!(snap.consecutive_failures, 0);
        assert_eq!(snap.success_rate_percent, Some(50.0));

        // An hour later only the last success is inside the window.
        assert_eq!(
            stats.snapshot(T0 + 3600 + 60).success_rate_percent,
            Some(100.0)
        );
        // Nothing attempted in the last hour: no rate, but the last attempt is known.
        let later = stats.snapshot(T0 + 3 * 3600);
        assert_eq!(later.success_rate_percent, None);
        assert_eq!(later.reachable, Some(true));
    }
}
