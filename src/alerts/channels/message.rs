//! The human message of SPEC §14, written once for every kind but `webhook`:
//! `backup is DOWN: no ping since 2026-12-06 03:00:05 UTC, expected by 03:15:05 UTC
//! (61 s overdue)`, `backup FAILED with exit code 2`, `backup is UP again after 12 min`.

use crate::domain::{Alert, AlertEvent, JobName, Reason, UnixTime};

/// Of a failing run's log, at most this many last lines go into the message.
const LOG_LINES: usize = 10;

/// What the message says, independent of how the alert is stored: built from an
/// [`Alert`] by `From`, or by hand in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub event: AlertEvent,
    /// `missed`, `failed` or `run_timeout` for `down`; `recovered` for `up`.
    pub reason: String,
    pub name: String,
    pub last_ping_unix: i64,
    pub expected_by_unix: i64,
    /// For `down`, how long past its deadline; for `up`, how long it was down.
    pub overdue_seconds: u64,
    /// 1 for the first `down` of an episode, then 2, 3… for its reminders.
    pub alert_count: u32,
    pub exit_code: Option<i64>,
    /// The failed or timed-out run's duration.
    pub duration_ms: Option<u64>,
    /// The end of the failing run's output.
    pub log: Option<String>,
    /// A `POST /channels/test` message rather than a job's alert.
    pub test: bool,
}

impl From<&Alert> for Notice {
    fn from(alert: &Alert) -> Self {
        Self {
            event: alert.event,
            reason: alert.reason.as_str().to_owned(),
            name: alert.name.as_str().to_owned(),
            last_ping_unix: alert.last_ping_unix,
            expected_by_unix: alert.expected_by_unix,
            overdue_seconds: alert.overdue_seconds,
            alert_count: alert.alert_count,
            exit_code: alert.exit_code.map(i64::from),
            duration_ms: alert.duration_ms,
            log: alert.log.clone(),
            test: false,
        }
    }
}

impl Notice {
    /// A `down` after the first of its episode.
    pub fn is_reminder(&self) -> bool {
        self.event == AlertEvent::Down && self.alert_count > 1
    }

    /// The reminder's number: 1 for the first reminder (the episode's second alert).
    pub fn reminder_number(&self) -> u32 {
        self.alert_count.saturating_sub(1)
    }

    /// The short form: an email's subject after `[overdue] `, a title, a summary.
    pub fn headline(&self) -> String {
        let name = &self.name;
        if self.test {
            return "overdue test message".to_owned();
        }
        match (self.event, self.reason.as_str()) {
            (AlertEvent::Up, _) => format!("{name} is UP"),
            (AlertEvent::Down, _) if self.is_reminder() => format!("{name} is still DOWN"),
            (AlertEvent::Down, "failed") => format!("{name} FAILED"),
            (AlertEvent::Down, "run_timeout") => format!("{name} ran too long"),
            (AlertEvent::Down, _) => format!("{name} is DOWN"),
        }
    }

    /// The whole message: one line, then the log's last lines for a failed run.
    pub fn text(&self) -> String {
        let name = &self.name;
        if self.test {
            return "test message from overdue: this channel works".to_owned();
        }
        if self.event == AlertEvent::Up {
            return format!(
                "{name} is UP again after {}",
                readable_duration(self.overdue_seconds)
            );
        }
        let detail = match self.reason.as_str() {
            "failed" => match self.exit_code {
                Some(code) => format!("FAILED with exit code {code}"),
                None => "FAILED".to_owned(),
            },
            "run_timeout" => match self.duration_ms {
                Some(ms) => format!("still running after {}", readable_duration(ms / 1000)),
                None => "its run did not end within its max runtime".to_owned(),
            },
            _ => format!(
                "no ping since {}, expected by {} ({} s overdue)",
                utc_date_time(self.last_ping_unix),
                expected_by(self.last_ping_unix, self.expected_by_unix),
                self.overdue_seconds
            ),
        };
        let mut text = if self.is_reminder() {
            let which = match self.reason.as_str() {
                "failed" => format!("it {detail}"),
                "run_timeout" => format!("it ran too long, {detail}"),
                _ => detail,
            };
            format!(
                "{name} is still DOWN (reminder {}): {which}",
                self.reminder_number()
            )
        } else {
            match self.reason.as_str() {
                "failed" => format!("{name} {detail}"),
                "run_timeout" => format!("{name} ran too long: {detail}"),
                _ => format!("{name} is DOWN: {detail}"),
            }
        };
        if self.reason == "failed" {
            if let Some(tail) = self.log.as_deref().and_then(last_lines) {
                text.push('\n');
                text.push_str(&tail);
            }
        }
        text
    }
}

/// The last [`LOG_LINES`] non-blank lines of a run's output, or `None` when blank.
fn last_lines(log: &str) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(LOG_LINES);
    let tail = lines.get(start..)?.join("\n");
    (!tail.is_empty()).then_some(tail)
}

fn date_parts(unix: i64) -> Option<(String, String)> {
    let at = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    let date = at
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .ok()?;
    let clock = at
        .format(time::macros::format_description!(
            "[hour]:[minute]:[second]"
        ))
        .ok()?;
    Some((date, clock))
}

/// `2026-12-06 03:00:05 UTC`.
fn utc_date_time(unix: i64) -> String {
    match date_parts(unix) {
        Some((date, clock)) => format!("{date} {clock} UTC"),
        None => format!("{unix} (unix time)"),
    }
}

/// `03:15:05 UTC` on the same date as `since`, else with its own date.
fn expected_by(since: i64, expected: i64) -> String {
    match (date_parts(since), date_parts(expected)) {
        (Some((since_date, _)), Some((date, clock))) if since_date == date => {
            format!("{clock} UTC")
        }
        _ => utc_date_time(expected),
    }
}

/// `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`: the two largest units, rounded down.
pub fn readable_duration(secs: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86_400;
    match secs {
        s if s < MIN => format!("{s} s"),
        s if s < HOUR => format!("{} min", s / MIN),
        s if s < DAY => match (s % HOUR) / MIN {
            0 => format!("{} h", s / HOUR),
            m => format!("{} h {m} min", s / HOUR),
        },
        s => match (s % DAY) / HOUR {
            0 => format!("{} d", s / DAY),
            h => format!("{} d {h} h", s / DAY),
        },
    }
}

/// The alert behind a test message: a `down` of a job named `overdue-test`.
pub(super) fn test_alert(now: UnixTime) -> Option<Alert> {
    Some(Alert {
        id: Alert::fresh_id(),
        event: AlertEvent::Down,
        name: JobName::parse("overdue-test").ok()?,
        frequency: Some("1m".to_owned()),
        frequency_seconds: Some(60),
        schedule: None,
        timezone: None,
        grace_seconds: 0,
        last_ping: now.rfc3339(),
        last_ping_unix: now.secs(),
        expected_by: now.rfc3339(),
        expected_by_unix: now.secs(),
        overdue_seconds: 0,
        alert_count: 1,
        reason: Reason::Missed,
        exit_code: None,
        duration_ms: None,
        log: None,
        raised_at_unix: now.secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06 03:00:05 UTC.
    const SINCE: i64 = 1_796_526_005;

    fn down() -> Notice {
        Notice {
            event: AlertEvent::Down,
            reason: "missed".into(),
            name: "backup".into(),
            last_ping_unix: SINCE,
            expected_by_unix: SINCE + 900,
            overdue_seconds: 61,
            alert_count: 1,
            exit_code: None,
            duration_ms: None,
            log: None,
            test: false,
        }
    }

    #[test]
    fn a_missed_deadline_reads_exactly_as_the_spec_writes_it() {
        assert_eq!(
            down().text(),
            "backup is DOWN: no ping since 2026-12-06 03:00:05 UTC, expected by 03:15:05 UTC (61 s overdue)"
        );
        assert_eq!(down().headline(), "backup is DOWN");
    }

    #[test]
    fn the_expected_date_is_given_when_it_differs() {
        let notice = Notice {
            expected_by_unix: SINCE + 86_400,
            ..down()
        };
        assert_eq!(
            notice.text(),
            "backup is DOWN: no ping since 2026-12-06 03:00:05 UTC, expected by 2026-12-07 03:00:05 UTC (61 s overdue)"
        );
    }

    #[test]
    fn reminders_say_still_down_and_their_number() {
        let notice = Notice {
            alert_count: 4,
            overdue_seconds: 3600,
            ..down()
        };
        assert_eq!(
            notice.text(),
            "backup is still DOWN (reminder 3): no ping since 2026-12-06 03:00:05 UTC, expected by 03:15:05 UTC (3600 s overdue)"
        );
        assert_eq!(notice.headline(), "backup is still DOWN");
    }

    #[test]
    fn a_failed_run_gives_its_exit_code_and_the_last_lines_of_its_log() {
        let log = (1..=15)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let notice = Notice {
            reason: "failed".into(),
            exit_code: Some(2),
            log: Some(format!("{log}\n\n")),
            ..down()
        };
        let expected_tail = (6..=15)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            notice.text(),
            format!("backup FAILED with exit code 2\n{expected_tail}")
        );
        assert_eq!(notice.headline(), "backup FAILED");
        let bare = Notice {
            reason: "failed".into(),
            ..down()
        };
        assert_eq!(bare.text(), "backup FAILED");
        let reminder = Notice {
            reason: "failed".into(),
            exit_code: Some(2),
            alert_count: 2,
            ..down()
        };
        assert_eq!(
            reminder.text(),
            "backup is still DOWN (reminder 1): it FAILED with exit code 2"
        );
    }

    #[test]
    fn a_run_timeout_says_the_run_took_too_long() {
        let notice = Notice {
            reason: "run_timeout".into(),
            duration_ms: Some(7_500_000),
            ..down()
        };
        assert_eq!(
            notice.text(),
            "backup ran too long: still running after 2 h 5 min"
        );
        assert_eq!(notice.headline(), "backup ran too long");
        let unknown = Notice {
            reason: "run_timeout".into(),
            ..down()
        };
        assert_eq!(
            unknown.text(),
            "backup ran too long: its run did not end within its max runtime"
        );
    }

    #[test]
    fn up_says_how_long_the_job_was_down() {
        let notice = Notice {
            event: AlertEvent::Up,
            reason: "recovered".into(),
            overdue_seconds: 12 * 60 + 30,
            ..down()
        };
        assert_eq!(notice.text(), "backup is UP again after 12 min");
        assert_eq!(notice.headline(), "backup is UP");
    }

    #[test]
    fn durations_read_in_their_two_largest_units() {
        assert_eq!(readable_duration(0), "0 s");
        assert_eq!(readable_duration(59), "59 s");
        assert_eq!(readable_duration(60), "1 min");
        assert_eq!(readable_duration(3600), "1 h");
        assert_eq!(readable_duration(3 * 3600 + 5 * 60 + 9), "3 h 5 min");
        assert_eq!(readable_duration(2 * 86_400), "2 d");
        assert_eq!(readable_duration(2 * 86_400 + 4 * 3600 + 1), "2 d 4 h");
    }
}
