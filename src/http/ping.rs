//! `GET`, `HEAD` and `POST /ping` (SPEC §3, §10), and what the healthchecks-style
//! routes share with them: the run parameters, the origin, the store's refusals.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::check_ping_token;
use super::error::{text_ok, wants_json, ApiError};
use super::query::Query;
use super::AppState;
use crate::backend::{Ping, PingOutcome};
use crate::domain::{
    parse_failure_tolerance, parse_max_runtime, ExitCode, Frequency, Grace, Job, JobName, Origin,
    Output, RunId, Signal, UnixTime,
};

/// Bytes of a `User-Agent` header kept with a ping's event.
const MAX_USER_AGENT_BYTES: usize = 200;

// The handlers take the request's parts and borrow its headers and query rather than
// extracting a `HeaderMap` (a copy of every header) and an owned query: the hot path
// of overdue.

/// `GET` (and `HEAD`) `/ping`.
#[utoipa::path(
    get,
    path = "/ping",
    tag = "pings",
    summary = "Record a ping",
    description = "Records a ping of the job `name`, creating it when new. `HEAD` does the same and answers no body.",
    params(PingParams),
    responses(
        (status = 200, description = "Recorded", content(
            (String = "text/plain", example = "Successfully recorded ping for backup\n"),
            (super::openapi::Job = "application/json"),
        )),
        (status = 400, description = "A missing or invalid parameter, or a timestamp further ahead than `--max-clock-skew`"),
        (status = 401, description = "The ping token is missing or wrong (`--ping-token`)"),
        (status = 409, description = "The timestamp is older than the job's last ping; nothing changed"),
        (status = 414, description = "The query is longer than 8 KiB"),
        (status = 507, description = "A new job beyond `--max-services`"),
        (status = 503, description = "The store is unavailable; nothing was recorded"),
    ),
    security((), ("ping_token_query" = []), ("ping_token_bearer" = [])),
)]
pub async fn get_ping(State(app): State<AppState>, request: Request) -> Result<Response, ApiError> {
    // The request is taken apart, not its parts extracted: that would clone them.
    let (parts, _) = request.into_parts();
    record(&app, &parts, None).await
}

/// `POST /ping`: the body, up to 16 KiB, is the run's output (SPEC §10).
#[utoipa::path(
    post,
    path = "/ping",
    tag = "pings",
    summary = "Record a ping",
    description = "What `GET /ping` does; the body, up to 16 KiB, is the run's output: its first 10 KiB are kept with the ping's event (invalid UTF-8 replaced by U+FFFD), and an alert raised by a failing ping carries its last 1,000 bytes.",
    params(PingParams),
    request_body(content = Option<String>, content_type = "*/*", description = "The run's output, up to 16 KiB"),
    responses(
        (status = 200, description = "Recorded", content(
            (String = "text/plain", example = "Successfully recorded ping for backup\n"),
            (super::openapi::Job = "application/json"),
        )),
        (status = 400, description = "A missing or invalid parameter, or a timestamp further ahead than `--max-clock-skew`"),
        (status = 401, description = "The ping token is missing or wrong (`--ping-token`)"),
        (status = 409, description = "The timestamp is older than the job's last ping; nothing changed"),
        (status = 413, description = "The body is larger than 16 KiB"),
        (status = 414, description = "The query is longer than 8 KiB"),
        (status = 507, description = "A new job beyond `--max-services`"),
        (status = 503, description = "The store is unavailable; nothing was recorded"),
    ),
    security((), ("ping_token_query" = []), ("ping_token_bearer" = [])),
)]
pub async fn post_ping(
    State(app): State<AppState>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from)?;
    record(&app, &parts, Some(&body)).await
}

/// The parameters of a ping (SPEC §3); they are read by [`Query`], this describes them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // A description only.
struct PingParams {
    /// The job's name: 1–200 bytes of UTF-8, no control characters.
    name: String,
    /// How often the job pings, e.g. `1D`, `30m`, `1h30m` (between `1s` and `366D`):
    /// required for a new job; a known job keeps its frequency when omitted.
    frequency: Option<String>,
    /// When the job ran: unix seconds or RFC 3339; default: arrival time.
    timestamp: Option<String>,
    /// Extra slack after the frequency before alerting, e.g. `5m`; default `0s`.
    grace: Option<String>,
    /// The ping token, when `--ping-token` is set (or send it as a bearer token).
    token: Option<String>,
    /// `success` (the default: a plain ping), `start`, `fail` or `log`.
    state: Option<PingState>,
    /// The command's exit status, 0–255; a non-zero one makes the ping a `fail`.
    #[param(minimum = 0, maximum = 255)]
    exit_code: Option<u8>,
    /// A run id, 1–64 printable ASCII bytes, tying a `start` to the ping that ends it.
    rid: Option<String>,
    /// How long a started run may take (`1s`–`366D`); `0` clears it; a known job keeps
    /// it when omitted.
    max_runtime: Option<String>,
    /// Consecutive `fail`s tolerated before the job goes down, 0–100 (default 0); a
    /// known job keeps it when omitted.
    #[param(minimum = 0, maximum = 100)]
    failure_tolerance: Option<u8>,
}

/// What a ping says about a run (SPEC §10).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // A description only.
pub enum PingState {
    Success,
    Start,
    Fail,
    Log,
}

/// Where a request came from, for its event: the peer's address (when the server
/// attaches it) and the `User-Agent` header.
pub(super) fn origin(headers: &HeaderMap, extensions: &Extensions) -> Origin {
    let remote_addr = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| Box::from(peer.ip().to_string()));
    let user_agent = headers
        .get(USER_AGENT)
        .filter(|value| !value.is_empty())
        .map(|value| {
            let text = String::from_utf8_lossy(value.as_bytes());
            Box::from(prefix_within(&text, MAX_USER_AGENT_BYTES))
        });
    Origin {
        remote_addr,
        user_agent,
    }
}

/// The longest prefix of `text` within `max` bytes that ends on a character boundary.
fn prefix_within(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

/// The run parameters of SPEC §10 as a ping sends them.
#[derive(Debug, Default)]
pub(super) struct RunParams {
    pub signal: Signal,
    pub exit_code: Option<ExitCode>,
    pub rid: Option<RunId>,
    pub max_runtime: Option<Option<u64>>,
    pub failure_tolerance: Option<u8>,
}

impl RunParams {
    /// Reads `state`, `exit_code`, `rid`, `max_runtime` and `failure_tolerance`; each
    /// is parsed only when present, so that a plain ping pays for five lookups only.
    pub fn parse(query: &Query<'_>) -> Result<Self, ApiError> {
        let exit_code = query.get("exit_code").map(ExitCode::parse).transpose()?;
        Ok(Self {
            signal: Signal::parse(query.get("state"), exit_code)?,
            exit_code,
            rid: query.get("rid").map(RunId::parse).transpose()?,
            max_runtime: query
                .get("max_runtime")
                .map(parse_max_runtime)
                .transpose()?,
            failure_tolerance: query
                .get("failure_tolerance")
                .map(parse_failure_tolerance)
                .transpose()?,
        })
    }
}

/// Parses the run parameters of a query and the output of a body as `/ping` does,
/// for the fuzz targets: the client's error message, or nothing.
#[doc(hidden)]
pub fn parse_run_for_fuzzing(raw_query: &str, body: &[u8]) -> Result<(), String> {
    let query = Query::parse(Some(raw_query)).map_err(|e| e.message())?;
    RunParams::parse(&query).map_err(|e| e.message())?;
    if let Some(output) = Output::from_body(body) {
        if output.as_str().len() > crate::domain::MAX_OUTPUT_BYTES {
            return Err("output beyond its bound".to_owned());
        }
    }
    Ok(())
}

/// What a store made of a ping that the handler turns into an answer.
pub(super) enum Stored {
    /// Recorded; the job when it was read back.
    Recorded(Option<Job>),
    /// An unknown name without a frequency: nothing was recorded.
    NewJobWithoutFrequency,
}

/// Hands `ping` to the store and maps the refusals every ping route shares.
pub(super) async fn store(app: &AppState, ping: Ping, now: UnixTime) -> Result<Stored, ApiError> {
    let name = ping.name.clone();
    let job = match app.backend.record_ping(ping, now).await? {
        PingOutcome::Recorded(job) => Some(job),
        PingOutcome::Acknowledged => None,
        PingOutcome::Recovered(job) => {
            tracing::info!(job = %job.name, "job recovered");
            Some(job)
        }
        PingOutcome::Stale(job) => {
            return Err(ApiError::Conflict(format!(
                "timestamp is older than the last recorded ping for {name} ({}); nothing changed",
                job.last_ping
            )))
        }
        PingOutcome::FrequencyRequired => return Ok(Stored::NewJobWithoutFrequency),
        PingOutcome::Full { max } => return Err(ApiError::Full { max }),
    };
    app.health.count_ping(now.secs());
    Ok(Stored::Recorded(job))
}

async fn record(app: &AppState, parts: &Parts, body: Option<&[u8]>) -> Result<Response, ApiError> {
    let headers = &parts.headers;
    let query = Query::parse(parts.uri.query())?;
    check_ping_token(app.ping_token.as_ref(), query.get("token"), headers)?;
    let name = query.get("name").ok_or_else(|| {
        ApiError::bad_request("missing parameter name, e.g. /ping?name=backup&frequency=1D")
    })?;
    let name = JobName::parse(name)?;
    let frequency = query.get("frequency").map(Frequency::parse).transpose()?;
    let grace = query.get("grace").map(Grace::parse).transpose()?;
    let at = query.get("timestamp").map(UnixTime::parse).transpose()?;
    let run = RunParams::parse(&query)?;
    let now = UnixTime::now();
    if let Some(at) = at {
        let ahead = at.since(now);
        if ahead > app.max_clock_skew_secs {
            return Err(ApiError::bad_request(format!(
                "timestamp is {ahead} s in the future; at most {} s is accepted (--max-clock-skew)",
                app.max_clock_skew_secs
            )));
        }
    }
    let want_job = wants_json(headers);
    let ping = Ping {
        name: name.clone(),
        frequency,
        grace,
        at,
        want_job,
        signal: run.signal,
        exit_code: run.exit_code,
        rid: run.rid,
        max_runtime: run.max_runtime,
        failure_tolerance: run.failure_tolerance,
        output: body.and_then(Output::from_body),
        origin: origin(headers, &parts.extensions),
    };
    let job = match store(app, ping, now).await? {
        Stored::Recorded(job) => job,
        Stored::NewJobWithoutFrequency => {
            return Err(ApiError::bad_request(format!(
                "{name} is a new job: frequency is required, e.g. frequency=1D \
                 (<integer><unit> with unit s, m, h, D or W)"
            )))
        }
    };
    if want_job {
        // A backend answers `Acknowledged` only when the job was not asked for; should
        // one do it anyway, the job is read back rather than the JSON left out.
        let job = match job {
            Some(job) => job,
            None => app.backend.get(&name).await?.ok_or_else(|| {
                ApiError::Unavailable(format!(
                    "the ping for {name} was recorded but the job could not be read back"
                ))
            })?,
        };
        return Ok(Json(job.to_json()).into_response());
    }
    Ok(text_ok(format!("Successfully recorded ping for {name}\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(query: &str) -> Result<RunParams, String> {
        let query = Query::parse(Some(query)).map_err(|e| e.message())?;
        RunParams::parse(&query).map_err(|e| e.message())
    }

    #[test]
    fn a_plain_ping_is_a_success_without_run_fields() {
        let params = run("name=backup&frequency=1D").unwrap();
        assert_eq!(params.signal, Signal::Success);
        assert!(params.exit_code.is_none() && params.rid.is_none());
        assert!(params.max_runtime.is_none() && params.failure_tolerance.is_none());
    }

    #[test]
    fn run_parameters_parse_and_refusals_name_them() {
        let params =
            run("state=success&exit_code=3&rid=r%201&max_runtime=0&failure_tolerance=5").unwrap();
        assert_eq!(
            params.signal,
            Signal::Fail,
            "a non-zero exit code is a fail"
        );
        assert_eq!(params.rid.as_ref().map(RunId::as_str), Some("r 1"));
        assert_eq!(params.max_runtime, Some(None), "0 clears the limit");
        assert_eq!(params.failure_tolerance, Some(5));
        for (query, named) in [
            ("state=done", "state"),
            ("exit_code=256", "exit_code"),
            ("rid=", "rid"),
            ("max_runtime=1M", "max_runtime"),
            ("failure_tolerance=101", "failure_tolerance"),
        ] {
            let message = run(query).err().unwrap_or_default();
            assert!(message.contains(named), "{query}: {message}");
        }
    }

    #[test]
    fn the_user_agent_is_kept_within_its_bound_on_a_character_boundary() {
        let mut headers = HeaderMap::new();
        let agent = "é".repeat(150);
        headers.insert(USER_AGENT, agent.parse().unwrap());
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4242))));
        let seen = origin(&headers, &extensions);
        assert_eq!(seen.remote_addr.as_deref(), Some("192.0.2.7"));
        let kept = seen.user_agent.unwrap_or_default();
        assert!(kept.len() <= MAX_USER_AGENT_BYTES && kept.chars().all(|c| c == 'é'));
        assert_eq!(
            origin(&HeaderMap::new(), &Extensions::new()),
            Origin::default()
        );
    }

    proptest::proptest! {
        // Stands in for the fuzz target `run_params` where cargo-fuzz is not at hand.
        #[test]
        fn run_parameters_and_bodies_never_panic(
            query in "[a-z_]{0,20}=[ -~]{0,40}(&(state|exit_code|rid|max_runtime|failure_tolerance)=[ -~%+]{0,80}){0,6}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20_000),
        ) {
            let outcome = parse_run_for_fuzzing(&query, &body);
            if let Err(message) = outcome {
                proptest::prop_assert!(!message.is_empty() && !message.contains('\n'));
            }
        }
    }
}
