//! The log as an operator reads it (issue 16): shutdown never waits on it (with its
//! output a closed pipe, a dead log shipper, `overdue | head -2`, or a full one nobody
//! reads, overdue still serves, and SIGTERM or SIGINT still stops it with exit 0);
//! pretty logs into a pipe carry no colour codes; the store's absolute path is logged.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{client, command};

/// How long a stop may take: the drain, the store's close, and the bounded wait for
/// the log writer at exit.
const STOP_WITHIN: Duration = Duration::from_secs(8);

/// What happens to the child's output.
#[derive(Clone, Copy, Debug)]
enum Output {
    /// Both pipes closed by the reader right after the start.
    Closed,
    /// Two lines read, then both pipes closed: `overdue 2>&1 | head -2`.
    ClosedAfterTwoLines,
    /// Both pipes kept open and never read, so they fill up.
    NeverRead,
}

/// A port that was free a moment ago: the binary cannot report its port when nobody
/// reads its log.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
    probe.local_addr().expect("probe addr").port()
}

/// Starts the binary logging every request, with `output` done to its pipes; returns
/// it, the base URL, and the pipes when they are kept.
fn start(output: Output) -> (Child, String, Option<(ChildStdout, ChildStderr)>) {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut child = command(&[
        "--listen",
        &listen,
        "--store",
        "memory://",
        "--log-all-timings",
        "--log-format",
        "json",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn overdue");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let kept = match output {
        Output::Closed => {
            drop((stdout, stderr));
            None
        }
        Output::ClosedAfterTwoLines => {
            let mut lines = BufReader::new(stdout).lines();
            for _ in 0..2 {
                let line = lines.next().and_then(Result::ok);
                assert!(line.is_some(), "overdue should log at start");
            }
            drop((lines, stderr));
            None
        }
        Output::NeverRead => Some((stdout, stderr)),
    };
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let http = client();
    loop {
        if let Ok(response) = http.get(format!("{base}/livez")).send() {
            if response.status() == 200 {
                break;
            }
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("{output:?}: overdue exited before serving: {status:?}");
        }
        assert!(
            Instant::now() < deadline,
            "{output:?}: overdue did not serve within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, base, kept)
}

/// Enough requests, each logged, to overflow a pipe's buffer many times over; every one
/// must still be answered promptly.
fn log_a_lot(base: &str, output: Output) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");
    for i in 0..1500 {
        let response = http
            .get(format!("{base}/ping"))
            .query(&[("name", format!("job-{i}")), ("frequency", "1h".into())])
            .send();
        let status = response.map(|r| r.status().as_u16());
        assert!(
            matches!(status, Ok(200)),
            "{output:?}: request {i} was not answered: {status:?}"
        );
    }
}

fn signal(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} failed");
}

fn stops_cleanly(output: Output, signal_name: &str) {
    let (mut child, base, kept) = start(output);
    log_a_lot(&base, output);
    let sent = Instant::now();
    signal(&child, signal_name);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if sent.elapsed() > STOP_WITHIN {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(kept);
    assert!(
        status.is_some_and(|s| s.success()),
        "{output:?}: overdue should exit 0 within {STOP_WITHIN:?} of {signal_name}, got {status:?}"
    );
}

#[test]
fn sigterm_stops_it_when_its_output_is_closed() {
    stops_cleanly(Output::Closed, "-TERM");
}

#[test]
fn sigint_stops_it_when_its_output_is_closed() {
    stops_cleanly(Output::Closed, "-INT");
}

#[test]
fn sigterm_stops_it_when_its_output_is_closed_after_two_lines() {
    stops_cleanly(Output::ClosedAfterTwoLines, "-TERM");
}

#[test]
fn sigint_stops_it_when_its_output_is_closed_after_two_lines() {
    stops_cleanly(Output::ClosedAfterTwoLines, "-INT");
}

#[test]
fn sigterm_stops_it_when_its_output_is_never_read() {
    stops_cleanly(Output::NeverRead, "-TERM");
}

#[test]
fn sigint_stops_it_when_its_output_is_never_read() {
    stops_cleanly(Output::NeverRead, "-INT");
}

/// Runs the binary with `args` on a free port, pings it once, stops it with SIGTERM,
/// and returns everything it wrote to stdout, whatever the log format.
fn output_of_a_short_run(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> String {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = command(&[&["--listen", &listen][..], args].concat());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn overdue");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answered = http
            .get(format!("http://{listen}/ping?name=a&frequency=1h"))
            .send()
            .is_ok_and(|r| r.status() == 200);
        if answered {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "overdue did not serve within 30 s:\n{}",
                reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child, "-TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit: {status:?}");
    reader.join().expect("stdout reader")
}

#[test]
fn pretty_logs_into_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pretty = [
        "--store",
        "memory://",
        "--log-format",
        "pretty",
        "--log-all-timings",
    ];
    let out = output_of_a_short_run(&pretty, &[], dir.path());
    assert!(out.contains("listening on"), "{out}");
    assert!(out.contains("request timed"), "{out}");
    assert!(!out.contains('\u{1b}'), "colour codes in a pipe:\n{out:?}");
}

#[test]
fn a_relative_sqlite_store_is_logged_with_its_absolute_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical temp dir");
    let json = ["--log-format", "json", "--store"];
    for (store, expected) in [
        // The directory does not exist before the start: overdue creates it.
        (
            "sqlite://./data/overdue.db",
            root.join("data").join("overdue.db"),
        ),
        // The second start finds it.
        (
            "sqlite://data/overdue.db",
            root.join("data").join("overdue.db"),
        ),
        ("sqlite://here.db", root.join("here.db")),
    ] {
        let out = output_of_a_short_run(&[&json[..], &[store]].concat(), &[], &root);
        let logged: Vec<String> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == "opening the sqlite store")
            .filter_map(|l| l["path"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            logged,
            [expected.display().to_string()],
            "{store}: the start should log the absolute path once:\n{out}"
        );
    }
}

#[test]
fn durations_in_logs_are_rounded_to_the_microsecond() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = [
        "--store",
        "memory://",
        "--log-format",
        "json",
        "--log-all-timings",
    ];
    let out = output_of_a_short_run(&args, &[], dir.path());
    let mut seen = 0;
    for line in out.lines() {
        let Some(at) = line.find("\"duration_ms\":") else {
            continue;
        };
        let number: String = line[at + "\"duration_ms\":".len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 3, "{number} in {line}");
        seen += 1;
    }
    assert!(seen > 0, "no timing was logged:\n{out}");
}
