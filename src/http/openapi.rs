//! `GET /openapi.json` (SPEC §17): the OpenAPI 3.1 document of the API, generated
//! from the `#[utoipa::path]` attributes of the handlers and the schemas below.
//!
//! The schemas describe the JSON the handlers write by hand (the job object, the page
//! of jobs, the error object); the API tests compare them with real answers, so the
//! document cannot drift from what is served.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::ApiError;
use super::{actions, badges, channels, health, healthchecks, jobs, metrics, ping, probes};

/// The security scheme of the admin routes (SPEC §4).
pub const ADMIN_TOKEN: &str = "admin_token";
/// The ping token sent as `Authorization: Bearer`.
pub const PING_TOKEN_BEARER: &str = "ping_token_bearer";
/// The ping token sent as the `token` query parameter.
pub const PING_TOKEN_QUERY: &str = "ping_token_query";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "overdue",
        description = "A heartbeat monitor: jobs ping it, and it alerts a webhook when a ping is late. \
            Admin routes need `Authorization: Bearer <admin token>` when `--admin-token` is set \
            (401 without it, 403 with a wrong one). Every error body is one line of text, or \
            `{\"error\": \"…\"}` with `Accept: application/json`.",
    ),
    paths(
        ping::get_ping,
        ping::post_ping,
        jobs::delete_job_by_query,
        jobs::remove_job_by_query,
        jobs::get_job_named_remove,
        jobs::delete_job_named_remove,
        jobs::get_job,
        jobs::job_events,
        jobs::delete_job,
        jobs::list_jobs,
        actions::pause_job,
        actions::resume_job,
        actions::ack_job,
        healthchecks::get_success,
        healthchecks::post_success,
        healthchecks::get_start,
        healthchecks::post_start,
        healthchecks::get_fail,
        healthchecks::post_fail,
        healthchecks::get_log,
        healthchecks::post_log,
        healthchecks::get_exit_code,
        healthchecks::post_exit_code,
        probes::livez,
        probes::readyz,
        health::health,
        document,
        channels::list_channels,
        channels::test_channels,
        metrics::prometheus,
        metrics::performance,
        metrics::config,
        metrics::update_config,
        badges::svg_badge,
        badges::json_badge,
        crate::dashboard::jobs_page::page,
        crate::dashboard::job_page::page,
        crate::dashboard::job_page::pause,
        crate::dashboard::job_page::resume,
        crate::dashboard::job_page::ack,
        crate::dashboard::job_page::delete,
        crate::dashboard::health_page::page,
        crate::dashboard::performance_page::page,
        crate::dashboard::performance_page::save,
        crate::dashboard::sign_in::form,
        crate::dashboard::sign_in::sign_in,
        crate::dashboard::sign_in::sign_out,
        crate::dashboard::assets::asset,
    ),
    components(schemas(
        Job, JobStatus, Acknowledgement, JobPage, Event, EventKind, EventPage, ping::PingState, ErrorBody, Deleted, HealthDocument, HealthStatus,
        Performance, PerfConfig, PerfConfigUpdate, ChannelList, ChannelInfo,
        ChannelTestResults, ChannelTestResult, ChannelHealth, ShieldsBadge,
    )),
    modifiers(&SecuritySchemes, &ErrorBodies),
    tags(
        (name = "pings", description = "Recording pings (SPEC §3)"),
        (name = "jobs", description = "Reading, deleting, pausing, resuming and acknowledging jobs, and their history (SPEC §4, §12, §13)"),
        (name = "healthchecks", description = "Healthchecks' ping API by slug, for the tools made for it (SPEC §10)"),
        (name = "monitor", description = "The monitor's own health and metrics (SPEC §6, §7)"),
        (name = "channels", description = "Notification channels (SPEC §14)"),
        (name = "badges", description = "Status badges, with `--public-badges` (SPEC §15)"),
        (name = "dashboard", description = "The web dashboard: HTML pages, forms and their assets (SPEC §15)"),
    )
)]
struct ApiDoc;

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served, rendered once.
static DOCUMENT: OnceLock<Option<Bytes>> = OnceLock::new();

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "monitor",
    responses((status = 200, description = "This document", content_type = "application/json")),
)]
pub async fn document() -> Result<Response, ApiError> {
    let document = DOCUMENT.get_or_init(|| match openapi().to_json() {
        Ok(json) => Some(Bytes::from(json)),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the OpenAPI document");
            None
        }
    });
    let Some(document) = document else {
        return Err(ApiError::Unavailable(
            "the OpenAPI document could not be rendered".to_owned(),
        ));
    };
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        document.clone(),
    )
        .into_response())
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            ADMIN_TOKEN,
            bearer("The `--admin-token`; admin routes are open when it is not set."),
        );
        components.add_security_scheme(
            PING_TOKEN_BEARER,
            bearer("The `--ping-token`; pings are open when it is not set."),
        );
        components.add_security_scheme(
            PING_TOKEN_QUERY,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The `--ping-token` as the `token` parameter.",
            ))),
        );
    }
}

/// Gives every error answer the two shapes an error body has: one line of text, or
/// the error object for clients that accept JSON. An answer that names its own body
/// (the unhealthy `/health` report) keeps it.
struct ErrorBodies;

impl Modify for ErrorBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let text = Content::new(Some(RefOr::T(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .description(Some("One line, ending with a newline"))
                .build()
                .into(),
        )));
        let json = Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "ErrorBody",
        ))));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.head,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(response)) = (is_error, response) {
                        if response.content.is_empty() {
                            response
                                .content
                                .insert("text/plain".to_owned(), text.clone());
                            response
                                .content
                                .insert("application/json".to_owned(), json.clone());
                        }
                    }
                }
            }
        }
    }
}

/// A badge in the shields.io endpoint form (SPEC §15).
#[derive(ToSchema)]
#[schema(example = json!({"schemaVersion": 1, "label": "backup", "message": "up", "color": "green"}))]
#[allow(dead_code, non_snake_case)] // A schema only: badges are written by `badges`.
pub struct ShieldsBadge {
    /// Always 1.
    schemaVersion: u8,
    /// The job's name, or the `label` parameter.
    label: String,
    /// `up`, `down`, `paused`, `running`, or `unknown` for a name that is no job.
    message: String,
    /// `green`, `red`, `grey` (paused, unknown) or `blue` (running).
    color: String,
}

/// An error, for a client that sent `Accept: application/json`.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the error object is written by `ApiError`.
pub struct ErrorBody {
    /// The same one-line message a text client gets, without the newline.
    error: String,
}

/// A deletion's answer for a client that sent `Accept: application/json`; others get
/// the message as text.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the answer is written by the delete handlers.
pub struct Deleted {
    /// `Successfully deleted ping: NAME`.
    message: String,
}

/// Whether a job is on time.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // A schema only: jobs are written by `Job::to_json`.
pub enum JobStatus {
    Up,
    Down,
    /// Paused by an operator: no alert of any kind until it resumes (SPEC §12).
    Paused,
}

/// An operator's acknowledgement of a job's outage (SPEC §12).
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: jobs are written by `Job::to_json`.
pub struct Acknowledgement {
    #[schema(format = DateTime)]
    at: String,
    /// At most 500 bytes; `null` when none was given.
    #[schema(required = true)]
    note: Option<String>,
}

/// A monitored job (SPEC §4). Times are UTC, RFC 3339 with `Z`.
#[derive(ToSchema)]
#[schema(example = json!({
    "name": "backup", "frequency": "1D", "frequency_seconds": 86400, "schedule": null,
    "timezone": null, "grace_seconds": 0,
    "status": "up", "last_ping": "2026-11-21T03:00:00Z", "last_ping_unix": 1_795_143_600,
    "next_deadline": "2026-11-22T03:00:00Z", "next_deadline_unix": 1_795_230_000,
    "down_since": null, "paused_until": null, "acknowledged": null, "alerts_sent": 0,
    "pings_total": 12,
    "last_start": null, "running": false, "last_duration_seconds": 12.5,
    "last_exit_code": 0, "max_runtime_seconds": 3600, "failure_tolerance": 0,
    "consecutive_failures": 0
}))]
#[allow(dead_code)] // A schema only: jobs are written by `Job::to_json`.
pub struct Job {
    /// 1–200 bytes of UTF-8, no control characters.
    name: String,
    /// The frequency in the form the job last sent, e.g. `1D`; `null` for a schedule job.
    #[schema(required = true)]
    frequency: Option<String>,
    #[schema(required = true)]
    frequency_seconds: Option<u64>,
    /// The cron expression of a schedule job, e.g. `0 3 * * *` (SPEC §11); `null` for a
    /// frequency job.
    #[schema(required = true)]
    schedule: Option<String>,
    /// The IANA zone of a schedule job's fire times (`UTC` when `tz` was omitted);
    /// `null` for a frequency job.
    #[schema(required = true)]
    timezone: Option<String>,
    grace_seconds: u64,
    status: JobStatus,
    #[schema(format = DateTime)]
    last_ping: String,
    last_ping_unix: i64,
    /// Last ping + frequency + grace, or the schedule's first fire strictly after the
    /// last ping + grace.
    #[schema(format = DateTime)]
    next_deadline: String,
    next_deadline_unix: i64,
    /// When the job went down; `null` while it is up.
    #[schema(format = DateTime, required = true)]
    down_since: Option<String>,
    /// When a paused job resumes by itself; `null` when not paused or paused without
    /// an end.
    #[schema(format = DateTime, required = true)]
    paused_until: Option<String>,
    /// The acknowledgement of the current outage; `null` when none (or once it is up).
    #[schema(required = true)]
    acknowledged: Option<Acknowledgement>,
    alerts_sent: u64,
    pings_total: u64,
    /// The start of the most recent open run; `null` when none is open.
    #[schema(format = DateTime, required = true)]
    last_start: Option<String>,
    /// Whether a run is open (started and not ended).
    running: bool,
    /// How long the last ended run took; `null` before one ended.
    #[schema(required = true)]
    last_duration_seconds: Option<f64>,
    /// The exit status of the last ping that sent one.
    #[schema(required = true, minimum = 0, maximum = 255)]
    last_exit_code: Option<u8>,
    /// How long a run may take before the job goes down; `null` for no limit.
    #[schema(required = true)]
    max_runtime_seconds: Option<u64>,
    /// Consecutive failures tolerated before the job goes down (0–100).
    failure_tolerance: u8,
    /// Failures since the last success.
    consecutive_failures: u64,
}

/// What an event records (SPEC §13).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // A schema only: events are written by `Event::to_json`.
pub enum EventKind {
    /// A plain ping or a `success`.
    Ping,
    Start,
    Fail,
    Log,
    Created,
    Down,
    Reminder,
    Up,
    Paused,
    Resumed,
    Acknowledged,
    /// An alert's delivery to one channel ended.
    Delivery,
}

/// One event of a job's history. Every event has `seq`, `at`, `at_unix_ms` and `kind`;
/// the other fields belong to some kinds only: `ping`, `start`, `fail` and `log` have
/// `remote_addr`, `user_agent`, `rid`, `exit_code`, `duration_seconds`, `log` and,
/// when the ping sent one, `timestamp`; `down` and `reminder` have `reason`; `paused`
/// has `until`; `acknowledged` has `note`; `delivery` has `alert_id`, `event`,
/// `channel`, `outcome`, `attempts`, `last_status` and `last_error`.
#[derive(ToSchema)]
#[schema(example = json!({
    "seq": 41, "at": "2026-11-21T03:00:00Z", "at_unix_ms": 1_795_143_600_123_i64,
    "kind": "fail", "remote_addr": "192.0.2.7", "user_agent": "curl/8.5.0", "rid": "r-1",
    "exit_code": 2, "duration_seconds": 12.5, "log": "disk full"
}))]
#[allow(dead_code)] // A schema only: events are written by `Event::to_json`.
pub struct Event {
    /// Increasing per job.
    seq: u64,
    #[schema(format = DateTime)]
    at: String,
    at_unix_ms: i64,
    kind: EventKind,
    /// The client's address.
    remote_addr: Option<String>,
    /// The client's `User-Agent`, at most 200 bytes.
    user_agent: Option<String>,
    rid: Option<String>,
    #[schema(minimum = 0, maximum = 255)]
    exit_code: Option<u8>,
    /// How long the run this ping ended took.
    duration_seconds: Option<f64>,
    /// The first 10 KiB of the ping's body.
    log: Option<String>,
    /// The `timestamp` the ping sent.
    #[schema(format = DateTime)]
    timestamp: Option<String>,
    /// Why the job went down: `missed`, `failed` or `run_timeout`.
    reason: Option<String>,
    /// When a pause ends; `null` for an open-ended one.
    #[schema(format = DateTime)]
    until: Option<String>,
    /// An acknowledgement's note.
    note: Option<String>,
    /// The delivered alert's `id`.
    alert_id: Option<String>,
    /// The delivered alert's `event`: `down` or `up`.
    event: Option<String>,
    /// The channel's redacted name, e.g. `webhook:hooks.example.com` or `log`.
    channel: Option<String>,
    /// `delivered` or `gave_up`.
    outcome: Option<String>,
    attempts: Option<u32>,
    /// The last attempt's HTTP status.
    last_status: Option<u16>,
    /// The last attempt's error, one line.
    last_error: Option<String>,
}

/// A page of a job's history, newest first.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the page is written by the events handler.
pub struct EventPage {
    events: Vec<Event>,
    /// The `before` value of the next page; `null` on the last one.
    #[schema(required = true)]
    next: Option<u64>,
}

/// A page of jobs, sorted by name.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the page is written by the list handler.
pub struct JobPage {
    services: Vec<Job>,
    /// Every job matching `status`, across all pages.
    total: u64,
    /// The `after` value of the next page; `null` on the last one.
    #[schema(required = true)]
    next: Option<String>,
}

/// The performance settings (SPEC §7).
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the settings are written by `Perf::config_json`.
pub struct PerfConfig {
    enabled: bool,
    /// Whether answers carry a `Server-Timing` header.
    timing_header: bool,
    /// Whether every request's timing is logged, not only slow ones.
    log_all_timings: bool,
    /// The window the aggregates cover.
    retention_seconds: u64,
    /// Requests slower than this many milliseconds are logged.
    slow_request_ms: f64,
    /// Store operations slower than this many milliseconds are logged.
    slow_store_ms: f64,
}

/// Any subset of the performance settings; unknown fields are refused.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the body is read by `Perf::update_config`.
pub struct PerfConfigUpdate {
    enabled: Option<bool>,
    timing_header: Option<bool>,
    log_all_timings: Option<bool>,
    retention_seconds: Option<u64>,
    slow_request_ms: Option<f64>,
    slow_store_ms: Option<f64>,
}

/// The monitor's health summed up.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // A schema only: the report is written by the health monitor.
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The `/health` document (SPEC §6).
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the report is written by the health monitor.
pub struct HealthDocument {
    status: HealthStatus,
    /// `--service-name`.
    service: String,
    instance: String,
    version: String,
    uptime_seconds: u64,
    #[schema(format = DateTime)]
    checked_at: String,
    /// The indicators of SPEC §6; `null` where one does not apply.
    #[schema(value_type = Object)]
    indicators: serde_json::Value,
    /// The active warning and critical conditions: `severity`, `code`, `message`,
    /// `value`, `threshold`.
    #[schema(value_type = Vec<Object>)]
    alerts: Vec<serde_json::Value>,
    /// One entry per notification channel: `name`, `backlog`, `success_rate_percent`
    /// (`null` before the first attempt) and `reachable`; the indicators stay totals.
    channels: Vec<ChannelHealth>,
}

/// A notification channel in `/health`.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only.
pub struct ChannelHealth {
    name: String,
    backlog: u64,
    success_rate_percent: Option<f64>,
    /// False after `--health-sink-failures` failed attempts in a row.
    reachable: bool,
}

/// One notification channel (SPEC §14). Its name is its kind and host: the URL's
/// tokens, path and query are never shown.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the answer is written by the channels handler.
pub struct ChannelInfo {
    /// `kind:host`, e.g. `slack:hooks.slack.com`.
    name: String,
    /// `webhook`, `slack`, `discord`, `teams`, `ntfy`, `telegram`, `pagerduty`,
    /// `opsgenie`, `alertmanager` or `email`.
    kind: String,
    /// The job globs of the URL's `#jobs=` (`["*"]` for all jobs).
    jobs: Vec<String>,
    /// The events it takes: `down`, `reminder`, `up`.
    events: Vec<String>,
    /// Alerts waiting for a retry to this channel.
    backlog: u64,
    /// Delivered attempts since the start.
    delivered: u64,
    /// Failed attempts since the start.
    failed: u64,
    /// `null` before the first attempt.
    success_rate_percent: Option<f64>,
    last_error: Option<String>,
}

/// `GET /channels`.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only.
pub struct ChannelList {
    channels: Vec<ChannelInfo>,
}

/// One channel's answer to a test message.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only.
pub struct ChannelTestResult {
    name: String,
    ok: bool,
    /// The service's HTTP status, when it answered one.
    status: Option<u16>,
    error: Option<String>,
}

/// `POST /channels/test`.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only.
pub struct ChannelTestResults {
    results: Vec<ChannelTestResult>,
}

/// Timings over the retention window (SPEC §7): per route template, per store
/// operation and per alert outcome, each with `count`, `avg_ms`, `median_ms`, `p95_ms`,
/// `p99_ms`, `min_ms`, `max_ms`, `total_ms`, `last_ms`, `last_at`.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the summary is written by `Perf::summary_json`.
pub struct Performance {
    #[schema(value_type = Object)]
    routes: serde_json::Value,
    #[schema(value_type = Object)]
    store: serde_json::Value,
    #[schema(value_type = Object)]
    alerts: serde_json::Value,
    config: PerfConfig,
}
