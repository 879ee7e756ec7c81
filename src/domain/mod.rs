//! Domain types, parsed once at the boundary so the rest of the crate can trust them,
//! and the rules of a job's life as pure functions on them.
//!
//! A `JobName`, `Frequency`, `Grace` or `UnixTime` that exists is valid: their fields
//! are private and their only constructors are the parsers.

mod admin;
mod alert;
mod cadence;
mod duration;
pub mod event;
mod intervention;
mod job;
mod name;
mod run;
mod schedule;
pub mod selection;
mod time;

pub use admin::{pause_end, AdminAction, Note, Refusal, MAX_NOTE_BYTES};
pub use alert::{Alert, AlertEvent, Reason};
pub use cadence::{Cadence, Scheduled};
pub use duration::{parse_duration_secs, Frequency, Grace, MAX_FREQUENCY_SECS, MIN_FREQUENCY_SECS};
pub use event::{DeliveryEvent, Event, EventKind, Origin, SignalEvent};
pub use intervention::{Acknowledgement, Interventions};
pub use job::{
    is_due, next_reminder, Change, DownReason, Job, Ping, PingEffect, Policy, Status,
    SCHEDULE_DEFAULT_GRACE_SECS,
};
pub use name::{JobName, MAX_NAME_BYTES};
pub use run::{
    parse_failure_tolerance, parse_max_runtime, ExitCode, OpenRun, Output, RunId, Runs, Signal,
    MAX_OPEN_RUNS, MAX_OUTPUT_BYTES,
};

pub use schedule::{Schedule, DEFAULT_TIMEZONE};
pub use time::UnixTime;

/// Why a parameter was refused; the message is shown to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("name must not be empty")]
    EmptyName,
    #[error("name is {0} bytes long; the limit is 200 bytes")]
    NameTooLong(usize),
    #[error("name must not contain control characters")]
    NameControlChar,
    #[error("invalid {field} {value:?}: {reason}")]
    Duration {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid schedule {value:?}: {reason}")]
    Schedule { value: String, reason: String },
    #[error("invalid tz {0:?}: expected an IANA time zone name such as Europe/Berlin, America/New_York or UTC")]
    TimeZone(String),
    #[error("invalid state {0:?}: expected success, start, fail or log")]
    State(String),
    #[error("invalid exit_code {0:?}: expected an integer from 0 to 255")]
    ExitCode(String),
    #[error("invalid rid {0:?}: expected 1 to 64 printable ASCII characters")]
    RunId(String),
    #[error("invalid failure_tolerance {0:?}: expected an integer from 0 to 100")]
    FailureTolerance(String),
    #[error("note is {0} bytes long; the limit is 500 bytes")]
    NoteTooLong(usize),
    #[error("send for=<duration> or until=<time>, not both")]
    PauseBoth,
    #[error("invalid until {0:?}: expected unix seconds (an integer) or RFC 3339 such as 2026-11-21T03:00:00Z")]
    PauseUntil(String),
    #[error(
        "invalid until {0:?}: the pause would end in the past; use for=<duration> or a later time"
    )]
    PauseUntilPast(String),
    #[error("invalid timestamp {0:?}: expected unix seconds (an integer) or RFC 3339 such as 2026-11-21T03:00:00Z")]
    Timestamp(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_grammar_accepts_every_documented_form() {
        let cases = [
            ("1s", 1),
            ("30s", 30),
            ("5m", 300),
            ("2h", 7_200),
            ("1D", 86_400),
            ("1d", 86_400),
            ("1W", 604_800),
            ("2w", 1_209_600),
            ("1h30m", 5_400),
            ("1h 30m", 5_400),
            ("90sec", 90),
            ("2days", 172_800),
            ("10 minutes", 600),
            ("366D", 31_622_400),
            (" 15m ", 900),
        ];
        for (raw, secs) in cases {
            let f = Frequency::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(f.seconds(), secs, "{raw}");
        }
    }

    #[test]
    fn frequency_grammar_refuses_bad_forms_with_the_accepted_format() {
        for raw in [
            "",
            "0s",
            "0",
            "-5m",
            "1.5h",
            "1M",
            "2months",
            "1y",
            "1year",
            "500ms",
            "10",
            "abc",
            "367D",
            "1D!",
            "99999999999999999999s",
            "18446744073709551615W",
            "m",
            "1x",
            "+5m",
        ] {
            let err = Frequency::parse(raw).expect_err(raw).to_string();
            assert!(err.contains("<integer><unit>"), "{raw}: {err}");
        }
    }

    #[test]
    fn m_is_always_minutes() {
        assert_eq!(Frequency::parse("1m").map(|f| f.seconds()), Ok(60));
    }

    #[test]
    fn grace_accepts_zero_and_durations() {
        assert_eq!(Grace::parse("0").map(Grace::seconds), Ok(0));
        assert_eq!(Grace::parse("0s").map(Grace::seconds), Ok(0));
        assert_eq!(Grace::parse("5m").map(Grace::seconds), Ok(300));
        assert!(Grace::parse("-1s").is_err());
    }

    #[test]
    fn names_are_bounded_and_free_of_control_characters() {
        assert!(JobName::parse("backup").is_ok());
        assert!(JobName::parse("ünïcode job / 1").is_ok());
        assert!(JobName::parse(&"a".repeat(200)).is_ok());
        assert_eq!(
            JobName::parse(&"a".repeat(201)),
            Err(ParseError::NameTooLong(201))
        );
        assert_eq!(JobName::parse(""), Err(ParseError::EmptyName));
        assert_eq!(JobName::parse("a\nb"), Err(ParseError::NameControlChar));
        assert_eq!(JobName::parse("a\u{7f}"), Err(ParseError::NameControlChar));
    }

    #[test]
    fn timestamps_parse_as_unix_seconds_or_rfc3339() {
        assert_eq!(
            UnixTime::parse("1795230000").map(UnixTime::secs),
            Ok(1_795_230_000)
        );
        assert_eq!(
            UnixTime::parse("2026-11-21T03:00:00Z").map(UnixTime::secs),
            Ok(1_795_230_000)
        );
        assert_eq!(
            UnixTime::parse("2026-11-21T04:00:00+01:00").map(UnixTime::secs),
            Ok(1_795_230_000)
        );
        assert_eq!(
            UnixTime::parse("2026-11-21T03:00:00.750Z").map(UnixTime::secs),
            Ok(1_795_230_000)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "99999999999999",
        ] {
            assert!(UnixTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_output_uses_z() {
        let t = UnixTime::from_secs(1_795_230_000).map(UnixTime::rfc3339);
        assert_eq!(t.as_deref(), Some("2026-11-21T03:00:00Z"));
    }

    #[test]
    fn deadline_is_last_ping_plus_frequency_plus_grace() {
        let job = Job {
            name: JobName::parse("j").unwrap(),
            cadence: Cadence::Every(Frequency::parse("10m").unwrap()),
            grace: Grace::parse("30s").unwrap(),
            last_ping: UnixTime::from_secs(1_000).unwrap(),
            status: Status::Up,
            down_since: None,
            episode_alerts: 0,
            alerts_sent: 0,
            pings_total: 1,
            next_reminder: None,
            down_reason: Default::default(),
            runs: None,
            events_seq: 0,
            interventions: None,
        };
        assert_eq!(job.deadline().secs(), 1_000 + 600 + 30);
    }

    proptest::proptest! {
        #[test]
        fn frequency_parser_never_panics(s in "\\PC{0,40}") {
            let _ = Frequency::parse(&s);
        }

        #[test]
        fn integer_with_unit_round_trips(n in 1u64..=366, unit in proptest::sample::select(vec![("s", 1u64), ("m", 60), ("h", 3600), ("D", 86400)])) {
            let raw = format!("{n}{}", unit.0);
            let f = Frequency::parse(&raw);
            let secs = n * unit.1;
            if secs <= MAX_FREQUENCY_SECS {
                proptest::prop_assert_eq!(f.map(|f| f.seconds()), Ok(secs));
            } else {
                proptest::prop_assert!(f.is_err());
            }
        }
    }
}
