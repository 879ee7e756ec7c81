//! `GET /`: the jobs page (SPEC §15). One page of 100 jobs chosen by the store through
//! [`crate::domain::selection`], with the totals, the sortable columns and the strip of
//! each job's last 20 events. With `X-Overdue-Fragment: jobs` only the live region
//! (totals, table, paging) is answered, for the script's refresh.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::request::Parts;

use super::format::{self, Mark, Moment};
use super::layout::{layout, render, Nav, Page};
use super::viewer::Viewer;
use crate::domain::selection::{is_running, Selection, SortKey, StatusFilter, Totals};
use crate::domain::{Job, UnixTime};
use crate::http::{ApiError, AppState, Query};

/// Jobs on one page.
pub const PAGE_SIZE: usize = 100;
/// Events in a row's strip.
const STRIP_EVENTS: usize = 20;
/// The header the refresh script sends, and the region it asks for.
pub const FRAGMENT_HEADER: &str = "x-overdue-fragment";

/// The page's query: `q`, `status`, `sort`, `page`. An unknown status or sort is
/// ignored, as a link would be.
#[derive(Debug, Clone, Default)]
struct Request {
    q: String,
    status: Option<StatusFilter>,
    sort: SortKey,
    page: usize,
}

impl Request {
    fn parse(query: &Query<'_>) -> Self {
        Self {
            q: query.get("q").unwrap_or_default().trim().to_owned(),
            status: query.get("status").and_then(StatusFilter::parse),
            sort: query
                .get("sort")
                .and_then(SortKey::parse)
                .unwrap_or_default(),
            page: query
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .max(1),
        }
    }

    /// The address of this view with other values.
    fn href(&self, status: Option<StatusFilter>, sort: SortKey, page: usize) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", format::encode(&self.q)));
        }
        if let Some(status) = status {
            parts.push(format!("status={}", status.as_str()));
        }
        if sort != SortKey::Name {
            parts.push(format!("sort={}", sort.as_str()));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{}", parts.join("&"))
        }
    }
}

/// The jobs page's query as the fuzz targets see it: `q`, `status`, `sort` and `page`
/// as the page reads them, and the page's own link to that same view; or the client's
/// error message.
#[doc(hidden)]
pub fn request_for_fuzzing(
    raw: &str,
) -> Result<(String, Option<&'static str>, &'static str, usize, String), String> {
    let query = Query::parse(Some(raw)).map_err(|e| e.message())?;
    let request = Request::parse(&query);
    let href = request.href(request.status, request.sort, request.page);
    Ok((
        request.q,
        request.status.map(StatusFilter::as_str),
        request.sort.as_str(),
        request.page,
        href,
    ))
}

struct Link {
    href: String,
    label: &'static str,
    current: bool,
}

struct Total {
    status: &'static str,
    count: usize,
}

struct Column {
    label: &'static str,
    href: Option<String>,
    sorted: bool,
    aria_sort: &'static str,
    optional: bool,
}

struct Row {
    name: String,
    href: String,
    status: &'static str,
    running: bool,
    cadence: String,
    last_ping: Moment,
    deadline: Moment,
    duration: String,
    marks: Vec<Mark>,
}

#[derive(Template)]
#[template(path = "jobs_live.html")]
struct Live {
    totals: Vec<Total>,
    columns: Vec<Column>,
    rows: Vec<Row>,
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage<'a> {
    q: &'a str,
    status: Option<&'static str>,
    sort: &'static str,
    filters: Vec<Link>,
    live: &'a str,
}

/// `GET /`.
#[utoipa::path(
    get,
    path = "/",
    tag = "dashboard",
    summary = "The jobs page",
    description = "Every job, 100 a page, searchable by name, filtered by status and sorted. \
        With `X-Overdue-Fragment: jobs`, only the region that refreshes (totals, table, paging).",
    params(
        ("q" = Option<String>, Query, description = "Names that contain this, ignoring case"),
        ("status" = Option<String>, Query, description = "`up`, `down`, `paused` or `running`"),
        ("sort" = Option<String>, Query, description = "`name` (default), `status`, `last_ping` or `deadline`"),
        ("page" = Option<usize>, Query, description = "1-based page number"),
    ),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 303, description = "Sign in first (with `--admin-token`)"),
        (status = 503, description = "The store is unavailable"),
    ),
)]
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    parts: Parts,
) -> Result<Page, ApiError> {
    let query = Query::parse(parts.uri.query())?;
    let request = Request::parse(&query);
    let fragment = parts
        .headers
        .get(FRAGMENT_HEADER)
        .is_some_and(|v| v.as_bytes() == b"jobs");
    let now = UnixTime::now();
    let selected = app
        .backend
        .select(Selection {
            search: Some(request.q.clone()),
            status: request.status,
            sort: request.sort,
            offset: (request.page - 1).saturating_mul(PAGE_SIZE),
            limit: PAGE_SIZE,
        })
        .await?;
    let pages = selected.matched.div_ceil(PAGE_SIZE).max(1);
    let strips = strips(&app, &selected.jobs).await?;
    let rows = selected
        .jobs
        .iter()
        .zip(&strips)
        .map(|(job, events)| row(job, events, now))
        .collect();
    let live = Live {
        totals: totals(&selected.totals),
        columns: columns(&request),
        rows,
        page: request.page,
        pages,
        prev: (request.page > 1)
            .then(|| request.href(request.status, request.sort, (request.page - 1).min(pages))),
        next: (request.page < pages)
            .then(|| request.href(request.status, request.sort, request.page + 1)),
    };
    let live = render(&live)?;
    if fragment {
        return Ok(Page::ok(live));
    }
    let filters = std::iter::once((None, "all"))
        .chain(StatusFilter::ALL.map(|f| (Some(f), f.as_str())))
        .map(|(filter, label)| Link {
            href: request.href(filter, request.sort, 1),
            label,
            current: filter == request.status,
        })
        .collect();
    let body = render(&JobsPage {
        q: &request.q,
        status: request.status.map(StatusFilter::as_str),
        sort: request.sort.as_str(),
        filters,
        live: &live,
    })?;
    layout("Jobs", &viewer, Nav::Jobs, &body)
}

/// The last events of each job, read at once rather than one after the other: on Redis
/// the reads share one multiplexed connection, so they travel as one pipeline.
async fn strips(app: &AppState, jobs: &[Job]) -> Result<Vec<Vec<serde_json::Value>>, ApiError> {
    let mut reads = tokio::task::JoinSet::new();
    for (index, job) in jobs.iter().enumerate() {
        let backend = Arc::clone(&app.backend);
        let name = job.name.clone();
        reads.spawn(async move { (index, backend.events(&name, None, STRIP_EVENTS).await) });
    }
    let mut strips = vec![Vec::new(); jobs.len()];
    while let Some(read) = reads.join_next().await {
        match read {
            Ok((index, Ok(Some(page)))) => {
                if let Some(strip) = strips.get_mut(index) {
                    *strip = page.events;
                }
            }
            // Deleted since it was chosen: an empty strip.
            Ok((_, Ok(None))) => {}
            Ok((_, Err(e))) => return Err(e.into()),
            Err(e) => {
                tracing::error!(error = %e, "reading a job's recent events failed");
            }
        }
    }
    Ok(strips)
}

fn totals(totals: &Totals) -> Vec<Total> {
    std::iter::once((None, "all"))
        .chain(StatusFilter::ALL.map(|f| (Some(f), f.as_str())))
        .map(|(filter, status)| Total {
            status,
            count: totals.of(filter),
        })
        .collect()
}

fn columns(request: &Request) -> Vec<Column> {
    let sortable = |label, key: SortKey, optional| Column {
        label,
        href: Some(request.href(request.status, key, 1)),
        sorted: request.sort == key,
        aria_sort: if key == SortKey::Status {
            "other"
        } else {
            "ascending"
        },
        optional,
    };
    let plain = |label, optional| Column {
        label,
        href: None,
        sorted: false,
        aria_sort: "none",
        optional,
    };
    vec![
        sortable("Status", SortKey::Status, false),
        sortable("Name", SortKey::Name, false),
        plain("Schedule", true),
        sortable("Last ping", SortKey::LastPing, false),
        sortable("Next deadline", SortKey::Deadline, false),
        plain("Last duration", true),
        plain("Last 20 events", true),
    ]
}

fn row(job: &Job, events: &[serde_json::Value], now: UnixTime) -> Row {
    Row {
        name: job.name.as_str().to_owned(),
        href: format::job_href(job.name.as_str()),
        status: job.status.as_str(),
        running: is_running(job),
        cadence: format::cadence(job),
        last_ping: Moment::new(job.last_ping, now),
        deadline: Moment::new(job.deadline(), now),
        duration: format::last_duration(job),
        marks: format::marks(events),
    }
}
