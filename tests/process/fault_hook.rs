//! A webhook receiver written on raw TCP, so that it can misbehave the way real ones
//! do: hang forever, answer late, reset the connection, or refuse with a status. What
//! it does is chosen per job name and attempt; every request is recorded, with the
//! moment its answer was written (if it was).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer with this status at once.
    Status(u16),
    /// Answer 200 after this long.
    Delay(Duration),
    /// Never answer; keep the connection open.
    Hang,
    /// Close the connection with a TCP reset, without answering.
    Reset,
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub name: String,
    pub event: String,
    pub id: String,
    /// 1 for the first request carrying this alert id, 2 for its first retry, …
    pub attempt: usize,
    pub at: Instant,
    pub action: Action,
    /// When the answer was written to the socket; `None` if it never was.
    pub answered: Option<Instant>,
}

type Policy = Arc<dyn Fn(&str, usize) -> Action + Send + Sync>;

#[derive(Default)]
struct Log {
    arrivals: Vec<Arrival>,
    attempts: HashMap<String, usize>,
}

/// The receiver, on a runtime of its own; dropping it drops every connection it holds.
pub struct FaultHook {
    _runtime: tokio::runtime::Runtime,
    pub url: String,
    log: Arc<Mutex<Log>>,
}

impl FaultHook {
    /// Starts the receiver; `policy(name, attempt)` chooses what it does.
    pub fn start(policy: impl Fn(&str, usize) -> Action + Send + Sync + 'static) -> FaultHook {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("fault hook runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind fault hook");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let log: Arc<Mutex<Log>> = Arc::default();
        let policy: Policy = Arc::new(policy);
        let accept_log = log.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(handle(stream, accept_log.clone(), policy.clone()));
            }
        });
        FaultHook {
            _runtime: runtime,
            url,
            log,
        }
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.log.lock().expect("log").arrivals.clone()
    }

    /// Waits until `done(arrivals)` holds; panics with the arrivals after `timeout`.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Arrival]) -> bool,
    ) -> Vec<Arrival> {
        let deadline = Instant::now() + timeout;
        loop {
            let arrivals = self.arrivals();
            if done(&arrivals) {
                return arrivals;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what} did not happen within {timeout:?}; {} requests arrived:\n{}",
                    arrivals.len(),
                    summary(&arrivals)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One line per arrival, for failure messages.
pub fn summary(arrivals: &[Arrival]) -> String {
    arrivals
        .iter()
        .map(|a| {
            format!(
                "{} {} #{} {:?} answered={}",
                a.name,
                a.event,
                a.attempt,
                a.action,
                a.answered.is_some()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn handle(mut stream: TcpStream, log: Arc<Mutex<Log>>, policy: Policy) {
    let Some(body) = read_request(&mut stream).await else {
        return;
    };
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let name = payload["name"].as_str().unwrap_or_default().to_owned();
    let id = payload["id"].as_str().unwrap_or_default().to_owned();
    let (index, action) = {
        let mut log = log.lock().expect("log");
        let attempt = {
            let n = log.attempts.entry(id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let action = policy(&name, attempt);
        log.arrivals.push(Arrival {
            name,
            event: payload["event"].as_str().unwrap_or_default().to_owned(),
            id,
            attempt,
            at: Instant::now(),
            action,
            answered: None,
        });
        (log.arrivals.len() - 1, action)
    };
    let status = match action {
        Action::Hang => std::future::pending::<u16>().await,
        Action::Reset => {
            let _ = stream.set_zero_linger();
            drop(stream);
            return;
        }
        Action::Delay(delay) => {
            tokio::time::sleep(delay).await;
            200
        }
        Action::Status(status) => status,
    };
    let response = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    if stream.write_all(response.as_bytes()).await.is_ok() && stream.flush().await.is_ok() {
        log.lock().expect("log").arrivals[index].answered = Some(Instant::now());
    }
    let _ = stream.shutdown().await;
}

/// Reads one request; returns its body.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let body_start = end + 4;
            while buf.len() < body_start + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf[body_start..body_start + length].to_vec());
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
