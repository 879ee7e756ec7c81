//! Frequencies, graces and the duration grammar they share (SPEC §3).

use std::fmt;
use std::sync::Arc;

use super::ParseError;

/// Shortest accepted frequency.
pub const MIN_FREQUENCY_SECS: u64 = 1;
/// Longest accepted frequency: 366 days.
pub const MAX_FREQUENCY_SECS: u64 = 366 * 86_400;

const FREQUENCY_FORMAT: &str = "expected <integer><unit> with unit s, m, h, D (or d) or W (or w), \
     or a combination such as 1h30m, between 1s and 366D";

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
