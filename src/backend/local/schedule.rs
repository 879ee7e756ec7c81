//! The sweeper's schedule of the local store: each job's place in it ([`Entry`]) and
//! the heap of wake-ups ([`Schedule`]) that the sweeper pops due jobs from.
//!
//! A ping only touches the heap when it moves the job's wake-up earlier: a later
//! deadline is found when the earlier wake-up fires, which keeps the usual ping free
//! of this global lock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::domain::{is_due, Event, Job, JobName, UnixTime};
use crate::sync::lock;

/// A wake-up in the heap: when, and for which job.
pub(super) type WakeUp = Reverse<(UnixTime, JobName)>;

/// A job and its place in the sweeper's schedule.
pub(super) struct Entry {
    pub(super) job: Job,
    /// The wake-up this job has in the heap. The heap may also hold stale, later
    /// entries for it; only the one equal to this counts.
    pub(super) scheduled: Option<UnixTime>,
    /// After a restart, the job is not alerted before this (SPEC §8 startup grace).
    pub(super) not_before: Option<UnixTime>,
    /// `memory://` only: the job's newest events, oldest first. A store with a journal
    /// keeps them there, never here.
    // Boxed so that the million entries of a SQLite store, which never use it, pay one
    // word for it rather than a whole empty deque.
    #[allow(clippy::box_collection)]
    pub(super) history: Option<Box<VecDeque<Event>>>,
}

impl Entry {
    /// A job not yet in the heap.
    pub(super) fn new(job: Job, not_before: Option<UnixTime>) -> Self {
        Self {
            job,
            scheduled: None,
            not_before,
            history: None,
        }
    }

    /// Keeps `events` in the in-memory history, the newest `max` of it.
    pub(super) fn remember(&mut self, events: Vec<Event>, max: usize) {
        if events.is_empty() || max == 0 {
            return;
        }
        let ring = self.history.get_or_insert_with(Box::default);
        ring.extend(events);
        while ring.len() > max {
            ring.pop_front();
        }
    }

    /// When the job next needs the sweeper.
    pub(super) fn wake_target(&self) -> Option<UnixTime> {
        self.job.wake_target(self.not_before)
    }
}

/// The wake-ups, earliest first, and the sweeper to wake when one moves earlier.
pub(super) struct Schedule {
    heap: Mutex<BinaryHeap<WakeUp>>,
    sweeper: Arc<Notify>,
}

impl Schedule {
    pub(super) fn new(sweeper: Arc<Notify>) -> Self {
        Self {
            heap: Mutex::new(BinaryHeap::new()),
            sweeper,
        }
    }

    /// Replaces every wake-up (at start, with those of the stored jobs).
    pub(super) fn replace(&self, wakeups: Vec<WakeUp>) {
        *lock(&self.heap) = BinaryHeap::from(wakeups);
    }

    /// Puts the entry's wake-up into the heap unless an earlier one is already there
    /// (that one fires, finds the job not due and re-arms it). Wakes the sweeper only
    /// when the new wake-up is the earliest of all.
    pub(super) fn arm(&self, entry: &mut Entry) {
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
            self.sweeper.notify_one();
        }
    }

    /// Puts a wake-up in the heap as it is, without waking the sweeper (a retry).
    pub(super) fn push(&self, at: UnixTime, name: JobName) {
        lock(&self.heap).push(Reverse((at, name)));
    }

    /// Takes the earliest wake-up if it is due at `now`.
    pub(super) fn pop_due(&self, now: UnixTime) -> Option<(UnixTime, JobName)> {
        let mut heap = lock(&self.heap);
        match heap.peek() {
            Some(Reverse((at, _))) if is_due(*at, now) => heap.pop().map(|Reverse(w)| w),
            _ => None,
        }
    }

    /// The earliest wake-up.
    pub(super) fn next(&self) -> Option<UnixTime> {
        lock(&self.heap).peek().map(|Reverse((at, _))| *at)
    }

    /// Wake-ups in the heap, stale ones included.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        lock(&self.heap).len()
    }
}
