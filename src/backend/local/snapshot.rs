//! The SQLite snapshot the journal is folded into: its schema, applying a batch of
//! changes in one transaction (the fold), loading every job and pending alert at
//! start, and replaying the segments a previous run left.
//!
//! The snapshot is never on the path of a request: the journal makes a change durable,
//! and the fold thread brings the snapshot up to date in the background.
//!
//! A job's runs are one blob column of its row, and its newest `--history` events a few
//! rows of `event_chunks`, each a blob of consecutive events in the journal's compact
//! form (rendered to JSON only when read). The fold adds a job's new events to its
//! newest chunk while that holds fewer than [`CHUNK_EVENTS`], else starts a chunk and
//! drops the chunks that fell out of the history: a fold writes a job once however
//! often it was pinged, and rewrites at most one small chunk rather than the whole
//! history. A database of an earlier version gains the new columns and tables in
//! place when opened; its jobs take the defaults.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{self, EventBytes, Op};
use super::unavailable;
use crate::backend::{BackendError, PendingAlert, SyncMode};
use crate::domain::{
    Acknowledgement, Alert, Cadence, DownReason, Event, Frequency, Grace, Job, JobName, Schedule,
    Status, UnixTime,
};

/// What the snapshot held at start, besides the jobs handed to the caller one by one.
pub struct Loaded {
    pub alerts: Vec<PendingAlert>,
    pub max_seq: u64,
}

/// The open database of the snapshot.
pub struct Snapshot {
    conn: Connection,
    /// Events kept per job (`--history`).
    history: usize,
}

/// Columns added to `jobs` after its first version, with their definitions.
const ADDED_JOB_COLUMNS: [(&str, &str); 9] = [
    ("down_reason", "TEXT NOT NULL DEFAULT 'missed'"),
    ("events_seq", "INTEGER NOT NULL DEFAULT 0"),
    ("runs", "BLOB"),
    ("schedule", "TEXT"),
    ("timezone", "TEXT"),
    ("paused_until_ms", "INTEGER"),
    ("ack_at_ms", "INTEGER"),
    ("ack_note", "TEXT"),
    ("resume_deadline_ms", "INTEGER"),
];

/// Opens a read-only connection to the snapshot at `path` (created already), for
/// reading histories beside the fold.
pub fn open_reader(path: &Path) -> Result<Connection, BackendError> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| unavailable(format!("cannot prepare {}: {e}", path.display())))?;
    Ok(conn)
}

/// A job's newest events are added to its newest chunk while that holds fewer than
/// this many; then a new chunk starts. A fold rewrites at most this many events of a
/// job besides its new ones, and a job keeps at most this many beyond `--history`.
const CHUNK_EVENTS: u32 = 32;

/// The events of `job` the snapshot holds, oldest first.
pub fn read_events(conn: &Connection, job: &JobName) -> Result<Vec<Event>, String> {
    let mut stmt = conn
        .prepare_cached("SELECT events FROM event_chunks WHERE job = ?1 ORDER BY first_seq")
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([job.as_str()]).map_err(|e| e.to_string())?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let blob: Vec<u8> = row.get(0).map_err(|e| e.to_string())?;
        let chunk = EventBytes::from_stored(&blob)
            .and_then(|chunk| chunk.decode())
            .ok_or_else(|| format!("the stored history of {job} is damaged"))?;
        events.extend(chunk);
    }
    Ok(events)
}

impl Snapshot {
    /// Opens (creating when missing) the database at `path` and its tables.
    pub fn open(path: &Path, sync: SyncMode, history: usize) -> Result<Self, BackendError> {
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
                 next_reminder_ms INTEGER,
                 down_reason TEXT NOT NULL DEFAULT 'missed',
                 events_seq INTEGER NOT NULL DEFAULT 0,
                 runs BLOB,
                 schedule TEXT,
                 timezone TEXT,
                 paused_until_ms INTEGER,
                 ack_at_ms INTEGER,
                 ack_note TEXT,
                 resume_deadline_ms INTEGER
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS event_chunks (
                 job TEXT NOT NULL,
                 first_seq INTEGER NOT NULL,
                 last_seq INTEGER NOT NULL,
                 count INTEGER NOT NULL,
                 events BLOB NOT NULL,
                 UNIQUE (job, first_seq)
             );
             CREATE TABLE IF NOT EXISTS outbox (
                 seq INTEGER PRIMARY KEY,
                 id TEXT NOT NULL UNIQUE,
                 job TEXT NOT NULL,
                 alert TEXT NOT NULL,
                 attempts INTEGER NOT NULL,
                 next_attempt_ms INTEGER NOT NULL,
                 channel TEXT NOT NULL DEFAULT ''
             );
             CREATE INDEX IF NOT EXISTS outbox_job ON outbox (job);"
        ))
        .map_err(|e| unavailable(format!("cannot prepare {}: {e}", path.display())))?;
        upgrade(&conn)
            .map_err(|e| unavailable(format!("cannot upgrade {}: {e}", path.display())))?;
        Ok(Self { conn, history })
    }

    /// Replays the segments a previous run left into the snapshot, then removes them.
    /// Returns the highest segment number seen in any lane (0 when none).
    pub fn replay(&mut self, db: &Path) -> Result<u64, String> {
        let segments = codec::segments(db).map_err(|e| format!("cannot list the journal: {e}"))?;
        let Some(last) = segments.iter().map(|s| s.number).max() else {
            return Ok(0);
        };
        let mut ops = Vec::new();
        // Lane by lane, each in order: one job's changes are all in one lane.
        for codec::Segment { path, .. } in &segments {
            let bytes =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let decoded = codec::decode(&bytes);
            if decoded.torn_bytes > 0 {
                // The tail of a write that a crash cut short; it was never acknowledged.
                tracing::warn!(segment = %path.display(), bytes = decoded.torn_bytes, "ignoring an incomplete record at the end of a journal segment");
            }
            ops.extend(decoded.ops);
        }
        let changes = ops.len();
        self.apply(&ops)?;
        for codec::Segment { path, .. } in &segments {
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
        tracing::info!(segments = segments.len(), changes, "journal replayed");
        Ok(last)
    }

    /// Applies changes to the snapshot in one transaction, in order.
    pub fn apply(&mut self, ops: &[Op]) -> Result<(), String> {
        let tx = self.conn.transaction().map_err(|e| e.to_string())?;
        for op in ops {
            match op {
                Op::Upsert(job, events) => {
                    upsert(&tx, job).map_err(|e| e.to_string())?;
                    if !events.is_empty() && self.history > 0 {
                        add_events(&tx, &job.name, events, self.history)?;
                    }
                }
                Op::Delete(name) => {
                    tx.prepare_cached("DELETE FROM jobs WHERE name = ?1")
                        .and_then(|mut s| s.execute([name.as_str()]))
                        .map_err(|e| e.to_string())?;
                    tx.prepare_cached("DELETE FROM outbox WHERE job = ?1")
                        .and_then(|mut s| s.execute([name.as_str()]))
                        .map_err(|e| e.to_string())?;
                    tx.prepare_cached("DELETE FROM event_chunks WHERE job = ?1")
                        .and_then(|mut s| s.execute([name.as_str()]))
                        .map_err(|e| e.to_string())?;
                }
                Op::OutboxPut(p) => {
                    let alert = serde_json::to_string(&p.alert).map_err(|e| e.to_string())?;
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO outbox (seq, id, job, alert, attempts, next_attempt_ms, channel)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            p.seq as i64,
                            p.entry_id(),
                            p.alert.name.as_str(),
                            alert,
                            p.attempts,
                            p.next_attempt_ms,
                            p.channel
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

    /// Moves the database's own write-ahead log into its file, so that a copy of the
    /// file alone is a whole backup.
    pub fn checkpoint(&self) -> Result<(), String> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| e.to_string())
    }

    /// Hands every stored job to `on_job` and returns the pending alerts.
    pub fn load(&self, on_job: &mut dyn FnMut(Job)) -> Result<Loaded, String> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, frequency, frequency_s, grace_s, last_ping_ms, status, down_since_ms,
                        episode_alerts, alerts_sent, pings_total, next_reminder_ms,
                        down_reason, events_seq, runs, schedule, timezone, paused_until_ms,
                        ack_at_ms, ack_note, resume_deadline_ms FROM jobs",
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
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, alert, attempts, next_attempt_ms, channel FROM outbox ORDER BY seq",
            )
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
                    channel: row.get(4).map_err(|e| e.to_string())?,
                    attempts: row.get(2).map_err(|e| e.to_string())?,
                    next_attempt_ms: row.get(3).map_err(|e| e.to_string())?,
                })
            })();
            match parsed {
                Ok(p) => alerts.push(p),
                Err(e) => tracing::warn!(error = %e, "skipping unreadable outbox row"),
            }
        }
        let max_seq: Option<i64> = self
            .conn
            .query_row("SELECT MAX(seq) FROM outbox", [], |r| r.get(0))
            .optional()
            .map_err(|e| e.to_string())?
            .flatten();
        Ok(Loaded {
            alerts,
            max_seq: max_seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        })
    }
}

/// Adds the columns and tables a database of an earlier version lacks.
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let mut present = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('jobs')")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            present.push(row.get::<_, String>(0)?);
        }
    }
    for (column, definition) in ADDED_JOB_COLUMNS {
        if !present.iter().any(|p| p == column) {
            conn.execute_batch(&format!(
                "ALTER TABLE jobs ADD COLUMN {column} {definition}"
            ))?;
            tracing::info!(column, "database upgraded: a column added to jobs");
        }
    }
    // Outbox rows of earlier versions are one per alert, without a channel: they keep
    // the empty key, which the dispatcher sends where those alerts went.
    let has_channel: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('outbox') WHERE name = 'channel'",
        [],
        |r| r.get(0),
    )?;
    if !has_channel {
        conn.execute_batch("ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT ''")?;
        tracing::info!(
            column = "channel",
            "database upgraded: a column added to outbox"
        );
    }
    upgrade_event_rows(conn)
}

/// Moves the histories of the earlier layout (one `events` row per job) into
/// `event_chunks`, one chunk per job, and drops the old table.
fn upgrade_event_rows(conn: &Connection) -> rusqlite::Result<()> {
    let old: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if old.is_none() {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    let mut moved = 0u64;
    {
        let mut read = tx.prepare("SELECT job, events FROM events")?;
        let mut insert = tx.prepare(
            "INSERT OR REPLACE INTO event_chunks (job, first_seq, last_seq, count, events)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut rows = read.query([])?;
        while let Some(row) = rows.next()? {
            let job: String = row.get(0)?;
            let blob: Vec<u8> = row.get(1)?;
            let bounds = EventBytes::from_stored(&blob).and_then(|events| {
                let first = i64::try_from(events.first_seq()?).ok()?;
                let last = i64::try_from(events.last_seq().ok()??).ok()?;
                Some((first, last, events.count()))
            });
            match bounds {
                Some((first, last, count)) => {
                    insert.execute(params![job, first, last, count, blob])?;
                    moved += 1;
                }
                None => tracing::warn!(job, "dropping an unreadable stored history"),
            }
        }
    }
    tx.execute_batch("DROP TABLE events")?;
    tx.commit()?;
    tracing::info!(
        jobs = moved,
        "database upgraded: histories moved into event chunks"
    );
    Ok(())
}

/// Adds `events` to the job's stored history; chunks that hold none of the newest
/// `history` events are dropped when a chunk starts. Events the history already
/// holds (a segment replayed after its fold) are not added twice.
fn add_events(
    tx: &rusqlite::Transaction<'_>,
    job: &JobName,
    events: &EventBytes,
    history: usize,
) -> Result<(), String> {
    let newest: Option<(i64, u32, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT rowid, count, events FROM event_chunks WHERE job = ?1
             ORDER BY first_seq DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row([job.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(|e| e.to_string())?;
    let newest = match newest {
        None => None,
        Some((rowid, count, blob)) => match EventBytes::from_stored(&blob) {
            Some(chunk) => Some((rowid, count, chunk)),
            None => {
                tracing::warn!(job = %job, "dropping a damaged chunk of a stored history");
                tx.execute("DELETE FROM event_chunks WHERE rowid = ?1", [rowid])
                    .map_err(|e| e.to_string())?;
                None
            }
        },
    };
    match newest {
        Some((rowid, count, mut chunk)) if count < CHUNK_EVENTS => {
            if !chunk.merge(events, usize::MAX)? {
                return Ok(());
            }
            let last = seq(chunk.last_seq()?.unwrap_or_default())?;
            let mut blob = Vec::new();
            chunk.put(&mut blob);
            tx.prepare_cached(
                "UPDATE event_chunks SET last_seq = ?2, count = ?3, events = ?4 WHERE rowid = ?1",
            )
            .and_then(|mut s| s.execute(params![rowid, last, chunk.count(), blob]))
            .map_err(|e| e.to_string())?;
        }
        newest => {
            let held = match &newest {
                Some((_, _, chunk)) => chunk.last_seq()?,
                None => None,
            };
            let chunk = events.newer_than(held)?;
            let (Some(first), Some(last)) = (chunk.first_seq(), chunk.last_seq()?) else {
                return Ok(());
            };
            let (first_sql, last_sql) = (seq(first)?, seq(last)?);
            let fallen = seq(last.saturating_sub(history as u64))?;
            let mut blob = Vec::new();
            chunk.put(&mut blob);
            tx.prepare_cached(
                "INSERT OR REPLACE INTO event_chunks (job, first_seq, last_seq, count, events)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    job.as_str(),
                    first_sql,
                    last_sql,
                    chunk.count(),
                    blob
                ])
            })
            .map_err(|e| e.to_string())?;
            tx.prepare_cached("DELETE FROM event_chunks WHERE job = ?1 AND last_seq <= ?2")
                .and_then(|mut s| s.execute(params![job.as_str(), fallen]))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// A seq as SQLite's integer.
fn seq(seq: u64) -> Result<i64, String> {
    i64::try_from(seq).map_err(|_| format!("event seq {seq} out of range"))
}

fn upsert(tx: &rusqlite::Transaction<'_>, job: &Job) -> rusqlite::Result<usize> {
    let runs = match job.runs.as_deref() {
        None => None,
        Some(runs) => {
            let mut buf = Vec::new();
            codec::put_runs(&mut buf, runs)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
            Some(buf)
        }
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO jobs (name, frequency, frequency_s, grace_s, last_ping_ms, status,
             down_since_ms, episode_alerts, alerts_sent, pings_total, next_reminder_ms,
             down_reason, events_seq, runs, schedule, timezone, paused_until_ms, ack_at_ms,
             ack_note, resume_deadline_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20)",
    )?
    .execute(params![
        job.name.as_str(),
        // A schedule job has no frequency: the column, older than schedules, keeps
        // its NOT NULL and reads empty.
        job.frequency().map_or("", |f| f.as_str()),
        job.frequency().map_or(0, |f| f.seconds()) as i64,
        job.grace.seconds() as i64,
        job.last_ping.millis(),
        job.status.as_str(),
        job.down_since.map(UnixTime::millis),
        job.episode_alerts,
        job.alerts_sent as i64,
        job.pings_total as i64,
        job.next_reminder.map(UnixTime::millis),
        job.down_reason.as_str(),
        job.events_seq as i64,
        runs,
        job.schedule().map(|s| s.expression()),
        job.schedule().map(|s| s.timezone()),
        job.paused_until().map(UnixTime::millis),
        job.acknowledged().map(|a| a.at.millis()),
        job.acknowledged().and_then(|a| a.note.as_deref()),
        job.resume_deadline().map(UnixTime::millis),
    ])
}

fn job_from_row(row: &rusqlite::Row<'_>) -> Result<Job, String> {
    let get_i64 = |i: usize| row.get::<_, i64>(i).map_err(|e| e.to_string());
    let get_opt = |i: usize| row.get::<_, Option<i64>>(i).map_err(|e| e.to_string());
    let name: String = row.get(0).map_err(|e| e.to_string())?;
    let name = JobName::parse(&name).map_err(|e| e.to_string())?;
    let get_text = |i: usize| row.get::<_, Option<String>>(i).map_err(|e| e.to_string());
    let cadence = match get_text(14)? {
        Some(expression) => {
            let timezone = get_text(15)?;
            let schedule =
                Schedule::parse(&expression, timezone.as_deref()).map_err(|e| e.to_string())?;
            Cadence::cron(schedule, UnixTime::from_millis(0).ok_or("bad epoch")?)
        }
        None => {
            let frequency: String = row.get(1).map_err(|e| e.to_string())?;
            let frequency_s = u64::try_from(get_i64(2)?).map_err(|e| e.to_string())?;
            Cadence::Every(
                Frequency::from_stored(&frequency, frequency_s).map_err(|e| e.to_string())?,
            )
        }
    };
    let grace = u64::try_from(get_i64(3)?)
        .ok()
        .and_then(Grace::from_secs)
        .ok_or("grace out of range")?;
    let time = |ms: i64| UnixTime::from_millis(ms).ok_or_else(|| format!("bad time {ms}"));
    let status: String = row.get(5).map_err(|e| e.to_string())?;
    let status = Status::parse(&status).ok_or_else(|| format!("bad status {status:?}"))?;
    let mut job = Job {
        name,
        cadence,
        grace,
        last_ping: time(get_i64(4)?)?,
        status,
        down_since: get_opt(6)?.map(time).transpose()?,
        episode_alerts: u32::try_from(get_i64(7)?).unwrap_or(u32::MAX),
        alerts_sent: u64::try_from(get_i64(8)?).unwrap_or(0),
        pings_total: u64::try_from(get_i64(9)?).unwrap_or(0),
        next_reminder: get_opt(10)?.map(time).transpose()?,
        down_reason: {
            let reason: String = row.get(11).map_err(|e| e.to_string())?;
            DownReason::parse(&reason).ok_or_else(|| format!("bad reason {reason:?}"))?
        },
        events_seq: u64::try_from(get_i64(12)?).unwrap_or(0),
        runs: match row
            .get::<_, Option<Vec<u8>>>(13)
            .map_err(|e| e.to_string())?
        {
            None => None,
            Some(blob) => Some(Box::new(codec::decode_runs(&blob).ok_or("damaged runs")?)),
        },
        interventions: None,
    };
    job.set_paused_until(get_opt(16)?.map(time).transpose()?);
    if let Some(at) = get_opt(17)? {
        job.set_acknowledged(Some(Acknowledgement {
            at: time(at)?,
            note: get_text(18)?,
        }));
    }
    job.set_resume_deadline(get_opt(19)?.map(time).transpose()?);
    job.refresh();
    Ok(job)
}

#[cfg(test)]
mod tests;
