//! The admin actions on one job (SPEC §12): `POST /ping/{name}/pause`, `/resume` and
//! `/ack`. Their parameters come from the query string or from a form body
//! (`application/x-www-form-urlencoded`); the query wins when both name one.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::{text_ok, wants_json, ApiError};
use super::query::Query;
use super::AppState;
use crate::backend::ActionOutcome;
use crate::domain::{pause_end, AdminAction, Job, JobName, Note, Refusal, UnixTime};

/// `POST /ping/{name}/pause`.
#[utoipa::path(
    post,
    path = "/ping/{name}/pause",
    tag = "jobs",
    summary = "Pause a job",
    description = "No alert of any kind is raised for a paused job (alerts already queued still go out); \
        its pings and runs are still recorded. The pause lasts until `POST /ping/{name}/resume`, \
        or ends by itself after `for` or at `until`; pausing a paused job replaces its end. \
        The parameters may also come as a form body (`application/x-www-form-urlencoded`).",
    params(
        ("name" = String, Path, description = "The job's name, percent-encoded"),
        ("for" = Option<String>, Query, description = "How long the pause lasts, e.g. `2h`, `1h30m` (1s to 366D)"),
        ("until" = Option<String>, Query, description = "When the pause ends: unix seconds or RFC 3339, in the future"),
    ),
    responses(
        (status = 200, description = "Paused", content(
            (String = "text/plain", example = "Paused backup until 2026-11-21T06:00:00Z\n"),
            (super::openapi::Job = "application/json"),
        )),
        (status = 400, description = "An invalid name, a malformed `for` or `until`, or both; nothing changed"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn pause_job(
    State(app): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from)?;
    let params = Params::parse(&parts, &body)?;
    let name = job_name(name)?;
    let now = UnixTime::now();
    let until = pause_end(params.get("for"), params.get("until"), now)?;
    act(&app, &parts, name, AdminAction::Pause { until }, now).await
}

/// `POST /ping/{name}/resume`.
#[utoipa::path(
    post,
    path = "/ping/{name}/resume",
    tag = "jobs",
    summary = "Resume a paused job",
    description = "The job becomes `up`; its deadline is the later of its own and now + its period + grace \
        (for a schedule, its next fire after now). A job that was down comes back without an `up` alert.",
    params(("name" = String, Path, description = "The job's name, percent-encoded")),
    responses(
        (status = 200, description = "Resumed", content(
            (String = "text/plain", example = "Resumed backup\n"),
            (super::openapi::Job = "application/json"),
        )),
        (status = 400, description = "The name is not a valid job name"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 409, description = "The job is not paused; nothing changed"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn resume_job(
    State(app): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let name = job_name(name)?;
    act(&app, &parts, name, AdminAction::Resume, UnixTime::now()).await
}

/// `POST /ping/{name}/ack`.
#[utoipa::path(
    post,
    path = "/ping/{name}/ack",
    tag = "jobs",
    summary = "Acknowledge a down job",
    description = "No more reminders in this down episode; the job shows `acknowledged` until it comes up, \
        and its `up` alert is still sent. The note may also come as a form body \
        (`application/x-www-form-urlencoded`).",
    params(
        ("name" = String, Path, description = "The job's name, percent-encoded"),
        ("note" = Option<String>, Query, description = "A note shown with the acknowledgement, at most 500 bytes"),
    ),
    responses(
        (status = 200, description = "Acknowledged", content(
            (String = "text/plain", example = "Acknowledged backup\n"),
            (super::openapi::Job = "application/json"),
        )),
        (status = 400, description = "An invalid name, or a note over 500 bytes; nothing changed"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 409, description = "The job is not down; nothing changed"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn ack_job(
    State(app): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from)?;
    let params = Params::parse(&parts, &body)?;
    let name = job_name(name)?;
    let note = params.get("note").map(Note::parse).transpose()?;
    act(
        &app,
        &parts,
        name,
        AdminAction::Acknowledge { note },
        UnixTime::now(),
    )
    .await
}

/// The parameters of an action: its query, then its form body.
struct Params<'a> {
    query: Query<'a>,
    form: Option<Query<'a>>,
}

impl<'a> Params<'a> {
    fn parse(parts: &'a Parts, body: &'a [u8]) -> Result<Self, ApiError> {
        let query = Query::parse(parts.uri.query())?;
        let is_form = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let form = if is_form && !body.is_empty() {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the form body must be UTF-8"))?;
            Some(Query::parse(Some(text))?)
        } else {
            None
        };
        Ok(Self { query, form })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .or_else(|| self.form.as_ref().and_then(|f| f.get(key)))
    }
}

fn job_name(name: Result<Path<String>, PathRejection>) -> Result<JobName, ApiError> {
    let Path(name) = name.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    Ok(JobName::parse(&name)?)
}

/// Applies `action` and answers the job, or one line saying what was done.
async fn act(
    app: &AppState,
    parts: &Parts,
    name: JobName,
    action: AdminAction,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let what = action.as_str();
    let line: fn(&Job) -> String = match action {
        AdminAction::Pause { .. } => |job| match job.paused_until() {
            Some(until) => format!("Paused {} until {until}", job.name),
            None => format!("Paused {} until resumed", job.name),
        },
        AdminAction::Resume => |job| format!("Resumed {}", job.name),
        AdminAction::Acknowledge { .. } => |job| format!("Acknowledged {}", job.name),
    };
    let job = match app.backend.act(&name, action, now).await? {
        ActionOutcome::Done(job) => job,
        ActionOutcome::Unknown => return Err(ApiError::not_found(format!("no job named {name}"))),
        ActionOutcome::Refused(Refusal::NotPaused(status)) => {
            return Err(ApiError::Conflict(format!(
                "{name} is {}, not paused; nothing changed",
                status.as_str()
            )))
        }
        ActionOutcome::Refused(Refusal::NotDown(status)) => {
            return Err(ApiError::Conflict(format!(
                "{name} is {}, not down: only a down job can be acknowledged; nothing changed",
                status.as_str()
            )))
        }
    };
    tracing::info!(job = %name, action = what, "admin action applied");
    if wants_json(&parts.headers) {
        return Ok(Json(job.to_json()).into_response());
    }
    Ok(text_ok(line(&job)))
}
