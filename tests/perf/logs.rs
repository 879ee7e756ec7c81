//! Slow operations are logged at WARN with their route or operation and duration, every
//! timing at INFO on request; the options come from flags or the environment (the real
//! binary, reading its JSON log).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{client, command, ping, run_to_exit, temp_db, Server};

/// Waits up to 5 s for a log line that `matches`; returns it.
fn wait_for_log(server: &Server, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = server
            .output
            .lock()
            .expect("output lock")
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| matches(l));
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no log line {what}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn log_lines(server: &Server, message: &str) -> usize {
    server
        .output
        .lock()
        .expect("output lock")
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == message)
        .count()
}

fn put_config(server: &Server, body: &str) -> Value {
    let response = client()
        .put(server.url("/metrics/performance/config"))
        .body(body.to_owned())
        .send()
        .expect("put");
    assert_eq!(response.status(), 200, "PUT {body}");
    response.json().expect("json")
}

fn config(server: &Server) -> Value {
    client()
        .get(server.url("/metrics/performance"))
        .send()
        .expect("get")
        .json::<Value>()
        .expect("json")["config"]
        .clone()
}

#[test]
fn slow_requests_and_store_operations_are_logged_at_warn_with_route_or_op() {
    let (_dir, db) = temp_db();
    let server = Server::start_sqlite(&db, &["--slow-request", "0", "--slow-store", "0ms"]);
    assert_eq!(ping(&server, &[("name", "a"), ("frequency", "1h")]).0, 200);
    let request = wait_for_log(&server, "slow request GET /ping", |l| {
        l["message"] == "slow request" && l["route"] == "/ping" && l["method"] == "GET"
    });
    assert_eq!(request["level"], "WARN");
    assert_eq!(request["status"], 200);
    assert!(request["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    for op in ["upsert", "commit"] {
        let line = wait_for_log(&server, op, |l| {
            l["message"] == "slow store operation" && l["op"] == op
        });
        assert_eq!(line["level"], "WARN");
        assert!(line["duration_ms"].as_f64().is_some());
    }
    // Loading every job at start is long by nature: timed and logged, but at INFO.
    let load = wait_for_log(&server, "load", |l| l["op"] == "load");
    assert_eq!(load["level"], "INFO");
    assert_eq!(load["message"], "store operation timed");
    server.stop();
}

#[test]
fn thresholds_and_log_all_timings_change_at_run_time() {
    let server = Server::start("memory://", &[]);
    ping(&server, &[("name", "a"), ("frequency", "1h")]);
    put_config(&server, r#"{"log_all_timings": true}"#);
    ping(&server, &[("name", "a")]);
    let timed = wait_for_log(&server, "request timed", |l| {
        l["message"] == "request timed" && l["route"] == "/ping"
    });
    assert_eq!(timed["level"], "INFO");
    wait_for_log(&server, "store operation timed", |l| {
        l["message"] == "store operation timed" && l["op"] == "upsert"
    });
    assert_eq!(
        log_lines(&server, "slow request"),
        0,
        "nothing is slow at 250 ms"
    );

    put_config(
        &server,
        r#"{"log_all_timings": false, "slow_request_ms": 0}"#,
    );
    ping(&server, &[("name", "a")]);
    wait_for_log(&server, "slow request", |l| {
        l["message"] == "slow request" && l["route"] == "/ping" && l["level"] == "WARN"
    });
    put_config(&server, r#"{"slow_store_ms": 0}"#);
    ping(&server, &[("name", "a")]);
    wait_for_log(&server, "slow store operation", |l| {
        l["message"] == "slow store operation" && l["op"] == "upsert" && l["level"] == "WARN"
    });
    server.stop();
}

#[test]
fn perf_options_are_read_from_the_environment_and_flags_win() {
    let mut cmd = command(&["--listen", "127.0.0.1:0", "--store", "memory://"]);
    cmd.envs([
        ("OVERDUE_TIMING_HEADER", "true"),
        ("OVERDUE_LOG_ALL_TIMINGS", "true"),
        ("OVERDUE_PERF_RETENTION", "90s"),
        ("OVERDUE_SLOW_REQUEST", "1s"),
        ("OVERDUE_SLOW_STORE", "5ms"),
    ]);
    let server = Server::spawn(cmd);
    assert_eq!(
        config(&server),
        serde_json::json!({"enabled": true, "timing_header": true, "log_all_timings": true,
            "retention_seconds": 90, "slow_request_ms": 1000, "slow_store_ms": 5})
    );
    let response = client().get(server.url("/livez")).send().expect("livez");
    assert!(response.headers().get("server-timing").is_some());
    server.stop();

    let mut cmd = command(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        "memory://",
        "--timing-header",
        "false",
    ]);
    cmd.envs([("OVERDUE_PERF", "off"), ("OVERDUE_TIMING_HEADER", "true")]);
    let server = Server::spawn(cmd);
    let config = config(&server);
    assert_eq!(config["enabled"], false);
    assert_eq!(config["timing_header"], false, "the flag wins");
    server.stop();
}

#[test]
fn invalid_perf_options_stop_the_start_naming_the_option() {
    for (args, env, option) in [
        (&["--perf", "maybe"][..], None, "--perf"),
        (&["--perf-retention", "0"], None, "--perf-retention"),
        (&["--perf-retention", "25h"], None, "--perf-retention"),
        (&["--slow-request", "soon"], None, "--slow-request"),
        (&["--timing-header", "sometimes"], None, "--timing-header"),
        (&[], Some(("OVERDUE_SLOW_STORE", "-1s")), "--slow-store"),
        (
            &[],
            Some(("OVERDUE_LOG_ALL_TIMINGS", "perhaps")),
            "--log-all-timings",
        ),
    ] {
        let mut cmd = command(&[&["--store", "memory://"][..], args].concat());
        if let Some((key, value)) = env {
            cmd.env(key, value);
        }
        let out = run_to_exit(cmd);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} {env:?}: {}",
            out.stderr
        );
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
        assert!(lines[0].contains(option), "{option}: {}", lines[0]);
    }
}

#[test]
fn help_lists_every_perf_option_with_its_environment_variable_and_default() {
    let out = run_to_exit(command(&["--help"]));
    assert!(out.status.success());
    for (flag, env, default) in [
        ("--perf ", "OVERDUE_PERF", "on"),
        ("--perf-retention ", "OVERDUE_PERF_RETENTION", "1h"),
        ("--slow-request ", "OVERDUE_SLOW_REQUEST", "250ms"),
        ("--slow-store ", "OVERDUE_SLOW_STORE", "100ms"),
        ("--log-all-timings ", "OVERDUE_LOG_ALL_TIMINGS", "false"),
        ("--timing-header ", "OVERDUE_TIMING_HEADER", "false"),
    ] {
        let start = out
            .stdout
            .find(&format!("      {flag}"))
            .unwrap_or_else(|| panic!("--help does not list {flag}:\n{}", out.stdout));
        let block: String = out.stdout[start..]
            .lines()
            .take(6)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(block.contains(env), "{flag}: {block}");
        assert!(
            block.contains(&format!("[default: {default}]")),
            "{flag}: {block}"
        );
    }
}
