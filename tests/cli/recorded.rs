//! What the monitor makes of `overdue run`'s pings (SPEC §10, §13): a run's duration,
//! a failing command marking the job down, the events with the kept output.

use serde_json::Value;

use crate::support::{overdue, run_to_exit, Monitor};

#[test]

fn a_run_records_its_duration_and_exit_code() {
    let monitor = Monitor::start(&[]);
    let out = run_to_exit(overdue(&[
        "run",
        "--name",
        "a",
        "--every",
        "1h",
        "--url",
        &monitor.url,
        "--",
        "sleep",
        "1",
    ]));
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    let job = monitor.job("a");
    assert_eq!(job["status"], "up");
    assert_eq!(job["running"], false);
    assert_eq!(job["last_exit_code"], 0);
    let duration = job["last_duration_seconds"].as_f64().expect("a duration");
    assert!((1.0..5.0).contains(&duration), "{duration}");
}

#[test]

fn a_failing_command_marks_the_job_down_at_once() {
    let monitor = Monitor::start(&[]);
    let out = run_to_exit(overdue(&[
        "run",
        "--name",
        "a",
        "--every",
        "1h",
        "--url",
        &monitor.url,
        "--",
        "sh",
        "-c",
        "echo broken >&2; exit 3",
    ]));
    assert_eq!(out.code(), Some(3));
    let job = monitor.job("a");
    assert_eq!(job["status"], "down");
    assert_eq!(job["last_exit_code"], 3);
}

#[test]

fn ping_state_start_leaves_the_job_running() {
    let monitor = Monitor::start(&[]);
    let out = run_to_exit(overdue(&[
        "ping",
        "a",
        "--every",
        "1h",
        "--state",
        "start",
        "--url",
        &monitor.url,
    ]));
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(monitor.job("a")["running"], true);
    let fail = run_to_exit(overdue(&[
        "ping",
        "a",
        "--exit-code",
        "2",
        "--url",
        &monitor.url,
    ]));
    assert_eq!(fail.code(), Some(0), "stderr: {}", fail.stderr);
    let job = monitor.job("a");
    assert_eq!(job["running"], false);
    assert_eq!(job["status"], "down");
}

#[test]

fn jobs_events_shows_the_runs_with_their_output() {
    let monitor = Monitor::start(&[]);
    let out = run_to_exit(overdue(&[
        "run",
        "--name",
        "a",
        "--every",
        "1h",
        "--url",
        &monitor.url,
        "--",
        "sh",
        "-c",
        "echo hello",
    ]));
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    let table = run_to_exit(overdue(&["jobs", "events", "a", "--url", &monitor.url]));
    assert_eq!(table.code(), Some(0), "stderr: {}", table.stderr);
    let text = table.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("SEQ"), "{text}");
    assert!(lines.iter().any(|l| l.contains("start")), "{text}");
    assert!(lines.iter().any(|l| l.contains("log=hello\\n")), "{text}");
    let json = run_to_exit(overdue(&[
        "jobs",
        "events",
        "a",
        "--json",
        "--url",
        &monitor.url,
    ]));
    let printed: Value = serde_json::from_slice(&json.stdout).expect("json");
    let (_, api) = monitor.get_json("/ping/a/events");
    assert_eq!(printed, api);
}
