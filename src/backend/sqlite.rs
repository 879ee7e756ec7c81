//! The SQLite journal behind the local backend: one writer thread owns the connection
//! and commits whatever is queued in one transaction (group commit), so that under load
//! many pings share one fsync and none is acknowledged before its commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{oneshot, Notify};

use super::outbox::{Outbox, PendingAlert};
use super::{BackendError, StoreOp, StoreTimer, SyncMode};
use crate::domain::{Alert, Frequency, Grace, Job, JobName, Status, UnixTime};

/// Most requests folded into one transaction; bounds the latency of a single commit.
const MAX_BATCH: usize = 8_192;

/// One change to make durable.
#[derive(Debug)]
pub enum Op {
    Upsert(Job),
    /// Deletes the job and its undelivered alerts.
    Delete(JobName),
    OutboxPut(PendingAlert),
    OutboxAck(String),
    OutboxRetry {
        id: String,
        attempts: u32,
        next_attempt_ms: i64,
    },
}

type Reply = oneshot::Sender<Result<(), String>>;

enum Request {
    Write { ops: Vec<Op>, reply: Option<Reply> },
    Check(Reply),
    Close(Reply),
}

/// Handle to the writer thread.
pub struct Journal {
    tx: mpsc::Sender<Request>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the journal held at start.
pub struct Loaded {
    pub jobs: Vec<Job>,
    pub alerts: Vec<PendingAlert>,
    pub max_seq: u64,
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

impl Journal {
    /// Opens (creating when missing) the database, loads its rows and starts the writer.
    /// Committed alerts are pushed into `outbox`, then `wake_dispatcher` is notified.
    /// `timer` receives the time of the load and of every statement and commit.
    pub fn open(
        path: &Path,
        sync: SyncMode,
        outbox: Arc<Mutex<Outbox>>,
        wake_dispatcher: Arc<Notify>,
        timer: StoreTimer,
    ) -> Result<(Self, Loaded), BackendError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
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
        let loaded = load(&conn).map_err(unavailable)?;
        timer.finish(StoreOp::Load, started);
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("overdue-sqlite-writer".into())
            .spawn(move || writer(conn, rx, outbox, wake_dispatcher, timer))
            .map_err(unavailable)?;
        Ok((
            Self {
                tx,
                thread: Mutex::new(Some(thread)),
            },
            loaded,
        ))
    }

    /// Queues `ops` as one unit; the receiver answers once they are committed.
    /// Call it while holding the lock that ordered the change, so the journal sees
    /// changes of one job in the order memory saw them.
    pub fn submit(&self, ops: Vec<Op>) -> oneshot::Receiver<Result<(), String>> {
        let (reply, rx) = oneshot::channel();
        // A send error means the writer is gone; the dropped reply then reports it.
        let _ = self.tx.send(Request::Write {
            ops,
            reply: Some(reply),
        });
        rx
    }

    /// Queues `ops` without waiting for their commit (outbox bookkeeping, where a lost
    /// update only means one more attempt after a crash).
    pub fn submit_detached(&self, ops: Vec<Op>) {
        let _ = self.tx.send(Request::Write { ops, reply: None });
    }

    pub async fn check(&self) -> Result<(), BackendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Check(reply))
            .map_err(|_| unavailable("the sqlite writer has stopped"))?;
        wait(rx).await
    }

    /// Commits what is queued, checkpoints the WAL and stops the writer.
    pub async fn close(&self) -> Result<(), BackendError> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Request::Close(reply)).is_err() {
            return Ok(());
        }
        let result = wait(rx).await;
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        result
    }
}

/// Waits for the writer's answer to one request.
pub async fn wait(rx: oneshot::Receiver<Result<(), String>>) -> Result<(), BackendError> {
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(unavailable(e)),
        Err(_) => Err(unavailable("the sqlite writer has stopped")),
    }
}

fn writer(
    mut conn: Connection,
    rx: mpsc::Receiver<Request>,
    outbox: Arc<Mutex<Outbox>>,
    wake_dispatcher: Arc<Notify>,
    timer: StoreTimer,
) {
    let mut batch = Vec::new();
    let mut closing: Option<Reply> = None;
    while closing.is_none() {
        let Ok(first) = rx.recv() else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = commit(&mut conn, &batch, &timer);
        let elapsed = started.elapsed();
        match &result {
            Ok(()) => {
                if publish(&batch, &outbox) {
                    wake_dispatcher.notify_one();
                }
                tracing::trace!(requests = batch.len(), ?elapsed, "committed batch");
            }
            Err(e) => tracing::error!(error = %e, requests = batch.len(), "sqlite commit failed"),
        }
        for request in batch.drain(..) {
            match request {
                Request::Write { reply, .. } => {
                    if let Some(reply) = reply {
                        let _ = reply.send(result.clone());
                    }
                }
                Request::Check(reply) => {
                    let _ = reply.send(result.clone());
                }
                Request::Close(reply) => closing = Some(reply),
            }
        }
    }
    let result = conn
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(|e| e.to_string());
    if let Err(e) = &result {
        tracing::warn!(error = %e, "wal checkpoint at shutdown failed");
    }
    if let Some(reply) = closing {
        let _ = reply.send(result);
    }
}

/// Applies a batch in one transaction. A job changed several times in the batch is
/// written once, in its last state. Each statement is timed by its operation, and the
/// commit itself as `commit`; the clock is read once between two statements.
fn commit(conn: &mut Connection, batch: &[Request], timer: &StoreTimer) -> Result<(), String> {
    let mut last_job_op: HashMap<&str, (usize, usize)> = HashMap::new();
    for (r, request) in batch.iter().enumerate() {
        if let Request::Write { ops, .. } = request {
            for (o, op) in ops.iter().enumerate() {
                match op {
                    Op::Upsert(job) => last_job_op.insert(job.name.as_str(), (r, o)),
                    Op::Delete(name) => last_job_op.insert(name.as_str(), (r, o)),
                    _ => None,
                };
            }
        }
    }
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let mut mark = timer.start();
    for (r, request) in batch.iter().enumerate() {
        let Request::Write { ops, .. } = request else {
            if let Request::Check(_) = request {
                tx.query_row("SELECT 1", [], |_| Ok(()))
                    .map_err(|e| e.to_string())?;
                mark = timer.lap(StoreOp::Check, mark);
            }
            continue;
        };
        for (o, op) in ops.iter().enumerate() {
            match op {
                Op::Upsert(job) => {
                    if last_job_op.get(job.name.as_str()) != Some(&(r, o)) {
                        // Superseded later in this batch: nothing is written.
                        continue;
                    }
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
            }
            mark = timer.lap(op.store_op(), mark);
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    timer.lap(StoreOp::Commit, mark);
    Ok(())
}

impl Op {
    fn store_op(&self) -> StoreOp {
        match self {
            Op::Upsert(_) => StoreOp::Upsert,
            Op::Delete(_) => StoreOp::Delete,
            Op::OutboxPut(_) => StoreOp::OutboxPut,
            Op::OutboxAck(_) => StoreOp::OutboxAck,
            Op::OutboxRetry { .. } => StoreOp::OutboxRetry,
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

/// Makes the alerts of a committed batch visible to the dispatcher, in commit order.
/// Returns whether any alert was added.
fn publish(batch: &[Request], outbox: &Mutex<Outbox>) -> bool {
    let has_outbox_ops = batch.iter().any(|r| {
        matches!(r, Request::Write { ops, .. } if ops.iter().any(|op| matches!(op, Op::OutboxPut(_) | Op::Delete(_))))
    });
    if !has_outbox_ops {
        return false;
    }
    let mut outbox = outbox
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut added = false;
    for request in batch {
        if let Request::Write { ops, .. } = request {
            for op in ops {
                match op {
                    Op::OutboxPut(p) => {
                        outbox.push(p.clone());
                        added = true;
                    }
                    Op::Delete(name) => outbox.drop_job(name),
                    _ => {}
                }
            }
        }
    }
    added
}

fn load(conn: &Connection) -> Result<Loaded, String> {
    let mut jobs = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT name, frequency, frequency_s, grace_s, last_ping_ms, status, down_since_ms,
                    episode_alerts, alerts_sent, pings_total, next_reminder_ms FROM jobs",
        )
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        match job_from_row(row) {
            Ok(job) => jobs.push(job),
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
        jobs,
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
    })
}
