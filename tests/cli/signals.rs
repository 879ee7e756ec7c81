//! SIGTERM and SIGINT sent to `overdue run` reach the command.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{kill_process, test_kill_process, Pid, Signal};

use crate::support::{drain, overdue, wait_timeout, Recorder};

/// Starts `overdue run -- sh -c 'echo $$; exec sleep 30'`, sends it `signal` once the
/// command is running, and checks how both ended.
fn signal_reaches_the_command(signal: Signal, expected: i32) {
    let recorder = Recorder::start();
    let mut run = overdue(&[
        "run",
        "--name",
        "a",
        "--every",
        "1h",
        "--url",
        &recorder.url,
        "--",
        "sh",
        "-c",
        "echo $$; exec sleep 30",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn overdue run");
    let mut stdout = BufReader::new(run.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the command's pid");
    let command = Pid::from_raw(line.trim().parse().expect("a pid")).expect("a valid pid");
    let stderr = drain(run.stderr.take().expect("stderr"));

    kill_process(Pid::from_child(&run), signal).expect("signal overdue run");
    let status = wait_timeout(&mut run, Duration::from_secs(10))
        .expect("overdue run ends soon after the signal, not after the 30 s sleep");
    assert_eq!(status.code(), Some(expected));
    assert!(
        test_kill_process(command).is_err(),
        "the command is gone, not left running"
    );
    assert_eq!(String::from_utf8_lossy(&stderr.join().expect("stderr")), "");
    let end = &recorder.received()[1];
    assert_eq!(end.param("state").as_deref(), Some("fail"));
    assert_eq!(end.param("exit_code"), Some(expected.to_string()));
}

#[test]
fn sigterm_is_forwarded_to_the_command_and_run_exits_143() {
    signal_reaches_the_command(Signal::TERM, 143);
}

#[test]
fn sigint_is_forwarded_to_the_command_and_run_exits_130() {
    signal_reaches_the_command(Signal::INT, 130);
}
