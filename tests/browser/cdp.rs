//! The DevTools protocol over the browser's pipe: commands with ids and their answers,
//! and a log of every event, read by one task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{oneshot, Notify};

/// A command waits this long for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One event the browser sent.
#[derive(Debug, Clone)]
pub struct Event {
    /// The target session it belongs to; `None` for the browser's own.
    pub session: Option<String>,
    pub method: String,
    pub params: Value,
}

type Answer = Result<Value, String>;

/// The connection to one browser; cheap to clone. When the last clone is dropped the
/// command pipe closes, and the browser quits.
#[derive(Clone)]
pub struct Connection {
    input: Arc<tokio::sync::Mutex<ChildStdin>>,
    inner: Arc<Inner>,
}

/// What the reading task shares with callers; not the command pipe, so that the task
/// does not keep the browser alive.
struct Inner {
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    events: Mutex<Vec<Event>>,
    arrived: Notify,
    closed: AtomicBool,
}

impl Connection {
    /// Starts reading `output` on a task of the current runtime.
    pub fn new(input: ChildStdin, output: ChildStdout) -> Connection {
        let inner = Arc::new(Inner {
            next_id: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(read(Arc::clone(&inner), output));
        Connection {
            input: Arc::new(tokio::sync::Mutex::new(input)),
            inner,
        }
    }

    /// Sends `method` to the browser (`session` None) or to a page's session, and waits
    /// for its result; the protocol's error message otherwise.
    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Answer {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(format!("{method}: the browser has gone"));
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let (answer, answered) = oneshot::channel();
        self.inner.waiting.lock().unwrap().insert(id, answer);
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        {
            let mut input = self.input.lock().await;
            if let Err(e) = input.write_all(&bytes).await {
                return Err(format!("{method}: cannot write to the browser: {e}"));
            }
            let _ = input.flush().await;
        }
        match tokio::time::timeout(CALL_TIMEOUT, answered).await {
            Ok(Ok(answer)) => answer.map_err(|e| format!("{method}: {e}")),
            Ok(Err(_)) => Err(format!("{method}: the browser closed the pipe")),
            Err(_) => Err(format!("{method}: no answer within {CALL_TIMEOUT:?}")),
        }
    }

    /// How many events have arrived so far: a cursor for [`Connection::events_since`].
    pub fn cursor(&self) -> usize {
        self.inner.events.lock().unwrap().len()
    }

    /// The events after `cursor`.
    pub fn events_since(&self, cursor: usize) -> Vec<Event> {
        let events = self.inner.events.lock().unwrap();
        events.get(cursor..).unwrap_or_default().to_vec()
    }

    /// Waits until an event after `cursor` satisfies `wanted`, and returns it.
    pub async fn wait_event(
        &self,
        cursor: usize,
        timeout: Duration,
        what: &str,
        wanted: impl Fn(&Event) -> bool,
    ) -> Event {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the log is read, so that no event slips between.
            let arrived = self.inner.arrived.notified();
            if let Some(event) = self.events_since(cursor).into_iter().find(|e| wanted(e)) {
                return event;
            }
            assert!(
                !self.inner.closed.load(Ordering::SeqCst),
                "the browser went away while waiting for {what}"
            );
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{what} did not happen within {timeout:?}");
            }
        }
    }
}

/// Reads NUL-ended messages until the pipe closes: answers go to their callers, events
/// into the log.
async fn read(inner: Arc<Inner>, output: ChildStdout) {
    let mut output = BufReader::with_capacity(1 << 20, output);
    let mut message = Vec::new();
    loop {
        message.clear();
        match output.read_until(0, &mut message).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if message.last() == Some(&0) {
            message.pop();
        }
        let Ok(value) = serde_json::from_slice::<Value>(&message) else {
            continue;
        };
        if let Some(id) = value.get("id").and_then(Value::as_u64) {
            let waiter = inner.waiting.lock().unwrap().remove(&id);
            if let Some(waiter) = waiter {
                let answer = match value.get("error") {
                    Some(error) => Err(error["message"]
                        .as_str()
                        .map_or_else(|| error.to_string(), str::to_owned)),
                    None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
                };
                let _ = waiter.send(answer);
            }
        } else if let Some(method) = value.get("method").and_then(Value::as_str) {
            let event = Event {
                session: value
                    .get("sessionId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                method: method.to_owned(),
                params: value.get("params").cloned().unwrap_or(Value::Null),
            };
            inner.events.lock().unwrap().push(event);
            inner.arrived.notify_waiters();
        }
    }
    inner.closed.store(true, Ordering::SeqCst);
    // Callers still waiting learn that no answer will come.
    inner.waiting.lock().unwrap().clear();
    inner.arrived.notify_waiters();
}
