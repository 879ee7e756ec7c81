//! `GET`/`POST /ui/sign-in` and `POST /ui/sign-out`: a session from the admin token.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::layout::{layout, render, Nav, Page};
use super::session::{clearing_cookie, is_https, same_origin};
use super::viewer::Viewer;
use crate::domain::UnixTime;
use crate::http::{cross_origin, see_other, ApiError, AppState, Query, SIGN_IN_PATH};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn {
    wrong: bool,
    required: bool,
}

fn sign_in_page(app: &AppState, viewer: &Viewer, wrong: bool) -> Result<Page, ApiError> {
    let body = render(&SignIn {
        wrong,
        required: app.dashboard.required(),
    })?;
    layout("Sign in", viewer, Nav::None, &body)
}

/// `GET /ui/sign-in`.
#[utoipa::path(
    get,
    path = "/ui/sign-in",
    tag = "dashboard",
    summary = "The dashboard's sign-in form",
    responses((status = 200, description = "The form", content_type = "text/html")),
)]
pub async fn form(State(app): State<AppState>, viewer: Viewer) -> Result<Page, ApiError> {
    sign_in_page(&app, &viewer, false)
}

/// `POST /ui/sign-in`: the admin token in the form's `token` field opens a session.
#[utoipa::path(
    post,
    path = "/ui/sign-in",
    tag = "dashboard",
    summary = "Sign in to the dashboard with the admin token",
    description = "Sets the `overdue_session` cookie (HttpOnly, SameSite=Strict, 12 h; Secure over HTTPS \
        or behind `X-Forwarded-Proto: https`) and answers 303 to `/`.",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`token=<admin token>`"),
    responses(
        (status = 303, description = "Signed in: on to the jobs page"),
        (status = 401, description = "Wrong token: the sign-in page again, saying so"),
        (status = 403, description = "Sent from another origin"),
    ),
)]
pub async fn sign_in(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Ok(cross_origin());
    }
    let Some(expected) = &app.admin_token else {
        return Ok(see_other("/"));
    };
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the form body must be UTF-8"))?;
    let form = Query::parse(Some(text))?;
    let presented = form.get("token").unwrap_or_default();
    if presented.is_empty() || !expected.matches(presented) {
        tracing::warn!("dashboard sign-in with a wrong token");
        return Ok(sign_in_page(&app, &viewer, true)?
            .with_status(StatusCode::UNAUTHORIZED)
            .into_response());
    }
    let (_, cookie) = app
        .dashboard
        .open(UnixTime::now(), is_https(&headers))
        .map_err(|e| {
            tracing::error!(error = %e, "cannot open a dashboard session");
            ApiError::Unavailable("cannot open a session now".to_owned())
        })?;
    tracing::info!("dashboard session opened");
    Ok(with_cookie(see_other("/"), &cookie))
}

/// `POST /ui/sign-out`: ends the session (on this replica) and clears its cookie.
#[utoipa::path(
    post,
    path = "/ui/sign-out",
    tag = "dashboard",
    summary = "Sign out of the dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf=<the page's CSRF token>`"),
    responses(
        (status = 303, description = "Signed out: on to the sign-in page"),
        (status = 401, description = "No session"),
        (status = 403, description = "A missing or wrong CSRF token, or sent from another origin"),
    ),
)]
pub async fn sign_out(State(app): State<AppState>, viewer: Viewer, headers: HeaderMap) -> Response {
    if let Some(session) = viewer.session() {
        app.dashboard.revoke(session, UnixTime::now());
        tracing::info!("dashboard session closed");
    }
    with_cookie(
        see_other(SIGN_IN_PATH),
        &clearing_cookie(is_https(&headers)),
    )
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}
