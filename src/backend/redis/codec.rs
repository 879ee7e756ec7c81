//! What overdue writes into Redis and reads back: a job packed in one value of the
//! `jobs` hash, and an alert as the fields of its outbox entry. Only this file reads or
//! writes either whole; the quick path of `ping.lua` matches a packed value with its own
//! pattern to rewrite a plain ping in place. Stored data is never trusted: a value that
//! does not parse is an error, never a panic.

use crate::backend::outbox::PendingAlert;
use crate::domain::{
    Alert, AlertEvent, DownReason, Frequency, Grace, Job, JobName, Reason, Status, UnixTime,
};

/// A job as stored, with its late-ping mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub job: Job,
    /// The last ping's deadline had already passed when it was recorded: a restart of
    /// the deployment gives such a job no startup grace (it was late while monitored).
    pub late: bool,
}

impl Stored {
    /// `job` after a ping recorded at `now`: late when its deadline has passed.
    pub fn pinged(job: Job, now: UnixTime) -> Self {
        let late = job.deadline() <= now;
        Self { job, late }
    }
}

/// The job packed as `l|p|k|d|r|e|a|s|g|f`: l last ping (unix ms), p pings, k `1` when
/// late (see [`Stored::late`]), d down since and r next reminder (unix ms, only while
/// down, else empty), e alerts of the episode, a alerts sent, s frequency seconds, g
/// grace seconds, f the frequency as sent (last: it is free text). Numbers are
/// canonical integers, so that the quick path compares them as text.
pub fn pack(stored: &Stored) -> String {
    let job = &stored.job;
    let time = |at: Option<UnixTime>| at.map(|at| at.millis().to_string()).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        job.last_ping.millis(),
        job.pings_total,
        if stored.late { "1" } else { "" },
        time(job.down_since),
        time(job.next_reminder),
        job.episode_alerts,
        job.alerts_sent,
        job.frequency.seconds(),
        job.grace.seconds(),
        job.frequency.as_str(),
    )
}

/// The job `name` from its packed value (see [`pack`]).
pub fn unpack(name: JobName, value: &[u8]) -> Result<Stored, String> {
    let value = std::str::from_utf8(value).map_err(|_| "not UTF-8".to_owned())?;
    let parts: Vec<&str> = value.splitn(10, '|').collect();
    let [l, p, k, d, r, e, a, s, g, f] = parts[..] else {
        return Err(format!("{} parts instead of 10", parts.len()));
    };
    let count = |part: &str, what: &str| -> Result<u64, String> {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad {what}"));
        }
        part.parse::<u64>().map_err(|_| format!("bad {what}"))
    };
    let time = |part: &str, what: &str| -> Result<UnixTime, String> {
        count(part, what)
            .ok()
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(UnixTime::from_millis)
            .ok_or_else(|| format!("bad {what}"))
    };
    let optional = |part: &str, what: &str| -> Result<Option<UnixTime>, String> {
        if part.is_empty() {
            Ok(None)
        } else {
            time(part, what).map(Some)
        }
    };
    let late = match k {
        "" => false,
        "1" => true,
        _ => return Err("bad late mark".to_owned()),
    };
    let frequency =
        Frequency::from_stored(f, count(s, "frequency seconds")?).map_err(|e| e.to_string())?;
    let grace = Grace::from_secs(count(g, "grace")?).ok_or("grace out of range")?;
    let down_since = optional(d, "down since")?;
    let job = Job {
        name,
        frequency,
        grace,
        last_ping: time(l, "last ping")?,
        status: if down_since.is_some() {
            Status::Down
        } else {
            Status::Up
        },
        down_since,
        episode_alerts: u32::try_from(count(e, "episode alerts")?).unwrap_or(u32::MAX),
        alerts_sent: count(a, "alerts sent")?,
        pings_total: count(p, "pings")?,
        next_reminder: optional(r, "next reminder")?,
        down_reason: DownReason::Missed,
        runs: None,
        events_seq: 0,
    };
    Ok(Stored { job, late })
}

/// The fields of `alert`'s outbox entry, raised at `raised`, in the order the store
/// script writes them, without the two it adds: `n` (the job's name, which the change
/// names) and `q` (the alert's sequence number, counted in Redis). Times are unix ms.
pub fn alert_fields(alert: &Alert, raised: UnixTime) -> [String; 10] {
    let event = match alert.event {
        AlertEvent::Down => "d",
        AlertEvent::Up => "u",
    };
    [
        alert.id.clone(),
        event.to_owned(),
        alert.frequency.clone(),
        alert.frequency_seconds.to_string(),
        alert.grace_seconds.to_string(),
        alert.last_ping_unix.saturating_mul(1000).to_string(),
        alert.expected_by_unix.saturating_mul(1000).to_string(),
        alert.overdue_seconds.to_string(),
        alert.alert_count.to_string(),
        raised.millis().to_string(),
    ]
}

/// The raw value of field `name` of an entry's `field, value, …` list.
pub fn field<'a>(fields: &'a [redis::Value], name: &str) -> Option<&'a redis::Value> {
    fields
        .chunks_exact(2)
        .find(|pair| super::decode::bytes(&pair[0]) == Some(name.as_bytes()))
        .map(|pair| &pair[1])
}

/// An alert from its outbox entry's fields (see [`alert_fields`]).
pub fn entry(
    fields: &[redis::Value],
    attempts: u32,
    next_attempt_ms: i64,
) -> Result<PendingAlert, String> {
    use super::decode::{bytes, int, text};
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
        reason: match event {
            AlertEvent::Down => Reason::Missed,
            AlertEvent::Up => Reason::Recovered,
        },
        exit_code: None,
        duration_ms: None,
        log: None,
        raised_at_unix: raised.secs(),
    };
    Ok(PendingAlert {
        seq: u64::try_from(number("q")?).map_err(|e| e.to_string())?,
        alert,
        attempts,
        next_attempt_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn name() -> JobName {
        JobName::parse("j").unwrap()
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_job_reads_back_from_its_packed_value() {
        let up = unpack(name(), b"1000500|7|1|||0|2|3600|30|1h").unwrap();
        assert!(up.late);
        let job = &up.job;
        assert_eq!(
            (
                job.frequency.seconds(),
                job.grace.seconds(),
                job.last_ping.millis()
            ),
            (3_600, 30, 1_000_500)
        );
        assert_eq!(
            (job.status, job.alerts_sent, job.pings_total),
            (Status::Up, 2, 7)
        );
        let down = unpack(name(), b"1000500|7||4600500|8200500|3|5|3600|0|1h").unwrap();
        assert!(!down.late);
        assert_eq!(down.job.status, Status::Down);
        assert_eq!(down.job.down_since.map(UnixTime::millis), Some(4_600_500));
        assert_eq!(
            down.job.next_reminder.map(UnixTime::millis),
            Some(8_200_500)
        );
        assert_eq!(down.job.episode_alerts, 3);
    }

    #[test]
    fn packing_and_unpacking_give_back_the_same_value() {
        for value in [
            "1000500|7|1|||0|2|3600|30|1h",
            "1000500|7||4600500|8200500|3|5|3600|0|1h",
            "1000500|7||4600500||3|5|86400|0|1D",
        ] {
            let stored = unpack(name(), value.as_bytes()).unwrap();
            assert_eq!(pack(&stored), value);
        }
    }

    #[test]
    fn values_that_do_not_parse_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"1000500|7|1|||0|2|3600|30",
            b"1000500|7|1|||0|2|3600|x|1h",
            b"1000500|7|1|soon||0|2|3600|30|1h",
            b"1000500|7|1|||0|2|60|30|1h",
            b"1000500|7|2|||0|2|3600|30|1h",
            b"-5|7||||0|2|3600|30|1h",
            b"1000500|+7||||0|2|3600|30|1h",
            b"\xff|7||||0|2|3600|30|1h",
        ] {
            assert!(
                unpack(name(), bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
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

    #[test]
    fn an_alert_written_as_entry_fields_reads_back_equal() {
        let job = unpack(name(), b"1795143600000|7||||0|2|86400|0|1D")
            .unwrap()
            .job;
        let now = UnixTime::from_millis(1_795_230_061_250).unwrap();
        let alert = Alert::new("01JD".to_owned(), &job, AlertEvent::Down, now);
        let written = alert_fields(&alert, now);
        let keys = ["i", "v", "f", "s", "g", "l", "x", "o", "c", "r"];
        let mut fields: Vec<Value> = keys
            .iter()
            .zip(&written)
            .flat_map(|(k, v)| [bulk(k), bulk(v)])
            .collect();
        fields.extend(["n", "j", "q", "3"].map(bulk));
        let read = entry(&fields, 0, 0).unwrap();
        assert_eq!(read.alert, alert);
        assert_eq!(read.seq, 3);
    }
}
