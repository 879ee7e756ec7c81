//! Sliding-hour windows for the health indicators.
//!
//! An [`HourCounter`] is 60 one-minute buckets, each one `AtomicU64` that packs the
//! bucket's minute (high 32 bits) with its count (low 32 bits). Counting is one load
//! and one `fetch_add` (a compare-exchange when the bucket starts a new minute): no
//! lock, so it can sit on the ping path. Reading sums the buckets of the last 60
//! minutes, the current one included, so the window slides with one-minute resolution.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::sync::lock;

const BUCKETS: u64 = 60;
const COUNT_MASK: u64 = 0xFFFF_FFFF;

/// Events over the last hour, at one-minute resolution.
pub struct HourCounter {
    buckets: [AtomicU64; BUCKETS as usize],
}

impl Default for HourCounter {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl HourCounter {
    /// Counts one event at `now_secs` (unix seconds).
    pub fn record(&self, now_secs: i64) {
        let minute = minute_of(now_secs);
        let slot = &self.buckets[(minute % BUCKETS) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            if current >> 32 == minute {
                // A bucket counts up to 2^32 events a minute before it would spill into
                // its minute bits: far beyond what one process serves.
                slot.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // The bucket still holds a minute from an hour (or more) ago: start it anew.
            match slot.compare_exchange_weak(
                current,
                (minute << 32) | 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Events in the 60 minutes up to `now_secs`, the current minute included.
    pub fn last_hour(&self, now_secs: i64) -> u64 {
        let now = minute_of(now_secs);
        self.buckets
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|packed| {
                let age = now.wrapping_sub(packed >> 32) & COUNT_MASK;
                age < BUCKETS
            })
            .map(|packed| packed & COUNT_MASK)
            .sum()
    }
}

/// Unix minutes, truncated to the 32 bits a bucket keeps.
fn minute_of(now_secs: i64) -> u64 {
    (now_secs.max(0) as u64 / 60) & COUNT_MASK
}

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
        let attempts = self.attempts.last_hour(now_secs);
        let delivered = self.delivered.last_hour(now_secs);
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
    fn an_hour_counter_counts_the_last_sixty_minutes() {
        let counter = HourCounter::default();
        for _ in 0..5 {
            counter.record(T0);
        }
        counter.record(T0 + 59);
        counter.record(T0 + 60 * 30);
        assert_eq!(counter.last_hour(T0), 6);
        assert_eq!(counter.last_hour(T0 + 60 * 30), 7);
        // The first minute's bucket is still inside the window 59 minutes later...
        assert_eq!(counter.last_hour(T0 + 60 * 59 + 59), 7);
        // ...and slides out of it at the 60th minute.
        assert_eq!(counter.last_hour(T0 + 60 * 60), 1);
        assert_eq!(counter.last_hour(T0 + 60 * 90), 0);
    }

    #[test]
    fn a_bucket_reused_an_hour_later_starts_from_zero() {
        let counter = HourCounter::default();
        counter.record(T0);
        counter.record(T0);
        counter.record(T0 + 3600);
        assert_eq!(counter.last_hour(T0 + 3600), 1);
        assert_eq!(counter.last_hour(T0 + 3600 + 60 * 59), 1);
    }

    #[test]
    fn an_hour_counter_is_exact_under_concurrent_counting() {
        let counter = std::sync::Arc::new(HourCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        counter.record(T0 + (i % 120));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.last_hour(T0 + 119), 40_000);
    }

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
