//! `overdue run -- COMMAND`: a cron job's command wrapped in a `start` ping and a
//! `success`/`fail` ping that carries its exit code and the tail of its output.
//!
//! The command comes first: it starts while the `start` ping is on its way, its
//! streams pass through untouched, its exit status is ours, and a monitor that is down
//! or slow costs at most the retry budget after it ends, with one warning line per ping
//! that did not get through.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Method;
use rustix::process::{kill_process, Pid, Signal};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;

use super::http::{Access, Call, Monitor, RequestError};
use super::ping::Timing;
use super::tee::{spawn_copier, Tail};
use crate::domain::{Frequency, JobName, ParseError};

/// How much of the command's output the finishing ping carries: what the monitor
/// keeps of a run's output (SPEC §10).
const KEPT_OUTPUT: usize = 10 * 1024;

/// The shortest try the finishing ping gets even when the `start` ping used up the
/// budget: a monitor that was slow a moment ago may answer now.
const LAST_CHANCE: Duration = Duration::from_secs(1);

/// Exit codes of a command that could not be started, as a shell reports them.
const EXIT_NOT_FOUND: u8 = 127;
const EXIT_CANNOT_EXECUTE: u8 = 126;

/// `overdue run`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The job's name
    #[arg(long, value_parser = JobName::parse)]
    name: JobName,

    #[command(flatten)]
    timing: Timing,

    /// How long a run may take before the job counts as down; 0 clears it
    #[arg(long, value_name = "DUR", value_parser = parse_max_runtime)]
    max_runtime: Option<u64>,

    /// The command and its arguments, after --
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

/// `max_runtime` takes the frequency grammar and range, or `0` (SPEC §10).
fn parse_max_runtime(raw: &str) -> Result<u64, ParseError> {
    let trimmed = raw.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b == b'0') {
        return Ok(0);
    }
    Frequency::parse(raw)
        .map(|f| f.seconds())
        .map_err(|e| match e {
            ParseError::Duration { value, reason, .. } => ParseError::Duration {
                field: "max_runtime",
                value,
                reason,
            },
            other => other,
        })
}

/// How the command ended: our exit code and the tail of its output.
struct Ended {
    code: u8,
    output: Vec<u8>,
}

pub async fn run(monitor: Result<Monitor, RequestError>, args: RunArgs, budget: Duration) -> u8 {
    // A typo in the job's timing is refused before anything runs, as clap refuses the
    // other flags.
    if let Err(e) = args.timing.check() {
        return super::usage_error(&e);
    }
    let monitor = match monitor {
        Ok(monitor) => monitor,
        Err(e) => {
            warn_line(&format!("no ping of {} will be sent: {e}", args.name));
            return execute(&args.command).await.code;
        }
    };
    let rid = ulid::Ulid::new().to_string();
    let mut query = vec![("name", args.name.as_str().to_owned())];
    query.extend(args.timing.query());
    if let Some(seconds) = args.max_runtime {
        query.push(("max_runtime", format!("{seconds}s")));
    }
    query.push(("rid", rid));

    let mut start = Call::new(Method::GET, "/ping".to_owned(), Access::Ping);
    start.query.clone_from(&query);
    start.query.push(("state", "start".to_owned()));
    let start_ping = tokio::spawn({
        let monitor = monitor.clone();
        async move { monitor.send_within(&start, budget).await }
    });

    let ended = execute(&args.command).await;
    let command_end = Instant::now();

    // The start must reach the monitor before the end, or the run would not be
    // closed; together they get the budget once, counted from the command's end.
    match start_ping.await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => warn("start", &args.name, &e),
        Err(e) => warn_line(&format!("the start ping of {} failed: {e}", args.name)),
    }
    let mut finish = Call::new(Method::POST, "/ping".to_owned(), Access::Ping);
    finish.query = query;
    let state = if ended.code == 0 { "success" } else { "fail" };
    finish.query.push(("state", state.to_owned()));
    finish.query.push(("exit_code", ended.code.to_string()));
    finish.body = Some(ended.output);
    let left = (command_end + budget)
        .saturating_duration_since(Instant::now())
        .max(LAST_CHANCE.min(budget));
    if let Err(e) = monitor.send_within(&finish, left).await {
        warn(state, &args.name, &e);
    }
    ended.code
}

/// Runs the command with our stdin, its output copied through, and SIGTERM/SIGINT
/// forwarded to it, until it ends and its output is closed.
async fn execute(command: &[OsString]) -> Ended {
    let tail = Arc::new(Mutex::new(Tail::new(KEPT_OUTPUT)));
    let kept =
        |tail: &Arc<Mutex<Tail>>| tail.lock().unwrap_or_else(PoisonError::into_inner).to_vec();
    let Some((program, arguments)) = command.split_first() else {
        return Ended {
            code: EXIT_NOT_FOUND,
            output: Vec::new(),
        };
    };
    // Listen before the command starts, so that a signal sent at once is forwarded
    // rather than ending us with the command left running.
    let mut terminate = listen(SignalKind::terminate());
    let mut interrupt = listen(SignalKind::interrupt());

    let spawned = std::process::Command::new(program)
        .args(arguments)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let (code, reason) = match e.kind() {
                ErrorKind::NotFound => (EXIT_NOT_FOUND, "command not found".to_owned()),
                ErrorKind::PermissionDenied => {
                    (EXIT_CANNOT_EXECUTE, "permission denied".to_owned())
                }
                _ => (EXIT_CANNOT_EXECUTE, e.to_string()),
            };
            let line = format!("error: cannot run {}: {reason}", program.to_string_lossy());
            super::report(&line);
            return Ended {
                code,
                output: line.into_bytes(),
            };
        }
    };
    let pid = Pid::from_child(&child);
    let copiers = [
        child
            .stdout
            .take()
            .map(|out| spawn_copier(out, std::io::stdout(), tail.clone())),
        child
            .stderr
            .take()
            .map(|err| spawn_copier(err, std::io::stderr(), tail.clone())),
    ];
    let (done, mut exited) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });

    let status = loop {
        tokio::select! {
            status = &mut exited => break status,
            Some(()) = recv(&mut terminate) => forward(pid, Signal::TERM),
            Some(()) = recv(&mut interrupt) => forward(pid, Signal::INT),
        }
    };
    // All the output is written, and kept, before we report or exit.
    for copier in copiers.into_iter().flatten() {
        let _ = tokio::task::spawn_blocking(move || copier.join()).await;
    }
    let code = match status {
        Ok(Ok(status)) => exit_code(status),
        Ok(Err(e)) => {
            super::report(&format!("error: cannot wait for the command: {e}"));
            EXIT_CANNOT_EXECUTE
        }
        Err(_) => EXIT_CANNOT_EXECUTE,
    };
    Ended {
        code,
        output: kept(&tail),
    }
}

/// A shell's exit code for how the command ended: its own, or 128 + the signal's
/// number.
fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code.rem_euclid(256)).unwrap_or(u8::MAX);
    }
    let signal = status.signal().unwrap_or(0);
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

fn listen(kind: SignalKind) -> Option<tokio::signal::unix::Signal> {
    match signal(kind) {
        Ok(stream) => Some(stream),
        Err(e) => {
            warn_line(&format!(
                "signals will not be forwarded to the command: {e}"
            ));
            None
        }
    }
}

async fn recv(stream: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match stream {
        Some(stream) => stream.recv().await,
        None => std::future::pending().await,
    }
}

fn forward(pid: Pid, signal: Signal) {
    // The command may have ended between its exit and our noticing: nothing to do.
    let _ = kill_process(pid, signal);
}

fn warn(which: &str, name: &JobName, e: &RequestError) {
    warn_line(&format!("the {which} ping of {name} was not recorded: {e}"));
}

fn warn_line(line: &str) {
    super::report(&format!("warning: {line}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_runtime_takes_the_frequency_grammar_or_zero() {
        assert_eq!(parse_max_runtime("0"), Ok(0));
        assert_eq!(parse_max_runtime("1h30m"), Ok(5_400));
        let refused = parse_max_runtime("1M").map_err(|e| e.to_string());
        assert!(refused.is_err_and(|m| m.starts_with("invalid max_runtime \"1M\"")));
    }
}
