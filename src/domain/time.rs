//! Instants: unix milliseconds, parsed from a ping's `timestamp` and shown as RFC 3339.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::ParseError;

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

    /// The wall clock; the sweeper and the dispatcher schedule with it.
    pub fn now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(ms.clamp(0, MAX_UNIX_MS))
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

    /// This moment plus `ms` milliseconds (negative: minus), within the representable
    /// range.
    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms).clamp(0, MAX_UNIX_MS))
    }

    /// How long from `self` until `later`; zero when `later` has passed.
    pub fn until(self, later: UnixTime) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(later.0 - self.0).unwrap_or(0))
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
