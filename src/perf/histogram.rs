//! Histograms that never grow: a log-linear bucket layout accurate to 0.8 %, a ring of
//! sub-window histograms for the retention window (JSON), and fixed Prometheus buckets
//! counted since start.
//!
//! Recording is lock-free: a few relaxed atomic adds on the slot of the current
//! sub-window. A slot is cleared only when the clock moves into a sub-window that
//! reuses it (once per sub-window per series), under a small per-window mutex that
//! readers take too, so a reader never sees a slot half cleared.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::sync::lock;

/// Sub-buckets per power of two. 64 make every bucket narrower than 1/64 of its lower
/// bound, so the midpoint reported for any value in it is within 0.8 % of that value.
const SUB_BITS: u32 = 6;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Values from 2^36 ns (about 68.7 s) up share the top bucket; min and max stay exact.
const TOP_BIT: u32 = 36;
/// Buckets of one sub-window histogram: 64 exact ones below 64 ns, then 64 per octave.
pub const BUCKETS: usize = (TOP_BIT - SUB_BITS + 1) as usize * SUB_COUNT as usize;

/// Sub-windows a retention is divided into.
pub const SUB_WINDOWS: u64 = 12;
/// Slots of the ring: the sub-windows of a full retention plus the current, partial one,
/// so an aggregate always covers the whole retention (and at most 1/12 more).
pub const SLOTS: usize = SUB_WINDOWS as usize + 1;

/// The bucket of a duration in nanoseconds.
#[inline]
pub fn bucket_of(ns: u64) -> usize {
    let v = ns.min((1 << TOP_BIT) - 1);
    if v < SUB_COUNT {
        return v as usize;
    }
    let shift = (63 - v.leading_zeros()) - SUB_BITS;
    (u64::from(shift) * SUB_COUNT + (v >> shift)) as usize
}

/// The value a bucket stands for: the middle of its range.
pub fn bucket_value(index: usize) -> u64 {
    let i = index as u64;
    if i < SUB_COUNT {
        return i;
    }
    let shift = i / SUB_COUNT - 1;
    let lower = (i - shift * SUB_COUNT) << shift;
    lower + ((1u64 << shift) >> 1)
}

/// Identifies one sub-window: a generation (bumped when the retention changes, which
/// starts new aggregates) in the high 24 bits and the sub-window's number in the low 40.
/// Tags only grow, so a smaller tag is always older; 0 marks an unused slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick(u64);

const INDEX_BITS: u32 = 40;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

impl Tick {
    /// `generation` must be at least 1 (so that no tag is 0).
    pub fn new(generation: u64, index: u64) -> Self {
        Self((generation << INDEX_BITS) | (index & INDEX_MASK))
    }

    fn generation(self) -> u64 {
        self.0 >> INDEX_BITS
    }

    fn index(self) -> u64 {
        self.0 & INDEX_MASK
    }

    fn slot(self) -> usize {
        (self.index() % SLOTS as u64) as usize
    }

    /// Whether a sample of sub-window `self` belongs to the window that ends at `now`.
    fn within(self, now: Tick) -> bool {
        self.generation() == now.generation()
            && self.index() <= now.index()
            && now.index() - self.index() < SLOTS as u64
    }
}

struct Slot {
    tag: AtomicU64,
    sum_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    /// Allocated on the first sample, then reused forever: memory stays constant.
    counts: OnceLock<Box<[AtomicU32]>>,
}

impl Slot {
    fn new() -> Self {
        Self {
            tag: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            counts: OnceLock::new(),
        }
    }

    fn clear(&self) {
        self.sum_ns.store(0, Ordering::Relaxed);
        self.min_ns.store(u64::MAX, Ordering::Relaxed);
        self.max_ns.store(0, Ordering::Relaxed);
        if let Some(counts) = self.counts.get() {
            for c in counts.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
    }
}

fn new_counts() -> Box<[AtomicU32]> {
    (0..BUCKETS).map(|_| AtomicU32::new(0)).collect()
}

/// Aggregates of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub count: u64,
    pub sum_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    pub p50_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
}

/// A ring of [`SLOTS`] sub-window histograms. Per-bucket counts are `u32`: a sub-window
/// is at most 2 h (24 h retention / 12), which at 500,000 samples/s still fits.
pub struct Window {
    slots: [Slot; SLOTS],
    /// Taken to clear a slot for a new sub-window (rare) and to read; never to record.
    rotate: Mutex<()>,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            slots: std::array::from_fn(|_| Slot::new()),
            rotate: Mutex::new(()),
        }
    }
}

impl Window {
    /// Adds one sample of `ns` nanoseconds to sub-window `tick`.
    #[inline]
    pub fn record(&self, tick: Tick, ns: u64) {
        let slot = &self.slots[tick.slot()];
        if slot.tag.load(Ordering::Acquire) != tick.0 && !self.advance(slot, tick) {
            return;
        }
        let counts = slot.counts.get_or_init(new_counts);
        counts[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        slot.sum_ns.fetch_add(ns, Ordering::Relaxed);
        // Loads first: the usual sample changes neither, and a load does not take the
        // cache line away from other cores.
        if ns < slot.min_ns.load(Ordering::Relaxed) {
            slot.min_ns.fetch_min(ns, Ordering::Relaxed);
        }
        if ns > slot.max_ns.load(Ordering::Relaxed) {
            slot.max_ns.fetch_max(ns, Ordering::Relaxed);
        }
    }

    /// Makes `slot` hold sub-window `tick`, clearing what it held. `false` when the slot
    /// already holds a newer sub-window: the sample is too late to count.
    #[cold]
    fn advance(&self, slot: &Slot, tick: Tick) -> bool {
        let _guard = lock(&self.rotate);
        let current = slot.tag.load(Ordering::Acquire);
        if current == tick.0 {
            return true;
        }
        if current > tick.0 {
            return false;
        }
        slot.clear();
        slot.tag.store(tick.0, Ordering::Release);
        true
    }

    /// The aggregates of the window that ends with sub-window `now`; `None` when it
    /// holds no sample.
    pub fn stats(&self, now: Tick) -> Option<Stats> {
        let _guard = lock(&self.rotate);
        let mut merged: Option<Vec<u64>> = None;
        let (mut sum_ns, mut min_ns, mut max_ns) = (0u64, u64::MAX, 0u64);
        for slot in &self.slots {
            let tag = Tick(slot.tag.load(Ordering::Acquire));
            if tag.0 == 0 || !tag.within(now) {
                continue;
            }
            let Some(counts) = slot.counts.get() else {
                continue;
            };
            let merged = merged.get_or_insert_with(|| vec![0; BUCKETS]);
            for (m, c) in merged.iter_mut().zip(counts.iter()) {
                *m += u64::from(c.load(Ordering::Relaxed));
            }
            sum_ns = sum_ns.wrapping_add(slot.sum_ns.load(Ordering::Relaxed));
            min_ns = min_ns.min(slot.min_ns.load(Ordering::Relaxed));
            max_ns = max_ns.max(slot.max_ns.load(Ordering::Relaxed));
        }
        let merged = merged?;
        let count: u64 = merged.iter().sum();
        if count == 0 {
            return None;
        }
        let [p50_ns, p95_ns, p99_ns] =
            percentiles(&merged, count, [0.50, 0.95, 0.99]).map(|v| v.clamp(min_ns, max_ns));
        Some(Stats {
            count,
            sum_ns,
            min_ns,
            max_ns,
            p50_ns,
            p95_ns,
            p99_ns,
        })
    }

    /// Bytes this window holds on the heap: one bucket array per slot that was ever used.
    pub fn heap_bytes(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.counts.get().is_some())
            .count()
            * BUCKETS
            * std::mem::size_of::<AtomicU32>()
    }
}

/// The value at each quantile: the smallest bucket whose cumulative count reaches
/// `ceil(q · count)` (the nearest-rank definition).
fn percentiles<const N: usize>(counts: &[u64], total: u64, quantiles: [f64; N]) -> [u64; N] {
    let ranks = quantiles.map(|q| ((q * total as f64).ceil() as u64).clamp(1, total));
    let mut out = [0; N];
    let mut next = 0;
    let mut seen = 0u64;
    for (index, c) in counts.iter().enumerate() {
        seen += c;
        while next < N && seen >= ranks[next] {
            out[next] = bucket_value(index);
            next += 1;
        }
        if next == N {
            break;
        }
    }
    out
}

/// Upper bounds of the Prometheus histogram buckets (`le`), in nanoseconds, from 1 µs
/// to 30 s; the same for every replica, so that their histograms can be summed.
pub const PROM_BOUNDS_NS: [u64; 22] = [
    1_000,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// The same bounds as Prometheus writes them, in seconds.
pub const PROM_BOUNDS_TEXT: [&str; 22] = [
    "0.000001", "0.000005", "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005",
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "30",
];

/// A Prometheus histogram: counts per fixed bucket and the sum, since start.
pub struct Cumulative {
    /// Not cumulative: `counts[i]` holds samples in `(bound[i-1], bound[i]]`; the last
    /// one, those above every bound.
    counts: [AtomicU64; PROM_BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Default for Cumulative {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// What a [`Cumulative`] held when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CumulativeSnapshot {
    /// Cumulative counts, one per bound and a last one for `+Inf` (= the count).
    pub buckets: Vec<u64>,
    pub sum_ns: u64,
}

impl CumulativeSnapshot {
    /// Samples in all: the `+Inf` bucket.
    pub fn count(&self) -> u64 {
        self.buckets.last().copied().unwrap_or(0)
    }
}

impl Cumulative {
    /// Adds one sample of `ns` nanoseconds.
    #[inline]
    pub fn record(&self, ns: u64) {
        let index = PROM_BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The buckets made cumulative, as Prometheus wants them.
    pub fn snapshot(&self) -> CumulativeSnapshot {
        let mut running = 0;
        let buckets = self
            .counts
            .iter()
            .map(|c| {
                running += c.load(Ordering::Relaxed);
                running
            })
            .collect();
        CumulativeSnapshot {
            buckets,
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_reported_within_one_percent() {
        let mut v = 1u64;
        while v < (1 << TOP_BIT) {
            let reported = bucket_value(bucket_of(v));
            let error = (reported as f64 - v as f64).abs() / v as f64;
            assert!(error <= 0.01, "{v} ns reported as {reported} ns");
            v = v + v / 97 + 1;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_of(0), 0);
    }

    #[test]
    fn bucket_indexes_are_monotonic_and_dense() {
        let mut last = 0;
        for v in 0..200_000u64 {
            let b = bucket_of(v);
            assert!(b == last || b == last + 1, "gap at {v}");
            last = b;
        }
    }

    #[test]
    fn percentiles_follow_the_nearest_rank() {
        let w = Window::default();
        let now = Tick::new(1, 5);
        for ms in 1..=100u64 {
            w.record(now, ms * 1_000_000);
        }
        let s = w.stats(now).unwrap();
        assert_eq!((s.count, s.min_ns, s.max_ns), (100, 1_000_000, 100_000_000));
        assert_eq!(s.sum_ns, 5_050_000_000);
        for (got, want) in [(s.p50_ns, 50e6), (s.p95_ns, 95e6), (s.p99_ns, 99e6)] {
            assert!((got as f64 - want).abs() / want <= 0.01, "{got} vs {want}");
        }
    }

    #[test]
    fn old_sub_windows_leave_the_window_and_slots_are_reused() {
        let w = Window::default();
        w.record(Tick::new(1, 0), 10);
        w.record(Tick::new(1, 12), 20);
        assert_eq!(w.stats(Tick::new(1, 12)).unwrap().count, 2);
        assert_eq!(w.stats(Tick::new(1, 13)).unwrap().count, 1);
        // Sub-window 13 reuses the slot of sub-window 0.
        w.record(Tick::new(1, 13), 30);
        let s = w.stats(Tick::new(1, 13)).unwrap();
        assert_eq!((s.count, s.min_ns, s.max_ns), (2, 20, 30));
        assert_eq!(w.stats(Tick::new(1, 40)), None);
        // A new generation (a changed retention) starts empty.
        assert_eq!(w.stats(Tick::new(2, 13)), None);
    }

    #[test]
    fn a_late_sample_never_clears_a_newer_sub_window() {
        let w = Window::default();
        w.record(Tick::new(1, 13), 30);
        w.record(Tick::new(1, 0), 10);
        assert_eq!(w.stats(Tick::new(1, 13)).unwrap().count, 1);
    }

    /// The structures are sized once: ten million samples over many sub-windows
    /// leave the heap exactly as the first few left it.
    #[test]
    fn recording_ten_million_samples_does_not_grow_the_window() {
        let w = Window::default();
        for t in 0..SLOTS as u64 {
            w.record(Tick::new(1, t), 1);
        }
        let before = w.heap_bytes();
        assert_eq!(before, SLOTS * BUCKETS * 4);
        let mut ns = 1u64;
        for i in 0..10_000_000u64 {
            // A cheap pseudo-random spread over every bucket, and a new sub-window
            // every 100,000 samples.
            ns = ns
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            w.record(Tick::new(1, SLOTS as u64 + i / 100_000), ns >> 28);
        }
        assert_eq!(w.heap_bytes(), before);
        let s = w.stats(Tick::new(1, SLOTS as u64 + 99)).unwrap();
        assert_eq!(s.count, 1_300_000);
    }

    #[test]
    fn prometheus_buckets_are_cumulative_and_end_with_the_count() {
        let c = Cumulative::default();
        for ns in [500, 1_000, 1_001, 7_000_000_000, 60_000_000_000] {
            c.record(ns);
        }
        let s = c.snapshot();
        assert_eq!(s.buckets.len(), PROM_BOUNDS_NS.len() + 1);
        assert_eq!(s.buckets[0], 2, "le=1µs holds 500 ns and exactly 1 µs");
        assert_eq!(s.buckets[1], 3);
        assert!(s.buckets.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(s.count(), 5);
        assert_eq!(s.buckets[PROM_BOUNDS_NS.len() - 1], 4);
        for (ns, text) in PROM_BOUNDS_NS.iter().zip(PROM_BOUNDS_TEXT) {
            assert_eq!(*ns as f64 / 1e9, text.parse::<f64>().unwrap());
        }
    }
}
