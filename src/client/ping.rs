//! `overdue ping NAME`: one ping, and the options that say how often a job runs, which
//! `overdue run` shares.

use std::time::Duration;

use reqwest::Method;

use super::http::{Access, Call, Monitor};
use crate::domain::{Frequency, Grace, JobName, ParseError, Schedule};

/// How often a job runs and how late it may be: the parameters a new job needs.
#[derive(Debug, Clone, clap::Args)]
pub struct Timing {
    /// How often the job runs, e.g. 1D, 15m, 1h30m
    #[arg(long, value_name = "DUR", value_parser = Frequency::parse, conflicts_with = "schedule")]
    every: Option<Frequency>,

    /// A cron expression the job follows instead of --every, e.g. "0 3 * * *"
    #[arg(long, value_name = "CRON")]
    schedule: Option<String>,

    /// The schedule's IANA time zone [default: UTC]
    #[arg(long, value_name = "ZONE", requires = "schedule")]
    tz: Option<String>,

    /// Extra slack before the job counts as late, e.g. 5m
    #[arg(long, value_name = "DUR", value_parser = Grace::parse)]
    grace: Option<Grace>,
}

impl Timing {
    /// Checks the schedule and its zone with the server's own parser: the two come as
    /// separate flags, so clap cannot check them as one value.
    pub fn check(&self) -> Result<(), ParseError> {
        match &self.schedule {
            Some(expression) => Schedule::parse(expression, self.tz.as_deref()).map(drop),
            None => Ok(()),
        }
    }

    /// The query parameters of `/ping` these options stand for.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(every) = &self.every {
            query.push(("frequency", every.as_str().to_owned()));
        }
        if let Some(schedule) = &self.schedule {
            query.push(("schedule", schedule.clone()));
        }
        if let Some(tz) = &self.tz {
            query.push(("tz", tz.clone()));
        }
        if let Some(grace) = self.grace {
            query.push(("grace", format!("{}s", grace.seconds())));
        }
        query
    }
}

/// What a run reported by one ping did (SPEC §10).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum State {
    Start,
    Success,
    Fail,
}

/// `overdue ping`'s arguments.
#[derive(Debug, clap::Args)]
pub struct PingArgs {
    /// The job's name
    #[arg(value_parser = JobName::parse)]
    name: JobName,

    #[command(flatten)]
    timing: Timing,

    /// What this ping reports [default: success]
    #[arg(long, value_enum)]
    state: Option<State>,

    /// The run's exit code, 0 to 255; non-zero makes the ping a fail
    #[arg(long, value_name = "N")]
    exit_code: Option<u8>,

    /// Print the job object the monitor answers, as JSON
    #[arg(long)]
    json: bool,
}

/// `GET /ping` for one job, tried like `run`'s pings so that a monitor restarting
/// under a cron job does not lose its ping.
pub async fn ping(monitor: &Monitor, args: PingArgs, budget: Duration) -> u8 {
    if let Err(e) = args.timing.check() {
        return super::usage_error(&e);
    }
    let mut call = Call::new(Method::GET, "/ping".to_owned(), Access::Ping);
    call.query.push(("name", args.name.as_str().to_owned()));
    call.query.extend(args.timing.query());
    if let Some(state) = args.state {
        let state = match state {
            State::Start => "start",
            State::Success => "success",
            State::Fail => "fail",
        };
        call.query.push(("state", state.to_owned()));
    }
    if let Some(code) = args.exit_code {
        call.query.push(("exit_code", code.to_string()));
    }
    call.json = args.json;
    match monitor.send_within(&call, budget).await {
        Ok(body) => {
            super::print(&body);
            0
        }
        Err(e) => super::failed(&e),
    }
}
