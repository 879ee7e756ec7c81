//! One timed series (a windowed histogram and Prometheus buckets since start) and the
//! clock that turns instants into its sub-window ticks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::histogram::{self, Cumulative, Tick, Window};

/// Turns instants into sub-window ticks. The retention and a generation (bumped when
/// the retention changes) share one atomic, so a tick is always computed from a
/// consistent pair.
pub(super) struct Clock {
    origin: Instant,
    /// Unix time of `origin`, in microseconds, for `last_at`.
    pub(super) origin_unix_us: i64,
    /// Generation (high 24 bits) and sub-window length in microseconds (low 40 bits).
    packed: AtomicU64,
    pub(super) retention_secs: AtomicU64,
}

const SUB_BITS: u32 = 40;
const SUB_MASK: u64 = (1 << SUB_BITS) - 1;

impl Clock {
    pub(super) fn new(retention_secs: u64) -> Self {
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
    pub(super) fn tick(&self, at: Instant) -> Tick {
        let packed = self.packed.load(Ordering::Acquire);
        let sub_us = (packed & SUB_MASK).max(1);
        let offset_us = at.saturating_duration_since(self.origin).as_micros() as u64;
        Tick::new(packed >> SUB_BITS, offset_us / sub_us)
    }

    /// Microseconds since `origin`, plus one, so that 0 can mean "never".
    pub(super) fn stamp(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_micros() as u64 + 1
    }

    pub(super) fn unix_us(&self, stamp: u64) -> i64 {
        self.origin_unix_us
            .saturating_add(i64::try_from(stamp.saturating_sub(1)).unwrap_or(i64::MAX))
    }

    /// A new retention starts new aggregates: the next generation's sub-windows.
    pub(super) fn set_retention(&self, retention_secs: u64) {
        let generation = (self.packed.load(Ordering::Acquire) >> SUB_BITS) + 1;
        self.retention_secs.store(retention_secs, Ordering::Release);
        self.packed
            .store(Self::pack(generation, retention_secs), Ordering::Release);
    }
}

/// One timed thing: a windowed histogram (JSON) and Prometheus buckets since start.
#[derive(Default)]
pub(super) struct Series {
    pub(super) window: Window,
    pub(super) total: Cumulative,
    pub(super) last_ns: AtomicU64,
    /// [`Clock::stamp`] of the last sample; 0 before the first.
    pub(super) last_at: AtomicU64,
}

impl Series {
    #[inline]
    pub(super) fn record(&self, clock: &Clock, elapsed: Duration, end: Instant) -> u64 {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.window.record(clock.tick(end), ns);
        self.total.record(ns);
        self.last_ns.store(ns, Ordering::Relaxed);
        self.last_at.store(clock.stamp(end), Ordering::Relaxed);
        ns
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.window.heap_bytes()
    }
}
