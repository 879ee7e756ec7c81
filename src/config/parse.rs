//! The value parsers of the flags: each turns one raw value into its typed form, or
//! says what form it accepts.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::alerts::Signer;
use crate::domain::parse_duration_secs;
use crate::http::RateLimit;
use crate::secret::Secret;

/// Where a `sqlite://` store lives, as an absolute path for the log at start: the
/// path is relative to the working directory, which an operator may not know. The
/// parent is resolved when it exists (symbolic links included); otherwise the path is
/// joined to the working directory.
pub fn absolute_store_path(path: &Path) -> PathBuf {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let resolved = match (parent.map(std::fs::canonicalize), path.file_name()) {
        (Some(Ok(dir)), Some(file)) => Some(dir.join(file)),
        (None, Some(file)) => std::env::current_dir().ok().map(|dir| dir.join(file)),
        _ => None,
    };
    resolved
        .or_else(|| std::env::current_dir().ok().map(|dir| dir.join(path)))
        .map(|joined| {
            joined
                .components()
                .filter(|c| *c != Component::CurDir)
                .collect()
        })
        .unwrap_or_else(|| path.to_path_buf())
}

/// `--listen`: an IP address and a port.
pub(super) fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    raw.trim()
        .parse()
        .map_err(|_| "expected IP:PORT, e.g. 127.0.0.1:4000, 0.0.0.0:4000 or [::]:4000".into())
}

/// `N/s`, `N/m` (also `N/sec`, `N/min`), or `off` / `0`.
pub(super) fn parse_rate_limit(raw: &str) -> Result<RateLimit, String> {
    let trimmed = raw.trim();
    if trimmed.eq_ignore_ascii_case("off") || trimmed == "0" {
        return Ok(RateLimit::OFF);
    }
    let invalid = || format!("invalid rate {raw:?}: expected N/s or N/m (e.g. 100/s), or off");
    let (count, unit) = trimmed.split_once('/').ok_or_else(invalid)?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        _ => return Err(invalid()),
    };
    let requests: u32 = count.trim().parse().map_err(|_| invalid())?;
    if requests == 0 || requests > 1_000_000 {
        return Err(format!(
            "invalid rate {raw:?}: N must be from 1 to 1000000 (or off)"
        ));
    }
    Ok(RateLimit { requests, per })
}

/// One `--notify` value, or the `OVERDUE_NOTIFY` variable's several URLs, kept as
/// secrets until [`super::Config::settings`] parses them: clap would quote a refused
/// value in its error, and channel URLs carry tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct NotifyUrls(pub(super) Vec<Secret>);

impl std::fmt::Debug for NotifyUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NotifyUrls({} URL(s))", self.0.len())
    }
}

/// URLs separated by white space; parsed into channels by [`super::Config::settings`].
pub(super) fn parse_notify(raw: &str) -> Result<NotifyUrls, String> {
    Ok(NotifyUrls(
        raw.split_whitespace().map(Secret::new).collect(),
    ))
}

pub(super) fn parse_secret(raw: &str) -> Result<Secret, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(Secret::new(raw))
}

/// The alert secret is checked here, so that a bad `whsec_` value stops the start
/// before anything is bound or opened.
pub(super) fn parse_alert_secret(raw: &str) -> Result<Secret, String> {
    let secret = parse_secret(raw)?;
    Signer::new(secret.expose()).map_err(|e| e.to_string())?;
    Ok(secret)
}

/// A whole number from `min` to `max`; the refusal shows that range, not a type's
/// limits.
pub(super) fn whole_number(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ if max == u64::MAX => Err(format!("expected a whole number, at least {min}")),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// `--max-services`: at least 1.
pub(super) fn max_services(raw: &str) -> Result<u64, String> {
    whole_number(raw, 1, u64::MAX)
}

/// `--history`: from 0 (no history) to 10000 events per job.
pub(super) fn history(raw: &str) -> Result<u32, String> {
    whole_number(raw, 0, MAX_HISTORY).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Most events `--history` keeps per job: past this, a job's history would cost more
/// to rewrite than it is worth to read.
const MAX_HISTORY: u64 = 10_000;

/// `--max-connections`: from 1 to 1000000.
pub(super) fn max_connections(raw: &str) -> Result<u32, String> {
    whole_number(raw, 1, 1_000_000).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// `--health-backlog-warn`, `--health-backlog-critical`: any count of alerts.
pub(super) fn health_backlog(raw: &str) -> Result<u64, String> {
    whole_number(raw, 0, u64::MAX)
}

/// `--health-sink-failures`: at least 1; a count no webhook could reach counts as the
/// largest one kept.
pub(super) fn health_sink_failures(raw: &str) -> Result<u32, String> {
    whole_number(raw, 1, u64::MAX).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

pub(super) fn parse_service_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err("expected 1-200 characters without control characters".into());
    }
    Ok(name.to_owned())
}

/// Durations accept the frequency grammar (`30s`, `1h30m`, `1D`), humantime forms
/// (`250ms`, `2days`) and a bare `0`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let trimmed = raw.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b == b'0') {
        return Ok(Duration::ZERO);
    }
    match parse_duration_secs(trimmed) {
        Ok(secs) => return Ok(Duration::from_secs(secs)),
        // humantime would read these as months and years; the grammar refuses them.
        Err(e) if e.contains("months and years") => {
            return Err(format!(
                "invalid duration {raw:?}: months and years are not accepted"
            ))
        }
        Err(_) => {}
    }
    humantime::parse_duration(trimmed).map_err(|_| {
        format!("invalid duration {raw:?}: expected e.g. 0, 250ms, 30s, 5m, 1h30m, 1D or 2W")
    })
}

pub(super) fn parse_positive_duration(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d < Duration::from_millis(10) {
        return Err("must be at least 10ms".into());
    }
    Ok(d)
}

/// `--health-retention`: a number of hours (`24`, `0.5`), or a duration with a unit
/// (`90m`, `2D`, `30s`); at least one second.
pub(super) fn health_retention(raw: &str) -> Result<Duration, String> {
    let trimmed = raw.trim();
    let retention = match trimmed.parse::<f64>() {
        Ok(hours) if hours.is_finite() && hours > 0.0 && hours <= 24.0 * 366.0 => {
            Duration::from_secs_f64(hours * 3600.0)
        }
        Ok(_) => {
            return Err(
                "expected a number of hours above 0 and at most 8784 (24, 0.5), or a duration of at least 1s (90m, 2D)"
                    .into(),
            )
        }
        Err(_) => parse_duration(trimmed).map_err(|_| {
            format!("invalid retention {raw:?}: expected hours (24, 0.5) or a duration (90m, 2D)")
        })?,
    };
    if retention < Duration::from_secs(1) {
        return Err("expected at least 1s: hours (24, 0.5) or a duration (90m, 2D)".into());
    }
    Ok(retention)
}

/// A percentage between 0 and 100.
pub(super) fn health_percent(raw: &str) -> Result<f64, String> {
    match raw.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "invalid percentage {raw:?}: expected a number from 0 to 100"
        )),
    }
}

/// `--perf`: `on` or `off` (also true/false, yes/no, 1/0).
pub(super) fn perf_switch(raw: &str) -> Result<bool, String> {
    perf_bool(raw).map_err(|_| format!("invalid value {raw:?}: expected on or off"))
}

/// A boolean option: true/false, on/off, yes/no or 1/0, in any case.
pub(super) fn perf_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(format!("invalid value {raw:?}: expected true or false")),
    }
}

/// `--perf-retention`: whole seconds from 1s to 24h (a sub-window is 1/12 of it).
pub(super) fn perf_retention(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    let max = crate::perf::MAX_RETENTION_SECS;
    if d.subsec_nanos() != 0 || d.as_secs() == 0 || d.as_secs() > max {
        return Err(format!(
            "must be a whole number of seconds from 1s to {}h, e.g. 1h",
            max / 3600
        ));
    }
    Ok(d)
}

/// `--slow-request`, `--slow-store`: from 0 to 1h.
pub(super) fn perf_threshold(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d > Duration::from_secs(3600) {
        return Err("expected a duration from 0 to 1h, e.g. 250ms".into());
    }
    Ok(d)
}
