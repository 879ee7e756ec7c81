//! Helpers for replica tests: a runtime for the Redis helper, a shared HTTP client,
//! and a summary of what the webhook received.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::common::Received;
use crate::harness::Server;

/// How long any single wait may take: the test machine is small and busy.
pub const WAIT: Duration = Duration::from_secs(20);

/// A runtime for the async `RedisServer` helper, owned by a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One client for many requests: keep-alive, so thousands of pings stay cheap.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(4)
        .build()
        .expect("http client")
}

/// `GET /ping` through `server`; the status.
pub fn ping(client: &reqwest::blocking::Client, server: &Server, params: &[(&str, &str)]) -> u16 {
    client
        .get(server.url("/ping"))
        .query(params)
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// `GET` a JSON document through `server`.
pub fn json(client: &reqwest::blocking::Client, server: &Server, path: &str) -> Value {
    client
        .get(server.url(path))
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Sleeps until the wall clock reads `at_ms`.
pub fn sleep_until_ms(at_ms: i64) {
    let wait = at_ms - now_ms();
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
}

/// Every alert received, keyed by (job, event, alert_count), with the ids seen for it
/// and how many times it arrived.
#[derive(Default)]
pub struct Alerts {
    pub by_key: BTreeMap<(String, String, u64), (BTreeSet<String>, usize)>,
}

impl Alerts {
    pub fn of(received: &[Received]) -> Self {
        let mut alerts = Self::default();
        for r in received {
            let key = (
                r.body["name"].as_str().unwrap_or_default().to_owned(),
                r.body["event"].as_str().unwrap_or_default().to_owned(),
                r.body["alert_count"].as_u64().unwrap_or(0),
            );
            let entry = alerts.by_key.entry(key).or_default();
            entry
                .0
                .insert(r.body["id"].as_str().unwrap_or_default().to_owned());
            entry.1 += 1;
        }
        alerts
    }

    pub fn has(&self, job: &str, event: &str, count: u64) -> bool {
        self.by_key
            .contains_key(&(job.to_owned(), event.to_owned(), count))
    }

    /// Keys that arrived with more than one id: the same alert raised twice.
    pub fn raised_twice(&self) -> Vec<String> {
        self.by_key
            .iter()
            .filter(|(_, (ids, _))| ids.len() > 1)
            .map(|((job, event, count), (ids, _))| format!("{job} {event} #{count}: {ids:?}"))
            .collect()
    }

    /// Deliveries beyond the first of each alert (at-least-once redeliveries).
    pub fn redelivered(&self) -> usize {
        self.by_key.values().map(|(_, n)| n - 1).sum()
    }
}
