//! The command line itself: the server as before, usage errors, environments.

use crate::support::{overdue, run_to_exit, Monitor, Recorder};

#[test]
fn a_bad_every_is_refused_locally_with_the_servers_own_message() {
    let monitor = Monitor::start(&[]);
    let (status, server) = monitor.get_text("/ping?name=x&frequency=1M");
    assert_eq!(status, 400);
    let out = run_to_exit(overdue(&[
        "ping",
        "x",
        "--every",
        "1M",
        "--url",
        &monitor.url,
    ]));
    assert_eq!(out.code(), Some(2), "stderr: {}", out.stderr);
    assert_eq!(out.stderr_lines().len(), 1, "one line: {}", out.stderr);
    assert!(
        out.stderr.contains(server.trim()),
        "{:?} should carry the server's {:?}",
        out.stderr,
        server.trim()
    );
    assert!(monitor.get_json("/pings").1["services"]
        .as_array()
        .expect("list")
        .is_empty());
}

#[test]
fn a_bad_grace_a_bad_url_and_an_unknown_flag_are_usage_errors_on_one_line() {
    for args in [
        &["ping", "x", "--every", "1m", "--grace", "-5m"][..],
        &["jobs", "list", "--url", "monitor:4000"][..],
        &["jobs", "list", "--bogus"][..],
        &["run", "--name", "x", "--every", "1m"][..],
        &["ping", "x", "--every", "1m", "--schedule", "0 3 * * *"][..],
        &["ping", "x", "--exit-code", "256"][..],
    ] {
        let out = run_to_exit(overdue(args));
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr_lines().len(), 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("error: "),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn server_variables_in_the_environment_do_not_reach_the_client() {
    let monitor = Monitor::start(&[]);
    monitor.ping("backup", "1D");
    let mut cmd = overdue(&["jobs", "list", "--url", &monitor.url]);
    cmd.env("OVERDUE_STORE", "bogus")
        .env("OVERDUE_LISTEN", "nonsense");
    let out = run_to_exit(cmd);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert!(out.stdout_text().contains("backup"));
}

#[test]
fn the_url_comes_from_overdue_url_and_the_flag_wins() {
    let monitor = Monitor::start(&[]);
    monitor.ping("backup", "1D");
    let mut from_env = overdue(&["jobs", "get", "backup"]);
    from_env.env("OVERDUE_URL", &monitor.url);
    assert_eq!(run_to_exit(from_env).code(), Some(0));
    let mut flag_wins = overdue(&["jobs", "get", "backup", "--url", &monitor.url]);
    flag_wins.env("OVERDUE_URL", "http://127.0.0.1:1");
    assert_eq!(run_to_exit(flag_wins).code(), Some(0));
}

#[test]
fn serve_and_bare_overdue_take_the_same_server_options() {
    let help = run_to_exit(overdue(&["--help"]));
    let serve_help = run_to_exit(overdue(&["serve", "--help"]));
    assert_eq!(help.code(), Some(0));
    assert_eq!(help.stdout, serve_help.stdout);
    for option in [
        "--listen",
        "--store",
        "--alert-uri",
        "--admin-token",
        "--ping-token",
    ] {
        assert!(help.stdout_text().contains(option), "--help lists {option}");
    }
    let bad = run_to_exit(overdue(&["--sync", "sometimes"]));
    let serve_bad = run_to_exit(overdue(&["serve", "--sync", "sometimes"]));
    assert_eq!(bad.code(), Some(2));
    assert_eq!(serve_bad.code(), Some(2));
    assert_eq!(bad.stderr, serve_bad.stderr);
}

#[test]
fn overdue_serve_starts_the_server_and_stops_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = overdue(&["serve", "--listen", &listen, "--store", "memory://"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn server");
    let url = format!("http://{listen}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pinged = loop {
        let out = run_to_exit(overdue(&["ping", "up", "--every", "1m", "--url", &url]));
        if out.code() == Some(0) || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(pinged.code(), Some(0), "stderr: {}", pinged.stderr);
    assert_eq!(pinged.stdout_text(), "Successfully recorded ping for up\n");
    let pid = rustix::process::Pid::from_child(&server);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let status = crate::support::wait_timeout(&mut server, std::time::Duration::from_secs(30))
        .expect("server stops");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_bad_schedule_or_zone_is_refused_before_anything_is_sent_or_run() {
    let recorder = Recorder::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    for (timing, refused) in [
        (
            &["--schedule", "0 3 30 2 *"][..],
            "invalid schedule \"0 3 30 2 *\": ",
        ),
        (
            &["--schedule", "61 * * * *"][..],
            "invalid schedule \"61 * * * *\": ",
        ),
        (
            &["--schedule", "@daily", "--tz", "Mars/Olympus"][..],
            "invalid tz \"Mars/Olympus\": ",
        ),
    ] {
        let mut ping = vec!["ping", "a", "--url", &recorder.url];
        ping.extend_from_slice(timing);
        let mut run = vec!["run", "--name", "a", "--url", &recorder.url];
        run.extend_from_slice(timing);
        run.extend_from_slice(&["--", "sh", "-c", &touch]);
        for args in [ping, run] {
            let out = run_to_exit(overdue(&args));
            assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
            assert_eq!(out.stderr_lines().len(), 1, "{args:?}: {}", out.stderr);
            assert!(
                out.stderr.starts_with(&format!("error: {refused}")),
                "{}",
                out.stderr
            );
        }
    }
    assert!(recorder.received().is_empty(), "nothing was sent");
    assert!(!marker.exists(), "the command did not run");
    let good = run_to_exit(overdue(&[
        "ping",
        "a",
        "--schedule",
        "30 2 * * MON-FRI",
        "--tz",
        "Europe/Berlin",
        "--url",
        &recorder.url,
    ]));
    assert_eq!(good.code(), Some(0), "{}", good.stderr);
}
