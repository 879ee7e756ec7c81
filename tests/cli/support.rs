//! The client binary as a child process, the real monitor on a runtime owned by the
//! test, a recorder that keeps every request the client sends, and monitors that are
//! down or never answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Router;
use serde_json::Value;

use crate::common::{spawn_app_with, TestApp};

pub const BIN: &str = env!("CARGO_BIN_EXE_overdue");

/// The retry budget the tests give the client instead of SPEC §16's 10 s, so that a
/// monitor that is down or silent costs little time.
pub const BUDGET: Duration = Duration::from_secs(2);

/// The client with the developer's configuration removed from its environment and the
/// short retry budget set.
pub fn overdue(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("OVERDUE_") || key.starts_with("PING_") || key.starts_with("HEALTH_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("OVERDUE_CLIENT_BUDGET", format!("{}ms", BUDGET.as_millis()));
    cmd
}

/// What a run of the client produced.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub stderr_raw: Vec<u8>,
    pub elapsed: Duration,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The lines on stderr, without empty ones.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Runs the client to completion with `stdin` as its input; kills it after 60 s.
pub fn finish(mut cmd: Command, stdin: &[u8]) -> Finished {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn overdue");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_timeout(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("overdue kept running when it should have exited");
    });
    let elapsed = started.elapsed();
    let _ = writer.join();
    let stderr_raw = stderr.join().expect("stderr reader");
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: String::from_utf8_lossy(&stderr_raw).into_owned(),
        stderr_raw,
        elapsed,
    }
}

/// Runs the client to completion with an empty stdin.
pub fn run_to_exit(cmd: Command) -> Finished {
    finish(cmd, b"")
}

pub fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The real monitor, in this process on port 0, on a runtime the test owns.
pub struct Monitor {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    pub url: String,
}

impl Monitor {
    pub fn start(flags: &[&str]) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let app = runtime.block_on(spawn_app_with(flags));
        let url = format!("http://{}", app.addr);
        Self { runtime, app, url }
    }

    /// `GET path` as JSON: the status and the parsed body.
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        self.runtime.block_on(async {
            let response = self
                .app
                .client
                .get(self.app.url(path))
                .header("accept", "application/json")
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    }

    /// `GET path`: the status and the text body.
    pub fn get_text(&self, path: &str) -> (u16, String) {
        self.runtime.block_on(async {
            let response = self.app.get(path).await;
            let status = response.status().as_u16();
            (status, response.text().await.expect("text"))
        })
    }

    /// The job object, which must exist.
    pub fn job(&self, name: &str) -> Value {
        self.runtime.block_on(self.app.job(name))
    }

    /// A ping sent directly, to set up state.
    pub fn ping(&self, name: &str, frequency: &str) {
        let status = self
            .runtime
            .block_on(self.app.ping(name, frequency))
            .status();
        assert_eq!(status, 200, "setup ping of {name}");
    }
}

/// One request the recorder received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// The value of query parameter `key`, percent-decoded.
    pub fn param(&self, key: &str) -> Option<String> {
        let query = self.uri.query().unwrap_or_default();
        url_pairs(query)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(raw: &str) -> String {
    let plus = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

/// A server on port 0 that answers every request `status` with `body` and keeps it.
pub struct Recorder {
    _runtime: tokio::runtime::Runtime,
    received: Arc<Mutex<Vec<Request>>>,
    pub url: String,
}

#[derive(Clone)]
struct Recording {
    received: Arc<Mutex<Vec<Request>>>,
    status: u16,
    body: &'static str,
}

async fn record(
    State(rec): State<Recording>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, &'static str) {
    rec.received.lock().expect("lock").push(Request {
        method,
        uri,
        headers,
        body,
    });
    let status = axum::http::StatusCode::from_u16(rec.status).expect("status");
    (status, rec.body)
}

impl Recorder {
    pub fn start() -> Self {
        Self::answering(200, "ok\n")
    }

    pub fn answering(status: u16, body: &'static str) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = Recording {
            received: received.clone(),
            status,
            body,
        };
        let app = Router::new().fallback(record).with_state(state);
        let addr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind recorder");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            addr
        });
        Self {
            _runtime: runtime,
            received,
            url: format!("http://{addr}"),
        }
    }

    pub fn received(&self) -> Vec<Request> {
        self.received.lock().expect("lock").clone()
    }
}

/// An address where nothing listens: connections are refused.
pub fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// A monitor that accepts connections and never answers, like one stuck for longer
/// than any budget. The connections stay open for the life of the test process.
pub fn silent_monitor() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://{addr}")
}
