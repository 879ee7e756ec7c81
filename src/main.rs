use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::Parser;
use overdue::client;
use overdue::config::LogFormat;
use overdue::logging::{self, FlushOnDrop, LogWriter};
use overdue::Config;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

// A request allocates and frees a few dozen small blocks (headers, URI, extensions,
// the response); mimalloc's thread-local free lists make that markedly cheaper than
// glibc's malloc. The bare route of the load benchmark uses it too, so the comparison
// stays one of work done, not of allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    // `overdue ping|run|jobs …` is the client (SPEC §16); `overdue serve …` and
    // `overdue …` are the server, whose flags and variables the client never reads.
    match args.get(1) {
        Some(first) if client::is_subcommand(first) => {
            return match client::Cli::try_parse_from(args) {
                Ok(cli) => ExitCode::from(client::run(cli)),
                Err(e) => usage_error(&e),
            };
        }
        Some(first) if first == "serve" => {
            args.remove(1);
        }
        _ => {}
    }
    let config = match Config::try_parse_from(args) {
        Ok(config) => config,
        Err(e) => return usage_error(&e),
    };
    // Every option is checked before anything is opened, bound or logged: an invalid
    // configuration exits 2 with one line naming the option.
    let addr = match config.listen_addr().and_then(|addr| {
        config.settings()?;
        Ok(addr)
    }) {
        Ok(addr) => addr,
        Err(e) => {
            report(&format!("error: {e}"));
            return ExitCode::from(2);
        }
    };
    let _flush_logs = match init_tracing(&config) {
        Ok(guard) => guard,
        Err(e) => {
            report(&format!("error: cannot start the log writer: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match serve(config, addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "overdue stopped with an error");
            report(&format!("error: {e:#}"));
            // A configuration only found wrong once used (Redis refusing the password or
            // the certificate) is still invalid configuration.
            match e.downcast_ref::<overdue::RunError>() {
                Some(overdue::RunError::Refused { .. }) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// Help and version go to standard output with 0; any other clap error is a usage
/// error: one line on standard error, exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    report(&one_line(&e.to_string()));
    ExitCode::from(2)
}

/// One line on standard error. A closed or broken stderr is not worth a panic: the
/// exit code still tells.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn serve(config: Config, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--listen)"))?;
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        overdue::run(config, listener, shutdown).await?;
        Ok(())
    })
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    let signal = tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        () = terminate => "SIGTERM",
    };
    // Stop first, log after: the stop may not wait on the log.
    shutdown.cancel();
    tracing::info!(signal, "stop requested");
}

/// Logs go to standard output through [`LogWriter`], which never blocks or fails the
/// code that logs. Pretty logs are coloured only on a terminal without `NO_COLOR`.
fn init_tracing(config: &Config) -> std::io::Result<FlushOnDrop> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stdout().is_terminal();
    let format = config.log_format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let colour = logging::colour(terminal, std::env::var_os("NO_COLOR").as_deref());
    let (writer, guard) = LogWriter::stdout()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(format == LogFormat::Pretty && colour)
        .log_internal_errors(false);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(guard)
}
/// Clap's message on one line: the error and the accepted values, without the
/// "For more information" footer.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect::<Vec<_>>()
        .join(" ")
}
