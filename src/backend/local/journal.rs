//! The journal: a write-ahead log that every change is appended to before it is
//! acknowledged, in lanes, made durable by the caller's `write` (`--sync normal`) or
//! by the sync thread's grouped fsync (`--sync full`), and folded in the background
//! into the SQLite snapshot (see [`super::fold`] and [`super::snapshot`]).
//!
//! Why not write each ping into SQLite directly: an upsert into a B-tree and a commit
//! cost about as much CPU as the whole HTTP request, and a hand-off to a writer thread
//! and back costs two thread wake-ups per ping. Appending one small record to a file
//! from the request's own thread costs one `write` call, and the fold writes each job
//! once per interval however often it was pinged. The guarantee is unchanged: with
//! `--sync normal` a change is in the operating system's file cache before the
//! answer (it survives kill -9, as SQLite's WAL with `synchronous=NORMAL` does); with
//! `--sync full` the log is fsynced (grouped, on the sync thread) before the answer.
//!
//! The log has lanes (see [`LANES`]): each job's changes go to the lane of its name, so
//! pings of different jobs on different threads seldom share a lock or a file.
//!
//! The journal knows nothing of the layers above it: it tells its owner which
//! changes became durable through the listener given to [`Journal::open`], in the
//! order they were appended to their lane, whether or not anyone still waits for them.
//!
//! Recovery: at start every segment left by the last run is replayed over the
//! snapshot, in order, and folded into it; every record holds a whole state, so a
//! segment replayed twice changes nothing.
//!
//! Every thread the journal starts is stopped and joined on every path: by
//! [`Journal::close`], by dropping the journal, and when [`Journal::open`] fails after
//! starting one.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::codec;
pub use super::codec::Op;
use super::fold::{fold_loop, FoldSignal, Pending};
use super::snapshot::{self, Loaded, Snapshot};
use super::unavailable;
use crate::backend::{BackendError, StoreOp, StoreTimer, SyncMode};
use crate::domain::{Event, Job, JobName};
use crate::sync::{get_mut, lock, read};

/// Lanes of the log with `--sync normal`: each job's changes go to one lane, chosen by
/// its name, so that pings of different jobs on different threads rarely wait for
/// each other's lock or `write` (one log made the two workers queue on it: a futex
/// sleep and wake per collision). With `--sync full` one lane keeps it to one fsync
/// per group.
pub(super) const LANES: usize = 16;
/// How long dropping an open journal waits for its threads to finish the last fold;
/// past it they are left to end on their own rather than hang the caller.
const DROP_WAIT: Duration = Duration::from_secs(10);

/// The answer to a write whose durability is still being made (`--sync full`).
pub type Waiting = oneshot::Receiver<Result<(), String>>;

/// Told which changes became durable: the `report` given to [`Journal::append`] with
/// them, once they are. Called in the order of appending within a lane, from the
/// appending thread (`--sync normal`) or the sync thread (`--sync full`); it must be
/// quick and must not append.
pub type OnDurable = Box<dyn Fn(Vec<Op>) + Send + Sync>;

/// Handle to the log, its fold thread and (with `--sync full`) its sync thread.
pub struct Journal {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Disconnected once every thread has ended: each holds a sender.
    ended: Mutex<mpsc::Receiver<()>>,
    /// The sender threads are started with; dropped once `open` has started them all.
    starting: Option<mpsc::Sender<()>>,
    /// A connection of its own for reading histories from the snapshot, so that a
    /// reader never waits for a fold's transaction.
    reader: Mutex<rusqlite::Connection>,
}

pub(super) struct Inner {
    pub(super) db: PathBuf,
    pub(super) sync: SyncMode,
    /// One log per lane; a job's changes are always in the same lane, so each lane
    /// holds them in their order, and the lanes need no order between them.
    pub(super) lanes: Box<[Mutex<Log>]>,
    pub(super) fold: Mutex<FoldSignal>,
    pub(super) fold_wake: Condvar,
    /// Why the last fold failed; `None` once one succeeds.
    pub(super) fold_error: Mutex<Option<String>>,
    /// The changes the fold thread is writing into the snapshot; empty between folds.
    pub(super) folding: RwLock<Arc<Vec<Op>>>,
    /// Events kept per job (`--history`).
    pub(super) history: usize,
    syncer: Mutex<Option<mpsc::Sender<SyncRequest>>>,
    on_durable: OnDurable,
    pub(super) timer: StoreTimer,
}

/// One lane of the log: its current segment and the changes not yet folded.
pub(super) struct Log {
    pub(super) lane: usize,
    pub(super) segment: u64,
    pub(super) file: Arc<File>,
    /// Length of the segment's whole records; a failed write is cut back to it.
    pub(super) len: u64,
    /// A failed write could not be cut back: the next append starts a new segment.
    pub(super) broken: bool,
    pub(super) closed: bool,
    buf: Vec<u8>,
    pub(super) pending: Pending,
}

struct SyncRequest {
    file: Arc<File>,
    /// What to hand to the listener once durable.
    report: Vec<Op>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// Opens (creating when missing) segment `number` of `lane` of the database at `db`.
pub(super) fn open_segment(
    db: &Path,
    lane: usize,
    number: u64,
    sync: SyncMode,
) -> std::io::Result<File> {
    let path = codec::segment_path(db, lane, number);
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    if sync == SyncMode::Full {
        // The new file's directory entry must survive a power loss too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
    }
    Ok(file)
}

impl Journal {
    /// Opens (creating when missing) the database, replays the log segments a previous
    /// run left, hands every stored job to `on_job`, loads the pending alerts and
    /// starts the threads. `on_durable` is told what became durable (see
    /// [`OnDurable`]); `timer` receives the time of the load and of every write.
    pub fn open(
        path: &Path,
        sync: SyncMode,
        history: usize,
        timer: StoreTimer,
        on_job: &mut dyn FnMut(Job),
        on_durable: OnDurable,
    ) -> Result<(Self, Loaded), BackendError> {
        let mut snapshot = Snapshot::open(path, sync, history)?;
        let reader = snapshot::open_reader(path)?;
        let started = timer.start();
        let last_segment = snapshot.replay(path).map_err(unavailable)?;
        let loaded = snapshot.load(on_job).map_err(unavailable)?;
        timer.finish(StoreOp::Load, started);

        let segment = last_segment + 1;
        let lane_count = match sync {
            SyncMode::Normal => LANES,
            SyncMode::Full => 1,
        };
        let mut lanes = Vec::with_capacity(lane_count);
        for lane in 0..lane_count {
            let file = open_segment(path, lane, segment, sync).map_err(|e| {
                unavailable(format!(
                    "cannot create {}: {e}",
                    codec::segment_path(path, lane, segment).display()
                ))
            })?;
            lanes.push(Mutex::new(Log {
                lane,
                segment,
                file: Arc::new(file),
                len: 0,
                broken: false,
                closed: false,
                buf: Vec::with_capacity(4096),
                pending: Pending::default(),
            }));
        }
        let (syncer, sync_rx) = match sync {
            SyncMode::Full => {
                let (tx, rx) = mpsc::channel();
                (Some(tx), Some(rx))
            }
            SyncMode::Normal => (None, None),
        };
        let (starting, ended) = mpsc::channel();
        // From here on, an early return drops `journal`, which stops and joins every
        // thread started so far.
        let mut journal = Self {
            inner: Arc::new(Inner {
                db: path.to_path_buf(),
                sync,
                lanes: lanes.into_boxed_slice(),
                fold: Mutex::new(FoldSignal::default()),
                fold_wake: Condvar::new(),
                fold_error: Mutex::new(None),
                folding: RwLock::new(Arc::default()),
                history,
                syncer: Mutex::new(syncer),
                on_durable,
                timer,
            }),
            threads: Mutex::new(Vec::new()),
            ended: Mutex::new(ended),
            starting: Some(starting),
            reader: Mutex::new(reader),
        };
        let folder = journal.inner.clone();
        journal.spawn("overdue-fold", move || fold_loop(snapshot, &folder))?;
        if let Some(rx) = sync_rx {
            let syncing = journal.inner.clone();
            journal.spawn("overdue-fsync", move || sync_loop(rx, &syncing))?;
        }
        #[cfg(test)]
        if hooks::FAIL_AFTER_SPAWN.with(|fail| fail.replace(false)) {
            return Err(unavailable("failure injected after the threads started"));
        }
        journal.starting = None;
        Ok((journal, loaded))
    }

    /// Starts a thread of the journal, which holds a sender of `ended` while it runs.
    fn spawn(
        &mut self,
        name: &str,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<(), BackendError> {
        let running = self.starting.clone();
        #[cfg(test)]
        let alive = hooks::ALIVE.with(|alive| alive.borrow().clone());
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _running = running;
                #[cfg(test)]
                let _alive = alive;
                body();
            })
            .map_err(unavailable)?;
        lock(&self.threads).push(handle);
        Ok(())
    }

    /// Appends `ops` to the log, as one unit, from the caller's thread. `Ok(None)`:
    /// they are durable; `Ok(Some(rx))`: they are written and `rx` answers once they
    /// are fsynced (`--sync full`). On an error nothing of them is in the log.
    ///
    /// `report`, unless empty, is handed to the listener once `ops` are durable, even
    /// when nobody waits for `rx` any more; it is not when they cannot be made so.
    ///
    /// Call it under the lock that ordered the change, before changing memory, so the
    /// log sees one job's changes in the order memory does, and a change that could
    /// not be stored is never visible.
    ///
    /// `job` is the job the changes belong to (`None`: no job, a check); it chooses
    /// the lane, so every change of one job must name it.
    pub fn append(
        &self,
        job: Option<&JobName>,
        ops: Vec<Op>,
        report: Vec<Op>,
    ) -> Result<Option<Waiting>, BackendError> {
        let inner = &*self.inner;
        let mut log = lock(inner.lane(job));
        if log.closed {
            return Err(unavailable("the store is closed"));
        }
        if log.broken {
            let next = log.segment + 1;
            let file = open_segment(&inner.db, log.lane, next, inner.sync)
                .map_err(|e| unavailable(format!("cannot start a new journal segment: {e}")))?;
            log.segment = next;
            log.file = Arc::new(file);
            log.len = 0;
            log.broken = false;
        }
        let started = inner.timer.start();
        let mut buf = std::mem::take(&mut log.buf);
        buf.clear();
        let encoded = codec::encode(&ops, &mut buf);
        // Each change is timed by its kind (encoding it), the write as the commit;
        // a check is timed whole by `check`.
        let mut mark = started;
        for (i, op) in ops.iter().filter(|op| !matches!(op, Op::Check)).enumerate() {
            if i == 0 {
                mark = inner.timer.lap(op.store_op(), mark);
            } else {
                inner.timer.finish(op.store_op(), started);
            }
        }
        let written = encoded.map_err(unavailable).and_then(|()| {
            (&*log.file).write_all(&buf).map_err(|e| {
                let segment = codec::segment_path(&inner.db, log.lane, log.segment);
                unavailable(format!("cannot write {}: {e}", segment.display()))
            })
        });
        let size = buf.len() as u64;
        log.buf = buf;
        if let Err(e) = written {
            // A partial record would hide every later one from the replay: cut it off,
            // or start a new segment when even that fails.
            if log.file.set_len(log.len).is_err() {
                log.broken = true;
            }
            return Err(e);
        }
        log.len += size;
        for op in ops {
            log.pending.push(op, inner.history);
        }
        let fold_now = log.pending.len() >= super::fold::FOLD_AT_CHANGES / inner.lanes.len();
        let waiting = match inner.sync {
            SyncMode::Normal => {
                inner.timer.lap(StoreOp::Commit, mark);
                if !report.is_empty() {
                    (inner.on_durable)(report);
                }
                None
            }
            SyncMode::Full => {
                let (reply, rx) = oneshot::channel();
                let request = SyncRequest {
                    file: log.file.clone(),
                    report,
                    reply,
                };
                // A send error means the sync thread is gone; the dropped reply says so.
                if let Some(syncer) = lock(&inner.syncer).as_ref() {
                    let _ = syncer.send(request);
                }
                Some(rx)
            }
        };
        drop(log);
        if fold_now {
            inner.request_fold();
        }
        Ok(waiting)
    }

    /// Writes a check record (and fsyncs it with `--sync full`); fails while the last
    /// fold into the snapshot failed.
    pub async fn check(&self) -> Result<(), BackendError> {
        let started = self.inner.timer.start();
        if let Some(rx) = self.append(None, vec![Op::Check], Vec::new())? {
            wait(rx).await?;
        }
        self.inner.timer.finish(StoreOp::Check, started);
        if let Some(e) = lock(&self.inner.fold_error).clone() {
            return Err(unavailable(format!(
                "the journal cannot be folded into the database: {e}"
            )));
        }
        Ok(())
    }

    /// The events of `job` the store holds, oldest first, the newest `--history` of
    /// them: the snapshot's, those being folded and those not folded yet.
    pub fn events(&self, job: &JobName) -> Result<Vec<Event>, BackendError> {
        let inner = &*self.inner;
        let of_job = |op: &&Op| match op {
            Op::Upsert(j, _) => j.name == *job,
            Op::Delete(name) => name == job,
            _ => false,
        };
        // Read in the order events move (waiting, being folded, folded), so that an
        // event moving meanwhile is seen at least once; seen twice, it is kept once.
        let waiting: Vec<Op> = lock(inner.lane(Some(job)))
            .pending
            .ops()
            .iter()
            .filter(of_job)
            .cloned()
            .collect();
        let folding = read(&inner.folding).clone();
        let stored = snapshot::read_events(&lock(&self.reader), job).map_err(unavailable)?;
        let mut newer: Vec<Event> = Vec::new();
        let mut deleted = false;
        for op in folding.iter().filter(of_job).chain(waiting.iter()) {
            match op {
                Op::Upsert(_, events) => newer.extend(events.decode().ok_or_else(|| {
                    unavailable(format!(
                        "the events of {job} waiting for the fold do not read"
                    ))
                })?),
                Op::Delete(_) => {
                    // What came before belongs to the job that was deleted.
                    newer.clear();
                    deleted = true;
                }
                _ => {}
            }
        }
        let mut by_seq: BTreeMap<u64, Event> = BTreeMap::new();
        if !deleted {
            by_seq.extend(stored.into_iter().map(|e| (e.seq, e)));
        }
        by_seq.extend(newer.into_iter().map(|e| (e.seq, e)));
        let mut events: Vec<Event> = by_seq.into_values().collect();
        if events.len() > inner.history {
            events.drain(..events.len() - inner.history);
        }
        Ok(events)
    }

    /// Folds everything into the snapshot, checkpoints it and stops the threads.
    pub async fn close(&self) -> Result<(), BackendError> {
        let (reply, rx) = oneshot::channel();
        self.inner.stop(Some(reply));
        let result = wait(rx).await;
        let threads = std::mem::take(&mut *lock(&self.threads));
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        result
    }
}

impl Drop for Journal {
    /// Stops the threads that [`Journal::close`] did not: the fold thread folds what
    /// it holds, as at a close. Waits for them at most [`DROP_WAIT`].
    fn drop(&mut self) {
        self.starting = None;
        let threads = std::mem::take(get_mut(&mut self.threads));
        if threads.is_empty() {
            return;
        }
        self.inner.stop(None);
        let ended = get_mut(&mut self.ended);
        match ended.recv_timeout(DROP_WAIT) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    threads = threads.len(),
                    "the journal's threads did not stop in time; leaving them"
                );
            }
            // Nothing is ever sent: only the disconnection of the last thread ends it.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                for thread in threads {
                    let _ = thread.join();
                }
            }
        }
    }
}

impl Inner {
    /// The lane of `job`'s changes; checks go to the first.
    fn lane(&self, job: Option<&JobName>) -> &Mutex<Log> {
        let index = job.map_or(0, |name| {
            crc32fast::hash(name.as_str().as_bytes()) as usize % self.lanes.len()
        });
        &self.lanes[index]
    }

    fn request_fold(&self) {
        lock(&self.fold).requested = true;
        self.fold_wake.notify_one();
    }

    /// Has the fold thread fold what is left and end (answering `reply` when given),
    /// and the sync thread end once it has answered every write queued.
    fn stop(&self, reply: Option<oneshot::Sender<Result<(), String>>>) {
        {
            let mut signal = lock(&self.fold);
            signal.closing = true;
            signal.reply = reply;
        }
        self.fold_wake.notify_one();
        lock(&self.syncer).take();
    }
}

/// Waits for the sync thread's answer to one write.
pub async fn wait(rx: Waiting) -> Result<(), BackendError> {
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(unavailable(e)),
        Err(_) => Err(unavailable("the journal's sync thread has stopped")),
    }
}

/// `--sync full`: fsyncs the log once for every group of writes queued meanwhile, then
/// reports them durable and answers them.
fn sync_loop(rx: mpsc::Receiver<SyncRequest>, inner: &Inner) {
    let mut batch = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let started = inner.timer.start();
        let mut result = Ok(());
        let mut synced: Vec<&Arc<File>> = Vec::new();
        for request in &batch {
            if synced.iter().any(|f| Arc::ptr_eq(f, &request.file)) {
                continue;
            }
            if let Err(e) = request.file.sync_data() {
                result = Err(format!("cannot fsync the journal: {e}"));
                break;
            }
            synced.push(&request.file);
        }
        inner.timer.finish(StoreOp::Commit, started);
        if let Err(e) = &result {
            tracing::error!(error = %e, writes = batch.len(), "journal fsync failed");
        }
        for request in batch.drain(..) {
            if result.is_ok() && !request.report.is_empty() {
                (inner.on_durable)(request.report);
            }
            let _ = request.reply.send(result.clone());
        }
    }
}

impl Op {
    fn store_op(&self) -> StoreOp {
        match self {
            Op::Upsert(..) => StoreOp::Upsert,
            Op::Delete(_) => StoreOp::Delete,
            Op::OutboxPut(_) => StoreOp::OutboxPut,
            Op::OutboxAck(_) => StoreOp::OutboxAck,
            Op::OutboxRetry { .. } => StoreOp::OutboxRetry,
            Op::Check => StoreOp::Check,
        }
    }
}

/// Ways for the tests to watch and break [`Journal::open`] on their own thread.
#[cfg(test)]
pub(super) mod hooks {
    use std::cell::{Cell, RefCell};
    use std::sync::Arc;

    thread_local! {
        /// Cloned into every thread a journal opened on this thread starts, and dropped
        /// when that thread ends: its strong count tells how many still run.
        pub static ALIVE: RefCell<Option<Arc<()>>> = const { RefCell::new(None) };
        /// Makes the next open on this thread fail once its threads run.
        pub static FAIL_AFTER_SPAWN: Cell<bool> = const { Cell::new(false) };
    }
}

#[cfg(test)]
mod tests;
