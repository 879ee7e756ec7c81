//! A recording HTTP server on port 0 that takes any method and path, and helpers to
//! make a job go down and come up.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::common::{now_unix, TestApp};

/// How long any single wait may take: the test machine is small and busy.
pub const WAIT: Duration = Duration::from_secs(15);

/// One request as the service would see it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub json: serde_json::Value,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

type Responder = Arc<dyn Fn(usize) -> (u16, Duration) + Send + Sync>;

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Recorded>>>,
    arrived: Arc<Notify>,
    respond: Responder,
}

/// A service stand-in: records every request, answers `respond(n)` (status, delay).
pub struct Recorder {
    pub addr: SocketAddr,
    shared: Shared,
    shutdown: CancellationToken,
}

impl Recorder {
    pub async fn start() -> Self {
        Self::start_with(|_| (200, Duration::ZERO)).await
    }

    pub async fn start_with(
        respond: impl Fn(usize) -> (u16, Duration) + Send + Sync + 'static,
    ) -> Self {
        let shared = Shared {
            received: Arc::default(),
            arrived: Arc::default(),
            respond: Arc::new(respond),
        };
        let app = Router::new().fallback(record).with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Self {
            addr,
            shared,
            shutdown,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.shared.received.lock().expect("lock").clone()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + WAIT;
        loop {
            let notified = self.shared.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "got {} of {n} requests: {:#?}",
                got.len(),
                got.iter().map(|r| (&r.path, r.text())).collect::<Vec<_>>()
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn record(State(shared): State<Shared>, request: Request) -> impl IntoResponse {
    let (parts, body) = request.into_parts();
    let raw = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let n = {
        let mut received = shared.received.lock().expect("lock");
        received.push(Recorded {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            json: serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
            raw,
            at: Instant::now(),
        });
        received.len() - 1
    };
    shared.arrived.notify_waiters();
    let (status, delay) = (shared.respond)(n);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

/// Pings `name` with `frequency=1m` and a timestamp two minutes ago: the sweeper raises
/// `down` at once. Returns the timestamp sent.
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

/// A fresh ping: a down job comes up.
pub async fn ping_now(app: &TestApp, name: &str) {
    let response = app.ping_with(&[("name", name), ("frequency", "1m")]).await;
    assert_eq!(response.status(), 200, "ping for {name}");
}

/// The monitor with these channels, reminders off, a fast sweep.
pub async fn app_notifying(urls: &[String]) -> TestApp {
    let mut flags: Vec<&str> = vec!["--realert-every", "0", "--sweep-interval", "50ms"];
    for url in urls {
        flags.push("--notify");
        flags.push(url);
    }
    crate::common::spawn_app_with(&flags).await
}
