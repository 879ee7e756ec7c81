//! Runs (SPEC §10): what a ping says about a run, the values it carries, and a job's
//! open runs.

use std::fmt;
use std::sync::Arc;

use super::{parse_duration_secs, ParseError, UnixTime, MAX_FREQUENCY_SECS};

/// Open runs a job keeps; a start beyond them drops the oldest.
pub const MAX_OPEN_RUNS: usize = 10;
/// Bytes of a run's output kept with its event.
pub const MAX_OUTPUT_BYTES: usize = 10 * 1024;
/// Bytes of the failing ping's output an alert carries.
pub const ALERT_LOG_BYTES: usize = 1_000;
/// Longest accepted run id, in bytes.
pub const MAX_RUN_ID_BYTES: usize = 64;
/// Most consecutive failures a job may tolerate.
pub const MAX_FAILURE_TOLERANCE: u8 = 100;

/// What a ping reports about a run: the `state` parameter, made a `fail` by a non-zero
/// exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signal {
    /// A run ended well, or a plain ping.
    #[default]
    Success,
    /// A run began.
    Start,
    /// A run ended badly.
    Fail,
    /// A message for the history; nothing else changes.
    Log,
}

impl Signal {
    /// The signal of a ping with `state` and `exit_code` as sent.
    pub fn parse(state: Option<&str>, exit_code: Option<ExitCode>) -> Result<Self, ParseError> {
        let signal = match state {
            None | Some("success") => Signal::Success,
            Some("start") => Signal::Start,
            Some("fail") => Signal::Fail,
            Some("log") => Signal::Log,
            Some(other) => return Err(ParseError::State(other.to_owned())),
        };
        Ok(match (signal, exit_code) {
            (Signal::Success, Some(code)) if code.get() != 0 => Signal::Fail,
            (signal, _) => signal,
        })
    }

    /// The `state` value, as the parameter spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Success => "success",
            Signal::Start => "start",
            Signal::Fail => "fail",
            Signal::Log => "log",
        }
    }
}

/// A command's exit status as a job reports it: 0–255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitCode(u8);

impl ExitCode {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        raw.trim()
            .parse::<u8>()
            .map(Self)
            .map_err(|_| ParseError::ExitCode(raw.to_owned()))
    }

    pub fn new(code: u8) -> Self {
        Self(code)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A run id tying a `start` to the ping that ends its run: 1–64 printable ASCII bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RunId(Arc<str>);

impl RunId {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let printable = raw.bytes().all(|b| (0x20..0x7f).contains(&b));
        if raw.is_empty() || raw.len() > MAX_RUN_ID_BYTES || !printable {
            return Err(ParseError::RunId(raw.to_owned()));
        }
        Ok(Self(Arc::from(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many consecutive `fail`s a job tolerates before it goes down: 0–100.
pub fn parse_failure_tolerance(raw: &str) -> Result<u8, ParseError> {
    raw.trim()
        .parse::<u8>()
        .ok()
        .filter(|n| *n <= MAX_FAILURE_TOLERANCE)
        .ok_or_else(|| ParseError::FailureTolerance(raw.to_owned()))
}

/// How long a started run may take, in seconds: the duration grammar, 1 s to 366 days;
/// `0` clears it (`None`).
pub fn parse_max_runtime(raw: &str) -> Result<Option<u64>, ParseError> {
    let trimmed = raw.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b == b'0') {
        return Ok(None);
    }
    let invalid = |reason: String| ParseError::Duration {
        field: "max_runtime",
        value: raw.to_owned(),
        reason,
    };
    let secs = parse_duration_secs(raw).map_err(invalid)?;
    if secs == 0 {
        return Err(invalid(
            "must be at least 1s; expected 0 (no limit) or <integer><unit> with unit s, m, h, \
             D or W, e.g. 30m, 2h"
                .to_owned(),
        ));
    }
    if secs > MAX_FREQUENCY_SECS {
        return Err(invalid(
            "must be at most 366D; expected 0 (no limit) or <integer><unit> with unit s, m, \
             h, D or W, e.g. 30m, 2h"
                .to_owned(),
        ));
    }
    Ok(Some(secs))
}

/// A run's output as kept with its event: the first 10 KiB of the body, invalid UTF-8
/// replaced by U+FFFD, cut on a character boundary.
#[derive(Clone, PartialEq, Eq)]
pub struct Output(Box<str>);

impl Output {
    /// The output of a body; `None` for an empty one.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        if body.is_empty() {
            return None;
        }
        let head = &body[..body.len().min(MAX_OUTPUT_BYTES)];
        let text = String::from_utf8_lossy(head);
        // A replacement character takes three bytes for one: cut again on a boundary.
        Some(Self(Box::from(prefix_within(&text, MAX_OUTPUT_BYTES))))
    }

    /// Output read back from the store, already cut.
    pub fn from_stored(text: &str) -> Self {
        Self(Box::from(prefix_within(text, MAX_OUTPUT_BYTES)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last `max` bytes, from a character boundary: what an alert carries.
    pub fn tail(&self, max: usize) -> &str {
        let mut start = self.0.len().saturating_sub(max);
        while !self.0.is_char_boundary(start) {
            start += 1;
        }
        &self.0[start..]
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Output({} bytes)", self.0.len())
    }
}

fn prefix_within(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A run that started and has not ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRun {
    pub rid: Option<RunId>,
    pub started: UnixTime,
    /// Its `max_runtime` passed and the job went down for it: it is not timed out again.
    pub timed_out: bool,
}

/// What a job knows of its runs. Boxed inside the job and absent until a job first uses
/// runs, so that the million jobs that only ping cost nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Runs {
    /// Oldest first, at most [`MAX_OPEN_RUNS`].
    pub open: Vec<OpenRun>,
    pub last_duration_ms: Option<u64>,
    pub last_exit_code: Option<u8>,
    /// Seconds a run may take; `None` for no limit.
    pub max_runtime: Option<u64>,
    pub failure_tolerance: u8,
    pub consecutive_failures: u32,
}

impl Runs {
    /// Whether these are the defaults, which a job then does not keep.
    pub fn is_default(&self) -> bool {
        *self == Runs::default()
    }

    /// Opens a run at `at`, dropping the oldest beyond the limit.
    pub fn start(&mut self, rid: Option<RunId>, at: UnixTime) {
        if self.open.len() >= MAX_OPEN_RUNS {
            self.open.remove(0);
        }
        self.open.push(OpenRun {
            rid,
            started: at,
            timed_out: false,
        });
    }

    /// Ends the run with `rid`, or without one the most recent; returns its duration
    /// in milliseconds up to `at`, `None` when no such run is open.
    pub fn end(&mut self, rid: Option<&RunId>, at: UnixTime) -> Option<u64> {
        let index = match rid {
            Some(rid) => self
                .open
                .iter()
                .rposition(|r| r.rid.as_ref() == Some(rid))?,
            None => self.open.len().checked_sub(1)?,
        };
        let run = self.open.remove(index);
        let duration = u64::try_from(at.millis() - run.started.millis()).unwrap_or(0);
        self.last_duration_ms = Some(duration);
        Some(duration)
    }

    /// When the earliest open run that has not timed out must end by.
    pub fn end_by(&self) -> Option<UnixTime> {
        let limit = self.max_runtime?;
        self.open
            .iter()
            .filter(|r| !r.timed_out)
            .map(|r| r.started.plus(limit))
            .min()
    }

    /// The run whose time ran out by `now`, marked so; its duration so far in ms.
    pub fn time_out(&mut self, now: UnixTime) -> Option<u64> {
        let limit = self.max_runtime?;
        let run = self
            .open
            .iter_mut()
            .filter(|r| !r.timed_out && super::is_due(r.started.plus(limit), now))
            .min_by_key(|r| r.started)?;
        run.timed_out = true;
        Some(u64::try_from(now.millis() - run.started.millis()).unwrap_or(0))
    }

    /// Marks every run whose time ran out by `now` as timed out, without the alert
    /// [`Self::time_out`] leads to: for runs that ended their time while nothing
    /// could be alerted (a paused job).
    pub fn expire(&mut self, now: UnixTime) {
        let Some(limit) = self.max_runtime else {
            return;
        };
        for run in &mut self.open {
            if super::is_due(run.started.plus(limit), now) {
                run.timed_out = true;
            }
        }
    }

    /// The start of the most recent open run.
    pub fn last_start(&self) -> Option<UnixTime> {
        self.open.last().map(|r| r.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs).unwrap()
    }

    #[test]
    fn states_parse_and_a_non_zero_exit_code_makes_a_fail() {
        let code = |c| Some(ExitCode::new(c));
        assert_eq!(Signal::parse(None, None), Ok(Signal::Success));
        assert_eq!(Signal::parse(Some("start"), None), Ok(Signal::Start));
        assert_eq!(Signal::parse(Some("log"), None), Ok(Signal::Log));
        assert_eq!(Signal::parse(None, code(2)), Ok(Signal::Fail));
        assert_eq!(Signal::parse(Some("success"), code(0)), Ok(Signal::Success));
        assert_eq!(Signal::parse(Some("fail"), code(0)), Ok(Signal::Fail));
        assert!(Signal::parse(Some("START"), None).is_err());
        assert!(Signal::parse(Some(""), None).is_err());
    }

    #[test]
    fn values_are_bounded() {
        assert_eq!(ExitCode::parse("255").map(ExitCode::get), Ok(255));
        for bad in ["256", "-1", "", "1.0", "x"] {
            assert!(ExitCode::parse(bad).is_err(), "{bad}");
        }
        assert!(RunId::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "a\u{7f}", "é", "\n"] {
            assert!(RunId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RunId::parse(&"a".repeat(65)).is_err());
        assert_eq!(parse_failure_tolerance("100"), Ok(100));
        assert!(parse_failure_tolerance("101").is_err());
        assert_eq!(parse_max_runtime("0"), Ok(None));
        assert_eq!(parse_max_runtime("1h"), Ok(Some(3_600)));
        assert!(parse_max_runtime("367D").is_err());
        assert!(parse_max_runtime("abc").is_err());
        // A zero duration with a unit is below the 1s floor, not the `0` that clears it
        // (found by the run_params fuzz target).
        assert!(parse_max_runtime("0m").is_err());
        assert!(parse_max_runtime("0s").is_err());
    }

    #[test]
    fn output_keeps_ten_kib_of_text_and_alerts_its_tail() {
        assert!(Output::from_body(b"").is_none());
        let long = "é".repeat(6_000);
        let kept = Output::from_body(long.as_bytes()).unwrap();
        assert!(kept.as_str().len() <= MAX_OUTPUT_BYTES);
        assert!(kept.as_str().chars().all(|c| c == 'é'));
        assert!(kept.tail(1_000).len() <= 1_000);
        let lossy = Output::from_body(b"ok \xff done").unwrap();
        assert_eq!(lossy.as_str(), "ok \u{fffd} done");
    }

    #[test]
    fn runs_end_by_id_or_latest_and_keep_ten() {
        let mut runs = Runs::default();
        let a = RunId::parse("a").ok();
        runs.start(a.clone(), t(10));
        runs.start(None, t(20));
        assert_eq!(runs.end(a.as_ref(), t(15)), Some(5_000));
        assert_eq!(runs.end(None, t(26)), Some(6_000));
        assert_eq!(runs.end(None, t(30)), None);
        for i in 0..12 {
            runs.start(None, t(100 + i));
        }
        assert_eq!(runs.open.len(), MAX_OPEN_RUNS);
        assert_eq!(runs.open[0].started, t(102));
    }

    #[test]
    fn a_run_times_out_once() {
        let mut runs = Runs {
            max_runtime: Some(60),
            ..Runs::default()
        };
        runs.start(None, t(0));
        assert_eq!(runs.end_by(), Some(t(60)));
        assert_eq!(runs.time_out(t(60)), None, "not at its limit itself");
        assert_eq!(runs.time_out(t(61)), Some(61_000));
        assert_eq!(runs.time_out(t(62)), None);
        assert_eq!(runs.end_by(), None);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,80}") {
            let _ = Signal::parse(Some(&s), ExitCode::parse(&s).ok());
            let _ = RunId::parse(&s);
            let _ = parse_failure_tolerance(&s);
            let _ = parse_max_runtime(&s);
        }

        #[test]
        fn output_is_always_within_bounds(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12_000)) {
            if let Some(out) = Output::from_body(&bytes) {
                proptest::prop_assert!(out.as_str().len() <= MAX_OUTPUT_BYTES);
                proptest::prop_assert!(out.tail(ALERT_LOG_BYTES).len() <= ALERT_LOG_BYTES);
            }
        }
    }
}
