//! Reading the scripts' replies: their shape here, the stored values in them with
//! [`codec`](super::codec). A reply that does not parse is an error (or a skipped row),
//! never a panic.

use redis::Value;

use super::codec::{self, field};
use crate::backend::outbox::PendingAlert;
use crate::backend::Counts;
use crate::domain::{Job, JobName};

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

pub fn array(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// The list script's reply: the jobs (unreadable ones skipped) and the counts.
pub fn page(reply: &Value) -> Result<(Vec<Job>, Counts), String> {
    let items = array(reply).ok_or("not an array")?;
    let rows = items.first().and_then(array).ok_or("no jobs")?;
    let total = items.get(1).and_then(int).ok_or("no total")?;
    let down = items.get(2).and_then(int).ok_or("no down count")?;
    let paused = items.get(3).and_then(int).ok_or("no paused count")?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        let parsed = array(row)
            .ok_or_else(|| "a row is not an array".to_owned())
            .and_then(|row| {
                let name = row.first().and_then(text).ok_or("bad name")?;
                let name = JobName::parse(name).map_err(|e| e.to_string())?;
                let value = row.get(1).and_then(bytes).ok_or("no value")?;
                codec::unpack(name, value).map(|stored| stored.job)
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
            paused: usize::try_from(paused).unwrap_or(0),
        },
    ))
}

/// An outbox entry that cannot be read back, with what is needed to remove it.
pub struct BadEntry {
    pub reason: String,
    pub job: Vec<u8>,
    pub alert_id: Vec<u8>,
    pub channel: Vec<u8>,
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
        channel: raw("h"),
    }
}

/// An entry as the scripts return it: `{ id, { field, value, … } }`.
fn fields_of(entry: &Value) -> Result<&[Value], String> {
    array(entry)
        .and_then(|e| e.get(1))
        .and_then(array)
        .ok_or_else(|| "an entry is not { id, fields }".to_owned())
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
                channel: Vec::new(),
            })?;
            let attempts = array(item)
                .and_then(|i| i.get(2))
                .and_then(int)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0);
            codec::entry(fields, attempts, now_ms).map_err(|reason| bad_entry(fields, reason))
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
    fn a_page_skips_the_rows_it_cannot_read() {
        let row = |name: &str, value: &str| Value::Array(vec![bulk(name), bulk(value)]);
        let reply = Value::Array(vec![
            Value::Array(vec![
                row("a", "1000|1||||0|0|60|0|1m"),
                row("b", "garbage"),
                row("c", "2000|3||||0|0|60|0|1m"),
            ]),
            Value::Int(3),
            Value::Int(0),
            Value::Int(1),
        ]);
        let (jobs, counts) = page(&reply).unwrap();
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!((counts.total, counts.down, counts.paused), (3, 0, 1));
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert!(page(&Value::Nil).is_err());
        assert!(leased(&Value::Array(vec![Value::Nil]), 0).unwrap()[0].is_err());
    }
}
