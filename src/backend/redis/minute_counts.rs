//! This replica's ping counts per minute, for `pings_per_hour` across replicas.

use std::sync::atomic::{AtomicU64, Ordering};

/// Pings this replica recorded in the current and the previous minute. They reach
/// Redis about once a second, with each look for alerts, so that `pings_per_hour` adds
/// up every replica without a write on the ping path.
#[derive(Default)]
pub(super) struct MinuteCounts {
    /// By minute parity: the minute (high 32 bits) and its count (low 32 bits).
    slots: [AtomicU64; 2],
}

impl MinuteCounts {
    pub(super) fn record(&self, now_secs: i64) {
        let minute = (now_secs.max(0) / 60) as u64 & 0xFFFF_FFFF;
        let slot = &self.slots[(minute % 2) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            if current >> 32 == minute {
                slot.fetch_add(1, Ordering::Relaxed);
                return;
            }
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

    /// (minute, count) of the slots that counted something.
    pub(super) fn snapshot(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|packed| packed & 0xFFFF_FFFF > 0)
            .map(|packed| (packed >> 32, packed & 0xFFFF_FFFF))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_counts_keep_the_current_and_the_previous_minute() {
        let counts = MinuteCounts::default();
        for secs in [600, 601, 659, 660, 661] {
            counts.record(secs);
        }
        let mut seen: Vec<(u64, u64)> = counts.snapshot().collect();
        seen.sort_unstable();
        assert_eq!(seen, [(10, 3), (11, 2)]);
        counts.record(720);
        let mut seen: Vec<(u64, u64)> = counts.snapshot().collect();
        seen.sort_unstable();
        assert_eq!(seen, [(11, 2), (12, 1)], "minute 12 takes minute 10's slot");
    }
}
