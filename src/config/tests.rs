//! Unit tests of the flag parsers and of `Config::settings`.

use std::path::Path;

use super::*;

#[test]
fn durations_accept_both_grammars_and_zero() {
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("1D"), Ok(Duration::from_secs(86_400)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("1M").is_err());
    assert!(parse_duration("1y").is_err());
    assert!(parse_positive_duration("0").is_err());
}

#[test]
fn defaults_match_the_spec() {
    let c = Config::parse_from(["overdue"]);
    assert_eq!(c.history, 100);
    assert_eq!(
        c.store,
        StoreUrl::Sqlite("./overdue-data/overdue.db".into())
    );
    assert_eq!(c.realert_every, Duration::from_secs(60));
    assert_eq!(c.realert_max, Duration::from_secs(24 * 3600));
    assert_eq!(c.sweep_interval, Duration::from_secs(1));
    assert_eq!(c.startup_grace, Duration::from_secs(900));
    assert_eq!(c.max_services, 100_000);
    assert_eq!(c.max_clock_skew, Duration::from_secs(300));
    assert_eq!(c.service_name, "overdue");
    assert_eq!(c.max_connections, 10_000);
    assert!(c.rate_limit.is_off());
}

#[test]
fn perf_flags_have_the_spec_defaults_and_accept_bare_booleans() {
    let c = Config::parse_from(["overdue"]);
    assert_eq!(c.history, 100);
    assert_eq!(
        c.settings().unwrap().perf,
        PerfSettings::default(),
        "defaults of SPEC §2"
    );
    let c = Config::parse_from([
        "overdue",
        "--timing-header",
        "--log-all-timings",
        "false",
        "--perf",
        "off",
        "--perf-retention",
        "90s",
        "--slow-request",
        "1s",
        "--slow-store",
        "5ms",
    ]);
    let s = c.settings().unwrap().perf;
    assert!(s.timing_header && !s.log_all_timings && !s.enabled);
    assert_eq!(s.retention, Duration::from_secs(90));
    assert_eq!(s.slow_request, Duration::from_secs(1));
    assert_eq!(s.slow_store, Duration::from_millis(5));
    let c = Config::parse_from(["overdue", "--timing-header", "true", "--perf", "on"]);
    assert!(c.timing_header && c.perf);
    for bad in [
        &["overdue", "--perf", "maybe"][..],
        &["overdue", "--perf-retention", "0"],
        &["overdue", "--perf-retention", "1500ms"],
        &["overdue", "--perf-retention", "2D"],
        &["overdue", "--timing-header", "sometimes"],
        &["overdue", "--slow-request", "soon"],
    ] {
        assert!(
            Config::try_parse_from(bad).is_err(),
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn defaults_are_valid_settings() {
    let settings = Config::parse_from(["overdue"]).settings().unwrap();
    assert_eq!(
        settings.backend.realert_every,
        Some(Duration::from_secs(60))
    );
    assert_eq!(settings.backend.realert_max, Duration::from_secs(24 * 3600));
    assert_eq!(settings.health.thresholds, Thresholds::default());
    assert_eq!(settings.health.evaluate_every, Duration::from_secs(5));
    assert!(settings.health.publishing.is_none());
    assert!(settings.channels.is_empty());
    assert_eq!(settings.backend.history, 100);
    assert!(
        settings.http.serve.peer_address,
        "a ping's event shows its address"
    );
    let quiet = Config::parse_from(["overdue", "--history", "0"])
        .settings()
        .unwrap();
    assert_eq!(quiet.backend.history, 0);
    assert!(
        !quiet.http.serve.peer_address,
        "nothing needs the address without history or rate limit"
    );
}

fn refusal(args: &[&str]) -> Option<ConfigError> {
    let config = Config::try_parse_from([&["overdue"], args].concat()).expect("parses");
    config.settings().err()
}

#[test]
fn swapped_health_thresholds_are_refused_naming_the_critical_option() {
    let err = refusal(&[
        "--health-backlog-warn",
        "500",
        "--health-backlog-critical",
        "100",
    ]);
    assert_eq!(err.map(|e| e.option), Some("--health-backlog-critical"));
    let err = refusal(&[
        "--health-success-warn",
        "40",
        "--health-success-critical",
        "60",
    ]);
    assert_eq!(err.map(|e| e.option), Some("--health-success-critical"));
    assert!(refusal(&[
        "--health-backlog-warn",
        "100",
        "--health-backlog-critical",
        "100"
    ])
    .is_none());
    assert!(refusal(&[
        "--health-success-warn",
        "60",
        "--health-success-critical",
        "60"
    ])
    .is_none());
}

#[test]
fn realert_max_is_at_least_realert_every_unless_reminders_are_off() {
    let err = refusal(&["--realert-every", "10m", "--realert-max", "5m"]).expect("refused");
    assert_eq!(err.option, "--realert-max");
    assert!(err.to_string().contains("--realert-every"), "{err}");
    assert!(refusal(&["--realert-every", "10m", "--realert-max", "10m"]).is_none());
    assert!(refusal(&["--realert-every", "0", "--realert-max", "0"]).is_none());
    let settings = Config::parse_from(["overdue", "--realert-max", "2h"])
        .settings()
        .unwrap();
    assert_eq!(settings.backend.realert_max, Duration::from_secs(7200));
}

#[test]
fn numeric_refusals_show_the_accepted_range() {
    assert_eq!(
        max_services("0").unwrap_err(),
        "expected a whole number, at least 1"
    );
    assert!(!max_services("0")
        .unwrap_err()
        .contains(&u64::MAX.to_string()));
    assert_eq!(max_services(" 7 "), Ok(7));
    assert_eq!(
        max_connections("1000001").unwrap_err(),
        "expected a whole number from 1 to 1000000"
    );
    assert_eq!(max_connections("1000000"), Ok(1_000_000));
    assert_eq!(history("0"), Ok(0));
    assert_eq!(history("10000"), Ok(10_000));
    assert_eq!(
        history("10001").unwrap_err(),
        "expected a whole number from 0 to 10000"
    );
    assert!(history("-1").is_err());
    assert!(health_sink_failures("0")
        .unwrap_err()
        .contains("at least 1"));
    assert!(health_backlog("many").unwrap_err().contains("whole number"));
    assert_eq!(health_backlog("0"), Ok(0));
    assert!(parse_listen("nonsense")
        .unwrap_err()
        .contains("127.0.0.1:4000"));
    assert_eq!(
        parse_listen("[::1]:80"),
        Ok(SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), 80))
    );
    let err = Config::try_parse_from(["overdue", "--max-services", "0"]).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("--max-services") && shown.contains("at least 1"),
        "{shown}"
    );
}

#[test]
fn a_relative_store_path_is_shown_from_the_working_directory() {
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        absolute_store_path(Path::new("./not-there-yet/overdue.db")),
        cwd.join("not-there-yet").join("overdue.db")
    );
    assert_eq!(absolute_store_path(Path::new("x.db")), cwd.join("x.db"));
    let dir = tempfile::tempdir().unwrap();
    let inside = dir.path().join("x.db");
    let shown = absolute_store_path(&inside);
    assert!(
        shown.is_absolute() && shown.ends_with("x.db"),
        "{}",
        shown.display()
    );
}

#[test]
fn rate_limits_are_per_second_or_per_minute_or_off() {
    let per_second = parse_rate_limit("100/s").unwrap();
    assert_eq!(per_second.requests, 100);
    assert_eq!(per_second.per, Duration::from_secs(1));
    assert_eq!(per_second.to_string(), "100/s");
    assert_eq!(
        parse_rate_limit(" 30 / min ").unwrap().per,
        Duration::from_secs(60)
    );
    assert!(parse_rate_limit("off").unwrap().is_off());
    assert!(parse_rate_limit("0").unwrap().is_off());
    for bad in [
        "",
        "100",
        "0/s",
        "-1/s",
        "1.5/s",
        "10/h",
        "x/s",
        "2000000/s",
    ] {
        assert!(parse_rate_limit(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn notify_urls_become_channels_after_the_alert_uri() {
    let settings = Config::parse_from([
        "overdue",
        "--alert-uri",
        "https://hooks.example/x",
        "--notify",
        "slack+https://hooks.slack.com/services/T/B/X",
        "--notify",
        "ntfy+https://ntfy.sh/a ntfy+https://ntfy.example/b",
    ])
    .settings()
    .expect("valid");
    let names: Vec<&str> = settings.channels.iter().map(Channel::name).collect();
    assert_eq!(
        names,
        vec![
            "webhook:hooks.example",
            "slack:hooks.slack.com",
            "ntfy:ntfy.sh",
            "ntfy:ntfy.example"
        ]
    );
}

#[test]
fn a_bad_notify_url_is_refused_in_one_line_naming_notify_without_its_secret() {
    let err =
        refusal(&["--notify", "telegram+https://api.telegram.org/botS3CR3T"]).expect("refused");
    assert_eq!(err.option, "--notify");
    let line = err.to_string();
    assert!(
        line.starts_with("invalid value for --notify: channel URL 1:"),
        "{line}"
    );
    assert!(
        line.contains("slack+https://") && !line.contains("S3CR3T"),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
    let unknown = refusal(&["--notify", "gopher://x.example/S3CR3T"]).expect("refused");
    assert!(unknown.to_string().contains("gopher://"), "{unknown}");
    assert!(!unknown.to_string().contains("S3CR3T"), "{unknown}");
}

#[test]
fn a_channel_given_twice_is_refused_naming_notify() {
    let err = refusal(&[
        "--alert-uri",
        "https://hooks.example/x?token=S3CR3T",
        "--notify",
        "webhook+https://hooks.example/x?token=S3CR3T#events=down",
    ])
    .expect("refused");
    assert_eq!(err.option, "--notify");
    let line = err.to_string();
    assert!(
        line.contains("repeats an earlier channel (webhook:hooks.example)"),
        "{line}"
    );
    assert!(!line.contains("S3CR3T"), "{line}");
    // The same host with another path is another channel.
    assert!(refusal(&[
        "--notify",
        "ntfy+https://ntfy.sh/a",
        "--notify",
        "ntfy+https://ntfy.sh/b"
    ])
    .is_none());
}

#[test]
fn badges_are_private_unless_public_badges_is_given() {
    let off = Config::parse_from(["overdue"]).settings().unwrap().http;
    assert!(!off.public_badges, "the default of SPEC §2 is false");
    for on in [
        &["overdue", "--public-badges"][..],
        &["overdue", "--public-badges", "true"],
    ] {
        assert!(
            Config::parse_from(on)
                .settings()
                .unwrap()
                .http
                .public_badges
        );
    }
    assert!(
        !Config::parse_from(["overdue", "--public-badges", "false"])
            .settings()
            .unwrap()
            .http
            .public_badges
    );
    assert!(Config::try_parse_from(["overdue", "--public-badges", "sometimes"]).is_err());
}
