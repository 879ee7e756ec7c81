//! Domain types, parsed once at the boundary so the rest of the crate can trust them.
//!
//! A `JobName`, `Frequency`, `Grace` or `PingTime` that exists is valid: their fields are
//! private and their only constructors are the parsers below.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Longest accepted job name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Shortest accepted frequency.
pub const MIN_FREQUENCY_SECS: u64 = 1;
/// Longest accepted frequency: 366 days.
pub const MAX_FREQUENCY_SECS: u64 = 366 * 86_400;

const FREQUENCY_FORMAT: &str = "expected <integer><unit> with unit s, m, h, D (or d) or W (or w), \
     or a combination such as 1h30m, between 1s and 366D";

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
    #[error("invalid timestamp {0:?}: expected unix seconds (an integer) or RFC 3339 such as 2026-11-21T03:00:00Z")]
    Timestamp(String),
}

/// The name a job pings with: 1–200 bytes of UTF-8 without control characters.
///
/// Cheap to clone (shared), because the registry, the sweeper's heap and the outbox all
/// hold it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobName(Arc<str>);

impl JobName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.is_empty() {
            return Err(ParseError::EmptyName);
        }
        if raw.len() > MAX_NAME_BYTES {
            return Err(ParseError::NameTooLong(raw.len()));
        }
        if raw.chars().any(char::is_control) {
            return Err(ParseError::NameControlChar);
        }
        Ok(Self(Arc::from(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for JobName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for JobName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JobName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        JobName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// How often a job pings: between 1 s and 366 days, with the text the job sent
/// (echoed back in the job object and in alerts).
#[derive(Clone, PartialEq, Eq)]
pub struct Frequency {
    seconds: u64,
    text: Arc<str>,
}

impl Frequency {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let invalid = |reason: &str| ParseError::Duration {
            field: "frequency",
            value: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let seconds = parse_duration_secs(raw).map_err(|e| invalid(&e))?;
        if seconds < MIN_FREQUENCY_SECS {
            return Err(invalid(&format!("must be at least 1s; {FREQUENCY_FORMAT}")));
        }
        if seconds > MAX_FREQUENCY_SECS {
            return Err(invalid(&format!(
                "must be at most 366D; {FREQUENCY_FORMAT}"
            )));
        }
        Ok(Self {
            seconds,
            text: Arc::from(raw.trim()),
        })
    }

    /// Rebuilds a frequency read back from the store; the row is re-validated so a
    /// corrupted row cannot smuggle in an out-of-range value.
    pub fn from_stored(text: &str, seconds: u64) -> Result<Self, ParseError> {
        let parsed = Self::parse(text)?;
        if parsed.seconds != seconds {
            return Err(ParseError::Duration {
                field: "frequency",
                value: text.to_owned(),
                reason: format!("stored as {seconds} seconds"),
            });
        }
        Ok(parsed)
    }

    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({}s)", self.text, self.seconds)
    }
}

/// Extra slack after the frequency before a job is overdue: 0 s to 366 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grace(u64);

impl Grace {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let invalid = |reason: String| ParseError::Duration {
            field: "grace",
            value: raw.to_owned(),
            reason,
        };
        let trimmed = raw.trim();
        // A bare zero is the natural way to say "no grace".
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b == b'0') {
            return Ok(Self(0));
        }
        let seconds = parse_duration_secs(raw).map_err(invalid)?;
        if seconds > MAX_FREQUENCY_SECS {
            return Err(invalid(
                "must be at most 366D; expected 0 or <integer><unit> with unit s, m, h, D or W, \
                 e.g. 30s, 5m, 1h30m"
                    .to_owned(),
            ));
        }
        Ok(Self(seconds))
    }

    pub fn from_secs(seconds: u64) -> Option<Self> {
        (seconds <= MAX_FREQUENCY_SECS).then_some(Self(seconds))
    }

    pub fn seconds(self) -> u64 {
        self.0
    }
}

/// Parses the frequency grammar into whole seconds: one or more `<integer><unit>` terms,
/// optionally separated by spaces. Units: `s`, `m` (always minutes), `h`, `D`/`d`,
/// `W`/`w` and their humantime spellings (`sec`, `min`, `hours`, `days`, `weeks`, …).
/// Months, years, fractions, sub-second units and signs are refused.
pub fn parse_duration_secs(raw: &str) -> Result<u64, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(format!("empty; {FREQUENCY_FORMAT}"));
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut terms = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            let reason = match bytes[i] {
                b'-' => "negative durations are not accepted",
                b'+' => "signs are not accepted",
                b'.' => "fractions are not accepted",
                _ => "a number must come first",
            };
            return Err(format!("{reason}; {FREQUENCY_FORMAT}"));
        }
        let number: u64 = s[start..i]
            .parse()
            .map_err(|_| format!("number too large; {FREQUENCY_FORMAT}"))?;
        if i < bytes.len() && (bytes[i] == b'.' || bytes[i] == b',') {
            return Err(format!("fractions are not accepted; {FREQUENCY_FORMAT}"));
        }
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        let multiplier = unit_seconds(unit)?;
        let term = number
            .checked_mul(multiplier)
            .ok_or_else(|| format!("too large; {FREQUENCY_FORMAT}"))?;
        total = total
            .checked_add(term)
            .ok_or_else(|| format!("too large; {FREQUENCY_FORMAT}"))?;
        terms += 1;
        if i < bytes.len() && !bytes[i].is_ascii_digit() && bytes[i] != b' ' {
            return Err(format!(
                "unexpected character {:?}; {FREQUENCY_FORMAT}",
                s[i..].chars().next().unwrap_or(' ')
            ));
        }
    }
    if terms == 0 {
        return Err(format!("empty; {FREQUENCY_FORMAT}"));
    }
    Ok(total)
}

fn unit_seconds(unit: &str) -> Result<u64, String> {
    Ok(match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "D" | "d" | "day" | "days" => 86_400,
        "W" | "w" | "week" | "weeks" => 604_800,
        "" => return Err(format!("a unit is required; {FREQUENCY_FORMAT}")),
        "M" | "month" | "months" | "y" | "Y" | "year" | "years" => {
            return Err(format!(
                "months and years are not accepted; {FREQUENCY_FORMAT}"
            ))
        }
        "ms" | "msec" | "us" | "usec" | "ns" | "nsec" => {
            return Err(format!(
                "fractions of a second are not accepted; {FREQUENCY_FORMAT}"
            ))
        }
        other => return Err(format!("unknown unit {other:?}; {FREQUENCY_FORMAT}")),
    })
}

/// A moment, in unix milliseconds. Arrival times keep their milliseconds so deadlines
/// are exact; a `timestamp` a job sends is whole seconds, and the API shows whole
/// seconds (truncated), so a retry with the `last_ping_unix` a job was given back
/// matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

/// Unix milliseconds of 9999-12-31T23:59:59.999Z: the last moment RFC 3339 can write.
const MAX_UNIX_MS: i64 = 253_402_300_799_999;

impl UnixTime {
    pub fn from_secs(secs: i64) -> Option<Self> {
        Self::from_millis(secs.checked_mul(1000)?)
    }

    pub fn from_millis(ms: i64) -> Option<Self> {
        (0..=MAX_UNIX_MS).contains(&ms).then_some(Self(ms))
    }

    pub fn now() -> Self {
        Self(now_ms().clamp(0, MAX_UNIX_MS))
    }

    /// Parses a ping's `timestamp`: unix seconds or RFC 3339 (any offset; a fraction of
    /// a second is dropped).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Timestamp(raw.to_owned());
        let s = raw.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let secs: i64 = s.parse().map_err(|_| bad())?;
            return Self::from_secs(secs).ok_or_else(bad);
        }
        let parsed = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| bad())?;
        Self::from_secs(parsed.unix_timestamp()).ok_or_else(bad)
    }

    /// Whole unix seconds, truncated.
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// This moment plus `secs`, saturating at the representable maximum.
    pub fn plus(self, secs: u64) -> Self {
        let ms = i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
        Self(self.0.saturating_add(ms).min(MAX_UNIX_MS))
    }

    /// Whole seconds from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: UnixTime) -> u64 {
        u64::try_from((self.0 - earlier.0).div_euclid(1000)).unwrap_or(0)
    }

    /// RFC 3339 in UTC with a `Z`, seconds precision.
    pub fn rfc3339(self) -> String {
        match OffsetDateTime::from_unix_timestamp(self.secs()) {
            Ok(t) => t
                .format(&time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                ))
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// The wall clock in unix milliseconds; the sweeper and the dispatcher schedule with it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether a job is pinging on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Up,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Down => "down",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "up" => Some(Status::Up),
            "down" => Some(Status::Down),
            _ => None,
        }
    }
}

/// One monitored job, as stored and as shown by the job routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub name: JobName,
    pub frequency: Frequency,
    pub grace: Grace,
    pub last_ping: UnixTime,
    pub status: Status,
    /// When the job went down (the deadline it missed); `None` while up.
    pub down_since: Option<UnixTime>,
    /// `down` alerts raised in the current (or last) down episode: 1 for the first,
    /// 2 for the first reminder, …
    pub episode_alerts: u32,
    /// Every alert raised for this job since it was created (down, reminders and up).
    pub alerts_sent: u64,
    pub pings_total: u64,
    /// When a down job's next reminder is due; `None` while up or when reminders are off.
    pub next_reminder: Option<UnixTime>,
}

impl Job {
    /// The moment after which the job is overdue: last ping + frequency + grace.
    pub fn deadline(&self) -> UnixTime {
        self.last_ping
            .plus(self.frequency.seconds())
            .plus(self.grace.seconds())
    }

    /// The job object of SPEC section 4.
    pub fn to_json(&self) -> serde_json::Value {
        let deadline = self.deadline();
        serde_json::json!({
            "name": self.name,
            "frequency": self.frequency.as_str(),
            "frequency_seconds": self.frequency.seconds(),
            "grace_seconds": self.grace.seconds(),
            "status": self.status.as_str(),
            "last_ping": self.last_ping.rfc3339(),
            "last_ping_unix": self.last_ping.secs(),
            "next_deadline": deadline.rfc3339(),
            "next_deadline_unix": deadline.secs(),
            "down_since": self.down_since.map(UnixTime::rfc3339),
            "alerts_sent": self.alerts_sent,
            "pings_total": self.pings_total,
        })
    }
}

/// What an alert says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertEvent {
    Down,
    Up,
}

impl AlertEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Down => "down",
            AlertEvent::Up => "up",
        }
    }
}

/// An alert raised for a job: everything of the SPEC section 5 payload except
/// `sent_at` and `monitor`, which are filled in at each delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub event: AlertEvent,
    pub name: JobName,
    pub frequency: String,
    pub frequency_seconds: u64,
    pub grace_seconds: u64,
    pub last_ping: String,
    pub last_ping_unix: i64,
    pub expected_by: String,
    pub expected_by_unix: i64,
    pub overdue_seconds: u64,
    pub alert_count: u32,
    /// When the alert was raised, in unix seconds; deliveries give up 24 h after it.
    pub raised_at_unix: i64,
}

impl Alert {
    /// Builds an alert for `job` as it is now. For `down`, `now - deadline` is how long
    /// the job is overdue; for `up`, how long it was down.
    pub fn new(job: &Job, event: AlertEvent, now: UnixTime) -> Self {
        let expected_by = job.deadline();
        let overdue_seconds = match event {
            AlertEvent::Down => now.since(expected_by),
            AlertEvent::Up => now.since(job.down_since.unwrap_or(expected_by)),
        };
        Self {
            id: ulid::Ulid::new().to_string(),
            event,
            name: job.name.clone(),
            frequency: job.frequency.as_str().to_owned(),
            frequency_seconds: job.frequency.seconds(),
            grace_seconds: job.grace.seconds(),
            last_ping: job.last_ping.rfc3339(),
            last_ping_unix: job.last_ping.secs(),
            expected_by: expected_by.rfc3339(),
            expected_by_unix: expected_by.secs(),
            overdue_seconds,
            alert_count: job.episode_alerts,
            raised_at_unix: now.secs(),
        }
    }

    /// The webhook body of SPEC section 5.
    pub fn payload(&self, sent_at: UnixTime, monitor: &str) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "event": self.event.as_str(),
            "name": self.name,
            "frequency": self.frequency,
            "frequency_seconds": self.frequency_seconds,
            "grace_seconds": self.grace_seconds,
            "last_ping": self.last_ping,
            "last_ping_unix": self.last_ping_unix,
            "expected_by": self.expected_by,
            "expected_by_unix": self.expected_by_unix,
            "overdue_seconds": self.overdue_seconds,
            "alert_count": self.alert_count,
            "sent_at": sent_at.rfc3339(),
            "monitor": monitor,
        })
    }
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
            frequency: Frequency::parse("10m").unwrap(),
            grace: Grace::parse("30s").unwrap(),
            last_ping: UnixTime::from_secs(1_000).unwrap(),
            status: Status::Up,
            down_since: None,
            episode_alerts: 0,
            alerts_sent: 0,
            pings_total: 1,
            next_reminder: None,
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
