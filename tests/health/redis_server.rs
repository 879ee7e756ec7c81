//! A throwaway `redis-server` on a free port (no persistence unless asked), stopped on
//! drop, and a subscriber that records what arrives on channels.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Installs Debian's `redis-server` once when it is not on PATH and the tests run as
/// root, so that `cargo test` alone works on a fresh machine (`.ci/run` does the same).
fn ensure_installed() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let present = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if present || !root {
            return;
        }
        let quiet = |cmd: &mut Command| cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = quiet(Command::new("apt-get").arg("update"));
        let _ = quiet(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "redis-server"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
    });
}

/// A `redis-server` child process, installed on first use when missing (see
/// `ensure_installed`).
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// Persistence options, given again on every restart.
    persistence: Vec<String>,
}

impl RedisServer {
    /// Starts a server without persistence on a free port and waits until it answers.
    pub async fn start() -> Self {
        Self::start_with(&["--save", "", "--appendonly", "no"]).await
    }

    /// Starts a server with these persistence options (e.g. `--appendonly yes --dir
    /// DIR`) instead of none.
    pub async fn start_with(persistence: &[&str]) -> Self {
        ensure_installed();
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            port,
            child: None,
            persistence: persistence.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(&self.persistence)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it (apt-get install redis-server; \
                     .ci/run does this when it is missing)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within 10 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (SIGKILL): connections drop at once and the port closes.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal to the server (`STOP` freezes it, `CONT` thaws it).
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// A connection for commands.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis-server")
    }

    async fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let attempt = async {
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .ok()
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), attempt).await,
            Ok(Some(_))
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One message received on a channel.
#[derive(Debug, Clone)]
pub struct Message {
    pub channel: String,
    pub body: Value,
    pub at: Instant,
}

/// A real subscriber (the redis crate's pubsub on its own thread). It is subscribed
/// when `start` returns; it ends when its server goes away.
pub struct Subscriber {
    messages: Arc<Mutex<Vec<Message>>>,
}

impl Subscriber {
    pub async fn start(server: &RedisServer, channels: &[&str]) -> Self {
        let url = server.url();
        let channels: Vec<String> = channels.iter().map(|c| (*c).to_owned()).collect();
        let messages: Arc<Mutex<Vec<Message>>> = Arc::default();
        let (ready, subscribed) = tokio::sync::oneshot::channel();
        let sink = messages.clone();
        std::thread::spawn(move || {
            let connected = redis::Client::open(url).and_then(|c| c.get_connection());
            let mut conn = match connected {
                Ok(conn) => conn,
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                    return;
                }
            };
            // The PubSub must live as long as the loop: dropping it unsubscribes.
            let mut pubsub = conn.as_pubsub();
            if let Err(e) = pubsub.subscribe(&channels) {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
            let _ = ready.send(Ok(()));
            while let Ok(msg) = pubsub.get_message() {
                let text: String = msg.get_payload().unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                sink.lock().expect("lock").push(Message {
                    channel: msg.get_channel_name().to_owned(),
                    body,
                    at: Instant::now(),
                });
            }
        });
        subscribed
            .await
            .expect("subscriber thread")
            .expect("subscribe");
        Self { messages }
    }

    /// Everything received on `channel` so far.
    pub fn on(&self, channel: &str) -> Vec<Message> {
        self.messages
            .lock()
            .expect("lock")
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect()
    }

    /// Waits until a message on `channel` matches `wanted`, and returns it.
    pub async fn wait_for(
        &self,
        channel: &str,
        wanted: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Message {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.on(channel).into_iter().find(|m| wanted(&m.body)) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no matching message on {channel} within {timeout:?}; got {:#?}",
                self.on(channel).iter().map(|m| &m.body).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until `n` messages arrived on `channel`, and returns them.
    pub async fn wait_count(&self, channel: &str, n: usize, timeout: Duration) -> Vec<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.on(channel);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages on {channel} within {timeout:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
