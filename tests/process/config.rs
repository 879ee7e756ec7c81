//! `--help`, and configuration errors: exit 2, one line naming the option, nothing
//! opened or bound (SPEC §2).

use crate::harness::{command, job, ping, run_to_exit, Server};

#[test]
fn help_exits_zero_and_lists_every_option_with_its_environment_variable_and_default() {
    let out = run_to_exit(command(&["--help"]));
    assert!(out.status.success(), "--help exited with {:?}", out.status);
    let help = out.stdout;
    let options = [
        ("--listen", "OVERDUE_LISTEN", Some("127.0.0.1:4000")),
        (
            "--store",
            "OVERDUE_STORE",
            Some("sqlite://./overdue-data/overdue.db"),
        ),
        ("--sync", "OVERDUE_SYNC", Some("normal")),
        ("--alert-uri", "PING_ALERT_URI", None),
        ("--alert-secret", "PING_ALERT_SECRET", None),
        ("--realert-every", "OVERDUE_REALERT_EVERY", Some("60s")),
        ("--realert-max", "OVERDUE_REALERT_MAX", Some("24h")),
        ("--sweep-interval", "OVERDUE_SWEEP_INTERVAL", Some("1s")),
        ("--startup-grace", "OVERDUE_STARTUP_GRACE", Some("15m")),
        ("--admin-token", "OVERDUE_ADMIN_TOKEN", None),
        ("--ping-token", "OVERDUE_PING_TOKEN", None),
        ("--max-services", "OVERDUE_MAX_SERVICES", Some("100000")),
        ("--history", "OVERDUE_HISTORY", Some("100")),
        ("--max-clock-skew", "OVERDUE_MAX_CLOCK_SKEW", Some("5m")),
        (
            "--max-connections",
            "OVERDUE_MAX_CONNECTIONS",
            Some("10000"),
        ),
        ("--rate-limit", "OVERDUE_RATE_LIMIT", Some("off")),
        ("--service-name", "OVERDUE_SERVICE_NAME", Some("overdue")),
        ("--log-format", "OVERDUE_LOG_FORMAT", Some("json")),
        ("--public-badges", "OVERDUE_PUBLIC_BADGES", Some("false")),
    ];
    for (flag, env, default) in options {
        let block = option_block(&help, flag)
            .unwrap_or_else(|| panic!("--help does not list {flag}:\n{help}"));
        assert!(
            block.contains(env),
            "--help does not give {env} for {flag}:\n{block}"
        );
        if let Some(default) = default {
            assert!(
                block.contains(default),
                "--help does not give the default {default} for {flag}:\n{block}"
            );
        }
    }
}

/// The lines of `--help` that describe `flag`: from its own line to the next option.
fn option_block(help: &str, flag: &str) -> Option<String> {
    let mut block: Option<Vec<&str>> = None;
    for line in help.lines() {
        // Options start at column 2 (`-h, --help`) or 6 (`--listen`); deeper lines
        // such as the list of possible values belong to the option above.
        let starts_option = line.starts_with("  -") || line.starts_with("      --");
        match &mut block {
            Some(_) if starts_option => break,
            Some(lines) => lines.push(line),
            None if starts_option && line.split([' ', ',']).any(|word| word == flag) => {
                block = Some(vec![line]);
            }
            None => {}
        }
    }
    block.map(|lines| lines.join("\n"))
}

/// Runs the binary with `args` (and `env`) and asserts that it refuses to start: exit
/// code 2 and exactly one line on stderr that names `option` and, unless it is
/// a secret, the offending `value`.
fn refuses(args: &[&str], env: &[(&str, &str)], option: &str, value: Option<&str>) {
    let mut cmd = command(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = run_to_exit(cmd);
    let shown = format!("{args:?} {env:?}");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{shown} should exit 2; stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    let stderr = out.stderr.trim_end();
    assert_eq!(
        stderr.lines().count(),
        1,
        "{shown} should print one line on stderr, got:\n{stderr}"
    );
    assert!(
        stderr.contains(option),
        "{shown}: the message should name {option}: {stderr}"
    );
    if let Some(value) = value {
        assert!(
            stderr.contains(value),
            "{shown}: the message should show the value {value:?}: {stderr}"
        );
    }
    assert!(
        out.stdout.is_empty(),
        "{shown} must not start, nor log anything:\n{}",
        out.stdout
    );
}

/// `overdue <flag> <value>` with every other option valid.
fn refuses_flag(flag: &str, value: &str) {
    let mut args = Vec::new();
    if flag != "--store" {
        args.extend(["--store", "memory://"]);
    }
    if flag != "--listen" {
        args.extend(["--listen", "127.0.0.1:0"]);
    }
    let pair = format!("{flag}={value}");
    args.push(&pair);
    refuses(&args, &[], flag, Some(value));
}

/// Flags that make every case below valid apart from the environment variable.
const SAFE: [&str; 4] = ["--store", "memory://", "--listen", "127.0.0.1:0"];

#[test]
fn an_unknown_sync_mode_is_refused_with_a_message_naming_the_option() {
    refuses_flag("--sync", "sometimes");
}

#[test]
fn an_unknown_store_scheme_is_refused_with_the_valid_schemes() {
    refuses_flag("--store", "ftp://x");
    let out = run_to_exit(command(&["--listen", "127.0.0.1:0", "--store", "ftp://x"]));
    assert!(
        out.stderr.contains("sqlite://") && out.stderr.contains("memory://"),
        "the message should list the valid schemes: {}",
        out.stderr
    );
}

#[test]
fn a_junk_redis_store_is_refused_with_the_expected_form() {
    for junk in [
        "redis://",
        "redis://localhost:6379/zero",
        "redis://localhost:6379/0?db=1",
        "redis://localhost:6379/0?lease=0s",
        // Plain rediss:// is valid since SPEC §8 took TLS in; a TLS file that is not
        // there is not.
        "rediss://localhost:6379/0?ca=/nonexistent/ca.pem",
    ] {
        refuses_flag("--store", junk);
    }
    let out = run_to_exit(command(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        "redis://localhost:6379/zero",
    ]));
    assert!(
        out.stderr.contains("redis://HOST:PORT[/DB]"),
        "the message should show the expected form: {}",
        out.stderr
    );
}

#[test]
fn invalid_durations_and_numbers_are_refused() {
    refuses_flag("--sweep-interval", "0");
    refuses_flag("--realert-every", "soon");
    refuses_flag("--startup-grace", "later");
    refuses_flag("--max-clock-skew", "-5m");
    refuses_flag("--max-services", "0");
    refuses_flag("--max-services", "many");
    refuses_flag("--max-connections", "0");
    refuses_flag("--max-connections", "lots");
    refuses_flag("--history", "10001");
    refuses_flag("--history", "-1");
    refuses_flag("--rate-limit", "10/h");
    refuses_flag("--rate-limit", "fast");
    refuses(
        &SAFE,
        &[("OVERDUE_RATE_LIMIT", "0/s")],
        "rate-limit",
        Some("0/s"),
    );
}

#[test]
fn an_invalid_alert_uri_or_listen_address_is_refused() {
    refuses_flag("--alert-uri", "not-a-url");
    refuses_flag("--alert-uri", "ftp://hooks.example/x");
    refuses_flag("--listen", "nonsense");
    refuses_flag("--log-format", "xml");
}

#[test]
fn invalid_environment_variables_are_refused_like_flags() {
    // The message may name the flag or the variable.
    refuses(&SAFE, &[("OVERDUE_SYNC", "bad")], "sync", Some("bad"));
    refuses(
        &SAFE,
        &[("OVERDUE_SWEEP_INTERVAL", "0")],
        "sweep-interval",
        Some("0"),
    );
    refuses(&SAFE, &[("PING_ALERT_URI", "not-a-url")], "alert-uri", None);
    refuses(
        &["--store", "memory://"],
        &[("PORT", "not-a-port")],
        "PORT",
        Some("not-a-port"),
    );
}

#[test]
fn a_whsec_secret_that_is_not_base64_is_refused_at_startup() {
    refuses(
        &[&SAFE[..], &["--alert-secret", "whsec_***"]].concat(),
        &[],
        "--alert-secret",
        None,
    );
    refuses(
        &SAFE,
        &[("PING_ALERT_SECRET", "whsec_***")],
        "alert-secret",
        None,
    );
}

#[test]
fn a_flag_wins_over_an_invalid_environment_variable() {
    let mut cmd = command(&["--store", "memory://", "--listen", "127.0.0.1:0"]);
    cmd.args(["--sync", "full"])
        .env("OVERDUE_SYNC", "bad")
        .env("OVERDUE_LISTEN", "nonsense");
    let server = Server::spawn(cmd);
    assert_eq!(ping(&server, &[("name", "a"), ("frequency", "1h")]).0, 200);
    server.stop();
}

#[test]
fn port_alone_sets_the_port_on_loopback() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
        probe.local_addr().expect("probe addr").port()
    };
    let mut cmd = command(&["--store", "memory://"]);
    cmd.env("PORT", port.to_string());
    let server = Server::spawn(cmd);
    assert_eq!(server.addr.to_string(), format!("127.0.0.1:{port}"));
    let (status, _) = ping(&server, &[("name", "on-port"), ("frequency", "1h")]);
    assert_eq!(status, 200);
    server.stop();
}

#[test]
fn the_sqlite_directory_is_created_when_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir
        .path()
        .join("not")
        .join("there")
        .join("yet")
        .join("x.db");
    let server = Server::start_sqlite(&db, &[]);
    assert_eq!(
        ping(&server, &[("name", "nested"), ("frequency", "1h")]).0,
        200
    );
    server.stop();
    assert!(db.exists(), "{} should exist", db.display());

    let server = Server::start_sqlite(&db, &[]);
    assert_eq!(job(&server, "nested").0, 200);
    server.stop();
}

#[test]
fn swapped_health_thresholds_exit_2_before_the_store_is_opened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store").join("x.db");
    let store = format!("sqlite://{}", db.display());
    for (flags, option) in [
        (
            [
                "--health-backlog-warn",
                "500",
                "--health-backlog-critical",
                "100",
            ],
            "--health-backlog-critical",
        ),
        (
            [
                "--health-success-warn",
                "40",
                "--health-success-critical",
                "60",
            ],
            "--health-success-critical",
        ),
    ] {
        let args = [&["--listen", "127.0.0.1:0", "--store", &store][..], &flags].concat();
        refuses(&args, &[], option, None);
        assert!(
            !dir.path().join("store").exists(),
            "{flags:?}: the store must not be opened"
        );
    }
}

#[test]
fn realert_max_below_realert_every_exits_2() {
    refuses(
        &[
            &SAFE[..],
            &["--realert-every", "10m", "--realert-max", "5m"],
        ]
        .concat(),
        &[],
        "--realert-max",
        Some("--realert-every"),
    );
    refuses(
        &SAFE,
        &[
            ("OVERDUE_REALERT_EVERY", "2h"),
            ("OVERDUE_REALERT_MAX", "1h"),
        ],
        "--realert-max",
        None,
    );
    refuses_flag("--realert-max", "soon");
}

#[test]
fn realert_max_equal_to_realert_every_or_with_reminders_off_starts() {
    for extra in [
        ["--realert-every", "5m", "--realert-max", "5m"],
        ["--realert-every", "0", "--realert-max", "0"],
    ] {
        let server = Server::spawn(command(&[&SAFE[..], &extra].concat()));
        assert_eq!(ping(&server, &[("name", "a"), ("frequency", "1h")]).0, 200);
        server.stop();
    }
}

#[test]
fn refusals_show_the_accepted_form_not_a_type_limit() {
    for (flag, value, accepted) in [
        ("--max-services", "0", "at least 1"),
        ("--max-services", "many", "at least 1"),
        ("--max-connections", "0", "from 1 to 1000000"),
        ("--history", "10001", "from 0 to 10000"),
        ("--health-sink-failures", "0", "at least 1"),
        ("--health-backlog-warn", "lots", "whole number"),
        ("--health-success-warn", "101", "from 0 to 100"),
        ("--slow-request", "2h", "from 0 to 1h"),
        ("--perf-retention", "2D", "from 1s to 24h"),
        ("--listen", "nonsense", "IP:PORT"),
        ("--alert-uri", "nothing", "http:// or https://"),
        ("--health-redis", "http://x", "redis://"),
    ] {
        let arg = format!("{flag}={value}");
        let base = if flag == "--listen" {
            &SAFE[..2]
        } else {
            &SAFE[..]
        };
        let out = run_to_exit(command(&[base, &[&arg]].concat()));
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", out.stderr);
        assert!(
            out.stderr.contains(flag) && out.stderr.contains(accepted),
            "{arg}: the message should show {accepted:?}: {}",
            out.stderr
        );
        for limit in [u64::MAX.to_string(), u32::MAX.to_string()] {
            assert!(
                !out.stderr.contains(&limit),
                "{arg}: a type's limit is not the accepted form: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn a_malformed_store_exits_2() {
    for store in [
        "sqlite://",
        "postgres://db/x",
        "redis://localhost:6379/zero",
    ] {
        let out = run_to_exit(command(&["--listen", "127.0.0.1:0", "--store", store]));
        assert_eq!(out.status.code(), Some(2), "{store}: {}", out.stderr);
        assert!(out.stderr.contains("--store"), "{store}: {}", out.stderr);
    }
}
