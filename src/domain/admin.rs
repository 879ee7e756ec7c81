//! What an operator asks of a job (SPEC §12): pause it, resume it, acknowledge its
//! outage. Parsed once at the boundary; the rules that apply them are in
//! `job/pause.rs`.

use super::duration::{parse_duration_secs, MAX_FREQUENCY_SECS};
use super::{ParseError, Status, UnixTime};

/// Longest acknowledgement note, in bytes.
pub const MAX_NOTE_BYTES: usize = 500;

/// An operator's action on one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    /// Pause the job until this moment, or until it is resumed (`None`).
    Pause { until: Option<UnixTime> },
    /// End the job's pause now.
    Resume,
    /// Stop the reminders of the job's current down episode.
    Acknowledge { note: Option<Note> },
}

impl AdminAction {
    /// The action's name in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            AdminAction::Pause { .. } => "pause",
            AdminAction::Resume => "resume",
            AdminAction::Acknowledge { .. } => "ack",
        }
    }
}

/// Why an action does not apply to the job as it is (409): nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Only a paused job can be resumed; the job has this status.
    NotPaused(Status),
    /// Only a down job can be acknowledged; the job has this status.
    NotDown(Status),
}

/// The note of an acknowledgement: at most [`MAX_NOTE_BYTES`] bytes of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.len() > MAX_NOTE_BYTES {
            return Err(ParseError::NoteTooLong(raw.len()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// When a pause asked for at `now` ends, from its optional `for` (a duration of the
/// frequency grammar, 1 s to 366 days) or `until` (unix seconds or RFC 3339, in the
/// future); neither is a pause until resumed, both are refused.
pub fn pause_end(
    pause_for: Option<&str>,
    until: Option<&str>,
    now: UnixTime,
) -> Result<Option<UnixTime>, ParseError> {
    match (pause_for, until) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ParseError::PauseBoth),
        (Some(raw), None) => {
            let invalid = |reason: String| ParseError::Duration {
                field: "for",
                value: raw.to_owned(),
                reason,
            };
            let secs = parse_duration_secs(raw).map_err(invalid)?;
            if !(1..=MAX_FREQUENCY_SECS).contains(&secs) {
                return Err(invalid(
                    "must be between 1s and 366D, e.g. for=2h or for=1h30m".to_owned(),
                ));
            }
            Ok(Some(now.plus(secs)))
        }
        (None, Some(raw)) => {
            let at = UnixTime::parse(raw).map_err(|_| ParseError::PauseUntil(raw.to_owned()))?;
            if at <= now {
                return Err(ParseError::PauseUntilPast(raw.to_owned()));
            }
            Ok(Some(at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs).unwrap()
    }

    #[test]
    fn a_pause_ends_after_for_at_until_or_never() {
        let now = t(1_000);
        assert_eq!(pause_end(None, None, now), Ok(None));
        assert_eq!(pause_end(Some("2h"), None, now), Ok(Some(t(8_200))));
        assert_eq!(pause_end(None, Some("5000"), now), Ok(Some(t(5_000))));
        assert_eq!(
            pause_end(None, Some("1970-01-01T01:00:00+01:00"), t(1)),
            Err(ParseError::PauseUntilPast(
                "1970-01-01T01:00:00+01:00".to_owned()
            ))
        );
    }

    #[test]
    fn malformed_or_contradictory_ends_are_refused_naming_the_parameter() {
        let now = t(1_000);
        for (pause_for, until, named) in [
            (Some("2x"), None, "for"),
            (Some("0s"), None, "for"),
            (Some("367D"), None, "for"),
            (None, Some("tomorrow"), "until"),
            (None, Some("999"), "until"),
            (Some("1h"), Some("5000"), "for"),
        ] {
            let message = pause_end(pause_for, until, now)
                .expect_err("refused")
                .to_string();
            assert!(message.contains(named), "{message}");
        }
    }

    #[test]
    fn a_note_is_at_most_500_bytes() {
        assert!(Note::parse(&"é".repeat(250)).is_ok());
        assert_eq!(
            Note::parse(&"a".repeat(501)),
            Err(ParseError::NoteTooLong(501))
        );
    }
}
