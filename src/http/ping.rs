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
pub async fn get_ping(State(app): State<AppState>, request: Request) -> Result<Response, ApiError> {
    record(&app, request.headers(), request.uri().query()).await
}

/// `POST /ping`: the body is read (so that an oversized one is refused with 413) and
/// ignored.
pub async fn post_ping(
    State(app): State<AppState>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    body.map_err(ApiError::from)?;
    record(&app, &parts.headers, parts.uri.query()).await
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
        name: name.clone(),
        frequency,
        grace,
        at,
        want_job,
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
