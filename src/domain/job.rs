//! A monitored job and the rules of its life.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Alert, AlertEvent, Frequency, Grace, JobName, UnixTime};

/// Whether a job is pinging on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Up,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Down => "down",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "up" => Some(Status::Up),
            "down" => Some(Status::Down),
            _ => None,
        }
    }
}

/// One monitored job, as stored and as shown by the job routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub name: JobName,
    pub frequency: Frequency,
    pub grace: Grace,
    pub last_ping: UnixTime,
    pub status: Status,
    /// When the job went down (the deadline it missed); `None` while up.
    pub down_since: Option<UnixTime>,
    /// `down` alerts raised in the current (or last) down episode: 1 for the first,
    /// 2 for the first reminder, …
    pub episode_alerts: u32,
    /// Every alert raised for this job since it was created (down, reminders and up).
    pub alerts_sent: u64,
    pub pings_total: u64,
    /// When a down job's next reminder is due; `None` while up or when reminders are off.
    pub next_reminder: Option<UnixTime>,
}

impl Job {
    /// The moment after which the job is overdue: last ping + frequency + grace.
    pub fn deadline(&self) -> UnixTime {
        self.last_ping
            .plus(self.frequency.seconds())
            .plus(self.grace.seconds())
    }

    /// The job object of SPEC section 4.
    pub fn to_json(&self) -> serde_json::Value {
        let deadline = self.deadline();
        serde_json::json!({
            "name": self.name,
            "frequency": self.frequency.as_str(),
            "frequency_seconds": self.frequency.seconds(),
            "grace_seconds": self.grace.seconds(),
            "status": self.status.as_str(),
            "last_ping": self.last_ping.rfc3339(),
            "last_ping_unix": self.last_ping.secs(),
            "next_deadline": deadline.rfc3339(),
            "next_deadline_unix": deadline.secs(),
            "down_since": self.down_since.map(UnixTime::rfc3339),
            "alerts_sent": self.alerts_sent,
            "pings_total": self.pings_total,
        })
    }
}

/// A ping as the handler parsed it.
#[derive(Debug, Clone)]
pub struct Ping {
    pub name: JobName,
    pub frequency: Option<Frequency>,
    pub grace: Option<Grace>,
    /// When the job ran; `None` means at arrival.
    pub at: Option<UnixTime>,
    /// The caller shows the job (a JSON answer). Without it a store may answer without
    /// reading the job back, which spares a round of work (Redis).
    pub want_job: bool,
}

/// What the rules need from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Interval before the first reminder while a job stays down; `None` alerts once.
    pub realert_every: Option<Duration>,
    /// Longest interval between two reminders; each one waits twice as long as the one
    /// before, up to this.
    pub realert_max: Duration,
    /// Cap on the extra time given to jobs that fell due while no monitor was running.
    pub startup_grace: Duration,
}

/// What a ping does to a job that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingEffect {
    /// Its timestamp is older than the last ping: nothing changes (409).
    Stale,
    /// Its timestamp is the last ping's second: a retry of a ping already recorded, which
    /// must neither count twice nor recover a job that went down after the original.
    Retry,
    /// The job as it is after the ping; it was up.
    Recorded(Job),
    /// The job was down: it is up again and raises this `up` alert.
    Recovered(Job, Alert),
}

/// Whether a wake-up at `at` has passed at `now`: a job is due just after its deadline,
/// never at it.
pub fn is_due(at: UnixTime, now: UnixTime) -> bool {
    at < now
}

/// When the next reminder of a down job is due, `episode_alerts` alerts into its
/// episode: the first `realert_every` after the `down` alert, each next one twice as
/// long after the one before, up to `realert_max`. `None` when reminders are off.
pub fn next_reminder(policy: &Policy, episode_alerts: u32, now: UnixTime) -> Option<UnixTime> {
    Some(now.plus(reminder_interval(policy, episode_alerts)?))
}

/// The wait, in seconds, after the `episode_alerts`-th alert of a down episode.
fn reminder_interval(policy: &Policy, episode_alerts: u32) -> Option<u64> {
    let every = policy.realert_every?.as_secs().max(1);
    let max = policy.realert_max.as_secs().max(every);
    let doublings = episode_alerts.saturating_sub(1).min(62);
    Some(every.saturating_mul(1 << doublings).min(max))
}

impl Job {
    /// A new job from its first ping; `None` when the ping names no frequency, in which
    /// case nothing is created.
    pub fn from_first_ping(ping: &Ping, now: UnixTime) -> Option<Job> {
        Some(Job {
            name: ping.name.clone(),
            frequency: ping.frequency.clone()?,
            grace: ping.grace.unwrap_or_default(),
            last_ping: ping.at.unwrap_or(now),
            status: Status::Up,
            down_since: None,
            episode_alerts: 0,
            alerts_sent: 0,
            pings_total: 1,
            next_reminder: None,
        })
    }

    /// Applies a ping to the job as stored (SPEC §3). `alert_id` is asked for only when
    /// the ping raises an alert.
    pub fn apply_ping(
        &self,
        ping: &Ping,
        now: UnixTime,
        alert_id: impl FnOnce() -> String,
    ) -> PingEffect {
        // Timestamps a job sends are whole seconds and are compared as such.
        let at = match ping.at {
            Some(at) if at.secs() < self.last_ping.secs() => return PingEffect::Stale,
            Some(at) if at.secs() == self.last_ping.secs() => return PingEffect::Retry,
            Some(at) => at,
            // An arrival-time ping never moves the last ping back (after a timestamp a
            // little in the future, or a clock step).
            None => now.max(self.last_ping),
        };
        let mut job = self.clone();
        if let Some(frequency) = &ping.frequency {
            job.frequency = frequency.clone();
        }
        if let Some(grace) = ping.grace {
            job.grace = grace;
        }
        job.last_ping = at;
        job.pings_total += 1;
        if job.status == Status::Up {
            return PingEffect::Recorded(job);
        }
        let alert = Alert::new(alert_id(), &job, AlertEvent::Up, now);
        job.status = Status::Up;
        job.down_since = None;
        job.next_reminder = None;
        job.alerts_sent += 1;
        PingEffect::Recovered(job, alert)
    }

    /// The job falls due at `now`: an up job goes down and raises its `down` alert; a
    /// down job raises its next reminder. Either way the next reminder is scheduled.
    pub fn fall_due(&self, now: UnixTime, policy: &Policy, alert_id: String) -> (Job, Alert) {
        let mut job = self.clone();
        if job.status == Status::Up {
            job.status = Status::Down;
            job.down_since = Some(job.deadline());
            job.episode_alerts = 1;
        } else {
            job.episode_alerts = job.episode_alerts.saturating_add(1);
        }
        job.alerts_sent += 1;
        job.next_reminder = next_reminder(policy, job.episode_alerts, now);
        let alert = Alert::new(alert_id, &job, AlertEvent::Down, now);
        (job, alert)
    }

    /// When the job next needs the sweeper: its deadline while up (not before
    /// `not_before`, the startup grace), its next reminder while down.
    pub fn wake_target(&self, not_before: Option<UnixTime>) -> Option<UnixTime> {
        match self.status {
            Status::Up => {
                let deadline = self.deadline();
                Some(not_before.map_or(deadline, |nb| nb.max(deadline)))
            }
            Status::Down => self.next_reminder,
        }
    }

    /// The startup grace (SPEC §8): an up job whose deadline passed before the monitor
    /// `resumed` is not alerted before resumed + min(frequency + grace, the cap).
    pub fn startup_not_before(&self, resumed: UnixTime, policy: &Policy) -> Option<UnixTime> {
        (self.status == Status::Up && self.deadline() < resumed).then(|| {
            let period = self.frequency.seconds() + self.grace.seconds();
            resumed.plus(period.min(policy.startup_grace.as_secs()))
        })
    }

    /// The job as a restarted monitor takes it back at `start`: down jobs stay down
    /// (no new `down`), their next reminder no later than the current interval allows,
    /// since the settings may have changed while it was stopped; returns the job and its
    /// startup grace.
    pub fn restore(mut self, start: UnixTime, policy: &Policy) -> (Job, Option<UnixTime>) {
        match self.status {
            Status::Up => {
                let not_before = self.startup_not_before(start, policy);
                (self, not_before)
            }
            Status::Down => {
                self.next_reminder = next_reminder(policy, self.episode_alerts, start)
                    .map(|next| self.next_reminder.map_or(next, |stored| stored.min(next)));
                (self, None)
            }
        }
    }
}

#[cfg(test)]
mod rules {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3_600);

    fn policy(every: u64, max: u64) -> Policy {
        Policy {
            realert_every: (every > 0).then(|| Duration::from_secs(every)),
            realert_max: Duration::from_secs(max),
            startup_grace: Duration::from_secs(900),
        }
    }

    fn t(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs).unwrap()
    }

    fn ping(frequency: Option<&str>, at: Option<i64>) -> Ping {
        Ping {
            name: JobName::parse("j").unwrap(),
            frequency: frequency.map(|f| Frequency::parse(f).unwrap()),
            grace: None,
            at: at.map(t),
            want_job: false,
        }
    }

    fn job() -> Job {
        Job::from_first_ping(&ping(Some("1m"), None), t(1_000)).unwrap()
    }

    fn id() -> String {
        "A".to_owned()
    }

    #[test]
    fn a_new_name_needs_a_frequency() {
        assert!(Job::from_first_ping(&ping(None, None), t(1)).is_none());
        assert_eq!(job().deadline(), t(1_060));
    }

    #[test]
    fn reminders_double_from_realert_every_up_to_realert_max() {
        let p = policy(60, HOUR.as_secs());
        let waits: Vec<i64> = (1..=9)
            .map(|n| next_reminder(&p, n, t(0)).unwrap().secs())
            .collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1_920, 3_600, 3_600, 3_600]);
        assert_eq!(next_reminder(&policy(60, 60), 5, t(0)), Some(t(60)));
        assert_eq!(next_reminder(&policy(0, 60), 1, t(0)), None);
        assert_eq!(
            next_reminder(&policy(60, 86_400), u32::MAX, t(0)),
            Some(t(86_400))
        );
    }

    #[test]
    fn a_weekend_down_reminds_about_a_dozen_times_not_thousands() {
        let p = policy(60, 86_400);
        let (mut j, _) = job().fall_due(t(1_061), &p, id());
        let mut reminders = 0;
        while let Some(at) = j.next_reminder.filter(|at| *at < t(1_061 + 2 * 86_400)) {
            j = j.fall_due(at.plus(1), &p, id()).0;
            reminders += 1;
        }
        assert!((10..=16).contains(&reminders), "{reminders} reminders");
    }

    #[test]
    fn falling_due_marks_down_once_then_reminds() {
        let p = policy(60, 3_600);
        let (down, alert) = job().fall_due(t(1_061), &p, id());
        assert_eq!(
            (down.status, down.episode_alerts, down.alerts_sent),
            (Status::Down, 1, 1)
        );
        assert_eq!(down.down_since, Some(t(1_060)));
        assert_eq!(
            (alert.event, alert.overdue_seconds, alert.alert_count),
            (AlertEvent::Down, 1, 1)
        );
        assert_eq!(down.next_reminder, Some(t(1_121)));
        let (again, reminder) = down.fall_due(t(1_122), &p, id());
        assert_eq!((again.episode_alerts, reminder.alert_count), (2, 2));
        assert_eq!(
            again.down_since,
            Some(t(1_060)),
            "the episode keeps its start"
        );
        assert_eq!(again.next_reminder, Some(t(1_242)));
    }

    #[test]
    fn pings_are_stale_retries_recorded_or_recoveries() {
        let j = Job::from_first_ping(&ping(Some("1m"), Some(1_000)), t(1_000)).unwrap();
        assert_eq!(
            j.apply_ping(&ping(None, Some(999)), t(1_001), id),
            PingEffect::Stale
        );
        assert_eq!(
            j.apply_ping(&ping(None, Some(1_000)), t(1_001), id),
            PingEffect::Retry
        );
        let PingEffect::Recorded(later) = j.apply_ping(&ping(Some("10m"), None), t(1_030), id)
        else {
            panic!("recorded")
        };
        assert_eq!((later.pings_total, later.deadline()), (2, t(1_630)));
        let (down, _) = later.fall_due(t(1_700), &policy(60, 60), id());
        let PingEffect::Recovered(up, alert) = down.apply_ping(&ping(None, None), t(1_800), id)
        else {
            panic!("recovered")
        };
        assert_eq!(
            (up.status, up.down_since, up.next_reminder),
            (Status::Up, None, None)
        );
        assert_eq!((alert.event, alert.overdue_seconds), (AlertEvent::Up, 170));
        assert_eq!(up.alerts_sent, 2);
    }

    #[test]
    fn an_arrival_ping_never_moves_the_last_ping_back() {
        let j = Job::from_first_ping(&ping(Some("1m"), Some(2_000)), t(1_000)).unwrap();
        let PingEffect::Recorded(after) = j.apply_ping(&ping(None, None), t(1_500), id) else {
            panic!("recorded")
        };
        assert_eq!(after.last_ping, t(2_000));
    }

    #[test]
    fn a_restart_keeps_down_jobs_down_and_gives_late_ones_the_startup_grace() {
        let p = Policy {
            startup_grace: Duration::from_secs(900),
            ..policy(3_600, 86_400)
        };
        let late = Job::from_first_ping(&ping(Some("1h"), Some(0)), t(0)).unwrap();
        let (late, not_before) = late.restore(t(100_000), &p);
        assert_eq!(not_before, Some(t(100_900)), "min(1h, 15m) after the start");
        assert_eq!(late.wake_target(not_before), Some(t(100_900)));
        let (down, _) = late.fall_due(t(3_601), &p, id());
        let (down, none) = down.restore(t(100_000), &p);
        assert_eq!((down.status, none), (Status::Down, None));
        assert_eq!(
            down.next_reminder,
            Some(t(7_201)),
            "the stored reminder, earlier"
        );
        let on_time = job();
        assert_eq!(on_time.restore(t(1_000), &p).1, None);
    }

    #[test]
    fn a_job_is_due_just_after_its_wake_up() {
        assert!(!is_due(t(10), t(10)));
        assert!(is_due(t(10), UnixTime::from_millis(10_001).unwrap()));
    }

    proptest::proptest! {
        #[test]
        fn reminder_intervals_never_shrink_and_stay_within_bounds(
            every in 1u64..100_000, extra in 0u64..1_000_000, n in 1u32..200,
        ) {
            let p = policy(every, every + extra);
            let a = next_reminder(&p, n, t(0)).map(UnixTime::secs);
            let b = next_reminder(&p, n + 1, t(0)).map(UnixTime::secs);
            proptest::prop_assert!(a <= b);
            let a = a.unwrap_or(0);
            proptest::prop_assert!(a >= i64::try_from(every).unwrap());
            proptest::prop_assert!(a <= i64::try_from(every + extra).unwrap());
        }
    }
}
