//! `overdue jobs …`: tables and text by default, the API's JSON with `--json`.

use serde_json::Value;

use crate::support::{closed_port, overdue, run_to_exit, Monitor, Recorder};

fn jobs(monitor_url: &str, args: &[&str]) -> crate::support::Finished {
    let mut all = vec!["jobs"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--url", monitor_url]);
    run_to_exit(overdue(&all))
}

#[test]
fn jobs_list_prints_aligned_columns_with_relative_times() {
    let monitor = Monitor::start(&[]);
    monitor.ping("backup", "1D");
    monitor.ping("a-much-longer-job-name", "15m");
    let out = jobs(&monitor.url, &["list"]);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("NAME"), "{text}");
    assert!(lines[1].starts_with("a-much-longer-job-name  up"), "{text}");
    assert!(lines[2].starts_with("backup"), "{text}");
    let status_at = lines[0].find("STATUS").expect("STATUS column");
    assert!(
        lines
            .iter()
            .skip(1)
            .all(|l| l[status_at..].starts_with("up")),
        "aligned: {text}"
    );
    assert!(
        lines[2].contains("in 24 h") || lines[2].contains("in 23 h"),
        "{text}"
    );
    assert!(
        lines[1].contains("in 15 min") || lines[1].contains("in 14 min"),
        "{text}"
    );
    assert!(
        lines[1].contains(" now ") || lines[1].contains(" s ago"),
        "{text}"
    );
}

#[test]
fn jobs_list_json_is_the_apis_answer() {
    let monitor = Monitor::start(&[]);
    monitor.ping("backup", "1D");
    let out = jobs(&monitor.url, &["list", "--json"]);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let (_, api) = monitor.get_json("/pings");
    assert_eq!(printed, api);
}

#[test]
fn jobs_list_status_keeps_the_jobs_with_that_status() {
    let monitor = Monitor::start(&[]);
    monitor.ping("backup", "1D");
    let out = jobs(&monitor.url, &["list", "--status", "down"]);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout_text(), "no jobs\n");
    let up = jobs(&monitor.url, &["list", "--status", "up", "--json"]);
    let printed: Value = serde_json::from_slice(&up.stdout).expect("json");
    assert_eq!(printed["total"], 1);
}

#[test]
fn jobs_get_shows_the_job_as_text_and_json_as_the_api_answers() {
    let monitor = Monitor::start(&[]);
    monitor.ping("db backup", "1D");
    let text = jobs(&monitor.url, &["get", "db backup"]);
    assert_eq!(text.code(), Some(0), "stderr: {}", text.stderr);
    let shown = text.stdout_text();
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("name") && l.ends_with("db backup")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("next deadline") && l.contains("(in ")),
        "{shown}"
    );
    let json = jobs(&monitor.url, &["get", "db backup", "--json"]);
    let printed: Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(printed, monitor.job("db backup"));
}

#[test]
fn an_unknown_job_exits_1_with_the_monitors_404_on_one_line() {
    let monitor = Monitor::start(&[]);
    for args in [&["get", "ghost"][..], &["delete", "ghost"][..]] {
        let out = jobs(&monitor.url, args);
        assert_eq!(out.code(), Some(1), "{args:?}");
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
        assert!(
            out.stderr.starts_with("error: the monitor answered 404: "),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn jobs_delete_deletes_the_job() {
    let monitor = Monitor::start(&[]);
    monitor.ping("backup", "1D");
    let out = jobs(&monitor.url, &["delete", "backup"]);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout_text(), "Successfully deleted ping: backup\n");
    assert_eq!(monitor.get_json("/ping/backup").0, 404);
}

#[test]
fn the_admin_token_goes_with_admin_requests() {
    let monitor = Monitor::start(&["--admin-token", "adm"]);
    monitor.ping("backup", "1D");
    let refused = jobs(&monitor.url, &["list"]);
    assert_eq!(refused.code(), Some(1));
    assert!(
        refused
            .stderr
            .starts_with("error: the monitor answered 401: "),
        "{}",
        refused.stderr
    );
    let wrong = jobs(&monitor.url, &["list", "--admin-token", "nope"]);
    assert!(
        wrong
            .stderr
            .starts_with("error: the monitor answered 403: "),
        "{}",
        wrong.stderr
    );
    let mut cmd = overdue(&["jobs", "list", "--url", &monitor.url]);
    cmd.env("OVERDUE_ADMIN_TOKEN", "adm");
    let accepted = run_to_exit(cmd);
    assert_eq!(accepted.code(), Some(0), "stderr: {}", accepted.stderr);
    assert!(accepted.stdout_text().contains("backup"));
}

#[test]
fn jobs_against_a_monitor_that_is_down_exit_1_saying_so() {
    let url = closed_port();
    let out = jobs(&url, &["list"]);
    assert_eq!(out.code(), Some(1));
    assert_eq!(
        out.stderr_lines(),
        [format!("error: cannot reach {url}: connection refused")]
    );
}

#[test]
fn pause_resume_ack_and_events_send_the_documented_requests() {
    let recorder = Recorder::start();
    for args in [
        &["pause", "db backup", "--for", "2h"][..],
        &["resume", "db backup"][..],
        &["ack", "db backup", "--note", "on it"][..],
        &["events", "db backup", "--json"][..],
    ] {
        let out = jobs(&recorder.url, args);
        assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
    }
    let received = recorder.received();
    let seen: Vec<(String, String)> = received
        .iter()
        .map(|r| (r.method.to_string(), r.uri.to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "POST".to_owned(),
                "/ping/db%20backup/pause?for=2h".to_owned()
            ),
            ("POST".to_owned(), "/ping/db%20backup/resume".to_owned()),
            (
                "POST".to_owned(),
                "/ping/db%20backup/ack?note=on+it".to_owned()
            ),
            ("GET".to_owned(), "/ping/db%20backup/events".to_owned()),
        ]
    );
}

#[test]
fn pause_resume_and_ack_succeed_and_a_refusal_exits_1_on_one_line() {
    let monitor = Monitor::start(&[]);
    monitor.ping("backup", "1D");
    let out = jobs(&monitor.url, &["pause", "backup", "--for", "2h"]);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    let job = monitor.job("backup");
    assert_eq!(job["status"], "paused");
    let until = job["paused_until"].as_str().expect("paused_until");
    assert_eq!(out.stdout_text(), format!("Paused backup until {until}\n"));
    let listed = jobs(&monitor.url, &["list", "--status", "paused"]);
    assert_eq!(listed.code(), Some(0), "stderr: {}", listed.stderr);
    assert!(listed
        .stdout_text()
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("backup")));
    // Only a down job can be acknowledged: the monitor's 409, on one line.
    let out = jobs(&monitor.url, &["ack", "backup", "--note", "on it"]);
    assert_eq!(out.code(), Some(1));
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: the monitor answered 409: "),
        "{}",
        out.stderr
    );
    let out = jobs(&monitor.url, &["resume", "backup", "--json"]);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(printed["status"], "up");
    assert_eq!(printed, monitor.job("backup"));
    let out = jobs(&monitor.url, &["resume", "backup"]);
    assert_eq!(out.code(), Some(1), "not paused any more");
    assert!(out.stderr.contains("409"), "{}", out.stderr);
}

#[test]
fn a_bad_pause_length_is_a_usage_error() {
    let out = jobs(&closed_port(), &["pause", "backup", "--for", "soon"]);
    assert_eq!(out.code(), Some(2));
    assert!(
        out.stderr.contains("invalid for \"soon\""),
        "{}",
        out.stderr
    );
}
