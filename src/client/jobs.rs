//! `overdue jobs …`: the admin routes (SPEC §4, §12, §13) as tables and text, or as the
//! API's JSON with `--json`.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::http::{segment, Access, Call, Monitor, RequestError};
use super::table::{cell, now, relative, render, rfc3339, time_cell};
use crate::domain::{parse_duration_secs, JobName, ParseError};

/// Jobs a page of `GET /pings` may hold at most (SPEC §4).
const PAGE: &str = "10000";

/// `overdue jobs`'s arguments.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,

    /// Print the API's JSON as the monitor answered it
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum JobsCommand {
    /// Lists every job, sorted by name
    List {
        /// Only the jobs with this status
        #[arg(long, value_parser = ["up", "down", "paused"])]
        status: Option<String>,
    },
    /// Shows one job
    Get {
        #[arg(value_parser = JobName::parse)]
        name: JobName,
    },
    /// Shows a job's history, newest first
    Events {
        #[arg(value_parser = JobName::parse)]
        name: JobName,
    },
    /// Deletes a job: no more alerts for it
    Delete {
        #[arg(value_parser = JobName::parse)]
        name: JobName,
    },
    /// Pauses a job's alerts, until resumed or for a while
    Pause {
        #[arg(value_parser = JobName::parse)]
        name: JobName,
        /// How long the pause lasts, e.g. 2h [default: until resumed]
        #[arg(long = "for", value_name = "DUR", value_parser = parse_pause)]
        pause_for: Option<String>,
    },
    /// Ends a job's pause
    Resume {
        #[arg(value_parser = JobName::parse)]
        name: JobName,
    },
    /// Acknowledges a down job: no more reminders until it comes up
    Ack {
        #[arg(value_parser = JobName::parse)]
        name: JobName,
        /// A note shown with the acknowledgement (at most 500 bytes)
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
}

/// A pause's length takes the duration grammar of SPEC §3.
fn parse_pause(raw: &str) -> Result<String, ParseError> {
    parse_duration_secs(raw)
        .map(|_| raw.trim().to_owned())
        .map_err(|reason| ParseError::Duration {
            field: "for",
            value: raw.to_owned(),
            reason,
        })
}

pub async fn jobs(monitor: &Monitor, args: JobsArgs, timeout: Duration) -> u8 {
    let json = args.json;
    let answer = match args.command {
        JobsCommand::List { status } => list(monitor, status, json, timeout).await,
        JobsCommand::Get { name } => {
            let call = admin(Method::GET, job_path(&name, ""), true);
            let shown = if json { raw } else { show_job };
            monitor.send(&call, timeout).await.map(|body| shown(&body))
        }
        JobsCommand::Events { name } => {
            let call = admin(Method::GET, job_path(&name, "/events"), true);
            let shown = if json { raw } else { show_events };
            monitor.send(&call, timeout).await.map(|body| shown(&body))
        }
        JobsCommand::Delete { name } => {
            let call = admin(Method::DELETE, job_path(&name, ""), json);
            monitor.send(&call, timeout).await
        }
        JobsCommand::Pause { name, pause_for } => {
            let mut call = admin(Method::POST, job_path(&name, "/pause"), json);
            call.query.extend(pause_for.map(|d| ("for", d)));
            monitor.send(&call, timeout).await
        }
        JobsCommand::Resume { name } => {
            let call = admin(Method::POST, job_path(&name, "/resume"), json);
            monitor.send(&call, timeout).await
        }
        JobsCommand::Ack { name, note } => {
            let mut call = admin(Method::POST, job_path(&name, "/ack"), json);
            call.query.extend(note.map(|n| ("note", n)));
            monitor.send(&call, timeout).await
        }
    };
    match answer {
        Ok(text) => {
            super::print(&text);
            0
        }
        Err(e) => super::failed(&e),
    }
}

fn admin(method: Method, path: String, json: bool) -> Call {
    let mut call = Call::new(method, path, Access::Admin);
    call.json = json;
    call
}

fn job_path(name: &JobName, rest: &str) -> String {
    format!("/ping/{}{rest}", segment(name.as_str()))
}

fn raw(body: &[u8]) -> Vec<u8> {
    body.to_vec()
}

/// Every page of `GET /pings`: a table, or the pages' jobs in one answer of the same
/// shape (the monitor's own answer when there is one page).
async fn list(
    monitor: &Monitor,
    status: Option<String>,
    json: bool,
    timeout: Duration,
) -> Result<Vec<u8>, RequestError> {
    let mut jobs = Vec::new();
    let mut after: Option<String> = None;
    let mut first: Option<Vec<u8>> = None;
    let mut pages = 0;
    let mut total;
    loop {
        let mut call = admin(Method::GET, "/pings".to_owned(), true);
        call.query.push(("limit", PAGE.to_owned()));
        call.query.extend(status.clone().map(|s| ("status", s)));
        call.query.extend(after.take().map(|a| ("after", a)));
        let body = monitor.send(&call, timeout).await?;
        let page: Value = serde_json::from_slice(&body).map_err(|e| RequestError::Refused {
            status: 200,
            message: format!("an answer that is not the expected JSON: {e}"),
        })?;
        pages += 1;
        if first.is_none() {
            first = Some(body);
        }
        total = page.get("total").cloned().unwrap_or(Value::Null);
        if let Some(Value::Array(services)) = page.get("services") {
            jobs.extend(services.iter().cloned());
        }
        match page.get("next").and_then(Value::as_str) {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    if json {
        return Ok(match first {
            Some(body) if pages == 1 => body,
            _ => {
                let merged = serde_json::json!({"services": jobs, "total": total, "next": null});
                merged.to_string().into_bytes()
            }
        });
    }
    if jobs.is_empty() {
        return Ok(b"no jobs\n".to_vec());
    }
    let now = now();
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            vec![
                cell(job.get("name")),
                cell(job.get("status")),
                every(job),
                time_cell(job, "last_ping", now),
                time_cell(job, "next_deadline", now),
            ]
        })
        .collect();
    Ok(render(&["NAME", "STATUS", "EVERY", "LAST PING", "DEADLINE"], &rows).into_bytes())
}

/// How often a job runs: its frequency, or its schedule and zone (SPEC §11).
fn every(job: &Value) -> String {
    match (
        job.get("frequency").and_then(Value::as_str),
        job.get("schedule").and_then(Value::as_str),
    ) {
        (Some(frequency), _) => frequency.to_owned(),
        (None, Some(schedule)) => match job.get("timezone").and_then(Value::as_str) {
            Some(zone) => format!("{schedule} ({zone})"),
            None => schedule.to_owned(),
        },
        (None, None) => "-".to_owned(),
    }
}

/// A job object as `field  value` lines, in the API's order; times also relative.
fn show_job(body: &[u8]) -> Vec<u8> {
    let Ok(Value::Object(job)) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let object = Value::Object(job.clone());
    let now = now();
    let rows: Vec<Vec<String>> = job
        .iter()
        .filter(|(key, _)| !key.ends_with("_unix") && !key.ends_with("_unix_ms"))
        .map(|(key, value)| {
            let mut shown = cell(Some(value));
            let unix = object.get(format!("{key}_unix")).and_then(Value::as_i64);
            if let Some(unix) = unix.or_else(|| value.as_str().and_then(rfc3339)) {
                shown = format!("{shown} ({})", relative(unix, now));
            }
            vec![key.replace('_', " "), shown]
        })
        .collect();
    render_without_header(&rows)
}

/// A page of events as a table, newest first as the monitor sends them.
fn show_events(body: &[u8]) -> Vec<u8> {
    let Ok(page) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let events = match page.get("events") {
        Some(Value::Array(events)) if !events.is_empty() => events,
        _ => return b"no events\n".to_vec(),
    };
    let now = now();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            let details = match event {
                Value::Object(fields) => fields
                    .iter()
                    .filter(|(key, value)| {
                        !matches!(key.as_str(), "seq" | "at" | "at_unix_ms" | "kind")
                            && !value.is_null()
                    })
                    .map(|(key, value)| format!("{key}={}", one_line(&cell(Some(value)))))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            };
            vec![
                cell(event.get("seq")),
                time_cell(event, "at", now),
                cell(event.get("kind")),
                details,
            ]
        })
        .collect();
    render(&["SEQ", "WHEN", "KIND", "DETAILS"], &rows).into_bytes()
}

fn render_without_header(rows: &[Vec<String>]) -> Vec<u8> {
    let table = render(&["", ""], rows);
    table.lines().skip(1).fold(Vec::new(), |mut out, line| {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        out
    })
}

/// A kept output on one line of a table: its newlines shown as `\n`.
fn one_line(text: &str) -> String {
    text.replace('\n', "\\n").replace('\r', "\\r")
}
