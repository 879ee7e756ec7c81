//! When a job is expected: every so often (SPEC §3) or by a cron schedule in a time
//! zone (SPEC §11).

use super::{Frequency, Schedule, UnixTime};

/// How a job tells when its next ping is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// A fixed period after each ping.
    Every(Frequency),
    /// The first fire time of a schedule after each ping. Boxed: most jobs use a
    /// frequency, and a million of them must stay small.
    Cron(Box<Scheduled>),
}

/// A schedule with its first fire time after one instant remembered: deadlines are read
/// by every listing, sweep and alert, and a cron search costs far more than a read.
#[derive(Debug, Clone)]
pub struct Scheduled {
    schedule: Schedule,
    /// The instant `fire` was computed after.
    after: UnixTime,
    fire: Option<UnixTime>,
}

impl Scheduled {
    /// `schedule`, with its first fire after `after` computed at once.
    pub fn new(schedule: Schedule, after: UnixTime) -> Self {
        let fire = schedule.next_after(after);
        Self {
            schedule,
            after,
            fire,
        }
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The first fire time strictly after `after`; read from memory when `after` lies
    /// between the instant it was computed after and that fire. `None` only beyond the
    /// representable range.
    pub fn fire_after(&self, after: UnixTime) -> Option<UnixTime> {
        if self.remembers(after) {
            self.fire
        } else {
            self.schedule.next_after(after)
        }
    }

    /// Remembers the first fire after `after`. A job pinged more often than its schedule
    /// fires keeps the fire it has: no fire lies between the instant it was computed
    /// after and that fire, so it is also the first one after any instant in between.
    pub fn refresh(&mut self, after: UnixTime) {
        if !self.remembers(after) {
            self.fire = self.schedule.next_after(after);
        }
        self.after = after;
    }

    /// Whether the remembered fire is the first one strictly after `after`.
    fn remembers(&self, after: UnixTime) -> bool {
        self.after <= after && self.fire.is_some_and(|fire| after < fire)
    }
}

/// Two schedules are equal when they say the same thing; what is remembered is not part
/// of a job's state.
impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.schedule == other.schedule
    }
}

impl Eq for Scheduled {}

impl Cadence {
    /// A schedule cadence, its first fire after `after` computed.
    pub fn cron(schedule: Schedule, after: UnixTime) -> Self {
        Cadence::Cron(Box::new(Scheduled::new(schedule, after)))
    }

    /// The frequency, for a job that has one.
    pub fn frequency(&self) -> Option<&Frequency> {
        match self {
            Cadence::Every(frequency) => Some(frequency),
            Cadence::Cron(_) => None,
        }
    }

    /// The schedule, for a job that has one.
    pub fn schedule(&self) -> Option<&Schedule> {
        match self {
            Cadence::Every(_) => None,
            Cadence::Cron(scheduled) => Some(&scheduled.schedule),
        }
    }

    /// When the job is next expected after a ping at `after`, before grace. Beyond the
    /// representable range it saturates.
    pub fn next_after(&self, after: UnixTime) -> UnixTime {
        match self {
            Cadence::Every(frequency) => after.plus(frequency.seconds()),
            Cadence::Cron(scheduled) => scheduled
                .fire_after(after)
                .unwrap_or_else(|| after.plus(u64::MAX)),
        }
    }

    /// The wait from `after` to the next expected ping, in whole seconds: the frequency,
    /// or the time to the schedule's next fire.
    pub fn period_after(&self, after: UnixTime) -> u64 {
        match self {
            Cadence::Every(frequency) => frequency.seconds(),
            Cadence::Cron(_) => {
                let next = self.next_after(after);
                u64::try_from((next.millis() - after.millis() + 999) / 1000).unwrap_or(0)
            }
        }
    }

    /// Keeps the schedule's next fire after `after` at hand (nothing for a frequency).
    pub fn refresh(&mut self, after: UnixTime) {
        if let Cadence::Cron(scheduled) = self {
            scheduled.refresh(after);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs).unwrap()
    }

    #[test]
    fn a_schedule_reads_its_remembered_fire_and_computes_any_other() {
        let schedule = Schedule::parse("0 3 * * *", Some("UTC")).unwrap();
        // 2026-11-21T00:00:00Z
        let midnight = t(1_795_219_200);
        let mut cadence = Cadence::cron(schedule, midnight);
        assert_eq!(cadence.next_after(midnight), t(1_795_219_200 + 3 * 3_600));
        let later = t(1_795_219_200 + 4 * 3_600);
        assert_eq!(cadence.next_after(later), t(1_795_305_600 + 3 * 3_600));
        cadence.refresh(later);
        assert_eq!(cadence.next_after(later), t(1_795_305_600 + 3 * 3_600));
        assert_eq!(cadence.period_after(later), 23 * 3_600);
    }

    proptest::proptest! {
        /// However the pings move the remembered instant (forward in small or large
        /// steps, or back), the fire read is the one a fresh search finds.
        #[test]
        fn a_remembered_fire_is_always_the_fresh_search_s(
            expression in proptest::sample::select(vec![
                "*/5 * * * *", "0 3 * * 1-5", "30 2 * * *", "0 0 1 * *", "@hourly",
            ]),
            zone in proptest::sample::select(vec!["UTC", "Europe/Berlin", "Australia/Sydney"]),
            start in 1_774_000_000i64..1_800_000_000,
            steps in proptest::collection::vec(-4_000i64..200_000, 1..40),
        ) {
            let schedule = Schedule::parse(expression, Some(zone)).unwrap();
            let mut at = t(start);
            let mut cadence = Cadence::cron(schedule.clone(), at);
            for step in steps {
                // Every fifth step lands exactly on the fire kept, the edge of the window.
                at = if step % 5 == 0 { cadence.next_after(at) } else { t(at.secs() + step) };
                cadence.refresh(at);
                proptest::prop_assert_eq!(cadence.next_after(at), schedule.next_after(at).unwrap());
                let probe = t(at.secs() + step / 3);
                proptest::prop_assert_eq!(cadence.next_after(probe), schedule.next_after(probe).unwrap());
            }
        }
    }

    #[test]
    fn a_frequency_is_its_own_period() {
        let cadence = Cadence::Every(Frequency::parse("10m").unwrap());
        assert_eq!(cadence.next_after(t(1_000)), t(1_600));
        assert_eq!(cadence.period_after(t(1_000)), 600);
        assert!(cadence.schedule().is_none());
    }
}
