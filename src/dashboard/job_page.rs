//! `GET /ui/job?name=`: one job (SPEC §15): every field, the lines that ping it, its
//! history with outputs folded, deliveries per channel, and the forms that pause,
//! resume, acknowledge and delete it. The forms call the same store actions as
//! `POST /ping/{name}/pause` and the other admin routes: the rules live in the domain.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::HOST;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::format::{self, Moment};
use super::layout::{layout, render, Nav, Page};
use super::session::is_https;
use super::viewer::Viewer;
use crate::backend::ActionOutcome;
use crate::domain::selection::is_running;
use crate::domain::{pause_end, AdminAction, Job, JobName, Note, Refusal, UnixTime};
use crate::http::{see_other, ApiError, AppState, Query};

/// Events on one page of the history.
const HISTORY_EVENTS: usize = 100;

struct Field {
    key: String,
    value: String,
}

struct HistoryRow {
    at: Moment,
    kind: &'static str,
    details: String,
    output: Option<String>,
}

/// The deliveries of one channel, from the history shown.
struct ChannelDeliveries {
    channel: String,
    delivered: usize,
    gave_up: usize,
    last_outcome: String,
    last_at: Moment,
    last_detail: String,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage<'a> {
    name: &'a str,
    encoded: String,
    status: &'static str,
    running: bool,
    fields: Vec<Field>,
    curl: String,
    run: String,
    csrf: &'a str,
    history: Vec<HistoryRow>,
    older: Option<String>,
    deliveries: Vec<ChannelDeliveries>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct Notice<'a> {
    heading: &'a str,
    text: &'a str,
    back: &'a str,
    back_label: &'a str,
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
struct ConfirmDelete<'a> {
    name: &'a str,
    encoded: String,
    csrf: &'a str,
    back: String,
}

/// The job a request names in its `name` query parameter.
fn named(parts: &Parts) -> Result<JobName, ApiError> {
    let query = Query::parse(parts.uri.query())?;
    let name = query
        .get("name")
        .ok_or_else(|| ApiError::bad_request("missing parameter name, e.g. /ui/job?name=backup"))?;
    Ok(JobName::parse(name)?)
}

/// `GET /ui/job?name=NAME`.
#[utoipa::path(
    get,
    path = "/ui/job",
    tag = "dashboard",
    summary = "The job page",
    params(
        ("name" = String, Query, description = "The job's name"),
        ("before" = Option<u64>, Query, description = "Show history events older than this `seq`"),
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 303, description = "Sign in first (with `--admin-token`)"),
        (status = 400, description = "A missing or invalid name"),
        (status = 404, description = "No job of that name"),
        (status = 503, description = "The store is unavailable"),
    ),
)]
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    parts: Parts,
) -> Result<Response, ApiError> {
    let name = named(&parts)?;
    let query = Query::parse(parts.uri.query())?;
    let before = query.get("before").and_then(|b| b.parse().ok());
    let Some(job) = app.backend.get(&name).await? else {
        return Ok(not_found(&viewer, &name)?.into_response());
    };
    let events = app
        .backend
        .events(&name, before, HISTORY_EVENTS)
        .await?
        .unwrap_or_default();
    let now = UnixTime::now();
    let base = base_url(&parts);
    let encoded = format::encode(name.as_str());
    let page = JobPage {
        name: name.as_str(),
        encoded: encoded.clone(),
        status: job.status.as_str(),
        running: is_running(&job),
        fields: fields(&job),
        curl: curl_line(&job, &base, app.ping_token.is_some()),
        run: run_line(&job, &base),
        csrf: viewer.csrf(),
        history: events.events.iter().map(|e| history_row(e, now)).collect(),
        older: events
            .next
            .map(|seq| format!("/ui/job?name={encoded}&before={seq}")),
        deliveries: deliveries(&events.events, now),
    };
    let body = render(&page)?;
    Ok(layout(name.as_str(), &viewer, Nav::Jobs, &body)?.into_response())
}

fn not_found(viewer: &Viewer, name: &JobName) -> Result<Page, ApiError> {
    let text = format!("There is no job named {name}.");
    notice(
        viewer,
        StatusCode::NOT_FOUND,
        "No such job",
        &text,
        "/",
        "All jobs",
    )
}

fn notice(
    viewer: &Viewer,
    status: StatusCode,
    heading: &str,
    text: &str,
    back: &str,
    back_label: &str,
) -> Result<Page, ApiError> {
    let body = render(&Notice {
        heading,
        text,
        back,
        back_label,
    })?;
    Ok(layout(heading, viewer, Nav::Jobs, &body)?.with_status(status))
}

/// Every field of the job object (SPEC §4, §10, §11, §12), as text.
fn fields(job: &Job) -> Vec<Field> {
    let serde_json::Value::Object(object) = job.to_json() else {
        return Vec::new();
    };
    object
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::Null => "–".to_owned(),
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            Field { key, value }
        })
        .collect()
}

/// `http://host:port` as the browser reached us (through a proxy that says HTTPS, too).
fn base_url(parts: &Parts) -> String {
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:4000");
    let scheme = if is_https(&parts.headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// The `curl` line a cron job appends to ping this job.
fn curl_line(job: &Job, base: &str, ping_token: bool) -> String {
    let mut url = format!("{base}/ping?name={}", format::encode(job.name.as_str()));
    if let Some(frequency) = job.frequency() {
        url.push_str(&format!(
            "&frequency={}",
            format::encode(frequency.as_str())
        ));
    }
    if let Some(schedule) = job.schedule() {
        url.push_str(&format!(
            "&schedule={}&tz={}",
            format::encode(schedule.expression()),
            format::encode(schedule.timezone())
        ));
    }
    if ping_token {
        url.push_str("&token=$OVERDUE_PING_TOKEN");
    }
    format!("curl -fsS --retry 3 \"{url}\" > /dev/null")
}

/// The `overdue run` line that wraps the job's command (SPEC §16).
fn run_line(job: &Job, base: &str) -> String {
    let mut line = format!(
        "overdue run --url {base} --name {}",
        shell_quote(job.name.as_str())
    );
    if let Some(frequency) = job.frequency() {
        line.push_str(&format!(" --every {}", frequency.as_str()));
    }
    if let Some(schedule) = job.schedule() {
        line.push_str(&format!(
            " --schedule {} --tz {}",
            shell_quote(schedule.expression()),
            shell_quote(schedule.timezone())
        ));
    }
    line.push_str(" -- /path/to/command");
    line
}

/// `text` as one word for a POSIX shell.
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=".contains(&b))
    {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn history_row(event: &serde_json::Value, now: UnixTime) -> HistoryRow {
    let at = event["at_unix_ms"]
        .as_i64()
        .and_then(UnixTime::from_millis)
        .unwrap_or(now);
    let mark = format::marks(std::slice::from_ref(event));
    let kind = mark.first().map_or("other", |m| m.kind);
    HistoryRow {
        at: Moment::new(at, now),
        kind,
        details: details(event),
        output: event["log"].as_str().map(str::to_owned),
    }
}

/// What an event says beyond its kind, in one line.
fn details(event: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    let text = |key: &str| event[key].as_str().map(str::to_owned);
    if let Some(reason) = text("reason") {
        parts.push(format!("reason {reason}"));
    }
    if let Some(code) = event["exit_code"].as_u64() {
        parts.push(format!("exit code {code}"));
    }
    if let Some(secs) = event["duration_seconds"].as_f64() {
        parts.push(format!("took {secs} s"));
    }
    if let Some(until) = text("until") {
        parts.push(format!("until {until}"));
    }
    if let Some(note) = text("note") {
        parts.push(format!("note: {note}"));
    }
    if let (Some(outcome), Some(channel)) = (text("outcome"), text("channel")) {
        let alert = text("event").unwrap_or_default();
        parts.push(format!("{alert} alert {outcome} to {channel}"));
        if let Some(attempts) = event["attempts"].as_u64() {
            parts.push(format!("{attempts} attempts"));
        }
    }
    if let Some(rid) = text("rid") {
        parts.push(format!("run {rid}"));
    }
    if let Some(addr) = text("remote_addr") {
        parts.push(format!("from {addr}"));
    }
    if let Some(agent) = text("user_agent") {
        parts.push(agent);
    }
    parts.join(", ")
}

/// Deliveries per channel among `events` (newest first).
fn deliveries(events: &[serde_json::Value], now: UnixTime) -> Vec<ChannelDeliveries> {
    let mut channels: BTreeMap<String, ChannelDeliveries> = BTreeMap::new();
    for event in events.iter().filter(|e| e["kind"] == "delivery") {
        let channel = event["channel"].as_str().unwrap_or("?").to_owned();
        let outcome = event["outcome"].as_str().unwrap_or_default();
        let entry = channels.entry(channel.clone()).or_insert_with(|| {
            let at = event["at_unix_ms"]
                .as_i64()
                .and_then(UnixTime::from_millis)
                .unwrap_or(now);
            let detail = match (event["last_status"].as_u64(), event["last_error"].as_str()) {
                (_, Some(error)) => error.to_owned(),
                (Some(status), None) => format!("HTTP {status}"),
                (None, None) => "–".to_owned(),
            };
            ChannelDeliveries {
                channel,
                delivered: 0,
                gave_up: 0,
                last_outcome: format!(
                    "{} {}",
                    event["event"].as_str().unwrap_or_default(),
                    outcome
                ),
                last_at: Moment::new(at, now),
                last_detail: detail,
            }
        });
        match outcome {
            "delivered" => entry.delivered += 1,
            "gave_up" => entry.gave_up += 1,
            _ => {}
        }
    }
    channels.into_values().collect()
}

/// A form's fields.
fn form(body: &Bytes) -> Result<Query<'_>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the form body must be UTF-8"))?;
    Query::parse(Some(text))
}

/// Applies an admin action; 303 back to the job, or a page saying why nothing changed.
async fn act(
    app: &AppState,
    viewer: &Viewer,
    name: JobName,
    action: AdminAction,
) -> Result<Response, ApiError> {
    let what = action.as_str();
    let back = format::job_href(name.as_str());
    let refused = |text: String| {
        notice(
            viewer,
            StatusCode::CONFLICT,
            "Nothing changed",
            &text,
            &back,
            "Back to the job",
        )
        .map(IntoResponse::into_response)
    };
    match app.backend.act(&name, action, UnixTime::now()).await? {
        ActionOutcome::Done(_) => {
            tracing::info!(job = %name, action = what, "admin action applied from the dashboard");
            Ok(see_other(&back))
        }
        ActionOutcome::Unknown => Ok(not_found(viewer, &name)?.into_response()),
        ActionOutcome::Refused(Refusal::NotPaused(status)) => refused(format!(
            "{name} is {}, not paused: only a paused job can be resumed.",
            status.as_str()
        )),
        ActionOutcome::Refused(Refusal::NotDown(status)) => refused(format!(
            "{name} is {}, not down: only a down job can be acknowledged.",
            status.as_str()
        )),
    }
}

/// `POST /ui/job/pause?name=NAME`, field `for`.
#[utoipa::path(
    post,
    path = "/ui/job/pause",
    tag = "dashboard",
    summary = "Pause a job from the dashboard",
    params(("name" = String, Query, description = "The job's name")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`, and `for`: how long, e.g. `1h` (absent: until resumed)"),
    responses(
        (status = 303, description = "Paused: back to the job page"),
        (status = 400, description = "A missing or invalid name, or a malformed `for`"),
        (status = 401, description = "No session"),
        (status = 403, description = "A missing or wrong CSRF token, or sent from another origin"),
        (status = 404, description = "No job of that name"),
    ),
)]
pub async fn pause(
    State(app): State<AppState>,
    viewer: Viewer,
    parts: Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = named(&parts)?;
    let form = form(&body)?;
    let now = UnixTime::now();
    let until = pause_end(form.get("for").filter(|f| !f.is_empty()), None, now)?;
    act(&app, &viewer, name, AdminAction::Pause { until }).await
}

/// `POST /ui/job/resume?name=NAME`.
#[utoipa::path(
    post,
    path = "/ui/job/resume",
    tag = "dashboard",
    summary = "Resume a paused job from the dashboard",
    params(("name" = String, Query, description = "The job's name")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 303, description = "Resumed: back to the job page"),
        (status = 400, description = "A missing or invalid name"),
        (status = 401, description = "No session"),
        (status = 403, description = "A missing or wrong CSRF token, or sent from another origin"),
        (status = 404, description = "No job of that name"),
        (status = 409, description = "The job is not paused; nothing changed"),
    ),
)]
pub async fn resume(
    State(app): State<AppState>,
    viewer: Viewer,
    parts: Parts,
) -> Result<Response, ApiError> {
    let name = named(&parts)?;
    act(&app, &viewer, name, AdminAction::Resume).await
}

/// `POST /ui/job/ack?name=NAME`, field `note`.
#[utoipa::path(
    post,
    path = "/ui/job/ack",
    tag = "dashboard",
    summary = "Acknowledge a down job from the dashboard",
    params(("name" = String, Query, description = "The job's name")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`, and `note` (at most 500 bytes)"),
    responses(
        (status = 303, description = "Acknowledged: back to the job page"),
        (status = 400, description = "A missing or invalid name, or a note over 500 bytes"),
        (status = 401, description = "No session"),
        (status = 403, description = "A missing or wrong CSRF token, or sent from another origin"),
        (status = 404, description = "No job of that name"),
        (status = 409, description = "The job is not down; nothing changed"),
    ),
)]
pub async fn ack(
    State(app): State<AppState>,
    viewer: Viewer,
    parts: Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = named(&parts)?;
    let form = form(&body)?;
    let note = form
        .get("note")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(Note::parse)
        .transpose()?;
    act(&app, &viewer, name, AdminAction::Acknowledge { note }).await
}

/// `POST /ui/job/delete?name=NAME`: with `confirm=yes`, deletes; without it, asks.
#[utoipa::path(
    post,
    path = "/ui/job/delete",
    tag = "dashboard",
    summary = "Delete a job from the dashboard, after a confirmation",
    params(("name" = String, Query, description = "The job's name")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`, and `confirm=yes` to delete (without it, the confirmation page)"),
    responses(
        (status = 200, description = "The confirmation page", content_type = "text/html"),
        (status = 303, description = "Deleted: on to the jobs page"),
        (status = 400, description = "A missing or invalid name"),
        (status = 401, description = "No session"),
        (status = 403, description = "A missing or wrong CSRF token, or sent from another origin"),
        (status = 404, description = "No job of that name"),
    ),
)]
pub async fn delete(
    State(app): State<AppState>,
    viewer: Viewer,
    parts: Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    let name = named(&parts)?;
    let form = form(&body)?;
    if form.get("confirm") != Some("yes") {
        if app.backend.get(&name).await?.is_none() {
            return Ok(not_found(&viewer, &name)?.into_response());
        }
        let page = ConfirmDelete {
            name: name.as_str(),
            encoded: format::encode(name.as_str()),
            csrf: viewer.csrf(),
            back: format::job_href(name.as_str()),
        };
        let body = render(&page)?;
        let title = format!("Delete {name}?");
        return Ok(layout(&title, &viewer, Nav::Jobs, &body)?.into_response());
    }
    if !app.backend.delete(&name).await? {
        return Ok(not_found(&viewer, &name)?.into_response());
    }
    tracing::info!(job = %name, "job deleted from the dashboard");
    Ok(see_other("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("backup"), "backup");
        assert_eq!(shell_quote("0 3 * * *"), "'0 3 * * *'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
