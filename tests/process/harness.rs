//! The binary as a child process, a webhook receiver on its own runtime, and small
//! blocking HTTP helpers.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::common::{encode, Received, Reply, Webhook};

/// How long a cold start on a loaded machine may take to print "listening on".
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub const BIN: &str = env!("CARGO_BIN_EXE_overdue");

/// A command for the binary with the developer's configuration removed from its
/// environment, so that only what a test passes reaches it.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("OVERDUE_")
            || key.starts_with("PING_")
            || key.starts_with("HEALTH_")
            || key == "PORT"
            || key == "RUST_LOG"
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

/// What a run of the binary that exits by itself produced.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary to completion; kills it if it is still running after 20 s.
pub fn run_to_exit(mut cmd: Command) -> Finished {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn overdue");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_timeout(&mut child, Duration::from_secs(20)).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("overdue kept running when it should have exited");
    });
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = pipe.read_to_string(&mut out);
        out
    })
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The running binary. Dropping it kills the process, so a failing test leaves
/// nothing behind.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Every line it wrote to stdout (JSON logs) and stderr, for failure messages.
    pub output: Arc<Mutex<Vec<String>>>,
    /// When the process was spawned.
    pub spawned_at: Instant,
}

impl Server {
    /// Starts `overdue --listen 127.0.0.1:0 --store <store> <extra>`.
    pub fn start(store: &str, extra: &[&str]) -> Server {
        let mut args = vec!["--listen", "127.0.0.1:0", "--store", store];
        args.extend_from_slice(extra);
        Server::spawn(command(&args))
    }

    /// Starts the binary with the store in `db`.
    pub fn start_sqlite(db: &Path, extra: &[&str]) -> Server {
        Server::start(&sqlite_url(db), extra)
    }

    /// Spawns `cmd` and waits for its "listening on" line.
    pub fn spawn(mut cmd: Command) -> Server {
        let spawned_at = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn overdue");
        let output: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = mpsc::channel();
        // Both pipes are read until the process ends, so it never blocks on a full pipe.
        for (pipe, is_stdout) in [
            (
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
                true,
            ),
            (Box::new(child.stderr.take().expect("stderr")), false),
        ] {
            let output = output.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if is_stdout {
                        if let Some(addr) = listening_addr(&line) {
                            let _ = tx.send(addr);
                        }
                    }
                    output.lock().expect("output lock").push(line);
                }
            });
        }
        drop(tx);
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "overdue did not report a listening address within {START_TIMEOUT:?}:\n{}",
                    output.lock().expect("output lock").join("\n")
                );
            }
        };
        Server {
            child,
            addr,
            output,
            spawned_at,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (through `kill`, as the crate forbids unsafe code).
    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    pub fn sigint(&self) {
        self.signal("-INT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {} failed", self.pid());
    }

    /// SIGKILL, and reaps the process.
    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap after SIGKILL");
    }

    /// Waits for the process to exit; `None` when it is still running after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_timeout(&mut self.child, timeout)
    }

    /// SIGTERM and asserts a clean exit within 10 s.
    pub fn stop(mut self) {
        self.sigterm();
        let status = self.wait(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "overdue should exit 0 within 10 s of SIGTERM, got {status:?}:\n{}",
            self.log()
        );
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        self.output.lock().expect("output lock").join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address in a JSON log line whose message is "listening on http://ADDR".
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let value: Value = serde_json::from_str(line).ok()?;
    let message = value.get("message")?.as_str()?;
    message.strip_prefix("listening on http://")?.parse().ok()
}

pub fn sqlite_url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

/// A fresh temporary directory and a database path inside it.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("overdue.db");
    (dir, db)
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

/// `GET /ping` with the given parameters; returns the status and the job as JSON
/// (`Null` when the answer was not JSON).
pub fn ping(server: &Server, params: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .get(server.url("/ping"))
        .query(params)
        .header("Accept", "application/json")
        .send()
        .expect("ping request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// `GET /ping/{name}`: the status and the job object.
pub fn job(server: &Server, name: &str) -> (u16, Value) {
    let response = client()
        .get(server.url(&format!("/ping/{}", encode(name))))
        .header("Accept", "application/json")
        .send()
        .expect("job request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// Every job name, walking `GET /pings` page by page.
pub fn all_names(server: &Server) -> HashSet<String> {
    let client = client();
    let mut names = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = client
            .get(server.url("/pings"))
            .query(&[("limit", "10000")]);
        if let Some(after) = &after {
            request = request.query(&[("after", after.as_str())]);
        }
        let response = request.send().expect("list request");
        assert_eq!(response.status(), 200, "GET /pings");
        let page: Value = response.json().expect("page json");
        for job in page["services"].as_array().expect("services array") {
            names.insert(job["name"].as_str().expect("name").to_owned());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return names,
        }
    }
}

/// The webhook receiver of `tests/common`, on a runtime this test owns, so that tests
/// can stay synchronous.
pub struct Hook {
    runtime: tokio::runtime::Runtime,
    hook: Option<Webhook>,
}

impl Hook {
    /// A receiver that answers 200.
    pub fn start() -> Hook {
        Hook::start_with(|_| Reply::status(200))
    }

    pub fn start_with(respond: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Hook {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("webhook runtime");
        let hook = runtime.block_on(Webhook::start_with(respond));
        Hook {
            runtime,
            hook: Some(hook),
        }
    }

    fn hook(&self) -> &Webhook {
        self.hook.as_ref().expect("webhook")
    }

    pub fn url(&self) -> &str {
        &self.hook().url
    }

    pub fn received(&self) -> Vec<Received> {
        self.hook().received()
    }

    /// Waits until at least `n` requests arrived; panics after `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.runtime.block_on(self.hook().wait_for(n, timeout))
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        // The receiver's shutdown token is cancelled inside the runtime's context.
        let _guard = self.runtime.enter();
        self.hook.take();
    }
}

/// Alert bodies received by `hook`, from the `skip`-th on.
pub fn bodies(received: &[Received], skip: usize) -> Vec<Value> {
    received.iter().skip(skip).map(|r| r.body.clone()).collect()
}

/// Sleeps until just after the start of the next wall-clock second plus `offset_ms`,
/// so that a test can control where in its second the server starts.
pub fn sleep_until_fraction(offset_ms: u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    let into = u64::from(now.subsec_millis());
    let wait = if into < offset_ms {
        offset_ms - into
    } else {
        1000 - into + offset_ms
    };
    std::thread::sleep(Duration::from_millis(wait));
}
