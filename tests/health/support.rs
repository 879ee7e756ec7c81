//! Helpers for the health tests: reading `/health`, waiting for a condition, and
//! making jobs overdue at once.

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{now_unix, Reply, TestApp, Webhook};

/// How long any single wait may take: the test machine is small and busy.
pub const WAIT: Duration = Duration::from_secs(15);

/// `GET /health`: the HTTP status and the document.
pub async fn health(app: &TestApp) -> (u16, Value) {
    let response = app.get("/health").await;
    let status = response.status().as_u16();
    let body = response.json().await.expect("/health is JSON");
    (status, body)
}

/// Polls `/health` until `wanted` holds, and returns the last answer.
pub async fn wait_for_health(
    app: &TestApp,
    what: &str,
    wanted: impl Fn(u16, &Value) -> bool,
) -> (u16, Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, doc) = health(app).await;
        if wanted(status, &doc) {
            return (status, doc);
        }
        assert!(
            Instant::now() < deadline,
            "/health never showed {what} within {WAIT:?}; last: {status} {doc:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The condition with `code` in a `/health` document's `alerts`.
pub fn condition<'a>(doc: &'a Value, code: &str) -> Option<&'a Value> {
    doc["alerts"]
        .as_array()
        .expect("alerts is a list")
        .iter()
        .find(|a| a["code"] == code)
}

/// Whether the condition `code` is listed with `severity`.
pub fn has(doc: &Value, code: &str, severity: &str) -> bool {
    condition(doc, code).is_some_and(|c| c["severity"] == severity)
}

/// Pings `name` with `frequency=1m` and a timestamp two minutes ago: its deadline
/// passed a minute ago, so its `down` alert is raised on the next sweep.
pub async fn ping_overdue(app: &TestApp, name: &str) {
    let ts = (now_unix() - 120).to_string();
    let response = app
        .ping_with(&[("name", name), ("frequency", "1m"), ("timestamp", &ts)])
        .await;
    assert_eq!(response.status(), 200, "overdue ping for {name}");
}

/// `DELETE /ping/{name}`.
pub async fn delete(app: &TestApp, name: &str) {
    let response = app
        .client
        .delete(app.url(&format!("/ping/{name}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 200, "delete {name}");
}

/// An http URL on which nothing listens.
pub fn closed_port_url() -> String {
    let port = StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("http://127.0.0.1:{port}/hook")
}

/// A webhook whose answers the test switches while it runs: a status and a delay.
pub struct Switchable {
    pub hook: Webhook,
    failing: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
}

impl Switchable {
    pub async fn start() -> Self {
        let failing = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (f, d) = (failing.clone(), delay_ms.clone());
        let hook = Webhook::start_with(move |_| Reply {
            status: if f.load(Ordering::SeqCst) { 500 } else { 200 },
            headers: Vec::new(),
            delay: Duration::from_millis(d.load(Ordering::SeqCst)),
        })
        .await;
        Self {
            hook,
            failing,
            delay_ms,
        }
    }

    /// From now on, answer 500 (`true`) or 200 (`false`).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// From now on, answer after `delay`.
    pub fn delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}
