//! The durable store behind the local backend: a write-ahead log that every change is
//! appended to before it is acknowledged, folded in the background into a SQLite
//! snapshot.
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
//! Recovery: at start every segment left by the last run is replayed over the
//! snapshot, in order, and folded into it; every record holds a whole state, so a
//! segment replayed twice changes nothing.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{oneshot, Notify};

use super::outbox::{Outbox, PendingAlert};
pub use super::wal::Op;
use super::{wal, BackendError, StoreOp, StoreTimer, SyncMode};
use crate::domain::{Alert, Frequency, Grace, Job, JobName, Status, UnixTime};

/// How often the changes of the log are folded into the snapshot.
const FOLD_EVERY: Duration = Duration::from_secs(2);
/// Fold before the interval when this many changes are waiting (bounds memory).
const FOLD_AT_CHANGES: usize = 50_000;
/// A segment that only received checks is replaced once it is this long.
const ROTATE_IDLE_BYTES: u64 = 1 << 20;
/// Lanes of the log with `--sync normal`: each job's changes go to one lane, chosen by
/// its name, so that pings of different jobs on different threads rarely wait for
/// each other's lock or `write` (one log made the two workers queue on it: a futex
/// sleep and wake per collision). With `--sync full` one lane keeps it to one fsync
/// per group.
const LANES: usize = 16;

/// The answer to a write whose durability is still being made (`--sync full`).
pub type Waiting = oneshot::Receiver<Result<(), String>>;

/// Handle to the log, its fold thread and (with `--sync full`) its sync thread.
pub struct Journal {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Inner {
    db: PathBuf,
    sync: SyncMode,
    /// One log per lane; a job's changes are always in the same lane, so each lane
    /// holds them in their order, and the lanes need no order between them.
    lanes: Box<[Mutex<Log>]>,
    fold: Mutex<FoldSignal>,
    fold_wake: Condvar,
    /// Why the last fold failed; `None` once one succeeds.
    fold_error: Mutex<Option<String>>,
    syncer: Mutex<Option<mpsc::Sender<SyncRequest>>>,
    outbox: Arc<Mutex<Outbox>>,
    wake_dispatcher: Arc<Notify>,
    timer: StoreTimer,
}

struct Log {
    lane: usize,
    segment: u64,
    file: Arc<File>,
    /// Length of the segment's whole records; a failed write is cut back to it.
    len: u64,
    /// A failed write could not be cut back: the next append starts a new segment.
    broken: bool,
    closed: bool,
    buf: Vec<u8>,
    pending: Pending,
}

/// Changes appended since the last fold, with repeated upserts of a job coalesced.
#[derive(Default)]
struct Pending {
    ops: Vec<Op>,
    last_upsert: HashMap<JobName, usize>,
}

impl Pending {
    fn push(&mut self, op: Op) {
        match op {
            Op::Upsert(job) => match self.last_upsert.get(&job.name) {
                // No delete of the job since that upsert (a delete forgets it), so
                // writing the newer state in its place keeps the order right.
                Some(&i) => {
                    if let Some(slot) = self.ops.get_mut(i) {
                        *slot = Op::Upsert(job);
                    }
                }
                None => {
                    self.last_upsert.insert(job.name.clone(), self.ops.len());
                    self.ops.push(Op::Upsert(job));
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
}

#[derive(Default)]
struct FoldSignal {
    requested: bool,
    closing: Option<oneshot::Sender<Result<(), String>>>,
}

struct SyncRequest {
    file: Arc<File>,
    /// Outbox changes to publish once durable.
    publish: Vec<Op>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// What the journal held at start, besides the jobs handed to the caller one by one.
pub struct Loaded {
    pub alerts: Vec<PendingAlert>,
    pub max_seq: u64,
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn open_segment(db: &Path, lane: usize, number: u64, sync: SyncMode) -> std::io::Result<File> {
    let path = wal::segment_path(db, lane, number);
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
    /// starts the threads. Durable alerts are pushed into
    /// `outbox` as they become durable, then `wake_dispatcher` is notified. `timer`
    /// receives the time of the load and of every write.
    pub fn open(
        path: &Path,
        sync: SyncMode,
        outbox: Arc<Mutex<Outbox>>,
        wake_dispatcher: Arc<Notify>,
        timer: StoreTimer,
        on_job: &mut dyn FnMut(Job),
    ) -> Result<(Self, Loaded), BackendError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path)
            .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
        let synchronous = match sync {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS jobs (
                 name TEXT PRIMARY KEY,
                 frequency TEXT NOT NULL,
                 frequency_s INTEGER NOT NULL,
                 grace_s INTEGER NOT NULL,
                 last_ping_ms INTEGER NOT NULL,
                 status TEXT NOT NULL,
                 down_since_ms INTEGER,
                 episode_alerts INTEGER NOT NULL,
                 alerts_sent INTEGER NOT NULL,
                 pings_total INTEGER NOT NULL,
                 next_reminder_ms INTEGER
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS outbox (
                 seq INTEGER PRIMARY KEY,
                 id TEXT NOT NULL UNIQUE,
                 job TEXT NOT NULL,
                 alert TEXT NOT NULL,
                 attempts INTEGER NOT NULL,
                 next_attempt_ms INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS outbox_job ON outbox (job);"
        ))
        .map_err(|e| unavailable(format!("cannot prepare {}: {e}", path.display())))?;
        let started = timer.start();
        let last_segment = replay(&mut conn, path).map_err(unavailable)?;
        let loaded = load(&conn, on_job).map_err(unavailable)?;
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
                    wal::segment_path(path, lane, segment).display()
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
        let inner = Arc::new(Inner {
            db: path.to_path_buf(),
            sync,
            lanes: lanes.into_boxed_slice(),
            fold: Mutex::new(FoldSignal::default()),
            fold_wake: Condvar::new(),
            fold_error: Mutex::new(None),
            syncer: Mutex::new(syncer),
            outbox,
            wake_dispatcher,
            timer,
        });
        let mut threads = Vec::new();
        let folder = inner.clone();
        threads.push(
            std::thread::Builder::new()
                .name("overdue-fold".into())
                .spawn(move || fold_loop(conn, &folder))
                .map_err(unavailable)?,
        );
        if let Some(rx) = sync_rx {
            let syncing = inner.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("overdue-fsync".into())
                    .spawn(move || sync_loop(rx, &syncing))
                    .map_err(unavailable)?,
            );
        }
        Ok((
            Self {
                inner,
                threads: Mutex::new(threads),
            },
            loaded,
        ))
    }

    /// Appends `ops` to the log, as one unit, from the caller's thread. `Ok(None)`:
    /// they are durable; `Ok(Some(rx))`: they are written and `rx` answers once they
    /// are fsynced (`--sync full`). On an error nothing of them is in the log.
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
        let encoded = wal::encode(&ops, &mut buf);
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
                let segment = wal::segment_path(&inner.db, log.lane, log.segment);
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
        let mut publish = Vec::new();
        for op in ops {
            if matches!(op, Op::OutboxPut(_) | Op::Delete(_)) {
                publish.push(op.clone());
            }
            log.pending.push(op);
        }
        let fold_now = log.pending.ops.len() >= FOLD_AT_CHANGES / inner.lanes.len();
        let waiting = match inner.sync {
            SyncMode::Normal => {
                inner.timer.lap(StoreOp::Commit, mark);
                inner.publish(publish);
                None
            }
            SyncMode::Full => {
                let (reply, rx) = oneshot::channel();
                let request = SyncRequest {
                    file: log.file.clone(),
                    publish,
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
        if let Some(rx) = self.append(None, vec![Op::Check])? {
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

    /// Folds everything into the snapshot, checkpoints it and stops the threads.
    pub async fn close(&self) -> Result<(), BackendError> {
        let (reply, rx) = oneshot::channel();
        {
            let mut signal = lock(&self.inner.fold);
            signal.closing = Some(reply);
        }
        self.inner.fold_wake.notify_one();
        let result = wait(rx).await;
        // Dropping the sender ends the sync thread once it has answered everything.
        lock(&self.inner.syncer).take();
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

    /// Makes durable alerts visible to the dispatcher, in log order.
    fn publish(&self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        let mut outbox = lock(&self.outbox);
        let mut added = false;
        for op in ops {
            match op {
                Op::OutboxPut(p) => {
                    outbox.push(p);
                    added = true;
                }
                Op::Delete(name) => outbox.drop_job(&name),
                _ => {}
            }
        }
        drop(outbox);
        if added {
            self.wake_dispatcher.notify_one();
        }
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
/// publishes their alerts and answers them.
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
            if result.is_ok() {
                inner.publish(request.publish);
            }
            let _ = request.reply.send(result.clone());
        }
    }
}

/// Folds the log's changes into the snapshot every [`FOLD_EVERY`] (or sooner when
/// many wait), then removes the segments it folded.
fn fold_loop(mut conn: Connection, inner: &Inner) {
    // Changes of folds that failed: applied first by the next one, whose segments
    // are kept until then.
    let mut carried: Vec<Op> = Vec::new();
    loop {
        let closing = {
            let mut signal = lock(&inner.fold);
            if !signal.requested && signal.closing.is_none() {
                signal = inner
                    .fold_wake
                    .wait_timeout(signal, FOLD_EVERY)
                    .map(|(s, _)| s)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            signal.requested = false;
            signal.closing.take()
        };
        let idle = carried.is_empty()
            && closing.is_none()
            && inner.lanes.iter().all(|lane| {
                let log = lock(lane);
                log.pending.ops.is_empty() && log.len < ROTATE_IDLE_BYTES
            });
        if !idle {
            // Per lane, its segments up to `folded` hold nothing but the changes taken
            // here (or by earlier folds); each lane is taken under its own lock, as the
            // lanes need no order between them. A lane with nothing new keeps its
            // segment: it holds checks at most.
            let mut folded = Vec::with_capacity(inner.lanes.len());
            for lane in &*inner.lanes {
                let mut log = lock(lane);
                let quiet = log.pending.ops.is_empty() && log.len < ROTATE_IDLE_BYTES;
                carried.extend(std::mem::take(&mut log.pending).ops);
                folded.push(if closing.is_some() {
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
            match apply(&mut conn, &carried) {
                Ok(()) => {
                    inner.timer.finish(StoreOp::Fold, started);
                    carried.clear();
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
        if let Some(reply) = closing {
            let result = if carried.is_empty() {
                conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                    .map_err(|e| e.to_string())
            } else {
                Err("the last changes stay in the journal segments; they are replayed at the next start".to_owned())
            };
            if let Err(e) = &result {
                tracing::warn!(error = %e, "closing the store");
            }
            let _ = reply.send(result);
            return;
        }
    }
}

/// Removes every segment of lane `l` numbered up to `upto[l]`.
fn remove_segments(db: &Path, upto: &[Option<u64>]) {
    match wal::segments(db) {
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

/// Replays the segments a previous run left into the snapshot, then removes them.
/// Returns the highest segment number seen in any lane (0 when none).
fn replay(conn: &mut Connection, db: &Path) -> Result<u64, String> {
    let segments = wal::segments(db).map_err(|e| format!("cannot list the journal: {e}"))?;
    let Some(last) = segments.iter().map(|s| s.number).max() else {
        return Ok(0);
    };
    let mut ops = Vec::new();
    // Lane by lane, each in order: one job's changes are all in one lane.
    for wal::Segment { path, .. } in &segments {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let decoded = wal::decode(&bytes);
        if decoded.torn_bytes > 0 {
            // The tail of a write that a crash cut short; it was never acknowledged.
            tracing::warn!(segment = %path.display(), bytes = decoded.torn_bytes, "ignoring an incomplete record at the end of a journal segment");
        }
        ops.extend(decoded.ops);
    }
    let changes = ops.len();
    apply(conn, &ops)?;
    for wal::Segment { path, .. } in &segments {
        std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    }
    tracing::info!(segments = segments.len(), changes, "journal replayed");
    Ok(last)
}

/// Applies changes to the snapshot in one transaction, in order.
fn apply(conn: &mut Connection, ops: &[Op]) -> Result<(), String> {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    for op in ops {
        match op {
            Op::Upsert(job) => {
                upsert(&tx, job).map_err(|e| e.to_string())?;
            }
            Op::Delete(name) => {
                tx.prepare_cached("DELETE FROM jobs WHERE name = ?1")
                    .and_then(|mut s| s.execute([name.as_str()]))
                    .map_err(|e| e.to_string())?;
                tx.prepare_cached("DELETE FROM outbox WHERE job = ?1")
                    .and_then(|mut s| s.execute([name.as_str()]))
                    .map_err(|e| e.to_string())?;
            }
            Op::OutboxPut(p) => {
                let alert = serde_json::to_string(&p.alert).map_err(|e| e.to_string())?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO outbox (seq, id, job, alert, attempts, next_attempt_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        p.seq as i64,
                        p.alert.id,
                        p.alert.name.as_str(),
                        alert,
                        p.attempts,
                        p.next_attempt_ms
                    ])
                })
                .map_err(|e| e.to_string())?;
            }
            Op::OutboxAck(id) => {
                tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")
                    .and_then(|mut s| s.execute([id]))
                    .map_err(|e| e.to_string())?;
            }
            Op::OutboxRetry {
                id,
                attempts,
                next_attempt_ms,
            } => {
                tx.prepare_cached(
                    "UPDATE outbox SET attempts = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, attempts, next_attempt_ms]))
                .map_err(|e| e.to_string())?;
            }
            Op::Check => {}
        }
    }
    tx.commit().map_err(|e| e.to_string())
}

impl Op {
    fn store_op(&self) -> StoreOp {
        match self {
            Op::Upsert(_) => StoreOp::Upsert,
            Op::Delete(_) => StoreOp::Delete,
            Op::OutboxPut(_) => StoreOp::OutboxPut,
            Op::OutboxAck(_) => StoreOp::OutboxAck,
            Op::OutboxRetry { .. } => StoreOp::OutboxRetry,
            Op::Check => StoreOp::Check,
        }
    }
}

fn upsert(tx: &rusqlite::Transaction<'_>, job: &Job) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO jobs (name, frequency, frequency_s, grace_s, last_ping_ms, status,
             down_since_ms, episode_alerts, alerts_sent, pings_total, next_reminder_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        job.name.as_str(),
        job.frequency.as_str(),
        job.frequency.seconds() as i64,
        job.grace.seconds() as i64,
        job.last_ping.millis(),
        job.status.as_str(),
        job.down_since.map(UnixTime::millis),
        job.episode_alerts,
        job.alerts_sent as i64,
        job.pings_total as i64,
        job.next_reminder.map(UnixTime::millis),
    ])
}

fn load(conn: &Connection, on_job: &mut dyn FnMut(Job)) -> Result<Loaded, String> {
    let mut stmt = conn
        .prepare(
            "SELECT name, frequency, frequency_s, grace_s, last_ping_ms, status, down_since_ms,
                    episode_alerts, alerts_sent, pings_total, next_reminder_ms FROM jobs",
        )
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        match job_from_row(row) {
            Ok(job) => on_job(job),
            Err(e) => tracing::warn!(error = %e, "skipping unreadable job row"),
        }
    }
    let mut alerts = Vec::new();
    let mut stmt = conn
        .prepare("SELECT seq, alert, attempts, next_attempt_ms FROM outbox ORDER BY seq")
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let parsed = (|| -> Result<PendingAlert, String> {
            let seq: i64 = row.get(0).map_err(|e| e.to_string())?;
            let text: String = row.get(1).map_err(|e| e.to_string())?;
            let alert: Alert = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            Ok(PendingAlert {
                seq: u64::try_from(seq).map_err(|e| e.to_string())?,
                alert,
                attempts: row.get(2).map_err(|e| e.to_string())?,
                next_attempt_ms: row.get(3).map_err(|e| e.to_string())?,
            })
        })();
        match parsed {
            Ok(p) => alerts.push(p),
            Err(e) => tracing::warn!(error = %e, "skipping unreadable outbox row"),
        }
    }
    let max_seq: Option<i64> = conn
        .query_row("SELECT MAX(seq) FROM outbox", [], |r| r.get(0))
        .optional()
        .map_err(|e| e.to_string())?
        .flatten();
    Ok(Loaded {
        alerts,
        max_seq: max_seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
    })
}

fn job_from_row(row: &rusqlite::Row<'_>) -> Result<Job, String> {
    let get_i64 = |i: usize| row.get::<_, i64>(i).map_err(|e| e.to_string());
    let get_opt = |i: usize| row.get::<_, Option<i64>>(i).map_err(|e| e.to_string());
    let name: String = row.get(0).map_err(|e| e.to_string())?;
    let name = JobName::parse(&name).map_err(|e| e.to_string())?;
    let frequency: String = row.get(1).map_err(|e| e.to_string())?;
    let frequency_s = u64::try_from(get_i64(2)?).map_err(|e| e.to_string())?;
    let frequency = Frequency::from_stored(&frequency, frequency_s).map_err(|e| e.to_string())?;
    let grace = u64::try_from(get_i64(3)?)
        .ok()
        .and_then(Grace::from_secs)
        .ok_or("grace out of range")?;
    let time = |ms: i64| UnixTime::from_millis(ms).ok_or_else(|| format!("bad time {ms}"));
    let status: String = row.get(5).map_err(|e| e.to_string())?;
    let status = Status::parse(&status).ok_or_else(|| format!("bad status {status:?}"))?;
    Ok(Job {
        name,
        frequency,
        grace,
        last_ping: time(get_i64(4)?)?,
        status,
        down_since: get_opt(6)?.map(time).transpose()?,
        episode_alerts: u32::try_from(get_i64(7)?).unwrap_or(u32::MAX),
        alerts_sent: u64::try_from(get_i64(8)?).unwrap_or(0),
        pings_total: u64::try_from(get_i64(9)?).unwrap_or(0),
        next_reminder: get_opt(10)?.map(time).transpose()?,
        down_reason: crate::domain::DownReason::Missed,
        runs: None,
        events_seq: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn describe(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .map(|op| match op {
                Op::Upsert(j) => format!("upsert {} {}", j.name, j.pings_total),
                Op::Delete(n) => format!("delete {n}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn pending_changes_coalesce_upserts_but_never_across_a_delete() {
        let mut pending = Pending::default();
        pending.push(Op::Upsert(job("a", 1)));
        pending.push(Op::Upsert(job("b", 1)));
        pending.push(Op::Upsert(job("a", 2)));
        pending.push(Op::Check);
        pending.push(Op::Delete(JobName::parse("a").unwrap()));
        pending.push(Op::Upsert(job("a", 3)));
        pending.push(Op::Upsert(job("a", 4)));
        assert_eq!(
            describe(&pending.ops),
            ["upsert a 2", "upsert b 1", "delete a", "upsert a 4"]
        );
    }

    /// The journal, and the jobs it handed over at start.
    fn open(db: &Path) -> (Journal, Vec<Job>) {
        let mut jobs = Vec::new();
        let (journal, _) = Journal::open(
            db,
            SyncMode::Normal,
            Arc::default(),
            Arc::default(),
            StoreTimer::default(),
            &mut |job| jobs.push(job),
        )
        .unwrap();
        (journal, jobs)
    }

    #[tokio::test]
    async fn segments_left_by_a_crash_are_replayed_once_or_twice_alike() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        let (journal, _) = open(&db);
        journal.close().await.unwrap();
        // What a run killed before its fold leaves: two segments, the second torn.
        let mut first = Vec::new();
        wal::encode(
            &[
                Op::Upsert(job("a", 1)),
                Op::Upsert(job("b", 1)),
                Op::Upsert(job("a", 2)),
            ],
            &mut first,
        )
        .unwrap();
        let mut second = Vec::new();
        wal::encode(
            &[
                Op::Delete(JobName::parse("b").unwrap()),
                Op::Upsert(job("c", 5)),
            ],
            &mut second,
        )
        .unwrap();
        second.extend_from_slice(&[9, 0, 0, 0, 1]);
        for _ in 0..2 {
            // One job's changes are all in one lane.
            std::fs::write(wal::segment_path(&db, 5, 7), &first).unwrap();
            std::fs::write(wal::segment_path(&db, 5, 8), &second).unwrap();
            let (journal, loaded) = open(&db);
            let mut jobs: Vec<String> = loaded
                .iter()
                .map(|j| format!("{} {}", j.name, j.pings_total))
                .collect();
            jobs.sort();
            assert_eq!(jobs, ["a 2", "c 5"]);
            let left: Vec<(usize, u64)> = wal::segments(&db)
                .unwrap()
                .iter()
                .map(|s| (s.lane, s.number))
                .collect();
            let new: Vec<(usize, u64)> = (0..LANES).map(|lane| (lane, 9)).collect();
            assert_eq!(
                left, new,
                "replayed segments are removed; every lane starts at 9"
            );
            journal.close().await.unwrap();
        }
    }

    /// What a kill -9 leaves: a copy of the live directory, segments of every lane.
    fn copy_dir(from: &Path) -> tempfile::TempDir {
        let to = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.path().join(entry.file_name())).unwrap();
        }
        to
    }

    #[tokio::test]
    async fn every_job_in_every_lane_comes_back_in_its_latest_state_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        let (journal, _) = open(&db);
        // 200 jobs spread over the lanes, pinged in turns; every third one deleted
        // after its pings and every ninth created again after its deletion.
        let names: Vec<JobName> = (0..200)
            .map(|i| JobName::parse(&format!("job-{i}")).unwrap())
            .collect();
        for round in 1..=5 {
            for name in &names {
                let op = Op::Upsert(job(name.as_str(), round));
                journal.append(Some(name), vec![op]).unwrap();
            }
        }
        for (i, name) in names.iter().enumerate() {
            if i % 3 == 0 {
                journal
                    .append(Some(name), vec![Op::Delete(name.clone())])
                    .unwrap();
            }
            if i % 9 == 0 {
                let op = Op::Upsert(job(name.as_str(), 100));
                journal.append(Some(name), vec![op]).unwrap();
            }
        }
        let lanes: std::collections::BTreeSet<usize> =
            wal::segments(&db).unwrap().iter().map(|s| s.lane).collect();
        assert_eq!(lanes.len(), LANES, "the jobs use every lane");
        let crashed = copy_dir(dir.path());
        journal.close().await.unwrap();

        let expected: Vec<String> = names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| match (i % 3 == 0, i % 9 == 0) {
                (_, true) => Some(format!("{name} 100")),
                (true, false) => None,
                (false, false) => Some(format!("{name} 5")),
            })
            .collect();
        for db in [db, crashed.path().join("o.db")] {
            let (journal, loaded) = open(&db);
            let mut got: Vec<(String, String)> = loaded
                .iter()
                .map(|j| (j.name.to_string(), format!("{} {}", j.name, j.pings_total)))
                .collect();
            got.sort();
            let mut want: Vec<(String, String)> = expected
                .iter()
                .map(|e| (e.split(' ').next().unwrap().to_owned(), e.clone()))
                .collect();
            want.sort();
            assert_eq!(got, want, "{}", db.display());
            journal.close().await.unwrap();
        }
    }

    #[tokio::test]
    async fn appended_changes_survive_without_a_fold_and_are_folded_at_close() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        let (journal, _) = open(&db);
        assert!(journal
            .append(None, vec![Op::Upsert(job("a", 1))])
            .unwrap()
            .is_none());
        journal.append(None, vec![Op::Upsert(job("a", 2))]).unwrap();
        let crashed = copy_dir(dir.path());
        journal.close().await.unwrap();
        assert!(
            wal::segments(&db).unwrap().is_empty(),
            "close folds everything"
        );
        for db in [db, crashed.path().join("o.db")] {
            let (journal, loaded) = open(&db);
            assert_eq!(loaded.len(), 1);
            assert_eq!(loaded[0].pings_total, 2);
            journal.close().await.unwrap();
        }
        assert!(journal_closed_refuses_writes().await);
    }

    async fn journal_closed_refuses_writes() -> bool {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(&dir.path().join("o.db"));
        journal.close().await.unwrap();
        journal.append(None, vec![Op::Upsert(job("a", 1))]).is_err()
    }
}
