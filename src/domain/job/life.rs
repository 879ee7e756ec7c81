//! The rules of a job's life: its first ping, every later ping and run signal, falling
//! due, reminders, deliveries and restarts, each a pure function from the stored job,
//! the input and the time to the new job, its alert and its events.

use std::time::Duration;

use super::*;

/// A ping as the handler parsed it.
#[derive(Debug, Clone)]
pub struct Ping {
    pub name: JobName,
    /// At most one of `frequency` and `schedule` (the handler refuses both).
    pub frequency: Option<Frequency>,
    pub schedule: Option<Schedule>,
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
            schedule: None,
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

    /// Whether the ping names a frequency or a schedule, as a new job's first must.
    pub fn names_cadence(&self) -> bool {
        self.frequency.is_some() || self.schedule.is_some()
    }

    /// Whether the ping is a plain one: a success with nothing but a name, a frequency,
    /// a grace and a time, from an unknown origin. Stores may take a short way for it.
    pub fn is_plain(&self) -> bool {
        self.signal == Signal::Success
            && self.schedule.is_none()
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
pub(super) fn reminder_interval(policy: &Policy, episode_alerts: u32) -> Option<u64> {
    let every = policy.realert_every?.as_secs().max(1);
    let max = policy.realert_max.as_secs().max(every);
    let doublings = episode_alerts.saturating_sub(1).min(62);
    Some(every.saturating_mul(1 << doublings).min(max))
}

/// A schedule job's grace when it sent none (SPEC §11): it pings after its work, never
/// at its fire time.
pub const SCHEDULE_DEFAULT_GRACE_SECS: u64 = 300;

/// The grace a job of `cadence` gets when none was sent: 0 for a frequency, 5 minutes
/// for a schedule.
pub(super) fn default_grace(cadence: &Cadence) -> Grace {
    match cadence {
        Cadence::Every(_) => Grace::default(),
        Cadence::Cron(_) => Grace::from_secs(SCHEDULE_DEFAULT_GRACE_SECS).unwrap_or_default(),
    }
}

/// Appends an event to `events`, numbered after the job's last one.
pub(super) fn record(job: &mut Job, at: UnixTime, kind: EventKind, events: &mut Vec<Event>) {
    job.events_seq += 1;
    events.push(Event {
        seq: job.events_seq,
        at,
        kind,
    });
}

impl Job {
    /// A new job from its first ping; `None` when the ping names neither a frequency
    /// nor a schedule, in which case nothing is created.
    pub fn from_first_ping(
        ping: &Ping,
        now: UnixTime,
        policy: &Policy,
        alert_id: impl FnOnce() -> String,
    ) -> Option<Change> {
        let last_ping = ping.at.unwrap_or(now);
        let cadence = match (&ping.schedule, &ping.frequency) {
            (Some(schedule), _) => Cadence::cron(schedule.clone(), last_ping),
            (None, Some(frequency)) => Cadence::Every(frequency.clone()),
            (None, None) => return None,
        };
        let mut job = Job {
            name: ping.name.clone(),
            grace: ping.grace.unwrap_or_else(|| default_grace(&cadence)),
            cadence,
            last_ping,
            status: Status::Up,
            down_since: None,
            down_reason: DownReason::Missed,
            episode_alerts: 0,
            alerts_sent: 0,
            pings_total: 0,
            next_reminder: None,
            runs: None,
            events_seq: 0,
            interventions: None,
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
                self.settle_resume_deadline();
                record(
                    &mut self,
                    now,
                    EventKind::Signal(Box::new(signal)),
                    &mut events,
                );
                if !failed && self.status == Status::Down {
                    let mut up = Alert::new(alert_id(), &self, AlertEvent::Up, now);
                    up.reason = crate::domain::alert::Reason::Recovered;
                    self.status = Status::Up;
                    self.down_since = None;
                    self.next_reminder = None;
                    self.set_acknowledged(None);
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
        self.refresh();
        Change {
            job: self,
            alert,
            events,
        }
    }

    /// Takes the settings a ping carries; a known job keeps what it omits. A ping that
    /// switches the job between frequency and schedule without a grace gives it the new
    /// kind's default grace, since the old kind's (0 s for a frequency) would make a
    /// schedule job late at every fire time.
    fn take_settings(&mut self, ping: &Ping) {
        let was_scheduled = self.schedule().is_some();
        if let Some(schedule) = &ping.schedule {
            if self.schedule() != Some(schedule) {
                self.cadence = Cadence::cron(schedule.clone(), self.last_ping);
            }
        } else if let Some(frequency) = &ping.frequency {
            if self.frequency() != Some(frequency) {
                self.cadence = Cadence::Every(frequency.clone());
            }
        }
        match ping.grace {
            Some(grace) => self.grace = grace,
            None if was_scheduled != self.schedule().is_some() => {
                self.grace = default_grace(&self.cadence);
            }
            None => {}
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
        if job.status == Status::Paused {
            // The end of a pause window: the job resumes, and nothing is alerted.
            return self
                .paused_until()
                .filter(|end| is_due(*end, now))
                .map(|_| self.resume(now));
        }
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
            Status::Paused => self.paused_until(),
        }
    }

    /// The startup grace (SPEC §8): an up job whose deadline passed before the monitor
    /// `resumed` is not alerted before resumed + min(frequency + grace, the cap).
    pub fn startup_not_before(&self, resumed: UnixTime, policy: &Policy) -> Option<UnixTime> {
        (self.status == Status::Up && self.deadline() < resumed).then(|| {
            let period = self.period_after(resumed) + self.grace.seconds();
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
            // An acknowledged outage stays without reminders.
            Status::Down if self.acknowledged().is_some() => (self, None),
            Status::Down => {
                self.next_reminder = next_reminder(policy, self.episode_alerts, start)
                    .map(|next| self.next_reminder.map_or(next, |stored| stored.min(next)));
                (self, None)
            }
            Status::Paused => (self, None),
        }
    }
}
