//! Shared test helpers: the real app on port 0 and a real webhook receiver on port 0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use clap::Parser;
use overdue::{Config, RunError};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The monitor running in this process, on an ephemeral port, in memory unless the
/// flags say otherwise.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), RunError>>,
}

/// Starts the app with the default test flags.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with extra command-line flags, exactly as a user would pass them.
/// The socket is bound before this returns, so requests may be sent at once.
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    spawn_app_on("memory://", flags).await
}

/// Starts the app on `store` (a `--store` URL) with extra command-line flags.
pub async fn spawn_app_on(store: &str, flags: &[&str]) -> TestApp {
    let mut args = vec!["overdue", "--store", store, "--log-format", "json"];
    args.extend_from_slice(flags);
    let config = Config::try_parse_from(args).expect("test flags parse");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(overdue::run(config, listener, shutdown.clone()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    TestApp {
        addr,
        client,
        shutdown,
        handle,
    }
}

impl TestApp {
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(self.url(path_and_query))
            .send()
            .await
            .expect("request")
    }

    /// `GET /ping?name=…&frequency=…`, with both values percent-encoded.
    pub async fn ping(&self, name: &str, frequency: &str) -> reqwest::Response {
        self.client
            .get(self.url("/ping"))
            .query(&[("name", name), ("frequency", frequency)])
            .send()
            .await
            .expect("ping")
    }

    /// A ping with arbitrary query parameters.
    pub async fn ping_with(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .get(self.url("/ping"))
            .query(params)
            .send()
            .await
            .expect("ping")
    }

    /// `GET /ping/{name}` as JSON (admin route, no token).
    pub async fn job(&self, name: &str) -> serde_json::Value {
        let response = self.get(&format!("/ping/{}", encode(name))).await;
        assert_eq!(response.status(), 200, "job {name} should exist");
        response.json().await.expect("job json")
    }

    /// Stops the app as SIGTERM would and asserts that it stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("app stops within 30 s")
            .expect("app task did not panic");
        assert!(result.is_ok(), "app stopped with an error: {result:?}");
    }
}

/// Percent-encodes a path segment.
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Current unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// One request the webhook received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: serde_json::Value,
    pub at: Instant,
}

/// How the webhook answers its n-th request (0-based).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }
}

type Responder = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Hook {
    received: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    responder: Responder,
}

/// A real HTTP server on port 0 that records every POST to `/hook`.
pub struct Webhook {
    pub url: String,
    hook: Hook,
    shutdown: CancellationToken,
}

impl Webhook {
    /// A receiver that answers 200 to everything.
    pub async fn start() -> Self {
        Self::start_with(|_| Reply::status(200)).await
    }

    /// A receiver whose answer to its n-th request is `respond(n)`.
    pub async fn start_with(respond: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let hook = Hook {
            received: Arc::default(),
            arrived: Arc::default(),
            responder: Arc::new(respond),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(hook.clone());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook");
        let addr = listener.local_addr().expect("webhook addr");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            hook,
            shutdown,
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.hook.received.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests arrived, or panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.hook.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "webhook got {} of {n} requests within {timeout:?}: {:#?}",
                    got.len(),
                    got.iter().map(|r| &r.body).collect::<Vec<_>>()
                );
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Asserts that nothing more than `n` requests arrive within `window`.
    pub async fn expect_no_more_than(&self, n: usize, window: Duration) {
        tokio::time::sleep(window).await;
        let got = self.received();
        assert!(
            got.len() <= n,
            "expected at most {n} webhook requests, got {}: {:#?}",
            got.len(),
            got.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, raw: Bytes) -> impl IntoResponse {
    let body = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    let n = {
        let mut received = hook.received.lock().expect("lock");
        received.push(Received {
            headers,
            raw,
            body,
            at: Instant::now(),
        });
        received.len() - 1
    };
    hook.arrived.notify_waiters();
    let reply = (hook.responder)(n);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = StatusCode::from_u16(reply.status)
        .unwrap_or(StatusCode::OK)
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
