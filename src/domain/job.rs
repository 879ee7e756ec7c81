//! A monitored job: what is stored of it and how it reads as JSON. The rules of its
//! life are pure functions in `life` (pings, run signals, falling due, reminders,
//! deliveries, restarts) and `pause` (pause, resume, acknowledgement): given the job as
//! stored, the input and the time, they return the new job, the alert it raises and
//! the events it records. Stores only load, lock, apply, persist and schedule.

use serde::{Deserialize, Serialize};

use super::event::{DeliveryEvent, Event, EventKind, Origin, SignalEvent};
#[cfg(test)]
use super::run::MAX_OPEN_RUNS;
use super::run::{ExitCode, Output, RunId, Runs, Signal, ALERT_LOG_BYTES};
use super::{
    Acknowledgement, Alert, AlertEvent, Cadence, Frequency, Grace, Interventions, JobName,
    Schedule, UnixTime,
};

/// Whether a job is pinging on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Up,
    Down,
    /// Paused by an operator (SPEC §12): no alert of any kind until it resumes.
    Paused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Down => "down",
            Status::Paused => "paused",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "up" => Some(Status::Up),
            "down" => Some(Status::Down),
            "paused" => Some(Status::Paused),
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
    /// Its frequency or its schedule; the rules keep a schedule's next fire after the
    /// last ping at hand ([`Job::refresh`]).
    pub cadence: Cadence,
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
    /// Its pause end and acknowledgement; `None` while it has neither (see
    /// [`Job::paused_until`], [`Job::acknowledged`]).
    pub interventions: Option<Box<Interventions>>,
}

impl Job {
    /// The moment after which the job is overdue: last ping + frequency + grace, or the
    /// schedule's first fire strictly after the last ping + grace; after a resume, no
    /// earlier than the resume's deadline (SPEC §12).
    pub fn deadline(&self) -> UnixTime {
        let own = self.own_deadline();
        self.resume_deadline().map_or(own, |floor| floor.max(own))
    }

    /// The deadline that follows from the last ping alone.
    fn own_deadline(&self) -> UnixTime {
        self.cadence
            .next_after(self.last_ping)
            .plus(self.grace.seconds())
    }

    /// The frequency of a job that has one.
    pub fn frequency(&self) -> Option<&Frequency> {
        self.cadence.frequency()
    }

    /// The schedule of a job that has one.
    pub fn schedule(&self) -> Option<&Schedule> {
        self.cadence.schedule()
    }

    /// The wait from `at` to the job's next expected ping, before grace: its frequency,
    /// or the time to its schedule's next fire after `at`.
    pub fn period_after(&self, at: UnixTime) -> u64 {
        self.cadence.period_after(at)
    }

    /// Keeps the schedule's next fire after the last ping at hand; the rules call it
    /// after every change, and stores after reading a job back.
    pub fn refresh(&mut self) {
        self.cadence.refresh(self.last_ping);
    }

    /// When a paused job resumes by itself; `None` when it is not paused or paused
    /// without an end.
    pub fn paused_until(&self) -> Option<UnixTime> {
        self.interventions.as_deref().and_then(|i| i.paused_until)
    }

    /// The acknowledgement of the job's current outage, if any.
    pub fn acknowledged(&self) -> Option<&Acknowledgement> {
        self.interventions
            .as_deref()
            .and_then(|i| i.acknowledged.as_ref())
    }

    /// Sets (or clears) the end of the job's pause.
    pub fn set_paused_until(&mut self, until: Option<UnixTime>) {
        self.change_interventions(|i| i.paused_until = until);
    }

    /// Sets (or clears) the acknowledgement of the job's outage.
    pub fn set_acknowledged(&mut self, acknowledged: Option<Acknowledgement>) {
        self.change_interventions(|i| i.acknowledged = acknowledged);
    }

    /// The deadline a resume gave the job, while it is later than its own.
    pub fn resume_deadline(&self) -> Option<UnixTime> {
        self.interventions
            .as_deref()
            .and_then(|i| i.resume_deadline)
    }

    /// Sets (or clears) the deadline a resume gave the job.
    pub fn set_resume_deadline(&mut self, at: Option<UnixTime>) {
        self.change_interventions(|i| i.resume_deadline = at);
    }

    /// Forgets the resume's deadline once the job's own is no earlier: it can only
    /// matter again after the next resume.
    fn settle_resume_deadline(&mut self) {
        if self
            .resume_deadline()
            .is_some_and(|floor| self.own_deadline() >= floor)
        {
            self.set_resume_deadline(None);
        }
    }

    fn change_interventions(&mut self, change: impl FnOnce(&mut Interventions)) {
        let interventions = self.interventions.get_or_insert_with(Box::default);
        change(interventions);
        if interventions.is_empty() {
            self.interventions = None;
        }
    }

    /// Its runs, created with the defaults when the job had none.
    pub fn runs_mut(&mut self) -> &mut Runs {
        self.runs.get_or_insert_with(Box::default)
    }

    /// The job object of SPEC sections 4 and 10.
    pub fn to_json(&self) -> serde_json::Value {
        let deadline = self.deadline();
        let runs = self.runs.as_deref();
        let frequency = self.frequency();
        let schedule = self.schedule();
        serde_json::json!({
            "name": self.name,
            "frequency": frequency.map(Frequency::as_str),
            "frequency_seconds": frequency.map(Frequency::seconds),
            "schedule": schedule.map(Schedule::expression),
            "timezone": schedule.map(Schedule::timezone),
            "grace_seconds": self.grace.seconds(),
            "status": self.status.as_str(),
            "last_ping": self.last_ping.rfc3339(),
            "last_ping_unix": self.last_ping.secs(),
            "next_deadline": deadline.rfc3339(),
            "next_deadline_unix": deadline.secs(),
            "down_since": self.down_since.map(UnixTime::rfc3339),
            "paused_until": self.paused_until().map(UnixTime::rfc3339),
            "acknowledged": self.acknowledged().map(|a| serde_json::json!({
                "at": a.at.rfc3339(),
                "note": a.note,
            })),
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

mod life;
use life::record;
pub use life::{
    is_due, next_reminder, Change, Ping, PingEffect, Policy, SCHEDULE_DEFAULT_GRACE_SECS,
};
mod pause;
#[cfg(test)]
mod rules;
