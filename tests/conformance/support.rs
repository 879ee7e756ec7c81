//! The stores the scenarios run against, and small helpers over the test app.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{now_unix, spawn_app_on, TestApp};
use crate::redis_server::RedisServer;

/// How long any single wait may take: the test machine is small and busy.
pub const WAIT: Duration = Duration::from_secs(15);

/// A store for one test; what it needs (a directory, a server) lives as long as it.
pub struct Store {
    pub url: String,
    /// Whether state outlives the process.
    pub durable: bool,
    _dir: Option<tempfile::TempDir>,
    pub redis: Option<RedisServer>,
}

impl Store {
    pub fn memory() -> Self {
        Self {
            url: "memory://".to_owned(),
            durable: false,
            _dir: None,
            redis: None,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            url: format!("sqlite://{}", dir.path().join("overdue.db").display()),
            durable: true,
            _dir: Some(dir),
            redis: None,
        }
    }

    /// A fresh `redis-server` of its own, so tests share nothing.
    pub async fn redis() -> Self {
        let server = RedisServer::start().await;
        Self {
            url: format!("{}/0", server.url()),
            durable: true,
            _dir: None,
            redis: Some(server),
        }
    }

    /// The app on this store with `flags`.
    pub async fn spawn(&self, flags: &[&str]) -> TestApp {
        spawn_app_on(&self.url, flags).await
    }
}

/// Pings `name` with `frequency=1m` and a timestamp two minutes ago: its deadline
/// passed a minute ago, so `down` is raised on the next sweep. Returns the timestamp.
pub async fn ping_overdue(app: &TestApp, name: &str) -> i64 {
    let ts = now_unix() - 120;
    let response = app
        .ping_with(&[
            ("name", name),
            ("frequency", "1m"),
            ("timestamp", &ts.to_string()),
        ])
        .await;
    assert_eq!(response.status(), 200, "overdue ping for {name}");
    ts
}

/// `GET` a JSON document; asserts a 200.
pub async fn json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("JSON body")
}

/// The `/health` document, whatever its status (a failing webhook makes it 503).
pub async fn health(app: &TestApp) -> Value {
    app.get("/health")
        .await
        .json()
        .await
        .expect("/health is JSON")
}

/// `DELETE /ping/{name}`: the status and the body.
pub async fn delete(app: &TestApp, name: &str) -> (u16, String) {
    let response = app
        .client
        .delete(app.url(&format!("/ping/{}", crate::common::encode(name))))
        .send()
        .await
        .expect("delete");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Polls `GET path` until `wanted` holds for its JSON; returns it.
pub async fn wait_for_json(
    app: &TestApp,
    path: &str,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let doc: Value = app.get(path).await.json().await.unwrap_or(Value::Null);
        if wanted(&doc) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} never showed {what} within {WAIT:?}; last: {doc:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The names of a `GET /pings` page, in order.
pub fn names(page: &Value) -> Vec<&str> {
    page["services"]
        .as_array()
        .expect("services is a list")
        .iter()
        .map(|job| job["name"].as_str().expect("name"))
        .collect()
}
