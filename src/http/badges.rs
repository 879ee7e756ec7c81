//! `GET /badge/{name}.svg` and `GET /badge/{name}.json` (SPEC §15): a job's status as a
//! badge for READMEs and status pages, served to anyone, only with `--public-badges`.
//!
//! A job name may hold `/` and `.`, and the router cannot match a suffix after a
//! parameter, so both paths are one catch-all route ([`ROUTE`]): the path after
//! `/badge/` is percent-decoded, and its last `.svg` or `.json` suffix picks the form;
//! what comes before is the name (`/badge/team/db.svg.json` is the JSON badge of the
//! job `team/db.svg`).

mod render;

use axum::extract::{RawQuery, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::error::ApiError;
use super::query::Query;
use super::AppState;
use crate::domain::selection::is_running;
use crate::domain::{Job, JobName, Status};
use render::{Badge, Colour};

/// The router's pattern that serves both badge paths.
pub const ROUTE: &str = "/badge/{*badge}";
/// Where the badge paths begin.
const PREFIX: &str = "/badge/";
/// Badges change within seconds; a README's image proxy may keep one this long.
const CACHE: &str = "max-age=10";
/// The message of a badge for a name that is no job.
const UNKNOWN: &str = "unknown";

/// The two forms of a badge, by the path's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Svg,
    Json,
}

/// The catch-all handler of both badge paths (see the module's documentation).
pub async fn badge(
    State(app): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if !app.public_badges {
        return Err(ApiError::not_found(
            "not found: badges are served only with --public-badges",
        ));
    }
    let Some((name, form)) = split(uri.path()) else {
        return Err(ApiError::not_found(
            "not found: a badge's path is /badge/NAME.svg or /badge/NAME.json",
        ));
    };
    let query = Query::parse(query.as_deref())?;
    // A name that cannot be a job's is an unknown job, not a malformed request: a
    // badge in a README should show grey, not break.
    let name = name.and_then(|n| JobName::parse(&n).ok());
    let job = match &name {
        Some(name) => app.backend.get(name).await?,
        None => None,
    };
    let label = match (query.get("label"), &name) {
        (Some(label), _) => label,
        (None, Some(name)) => name.as_str(),
        (None, None) => "badge",
    };
    let (status, badge) = match &job {
        Some(job) => {
            let (message, colour) = shown(job);
            (
                StatusCode::OK,
                Badge {
                    label,
                    message,
                    colour,
                },
            )
        }
        None => (
            StatusCode::NOT_FOUND,
            Badge {
                label,
                message: UNKNOWN,
                colour: Colour::Grey,
            },
        ),
    };
    Ok(respond(status, form, &badge))
}

/// The decoded name (`None` when it is not UTF-8) and the form, or `None` when the
/// path does not end in `.svg` or `.json`.
fn split(path: &str) -> Option<(Option<String>, Form)> {
    let raw = path.strip_prefix(PREFIX)?;
    let decoded = percent_decode_str(raw).decode_utf8();
    // An undecodable name still names its form, by the same rule on a lossy copy.
    let lossy;
    let text = match &decoded {
        Ok(text) => text.as_ref(),
        Err(_) => {
            lossy = percent_decode_str(raw).decode_utf8_lossy().into_owned();
            lossy.as_str()
        }
    };
    let (name, form) = if let Some(name) = text.strip_suffix(".svg") {
        (name, Form::Svg)
    } else if let Some(name) = text.strip_suffix(".json") {
        (name, Form::Json)
    } else {
        return None;
    };
    Some((decoded.is_ok().then(|| name.to_owned()), form))
}

/// The badge path parser as the fuzz targets see it: the decoded name (`None` when it
/// is not UTF-8) and the suffix (`"svg"` or `"json"`), or `None` when the path is no
/// badge's.
#[doc(hidden)]
pub fn split_for_fuzzing(path: &str) -> Option<(Option<String>, &'static str)> {
    split(path).map(|(name, form)| {
        let suffix = match form {
            Form::Svg => "svg",
            Form::Json => "json",
        };
        (name, suffix)
    })
}

/// The SVG badge of `label` and `message`, for the fuzz targets.
#[doc(hidden)]
pub fn svg_for_fuzzing(label: &str, message: &str) -> String {
    Badge {
        label,
        message,
        colour: Colour::Grey,
    }
    .svg()
}

/// A job's badge message and colour: a pause and an outage say more than a run in
/// progress, so they come first.
fn shown(job: &Job) -> (&'static str, Colour) {
    match job.status {
        Status::Paused => ("paused", Colour::Grey),
        Status::Down => ("down", Colour::Red),
        Status::Up if is_running(job) => ("running", Colour::Blue),
        Status::Up => ("up", Colour::Green),
    }
}

fn respond(status: StatusCode, form: Form, badge: &Badge<'_>) -> Response {
    let (content_type, body) = match form {
        Form::Svg => ("image/svg+xml; charset=utf-8", badge.svg()),
        Form::Json => ("application/json", badge.json().to_string()),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Opened on its own, the SVG is a document of this origin: it may run nothing.
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    // Badges are public: a status page on another host may fetch them.
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// `GET /badge/{name}.svg`: documents the SVG half of [`badge`], which serves it.
#[utoipa::path(
    get,
    path = "/badge/{name}.svg",
    tag = "badges",
    summary = "A job's status as an SVG badge",
    description = "Only with `--public-badges`, and then without a token. A flat badge \
        `NAME | up` (green), `down` (red), `paused` (grey) or `running` (blue). The name is \
        percent-decoded and may hold `/` and `.`: the path's last `.svg` ends it. \
        `Cache-Control: max-age=10`.",
    params(
        ("name" = String, Path, description = "The job's name, percent-encoded; `/` may be left as is"),
        ("label" = Option<String>, Query, description = "Replaces the name on the badge's left"),
    ),
    responses(
        (status = 200, description = "The badge", content_type = "image/svg+xml", body = String),
        (status = 400, description = "The query is not UTF-8 once percent-decoded"),
        (status = 404, description = "No job of that name: a grey `unknown` badge; or badges are off (no `--public-badges`): the error body", content(
            (String = "image/svg+xml"),
            (String = "text/plain"),
            (super::openapi::ErrorBody = "application/json"),
        )),
        (status = 503, description = "The store is unavailable"),
    ),
)]
#[allow(dead_code)] // Documentation only: `badge` serves the route.
pub fn svg_badge() {}

/// `GET /badge/{name}.json`: documents the JSON half of [`badge`], which serves it.
#[utoipa::path(
    get,
    path = "/badge/{name}.json",
    tag = "badges",
    summary = "A job's status in the shields.io endpoint form",
    description = "Only with `--public-badges`, and then without a token. \
        `{\"schemaVersion\": 1, \"label\", \"message\", \"color\"}` for \
        `https://img.shields.io/endpoint?url=…`; `message` is `up`, `down`, `paused` or \
        `running`. The path's last `.json` ends the name. `Cache-Control: max-age=10`.",
    params(
        ("name" = String, Path, description = "The job's name, percent-encoded; `/` may be left as is"),
        ("label" = Option<String>, Query, description = "Replaces the name as `label`"),
    ),
    responses(
        (status = 200, description = "The badge", body = super::openapi::ShieldsBadge),
        (status = 400, description = "The query is not UTF-8 once percent-decoded"),
        (status = 404, description = "No job of that name: the grey `unknown` badge; or badges are off (no `--public-badges`): the error body", content(
            (super::openapi::ShieldsBadge = "application/json"),
            (String = "text/plain"),
        )),
        (status = 503, description = "The store is unavailable"),
    ),
)]
#[allow(dead_code)] // Documentation only: `badge` serves the route.
pub fn json_badge() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_suffix_ends_the_name_after_percent_decoding() {
        let cases = [
            ("/badge/backup.svg", Some("backup"), Form::Svg),
            ("/badge/backup.json", Some("backup"), Form::Json),
            (
                "/badge/team/db.backup.svg",
                Some("team/db.backup"),
                Form::Svg,
            ),
            ("/badge/team%2Fdb.svg.json", Some("team/db.svg"), Form::Json),
            ("/badge/a.json.svg", Some("a.json"), Form::Svg),
            ("/badge/a%20b%3F.svg", Some("a b?"), Form::Svg),
            ("/badge/x%2Esvg", Some("x"), Form::Svg),
            ("/badge/.svg", Some(""), Form::Svg),
            ("/badge/%FF.json", None, Form::Json),
        ];
        for (path, name, form) in cases {
            assert_eq!(split(path), Some((name.map(str::to_owned), form)), "{path}");
        }
        for path in [
            "/badge/backup",
            "/badge/backup.png",
            "/badge/backup.SVG",
            "/other",
        ] {
            assert_eq!(split(path), None, "{path}");
        }
    }
}
