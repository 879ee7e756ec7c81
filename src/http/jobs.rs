//! The admin job routes (SPEC §4, §13): one job, its history, its deletion, and the
//! paginated list.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::{text_ok, wants_json, ApiError};
use super::query::Query;
use super::AppState;
use crate::domain::{JobName, Status};

const DEFAULT_LIMIT: usize = 1_000;
const MAX_LIMIT: usize = 10_000;
/// Events per page of a job's history, unless `limit` says otherwise.
const DEFAULT_EVENTS: usize = 50;
/// Most events one page of a job's history shows.
const MAX_EVENTS: usize = 1_000;

/// The job that `GET` and `DELETE /ping/remove` read and delete: the remove
/// endpoint's own path must not hide a job of that name.
const REMOVE: &str = "remove";

/// `GET /ping/{name}`.
#[utoipa::path(
    get,
    path = "/ping/{name}",
    tag = "jobs",
    summary = "Read a job",
    params(("name" = String, Path, description = "The job's name, percent-encoded")),
    responses(
        (status = 200, description = "The job", body = super::openapi::Job),
        (status = 400, description = "The name is not a valid job name"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn get_job(
    State(app): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    show(&app, &path_name(name)?).await
}

/// `GET /ping/remove`: the job named `remove`.
#[utoipa::path(
    get,
    path = "/ping/remove",
    tag = "jobs",
    summary = "Read the job named remove",
    description = "What `GET /ping/{name}` does for the job named `remove`.",
    responses(
        (status = 200, description = "The job", body = super::openapi::Job),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job named remove"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn get_job_named_remove(State(app): State<AppState>) -> Result<Response, ApiError> {
    show(&app, REMOVE).await
}

/// `DELETE /ping/{name}`.
#[utoipa::path(
    delete,
    path = "/ping/{name}",
    tag = "jobs",
    summary = "Delete a job",
    description = "Deletes the job; its undelivered alerts are dropped.",
    params(("name" = String, Path, description = "The job's name, percent-encoded")),
    responses(
        (status = 200, description = "Deleted: no more alerts for it", content(
            (String = "text/plain", example = "Successfully deleted ping: backup\n"),
            (super::openapi::Deleted = "application/json"),
        )),
        (status = 400, description = "The name is not a valid job name"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn delete_job(
    State(app): State<AppState>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    delete(&app, &headers, &path_name(name)?).await
}

/// `DELETE /ping/remove`: the job named `remove`.
#[utoipa::path(
    delete,
    path = "/ping/remove",
    tag = "jobs",
    summary = "Delete the job named remove",
    description = "What `DELETE /ping/{name}` does for the job named `remove`.",
    responses(
        (status = 200, description = "Deleted: no more alerts for it", content(
            (String = "text/plain", example = "Successfully deleted ping: backup\n"),
            (super::openapi::Deleted = "application/json"),
        )),
        (status = 400, description = "Not answered: the name is valid"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn delete_job_named_remove(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    delete(&app, &headers, REMOVE).await
}

/// `DELETE /ping?name=NAME`: what `DELETE /ping/{name}` does, for clients that put
/// the name in the query.
#[utoipa::path(
    delete,
    path = "/ping",
    tag = "jobs",
    summary = "Delete a job named in the query",
    description = "What `DELETE /ping/{name}` does.",
    params(("name" = String, Query, description = "The job's name")),
    responses(
        (status = 200, description = "Deleted: no more alerts for it", content(
            (String = "text/plain", example = "Successfully deleted ping: backup\n"),
            (super::openapi::Deleted = "application/json"),
        )),
        (status = 400, description = "The name is missing or not a valid job name"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn delete_job_by_query(
    State(app): State<AppState>,
    request: Parts,
) -> Result<Response, ApiError> {
    delete_named_in_query(&app, &request, "DELETE /ping?name=backup").await
}

/// `POST /ping/remove?name=NAME`: what `DELETE /ping/{name}` does, for clients that
/// cannot send `DELETE`. A body is neither needed nor read.
#[utoipa::path(
    post,
    path = "/ping/remove",
    tag = "jobs",
    summary = "Delete a job named in the query",
    description = "What `DELETE /ping/{name}` does, for clients that cannot send `DELETE`.",
    params(("name" = String, Query, description = "The job's name")),
    responses(
        (status = 200, description = "Deleted: no more alerts for it", content(
            (String = "text/plain", example = "Successfully deleted ping: backup\n"),
            (super::openapi::Deleted = "application/json"),
        )),
        (status = 400, description = "The name is missing or not a valid job name"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn remove_job_by_query(
    State(app): State<AppState>,
    request: Parts,
) -> Result<Response, ApiError> {
    delete_named_in_query(&app, &request, "POST /ping/remove?name=backup").await
}

async fn delete_named_in_query(
    app: &AppState,
    request: &Parts,
    example: &str,
) -> Result<Response, ApiError> {
    let query = Query::parse(request.uri.query())?;
    let name = query
        .get("name")
        .ok_or_else(|| ApiError::bad_request(format!("missing parameter name, e.g. {example}")))?;
    delete(app, &request.headers, name).await
}

fn path_name(name: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    name.map(|Path(name)| name)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

async fn show(app: &AppState, name: &str) -> Result<Response, ApiError> {
    let name = JobName::parse(name)?;
    match app.backend.get(&name).await? {
        Some(job) => Ok(Json(job.to_json()).into_response()),
        None => Err(ApiError::not_found(format!("no job named {name}"))),
    }
}

async fn delete(app: &AppState, headers: &HeaderMap, name: &str) -> Result<Response, ApiError> {
    let name = JobName::parse(name)?;
    if !app.backend.delete(&name).await? {
        return Err(ApiError::not_found(format!("no job named {name}")));
    }
    tracing::info!(job = %name, "job deleted");
    let message = format!("Successfully deleted ping: {name}");
    if wants_json(headers) {
        return Ok(Json(serde_json::json!({ "message": message })).into_response());
    }
    Ok(text_ok(message))
}

/// `GET /ping/{name}/events`.
#[utoipa::path(
    get,
    path = "/ping/{name}/events",
    tag = "jobs",
    summary = "Read a job's history",
    description = "The job's most recent events (at most `--history`), newest first; with `--history 0`, an empty page.",
    params(
        ("name" = String, Path, description = "The job's name, percent-encoded"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Events per page: 1 to 1000, default 50"),
        ("before" = Option<u64>, Query, minimum = 1, description = "Only events with a smaller `seq` (exclusive): the `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of events, newest first", body = super::openapi::EventPage),
        (status = 400, description = "An invalid name, limit or before"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 404, description = "No job of that name"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn job_events(
    State(app): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let name = JobName::parse(&path_name(name)?)?;
    let query = Query::parse(query.as_deref())?;
    let limit = match query.get("limit") {
        None | Some("") => DEFAULT_EVENTS,
        Some(raw) => positive(raw)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= MAX_EVENTS)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid limit {raw:?}: expected an integer from 1 to {MAX_EVENTS}"
                ))
            })?,
    };
    let before = match query.get("before") {
        None | Some("") => None,
        Some(raw) => Some(positive(raw).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid before {raw:?}: expected a positive integer, the next of the previous page"
            ))
        })?),
    };
    match app.backend.events(&name, before, limit).await? {
        Some(page) => Ok(Json(serde_json::json!({
            "events": page.events,
            "next": page.next,
        }))
        .into_response()),
        None => Err(ApiError::not_found(format!("no job named {name}"))),
    }
}

/// A positive integer written in decimal digits only (no sign, no spaces).
fn positive(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u64>().ok().filter(|n| *n > 0)
}

/// `GET /pings`.
#[utoipa::path(
    get,
    path = "/pings",
    tag = "jobs",
    summary = "List jobs",
    description = "A page of jobs sorted by name.",
    params(
        ("status" = Option<super::openapi::JobStatus>, Query, description = "Only jobs with this status"),
        ("limit" = Option<u32>, Query, minimum = 1, description = "Jobs per page: default 1000, larger values are capped at 10000"),
        ("after" = Option<String>, Query, description = "Start after this name (exclusive): the `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of jobs", body = super::openapi::JobPage),
        (status = 400, description = "An invalid status or limit"),
        (status = 401, description = "The admin token is missing"),
        (status = 403, description = "The admin token is wrong"),
        (status = 503, description = "The store is unavailable"),
    ),
    security(("admin_token" = [])),
)]
pub async fn list_jobs(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(query.as_deref())?;
    let status = match query.get("status") {
        None | Some("") => None,
        Some(raw) => Some(Status::parse(raw).ok_or_else(|| {
            ApiError::bad_request(format!("invalid status {raw:?}: expected up or down"))
        })?),
    };
    let limit = match query.get("limit") {
        None | Some("") => DEFAULT_LIMIT,
        // Any positive integer is accepted and capped, however many digits it has.
        Some(raw) if raw.bytes().all(|b| b.is_ascii_digit()) && raw.bytes().any(|b| b != b'0') => {
            raw.parse::<usize>().unwrap_or(MAX_LIMIT).min(MAX_LIMIT)
        }
        Some(raw) => {
            return Err(ApiError::bad_request(format!(
                "invalid limit {raw:?}: expected an integer from 1 to {MAX_LIMIT}"
            )))
        }
    };
    let after = query.get("after").filter(|a| !a.is_empty());
    let page = app.backend.list(status, after, limit).await?;
    let services: Vec<_> = page.jobs.iter().map(|j| j.to_json()).collect();
    Ok(Json(serde_json::json!({
        "services": services,
        "total": page.total,
        "next": page.next,
    }))
    .into_response())
}
