//! Lock-free event counts per minute over a sliding window of `N` minutes, for the
//! health indicators (pings and webhook attempts in the last hour) and for the pings a
//! Redis replica reports.
//!
//! Each of the `N` buckets is one `AtomicU64` that packs the bucket's minute (high 32
//! bits) with its count (low 32 bits). Counting is one load and one `fetch_add` (a
//! compare-exchange when the bucket starts a new minute): no lock, so it can sit on the
//! ping path.

use std::sync::atomic::{AtomicU64, Ordering};

const COUNT_MASK: u64 = 0xFFFF_FFFF;

/// Events per minute over the last `N` minutes: bucket `minute % N` holds one minute.
pub struct MinuteBuckets<const N: usize> {
    buckets: [AtomicU64; N],
}

impl<const N: usize> Default for MinuteBuckets<N> {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl<const N: usize> MinuteBuckets<N> {
    /// Counts one event at `now_secs` (unix seconds).
    pub fn record(&self, now_secs: i64) {
        let minute = minute_of(now_secs);
        let slot = &self.buckets[(minute % N as u64) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            if current >> 32 == minute {
                // A bucket counts up to 2^32 events a minute before it would spill into
                // its minute bits: far beyond what one process serves.
                slot.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // The bucket still holds a minute from `N` (or more) minutes ago: start it
            // anew.
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

    /// (minute, count) of the buckets that counted something, whatever their age.
    pub fn snapshot(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.buckets
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|packed| packed & COUNT_MASK > 0)
            .map(|packed| (packed >> 32, packed & COUNT_MASK))
    }

    /// Events in the `N` minutes up to `now_secs`, the current minute included, so the
    /// window slides with one-minute resolution.
    pub fn sum(&self, now_secs: i64) -> u64 {
        let now = minute_of(now_secs);
        self.buckets
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|packed| {
                let age = now.wrapping_sub(packed >> 32) & COUNT_MASK;
                age < N as u64
            })
            .map(|packed| packed & COUNT_MASK)
            .sum()
    }
}

/// Unix minutes, truncated to the 32 bits a bucket keeps.
fn minute_of(now_secs: i64) -> u64 {
    (now_secs.max(0) as u64 / 60) & COUNT_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_143_600; // a whole minute

    #[test]
    fn an_hour_of_buckets_counts_the_last_sixty_minutes() {
        let counter = MinuteBuckets::<60>::default();
        for _ in 0..5 {
            counter.record(T0);
        }
        counter.record(T0 + 59);
        counter.record(T0 + 60 * 30);
        assert_eq!(counter.sum(T0), 6);
        assert_eq!(counter.sum(T0 + 60 * 30), 7);
        // The first minute's bucket is still inside the window 59 minutes later...
        assert_eq!(counter.sum(T0 + 60 * 59 + 59), 7);
        // ...and slides out of it at the 60th minute.
        assert_eq!(counter.sum(T0 + 60 * 60), 1);
        assert_eq!(counter.sum(T0 + 60 * 90), 0);
    }

    #[test]
    fn a_bucket_reused_an_hour_later_starts_from_zero() {
        let counter = MinuteBuckets::<60>::default();
        counter.record(T0);
        counter.record(T0);
        counter.record(T0 + 3600);
        assert_eq!(counter.sum(T0 + 3600), 1);
        assert_eq!(counter.sum(T0 + 3600 + 60 * 59), 1);
    }

    #[test]
    fn buckets_are_exact_under_concurrent_counting() {
        let counter = std::sync::Arc::new(MinuteBuckets::<60>::default());
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
        assert_eq!(counter.sum(T0 + 119), 40_000);
    }

    #[test]
    fn two_buckets_keep_the_current_and_the_previous_minute() {
        let counts = MinuteBuckets::<2>::default();
        for secs in [600, 601, 659, 660, 661] {
            counts.record(secs);
        }
        let mut seen: Vec<(u64, u64)> = counts.snapshot().collect();
        seen.sort_unstable();
        assert_eq!(seen, [(10, 3), (11, 2)]);
        assert_eq!(counts.sum(661), 5);
        counts.record(720);
        let mut seen: Vec<(u64, u64)> = counts.snapshot().collect();
        seen.sort_unstable();
        assert_eq!(seen, [(11, 2), (12, 1)], "minute 12 takes minute 10's slot");
        assert_eq!(counts.sum(720), 3);
    }
}
