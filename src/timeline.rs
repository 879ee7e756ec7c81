//! A bounded history of samples for the dashboard's charts: one [`Ring`] per series,
//! of fixed capacity, so memory stays the same whatever the retention or the uptime.
//!
//! A sampler takes one sample every [`sampling_interval`] (the retention divided by the
//! capacity), so a full ring spans the retention; the chart shows [`Ring::window`], the
//! samples still inside the retention when it is drawn.

use std::collections::VecDeque;
use std::time::Duration;

/// Samples kept per series: a chart never needs more points than it has pixels across.
pub const CAPACITY: usize = 360;

/// The shortest interval between two samples, so that a tiny retention cannot turn a
/// sampler into a busy loop.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// How often to sample so that `capacity` samples span `retention`.
pub fn sampling_interval(retention: Duration, capacity: usize) -> Duration {
    let capacity = u32::try_from(capacity.max(1)).unwrap_or(u32::MAX);
    (retention / capacity).max(MIN_INTERVAL)
}

/// One sample: when it was taken (unix milliseconds) and what it read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<T> {
    pub at_ms: i64,
    pub value: T,
}

/// The last `capacity` samples of one series, oldest first. Pushing into a full ring
/// drops the oldest sample; a sample older than the newest one is refused, so the
/// order by time always holds.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    capacity: usize,
    samples: VecDeque<Sample<T>>,
}

impl<T> Ring<T> {
    /// An empty ring of `capacity` samples (at least one). Its memory is allocated
    /// once, here.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            samples: VecDeque::with_capacity(capacity),
        }
    }

    /// Most samples this ring holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Samples held now.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample was taken yet.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Adds a sample taken at `at_ms`; returns false (and keeps nothing) when it is
    /// older than the newest one held, which a clock stepping back can cause.
    pub fn push(&mut self, at_ms: i64, value: T) -> bool {
        if self.samples.back().is_some_and(|last| last.at_ms > at_ms) {
            return false;
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample { at_ms, value });
        true
    }

    /// Every sample held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Sample<T>> {
        self.samples.iter()
    }

    /// The samples taken in the `span` before `now_ms` (and not after it), oldest first.
    pub fn window(&self, now_ms: i64, span: Duration) -> impl Iterator<Item = &Sample<T>> {
        let span_ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
        let from = now_ms.saturating_sub(span_ms);
        self.samples
            .iter()
            .filter(move |s| s.at_ms >= from && s.at_ms <= now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_interval_spreads_the_capacity_over_the_retention() {
        assert_eq!(
            sampling_interval(Duration::from_secs(3600), 360),
            Duration::from_secs(10)
        );
        assert_eq!(
            sampling_interval(Duration::from_secs(24 * 3600), CAPACITY),
            Duration::from_secs(240)
        );
        assert_eq!(sampling_interval(Duration::from_secs(1), 360), MIN_INTERVAL);
        assert_eq!(
            sampling_interval(Duration::from_secs(10), 0),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn a_full_ring_drops_its_oldest_sample() {
        let mut ring = Ring::new(3);
        for (at, v) in [(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')] {
            assert!(ring.push(at, v));
        }
        let kept: Vec<char> = ring.iter().map(|s| s.value).collect();
        assert_eq!(kept, ['b', 'c', 'd']);
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn a_sample_from_the_past_is_refused() {
        let mut ring = Ring::new(3);
        assert!(ring.push(10, 1));
        assert!(!ring.push(9, 2));
        assert!(ring.push(10, 3));
        let kept: Vec<i32> = ring.iter().map(|s| s.value).collect();
        assert_eq!(kept, [1, 3]);
    }

    #[test]
    fn the_window_keeps_what_lies_within_the_span() {
        let mut ring = Ring::new(10);
        for at in [0, 1000, 2000, 3000, 4000] {
            ring.push(at, at);
        }
        let seen: Vec<i64> = ring
            .window(3000, Duration::from_secs(2))
            .map(|s| s.value)
            .collect();
        assert_eq!(seen, [1000, 2000, 3000]);
        assert_eq!(ring.window(-1, Duration::from_secs(1)).count(), 0);
    }

    proptest! {
        #[test]
        fn capacity_is_never_exceeded_and_order_is_kept(
            capacity in 1usize..50,
            steps in proptest::collection::vec(-5i64..100, 0..300),
        ) {
            let mut ring = Ring::new(capacity);
            let mut at = 0i64;
            let mut accepted = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                at += step;
                if ring.push(at, i) {
                    accepted.push((at, i));
                }
                prop_assert!(ring.len() <= capacity);
            }
            let held: Vec<(i64, usize)> = ring.iter().map(|s| (s.at_ms, s.value)).collect();
            let start = accepted.len().saturating_sub(capacity);
            prop_assert_eq!(&held[..], &accepted[start..]);
            prop_assert!(held.windows(2).all(|w| w[0].0 <= w[1].0));
        }

        #[test]
        fn the_window_is_the_held_samples_within_the_span(
            times in proptest::collection::vec(0i64..10_000, 0..100),
            now in 0i64..12_000,
            span_ms in 0u64..12_000,
        ) {
            let mut sorted = times.clone();
            sorted.sort_unstable();
            let mut ring = Ring::new(CAPACITY);
            for t in &sorted {
                ring.push(*t, *t);
            }
            let span = Duration::from_millis(span_ms);
            let seen: Vec<i64> = ring.window(now, span).map(|s| s.at_ms).collect();
            let expected: Vec<i64> = sorted
                .iter()
                .copied()
                .filter(|t| *t >= now - span_ms as i64 && *t <= now)
                .collect();
            prop_assert_eq!(seen, expected);
        }
    }
}
