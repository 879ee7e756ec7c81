//! The journal's record format and the names of its segment files: what a change
//! looks like on disk ([`Op`], [`encode`], [`decode`]) and where each lane's numbered
//! segments live next to the database ([`segments`], [`segment_path`]).
//!
//! A record is `[payload length: u32 LE][CRC-32 of the payload: u32 LE][payload]`.
//! Every record holds a whole state (a job's full row, an alert with its attempts), so
//! replaying a segment twice over a snapshot that already holds it changes nothing.
//! Reading stops at the first short or damaged record: only a crash in the middle of a
//! `write` leaves one, and that write was never acknowledged.

use std::path::{Path, PathBuf};

use crate::backend::PendingAlert;
use crate::domain::{Alert, Frequency, Grace, Job, JobName, Status, UnixTime};

/// One change to make durable.
#[derive(Debug, Clone)]
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
    /// Writes nothing but a record: proves that the log still accepts writes.
    Check,
}

const UPSERT: u8 = 1;
const DELETE: u8 = 2;
const OUTBOX_PUT: u8 = 3;
const OUTBOX_ACK: u8 = 4;
const OUTBOX_RETRY: u8 = 5;
const CHECK: u8 = 6;

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
        Op::Upsert(job) => {
            buf.push(UPSERT);
            put_str(buf, job.name.as_str())?;
            put_str(buf, job.frequency.as_str())?;
            put_u64(buf, job.frequency.seconds());
            put_u64(buf, job.grace.seconds());
            put_i64(buf, job.last_ping.millis());
            buf.push(match job.status {
                Status::Up => 0,
                Status::Down => 1,
            });
            put_i64(buf, job.down_since.map_or(NO_TIME, UnixTime::millis));
            put_u64(buf, u64::from(job.episode_alerts));
            put_u64(buf, job.alerts_sent);
            put_u64(buf, job.pings_total);
            put_i64(buf, job.next_reminder.map_or(NO_TIME, UnixTime::millis));
        }
        Op::Delete(name) => {
            buf.push(DELETE);
            put_str(buf, name.as_str())?;
        }
        Op::OutboxPut(p) => {
            buf.push(OUTBOX_PUT);
            put_u64(buf, p.seq);
            let alert = serde_json::to_string(&p.alert).map_err(|e| e.to_string())?;
            put_str(buf, &alert)?;
            put_u64(buf, u64::from(p.attempts));
            put_i64(buf, p.next_attempt_ms);
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

    fn time(&mut self) -> Option<Option<UnixTime>> {
        match self.i64()? {
            NO_TIME => Some(None),
            ms => Some(Some(UnixTime::from_millis(ms)?)),
        }
    }
}

fn decode_payload(payload: &[u8]) -> Option<Op> {
    let mut r = Reader { bytes: payload };
    let op = match r.u8()? {
        UPSERT => {
            let name = JobName::parse(r.str()?).ok()?;
            let text = r.str()?;
            let seconds = r.u64()?;
            let frequency = Frequency::from_stored(text, seconds).ok()?;
            let grace = Grace::from_secs(r.u64()?)?;
            let last_ping = UnixTime::from_millis(r.i64()?)?;
            let status = match r.u8()? {
                0 => Status::Up,
                1 => Status::Down,
                _ => return None,
            };
            Op::Upsert(Job {
                name,
                frequency,
                grace,
                last_ping,
                status,
                down_since: r.time()?,
                episode_alerts: u32::try_from(r.u64()?).ok()?,
                alerts_sent: r.u64()?,
                pings_total: r.u64()?,
                next_reminder: r.time()?,
                down_reason: crate::domain::DownReason::Missed,
                runs: None,
                events_seq: 0,
            })
        }
        DELETE => Op::Delete(JobName::parse(r.str()?).ok()?),
        OUTBOX_PUT => {
            let seq = r.u64()?;
            let alert: Alert = serde_json::from_str(r.str()?).ok()?;
            Op::OutboxPut(PendingAlert {
                seq,
                alert,
                attempts: u32::try_from(r.u64()?).ok()?,
                next_attempt_ms: r.i64()?,
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
mod tests {
    use super::*;
    use crate::domain::AlertEvent;
    use proptest::prelude::*;

    fn job(name: &str, last_ping_ms: i64, down: bool) -> Job {
        Job {
            name: JobName::parse(name).unwrap(),
            frequency: Frequency::parse("1h 30m").unwrap(),
            grace: Grace::parse("30s").unwrap(),
            last_ping: UnixTime::from_millis(last_ping_ms).unwrap(),
            status: if down { Status::Down } else { Status::Up },
            down_since: down.then(|| UnixTime::from_millis(last_ping_ms + 5_430_000).unwrap()),
            episode_alerts: u32::from(down),
            alerts_sent: 7,
            pings_total: 12,
            next_reminder: None,
            down_reason: Default::default(),
            runs: None,
            events_seq: 0,
        }
    }

    fn sample_ops() -> Vec<Op> {
        let down = job("nightly backup", 1_795_000_000_123, true);
        let alert = Alert::new(
            Alert::fresh_id(),
            &down,
            AlertEvent::Down,
            UnixTime::from_secs(1_795_006_000).unwrap(),
        );
        vec![
            Op::Upsert(job("a", 1_795_000_000_000, false)),
            Op::Upsert(down),
            Op::OutboxPut(PendingAlert {
                seq: 42,
                alert,
                attempts: 3,
                next_attempt_ms: 1_795_006_001_000,
            }),
            Op::OutboxRetry {
                id: "01J".into(),
                attempts: 4,
                next_attempt_ms: 9,
            },
            Op::OutboxAck("01J".into()),
            Op::Delete(JobName::parse("a").unwrap()),
            Op::Check,
        ]
    }

    #[test]
    fn records_round_trip() {
        let ops = sample_ops();
        let mut buf = Vec::new();
        encode(&ops, &mut buf).unwrap();
        let decoded = decode(&buf);
        assert_eq!(decoded.torn_bytes, 0);
        assert_eq!(format!("{:?}", decoded.ops), format!("{ops:?}"));
    }

    #[test]
    fn reading_stops_at_a_torn_or_damaged_record() {
        let ops = sample_ops();
        let mut buf = Vec::new();
        encode(&ops, &mut buf).unwrap();
        let whole = buf.len();
        // A write cut short: every whole record before it is read.
        let mut first = Vec::new();
        encode(&ops[..1], &mut first).unwrap();
        let cut = decode(&buf[..whole - 3]);
        assert_eq!(cut.ops.len(), ops.len() - 1);
        assert!(cut.torn_bytes > 0);
        // A flipped bit in the second record: only the first is read.
        let mut damaged = buf.clone();
        damaged[first.len() + HEADER + 2] ^= 0x40;
        let read = decode(&damaged);
        assert_eq!(read.ops.len(), 1);
        assert_eq!(read.torn_bytes, whole - first.len());
    }

    #[test]
    fn segment_names_sort_by_lane_then_number() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        for (lane, n) in [(1, 10), (0, 2), (1, 1), (12, 3)] {
            std::fs::write(segment_path(&db, lane, n), b"").unwrap();
        }
        // As versions with one lane named them: lane 0.
        std::fs::write(dir.path().join("o.db.log.00000000000000000001"), b"").unwrap();
        std::fs::write(dir.path().join("o.db.log.x"), b"").unwrap();
        std::fs::write(dir.path().join("o.db.log.1.x"), b"").unwrap();
        std::fs::write(dir.path().join("other.db.log.3"), b"").unwrap();
        let found: Vec<(usize, u64)> = segments(&db)
            .unwrap()
            .into_iter()
            .map(|s| (s.lane, s.number))
            .collect();
        assert_eq!(found, vec![(0, 1), (0, 2), (1, 1), (1, 10), (12, 3)]);
    }

    proptest! {
        /// Arbitrary bytes never panic the reader, and what it reads re-encodes to a
        /// prefix of the input.
        #[test]
        fn arbitrary_bytes_are_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let decoded = decode(&bytes);
            let mut again = Vec::new();
            encode(&decoded.ops, &mut again).unwrap();
            prop_assert_eq!(again.len() + decoded.torn_bytes, bytes.len());
        }

        #[test]
        fn any_cut_reads_a_prefix(cut in 0usize..2_000) {
            let ops = sample_ops();
            let mut buf = Vec::new();
            encode(&ops, &mut buf).unwrap();
            let cut = cut.min(buf.len());
            let decoded = decode(&buf[..cut]);
            prop_assert!(decoded.ops.len() <= ops.len());
            prop_assert_eq!(format!("{:?}", decoded.ops), format!("{:?}", &ops[..decoded.ops.len()]));
        }
    }
}
