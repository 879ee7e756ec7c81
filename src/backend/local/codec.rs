//! The journal's record format and the names of its segment files: what a change
//! looks like on disk ([`Op`], [`encode`], [`decode`]) and where each lane's numbered
//! segments live next to the database ([`segments`], [`segment_path`]).
//!
//! A record is `[payload length: u32 LE][CRC-32 of the payload: u32 LE][payload]`.
//! Every record holds a whole state (a job's full row, an alert with its attempts), so
//! replaying a segment twice over a snapshot that already holds it changes nothing.
//! Reading stops at the first short or damaged record: only a crash in the middle of a
//! `write` leaves one, and that write was never acknowledged.
//!
//! A job's upsert carries the events of its change (SPEC §13) in the same record, in a
//! compact binary form rendered to JSON only when read: the change and its events are
//! one durable step, and a ping pays one small `write` for both. Records of the
//! earlier versions (tag 1, without runs, reason, event counter or events; tag 7,
//! without schedule, pause or acknowledgement) still read.
//! The same forms of a job's runs and of its events are the snapshot's blobs.

use std::path::{Path, PathBuf};

mod events;

pub use events::EventBytes;

use crate::backend::PendingAlert;
use crate::domain::{
    Acknowledgement, Alert, Cadence, DownReason, Frequency, Grace, Job, JobName, OpenRun, RunId,
    Runs, Schedule, Status, UnixTime,
};

/// One change to make durable.
#[derive(Debug, Clone)]
pub enum Op {
    /// A job's whole new state and the events its change recorded, oldest first.
    Upsert(Job, EventBytes),
    /// Deletes the job and its undelivered alerts.
    Delete(JobName),
    OutboxPut(PendingAlert),
    OutboxAck(String),
    OutboxRetry {
        id: String,
        attempts: u32,
        next_attempt_ms: i64,
    },
    /// Writes nothing but a record: proves that the log still accepts writes.
    Check,
}

/// A job without runs, reason, event counter or events: written by earlier versions.
const UPSERT_V1: u8 = 1;
const DELETE: u8 = 2;
const OUTBOX_PUT: u8 = 3;
const OUTBOX_ACK: u8 = 4;
const OUTBOX_RETRY: u8 = 5;
const CHECK: u8 = 6;
/// A job with its runs, reason and event counter, and the events of its change: written
/// by earlier versions.
const UPSERT_V7: u8 = 7;
/// A job with its cadence (frequency or schedule), runs, reason, event counter, pause,
/// acknowledgement and resume deadline, and the events of its change.
const UPSERT: u8 = 8;
/// An outbox entry with its channel's key (one entry per alert and channel); tag 3,
/// an entry without a channel, is still read.
const OUTBOX_PUT_CHANNEL: u8 = 9;

/// `None` in an optional time field.
const NO_TIME: i64 = i64::MIN;

const HEADER: usize = 8;

/// Appends the records of `ops` to `buf`.
pub fn encode(ops: &[Op], buf: &mut Vec<u8>) -> Result<(), String> {
    for op in ops {
        let start = buf.len();
        buf.extend_from_slice(&[0; HEADER]);
        encode_payload(op, buf)?;
        let payload = buf.get(start + HEADER..).unwrap_or_default();
        let len = u32::try_from(payload.len()).map_err(|_| "record too large".to_owned())?;
        let crc = crc32fast::hash(payload);
        if let Some(header) = buf.get_mut(start..start + HEADER) {
            header[..4].copy_from_slice(&len.to_le_bytes());
            header[4..].copy_from_slice(&crc.to_le_bytes());
        }
    }
    Ok(())
}

fn encode_payload(op: &Op, buf: &mut Vec<u8>) -> Result<(), String> {
    match op {
        Op::Upsert(job, events) => {
            buf.push(UPSERT);
            put_job(buf, job)?;
            events.put(buf);
        }
        Op::Delete(name) => {
            buf.push(DELETE);
            put_str(buf, name.as_str())?;
        }
        Op::OutboxPut(p) => {
            buf.push(OUTBOX_PUT_CHANNEL);
            put_u64(buf, p.seq);
            let alert = serde_json::to_string(&p.alert).map_err(|e| e.to_string())?;
            put_str(buf, &alert)?;
            put_u64(buf, u64::from(p.attempts));
            put_i64(buf, p.next_attempt_ms);
            put_str(buf, &p.channel)?;
        }
        Op::OutboxAck(id) => {
            buf.push(OUTBOX_ACK);
            put_str(buf, id)?;
        }
        Op::OutboxRetry {
            id,
            attempts,
            next_attempt_ms,
        } => {
            buf.push(OUTBOX_RETRY);
            put_str(buf, id)?;
            put_u64(buf, u64::from(*attempts));
            put_i64(buf, *next_attempt_ms);
        }
        Op::Check => buf.push(CHECK),
    }
    Ok(())
}

/// A whole job: the form of the current upsert record.
fn put_job(buf: &mut Vec<u8>, job: &Job) -> Result<(), String> {
    put_str(buf, job.name.as_str())?;
    match &job.cadence {
        Cadence::Every(frequency) => {
            buf.push(0);
            put_str(buf, frequency.as_str())?;
            put_u64(buf, frequency.seconds());
        }
        Cadence::Cron(scheduled) => {
            buf.push(1);
            put_str(buf, scheduled.schedule().expression())?;
            put_str(buf, scheduled.schedule().timezone())?;
        }
    }
    put_u64(buf, job.grace.seconds());
    put_i64(buf, job.last_ping.millis());
    buf.push(status_code(job.status));
    put_i64(buf, job.down_since.map_or(NO_TIME, UnixTime::millis));
    put_u64(buf, u64::from(job.episode_alerts));
    put_u64(buf, job.alerts_sent);
    put_u64(buf, job.pings_total);
    put_i64(buf, job.next_reminder.map_or(NO_TIME, UnixTime::millis));
    buf.push(reason_code(job.down_reason));
    put_u64(buf, job.events_seq);
    match job.runs.as_deref() {
        None => buf.push(0),
        Some(runs) => {
            buf.push(1);
            put_runs(buf, runs)?;
        }
    }
    put_i64(buf, job.paused_until().map_or(NO_TIME, UnixTime::millis));
    match job.acknowledged() {
        None => buf.push(0),
        Some(ack) => {
            buf.push(1);
            put_i64(buf, ack.at.millis());
            put_opt_str(buf, ack.note.as_deref())?;
        }
    }
    put_i64(buf, job.resume_deadline().map_or(NO_TIME, UnixTime::millis));
    Ok(())
}

fn status_code(status: Status) -> u8 {
    match status {
        Status::Up => 0,
        Status::Down => 1,
        Status::Paused => 2,
    }
}

fn status_from(code: u8) -> Option<Status> {
    Some(match code {
        0 => Status::Up,
        1 => Status::Down,
        2 => Status::Paused,
        _ => return None,
    })
}

fn reason_code(reason: DownReason) -> u8 {
    match reason {
        DownReason::Missed => 0,
        DownReason::Failed => 1,
        DownReason::RunTimeout => 2,
    }
}

fn reason_from(code: u8) -> Option<DownReason> {
    Some(match code {
        0 => DownReason::Missed,
        1 => DownReason::Failed,
        2 => DownReason::RunTimeout,
        _ => return None,
    })
}

/// A job's runs: the form of the journal and of the snapshot's `runs` column.
pub fn put_runs(buf: &mut Vec<u8>, runs: &Runs) -> Result<(), String> {
    let open = u8::try_from(runs.open.len()).map_err(|_| "too many open runs".to_owned())?;
    buf.push(open);
    for run in &runs.open {
        put_opt_str(buf, run.rid.as_ref().map(RunId::as_str))?;
        put_i64(buf, run.started.millis());
        buf.push(u8::from(run.timed_out));
    }
    put_opt_u64(buf, runs.last_duration_ms);
    put_opt_u64(buf, runs.last_exit_code.map(u64::from));
    put_opt_u64(buf, runs.max_runtime);
    buf.push(runs.failure_tolerance);
    put_u64(buf, u64::from(runs.consecutive_failures));
    Ok(())
}

fn put_opt_u64(buf: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => buf.push(0),
        Some(v) => {
            buf.push(1);
            put_u64(buf, v);
        }
    }
}

fn put_opt_str(buf: &mut Vec<u8>, s: Option<&str>) -> Result<(), String> {
    match s {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            put_str(buf, s)?;
        }
    }
    Ok(())
}

fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_str(buf: &mut Vec<u8>, s: &str) -> Result<(), String> {
    let len = u32::try_from(s.len()).map_err(|_| "string too long".to_owned())?;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
    Ok(())
}

/// What reading a segment found.
#[derive(Debug, Default)]
pub struct Decoded {
    pub ops: Vec<Op>,
    /// Bytes after the last whole record (a write cut short by a crash).
    pub torn_bytes: usize,
}

/// Reads every whole record of a segment, in order.
pub fn decode(bytes: &[u8]) -> Decoded {
    let mut ops = Vec::new();
    let mut at = 0;
    while let Some(op) = next_record(bytes, &mut at) {
        ops.push(op);
    }
    Decoded {
        ops,
        torn_bytes: bytes.len() - at.min(bytes.len()),
    }
}

/// The record at `*at`, advancing past it; `None` at the end or at a damaged record.
fn next_record(bytes: &[u8], at: &mut usize) -> Option<Op> {
    let header = bytes.get(*at..at.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes(header.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header.get(4..)?.try_into().ok()?);
    let start = *at + HEADER;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let op = decode_payload(payload)?;
    *at = start + len;
    Some(op)
}

/// A cursor over one payload; every read fails instead of panicking on short input.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn opt_u64(&mut self) -> Option<Option<u64>> {
        match self.bool()? {
            false => Some(None),
            true => Some(Some(self.u64()?)),
        }
    }

    fn opt_str(&mut self) -> Option<Option<&'a str>> {
        match self.bool()? {
            false => Some(None),
            true => Some(Some(self.str()?)),
        }
    }

    fn time(&mut self) -> Option<Option<UnixTime>> {
        match self.i64()? {
            NO_TIME => Some(None),
            ms => Some(Some(UnixTime::from_millis(ms)?)),
        }
    }
}

/// A job as [`put_job`] wrote it.
fn read_job(r: &mut Reader<'_>) -> Option<Job> {
    let name = JobName::parse(r.str()?).ok()?;
    let cadence = match r.u8()? {
        0 => read_frequency(r)?,
        1 => {
            let expression = r.str()?;
            let schedule = Schedule::parse(expression, Some(r.str()?)).ok()?;
            // The next fire is computed once the last ping is known.
            Cadence::cron(schedule, UnixTime::from_millis(0)?)
        }
        _ => return None,
    };
    let mut job = read_job_from_grace(r, name, cadence, status_from)?;
    job.down_reason = reason_from(r.u8()?)?;
    job.events_seq = r.u64()?;
    job.runs = match r.u8()? {
        0 => None,
        1 => Some(Box::new(read_runs(r)?)),
        _ => return None,
    };
    job.set_paused_until(r.time()?);
    job.set_acknowledged(match r.u8()? {
        0 => None,
        1 => Some(Acknowledgement {
            at: UnixTime::from_millis(r.i64()?)?,
            note: r.opt_str()?.map(str::to_owned),
        }),
        _ => return None,
    });
    job.set_resume_deadline(r.time()?);
    job.refresh();
    Some(job)
}

fn read_frequency(r: &mut Reader<'_>) -> Option<Cadence> {
    let text = r.str()?;
    let seconds = r.u64()?;
    Some(Cadence::Every(Frequency::from_stored(text, seconds).ok()?))
}

/// The fields of the first record version; the others take their defaults.
fn read_job_v1(r: &mut Reader<'_>) -> Option<Job> {
    let name = JobName::parse(r.str()?).ok()?;
    let cadence = read_frequency(r)?;
    // Earlier versions knew no paused status.
    read_job_from_grace(r, name, cadence, |code| {
        status_from(code).filter(|s| *s != Status::Paused)
    })
}

/// The fields every version writes in the same form, from the grace on.
fn read_job_from_grace(
    r: &mut Reader<'_>,
    name: JobName,
    cadence: Cadence,
    status: impl FnOnce(u8) -> Option<Status>,
) -> Option<Job> {
    let grace = Grace::from_secs(r.u64()?)?;
    let last_ping = UnixTime::from_millis(r.i64()?)?;
    let status = status(r.u8()?)?;
    Some(Job {
        name,
        cadence,
        grace,
        last_ping,
        status,
        down_since: r.time()?,
        episode_alerts: u32::try_from(r.u64()?).ok()?,
        alerts_sent: r.u64()?,
        pings_total: r.u64()?,
        next_reminder: r.time()?,
        down_reason: DownReason::Missed,
        runs: None,
        events_seq: 0,
        interventions: None,
    })
}

fn read_runs(r: &mut Reader<'_>) -> Option<Runs> {
    let count = r.u8()?;
    let mut open = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let rid = r.opt_str()?.map(RunId::parse).transpose().ok()?;
        let started = UnixTime::from_millis(r.i64()?)?;
        let timed_out = r.bool()?;
        open.push(OpenRun {
            rid,
            started,
            timed_out,
        });
    }
    Some(Runs {
        open,
        last_duration_ms: r.opt_u64()?,
        last_exit_code: r.opt_u64()?.map(u8::try_from).transpose().ok()?,
        max_runtime: r.opt_u64()?,
        failure_tolerance: r.u8()?,
        consecutive_failures: u32::try_from(r.u64()?).ok()?,
    })
}

/// A job's runs as [`put_runs`] wrote them; `None` when damaged.
pub fn decode_runs(bytes: &[u8]) -> Option<Runs> {
    let mut r = Reader { bytes };
    let runs = read_runs(&mut r)?;
    r.bytes.is_empty().then_some(runs)
}

fn decode_payload(payload: &[u8]) -> Option<Op> {
    let mut r = Reader { bytes: payload };
    let op = match r.u8()? {
        UPSERT_V1 => Op::Upsert(read_job_v1(&mut r)?, EventBytes::default()),
        UPSERT => {
            let job = read_job(&mut r)?;
            Op::Upsert(job, EventBytes::read(&mut r)?)
        }
        UPSERT_V7 => {
            let mut job = read_job_v1(&mut r)?;
            job.down_reason = reason_from(r.u8()?)?;
            job.events_seq = r.u64()?;
            job.runs = match r.u8()? {
                0 => None,
                1 => Some(Box::new(read_runs(&mut r)?)),
                _ => return None,
            };
            Op::Upsert(job, EventBytes::read(&mut r)?)
        }
        DELETE => Op::Delete(JobName::parse(r.str()?).ok()?),
        tag @ (OUTBOX_PUT | OUTBOX_PUT_CHANNEL) => {
            let seq = r.u64()?;
            let alert: Alert = serde_json::from_str(r.str()?).ok()?;
            let attempts = u32::try_from(r.u64()?).ok()?;
            let next_attempt_ms = r.i64()?;
            let channel = match tag {
                OUTBOX_PUT_CHANNEL => r.str()?.to_owned(),
                _ => String::new(),
            };
            Op::OutboxPut(PendingAlert {
                seq,
                alert,
                channel,
                attempts,
                next_attempt_ms,
            })
        }
        OUTBOX_ACK => Op::OutboxAck(r.str()?.to_owned()),
        OUTBOX_RETRY => Op::OutboxRetry {
            id: r.str()?.to_owned(),
            attempts: u32::try_from(r.u64()?).ok()?,
            next_attempt_ms: r.i64()?,
        },
        CHECK => Op::Check,
        _ => return None,
    };
    r.bytes.is_empty().then_some(op)
}

/// One segment file of the log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Segment {
    pub lane: usize,
    pub number: u64,
    pub path: PathBuf,
}

/// The segment files of the database at `db`, lane by lane, each lane oldest first:
/// `<db>.log.<lane>.<number>` (and `<db>.log.<number>`, lane 0, as earlier versions
/// named them).
pub fn segments(db: &Path) -> std::io::Result<Vec<Segment>> {
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(prefix) = db
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| format!("{n}.log."))
    else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let parsed = match rest.split_once('.') {
            Some((lane, number)) => lane.parse().ok().zip(number.parse().ok()),
            None => rest.parse().ok().map(|number| (0, number)),
        };
        if let Some((lane, number)) = parsed {
            found.push(Segment {
                lane,
                number,
                path: entry.path(),
            });
        }
    }
    found.sort();
    Ok(found)
}

/// The path of segment `number` of `lane` of the database at `db`.
pub fn segment_path(db: &Path, lane: usize, number: u64) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(format!(".log.{lane:02}.{number:020}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests;
