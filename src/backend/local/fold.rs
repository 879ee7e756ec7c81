//! The fold thread: every [`FOLD_EVERY`] (or sooner when many changes wait) it takes
//! the changes each lane of the journal gathered since the last fold, starts a new
//! segment in the lane, applies the changes to the SQLite snapshot in one transaction
//! and removes the segments that the snapshot now holds.
//!
//! Between folds a lane keeps its changes in [`Pending`], repeated upserts of a job
//! coalesced, so that the fold writes each job once however often it was pinged.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::codec::{self, Op};
use super::journal::{open_segment, Inner};
use super::snapshot::Snapshot;
use crate::backend::StoreOp;
use crate::domain::JobName;
use crate::sync::{lock, wait_timeout, write};

/// How often the changes of the log are folded into the snapshot.
const FOLD_EVERY: Duration = Duration::from_secs(2);
/// Fold before the interval when this many changes are waiting (bounds memory).
pub(super) const FOLD_AT_CHANGES: usize = 50_000;
/// A segment that only received checks is replaced once it is this long.
const ROTATE_IDLE_BYTES: u64 = 1 << 20;

/// Changes appended since the last fold, with repeated upserts of a job coalesced.
#[derive(Default)]
pub(super) struct Pending {
    ops: Vec<Op>,
    last_upsert: HashMap<JobName, usize>,
}

impl Pending {
    /// Adds a change; a job's events beyond the newest `history` are dropped, as the
    /// snapshot would drop them.
    pub(super) fn push(&mut self, op: Op, history: usize) {
        match op {
            Op::Upsert(job, events) => match self.last_upsert.get(&job.name) {
                // No delete of the job since that upsert (a delete forgets it), so
                // writing the newer state in its place keeps the order right; the
                // events of both are kept, for the fold to write once.
                Some(&i) => {
                    if let Some(Op::Upsert(slot, kept)) = self.ops.get_mut(i) {
                        *slot = job;
                        if let Err(e) = kept.append(&events, history) {
                            // Only a count past u32 gets here: the newer events win.
                            tracing::warn!(job = %slot.name, error = %e, "events dropped before the fold");
                            *kept = events;
                        }
                    }
                }
                None => {
                    self.last_upsert.insert(job.name.clone(), self.ops.len());
                    self.ops.push(Op::Upsert(job, events));
                }
            },
            Op::Delete(name) => {
                self.last_upsert.remove(&name);
                self.ops.push(Op::Delete(name));
            }
            Op::Check => {}
            other => self.ops.push(other),
        }
    }

    /// Changes waiting.
    pub(super) fn len(&self) -> usize {
        self.ops.len()
    }

    /// The changes waiting, in order.
    pub(super) fn ops(&self) -> &[Op] {
        &self.ops
    }
}

/// What the journal asks of the fold thread.
#[derive(Default)]
pub(super) struct FoldSignal {
    /// Fold now rather than at the end of the interval.
    pub(super) requested: bool,
    /// Fold what is left, checkpoint and end.
    pub(super) closing: bool,
    /// Told how the closing fold went.
    pub(super) reply: Option<oneshot::Sender<Result<(), String>>>,
}

/// The fold thread's body: folds until the journal closes, then folds what is left.
pub(super) fn fold_loop(mut snapshot: Snapshot, inner: &Inner) {
    // Changes of folds that failed: applied first by the next one, whose segments
    // are kept until then.
    let mut carried: Vec<Op> = Vec::new();
    loop {
        let (closing, reply) = {
            let mut signal = lock(&inner.fold);
            if !signal.requested && !signal.closing {
                signal = wait_timeout(&inner.fold_wake, signal, FOLD_EVERY);
            }
            signal.requested = false;
            (signal.closing, signal.reply.take())
        };
        let idle = carried.is_empty()
            && !closing
            && inner.lanes.iter().all(|lane| {
                let log = lock(lane);
                log.pending.ops.is_empty() && log.len < ROTATE_IDLE_BYTES
            });
        if !idle {
            fold(&mut snapshot, inner, &mut carried, closing);
        }
        if closing {
            let result = if carried.is_empty() {
                snapshot.checkpoint()
            } else {
                Err("the last changes stay in the journal segments; they are replayed at the next start".to_owned())
            };
            if let Err(e) = &result {
                tracing::warn!(error = %e, "closing the store");
            }
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
            return;
        }
    }
}

/// One fold: takes every lane's changes (after `carried`, left by failed folds) and
/// applies them; on success removes the segments folded and empties `carried`.
fn fold(snapshot: &mut Snapshot, inner: &Inner, carried: &mut Vec<Op>, closing: bool) {
    // Per lane, its segments up to `folded` hold nothing but the changes taken
    // here (or by earlier folds); each lane is taken under its own lock, as the
    // lanes need no order between them. A lane with nothing new keeps its
    // segment: it holds checks at most.
    let mut folded = Vec::with_capacity(inner.lanes.len());
    for lane in &*inner.lanes {
        let mut log = lock(lane);
        let quiet = log.pending.ops.is_empty() && log.len < ROTATE_IDLE_BYTES;
        carried.extend(std::mem::take(&mut log.pending).ops);
        folded.push(if closing {
            log.closed = true;
            Some(log.segment)
        } else if quiet {
            log.segment.checked_sub(1)
        } else {
            match open_segment(&inner.db, log.lane, log.segment + 1, inner.sync) {
                Ok(file) => {
                    let folded = log.segment;
                    log.segment += 1;
                    log.file = Arc::new(file);
                    log.len = 0;
                    log.broken = false;
                    Some(folded)
                }
                // Fold anyway; the current segment is removed after a later
                // fold that can start a new one.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a new journal segment");
                    log.segment.checked_sub(1)
                }
            }
        });
    }
    let started = inner.timer.start();
    let changes = carried.len();
    // Readers of a job's history see the changes being folded until the snapshot
    // holds them.
    let folding = Arc::new(std::mem::take(carried));
    *write(&inner.folding) = folding.clone();
    let applied = snapshot.apply(&folding);
    if applied.is_err() {
        *carried = (*folding).clone();
    }
    match applied {
        Ok(()) => {
            inner.timer.finish(StoreOp::Fold, started);
            *write(&inner.folding) = Arc::default();
            if lock(&inner.fold_error).take().is_some() {
                tracing::info!("the journal folds into the database again");
            }
            remove_segments(&inner.db, &folded);
            tracing::debug!(changes, "journal folded");
        }
        Err(e) => {
            let mut error = lock(&inner.fold_error);
            if error.is_none() {
                tracing::error!(error = %e, changes, "cannot fold the journal into the database; its segments are kept");
            }
            *error = Some(e);
        }
    }
}

/// Removes every segment of lane `l` numbered up to `upto[l]`.
fn remove_segments(db: &Path, upto: &[Option<u64>]) {
    match codec::segments(db) {
        Ok(segments) => {
            for segment in segments {
                if upto
                    .get(segment.lane)
                    .copied()
                    .flatten()
                    .is_some_and(|upto| segment.number <= upto)
                {
                    let path = segment.path;
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::warn!(error = %e, segment = %path.display(), "cannot remove a folded journal segment");
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list the journal segments"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::codec::EventBytes;
    use crate::domain::{Event, EventKind, Frequency, Grace, Job, Status, UnixTime};

    fn job(name: &str, pings: u64) -> Job {
        Job {
            name: JobName::parse(name).unwrap(),
            frequency: Frequency::parse("1h").unwrap(),
            grace: Grace::default(),
            last_ping: UnixTime::from_secs(1_795_000_000 + pings as i64).unwrap(),
            status: Status::Up,
            down_since: None,
            episode_alerts: 0,
            alerts_sent: 0,
            pings_total: pings,
            next_reminder: None,
            down_reason: Default::default(),
            runs: None,
            events_seq: 0,
        }
    }

    fn events(events: &[Event]) -> EventBytes {
        EventBytes::encode(events).unwrap()
    }

    fn describe(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .map(|op| match op {
                Op::Upsert(j, events) => {
                    format!("upsert {} {} {}", j.name, j.pings_total, events.len())
                }
                Op::Delete(n) => format!("delete {n}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn pending_changes_coalesce_upserts_and_their_events_but_never_across_a_delete() {
        let e = |seq| Event {
            seq,
            at: UnixTime::from_secs(1_795_000_000).unwrap(),
            kind: EventKind::Created,
        };
        let a = || JobName::parse("a").unwrap();
        let mut pending = Pending::default();
        pending.push(Op::Upsert(job("a", 1), events(&[e(1)])), 2);
        pending.push(Op::Upsert(job("b", 1), events(&[e(1)])), 2);
        pending.push(Op::Upsert(job("a", 2), events(&[e(2), e(3)])), 2);
        pending.push(Op::Check, 2);
        pending.push(Op::Delete(a()), 2);
        pending.push(Op::Upsert(job("a", 3), events(&[e(1)])), 2);
        pending.push(Op::Upsert(job("a", 4), events(&[])), 2);
        assert_eq!(
            describe(&pending.ops),
            ["upsert a 2 2", "upsert b 1 1", "delete a", "upsert a 4 1"]
        );
        let Op::Upsert(_, kept) = &pending.ops[0] else {
            panic!("an upsert");
        };
        let seqs: Vec<u64> = kept.decode().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 3], "the newest within the history");
    }
}
