//! The healthchecks.io ping API by slug, under `/hc` (SPEC §10): tools made for it
//! (runitor, task-mon, borgmatic, plain curl lines) work unchanged.
//!
//! `/hc/{key}/{slug}` is a success, `/start`, `/fail` and `/log` the other signals,
//! `/{exit_code}` a success or a failure by the exit status; `?rid=` ties a start to
//! its end, `?create=1` creates an unknown slug with healthchecks' defaults, and a POST
//! body is the run's output. Answers are healthchecks' own: `200 OK`, `201 Created`,
//! `404 not found`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Unauthorized};
use super::ping::{origin, store, Stored};
use super::query::Query;
use super::AppState;
use crate::domain::{
    ExitCode, Frequency, Grace, JobName, Output, Ping, RunId, Signal, UnixTime, MAX_OUTPUT_BYTES,
};

/// The frequency healthchecks gives a check it creates on a ping.
const CREATED_FREQUENCY: &str = "1D";
/// The grace healthchecks gives a check it creates on a ping.
const CREATED_GRACE: &str = "1h";

/// Tells clients such as runitor how much output is kept, so that they send its tail
/// within it rather than a longer one that would be cut.
static PING_BODY_LIMIT: HeaderName = HeaderName::from_static("ping-body-limit");

/// What the path's last segment says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Success,
    Start,
    Fail,
    Log,
    Exit(ExitCode),
}

/// A `GET`/`HEAD` and a `POST` handler of one `/hc` path, with their documentation.
macro_rules! hc_routes {
    (
        $get:ident, $post:ident, $path:tt, $params:tt, $summary:tt, $description:tt,
        |$parts:ident, $segments:ident| $action:expr
    ) => {
        #[doc = concat!("`GET` (and `HEAD`) `", $path, "`.")]
        #[utoipa::path(
            get,
            path = $path,
            tag = "healthchecks",
            summary = $summary,
            description = $description,
            params $params,
            responses(
                (status = 200, description = "Recorded", content_type = "text/plain", example = "OK"),
                (status = 201, description = "Created with `create=1` (frequency `1D`, grace `1h`) and recorded", content_type = "text/plain", example = "Created"),
                (status = 400, description = "An invalid slug, run id or exit status (above 255)"),
                (status = 401, description = "The key is not the ping token (`--ping-token`)"),
                (status = 404, description = "An unknown slug without `create=1`: `not found`"),
                (status = 507, description = "A new job beyond `--max-services`"),
                (status = 503, description = "The store is unavailable; nothing was recorded"),
            ),
        )]
        pub async fn $get(
            State(app): State<AppState>,
            $segments: Result<Path<Vec<String>>, PathRejection>,
            request: Request,
        ) -> Result<Response, ApiError> {
            // Taken apart, not extracted as `Parts`, which would clone them.
            let ($parts, _) = request.into_parts();
            let $segments = segments($segments)?;
            let action = $action?;
            ping(&app, &$parts, &$segments, action, None).await
        }

        #[doc = concat!("`POST ", $path, "`: the body is the run's output.")]
        #[utoipa::path(
            post,
            path = $path,
            tag = "healthchecks",
            summary = $summary,
            description = $description,
            params $params,
            request_body(content = Option<String>, content_type = "*/*", description = "The run's output, up to 16 KiB"),
            responses(
                (status = 200, description = "Recorded", content_type = "text/plain", example = "OK"),
                (status = 201, description = "Created with `create=1` (frequency `1D`, grace `1h`) and recorded", content_type = "text/plain", example = "Created"),
                (status = 400, description = "An invalid slug, run id or exit status (above 255)"),
                (status = 401, description = "The key is not the ping token (`--ping-token`)"),
                (status = 404, description = "An unknown slug without `create=1`: `not found`"),
                (status = 413, description = "The body is larger than 16 KiB"),
                (status = 507, description = "A new job beyond `--max-services`"),
                (status = 503, description = "The store is unavailable; nothing was recorded"),
            ),
        )]
        pub async fn $post(
            State(app): State<AppState>,
            $parts: Parts,
            $segments: Result<Path<Vec<String>>, PathRejection>,
            body: Result<Bytes, BytesRejection>,
        ) -> Result<Response, ApiError> {
            let $segments = segments($segments)?;
            let action = $action?;
            let body = body.map_err(ApiError::from)?;
            ping(&app, &$parts, &$segments, action, Some(&body)).await
        }
    };
}

hc_routes!(
    get_success,
    post_success,
    "/hc/{key}/{slug}",
    (KeyAndSlug, HcParams),
    "Signal a success by slug",
    "Healthchecks' success ping: what `/ping` does with `state=success`.",
    |parts, segments| Ok::<_, ApiError>(Action::Success)
);

hc_routes!(
    get_start,
    post_start,
    "/hc/{key}/{slug}/start",
    (KeyAndSlug, HcParams),
    "Signal a start by slug",
    "Healthchecks' start ping: what `/ping` does with `state=start`.",
    |parts, segments| Ok::<_, ApiError>(Action::Start)
);

hc_routes!(
    get_fail,
    post_fail,
    "/hc/{key}/{slug}/fail",
    (KeyAndSlug, HcParams),
    "Signal a failure by slug",
    "Healthchecks' fail ping: what `/ping` does with `state=fail`.",
    |parts, segments| Ok::<_, ApiError>(Action::Fail)
);

hc_routes!(
    get_log,
    post_log,
    "/hc/{key}/{slug}/log",
    (KeyAndSlug, HcParams),
    "Log a message by slug",
    "Healthchecks' log ping: what `/ping` does with `state=log`.",
    |parts, segments| Ok::<_, ApiError>(Action::Log)
);

hc_routes!(
    get_exit_code,
    post_exit_code,
    "/hc/{key}/{slug}/{exit_code}",
    (
        KeyAndSlug,
        (
            "exit_code" = u8,
            Path,
            minimum = 0,
            maximum = 255,
            description = "The command's exit status: 0 is a success, any other a failure"
        ),
        HcParams
    ),
    "Signal an exit status by slug",
    "Healthchecks' exit-status ping: what `/ping` does with `exit_code`.",
    |parts, segments| exit_code(&segments)
);

/// The key and slug of every `/hc` path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // A description only.
struct KeyAndSlug {
    /// The ping key: it must equal `--ping-token` when one is set; any key is accepted
    /// otherwise.
    key: String,
    /// The job's name (percent-encoded).
    slug: String,
}

/// The query parameters of every `/hc` path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // A description only.
struct HcParams {
    /// A run id, 1–64 printable ASCII bytes, tying a start to the ping that ends it.
    rid: Option<String>,
    /// `1` creates an unknown slug (frequency `1D`, grace `1h`) and answers 201.
    create: Option<String>,
}

fn segments(path: Result<Path<Vec<String>>, PathRejection>) -> Result<Vec<String>, ApiError> {
    path.map(|Path(segments)| segments)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

/// The exit status of `/hc/{key}/{slug}/{exit_code}`. As in healthchecks, a segment
/// that is not a number names no route (404) and a number above 255 is a bad request.
fn exit_code(segments: &[String]) -> Result<Action, ApiError> {
    let raw = segments.get(2).map_or("", String::as_str);
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::not_found("not found"));
    }
    ExitCode::parse(raw).map(Action::Exit).map_err(|_| {
        ApiError::bad_request(format!(
            "invalid exit status {raw} in /hc/{{key}}/{{slug}}/{{exit_code}}: expected an integer from 0 to 255"
        ))
    })
}

async fn ping(
    app: &AppState,
    parts: &Parts,
    segments: &[String],
    action: Action,
    body: Option<&[u8]>,
) -> Result<Response, ApiError> {
    let (key, slug) = match segments {
        [key, slug, ..] => (key.as_str(), slug.as_str()),
        _ => return Err(ApiError::not_found("not found")),
    };
    if let Some(expected) = &app.ping_token {
        if !expected.matches(key) {
            return Err(ApiError::Unauthorized(Unauthorized::PingKeyWrong));
        }
    }
    let query = Query::parse(parts.uri.query())?;
    let name = JobName::parse(slug)?;
    let rid = query.get("rid").map(RunId::parse).transpose()?;
    let create = query.get("create") == Some("1");
    let (signal, exit_code) = match action {
        Action::Success => (Signal::Success, None),
        Action::Start => (Signal::Start, None),
        Action::Fail => (Signal::Fail, None),
        Action::Log => (Signal::Log, None),
        Action::Exit(code) => (Signal::parse(None, Some(code))?, Some(code)),
    };
    let ping = Ping {
        name,
        frequency: None,
        grace: None,
        at: None,
        want_job: false,
        signal,
        exit_code,
        rid,
        max_runtime: None,
        failure_tolerance: None,
        output: body.and_then(Output::from_body),
        origin: origin(&parts.headers, &parts.extensions),
    };
    // Only a ping that may create its job is kept for a second try with the defaults.
    let retry = create.then(|| ping.clone());
    let now = UnixTime::now();
    match store(app, ping, now).await? {
        Stored::Recorded(_) => return Ok(answer(StatusCode::OK, "OK")),
        Stored::NewJobWithoutFrequency => {}
    }
    let Some(mut ping) = retry else {
        return Err(ApiError::not_found("not found"));
    };
    ping.frequency = Some(Frequency::parse(CREATED_FREQUENCY)?);
    ping.grace = Some(Grace::parse(CREATED_GRACE)?);
    match store(app, ping, now).await? {
        Stored::Recorded(_) => {
            tracing::info!(job = %slug, "job created by a healthchecks-style ping");
            Ok(answer(StatusCode::CREATED, "Created"))
        }
        Stored::NewJobWithoutFrequency => Err(ApiError::Unavailable(
            "the job could not be created; nothing was recorded, try again".to_owned(),
        )),
    }
}

/// Healthchecks' answer: a short word, without a newline, as its clients expect.
fn answer(status: StatusCode, word: &'static str) -> Response {
    (
        status,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (PING_BODY_LIMIT.clone(), HeaderValue::from(MAX_OUTPUT_BYTES)),
        ],
        word,
    )
        .into_response()
}
