//! How the pages write times, cadences, durations, links and event marks: plain text
//! that the templates escape.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::domain::{Job, UnixTime};

/// What a query value keeps unescaped: the unreserved characters of RFC 3986.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` percent-encoded for a query string.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// The job page's address for `name`.
pub fn job_href(name: &str) -> String {
    format!("/ui/job?name={}", encode(name))
}

/// A moment as a page shows it: relative, with the exact time on hover.
#[derive(Debug, Clone)]
pub struct Moment {
    /// RFC 3339, for `<time datetime>`.
    pub datetime: String,
    /// The exact time in words, for `title`.
    pub exact: String,
    /// "3 min ago", "in 2 h".
    pub relative: String,
}

impl Moment {
    pub fn new(at: UnixTime, now: UnixTime) -> Self {
        let datetime = at.rfc3339();
        let exact = datetime.replacen('T', " ", 1).replace('Z', " UTC");
        Self {
            datetime,
            exact,
            relative: relative(at, now),
        }
    }
}

/// "just now", "3 min ago", "in 2 h", "5 days ago".
pub fn relative(at: UnixTime, now: UnixTime) -> String {
    let (secs, future) = if at > now {
        (at.since(now), true)
    } else {
        (now.since(at), false)
    };
    if secs < 10 {
        return "just now".to_owned();
    }
    let span = span(secs);
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A length of time in its largest whole unit: "42 s", "3 min", "5 h", "2 days".
pub fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{} min", secs / 60),
        3_600..86_400 => format!("{} h", secs / 3_600),
        _ => {
            let days = secs / 86_400;
            if days == 1 {
                "1 day".to_owned()
            } else {
                format!("{days} days")
            }
        }
    }
}

/// How the job is expected: its frequency, or its schedule and zone.
pub fn cadence(job: &Job) -> String {
    match (job.frequency(), job.schedule()) {
        (Some(frequency), _) => format!("every {}", frequency.as_str()),
        (None, Some(schedule)) => format!("{} ({})", schedule.expression(), schedule.timezone()),
        (None, None) => String::new(),
    }
}

/// The last run's duration: "12.5 s", or "–" when no run ended.
pub fn last_duration(job: &Job) -> String {
    match job.runs.as_deref().and_then(|r| r.last_duration_ms) {
        Some(ms) => duration_ms(ms),
        None => "–".to_owned(),
    }
}

/// Milliseconds as "850 ms", "12.5 s", "3 min 20 s".
pub fn duration_ms(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{:.1} s", ms as f64 / 1_000.0);
    }
    let secs = ms / 1_000;
    if secs < 3_600 {
        return format!("{} min {} s", secs / 60, secs % 60);
    }
    format!("{} h {} min", secs / 3_600, secs % 3_600 / 60)
}

/// One mark of the strip of recent events.
#[derive(Debug, Clone)]
pub struct Mark {
    /// The event's kind, as a class name suffix (`mark-ping`).
    pub kind: &'static str,
    /// What happened and when, in words.
    pub title: String,
}

/// The marks of `events` (SPEC §13 objects, newest first), oldest on the left.
pub fn marks(events: &[serde_json::Value]) -> Vec<Mark> {
    events.iter().rev().map(mark).collect()
}

fn mark(event: &serde_json::Value) -> Mark {
    let raw = event["kind"].as_str().unwrap_or_default();
    // A fixed list: the class name never carries text a job sent.
    let kind = match raw {
        "ping" => "ping",
        "start" => "start",
        "fail" => "fail",
        "log" => "log",
        "created" => "created",
        "down" => "down",
        "reminder" => "reminder",
        "up" => "up",
        "paused" => "paused",
        "resumed" => "resumed",
        "acknowledged" => "acknowledged",
        "delivery" => "delivery",
        _ => "other",
    };
    let mut title = kind.to_owned();
    if let Some(reason) = event["reason"].as_str() {
        title.push_str(&format!(" ({reason})"));
    }
    if let Some(code) = event["exit_code"].as_u64() {
        title.push_str(&format!(", exit code {code}"));
    }
    if let (Some(outcome), Some(channel)) = (event["outcome"].as_str(), event["channel"].as_str()) {
        title.push_str(&format!(": {outcome} to {channel}"));
    }
    if let Some(at) = event["at"].as_str() {
        title.push_str(" at ");
        title.push_str(at);
    }
    Mark { kind, title }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs).unwrap()
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = at(1_800_000_000);
        assert_eq!(relative(at(1_800_000_000 - 180), now), "3 min ago");
        assert_eq!(relative(at(1_800_000_000 + 7_200), now), "in 2 h");
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(at(1_800_000_000 - 3 * 86_400), now), "3 days ago");
    }

    #[test]
    fn names_are_percent_encoded_in_links() {
        assert_eq!(job_href("a b/c?d&e"), "/ui/job?name=a%20b%2Fc%3Fd%26e");
    }

    #[test]
    fn a_mark_class_never_carries_foreign_text() {
        let event = serde_json::json!({"kind": "\"><script>", "at": "x"});
        assert_eq!(mark(&event).kind, "other");
    }
}
