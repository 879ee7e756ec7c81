//! `overdue ping NAME`.

use crate::support::{
    closed_port, overdue, run_to_exit, silent_monitor, Monitor, Recorder, BUDGET,
};

#[test]
fn ping_records_a_ping_with_its_frequency_and_grace() {
    let monitor = Monitor::start(&[]);
    let out = run_to_exit(overdue(&[
        "ping",
        "backup",
        "--every",
        "1h30m",
        "--grace",
        "5m",
        "--url",
        &monitor.url,
    ]));
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout_text(), "Successfully recorded ping for backup\n");
    let job = monitor.job("backup");
    assert_eq!(job["frequency"], "1h30m");
    assert_eq!(job["grace_seconds"], 300);
}

#[test]
fn ping_json_prints_the_job_object() {
    let monitor = Monitor::start(&[]);
    let out = run_to_exit(overdue(&[
        "ping",
        "db backup",
        "--every",
        "1D",
        "--json",
        "--url",
        &monitor.url,
    ]));
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(job["name"], "db backup");
    assert_eq!(job["pings_total"], 1);
}

#[test]
fn ping_sends_state_exit_code_schedule_and_zone_as_documented() {
    let recorder = Recorder::start();
    let mut cmd = overdue(&[
        "ping",
        "nightly",
        "--schedule",
        "0 3 * * *",
        "--tz",
        "Europe/Berlin",
        "--state",
        "fail",
        "--exit-code",
        "4",
        "--url",
        &recorder.url,
    ]);
    cmd.env("OVERDUE_PING_TOKEN", "pt")
        .env("OVERDUE_ADMIN_TOKEN", "adm");
    let out = run_to_exit(cmd);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    let received = recorder.received();
    assert_eq!(received.len(), 1);
    let ping = &received[0];
    assert_eq!(ping.uri.path(), "/ping");
    assert_eq!(ping.param("name").as_deref(), Some("nightly"));
    assert_eq!(ping.param("schedule").as_deref(), Some("0 3 * * *"));
    assert_eq!(ping.param("tz").as_deref(), Some("Europe/Berlin"));
    assert_eq!(ping.param("state").as_deref(), Some("fail"));
    assert_eq!(ping.param("exit_code").as_deref(), Some("4"));
    assert_eq!(ping.param("frequency"), None);
    assert_eq!(
        ping.headers["authorization"], "Bearer pt",
        "the ping token, not the admin one"
    );
}

#[test]
fn the_ping_token_goes_with_the_ping() {
    let monitor = Monitor::start(&["--ping-token", "pt"]);
    let refused = run_to_exit(overdue(&[
        "ping",
        "a",
        "--every",
        "1m",
        "--url",
        &monitor.url,
    ]));
    assert_eq!(refused.code(), Some(1));
    assert_eq!(refused.stderr_lines().len(), 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .starts_with("error: the monitor answered 401: "),
        "{}",
        refused.stderr
    );
    let mut with_token = overdue(&["ping", "a", "--every", "1m", "--url", &monitor.url]);
    with_token.env("OVERDUE_PING_TOKEN", "pt");
    let accepted = run_to_exit(with_token);
    assert_eq!(accepted.code(), Some(0), "stderr: {}", accepted.stderr);
    assert_eq!(monitor.job("a")["pings_total"], 1);
}

#[test]
fn ping_to_a_monitor_that_is_down_exits_1_saying_it_cannot_reach_it() {
    let url = closed_port();
    let out = run_to_exit(overdue(&["ping", "a", "--every", "1m", "--url", &url]));
    assert_eq!(out.code(), Some(1));
    assert_eq!(
        out.stderr_lines(),
        [format!("error: cannot reach {url}: connection refused")]
    );
    assert!(
        out.elapsed < BUDGET + std::time::Duration::from_secs(3),
        "{:?}",
        out.elapsed
    );
}

#[test]
fn ping_to_a_silent_monitor_gives_up_after_the_budget_and_exits_1() {
    let url = silent_monitor();
    let out = run_to_exit(overdue(&["ping", "a", "--every", "1m", "--url", &url]));
    assert_eq!(out.code(), Some(1));
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("error: cannot reach {url}: ")),
        "{}",
        out.stderr
    );
    assert!(out.elapsed >= BUDGET, "{:?}", out.elapsed);
    assert!(
        out.elapsed < BUDGET + std::time::Duration::from_secs(3),
        "{:?}",
        out.elapsed
    );
}
