//! `overdue run -- COMMAND`: the pings around the command, its streams and status,
//! and a monitor that is down, silent or refusing.

use std::time::Duration;

use crate::support::{
    closed_port, finish, overdue, run_to_exit, silent_monitor, Monitor, Recorder, BUDGET,
};

/// What the monitor keeps of a run's output, and what the finishing ping carries.
const KEPT: usize = 10 * 1024;

fn run_args<'a>(url: &'a str, name: &'a str, command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--name", name, "--every", "1h", "--url", url, "--"];
    args.extend_from_slice(command);
    args
}

#[test]
fn run_pings_start_then_success_with_one_rid_and_the_output_as_body() {
    let recorder = Recorder::start();
    let out = run_to_exit(overdue(&run_args(
        &recorder.url,
        "nightly",
        &["sh", "-c", "echo to-stdout; echo to-stderr >&2"],
    )));
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout_text(), "to-stdout\n");
    assert_eq!(out.stderr, "to-stderr\n");
    let received = recorder.received();
    assert_eq!(received.len(), 2, "{received:?}");
    let (start, end) = (&received[0], &received[1]);
    assert_eq!(start.param("state").as_deref(), Some("start"));
    assert_eq!(start.param("name").as_deref(), Some("nightly"));
    assert_eq!(start.param("frequency").as_deref(), Some("1h"));
    let rid = start.param("rid").expect("start has a rid");
    assert!(!rid.is_empty() && rid.len() <= 64 && rid.bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(end.method, "POST");
    assert_eq!(end.param("state").as_deref(), Some("success"));
    assert_eq!(end.param("exit_code").as_deref(), Some("0"));
    assert_eq!(end.param("rid"), Some(rid));
    let body = String::from_utf8_lossy(&end.body);
    assert!(
        body.contains("to-stdout\n") && body.contains("to-stderr\n"),
        "{body:?}"
    );
}

#[test]
fn each_run_has_a_fresh_rid_and_sends_max_runtime() {
    let recorder = Recorder::start();
    for _ in 0..2 {
        let mut args = run_args(&recorder.url, "a", &["true"]);
        args.splice(1..1, ["--max-runtime", "30m"]);
        assert_eq!(run_to_exit(overdue(&args)).code(), Some(0));
    }
    let received = recorder.received();
    assert_eq!(received.len(), 4);
    assert_ne!(received[0].param("rid"), received[2].param("rid"));
    assert!(received
        .iter()
        .all(|r| r.param("max_runtime").as_deref() == Some("1800s")));
}

#[test]
fn a_failing_command_exits_with_its_status_and_pings_fail_with_its_exit_code() {
    let recorder = Recorder::start();
    let out = run_to_exit(overdue(&run_args(
        &recorder.url,
        "a",
        &["sh", "-c", "echo boom >&2; exit 3"],
    )));
    assert_eq!(out.code(), Some(3));
    let end = &recorder.received()[1];
    assert_eq!(end.param("state").as_deref(), Some("fail"));
    assert_eq!(end.param("exit_code").as_deref(), Some("3"));
    assert_eq!(&end.body[..], b"boom\n");
}

#[test]
fn a_command_ended_by_a_signal_exits_128_plus_its_number() {
    let recorder = Recorder::start();
    let out = run_to_exit(overdue(&run_args(
        &recorder.url,
        "a",
        &["sh", "-c", "kill -9 $$"],
    )));
    assert_eq!(out.code(), Some(137));
    let end = &recorder.received()[1];
    assert_eq!(end.param("state").as_deref(), Some("fail"));
    assert_eq!(end.param("exit_code").as_deref(), Some("137"));
}

#[test]
fn a_command_that_cannot_be_found_exits_127_with_the_fail_ping_sent() {
    let recorder = Recorder::start();
    let out = run_to_exit(overdue(&run_args(
        &recorder.url,
        "a",
        &["/nonexistent/command"],
    )));
    assert_eq!(out.code(), Some(127));
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/command"),
        "{}",
        out.stderr
    );
    let received = recorder.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].param("state").as_deref(), Some("fail"));
    assert_eq!(received[1].param("exit_code").as_deref(), Some("127"));
}

#[test]
fn binary_output_and_stdin_pass_through_byte_for_byte() {
    let recorder = Recorder::start();
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
    let out = finish(
        overdue(&run_args(&recorder.url, "a", &["cat"])),
        &every_byte,
    );
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stdout == every_byte,
        "stdout differs from the command's output"
    );
    let err = finish(
        overdue(&run_args(&recorder.url, "a", &["sh", "-c", "cat >&2"])),
        &every_byte,
    );
    assert_eq!(err.code(), Some(0));
    assert!(
        err.stderr_raw == every_byte,
        "stderr differs from the command's output"
    );
    assert!(err.stdout.is_empty());
}

#[test]
fn a_large_output_passes_through_whole_and_its_last_10_kib_are_sent() {
    let recorder = Recorder::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("output");
    let data: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &data).expect("write");
    let path = file.to_string_lossy().into_owned();
    let out = run_to_exit(overdue(&run_args(&recorder.url, "big", &["cat", &path])));
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "stdout differs from the file");
    let end = &recorder.received()[1];
    assert_eq!(end.body.len(), KEPT);
    assert!(
        end.body[..] == data[data.len() - KEPT..],
        "the body is the output's tail"
    );
}

#[test]
fn run_against_the_real_monitor_creates_the_job_and_records_both_pings() {
    let monitor = Monitor::start(&[]);
    let out = run_to_exit(overdue(&run_args(
        &monitor.url,
        "backup",
        &["sh", "-c", "echo done"],
    )));
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout_text(), "done\n");
    assert_eq!(out.stderr, "", "no warning when the monitor answers");
    let job = monitor.job("backup");
    assert_eq!(job["frequency"], "1h");
    assert_eq!(job["pings_total"], 2);
}

#[test]
fn a_monitor_that_is_down_never_stops_the_command() {
    let url = closed_port();
    let out = run_to_exit(overdue(&run_args(
        &url,
        "a",
        &["sh", "-c", "echo ran; exit 5"],
    )));
    assert_eq!(out.code(), Some(5));
    assert_eq!(out.stdout_text(), "ran\n");
    let warnings = out.stderr_lines();
    assert_eq!(warnings.len(), 2, "one warning per ping: {}", out.stderr);
    assert!(warnings[0].starts_with("warning: the start ping of a was not recorded: cannot reach"));
    assert!(
        warnings[0].ends_with("connection refused"),
        "{}",
        warnings[0]
    );
    assert!(warnings[1].starts_with("warning: the fail ping of a was not recorded: cannot reach"));
    assert!(
        out.elapsed < BUDGET + Duration::from_secs(3),
        "{:?}",
        out.elapsed
    );
}

#[test]
fn a_silent_monitor_delays_the_exit_by_the_budget_at_most() {
    let url = silent_monitor();
    let out = run_to_exit(overdue(&run_args(&url, "a", &["sh", "-c", "echo ran"])));
    assert_eq!(out.code(), Some(0));
    assert_eq!(out.stdout_text(), "ran\n");
    assert_eq!(out.stderr_lines().len(), 2, "{}", out.stderr);
    assert!(out.elapsed >= BUDGET, "{:?}", out.elapsed);
    assert!(
        out.elapsed < BUDGET + Duration::from_secs(3),
        "{:?}",
        out.elapsed
    );
}

#[test]
fn a_refused_ping_warns_and_the_command_still_runs() {
    let monitor = Monitor::start(&["--ping-token", "right"]);
    let mut cmd = overdue(&run_args(&monitor.url, "a", &["sh", "-c", "echo ran"]));
    cmd.env("OVERDUE_PING_TOKEN", "wrong");
    let out = run_to_exit(cmd);
    assert_eq!(out.code(), Some(0));
    assert_eq!(out.stdout_text(), "ran\n");
    let warnings = out.stderr_lines();
    assert_eq!(warnings.len(), 2, "{}", out.stderr);
    assert!(
        warnings
            .iter()
            .all(|w| w.contains("the monitor answered 401")),
        "{warnings:?}"
    );
    assert!(
        out.elapsed < Duration::from_secs(5),
        "a refusal is not retried: {:?}",
        out.elapsed
    );
}

#[test]
fn a_monitor_error_is_retried_within_the_budget_then_warned_once() {
    let recorder = Recorder::answering(503, "store unavailable\n");
    let out = run_to_exit(overdue(&run_args(&recorder.url, "a", &["true"])));
    assert_eq!(out.code(), Some(0));
    let warnings = out.stderr_lines();
    assert_eq!(warnings.len(), 2, "{}", out.stderr);
    assert!(
        warnings[1].ends_with("the monitor answered 503: store unavailable"),
        "{}",
        warnings[1]
    );
    assert!(recorder.received().len() > 2, "503 is retried");
    assert!(
        out.elapsed < BUDGET + Duration::from_secs(3),
        "{:?}",
        out.elapsed
    );
}
