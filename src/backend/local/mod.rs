//! The single-process store: jobs in a sharded map, the sweeper's wake-up heap
//! ([`schedule`]), the outbox of durable alerts, and an optional journal that makes
//! every change durable before it is acknowledged.
//!
//! Every change is lock → apply → persist → schedule: under the job's shard lock the
//! rules of [`crate::domain::Job`] decide the new state and its alert, the journal
//! stores them, and only then does memory change and the job's wake-up move.
//!
//! The files, each named for what it holds:
//! - [`schedule`]: each job's place in the sweeper's wake-up heap, and the heap.
//! - [`alerts`]: the outbox of durable alerts and the dispatcher's wake-up.
//! - [`journal`]: the write-ahead log, its lanes, the append from the request's thread
//!   and the sync thread; it reports what became durable to this store, which then
//!   makes the alerts visible to the dispatcher.
//! - [`codec`]: the journal's record format and segment file names.
//! - [`fold`]: the background thread folding the journal into the snapshot.
//! - [`snapshot`]: the SQLite database: schema, fold transaction, load, replay.
//!
//! Lock order, to stay free of deadlocks: a job's shard, then `names`, then the
//! schedule's heap, then a journal lane, then the outbox. Nobody takes a shard while
//! holding one of the others.

mod actions;
mod alerts;
mod codec;
mod fold;
mod journal;
mod restore;
mod schedule;
mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::mapref::entry::Entry as MapEntry;
use dashmap::DashMap;

use self::alerts::Alerts;
use self::codec::EventBytes;
use self::journal::{Journal, Op};
use self::schedule::{Entry, Schedule};
use super::outbox::PendingAlert;
use super::{
    ActionOutcome, Backend, BackendError, BackendOptions, Counts, Delivery, EventPage, Page, Ping,
    PingOutcome, StoreHealth, StoreOp, StoreTimer, Wakers,
};
use crate::domain::selection::{Selected, Selection, Selector};
use crate::domain::{
    is_due, AdminAction, Alert, Change, DeliveryEvent, Event, Job, JobName, PingEffect, Status,
    UnixTime,
};
use crate::sync::{read, write};
use restore::Restoring;

/// Names fetched per step of a listing, so `names` is never held for long.
const LIST_CHUNK: usize = 512;

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

/// A write that is in the journal; with `--sync full` its fsync may still be running.
enum Durable {
    Done,
    Waiting(journal::Waiting),
}

impl Durable {
    async fn wait(self) -> Result<(), BackendError> {
        match self {
            Durable::Done => Ok(()),
            Durable::Waiting(rx) => journal::wait(rx).await,
        }
    }
}

/// The local store (`memory://` and `sqlite://`).
pub struct LocalBackend {
    /// Boxed so that a map bucket is two words: the tables grow by doubling and are
    /// often half empty, which with the entry inline costs much more memory.
    jobs: DashMap<JobName, Box<Entry>>,
    /// Every job name in order, for paginated listings. Written under the job's shard.
    names: RwLock<BTreeSet<JobName>>,
    len: AtomicUsize,
    /// Jobs down and paused, changed with each job's status (see [`Self::recount`]).
    down: AtomicUsize,
    paused: AtomicUsize,
    schedule: Schedule,
    alerts: Arc<Alerts>,
    journal: Option<Journal>,
    seq: AtomicU64,
    options: BackendOptions,
    /// Times the in-memory operations of `memory://`; with a journal, the journal
    /// times the real writes instead.
    store_timer: StoreTimer,
}

impl LocalBackend {
    fn new(options: BackendOptions, signals: Wakers, store_timer: StoreTimer) -> Self {
        Self {
            jobs: DashMap::new(),
            names: RwLock::new(BTreeSet::new()),
            len: AtomicUsize::new(0),
            down: AtomicUsize::new(0),
            paused: AtomicUsize::new(0),
            schedule: Schedule::new(signals.sweeper),
            alerts: Arc::new(Alerts::new(signals.dispatcher)),
            journal: None,
            seq: AtomicU64::new(0),
            options,
            store_timer,
        }
    }

    /// A backend whose state lives only in memory (`memory://`).
    pub fn in_memory(options: BackendOptions, signals: Wakers) -> Self {
        Self::in_memory_timed(options, signals, StoreTimer::default())
    }

    /// [`Self::in_memory`], its operations timed by `timer`.
    pub fn in_memory_timed(options: BackendOptions, signals: Wakers, timer: StoreTimer) -> Self {
        Self::new(options, signals, timer)
    }

    /// Opens the SQLite journal at `path` and loads every job and pending alert.
    pub fn open_sqlite(
        path: &Path,
        options: BackendOptions,
        signals: Wakers,
    ) -> Result<Self, BackendError> {
        Self::open_sqlite_timed(path, options, signals, StoreTimer::default())
    }

    /// [`Self::open_sqlite`], with the load and every write timed by `timer`.
    pub fn open_sqlite_timed(
        path: &Path,
        options: BackendOptions,
        signals: Wakers,
        timer: StoreTimer,
    ) -> Result<Self, BackendError> {
        let mut backend = Self::new(options, signals, timer.clone());
        // Each stored job goes into the registry as it is read: a million jobs never
        // wait in a list of their own, which the allocator would keep long after the
        // start.
        let mut restoring = Restoring::default();
        let start = UnixTime::now();
        let alerts = backend.alerts.clone();
        let (journal, loaded) = Journal::open(
            path,
            backend.options.sync,
            backend.options.history,
            timer,
            &mut |job| backend.restore_job(job, start, &mut restoring),
            Box::new(move |durable| {
                alerts.publish(durable);
            }),
        )?;
        let jobs = restoring.names.len();
        let alerts = loaded.alerts.len();
        backend.finish_restore(restoring, loaded.alerts, loaded.max_seq);
        tracing::info!(jobs, alerts, path = %path.display(), "state loaded");
        backend.journal = Some(journal);
        Ok(backend)
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

    /// The outbox entries of a raised alert, one per channel that takes it, each with
    /// its own sequence number; pushed as `OutboxPut` onto both `ops` (the journal
    /// record of the change) and `publish` (what the dispatcher sees once durable).
    fn put_entries(&self, alert: Alert, now: UnixTime, ops: &mut Vec<Op>, publish: &mut Vec<Op>) {
        for channel in self.options.fanout.channels_for(&alert) {
            let entry = PendingAlert {
                seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
                alert: alert.clone(),
                channel,
                attempts: 0,
                next_attempt_ms: now.millis(),
            };
            publish.push(Op::OutboxPut(entry.clone()));
            ops.push(Op::OutboxPut(entry));
        }
    }

    /// Makes `ops` durable, then `publish` (their outbox changes) visible once they
    /// are. Called under the job's shard lock and before memory changes, so that the
    /// journal and the outbox see one job's changes in the order they happen, and a
    /// change the journal refused is never visible.
    fn persist(
        &self,
        job: &JobName,
        ops: Vec<Op>,
        publish: Vec<Op>,
    ) -> Result<Durable, BackendError> {
        if let Some(journal) = &self.journal {
            return Ok(match journal.append(Some(job), ops, publish)? {
                Some(rx) => Durable::Waiting(rx),
                None => Durable::Done,
            });
        }
        // Most pings carry no outbox change: they must not touch the global outbox lock.
        if publish.is_empty() {
            return Ok(Durable::Done);
        }
        let started = self.memory_timer();
        if self.alerts.publish(publish) {
            self.store_timer.finish(StoreOp::OutboxPut, started);
        }
        Ok(Durable::Done)
    }

    /// Splits a change's events into those the journal stores with the change and
    /// those `memory://` keeps in the job's entry; none with `--history 0`.
    fn route_events(&self, events: Vec<Event>) -> Result<(EventBytes, Vec<Event>), BackendError> {
        Ok(if self.options.history == 0 {
            (EventBytes::default(), Vec::new())
        } else if self.journal.is_some() {
            (
                EventBytes::encode(&events).map_err(unavailable)?,
                Vec::new(),
            )
        } else {
            (EventBytes::default(), events)
        })
    }

    fn counts_now(&self) -> Counts {
        Counts {
            total: self.len.load(Ordering::SeqCst),
            down: self.down.load(Ordering::SeqCst),
            paused: self.paused.load(Ordering::SeqCst),
        }
    }

    /// Moves a job from the count of its old status (`None`: it did not exist) to that
    /// of its new one (`None`: it is gone).
    fn recount(&self, old: Option<Status>, new: Option<Status>) {
        if old == new {
            return;
        }
        let counter = |status| match status {
            Some(Status::Down) => Some(&self.down),
            Some(Status::Paused) => Some(&self.paused),
            Some(Status::Up) | None => None,
        };
        if let Some(c) = counter(old) {
            c.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(c) = counter(new) {
            c.fetch_add(1, Ordering::SeqCst);
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
                let (stored, kept) = self.route_events(change.events)?;
                // The new state is stored first: memory changes only once the journal
                // has it.
                let mut ops = Vec::with_capacity(2);
                ops.push(Op::Upsert(job.clone(), stored));
                let mut publish = Vec::new();
                if let Some(alert) = change.alert {
                    self.put_entries(alert, now, &mut ops, &mut publish);
                }
                let durable = self.persist(&job.name, ops, publish)?;
                self.recount(Some(entry.job.status), Some(job.status));
                entry.job = job.clone();
                entry.not_before = None;
                entry.remember(kept, self.options.history);
                self.schedule.arm(entry);
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
                let (stored, kept) = match self.route_events(change.events) {
                    Ok(routed) => routed,
                    Err(e) => {
                        self.len.fetch_sub(1, Ordering::SeqCst);
                        return Err(e);
                    }
                };
                let mut entry = Entry::new(job.clone(), None);
                entry.remember(kept, self.options.history);
                let mut ops = vec![Op::Upsert(job.clone(), stored)];
                let mut publish = Vec::new();
                if let Some(alert) = change.alert {
                    self.put_entries(alert, now, &mut ops, &mut publish);
                }
                let durable = match self.persist(&job.name, ops, publish) {
                    Ok(durable) => durable,
                    Err(e) => {
                        self.len.fetch_sub(1, Ordering::SeqCst);
                        return Err(e);
                    }
                };
                self.recount(None, Some(job.status));
                self.schedule.arm(&mut entry);
                let inserted = vacant.insert(Box::new(entry));
                write(&self.names).insert(job.name.clone());
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
                let delete = || vec![Op::Delete(name.clone())];
                let durable = self.persist(name, delete(), delete())?;
                write(&self.names).remove(name);
                let removed = occupied.remove();
                self.len.fetch_sub(1, Ordering::SeqCst);
                self.recount(Some(removed.job.status), None);
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

    async fn act(
        &self,
        name: &JobName,
        action: AdminAction,
        now: UnixTime,
    ) -> Result<ActionOutcome, BackendError> {
        self.act_on(name, action, now).await
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
                let names = read(&self.names);
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
        Ok(Page::from_fetched(jobs, limit, status, self.counts_now()))
    }

    async fn counts(&self) -> Result<Counts, BackendError> {
        Ok(self.counts_now())
    }

    async fn select(&self, selection: Selection) -> Result<Selected, BackendError> {
        // In place: one shard's read lock at a time, and only the page's jobs cloned.
        let mut selector = Selector::new(selection);
        for entry in self.jobs.iter() {
            selector.offer(&entry.job);
        }
        let chosen = selector.finish();
        let jobs = chosen
            .names
            .iter()
            .filter_map(|name| self.jobs.get(name).map(|entry| entry.job.clone()))
            .collect();
        Ok(chosen.with_jobs(jobs))
    }

    async fn take_due(&self, now: UnixTime, limit: usize) -> Result<Vec<Alert>, BackendError> {
        let policy = self.options.policy();
        let mut raised = Vec::new();
        let mut waiting = Vec::new();
        while raised.len() < limit {
            let Some((wake, name)) = self.schedule.pop_due(now) else {
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
                    self.schedule.arm(&mut entry);
                    continue;
                }
                Some(_) => {}
            }
            let was = entry.job.status;
            // The end of a pause window is a change without an alert.
            let fallen = entry
                .job
                .fall_due(now, entry.not_before, &policy, Alert::fresh_id());
            let Some(Change { job, alert, events }) = fallen else {
                self.schedule.arm(&mut entry);
                continue;
            };
            let persisted = self.route_events(events).and_then(|(stored, kept)| {
                let mut publish = Vec::new();
                let mut ops = vec![Op::Upsert(job.clone(), stored)];
                if let Some(alert) = &alert {
                    self.put_entries(alert.clone(), now, &mut ops, &mut publish);
                }
                self.persist(&name, ops, publish)
                    .map(|durable| (durable, kept))
            });
            let kept = match persisted {
                Ok((durable, kept)) => {
                    waiting.push(durable);
                    kept
                }
                Err(e) => {
                    // Nothing changed; the job is taken again in a second.
                    let retry = now.plus(1);
                    entry.scheduled = Some(retry);
                    self.schedule.push(retry, name.clone());
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
            };
            self.recount(Some(was), Some(job.status));
            entry.job = job;
            entry.not_before = None;
            entry.remember(kept, self.options.history);
            self.schedule.arm(&mut entry);
            drop(entry);
            raised.extend(alert);
        }
        for durable in waiting {
            durable.wait().await?;
        }
        Ok(raised)
    }

    async fn next_wake(&self) -> Option<UnixTime> {
        self.schedule.next()
    }

    async fn lease_alerts(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, BackendError> {
        Ok(self.alerts.lock().lease(now, limit))
    }

    async fn next_alert_at(&self) -> Option<UnixTime> {
        self.alerts.lock().next_ready()
    }

    async fn finish_alert(
        &self,
        alert: &PendingAlert,
        outcome: Delivery,
    ) -> Result<(), BackendError> {
        let started = self.memory_timer();
        let queued = self.alerts.lock().finish(alert, outcome);
        let Some(journal) = &self.journal else {
            let op = match outcome {
                Delivery::RetryAt(_) => StoreOp::OutboxRetry,
                Delivery::Delivered | Delivery::GaveUp => StoreOp::OutboxAck,
                Delivery::Deferred(_) => return Ok(()),
            };
            self.store_timer.finish(op, started);
            return Ok(());
        };
        if !queued {
            return Ok(());
        }
        let op = match outcome {
            Delivery::Delivered | Delivery::GaveUp => Op::OutboxAck(alert.entry_id()),
            Delivery::RetryAt(next_attempt) => Op::OutboxRetry {
                id: alert.entry_id(),
                attempts: alert.attempts.saturating_add(1),
                next_attempt_ms: next_attempt.millis(),
            },
            // A deferral is no attempt: nothing to keep across a restart.
            Delivery::Deferred(_) => return Ok(()),
        };
        // Not awaited with `--sync full`: a lost acknowledgement or retry count only
        // means one more attempt after a crash.
        journal.append(Some(&alert.alert.name), vec![op], Vec::new())?;
        Ok(())
    }

    async fn events(
        &self,
        name: &JobName,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Option<EventPage>, BackendError> {
        let in_memory = {
            let Some(entry) = self.jobs.get(name) else {
                return Ok(None);
            };
            match &self.journal {
                Some(_) => None,
                None => Some(
                    entry
                        .history
                        .as_deref()
                        .map(|ring| ring.iter().cloned().collect::<Vec<_>>())
                        .unwrap_or_default(),
                ),
            }
        };
        let events = match (in_memory, &self.journal) {
            (Some(events), _) => events,
            (None, Some(journal)) if self.options.history > 0 => journal.events(name)?,
            (None, _) => Vec::new(),
        };
        Ok(Some(page_of(&events, before, limit)))
    }

    async fn record_delivery(
        &self,
        name: &JobName,
        delivery: DeliveryEvent,
        now: UnixTime,
    ) -> Result<(), BackendError> {
        let Some(mut entry) = self.jobs.get_mut(name) else {
            return Ok(());
        };
        let change = entry.job.record_delivery(delivery, now);
        let (stored, kept) = self.route_events(change.events)?;
        // Not awaited with `--sync full`, like the end of the delivery itself: a lost
        // delivery event costs no alert.
        self.persist(
            name,
            vec![Op::Upsert(change.job.clone(), stored)],
            Vec::new(),
        )?;
        entry.job = change.job;
        entry.remember(kept, self.options.history);
        Ok(())
    }

    async fn close(&self) -> Result<(), BackendError> {
        match &self.journal {
            Some(journal) => journal.close().await,
            None => Ok(()),
        }
    }
}

/// The page of `events` (oldest first) below `before`, newest first, at most `limit`.
fn page_of(events: &[Event], before: Option<u64>, limit: usize) -> EventPage {
    let below = events
        .iter()
        .rev()
        .filter(|e| before.is_none_or(|b| e.seq < b));
    let mut page: Vec<&Event> = below.take(limit.saturating_add(1)).collect();
    let more = page.len() > limit;
    page.truncate(limit);
    EventPage {
        next: if more {
            page.last().map(|e| e.seq)
        } else {
            None
        },
        events: page.iter().map(|e| e.to_json()).collect(),
    }
}

#[async_trait]
impl StoreHealth for LocalBackend {
    async fn backlog(&self) -> Result<usize, BackendError> {
        Ok(self.alerts.lock().len())
    }

    async fn oldest_pending_alert(&self) -> Result<Option<UnixTime>, BackendError> {
        Ok(self.alerts.lock().oldest_raised_at())
    }

    async fn channel_backlog(&self) -> Result<HashMap<String, u64>, BackendError> {
        Ok(self.alerts.lock().per_channel())
    }

    async fn check(&self) -> Result<Duration, BackendError> {
        let started = Instant::now();
        if let Some(journal) = &self.journal {
            journal.check().await?;
        }
        Ok(started.elapsed())
    }
}
