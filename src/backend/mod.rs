//! The boundary that holds all state: jobs, their deadlines and the alert outbox.
//!
//! Handlers, the sweeper and the dispatcher only know the [`Backend`] trait; the
//! implementation is chosen by the store URL's scheme in [`open`].

mod local;
mod outbox;
mod redis;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::domain::selection::{Selected, Selection, Selector};
pub use crate::domain::Ping;
use crate::domain::{
    AdminAction, Alert, DeliveryEvent, Job, JobName, Policy, Refusal, Status, UnixTime,
};

/// Jobs read per `list` call when a store without its own [`Backend::select`] is
/// scanned for one page of the dashboard.
const SELECT_CHUNK: usize = 1_000;

pub use self::redis::{RedisBackend, RedisStore};
pub use local::LocalBackend;
pub use outbox::{entry_id, AlertRoutes, Fanout, PendingAlert};

/// What recording a ping did.
#[derive(Debug)]
pub enum PingOutcome {
    /// The ping is stored; the job was up or new.
    Recorded(Job),
    /// The ping is stored; the job was up. Only for a ping without `want_job`, from a
    /// backend for which reading the job back costs a round of work (Redis).
    Acknowledged,
    /// The job was down: the ping is stored, the job is up and an `up` alert is queued.
    Recovered(Job),
    /// The ping's timestamp is older than the job's last ping: nothing changed.
    Stale(Job),
    /// A new name without a frequency: nothing changed.
    FrequencyRequired,
    /// A new name while `--max-services` jobs exist: nothing changed.
    Full { max: usize },
}

/// What an operator's action on a job did (SPEC §12).
#[derive(Debug)]
pub enum ActionOutcome {
    /// Applied and durable: the job as it is now.
    Done(Job),
    /// The job is not in the state the action needs: nothing changed.
    Refused(Refusal),
    /// No job of that name: nothing changed.
    Unknown,
}

/// One page of `GET /pings`.
#[derive(Debug)]
pub struct Page {
    pub jobs: Vec<Job>,
    pub total: usize,
    pub next: Option<JobName>,
}

impl Page {
    /// The page of a listing from the jobs fetched for it, in order: up to `limit`
    /// and one more, which only shows that more follow. `counts` gives its total.
    pub fn from_fetched(
        mut jobs: Vec<Job>,
        limit: usize,
        status: Option<Status>,
        counts: Counts,
    ) -> Self {
        let next = if jobs.len() > limit {
            jobs.truncate(limit);
            jobs.last().map(|j| j.name.clone())
        } else {
            None
        };
        Page {
            jobs,
            total: counts.with_status(status),
            next,
        }
    }
}

/// One page of a job's history (SPEC §13), newest first.
#[derive(Debug, Default)]
pub struct EventPage {
    /// The events, each the JSON object of SPEC §13.
    pub events: Vec<serde_json::Value>,
    /// The `before` value that reads the next page; `None` on the last one.
    pub next: Option<u64>,
}

/// How many jobs there are, for listings and health.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub total: usize,
    pub down: usize,
    pub paused: usize,
}

impl Counts {
    /// How many jobs have `status` (`None`: all).
    pub fn with_status(self, status: Option<Status>) -> usize {
        match status {
            None => self.total,
            Some(Status::Down) => self.down,
            Some(Status::Paused) => self.paused,
            Some(Status::Up) => self
                .total
                .saturating_sub(self.down)
                .saturating_sub(self.paused),
        }
    }
}

/// How one delivery attempt of a leased alert ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Try again at this moment.
    RetryAt(UnixTime),
    GaveUp,
    /// Not attempted (its channel has no free slot): offered again at this moment,
    /// without counting an attempt.
    Deferred(UnixTime),
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// Everything stateful, shaped so that one process (memory + SQLite) and a set of
/// replicas sharing Redis can both implement it.
#[async_trait]
pub trait Backend: StoreHealth {
    /// Records a ping; answers only once the change is durable.
    async fn record_ping(&self, ping: Ping, now: UnixTime) -> Result<PingOutcome, BackendError>;

    /// Removes a job and drops its undelivered alerts; `false` when it was unknown.
    async fn delete(&self, name: &JobName) -> Result<bool, BackendError>;

    async fn get(&self, name: &JobName) -> Result<Option<Job>, BackendError>;

    /// Pauses, resumes or acknowledges a job by the rules of `Job::act`, with the
    /// events it records; answers once the change is durable.
    async fn act(
        &self,
        name: &JobName,
        action: AdminAction,
        now: UnixTime,
    ) -> Result<ActionOutcome, BackendError>;

    /// Jobs sorted by name, strictly after `after`, at most `limit`.
    async fn list(
        &self,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, BackendError>;

    async fn counts(&self) -> Result<Counts, BackendError>;

    /// One page of the dashboard's job list: every job is offered to the one rule of
    /// [`crate::domain::selection`], then the page's jobs are read by name. By default
    /// the jobs are read in chunks through [`Backend::list`]; a store that holds them in
    /// memory offers them in place.
    async fn select(&self, selection: Selection) -> Result<Selected, BackendError> {
        let mut selector = Selector::new(selection);
        let mut after: Option<JobName> = None;
        loop {
            let page = self
                .list(None, after.as_ref().map(JobName::as_str), SELECT_CHUNK)
                .await?;
            for job in &page.jobs {
                selector.offer(job);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let chosen = selector.finish();
        let mut jobs = Vec::with_capacity(chosen.names.len());
        for name in &chosen.names {
            if let Some(job) = self.get(name).await? {
                jobs.push(job);
            }
        }
        Ok(chosen.with_jobs(jobs))
    }

    /// Marks jobs whose wake-up passed before `now` down (or raises their next
    /// reminder) and puts their alerts into the outbox in the same durable step.
    /// Returns the alerts raised, at most about `limit`.
    async fn take_due(&self, now: UnixTime, limit: usize) -> Result<Vec<Alert>, BackendError>;

    /// The earliest scheduled wake-up; the job is due just after it
    /// ([`crate::domain::is_due`]).
    async fn next_wake(&self) -> Option<UnixTime>;

    /// Leases alerts ready for an attempt at `now`: at most one per job, the oldest
    /// first, so that per job alerts go out in the order they were raised.
    async fn lease_alerts(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, BackendError>;

    /// When the next leasable alert becomes ready.
    async fn next_alert_at(&self) -> Option<UnixTime>;

    /// Records the end of an attempt on a leased alert.
    async fn finish_alert(
        &self,
        alert: &PendingAlert,
        outcome: Delivery,
    ) -> Result<(), BackendError>;

    /// The job's events with a `seq` below `before`, newest first, at most `limit`;
    /// `None` when the job is unknown.
    async fn events(
        &self,
        name: &JobName,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Option<EventPage>, BackendError>;

    /// Records the end of an alert's delivery to one channel as an event of its job
    /// (`Job::record_delivery`); a job deleted meanwhile records nothing.
    async fn record_delivery(
        &self,
        name: &JobName,
        delivery: DeliveryEvent,
        now: UnixTime,
    ) -> Result<(), BackendError>;

    /// Makes everything durable and releases the store; called once at shutdown.
    async fn close(&self) -> Result<(), BackendError>;
}

/// What the health monitor asks of the store (SPEC §6), apart from the job routes.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// A real round trip through the store; its latency.
    async fn check(&self) -> Result<Duration, BackendError>;

    /// Alerts waiting for delivery.
    async fn backlog(&self) -> Result<usize, BackendError>;

    /// When the oldest undelivered alert was raised; `None` when none is.
    async fn oldest_pending_alert(&self) -> Result<Option<UnixTime>, BackendError>;

    /// Entries waiting for delivery per channel key (`""` for the log); channels with
    /// none may be left out.
    async fn channel_backlog(&self) -> Result<HashMap<String, u64>, BackendError>;

    /// Pings recorded in the last hour by every replica sharing this store; `None`
    /// when the store does not count them (one process then counts its own).
    async fn pings_last_hour(&self, _now: UnixTime) -> Result<Option<u64>, BackendError> {
        Ok(None)
    }
}

/// How often pings must be made durable: see `--sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// Every acknowledged write survives a process crash.
    Normal,
    /// Every acknowledged write also survives a power loss.
    Full,
}

/// Where state lives, parsed from `--store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Memory,
    Sqlite(PathBuf),
    /// State shared by every replica that names the same Redis.
    Redis(RedisStore),
}

impl std::str::FromStr for StoreUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw == "memory://" || raw == "memory:" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(
                    "sqlite:// needs a path, e.g. sqlite://./overdue-data/overdue.db".into(),
                );
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("redis://")
            || raw.starts_with("rediss://")
            || raw.starts_with("redis+sentinel://")
            || raw.starts_with("redis+cluster://")
        {
            return RedisStore::parse(raw).map(StoreUrl::Redis);
        }
        Err(format!(
            "unknown store {raw:?}; valid schemes are sqlite://PATH, memory:// and redis://HOST:PORT[/DB]"
        ))
    }
}

/// The behaviour the backend needs from the configuration.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    pub max_services: usize,
    /// Reminder interval while a job stays down; `None` alerts once.
    pub realert_every: Option<Duration>,
    /// Events kept per job (`--history`); 0 keeps none.
    pub history: usize,
    /// Longest interval between reminders, however long a job stays down.
    pub realert_max: Duration,
    /// Cap on the extra time given to jobs that fell due while overdue was stopped.
    pub startup_grace: Duration,
    pub sync: SyncMode,
    /// The channels a raised alert gets an outbox entry for.
    pub fanout: Fanout,
}

impl BackendOptions {
    /// The settings the rules of a job's life take.
    pub fn policy(&self) -> Policy {
        Policy {
            realert_every: self.realert_every,
            realert_max: self.realert_max,
            startup_grace: self.startup_grace,
        }
    }
}

/// A store operation, timed by name for the performance metrics (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// Reading every job and pending alert at start.
    Load = 0,
    /// Writing a job's new state.
    Upsert,
    /// Removing a job and its undelivered alerts.
    Delete,
    /// Storing an alert before its first attempt.
    OutboxPut,
    /// Removing an alert after its delivery (or give-up).
    OutboxAck,
    /// Recording a failed attempt and the time of the next.
    OutboxRetry,
    /// The round trip of a store check (readiness, health).
    Check,
    /// Making a write durable: the journal `write` (the fsync, with `--sync full`).
    Commit,
    /// Folding the journal's changes into the SQLite snapshot, in the background.
    Fold,
}

impl StoreOp {
    /// Every operation, in the order of their discriminants.
    pub const ALL: [StoreOp; 9] = [
        StoreOp::Load,
        StoreOp::Upsert,
        StoreOp::Delete,
        StoreOp::OutboxPut,
        StoreOp::OutboxAck,
        StoreOp::OutboxRetry,
        StoreOp::Check,
        StoreOp::Commit,
        StoreOp::Fold,
    ];

    /// The name in metrics and logs: `op="upsert"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreOp::Load => "load",
            StoreOp::Upsert => "upsert",
            StoreOp::Delete => "delete",
            StoreOp::OutboxPut => "outbox_put",
            StoreOp::OutboxAck => "outbox_ack",
            StoreOp::OutboxRetry => "outbox_retry",
            StoreOp::Check => "check",
            StoreOp::Commit => "commit",
            StoreOp::Fold => "fold",
        }
    }
}

/// Receives the time of each store operation, where it happens (the SQLite writer
/// thread included): it must be cheap and must not block.
pub trait StoreObserver: Send + Sync {
    /// Whether to time at all; when `false` the backend does not even read the clock.
    fn timing_enabled(&self) -> bool;
    /// `op` took `elapsed` and ended at `end`.
    fn store_operation(&self, op: StoreOp, elapsed: Duration, end: Instant);
}

/// The backend's handle to its [`StoreObserver`]; cheap to clone. The default one
/// times nothing.
#[derive(Clone, Default)]
pub struct StoreTimer(Option<Arc<dyn StoreObserver>>);

impl std::fmt::Debug for StoreTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "StoreTimer(on)"
        } else {
            "StoreTimer(none)"
        })
    }
}

impl StoreTimer {
    /// A timer that reports to `observer`.
    pub fn new(observer: Arc<dyn StoreObserver>) -> Self {
        Self(Some(observer))
    }

    /// The start of an operation; `None` when nothing is timed.
    #[inline]
    pub fn start(&self) -> Option<Instant> {
        match &self.0 {
            Some(observer) if observer.timing_enabled() => Some(Instant::now()),
            _ => None,
        }
    }

    /// Ends `op`, begun at `started`.
    #[inline]
    pub fn finish(&self, op: StoreOp, started: Option<Instant>) {
        self.lap(op, started);
    }

    /// Ends `op`, begun at `started`, and returns its end as the start of the next
    /// operation: one clock read between two operations timed back to back.
    #[inline]
    pub fn lap(&self, op: StoreOp, started: Option<Instant>) -> Option<Instant> {
        let (Some(observer), Some(started)) = (&self.0, started) else {
            return None;
        };
        let end = Instant::now();
        observer.store_operation(op, end.saturating_duration_since(started), end);
        Some(end)
    }
}

/// Wakes the background tasks when the backend's schedule changes.
#[derive(Debug, Clone, Default)]
pub struct Wakers {
    /// A wake-up earlier than the sweeper's current sleep was scheduled.
    pub sweeper: Arc<Notify>,
    /// An alert became ready for delivery.
    pub dispatcher: Arc<Notify>,
}

/// Opens the backend a store URL names, loading its state; every store operation (the
/// load at start included) is timed by `timer`.
pub async fn open(
    url: &StoreUrl,
    options: BackendOptions,
    signals: Wakers,
    timer: StoreTimer,
) -> Result<Arc<dyn Backend>, BackendError> {
    let backend = match url {
        StoreUrl::Redis(store) => {
            return Ok(Arc::new(
                RedisBackend::open(store, options, signals, timer).await?,
            ))
        }
        StoreUrl::Memory => LocalBackend::in_memory_timed(options, signals, timer),
        StoreUrl::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                LocalBackend::open_sqlite_timed(&path, options, signals, timer)
            })
            .await
            .map_err(|e| BackendError::Unavailable(e.to_string()))??
        }
    };
    Ok(Arc::new(backend))
}
