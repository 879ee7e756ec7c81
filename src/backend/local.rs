//! The single-process backend: jobs in a sharded map, a wake-up heap for the sweeper,
//! and an optional SQLite journal that makes every change durable before it is
//! acknowledged.
//!
//! Lock order, to stay free of deadlocks: a job's shard, then `names`, then `heap`,
//! then `outbox`. Nobody takes a shard while holding one of the others.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry as MapEntry;
use dashmap::DashMap;

use super::outbox::{Outbox, PendingAlert};
use super::sqlite::{self, Journal, Op};
use super::{
    Backend, BackendError, BackendOptions, Counts, Delivery, EventPage, Page, Ping, PingOutcome,
    Signals, StoreHealth, StoreOp, StoreTimer,
};
use crate::domain::{is_due, Alert, DeliveryEvent, Job, JobName, PingEffect, Status, UnixTime};

/// Names fetched per step of a listing, so `names` is never held for long.
const LIST_CHUNK: usize = 512;

/// A job and its place in the sweeper's schedule.
struct Entry {
    job: Job,
    /// The wake-up this job has in the heap. The heap may also hold stale, later
    /// entries for it; only the one equal to this counts.
    scheduled: Option<UnixTime>,
    /// After a restart, the job is not alerted before this (SPEC §8 startup grace).
    not_before: Option<UnixTime>,
}

impl Entry {
    /// When the job next needs the sweeper.
    fn wake_target(&self) -> Option<UnixTime> {
        self.job.wake_target(self.not_before)
    }
}

/// A write that is in the journal; with `--sync full` its fsync may still be running.
enum Durable {
    Done,
    Waiting(sqlite::Waiting),
}

impl Durable {
    async fn wait(self) -> Result<(), BackendError> {
        match self {
            Durable::Done => Ok(()),
            Durable::Waiting(rx) => sqlite::wait(rx).await,
        }
    }
}

pub struct LocalBackend {
    /// Boxed so that a map bucket is two words: the tables grow by doubling and are
    /// often half empty, which with the entry inline cost ~40 % more memory at 1M jobs.
    jobs: DashMap<JobName, Box<Entry>>,
    /// Every job name in order, for paginated listings. Written under the job's shard.
    names: RwLock<BTreeSet<JobName>>,
    len: AtomicUsize,
    down: AtomicUsize,
    /// The sweeper's wake-ups: (unix ms, job). Pings only touch it when they move
    /// a wake-up earlier, which keeps the usual ping free of any global lock.
    heap: Mutex<BinaryHeap<Reverse<(UnixTime, JobName)>>>,
    /// Alerts that are durable and not yet delivered. Shared with the journal's writer,
    /// which adds alerts once their commit is done.
    outbox: Arc<Mutex<Outbox>>,
    journal: Option<Journal>,
    seq: AtomicU64,
    options: BackendOptions,
    signals: Signals,
    /// Times the in-memory operations of `memory://`; with a journal, the journal's
    /// writer times the real writes instead.
    store_timer: StoreTimer,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the monitor down with it: the data behind these
    // locks stays consistent between statements, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the start gathers while stored jobs are put into the registry.
#[derive(Default)]
struct Restoring {
    wakeups: Vec<Reverse<(UnixTime, JobName)>>,
    names: BTreeSet<JobName>,
    down: usize,
}

impl LocalBackend {
    fn new(
        options: BackendOptions,
        signals: Signals,
        outbox: Arc<Mutex<Outbox>>,
        journal: Option<Journal>,
        store_timer: StoreTimer,
    ) -> Self {
        Self {
            jobs: DashMap::new(),
            names: RwLock::new(BTreeSet::new()),
            len: AtomicUsize::new(0),
            down: AtomicUsize::new(0),
            heap: Mutex::new(BinaryHeap::new()),
            outbox,
            journal,
            seq: AtomicU64::new(0),
            options,
            signals,
            store_timer,
        }
    }

    /// A backend whose state lives only in memory (`memory://`).
    pub fn in_memory(options: BackendOptions, signals: Signals) -> Self {
        Self::in_memory_timed(options, signals, StoreTimer::default())
    }

    /// [`Self::in_memory`], its operations timed by `timer`.
    pub fn in_memory_timed(options: BackendOptions, signals: Signals, timer: StoreTimer) -> Self {
        Self::new(options, signals, Arc::default(), None, timer)
    }

    /// Opens the SQLite journal at `path` and loads every job and pending alert.
    pub fn open_sqlite(
        path: &Path,
        options: BackendOptions,
        signals: Signals,
    ) -> Result<Self, BackendError> {
        Self::open_sqlite_timed(path, options, signals, StoreTimer::default())
    }

    /// [`Self::open_sqlite`], with the load and every write timed by `timer`.
    pub fn open_sqlite_timed(
        path: &Path,
        options: BackendOptions,
        signals: Signals,
        timer: StoreTimer,
    ) -> Result<Self, BackendError> {
        let outbox: Arc<Mutex<Outbox>> = Arc::default();
        let backend = Self::new(options, signals, outbox.clone(), None, timer.clone());
        // Each stored job goes into the registry as it is read: a million jobs never
        // wait in a list of their own (about 110 MB at its peak, which the allocator
        // keeps long after the start).
        let mut restoring = Restoring::default();
        let start = UnixTime::now();
        let (journal, loaded) = Journal::open(
            path,
            backend.options.sync,
            outbox,
            backend.signals.dispatcher.clone(),
            timer,
            &mut |job| backend.restore_job(job, start, &mut restoring),
        )?;
        let jobs = restoring.names.len();
        let alerts = loaded.alerts.len();
        backend.finish_restore(restoring, loaded.alerts, loaded.max_seq);
        tracing::info!(jobs, alerts, path = %path.display(), "state loaded");
        Ok(Self {
            journal: Some(journal),
            ..backend
        })
    }

    /// Fills the registry from stored state (see [`Self::restore_job`]).
    #[cfg(test)]
    fn restore(&self, jobs: Vec<Job>, alerts: Vec<PendingAlert>, max_seq: u64, start: UnixTime) {
        let mut restoring = Restoring::default();
        for job in jobs {
            self.restore_job(job, start, &mut restoring);
        }
        self.finish_restore(restoring, alerts, max_seq);
    }

    /// Puts one stored job into the registry. Down jobs stay down; up jobs whose
    /// deadline passed while overdue was stopped get the startup grace.
    fn restore_job(&self, job: Job, start: UnixTime, restoring: &mut Restoring) {
        let (job, not_before) = job.restore(start, &self.options.policy());
        if job.status == Status::Down {
            restoring.down += 1;
        }
        let mut entry = Entry {
            job,
            scheduled: None,
            not_before,
        };
        entry.scheduled = entry.wake_target();
        if let Some(at) = entry.scheduled {
            restoring
                .wakeups
                .push(Reverse((at, entry.job.name.clone())));
        }
        restoring.names.insert(entry.job.name.clone());
        self.jobs.insert(entry.job.name.clone(), Box::new(entry));
    }

    /// Publishes what [`Self::restore_job`] gathered, and the pending alerts.
    fn finish_restore(&self, restoring: Restoring, alerts: Vec<PendingAlert>, max_seq: u64) {
        let Restoring {
            wakeups,
            names,
            down,
        } = restoring;
        self.len.store(names.len(), Ordering::SeqCst);
        self.down.store(down, Ordering::SeqCst);
        *self
            .names
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = names;
        *lock(&self.heap) = BinaryHeap::from(wakeups);
        let mut outbox = lock(&self.outbox);
        for alert in alerts {
            outbox.push(alert);
        }
        self.seq.store(max_seq, Ordering::SeqCst);
    }

    /// Puts the entry's wake-up into the heap unless an earlier one is already there
    /// (that one fires, finds the job not due and re-arms it). Wakes the sweeper only
    /// when the new wake-up is the earliest of all.
    fn schedule(&self, entry: &mut Entry) {
        let Some(target) = entry.wake_target() else {
            return;
        };
        if entry.scheduled.is_some_and(|s| s <= target) {
            return;
        }
        entry.scheduled = Some(target);
        let mut heap = lock(&self.heap);
        let earliest = heap.peek().is_none_or(|Reverse((at, _))| target < *at);
        heap.push(Reverse((target, entry.job.name.clone())));
        drop(heap);
        if earliest {
            self.signals.sweeper.notify_one();
        }
    }

    /// Starts timing an in-memory store operation. With a journal, the journal times
    /// the real writes on its thread instead, so nothing is timed twice.
    #[inline]
    fn memory_timer(&self) -> Option<Instant> {
        match self.journal {
            Some(_) => None,
            None => self.store_timer.start(),
        }
    }

    fn pending(&self, alert: Alert, now: UnixTime) -> PendingAlert {
        PendingAlert {
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            alert,
            attempts: 0,
            next_attempt_ms: now.millis(),
        }
    }

    /// Makes `ops` durable. Called under the job's shard lock and before memory
    /// changes, so that the journal and the in-memory outbox see one job's changes in
    /// the order they happen, and a change the journal refused is never visible.
    fn persist(&self, job: &JobName, ops: Vec<Op>) -> Result<Durable, BackendError> {
        if let Some(journal) = &self.journal {
            return Ok(match journal.append(Some(job), ops)? {
                Some(rx) => Durable::Waiting(rx),
                None => Durable::Done,
            });
        }
        // Most pings carry no outbox change: they must not touch the global outbox lock.
        if !ops
            .iter()
            .any(|op| matches!(op, Op::OutboxPut(_) | Op::Delete(_)))
        {
            return Ok(Durable::Done);
        }
        let started = self.memory_timer();
        let mut outbox = lock(&self.outbox);
        let mut queued = false;
        for op in ops {
            match op {
                Op::OutboxPut(p) => {
                    outbox.push(p);
                    queued = true;
                }
                Op::Delete(name) => outbox.drop_job(&name),
                _ => {}
            }
        }
        drop(outbox);
        if queued {
            self.store_timer.finish(StoreOp::OutboxPut, started);
        }
        if queued {
            self.signals.dispatcher.notify_one();
        }
        Ok(Durable::Done)
    }

    fn counts_now(&self) -> Counts {
        Counts {
            total: self.len.load(Ordering::SeqCst),
            down: self.down.load(Ordering::SeqCst),
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    async fn record_ping(&self, ping: Ping, now: UnixTime) -> Result<PingOutcome, BackendError> {
        let started = self.memory_timer();
        let (outcome, durable) = match self.jobs.entry(ping.name.clone()) {
            MapEntry::Occupied(mut occupied) => {
                let entry = occupied.get_mut();
                let policy = self.options.policy();
                let change = match entry.job.apply_ping(&ping, now, &policy, Alert::fresh_id) {
                    PingEffect::Stale => return Ok(PingOutcome::Stale(entry.job.clone())),
                    PingEffect::Retry => return Ok(PingOutcome::Recorded(entry.job.clone())),
                    PingEffect::Applied(change) => change,
                };
                let job = change.job;
                let was_down = entry.job.status == Status::Down;
                let is_down = job.status == Status::Down;
                // The new state is stored first: memory changes only once the journal
                // has it.
                let mut ops = Vec::with_capacity(2);
                ops.push(Op::Upsert(job.clone()));
                if let Some(alert) = change.alert {
                    ops.push(Op::OutboxPut(self.pending(alert, now)));
                }
                let durable = self.persist(&job.name, ops)?;
                match (was_down, is_down) {
                    (true, false) => {
                        self.down.fetch_sub(1, Ordering::SeqCst);
                    }
                    (false, true) => {
                        self.down.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
                entry.job = job.clone();
                entry.not_before = None;
                self.schedule(entry);
                let outcome = if was_down && !is_down {
                    PingOutcome::Recovered(job)
                } else {
                    PingOutcome::Recorded(job)
                };
                (outcome, durable)
            }
            MapEntry::Vacant(vacant) => {
                let policy = self.options.policy();
                let Some(change) = Job::from_first_ping(&ping, now, &policy, Alert::fresh_id)
                else {
                    return Ok(PingOutcome::FrequencyRequired);
                };
                let job = change.job;
                let max = self.options.max_services;
                let reserved = self
                    .len
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        (n < max).then_some(n + 1)
                    });
                if reserved.is_err() {
                    return Ok(PingOutcome::Full { max });
                }
                let mut entry = Entry {
                    job: job.clone(),
                    scheduled: None,
                    not_before: None,
                };
                let mut ops = vec![Op::Upsert(job.clone())];
                if let Some(alert) = change.alert {
                    ops.push(Op::OutboxPut(self.pending(alert, now)));
                }
                let durable = match self.persist(&job.name, ops) {
                    Ok(durable) => durable,
                    Err(e) => {
                        self.len.fetch_sub(1, Ordering::SeqCst);
                        return Err(e);
                    }
                };
                if job.status == Status::Down {
                    self.down.fetch_add(1, Ordering::SeqCst);
                }
                self.schedule(&mut entry);
                let inserted = vacant.insert(Box::new(entry));
                self.names
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(job.name.clone());
                drop(inserted);
                (PingOutcome::Recorded(job), durable)
            }
        };
        // Only pings that changed the job get here: the others returned above.
        self.store_timer.finish(StoreOp::Upsert, started);
        durable.wait().await?;
        Ok(outcome)
    }

    async fn delete(&self, name: &JobName) -> Result<bool, BackendError> {
        let started = self.memory_timer();
        let durable = match self.jobs.entry(name.clone()) {
            MapEntry::Vacant(_) => return Ok(false),
            MapEntry::Occupied(occupied) => {
                let durable = self.persist(name, vec![Op::Delete(name.clone())])?;
                self.names
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(name);
                let removed = occupied.remove();
                self.len.fetch_sub(1, Ordering::SeqCst);
                if removed.job.status == Status::Down {
                    self.down.fetch_sub(1, Ordering::SeqCst);
                }
                durable
            }
        };
        self.store_timer.finish(StoreOp::Delete, started);
        durable.wait().await?;
        Ok(true)
    }

    async fn get(&self, name: &JobName) -> Result<Option<Job>, BackendError> {
        Ok(self.jobs.get(name).map(|e| e.job.clone()))
    }

    async fn list(
        &self,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, BackendError> {
        let mut jobs: Vec<Job> = Vec::with_capacity(limit.min(LIST_CHUNK) + 1);
        let mut cursor: Option<JobName> = None;
        'outer: loop {
            let chunk: Vec<JobName> = {
                let names = self
                    .names
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let lower = match (&cursor, after) {
                    (Some(c), _) => Bound::Excluded(c.as_str()),
                    (None, Some(a)) => Bound::Excluded(a),
                    (None, None) => Bound::Unbounded,
                };
                names
                    .range::<str, _>((lower, Bound::Unbounded))
                    .take(LIST_CHUNK)
                    .cloned()
                    .collect()
            };
            if chunk.is_empty() {
                break;
            }
            for name in chunk {
                if let Some(entry) = self.jobs.get(&name) {
                    if status.is_none_or(|s| s == entry.job.status) {
                        jobs.push(entry.job.clone());
                        if jobs.len() > limit {
                            break 'outer;
                        }
                    }
                }
                cursor = Some(name);
            }
        }
        let next = if jobs.len() > limit {
            jobs.truncate(limit);
            jobs.last().map(|j| j.name.clone())
        } else {
            None
        };
        let counts = self.counts_now();
        let total = match status {
            None => counts.total,
            Some(Status::Down) => counts.down,
            Some(Status::Up) => counts.total.saturating_sub(counts.down),
        };
        Ok(Page { jobs, total, next })
    }

    async fn counts(&self) -> Result<Counts, BackendError> {
        Ok(self.counts_now())
    }

    async fn take_due(&self, now: UnixTime, limit: usize) -> Result<Vec<Alert>, BackendError> {
        let policy = self.options.policy();
        let mut raised = Vec::new();
        let mut waiting = Vec::new();
        while raised.len() < limit {
            let popped = {
                let mut heap = lock(&self.heap);
                match heap.peek() {
                    Some(Reverse((at, _))) if is_due(*at, now) => heap.pop(),
                    _ => None,
                }
            };
            let Some(Reverse((wake, name))) = popped else {
                break;
            };
            let Some(mut entry) = self.jobs.get_mut(&name) else {
                continue;
            };
            if entry.scheduled != Some(wake) {
                continue;
            }
            entry.scheduled = None;
            match entry.wake_target() {
                None => continue,
                Some(target) if !is_due(target, now) => {
                    self.schedule(&mut entry);
                    continue;
                }
                Some(_) => {}
            }
            let went_down = entry.job.status == Status::Up;
            let Some(change) =
                entry
                    .job
                    .fall_due(now, entry.not_before, &policy, Alert::fresh_id())
            else {
                self.schedule(&mut entry);
                continue;
            };
            let job = change.job;
            let Some(alert) = change.alert else {
                continue;
            };
            let ops = vec![
                Op::Upsert(job.clone()),
                Op::OutboxPut(self.pending(alert.clone(), now)),
            ];
            match self.persist(&name, ops) {
                Ok(durable) => waiting.push(durable),
                Err(e) => {
                    // Nothing changed; the job is taken again in a second.
                    let retry = now.plus(1);
                    entry.scheduled = Some(retry);
                    lock(&self.heap).push(Reverse((retry, name.clone())));
                    drop(entry);
                    for durable in waiting {
                        let _ = durable.wait().await;
                    }
                    return if raised.is_empty() {
                        Err(e)
                    } else {
                        Ok(raised)
                    };
                }
            }
            if went_down {
                self.down.fetch_add(1, Ordering::SeqCst);
            }
            entry.job = job;
            entry.not_before = None;
            self.schedule(&mut entry);
            drop(entry);
            raised.push(alert);
        }
        for durable in waiting {
            durable.wait().await?;
        }
        Ok(raised)
    }

    async fn next_wake(&self) -> Option<UnixTime> {
        lock(&self.heap).peek().map(|Reverse((at, _))| *at)
    }

    async fn lease_alerts(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, BackendError> {
        Ok(lock(&self.outbox).lease(now.millis(), limit))
    }

    async fn next_alert_at(&self) -> Option<UnixTime> {
        lock(&self.outbox)
            .next_ready_ms()
            .and_then(UnixTime::from_millis)
    }

    async fn finish_alert(
        &self,
        alert: &PendingAlert,
        outcome: Delivery,
    ) -> Result<(), BackendError> {
        let started = self.memory_timer();
        let queued = lock(&self.outbox).finish(alert, outcome);
        let Some(journal) = &self.journal else {
            let op = match outcome {
                Delivery::RetryAt(_) => StoreOp::OutboxRetry,
                Delivery::Delivered | Delivery::GaveUp => StoreOp::OutboxAck,
            };
            self.store_timer.finish(op, started);
            return Ok(());
        };
        if !queued {
            return Ok(());
        }
        let op = match outcome {
            Delivery::Delivered | Delivery::GaveUp => Op::OutboxAck(alert.alert.id.clone()),
            Delivery::RetryAt(next_attempt) => Op::OutboxRetry {
                id: alert.alert.id.clone(),
                attempts: alert.attempts.saturating_add(1),
                next_attempt_ms: next_attempt.millis(),
            },
        };
        // Not awaited with `--sync full`: a lost acknowledgement or retry count only
        // means one more attempt after a crash.
        journal.append(Some(&alert.alert.name), vec![op])?;
        Ok(())
    }

    async fn events(
        &self,
        name: &JobName,
        _before: Option<u64>,
        _limit: usize,
    ) -> Result<Option<EventPage>, BackendError> {
        // Events are not kept yet: the store's history comes next.
        Ok(self.jobs.get(name).map(|_| EventPage::default()))
    }

    async fn record_delivery(
        &self,
        _name: &JobName,
        _delivery: DeliveryEvent,
        _now: UnixTime,
    ) -> Result<(), BackendError> {
        Ok(())
    }

    async fn close(&self) -> Result<(), BackendError> {
        match &self.journal {
            Some(journal) => journal.close().await,
            None => Ok(()),
        }
    }
}

#[async_trait]
impl StoreHealth for LocalBackend {
    async fn backlog(&self) -> Result<usize, BackendError> {
        Ok(lock(&self.outbox).len())
    }

    async fn oldest_pending_alert(&self) -> Result<Option<UnixTime>, BackendError> {
        Ok(lock(&self.outbox)
            .oldest_raised_at()
            .and_then(UnixTime::from_secs))
    }

    async fn check(&self) -> Result<Duration, BackendError> {
        let started = Instant::now();
        if let Some(journal) = &self.journal {
            journal.check().await?;
        }
        Ok(started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: i64) -> UnixTime {
        UnixTime::from_millis(v).unwrap()
    }
    use crate::domain::{AlertEvent, Frequency, Grace};

    fn backend(realert: Option<u64>) -> LocalBackend {
        LocalBackend::in_memory(
            BackendOptions {
                max_services: 3,
                history: 100,
                realert_every: realert.map(Duration::from_secs),
                realert_max: Duration::from_secs(24 * 3600),
                startup_grace: Duration::from_secs(900),
                sync: super::super::SyncMode::Normal,
            },
            Signals::default(),
        )
    }

    fn ping(name: &str, frequency: Option<&str>, at: Option<i64>) -> Ping {
        Ping {
            name: JobName::parse(name).unwrap(),
            frequency: frequency.map(|f| Frequency::parse(f).unwrap()),
            grace: None,
            at: at.and_then(UnixTime::from_secs),
            want_job: true,
            signal: Default::default(),
            exit_code: None,
            rid: None,
            max_runtime: None,
            failure_tolerance: None,
            output: None,
            origin: Default::default(),
        }
    }

    fn t(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_is_due_just_after_its_deadline_and_reminded() {
        let b = backend(Some(60));
        b.record_ping(ping("j", Some("1m"), None), t(1_000))
            .await
            .unwrap();
        assert!(
            b.take_due(ms(1_060_000), 10).await.unwrap().is_empty(),
            "not due at the deadline itself"
        );
        let due = b.take_due(ms(1_060_001), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].event, due[0].alert_count, due[0].expected_by_unix),
            (AlertEvent::Down, 1, 1_060)
        );
        assert!(
            b.take_due(ms(1_100_000), 10).await.unwrap().is_empty(),
            "no reminder yet"
        );
        let reminder = b.take_due(ms(1_120_002), 10).await.unwrap();
        assert_eq!(reminder[0].alert_count, 2);
        assert_eq!(reminder[0].overdue_seconds, 60);
        assert_eq!(b.counts_now().down, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_ping_defers_the_alert_without_touching_the_heap() {
        let b = backend(None);
        b.record_ping(ping("j", Some("1m"), None), t(1_000))
            .await
            .unwrap();
        b.record_ping(ping("j", None, None), t(1_050))
            .await
            .unwrap();
        assert_eq!(lock(&b.heap).len(), 1);
        assert!(b.take_due(ms(1_061_000), 10).await.unwrap().is_empty());
        assert_eq!(
            b.next_wake().await,
            Some(t(1_110)),
            "re-armed at the real deadline"
        );
        assert_eq!(b.take_due(ms(1_111_000), 10).await.unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_frequency_moves_the_deadline_earlier_at_once() {
        let b = backend(None);
        b.record_ping(ping("j", Some("10m"), None), t(1_000))
            .await
            .unwrap();
        b.record_ping(ping("j", Some("1m"), None), t(1_030))
            .await
            .unwrap();
        assert_eq!(b.next_wake().await, Some(t(1_090)));
        assert_eq!(b.take_due(ms(1_091_000), 10).await.unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn recovery_raises_up_with_the_time_down() {
        let b = backend(Some(60));
        b.record_ping(ping("j", Some("1m"), None), t(1_000))
            .await
            .unwrap();
        b.take_due(ms(1_061_000), 10).await.unwrap();
        let outcome = b
            .record_ping(ping("j", None, None), t(1_200))
            .await
            .unwrap();
        assert!(matches!(outcome, PingOutcome::Recovered(_)));
        let leased = b.lease_alerts(ms(1_200_000), 10).await.unwrap();
        assert_eq!(leased.len(), 1, "one per job: the down alert first");
        assert_eq!(leased[0].alert.event, AlertEvent::Down);
        b.finish_alert(&leased[0], Delivery::Delivered)
            .await
            .unwrap();
        let up = b.lease_alerts(ms(1_200_000), 10).await.unwrap();
        assert_eq!(up[0].alert.event, AlertEvent::Up);
        assert_eq!(up[0].alert.overdue_seconds, 140);
        assert_eq!(b.counts_now().down, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_timestamps_change_nothing_and_equal_ones_are_retries() {
        let b = backend(None);
        b.record_ping(ping("j", Some("1m"), Some(1_000)), t(1_000))
            .await
            .unwrap();
        let stale = b
            .record_ping(ping("j", Some("5m"), Some(999)), t(1_001))
            .await
            .unwrap();
        assert!(matches!(stale, PingOutcome::Stale(ref j) if j.frequency.seconds() == 60));
        let equal = b
            .record_ping(ping("j", None, Some(1_000)), t(1_001))
            .await
            .unwrap();
        assert!(matches!(equal, PingOutcome::Recorded(ref j) if j.pings_total == 1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_service_cap_refuses_new_names_until_one_is_deleted() {
        let b = backend(None);
        for n in ["a", "b", "c"] {
            b.record_ping(ping(n, Some("1m"), None), t(1_000))
                .await
                .unwrap();
        }
        let full = b
            .record_ping(ping("d", Some("1m"), None), t(1_000))
            .await
            .unwrap();
        assert!(matches!(full, PingOutcome::Full { max: 3 }));
        assert!(b.delete(&JobName::parse("a").unwrap()).await.unwrap());
        let ok = b
            .record_ping(ping("d", Some("1m"), None), t(1_000))
            .await
            .unwrap();
        assert!(matches!(ok, PingOutcome::Recorded(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn restart_keeps_down_jobs_down_and_gives_startup_grace() {
        let b = backend(Some(3_600));
        let up = Job {
            name: JobName::parse("late").unwrap(),
            frequency: Frequency::parse("1h").unwrap(),
            grace: Grace::default(),
            last_ping: t(0),
            status: Status::Up,
            down_since: None,
            episode_alerts: 0,
            alerts_sent: 0,
            pings_total: 1,
            next_reminder: None,
            down_reason: Default::default(),
            runs: None,
            events_seq: 0,
        };
        let down = Job {
            name: JobName::parse("down").unwrap(),
            status: Status::Down,
            down_since: Some(t(3_600)),
            episode_alerts: 1,
            next_reminder: Some(t(100_030)),
            ..up.clone()
        };
        b.restore(vec![up, down], Vec::new(), 0, t(100_000));
        // The late job waits min(1h, 15m) from the start; the down job only reminds.
        let first = b.take_due(ms(100_031_000), 10).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].name.as_str(), first[0].alert_count), ("down", 2));
        assert!(b.take_due(ms(100_900_000), 10).await.unwrap().is_empty());
        let late = b.take_due(ms(100_900_001), 10).await.unwrap();
        assert_eq!((late[0].name.as_str(), late[0].alert_count), ("late", 1));
    }
}
