//! What the scenarios share: the monitor and a browser together, jobs in bulk, and a
//! second web server on another port (another origin) that serves pages the tests
//! write and records every request it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;

use crate::chromium::Chromium;
use crate::common::{spawn_app_with, TestApp};
use crate::page::Page;

/// The monitor on port 0 and a browser with one tab.
pub struct Session {
    pub app: TestApp,
    pub page: Page,
    // Dropped last: the tab's connection needs it.
    pub browser: Chromium,
}

impl Session {
    /// Starts the monitor with `flags` and a browser.
    pub async fn start(flags: &[&str]) -> Session {
        let app = spawn_app_with(flags).await;
        let browser = Chromium::start().await;
        let page = Page::open(&browser).await;
        Session { app, page, browser }
    }

    /// The monitor's address for `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        self.app.url(path_and_query)
    }

    /// Stops the monitor cleanly; the browser is killed on drop.
    pub async fn stop(self) {
        let Session { app, page, browser } = self;
        drop(page);
        drop(browser);
        app.stop().await;
    }
}

/// Pings `name` with a 1h frequency, asserting success.
pub async fn ping(app: &TestApp, name: &str) {
    let response = app.ping(name, "1h").await;
    assert_eq!(response.status(), 200, "ping {name}");
}

/// Pings each of `names` with a 1h frequency, fifty at a time.
pub async fn ping_all(app: &TestApp, names: &[String]) {
    for chunk in names.chunks(50) {
        let mut pings = tokio::task::JoinSet::new();
        for name in chunk {
            let request = app
                .client
                .get(app.url("/ping"))
                .query(&[("name", name.as_str()), ("frequency", "1h")]);
            pings.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
        }
        while let Some(done) = pings.join_next().await {
            assert_eq!(done.expect("ping task").expect("ping"), 200);
        }
    }
}

/// A `fail` ping: the job goes down at once.
pub async fn fail(app: &TestApp, name: &str) {
    let response = app.ping_with(&[("name", name), ("state", "fail")]).await;
    assert_eq!(response.status(), 200, "fail {name}");
}

/// A `start` ping: the job has an open run.
pub async fn start_run(app: &TestApp, name: &str) {
    let response = app.ping_with(&[("name", name), ("state", "start")]).await;
    assert_eq!(response.status(), 200, "start {name}");
}

/// Pauses `name` through the API.
pub async fn pause(app: &TestApp, name: &str) {
    let response = app
        .client
        .post(app.url(&format!("/ping/{}/pause", crate::common::encode(name))))
        .send()
        .await
        .expect("pause");
    assert_eq!(response.status(), 200, "pause {name}");
}

/// The job object's status.
pub async fn status(app: &TestApp, name: &str) -> String {
    app.job(name).await["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

/// Another origin: a web server on its own port that serves the pages put into it and
/// records every request.
#[derive(Clone)]
pub struct OtherOrigin {
    pub addr: SocketAddr,
    state: Arc<OtherState>,
}

#[derive(Default)]
struct OtherState {
    pages: Mutex<Vec<(String, String)>>,
    requests: Mutex<Vec<String>>,
}

impl OtherOrigin {
    /// Starts it on `127.0.0.1:0`; it stops with the test's runtime.
    pub async fn start() -> OtherOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(OtherState::default());
        let router = Router::new().fallback(serve).with_state(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        OtherOrigin { addr, state }
    }

    /// Serves `html` at `path` from now on.
    pub fn put(&self, path: &str, html: &str) {
        self.state
            .pages
            .lock()
            .unwrap()
            .push((path.to_owned(), html.to_owned()));
    }

    /// Its address for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every path and query it was asked for, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }
}

async fn serve(State(state): State<Arc<OtherState>>, uri: Uri) -> Response {
    let asked = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    state.requests.lock().unwrap().push(asked);
    let page = state
        .pages
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(path, _)| path == uri.path())
        .map(|(_, html)| html.clone());
    match page {
        Some(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "nothing here").into_response(),
    }
}
