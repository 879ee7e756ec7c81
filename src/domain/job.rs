//! A monitored job and the rules of its life, as pure functions: given the job as
//! stored, the input and the time, they return the new job, the alert it raises and
//! the events it records. Stores only load, lock, apply, persist and schedule.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::event::{DeliveryEvent, Event, EventKind, Origin, SignalEvent};
#[cfg(test)]
use super::run::MAX_OPEN_RUNS;
use super::run::{ExitCode, Output, RunId, Runs, Signal, ALERT_LOG_BYTES};
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

/// Why a job went down (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownReason {
    /// Its deadline passed.
    #[default]
    Missed,
    /// A run failed beyond the job's tolerance.
    Failed,
    /// A run took longer than `max_runtime`.
    RunTimeout,
}

impl DownReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DownReason::Missed => "missed",
            DownReason::Failed => "failed",
            DownReason::RunTimeout => "run_timeout",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "missed" => Some(DownReason::Missed),
            "failed" => Some(DownReason::Failed),
            "run_timeout" => Some(DownReason::RunTimeout),
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
    /// When the job went down (the deadline it missed, or the failing ping's time);
    /// `None` while up.
    pub down_since: Option<UnixTime>,
    /// Why the job is down; meaningful only while it is.
    pub down_reason: DownReason,
    /// `down` alerts raised in the current (or last) down episode: 1 for the first,
    /// 2 for the first reminder, …
    pub episode_alerts: u32,
    /// Every alert raised for this job since it was created (down, reminders and up).
    pub alerts_sent: u64,
    pub pings_total: u64,
    /// When a down job's next reminder is due; `None` while up or when reminders are off.
    pub next_reminder: Option<UnixTime>,
    /// Its runs, settings for them and failures; `None` while all are defaults.
    pub runs: Option<Box<Runs>>,
    /// The `seq` of the last event recorded for this job.
    pub events_seq: u64,
}

impl Job {
    /// The moment after which the job is overdue: last ping + frequency + grace.
    pub fn deadline(&self) -> UnixTime {
        self.last_ping
            .plus(self.frequency.seconds())
            .plus(self.grace.seconds())
    }

    /// Its runs, created with the defaults when the job had none.
    pub fn runs_mut(&mut self) -> &mut Runs {
        self.runs.get_or_insert_with(Box::default)
    }

    /// The job object of SPEC sections 4 and 10.
    pub fn to_json(&self) -> serde_json::Value {
        let deadline = self.deadline();
        let runs = self.runs.as_deref();
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
            "last_start": runs.and_then(Runs::last_start).map(UnixTime::rfc3339),
            "running": runs.is_some_and(|r| !r.open.is_empty()),
            "last_duration_seconds": runs.and_then(|r| r.last_duration_ms).map(super::event::seconds),
            "last_exit_code": runs.and_then(|r| r.last_exit_code),
            "max_runtime_seconds": runs.and_then(|r| r.max_runtime),
            "failure_tolerance": runs.map_or(0, |r| r.failure_tolerance),
            "consecutive_failures": runs.map_or(0, |r| r.consecutive_failures),
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
    /// What it says about a run.
    pub signal: Signal,
    pub exit_code: Option<ExitCode>,
    pub rid: Option<RunId>,
    /// `Some(None)` clears the job's limit; `None` keeps it.
    pub max_runtime: Option<Option<u64>>,
    pub failure_tolerance: Option<u8>,
    /// The POST body, as kept.
    pub output: Option<Output>,
    pub origin: Origin,
}

impl Ping {
    /// A plain ping of `name` at arrival, nothing else said.
    pub fn new(name: JobName) -> Self {
        Self {
            name,
            frequency: None,
            grace: None,
            at: None,
            want_job: false,
            signal: Signal::Success,
            exit_code: None,
            rid: None,
            max_runtime: None,
            failure_tolerance: None,
            output: None,
            origin: Origin::default(),
        }
    }

    /// Whether the ping is a plain one: a success with nothing but a name, a frequency,
    /// a grace and a time, from an unknown origin. Stores may take a short way for it.
    pub fn is_plain(&self) -> bool {
        self.signal == Signal::Success
            && self.exit_code.is_none()
            && self.rid.is_none()
            && self.max_runtime.is_none()
            && self.failure_tolerance.is_none()
            && self.output.is_none()
    }
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

/// What the rules decided: the job as it is now, the alert raised, the events recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub job: Job,
    pub alert: Option<Alert>,
    pub events: Vec<Event>,
}

/// What a ping does to a job that exists.
// Returned by value and matched at once on the ping path: boxing the change would cost
// an allocation per ping for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum PingEffect {
    /// Its timestamp is older than the last ping: nothing changes (409).
    Stale,
    /// Its timestamp is the last ping's second: a retry of a ping already recorded, which
    /// must neither count twice nor recover a job that went down after the original.
    Retry,
    /// The ping is recorded.
    Applied(Change),
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

/// Appends an event to `events`, numbered after the job's last one.
fn record(job: &mut Job, at: UnixTime, kind: EventKind, events: &mut Vec<Event>) {
    job.events_seq += 1;
    events.push(Event {
        seq: job.events_seq,
        at,
        kind,
    });
}

impl Job {
    /// A new job from its first ping; `None` when the ping names no frequency, in which
    /// case nothing is created.
    pub fn from_first_ping(
        ping: &Ping,
        now: UnixTime,
        policy: &Policy,
        alert_id: impl FnOnce() -> String,
    ) -> Option<Change> {
        let mut job = Job {
            name: ping.name.clone(),
            frequency: ping.frequency.clone()?,
            grace: ping.grace.unwrap_or_default(),
            last_ping: ping.at.unwrap_or(now),
            status: Status::Up,
            down_since: None,
            down_reason: DownReason::Missed,
            episode_alerts: 0,
            alerts_sent: 0,
            pings_total: 0,
            next_reminder: None,
            runs: None,
            events_seq: 0,
        };
        let mut events = Vec::with_capacity(2);
        record(&mut job, now, EventKind::Created, &mut events);
        let at = job.last_ping;
        Some(job.apply_signal(ping, at, now, policy, alert_id, events))
    }

    /// Applies a ping to the job as stored (SPEC §3 and §10). `alert_id` is asked for
    /// only when the ping raises an alert.
    pub fn apply_ping(
        &self,
        ping: &Ping,
        now: UnixTime,
        policy: &Policy,
        alert_id: impl FnOnce() -> String,
    ) -> PingEffect {
        // Timestamps a job sends are whole seconds and are compared as such; the guard
        // holds for every state.
        let at = match ping.at {
            Some(at) if at.secs() < self.last_ping.secs() => return PingEffect::Stale,
            Some(at)
                if at.secs() == self.last_ping.secs()
                    && matches!(ping.signal, Signal::Success | Signal::Fail) =>
            {
                return PingEffect::Retry
            }
            Some(at) => at,
            // An arrival-time ping never moves the last ping back (after a timestamp a
            // little in the future, or a clock step).
            None => now.max(self.last_ping),
        };
        let job = self.clone();
        PingEffect::Applied(job.apply_signal(ping, at, now, policy, alert_id, Vec::new()))
    }

    /// The signal of `ping`, recorded at `at`, on this job.
    fn apply_signal(
        mut self,
        ping: &Ping,
        at: UnixTime,
        now: UnixTime,
        policy: &Policy,
        alert_id: impl FnOnce() -> String,
        mut events: Vec<Event>,
    ) -> Change {
        if ping.signal != Signal::Log {
            self.take_settings(ping);
        }
        let mut signal = SignalEvent {
            signal: ping.signal,
            origin: ping.origin.clone(),
            rid: ping.rid.clone(),
            exit_code: ping.exit_code,
            duration_ms: None,
            log: ping.output.clone(),
            timestamp: ping.at,
        };
        let mut alert = None;
        match ping.signal {
            Signal::Log => {
                record(
                    &mut self,
                    now,
                    EventKind::Signal(Box::new(signal)),
                    &mut events,
                );
            }
            Signal::Start => {
                self.runs_mut().start(ping.rid.clone(), at);
                self.pings_total += 1;
                record(
                    &mut self,
                    now,
                    EventKind::Signal(Box::new(signal)),
                    &mut events,
                );
            }
            Signal::Success | Signal::Fail => {
                self.last_ping = at;
                self.pings_total += 1;
                let failed = ping.signal == Signal::Fail;
                if self.runs.is_some() || ping.exit_code.is_some() || failed {
                    let runs = self.runs_mut();
                    signal.duration_ms = runs.end(ping.rid.as_ref(), at);
                    runs.last_exit_code = ping.exit_code.map(ExitCode::get);
                    runs.consecutive_failures = if failed {
                        runs.consecutive_failures.saturating_add(1)
                    } else {
                        0
                    };
                }
                let duration_ms = signal.duration_ms;
                record(
                    &mut self,
                    now,
                    EventKind::Signal(Box::new(signal)),
                    &mut events,
                );
                if !failed && self.status == Status::Down {
                    let mut up = Alert::new(alert_id(), &self, AlertEvent::Up, now);
                    up.reason = super::alert::Reason::Recovered;
                    self.status = Status::Up;
                    self.down_since = None;
                    self.next_reminder = None;
                    self.alerts_sent += 1;
                    record(&mut self, now, EventKind::Up, &mut events);
                    alert = Some(up);
                } else if failed && self.status == Status::Up && self.fails_beyond_tolerance() {
                    self.status = Status::Down;
                    self.down_since = Some(at);
                    self.down_reason = DownReason::Failed;
                    self.episode_alerts = 1;
                    self.alerts_sent += 1;
                    self.next_reminder = next_reminder(policy, 1, now);
                    let mut down = self.down_alert(alert_id(), now);
                    down.duration_ms = duration_ms;
                    down.log = ping
                        .output
                        .as_ref()
                        .map(|o| o.tail(ALERT_LOG_BYTES).to_owned());
                    record(
                        &mut self,
                        now,
                        EventKind::Down(DownReason::Failed),
                        &mut events,
                    );
                    alert = Some(down);
                }
            }
        }
        self.drop_default_runs();
        Change {
            job: self,
            alert,
            events,
        }
    }

    /// Takes the settings a ping carries; a known job keeps what it omits.
    fn take_settings(&mut self, ping: &Ping) {
        if let Some(frequency) = &ping.frequency {
            self.frequency = frequency.clone();
        }
        if let Some(grace) = ping.grace {
            self.grace = grace;
        }
        if let Some(max_runtime) = ping.max_runtime {
            self.runs_mut().max_runtime = max_runtime;
        }
        if let Some(tolerance) = ping.failure_tolerance {
            self.runs_mut().failure_tolerance = tolerance;
        }
    }

    fn fails_beyond_tolerance(&self) -> bool {
        self.runs
            .as_deref()
            .is_some_and(|r| r.consecutive_failures > u32::from(r.failure_tolerance))
    }

    fn drop_default_runs(&mut self) {
        if self.runs.as_deref().is_some_and(Runs::is_default) {
            self.runs = None;
        }
    }

    /// A `down` alert (or reminder) for the job as it is now, with its reason and the
    /// last exit code of a failed episode.
    fn down_alert(&self, id: String, now: UnixTime) -> Alert {
        let mut alert = Alert::new(id, self, AlertEvent::Down, now);
        alert.reason = self.down_reason.into();
        if self.down_reason == DownReason::Failed {
            alert.exit_code = self.runs.as_deref().and_then(|r| r.last_exit_code);
        }
        alert
    }

    /// The job falls due at `now`, with `not_before` its startup grace: an up job goes
    /// down for its missed deadline or a run that took too long, and raises its `down`
    /// alert; a down job raises its next reminder. `None` when nothing is due.
    pub fn fall_due(
        &self,
        now: UnixTime,
        not_before: Option<UnixTime>,
        policy: &Policy,
        alert_id: String,
    ) -> Option<Change> {
        let mut job = self.clone();
        let mut events = Vec::with_capacity(1);
        let mut duration_ms = None;
        if job.status == Status::Down {
            if !job.next_reminder.is_some_and(|at| is_due(at, now)) {
                return None;
            }
            job.episode_alerts = job.episode_alerts.saturating_add(1);
            let reason = job.down_reason;
            record(&mut job, now, EventKind::Reminder(reason), &mut events);
        } else {
            let deadline = not_before.map_or(job.deadline(), |nb| nb.max(job.deadline()));
            let end_by = job.runs.as_deref().and_then(Runs::end_by);
            let reason = match end_by {
                Some(end_by) if is_due(end_by, now) && end_by < deadline => {
                    duration_ms = job.runs_mut().time_out(now);
                    job.down_since = Some(end_by);
                    DownReason::RunTimeout
                }
                _ if is_due(deadline, now) => {
                    job.down_since = Some(job.deadline());
                    DownReason::Missed
                }
                _ => return None,
            };
            job.status = Status::Down;
            job.down_reason = reason;
            job.episode_alerts = 1;
            record(&mut job, now, EventKind::Down(reason), &mut events);
        }
        job.alerts_sent += 1;
        job.next_reminder = next_reminder(policy, job.episode_alerts, now);
        let mut alert = job.down_alert(alert_id, now);
        alert.duration_ms = duration_ms;
        Some(Change {
            job,
            alert: Some(alert),
            events,
        })
    }

    /// Records that an alert's delivery to one channel ended: an event, nothing else.
    pub fn record_delivery(&self, delivery: DeliveryEvent, now: UnixTime) -> Change {
        let mut job = self.clone();
        let mut events = Vec::with_capacity(1);
        record(
            &mut job,
            now,
            EventKind::Delivery(Box::new(delivery)),
            &mut events,
        );
        Change {
            job,
            alert: None,
            events,
        }
    }

    /// When the job next needs the sweeper: while up, its deadline (not before
    /// `not_before`, the startup grace) or the end-by time of an open run, whichever
    /// comes first; while down, its next reminder.
    pub fn wake_target(&self, not_before: Option<UnixTime>) -> Option<UnixTime> {
        match self.status {
            Status::Up => {
                let deadline = self.deadline();
                let deadline = not_before.map_or(deadline, |nb| nb.max(deadline));
                let end_by = self.runs.as_deref().and_then(Runs::end_by);
                Some(end_by.map_or(deadline, |end| end.min(deadline)))
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

    fn p() -> Policy {
        policy(60, 3_600)
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
            signal: Signal::Success,
            exit_code: None,
            rid: None,
            max_runtime: None,
            failure_tolerance: None,
            output: None,
            origin: Origin::default(),
        }
    }

    fn signal(signal: Signal) -> Ping {
        Ping {
            signal,
            ..ping(None, None)
        }
    }

    fn id() -> String {
        "A".to_owned()
    }

    fn created(p: &Ping, now: i64) -> Job {
        Job::from_first_ping(p, t(now), &policy(60, 3_600), id)
            .unwrap()
            .job
    }

    fn job() -> Job {
        created(&ping(Some("1m"), None), 1_000)
    }

    fn apply(job: &Job, p: &Ping, now: i64) -> Change {
        match job.apply_ping(p, t(now), &policy(60, 3_600), id) {
            PingEffect::Applied(change) => change,
            other => panic!("not applied: {other:?}"),
        }
    }

    fn due(job: &Job, now: i64, p: &Policy) -> Change {
        job.fall_due(t(now), None, p, id()).expect("due")
    }

    fn kinds(change: &Change) -> Vec<&'static str> {
        change.events.iter().map(Event::kind_name).collect()
    }

    #[test]
    fn a_new_name_needs_a_frequency_and_is_created_with_its_first_ping() {
        assert!(Job::from_first_ping(&ping(None, None), t(1), &p(), id).is_none());
        let change = Job::from_first_ping(&ping(Some("1m"), None), t(1_000), &p(), id).unwrap();
        assert_eq!(change.job.deadline(), t(1_060));
        assert_eq!((change.job.pings_total, change.job.events_seq), (1, 2));
        assert_eq!(kinds(&change), ["created", "ping"]);
        assert_eq!(change.events[1].seq, 2);
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
        let mut j = due(&job(), 1_061, &p).job;
        let mut reminders = 0;
        while let Some(at) = j.next_reminder.filter(|at| *at < t(1_061 + 2 * 86_400)) {
            j = due(&j, at.secs() + 1, &p).job;
            reminders += 1;
        }
        assert!((10..=16).contains(&reminders), "{reminders} reminders");
    }

    #[test]
    fn falling_due_marks_down_once_then_reminds() {
        let p = p();
        assert!(
            job().fall_due(t(1_060), None, &p, id()).is_none(),
            "not at the deadline"
        );
        let change = due(&job(), 1_061, &p);
        let (down, alert) = (change.job.clone(), change.alert.clone().unwrap());
        assert_eq!(
            (down.status, down.episode_alerts, down.alerts_sent),
            (Status::Down, 1, 1)
        );
        assert_eq!(down.down_since, Some(t(1_060)));
        assert_eq!(
            (
                alert.event,
                alert.overdue_seconds,
                alert.alert_count,
                alert.reason
            ),
            (AlertEvent::Down, 1, 1, super::super::Reason::Missed)
        );
        assert_eq!(kinds(&change), ["down"]);
        assert_eq!(down.next_reminder, Some(t(1_121)));
        assert!(
            down.fall_due(t(1_121), None, &p, id()).is_none(),
            "reminder not yet due"
        );
        let again = due(&down, 1_122, &p);
        assert_eq!(
            (again.job.episode_alerts, again.alert.unwrap().alert_count),
            (2, 2)
        );
        assert_eq!(
            again.job.down_since,
            Some(t(1_060)),
            "the episode keeps its start"
        );
        assert_eq!(again.job.next_reminder, Some(t(1_242)));
        assert_eq!(again.events[0].kind_name(), "reminder");
    }

    #[test]
    fn the_startup_grace_delays_a_missed_deadline() {
        let p = p();
        let late = job();
        assert!(late.fall_due(t(1_100), Some(t(1_200)), &p, id()).is_none());
        assert!(late.fall_due(t(1_201), Some(t(1_200)), &p, id()).is_some());
    }

    #[test]
    fn pings_are_stale_retries_or_applied_and_a_ping_recovers_a_down_job() {
        let j = created(&ping(Some("1m"), Some(1_000)), 1_000);
        assert_eq!(
            j.apply_ping(&ping(None, Some(999)), t(1_001), &p(), id),
            PingEffect::Stale
        );
        assert_eq!(
            j.apply_ping(&ping(None, Some(1_000)), t(1_001), &p(), id),
            PingEffect::Retry
        );
        let later = apply(&j, &ping(Some("10m"), None), 1_030).job;
        assert_eq!((later.pings_total, later.deadline()), (2, t(1_630)));
        let down = due(&later, 1_700, &policy(60, 60)).job;
        let change = apply(&down, &ping(None, None), 1_800);
        let (up, alert) = (change.job.clone(), change.alert.clone().unwrap());
        assert_eq!(
            (up.status, up.down_since, up.next_reminder),
            (Status::Up, None, None)
        );
        assert_eq!(
            (alert.event, alert.overdue_seconds, alert.reason),
            (AlertEvent::Up, 170, super::super::Reason::Recovered)
        );
        assert_eq!(up.alerts_sent, 2);
        assert_eq!(kinds(&change), ["ping", "up"]);
    }

    #[test]
    fn an_arrival_ping_never_moves_the_last_ping_back() {
        let j = created(&ping(Some("1m"), Some(2_000)), 1_000);
        assert_eq!(apply(&j, &ping(None, None), 1_500).job.last_ping, t(2_000));
    }

    #[test]
    fn a_start_opens_a_run_without_moving_the_deadline_and_a_success_ends_it() {
        let j = job();
        let started = apply(&j, &signal(Signal::Start), 1_030).job;
        assert_eq!(
            started.deadline(),
            t(1_060),
            "a start does not move the deadline"
        );
        assert_eq!(started.to_json()["running"], true);
        assert_eq!(started.to_json()["last_start"], t(1_030).rfc3339());
        let ended = apply(&started, &signal(Signal::Success), 1_042);
        assert_eq!(ended.job.deadline(), t(1_102));
        assert_eq!(ended.job.to_json()["last_duration_seconds"], 12.0);
        assert_eq!(ended.job.to_json()["running"], false);
        assert_eq!(ended.events[0].to_json()["duration_seconds"], 12.0);
    }

    #[test]
    fn a_run_id_ends_its_own_run_and_at_most_ten_stay_open() {
        let mut j = job();
        for (i, rid) in ["a", "b"].iter().enumerate() {
            let start = Ping {
                rid: RunId::parse(rid).ok(),
                ..signal(Signal::Start)
            };
            j = apply(&j, &start, 1_001 + i as i64).job;
        }
        let end_a = Ping {
            rid: RunId::parse("a").ok(),
            ..signal(Signal::Success)
        };
        let j = apply(&j, &end_a, 1_011).job;
        assert_eq!(
            j.runs.as_deref().and_then(|r| r.last_duration_ms),
            Some(10_000)
        );
        assert_eq!(j.runs.as_deref().map(|r| r.open.len()), Some(1));
        let mut j = j;
        for i in 0..15 {
            j = apply(&j, &signal(Signal::Start), 1_020 + i).job;
        }
        assert_eq!(j.runs.as_deref().map(|r| r.open.len()), Some(MAX_OPEN_RUNS));
    }

    #[test]
    fn a_fail_marks_an_up_job_down_at_once_and_the_next_success_brings_it_up() {
        let j = job();
        let fail = Ping {
            exit_code: Some(ExitCode::new(2)),
            signal: Signal::Fail,
            output: Output::from_body(b"disk full"),
            ..signal(Signal::Fail)
        };
        let change = apply(&j, &fail, 1_010);
        let alert = change.alert.clone().unwrap();
        assert_eq!(change.job.status, Status::Down);
        assert_eq!(change.job.deadline(), t(1_070), "the job did run");
        assert_eq!(
            (alert.reason, alert.exit_code, alert.log.as_deref()),
            (super::super::Reason::Failed, Some(2), Some("disk full"))
        );
        assert_eq!(kinds(&change), ["fail", "down"]);
        let again = apply(&change.job, &fail, 1_020);
        assert!(again.alert.is_none(), "already down: no new alert");
        let reminder = due(&again.job, 1_200, &p()).alert.unwrap();
        assert_eq!(
            (reminder.reason, reminder.exit_code),
            (super::super::Reason::Failed, Some(2))
        );
        let up = apply(&again.job, &signal(Signal::Success), 1_030);
        assert_eq!(up.job.status, Status::Up);
        assert_eq!(up.alert.unwrap().event, AlertEvent::Up);
        assert_eq!(up.job.to_json()["consecutive_failures"], 0);
    }

    #[test]
    fn tolerated_failures_alert_only_beyond_the_tolerance() {
        let tolerant = Ping {
            failure_tolerance: Some(2),
            ..ping(Some("1m"), None)
        };
        let mut j = created(&tolerant, 1_000);
        for n in 0..2 {
            let change = apply(&j, &signal(Signal::Fail), 1_001 + n);
            assert!(change.alert.is_none(), "failure {n} is tolerated");
            j = change.job;
        }
        let reset = apply(&j, &signal(Signal::Success), 1_010).job;
        assert_eq!(reset.to_json()["consecutive_failures"], 0);
        let mut j = reset;
        for n in 0..2 {
            j = apply(&j, &signal(Signal::Fail), 1_011 + n).job;
        }
        let third = apply(&j, &signal(Signal::Fail), 1_020);
        assert_eq!(
            third.alert.map(|a| a.reason),
            Some(super::super::Reason::Failed)
        );
    }

    #[test]
    fn a_run_longer_than_max_runtime_marks_the_job_down_once() {
        let limited = Ping {
            max_runtime: Some(Some(30)),
            ..ping(Some("1h"), None)
        };
        let j = created(&limited, 1_000);
        let started = apply(&j, &signal(Signal::Start), 1_010).job;
        assert_eq!(
            started.wake_target(None),
            Some(t(1_040)),
            "the run's end-by is a wake-up"
        );
        assert!(started.fall_due(t(1_040), None, &p(), id()).is_none());
        let change = due(&started, 1_041, &p());
        let alert = change.alert.unwrap();
        assert_eq!(
            (alert.reason, alert.duration_ms),
            (super::super::Reason::RunTimeout, Some(31_000))
        );
        assert_eq!(change.job.status, Status::Down);
        assert_eq!(change.events[0].to_json()["reason"], "run_timeout");
        let up = apply(&change.job, &signal(Signal::Success), 1_100);
        assert_eq!(up.alert.map(|a| a.event), Some(AlertEvent::Up));
        let cleared = Ping {
            max_runtime: Some(None),
            ..ping(None, None)
        };
        let cleared = apply(&up.job, &cleared, 1_101).job;
        assert_eq!(cleared.runs.as_deref().map(|r| r.max_runtime), Some(None));
        assert_eq!(
            cleared.to_json()["max_runtime_seconds"],
            serde_json::Value::Null
        );
        let fresh = Ping {
            max_runtime: Some(None),
            ..ping(Some("1h"), None)
        };
        assert!(
            created(&fresh, 1_000).runs.is_none(),
            "defaults are not kept"
        );
    }

    #[test]
    fn a_log_records_an_event_and_changes_nothing_else() {
        let j = job();
        let log = Ping {
            output: Output::from_body(b"step 3 of 5"),
            ..signal(Signal::Log)
        };
        let change = apply(&j, &log, 1_030);
        assert_eq!(
            (
                change.job.last_ping,
                change.job.pings_total,
                change.job.deadline()
            ),
            (j.last_ping, j.pings_total, j.deadline())
        );
        assert_eq!(change.job.events_seq, j.events_seq + 1);
        assert_eq!(change.events[0].to_json()["log"], "step 3 of 5");
        let old = Ping {
            at: Some(t(999)),
            ..log
        };
        assert_eq!(
            j.apply_ping(&old, t(1_031), &p(), id),
            PingEffect::Stale,
            "the guard holds for logs"
        );
    }

    #[test]
    fn a_restart_keeps_down_jobs_down_and_gives_late_ones_the_startup_grace() {
        let p = Policy {
            startup_grace: Duration::from_secs(900),
            ..policy(3_600, 86_400)
        };
        let late = created(&ping(Some("1h"), Some(0)), 0);
        let (late, not_before) = late.restore(t(100_000), &p);
        assert_eq!(not_before, Some(t(100_900)), "min(1h, 15m) after the start");
        assert_eq!(late.wake_target(not_before), Some(t(100_900)));
        let down = due(&late, 3_601, &p).job;
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

        #[test]
        fn any_sequence_of_signals_keeps_the_job_consistent(
            steps in proptest::collection::vec((0u8..4, 0u8..3, 1i64..100), 1..40),
        ) {
            let mut j = job();
            let mut now = 1_000;
            for (kind, code, dt) in steps {
                now += dt;
                let sig = [Signal::Success, Signal::Start, Signal::Fail, Signal::Log][usize::from(kind)];
                let p = Ping { exit_code: (code > 0).then(|| ExitCode::new(code)), ..signal(sig) };
                let p = Ping { signal: Signal::parse(Some(sig.as_str()), p.exit_code).unwrap(), ..p };
                let before = j.events_seq;
                if let PingEffect::Applied(change) = j.apply_ping(&p, t(now), &policy(60, 3_600), id) {
                    proptest::prop_assert!(change.job.events_seq > before);
                    proptest::prop_assert_eq!(change.events.last().map(|e| e.seq), Some(change.job.events_seq));
                    j = change.job;
                }
                if let Some(change) = j.fall_due(t(now), None, &policy(60, 3_600), id()) {
                    j = change.job;
                }
                proptest::prop_assert_eq!(j.status == Status::Down, j.down_since.is_some());
                proptest::prop_assert!(j.runs.as_deref().is_none_or(|r| r.open.len() <= MAX_OPEN_RUNS && !r.is_default()));
            }
        }
    }
}
