//! `GET`, `HEAD` and `POST /ping` (SPEC §3).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::check_ping_token;
use super::error::{text_ok, wants_json, ApiError};
use super::query::Query;
use super::AppState;
use crate::backend::{Ping, PingOutcome};
use crate::domain::{Frequency, Grace, JobName, UnixTime};

// The handlers borrow the request's headers and query rather than extracting a
// `HeaderMap` (a copy of every header) and an owned query: the hot path of overdue.

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
    record(&app, request.headers(), request.uri().query()).await
}

/// `POST /ping`: the body is read (so that an oversized one is refused with 413) and
/// ignored.
#[utoipa::path(
    post,
    path = "/ping",
    tag = "pings",
    summary = "Record a ping",
    description = "What `GET /ping` does; the body, up to 16 KiB, is ignored.",
    params(PingParams),
    request_body(content = Option<String>, content_type = "*/*", description = "Ignored, up to 16 KiB"),
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
    body.map_err(ApiError::from)?;
    record(&app, &parts.headers, parts.uri.query()).await
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
}

async fn record(
    app: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let query = Query::parse(query)?;
    check_ping_token(app.ping_token.as_ref(), query.get("token"), headers)?;
    let name = query.get("name").ok_or_else(|| {
        ApiError::bad_request("missing parameter name, e.g. /ping?name=backup&frequency=1D")
    })?;
    let name = JobName::parse(name)?;
    let frequency = query.get("frequency").map(Frequency::parse).transpose()?;
    let grace = query.get("grace").map(Grace::parse).transpose()?;
    let at = query.get("timestamp").map(UnixTime::parse).transpose()?;
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
        frequency,
        grace,
        at,
        want_job,
        ..Ping::new(name.clone())
    };
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
        PingOutcome::FrequencyRequired => {
            return Err(ApiError::bad_request(format!(
                "{name} is a new job: frequency is required, e.g. frequency=1D \
                 (<integer><unit> with unit s, m, h, D or W)"
            )))
        }
        PingOutcome::Full { max } => return Err(ApiError::Full { max }),
    };
    app.health.count_ping(now.secs());
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
