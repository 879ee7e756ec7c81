//! The command-line client (SPEC §16): `overdue ping`, `overdue run -- COMMAND` and
//! `overdue jobs …`, talking to a running monitor through its HTTP API.
//!
//! `main` hands the arguments here when the first one names a client subcommand, so the
//! server's own flags and variables never apply to the client (and the other way round).
//! Values the server would refuse (`--every`, `--grace`, a name) are parsed with the
//! server's own domain parsers, so they are refused here with the server's message.

mod http;
mod jobs;
mod ping;
mod run;
mod table;
mod tee;

use std::ffi::OsStr;
use std::io::Write;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::secret::Secret;
use http::{Monitor, MonitorUrl, RequestError};

/// The first arguments that start the client instead of the server.
pub const SUBCOMMANDS: [&str; 3] = ["ping", "run", "jobs"];

/// Exit code: the monitor refused the request or could not be reached.
const EXIT_MONITOR: u8 = 1;

/// Whether `arg`, the first argument, names a client subcommand.
pub fn is_subcommand(arg: &OsStr) -> bool {
    arg.to_str().is_some_and(|a| SUBCOMMANDS.contains(&a))
}

/// The client's command line: a subcommand and where the monitor is.
#[derive(Debug, Parser)]
#[command(
    name = "overdue",
    version,
    about = "The client of a running overdue monitor",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sends one ping
    Ping(ping::PingArgs),
    /// Runs a command and reports its start, end, exit code and output
    Run(run::RunArgs),
    /// Lists, shows and manages jobs (admin routes)
    Jobs(jobs::JobsArgs),
}

/// Where the monitor is and how to authenticate; accepted after any subcommand.
#[derive(Debug, clap::Args)]
struct Connection {
    /// The monitor's base URL
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "OVERDUE_URL",
        default_value = "http://127.0.0.1:4000",
        value_name = "URL",
        value_parser = MonitorUrl::parse
    )]
    url: MonitorUrl,

    /// Token for /ping [default: unset]
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "OVERDUE_PING_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    ping_token: Option<String>,

    /// Bearer token for the admin routes [default: unset]
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "OVERDUE_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,

    // How long each ping is tried and each admin request waited for. Hidden: it is
    // SPEC §16's 10 s; tests shorten it to stay fast.
    #[arg(
        long,
        global = true,
        hide = true,
        env = "OVERDUE_CLIENT_BUDGET",
        default_value = "10s",
        value_parser = humantime::parse_duration
    )]
    retry_budget: Duration,
}

/// Runs the parsed command line; returns the process's exit code.
pub fn run(cli: Cli) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            report(&format!("error: cannot start the async runtime: {e}"));
            return EXIT_MONITOR;
        }
    };
    let Connection {
        url,
        ping_token,
        admin_token,
        retry_budget,
    } = cli.connection;
    // An empty variable means "no token", as an unset one does.
    let secret = |t: Option<String>| t.filter(|t| !t.is_empty()).map(Secret::new);
    let monitor = Monitor::new(url, secret(ping_token), secret(admin_token));
    runtime.block_on(async move {
        match (cli.command, monitor) {
            // Even without a monitor to tell, the job runs.
            (Command::Run(args), monitor) => run::run(monitor, args, retry_budget).await,
            (_, Err(e)) => failed(&e),
            (Command::Ping(args), Ok(monitor)) => ping::ping(&monitor, args, retry_budget).await,
            (Command::Jobs(args), Ok(monitor)) => jobs::jobs(&monitor, args, retry_budget).await,
        }
    })
}

/// Exit code: a usage error (clap's own exits with it too).
const EXIT_USAGE: u8 = 2;

/// Reports a value refused after parsing (one that depends on two flags); SPEC §16's
/// exit code for a usage error.
fn usage_error(e: &crate::domain::ParseError) -> u8 {
    report(&format!("error: {e}"));
    EXIT_USAGE
}

/// Reports a request that did not succeed; the exit code of SPEC §16 for it.
fn failed(e: &RequestError) -> u8 {
    report(&format!("error: {e}"));
    EXIT_MONITOR
}

/// One line on standard error; a closed stderr is not worth a panic.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Writes an answer to standard output, ending it with one newline. A closed stdout
/// (`| head`) is not an error of the request, so it is ignored.
fn print(text: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text);
    if !text.ends_with(b"\n") {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}
