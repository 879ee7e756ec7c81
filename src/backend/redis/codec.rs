//! What overdue writes into Redis and reads back: a job packed in one value of the
//! `jobs` hash, and an alert as the fields of its outbox entry. Only this file reads or
//! writes either whole; the quick path of `ping.lua` matches a packed value with its own
//! pattern to rewrite a plain ping in place. Stored data is never trusted: a value that
//! does not parse is an error, never a panic.

use crate::backend::outbox::PendingAlert;
use crate::domain::{
    parse_failure_tolerance, Acknowledgement, Alert, AlertEvent, Cadence, DownReason, Frequency,
    Grace, Job, JobName, OpenRun, Reason, RunId, Runs, Schedule, Status, UnixTime, MAX_OPEN_RUNS,
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

/// The job packed as `l|p|k|d|r|e|a|s|g|f|n|y|u[|x]`: l last ping (unix ms), p pings, k
/// `1` when late (see [`Stored::late`]), d down since and r next reminder (unix ms,
/// only while down, else empty), e alerts of the episode, a alerts sent, s frequency
/// seconds, g grace seconds, f the frequency as sent, n the last event's seq, y why the
/// job went down (empty for missed, `f` failed, `t` run time-out), u its runs (see
/// [`pack_runs`], empty without), x what SPEC §11 and §12 added (see [`pack_extras`]),
/// left out, with its `|`, while the job has none of it. A schedule job's s is 0 and its
/// f empty. Numbers are canonical integers, so that the quick path compares them as
/// text; a value with x never matches its pattern, so that every ping of a schedule,
/// paused or acknowledged job is decided in Rust. A value of the layout before runs
/// ends at f; its missing tail reads as the defaults. The frequency cannot hold a `|`
/// (its grammar refuses one), the runs and extras escape theirs, so every field is
/// found by counting separators.
pub fn pack(stored: &Stored) -> String {
    let job = &stored.job;
    let time = |at: Option<UnixTime>| at.map(|at| at.millis().to_string()).unwrap_or_default();
    let reason = match job.down_reason {
        DownReason::Missed => "",
        DownReason::Failed => "f",
        DownReason::RunTimeout => "t",
    };
    let mut packed = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        job.last_ping.millis(),
        job.pings_total,
        if stored.late { "1" } else { "" },
        time(job.down_since),
        time(job.next_reminder),
        job.episode_alerts,
        job.alerts_sent,
        job.frequency().map_or(0, Frequency::seconds),
        job.grace.seconds(),
        job.frequency().map_or("", Frequency::as_str),
        job.events_seq,
        reason,
        job.runs.as_deref().map(pack_runs).unwrap_or_default(),
    );
    if let Some(extras) = pack_extras(job) {
        packed.push('|');
        packed.push_str(&extras);
    }
    packed
}

/// What SPEC §11 and §12 add to a job, as `t;c;z;p;r;a;m`, or `None` when it has none
/// of it: t `p` while paused (else empty), c the schedule's expression and z its zone
/// (empty for a frequency job), p when the pause ends (unix ms, empty for none), r the
/// deadline its last resume gave it (unix ms, empty for none), a when the outage was acknowledged (unix ms, empty for none) and m the note (empty
/// for none, else `=` and the note with `%` and `|` escaped as `%25` and `%7C`), last so
/// that a `;` in it needs no escape. Neither an expression nor a zone name can hold a
/// `;` or a `|`.
pub fn pack_extras(job: &Job) -> Option<String> {
    let paused = job.status == Status::Paused;
    let schedule = job.schedule();
    if !paused && schedule.is_none() && job.interventions.is_none() {
        return None;
    }
    let time = |at: Option<UnixTime>| at.map(|at| at.millis().to_string()).unwrap_or_default();
    let ack = job.acknowledged();
    let note = match ack.and_then(|a| a.note.as_deref()) {
        None => String::new(),
        Some(note) => format!("={}", note.replace('%', "%25").replace('|', "%7C")),
    };
    Some(format!(
        "{};{};{};{};{};{};{}",
        if paused { "p" } else { "" },
        schedule.map_or("", Schedule::expression),
        schedule.map_or("", Schedule::timezone),
        time(job.paused_until()),
        time(job.resume_deadline()),
        time(ack.map(|a| a.at)),
        note,
    ))
}

/// What [`pack_extras`] wrote, read back into `job`.
fn unpack_extras(job: &mut Job, text: &str) -> Result<(), String> {
    let parts: Vec<&str> = text.splitn(7, ';').collect();
    let [t, c, z, p, r, a, m] = parts[..] else {
        return Err("bad extras".to_owned());
    };
    match t {
        "" => {}
        "p" => job.status = Status::Paused,
        _ => return Err("bad paused mark".to_owned()),
    }
    if !c.is_empty() {
        let schedule = Schedule::parse(c, Some(z)).map_err(|e| e.to_string())?;
        job.cadence = Cadence::cron(schedule, job.last_ping);
    } else if !z.is_empty() {
        return Err("a zone without a schedule".to_owned());
    }
    if !p.is_empty() {
        job.set_paused_until(Some(time(p, "paused until")?));
    }
    if !r.is_empty() {
        job.set_resume_deadline(Some(time(r, "resume deadline")?));
    }
    let note = match m {
        "" => None,
        _ => Some(
            m.strip_prefix('=')
                .ok_or("bad note")?
                .replace("%7C", "|")
                .replace("%25", "%"),
        ),
    };
    match (a, note) {
        ("", None) => {}
        ("", Some(_)) => return Err("a note without an acknowledgement".to_owned()),
        (a, note) => job.set_acknowledged(Some(Acknowledgement {
            at: time(a, "acknowledged at")?,
            note,
        })),
    }
    Ok(())
}

/// A job's runs as `D,X,M,T,C` then `;S,t,R` for each open run, oldest first: D the
/// last duration (ms) and X the last exit code (empty when none), M the maximum run
/// time (s, empty for no limit), T the failure tolerance, C consecutive failures; S a
/// run's start (unix ms), `t` when it timed out (else empty), R its id (empty when
/// none), last so that a comma in it needs no escape; `%`, `|` and `;` in an id are
/// escaped as `%25`, `%7C` and `%3B`.
pub fn pack_runs(runs: &Runs) -> String {
    use std::fmt::Write;
    let opt = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    let mut text = format!(
        "{},{},{},{},{}",
        opt(runs.last_duration_ms),
        opt(runs.last_exit_code.map(u64::from)),
        opt(runs.max_runtime),
        runs.failure_tolerance,
        runs.consecutive_failures,
    );
    for run in &runs.open {
        let _ = write!(
            text,
            ";{},{},",
            run.started.millis(),
            if run.timed_out { "t" } else { "" }
        );
        if let Some(rid) = &run.rid {
            for c in rid.as_str().chars() {
                match c {
                    '%' => text.push_str("%25"),
                    '|' => text.push_str("%7C"),
                    ';' => text.push_str("%3B"),
                    c => text.push(c),
                }
            }
        }
    }
    text
}

fn count(part: &str, what: &str) -> Result<u64, String> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {what}"));
    }
    part.parse::<u64>().map_err(|_| format!("bad {what}"))
}

fn time(part: &str, what: &str) -> Result<UnixTime, String> {
    count(part, what)
        .ok()
        .and_then(|ms| i64::try_from(ms).ok())
        .and_then(UnixTime::from_millis)
        .ok_or_else(|| format!("bad {what}"))
}

fn optional_count(part: &str, what: &str) -> Result<Option<u64>, String> {
    if part.is_empty() {
        Ok(None)
    } else {
        count(part, what).map(Some)
    }
}

/// Runs from their text (see [`pack_runs`]).
pub fn unpack_runs(text: &str) -> Result<Runs, String> {
    let mut items = text.split(';');
    let head: Vec<&str> = items.next().unwrap_or_default().split(',').collect();
    let [d, x, m, t, c] = head[..] else {
        return Err("bad runs".to_owned());
    };
    let small = |part: &str, what: &str| -> Result<u32, String> {
        u32::try_from(count(part, what)?).map_err(|_| format!("bad {what}"))
    };
    let mut runs = Runs {
        open: Vec::new(),
        last_duration_ms: optional_count(d, "last duration")?,
        last_exit_code: optional_count(x, "last exit code")?
            .map(|x| u8::try_from(x).map_err(|_| "bad last exit code".to_owned()))
            .transpose()?,
        max_runtime: optional_count(m, "max runtime")?,
        failure_tolerance: parse_failure_tolerance(t)
            .ok()
            .filter(|_| count(t, "failure tolerance").is_ok())
            .ok_or("bad failure tolerance")?,
        consecutive_failures: small(c, "consecutive failures")?,
    };
    for item in items {
        let mut parts = item.splitn(3, ',');
        let (Some(s), Some(flag), Some(rid)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("bad open run".to_owned());
        };
        let timed_out = match flag {
            "" => false,
            "t" => true,
            _ => return Err("bad open run".to_owned()),
        };
        let rid = if rid.is_empty() {
            None
        } else {
            let unescaped = rid
                .replace("%7C", "|")
                .replace("%3B", ";")
                .replace("%25", "%");
            Some(RunId::parse(&unescaped).map_err(|_| "bad run id".to_owned())?)
        };
        runs.open.push(OpenRun {
            rid,
            started: time(s, "run start")?,
            timed_out,
        });
    }
    if runs.open.len() > MAX_OPEN_RUNS {
        return Err("too many open runs".to_owned());
    }
    Ok(runs)
}

/// The job `name` from its packed value (see [`pack`]).
pub fn unpack(name: JobName, value: &[u8]) -> Result<Stored, String> {
    let value = std::str::from_utf8(value).map_err(|_| "not UTF-8".to_owned())?;
    let parts: Vec<&str> = value.splitn(10, '|').collect();
    let [l, p, k, d, r, e, a, s, g, rest] = parts[..] else {
        return Err(format!("{} parts instead of 10 or more", parts.len()));
    };
    // The frequency, then the tail of the runs layout, if any: n, y and u, and the
    // extras x (none of them holds a `|`).
    let tail: Vec<&str> = rest.split('|').collect();
    let (f, n, y, u, x) = match tail[..] {
        [f] => (f, "0", "", "", None),
        [f, n, y, u] => (f, n, y, u, None),
        [f, n, y, u, x] => (f, n, y, u, Some(x)),
        _ => return Err(format!("{} parts instead of 13 or 14", tail.len() + 9)),
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
    let seconds = count(s, "frequency seconds")?;
    // A schedule job has no frequency: its extras name the schedule.
    let scheduled = f.is_empty() && seconds == 0 && x.is_some();
    let cadence = if scheduled {
        Cadence::Every(Frequency::parse("1s").map_err(|e| e.to_string())?)
    } else {
        Cadence::Every(Frequency::from_stored(f, seconds).map_err(|e| e.to_string())?)
    };
    let grace = Grace::from_secs(count(g, "grace")?).ok_or("grace out of range")?;
    let down_since = optional(d, "down since")?;
    let down_reason = match y {
        "" => DownReason::Missed,
        "f" => DownReason::Failed,
        "t" => DownReason::RunTimeout,
        _ => return Err("bad down reason".to_owned()),
    };
    let runs = if u.is_empty() {
        None
    } else {
        Some(Box::new(unpack_runs(u)?))
    };
    let mut job = Job {
        name,
        cadence,
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
        down_reason,
        runs,
        events_seq: count(n, "events seq")?,
        interventions: None,
    };
    if let Some(x) = x {
        unpack_extras(&mut job, x)?;
    }
    if scheduled && job.schedule().is_none() {
        return Err("no frequency and no schedule".to_owned());
    }
    job.refresh();
    Ok(Stored { job, late })
}

/// The fields of `alert`'s outbox entry, raised at `raised`, in the order the store
/// script writes them ([`ALERT_FIELDS`]), without the two it adds: `n` (the job's name,
/// which the change names) and `q` (the alert's sequence number, counted in Redis).
/// Times are unix ms; an absent exit code, duration or log is empty.
pub fn alert_fields(alert: &Alert, raised: UnixTime) -> [String; ALERT_FIELDS] {
    let event = match alert.event {
        AlertEvent::Down => "d",
        AlertEvent::Up => "u",
    };
    let opt = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    [
        alert.id.clone(),
        event.to_owned(),
        alert.frequency.clone().unwrap_or_default(),
        opt(alert.frequency_seconds),
        alert.grace_seconds.to_string(),
        alert.last_ping_unix.saturating_mul(1000).to_string(),
        alert.expected_by_unix.saturating_mul(1000).to_string(),
        alert.overdue_seconds.to_string(),
        alert.alert_count.to_string(),
        raised.millis().to_string(),
        alert.reason.as_str().to_owned(),
        opt(alert.exit_code.map(u64::from)),
        opt(alert.duration_ms),
        alert.log.clone().unwrap_or_default(),
        alert.schedule.clone().unwrap_or_default(),
        alert.timezone.clone().unwrap_or_default(),
    ]
}

/// How many fields [`alert_fields`] gives: `i v f s g l x o c r` then the reason `w`,
/// exit code `e`, duration in ms `u` and log `m`, which entries raised before runs
/// lack (their reason is then the event's usual one), then the schedule `k` and zone
/// `z` of a schedule job (whose `f` and `s` are empty), which entries raised before
/// schedules lack.
pub const ALERT_FIELDS: usize = 16;

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
    // An optional number: absent (an older entry) or empty means none.
    let optional = |name: &str| -> Result<Option<i64>, String> {
        match field(fields, name).map(bytes) {
            None | Some(Some(b"")) => Ok(None),
            Some(_) => number(name).map(Some),
        }
    };
    let optional_text = |name: &str| -> Result<Option<String>, String> {
        match field(fields, name).map(text) {
            None | Some(Some("")) => Ok(None),
            Some(Some(value)) => Ok(Some(value.to_owned())),
            Some(None) => Err(format!("bad {name}")),
        }
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
        frequency: match get("f").map(text)?.ok_or("bad frequency")? {
            "" => None,
            f => Some(f.to_owned()),
        },
        frequency_seconds: optional("s")?
            .map(|s| u64::try_from(s).map_err(|e| e.to_string()))
            .transpose()?,
        schedule: optional_text("k")?,
        timezone: optional_text("z")?,
        grace_seconds: u64::try_from(number("g")?).map_err(|e| e.to_string())?,
        last_ping: last_ping.rfc3339(),
        last_ping_unix: last_ping.secs(),
        expected_by: expected_by.rfc3339(),
        expected_by_unix: expected_by.secs(),
        overdue_seconds: u64::try_from(number("o")?).map_err(|e| e.to_string())?,
        alert_count: u32::try_from(number("c")?).map_err(|e| e.to_string())?,
        reason: match field(fields, "w").and_then(text) {
            None => match event {
                AlertEvent::Down => Reason::Missed,
                AlertEvent::Up => Reason::Recovered,
            },
            Some("missed") => Reason::Missed,
            Some("failed") => Reason::Failed,
            Some("run_timeout") => Reason::RunTimeout,
            Some("recovered") => Reason::Recovered,
            Some(_) => return Err("bad reason".to_owned()),
        },
        exit_code: optional("e")?
            .map(|code| u8::try_from(code).map_err(|_| "bad exit code".to_owned()))
            .transpose()?,
        duration_ms: optional("u")?
            .map(|ms| u64::try_from(ms).map_err(|_| "bad duration".to_owned()))
            .transpose()?,
        log: match field(fields, "m").map(text) {
            None | Some(Some("")) => None,
            Some(Some(log)) => Some(log.to_owned()),
            Some(None) => return Err("bad log".to_owned()),
        },
        raised_at_unix: raised.secs(),
    };
    Ok(PendingAlert {
        seq: u64::try_from(number("q")?).map_err(|e| e.to_string())?,
        alert,
        // Entries of earlier versions, one per alert, have none.
        channel: match field(fields, "h").map(text) {
            None => String::new(),
            Some(Some(channel)) => channel.to_owned(),
            Some(None) => return Err("bad channel".to_owned()),
        },
        attempts,
        next_attempt_ms,
    })
}

#[cfg(test)]
mod tests;
