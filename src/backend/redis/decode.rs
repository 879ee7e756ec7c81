//! Reading the scripts' replies back into domain types. Stored data is never trusted:
//! a field that does not parse is an error (or a skipped row), never a panic.

use redis::Value;

use crate::backend::outbox::PendingAlert;
use crate::backend::{Counts, PingOutcome};
use crate::domain::{Alert, AlertEvent, Frequency, Grace, Job, JobName, Status, UnixTime};

pub fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

pub fn text(value: &Value) -> Option<&str> {
    bytes(value).and_then(|b| std::str::from_utf8(b).ok())
}

pub fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

fn array(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// What the ping script answered.
pub enum PingReply {
    Outcome {
        outcome: PingOutcome,
        /// The job's wake-up is now the earliest of all.
        earliest: bool,
    },
    FrequencyRequired,
    Full,
    Corrupt,
}

pub fn ping_reply(name: &JobName, reply: &Value) -> Result<PingReply, String> {
    // The lean path's answer: a plain ping of an up job, recorded.
    if let Value::Int(earliest) = reply {
        return Ok(PingReply::Outcome {
            outcome: PingOutcome::Acknowledged,
            earliest: *earliest == 1,
        });
    }
    let items = array(reply).ok_or("not an array")?;
    let code = items.first().and_then(text).ok_or("no outcome")?;
    let job = || -> Result<Job, String> {
        let fields = items.get(1).and_then(array).ok_or("no job")?;
        job(name.clone(), fields)
    };
    let earliest = items.get(2).and_then(int) == Some(1);
    Ok(match code {
        "recorded" => PingReply::Outcome {
            outcome: PingOutcome::Recorded(job()?),
            earliest,
        },
        "recovered" => PingReply::Outcome {
            outcome: PingOutcome::Recovered(job()?),
            earliest,
        },
        "stale" => PingReply::Outcome {
            outcome: PingOutcome::Stale(job()?),
            earliest,
        },
        "frequency" => PingReply::FrequencyRequired,
        "full" => PingReply::Full,
        "corrupt" => PingReply::Corrupt,
        other => return Err(format!("unknown outcome {other:?}")),
    })
}

/// A job from its fields `f s g l d e a p r` (`d` and `r` empty or nil when absent).
pub fn job(name: JobName, fields: &[Value]) -> Result<Job, String> {
    if fields.len() < 9 {
        return Err(format!("{} fields instead of 9", fields.len()));
    }
    let get = |i: usize, what: &str| -> Result<i64, String> {
        int(&fields[i]).ok_or_else(|| format!("bad {what}"))
    };
    let optional = |i: usize, what: &str| -> Result<Option<UnixTime>, String> {
        match &fields[i] {
            Value::Nil => Ok(None),
            value if bytes(value).is_some_and(<[u8]>::is_empty) => Ok(None),
            value => int(value)
                .and_then(UnixTime::from_millis)
                .map(Some)
                .ok_or_else(|| format!("bad {what}")),
        }
    };
    let frequency_text = text(&fields[0]).ok_or("bad frequency")?;
    let frequency_s = u64::try_from(get(1, "frequency seconds")?).map_err(|e| e.to_string())?;
    let frequency =
        Frequency::from_stored(frequency_text, frequency_s).map_err(|e| e.to_string())?;
    let grace = u64::try_from(get(2, "grace")?)
        .ok()
        .and_then(Grace::from_secs)
        .ok_or("grace out of range")?;
    let last_ping = UnixTime::from_millis(get(3, "last ping")?).ok_or("bad last ping")?;
    let down_since = optional(4, "down since")?;
    Ok(Job {
        name,
        frequency,
        grace,
        last_ping,
        status: if down_since.is_some() {
            Status::Down
        } else {
            Status::Up
        },
        down_since,
        episode_alerts: u32::try_from(get(5, "episode alerts")?).unwrap_or(u32::MAX),
        alerts_sent: u64::try_from(get(6, "alerts sent")?).unwrap_or(0),
        pings_total: u64::try_from(get(7, "pings")?).unwrap_or(0),
        next_reminder: optional(8, "next reminder")?,
    })
}

/// A job from its packed value `l|p|k|d|r|e|a|s|g|f` (see `common.lua`).
pub fn packed(name: JobName, value: &[u8]) -> Result<Job, String> {
    let parts: Vec<&[u8]> = value.splitn(10, |&b| b == b'|').collect();
    let [l, p, _k, d, r, e, a, s, g, f] = parts[..] else {
        return Err(format!("{} parts instead of 10", parts.len()));
    };
    let fields: Vec<Value> = [f, s, g, l, d, e, a, p, r]
        .into_iter()
        .map(|part| Value::BulkString(part.to_vec()))
        .collect();
    job(name, &fields)
}

/// The list script's reply: the jobs (unreadable ones skipped) and the counts.
pub fn page(reply: &Value) -> Result<(Vec<Job>, Counts), String> {
    let items = array(reply).ok_or("not an array")?;
    let rows = items.first().and_then(array).ok_or("no jobs")?;
    let total = items.get(1).and_then(int).ok_or("no total")?;
    let down = items.get(2).and_then(int).ok_or("no down count")?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        let parsed = array(row)
            .ok_or_else(|| "a row is not an array".to_owned())
            .and_then(|row| {
                let name = row.first().and_then(text).ok_or("bad name")?;
                let name = JobName::parse(name).map_err(|e| e.to_string())?;
                job(name, &row[1..])
            });
        match parsed {
            Ok(job) => jobs.push(job),
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable job in redis"),
        }
    }
    Ok((
        jobs,
        Counts {
            total: usize::try_from(total).unwrap_or(0),
            down: usize::try_from(down).unwrap_or(0),
        },
    ))
}

/// An outbox entry that cannot be read back, with what is needed to remove it.
pub struct BadEntry {
    pub reason: String,
    pub job: Vec<u8>,
    pub alert_id: Vec<u8>,
}

/// The raw value of field `name` of an entry's `field, value, …` list.
fn field<'a>(fields: &'a [Value], name: &str) -> Option<&'a Value> {
    fields
        .chunks_exact(2)
        .find(|pair| bytes(&pair[0]) == Some(name.as_bytes()))
        .map(|pair| &pair[1])
}

/// An alert from an outbox entry's fields (see `raise` in common.lua).
pub fn entry(
    fields: &[Value],
    attempts: u32,
    next_attempt_ms: i64,
) -> Result<PendingAlert, String> {
    let get = |name: &str| field(fields, name).ok_or_else(|| format!("no field {name}"));
    let number = |name: &str| get(name).and_then(|v| int(v).ok_or_else(|| format!("bad {name}")));
    let time = |name: &str| {
        number(name).and_then(|ms| UnixTime::from_millis(ms).ok_or_else(|| format!("bad {name}")))
    };
    let event = match get("v").map(bytes)? {
        Some(b"d") => AlertEvent::Down,
        Some(b"u") => AlertEvent::Up,
        _ => return Err("bad event".to_owned()),
    };
    let name = get("n")
        .map(text)?
        .ok_or("bad name")
        .and_then(|n| JobName::parse(n).map_err(|_| "bad name"))?;
    let last_ping = time("l")?;
    let expected_by = time("x")?;
    let raised = time("r")?;
    let alert = Alert {
        id: get("i").map(text)?.ok_or("bad id")?.to_owned(),
        event,
        name,
        frequency: get("f").map(text)?.ok_or("bad frequency")?.to_owned(),
        frequency_seconds: u64::try_from(number("s")?).map_err(|e| e.to_string())?,
        grace_seconds: u64::try_from(number("g")?).map_err(|e| e.to_string())?,
        last_ping: last_ping.rfc3339(),
        last_ping_unix: last_ping.secs(),
        expected_by: expected_by.rfc3339(),
        expected_by_unix: expected_by.secs(),
        overdue_seconds: u64::try_from(number("o")?).map_err(|e| e.to_string())?,
        alert_count: u32::try_from(number("c")?).map_err(|e| e.to_string())?,
        raised_at_unix: raised.secs(),
    };
    Ok(PendingAlert {
        seq: u64::try_from(number("q")?).map_err(|e| e.to_string())?,
        alert,
        attempts,
        next_attempt_ms,
    })
}

fn bad_entry(fields: &[Value], reason: String) -> BadEntry {
    let raw = |name: &str| {
        field(fields, name)
            .and_then(bytes)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    };
    BadEntry {
        reason,
        job: raw("n"),
        alert_id: raw("i"),
    }
}

/// An entry as the scripts return it: `{ id, { field, value, … } }`.
fn fields_of(entry: &Value) -> Result<&[Value], String> {
    array(entry)
        .and_then(|e| e.get(1))
        .and_then(array)
        .ok_or_else(|| "an entry is not { id, fields }".to_owned())
}

/// The sweep script's reply: the alerts raised, the unreadable jobs, how many
/// wake-ups were due.
#[allow(clippy::type_complexity)]
pub fn sweep(
    reply: &Value,
) -> Result<(Vec<Result<PendingAlert, String>>, Vec<String>, usize), String> {
    let items = array(reply).ok_or("not an array")?;
    let raised = items.first().and_then(array).ok_or("no alerts")?;
    let alerts = raised
        .iter()
        .map(|e| fields_of(e).and_then(|fields| entry(fields, 0, 0)))
        .collect();
    let unreadable = items
        .get(1)
        .and_then(array)
        .unwrap_or_default()
        .iter()
        .map(|v| String::from_utf8_lossy(bytes(v).unwrap_or_default()).into_owned())
        .collect();
    let examined = items
        .get(2)
        .and_then(int)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or("no count")?;
    Ok((alerts, unreadable, examined))
}

/// The lease script's reply: `{ { id, fields, attempts }, … }`.
pub fn leased(reply: &Value, now_ms: i64) -> Result<Vec<Result<PendingAlert, BadEntry>>, String> {
    let items = array(reply).ok_or("not an array")?;
    Ok(items
        .iter()
        .map(|item| {
            let fields = fields_of(item).map_err(|reason| BadEntry {
                reason,
                job: Vec::new(),
                alert_id: Vec::new(),
            })?;
            let attempts = array(item)
                .and_then(|i| i.get(2))
                .and_then(int)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0);
            entry(fields, attempts, now_ms).map_err(|reason| bad_entry(fields, reason))
        })
        .collect())
}

/// When the first entry of an `XRANGE … COUNT 1` reply was raised, in unix seconds.
pub fn first_raised_at(reply: &Value) -> Option<i64> {
    let first = array(reply)?.first()?;
    let fields = fields_of(first).ok()?;
    field(fields, "r")
        .and_then(int)
        .map(|ms| ms.div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_job_reads_back_from_its_fields() {
        let fields: Vec<Value> = ["1h", "3600", "30", "1000500", "", "0", "2", "7", ""]
            .into_iter()
            .map(bulk)
            .collect();
        let job = job(JobName::parse("j").unwrap(), &fields).unwrap();
        assert_eq!(job.frequency.seconds(), 3_600);
        assert_eq!(job.last_ping.millis(), 1_000_500);
        assert_eq!(
            (job.status, job.down_since, job.next_reminder),
            (Status::Up, None, None)
        );
        assert_eq!((job.alerts_sent, job.pings_total), (2, 7));
    }

    #[test]
    fn a_job_reads_back_from_its_packed_value() {
        let up = packed(
            JobName::parse("j").unwrap(),
            b"1000500|7|1|||0|2|3600|30|1h",
        )
        .unwrap();
        assert_eq!(
            (
                up.frequency.seconds(),
                up.grace.seconds(),
                up.last_ping.millis()
            ),
            (3_600, 30, 1_000_500)
        );
        assert_eq!(
            (up.status, up.alerts_sent, up.pings_total),
            (Status::Up, 2, 7)
        );
        let down = packed(
            JobName::parse("j").unwrap(),
            b"1000500|7||4600500|8200500|3|5|3600|0|1h",
        )
        .unwrap();
        assert_eq!(down.status, Status::Down);
        assert_eq!(down.down_since.map(UnixTime::millis), Some(4_600_500));
        assert_eq!(down.next_reminder.map(UnixTime::millis), Some(8_200_500));
        assert_eq!(down.episode_alerts, 3);
        for bad in [
            &b""[..],
            b"1000500|7|1|||0|2|3600|30",
            b"1000500|7|1|||0|2|3600|x|1h",
            b"1000500|7|1|soon||0|2|3600|30|1h",
            b"1000500|7|1|||0|2|60|30|1h",
        ] {
            assert!(
                packed(JobName::parse("j").unwrap(), bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn corrupt_fields_are_errors_not_panics() {
        for bad in [
            vec!["1h", "60", "0", "1", "", "0", "0", "1", ""],
            vec!["1h", "3600", "x", "1", "", "0", "0", "1", ""],
            vec!["1h", "3600", "0", "-5", "", "0", "0", "1", ""],
            vec!["1h", "3600", "0", "1", "soon", "0", "0", "1", ""],
            vec!["1h"],
        ] {
            let fields: Vec<Value> = bad.iter().copied().map(bulk).collect();
            assert!(
                job(JobName::parse("j").unwrap(), &fields).is_err(),
                "{bad:?}"
            );
        }
        assert!(ping_reply(&JobName::parse("j").unwrap(), &Value::Nil).is_err());
        assert!(leased(&Value::Array(vec![Value::Nil]), 0).unwrap()[0].is_err());
    }

    #[test]
    fn an_outbox_entry_reads_back_as_its_alert() {
        let fields: Vec<Value> = [
            "i",
            "01JD0000000000000000000000",
            "v",
            "d",
            "n",
            "backup",
            "f",
            "1D",
            "s",
            "86400",
            "g",
            "0",
            "l",
            "1795143600000",
            "x",
            "1795230000000",
            "o",
            "61",
            "c",
            "1",
            "r",
            "1795230061000",
            "q",
            "9",
        ]
        .into_iter()
        .map(bulk)
        .collect();
        let pending = entry(&fields, 2, 5).unwrap();
        assert_eq!(pending.seq, 9);
        assert_eq!(pending.attempts, 2);
        let alert = pending.alert;
        assert_eq!(alert.event, AlertEvent::Down);
        assert_eq!(alert.expected_by, "2026-11-21T03:00:00Z");
        assert_eq!(alert.expected_by_unix, 1_795_230_000);
        assert_eq!((alert.overdue_seconds, alert.alert_count), (61, 1));
        assert_eq!(alert.raised_at_unix, 1_795_230_061);
        let mut broken = fields.clone();
        broken[3] = bulk("x");
        assert!(entry(&broken, 0, 0).is_err());
    }
}
