//! Pings reach Redis in batches: one `EVALSHA` of the ping script takes every ping
//! queued since the last call was sent, in arrival order. It records the usual ones on
//! its quick path and hands the others back with their job's value; those are decided
//! in Rust and stored with one compare-and-set call ([`ping_rules`](super::ping_rules))
//! before the next batch goes out, so that a job's pings are applied in the order they
//! came.
//!
//! A ping alone is sent at once. Under load the batches form by themselves: at most
//! [`IN_FLIGHT`] calls are out at a time, and what arrives meanwhile goes in the next
//! call. Each call costs Redis a script start and the replica a command, a reply and
//! two task wake-ups, so sharing them is most of what a replica saves at high rates.
//! Nothing changes for the guarantees: a ping is answered only with Redis's reply to the
//! call that carried it, and a failed call fails every ping in it (503).

use std::sync::Arc;
use std::time::Instant;

use redis::Value;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use super::connection::{evalsha, key, millis, RedisLink, OP_TIMEOUT};
use super::ping_rules::{self, Decided, Left, Settings};
use super::LIVENESS_GAP;
use crate::backend::{BackendError, Ping, PingOutcome};
use crate::domain::{Event, EventKind, Signal, SignalEvent, UnixTime};

/// Calls sent and not yet answered at once. One: Redis's fixed cost is per call, and
/// the pings that arrive during a round trip make the next batch (the figures are in
/// the benchmark docs). It also keeps a job's pings in order across calls: a call's
/// pings left to Rust are stored before the next call goes out.
const IN_FLIGHT: usize = 1;
/// The most pings in one call: Redis runs nothing else while a script runs (a few µs
/// a ping), and the script's arguments grow with it.
const MAX_BATCH: usize = 64;
/// A call marks the deployment alive at most this often (unix ms): the dispatcher's
/// look for alerts does it every second anyway.
const HEARTBEAT_EVERY_MS: i64 = 500;

struct Queued {
    ping: Ping,
    now: UnixTime,
    /// The ping is answered 503 if Redis has not answered it by then.
    deadline: Instant,
    reply: oneshot::Sender<Result<Decided, BackendError>>,
}

/// The queue in front of the ping script, and the task that empties it.
pub(super) struct Batcher {
    queue: mpsc::UnboundedSender<Queued>,
}

impl Batcher {
    /// Starts the sending task; it stops when the batcher is dropped.
    pub(super) fn start(core: Arc<RedisLink>, settings: Settings) -> Self {
        let (queue, queued) = mpsc::unbounded_channel();
        tokio::spawn(run(core, queued, settings));
        Self { queue }
    }

    /// Records `ping` and answers with what it did, or fails within
    /// [`OP_TIMEOUT`] of the call, queueing included.
    ///
    /// The bound is kept by the sending task (one timer a call, not one a ping): a ping
    /// still queued at its deadline is failed before it is sent, and a call may take no
    /// longer than the earliest deadline among its pings.
    pub(super) async fn send(&self, ping: Ping, now: UnixTime) -> Result<Decided, BackendError> {
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + OP_TIMEOUT;
        self.queue
            .send(Queued {
                ping,
                now,
                deadline,
                reply,
            })
            .map_err(|_| BackendError::Unavailable("the ping queue is closed".to_owned()))?;
        answer.await.unwrap_or_else(|_| {
            Err(BackendError::Unavailable(
                "the ping was dropped unanswered".to_owned(),
            ))
        })
    }
}

async fn run(
    core: Arc<RedisLink>,
    mut queued: mpsc::UnboundedReceiver<Queued>,
    settings: Settings,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut heartbeat_ms = 0;
    while let Some(first) = queued.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        // Gathered once a call may go, so that the batch holds everything that came
        // while the others were out.
        let mut batch = Vec::with_capacity(MAX_BATCH.min(queued.len() + 1));
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // A caller that gave up (its request timed out or its client left) has been
        // answered: its ping is not sent late. One whose time ran out while it waited
        // for the slot (the call before took that long) gets its 503 now.
        batch.retain(|queued| !queued.reply.is_closed());
        let started = Instant::now();
        let (late, batch): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|queued| queued.deadline <= started);
        if !late.is_empty() {
            core.mark_timed_out();
            fail(late, &timed_out());
        }
        let Some(deadline) = batch.iter().map(|queued| queued.deadline).min() else {
            continue;
        };
        let Some(now) = batch.iter().map(|queued| queued.now.millis()).max() else {
            continue;
        };
        let heartbeat = now.abs_diff(heartbeat_ms) >= HEARTBEAT_EVERY_MS as u64;
        if heartbeat {
            heartbeat_ms = now;
        }
        let cmd = command(&core, &batch, heartbeat.then_some(now), settings.history);
        tokio::spawn(flush(
            Arc::clone(&core),
            cmd,
            batch,
            deadline,
            slot,
            settings,
        ));
    }
}

/// The script call for `batch`. ARGV: prefix, liveness gap ms ('' for no heartbeat),
/// the heartbeat's time, the history kept, then eight values a ping (see ping.lua).
fn command(
    core: &RedisLink,
    batch: &[Queued],
    heartbeat_at: Option<i64>,
    history: usize,
) -> redis::Cmd {
    let mut cmd = evalsha(&core.scripts.ping, key("wake"));
    match heartbeat_at {
        Some(at) => cmd.arg(millis(LIVENESS_GAP)).arg(at),
        None => cmd.arg("").arg(""),
    };
    cmd.arg(history);
    for Queued { ping, now, .. } in batch {
        cmd.arg(ping.name.as_str());
        match &ping.frequency {
            Some(f) => cmd.arg(f.as_str()).arg(f.seconds()),
            None => cmd.arg("").arg(""),
        };
        match ping.grace {
            Some(g) => cmd.arg(g.seconds()),
            None => cmd.arg(""),
        };
        match ping.at {
            Some(at) => cmd.arg(at.millis()),
            None => cmd.arg(""),
        };
        // Only a plain ping may take the quick path, with its event; the rest are
        // decided in Rust.
        let event = if ping.want_job || !ping.is_plain() {
            None
        } else if history == 0 {
            Some(String::new())
        } else {
            quick_event(ping, *now)
        };
        cmd.arg(now.millis())
            .arg(if event.is_some() { "" } else { "1" })
            .arg(event.unwrap_or_default());
    }
    cmd
}

/// The event of a plain ping recorded at `now` on the quick path, as its JSON line
/// without the leading `{"seq":N,`, which the script writes with the seq it counts;
/// `None` if the line does not begin with the seq (the ping then goes to Rust).
fn quick_event(ping: &Ping, now: UnixTime) -> Option<String> {
    let event = Event {
        seq: 0,
        at: now,
        kind: EventKind::Signal(Box::new(SignalEvent {
            signal: Signal::Success,
            origin: ping.origin.clone(),
            rid: None,
            exit_code: None,
            duration_ms: None,
            log: None,
            timestamp: ping.at,
        })),
    };
    event.to_line().strip_prefix(SEQ_ZERO).map(str::to_owned)
}

/// How an event's JSON line begins before its seq is known.
const SEQ_ZERO: &str = "{\"seq\":0,";

/// Sends the call, answers the pings recorded on the quick path, then decides and
/// stores the others; the slot is held until all of them are stored.
async fn flush(
    core: Arc<RedisLink>,
    cmd: redis::Cmd,
    batch: Vec<Queued>,
    deadline: Instant,
    slot: OwnedSemaphorePermit,
    settings: Settings,
) {
    let call = core.eval_change("ping", &core.scripts.ping, &cmd);
    let result = match tokio::time::timeout_at(deadline.into(), call).await {
        Ok(result) => result,
        Err(_) => {
            core.mark_timed_out();
            Err(BackendError::Unavailable(timed_out()))
        }
    };
    let replies = match result {
        Ok(Value::Array(replies)) if replies.len() == batch.len() => replies,
        Ok(other) => {
            let got = match &other {
                Value::Array(replies) => replies.len().to_string(),
                _ => "no list".to_owned(),
            };
            let reason = format!(
                "the ping script answered {got} instead of {} replies",
                batch.len()
            );
            return fail(batch, &reason);
        }
        Err(BackendError::Unavailable(reason)) => return fail(batch, &reason),
    };
    let mut left = Vec::new();
    let mut waiting = Vec::new();
    for (queued, reply) in batch.into_iter().zip(replies) {
        let value = match reply {
            // Recorded on the quick path; the integer says whether its wake-up is first.
            Value::Int(earliest) => {
                // The caller may have given up meanwhile.
                let _ = queued.reply.send(Ok(Decided {
                    outcome: PingOutcome::Acknowledged,
                    earliest: earliest == 1,
                }));
                continue;
            }
            Value::Nil => None,
            Value::BulkString(value) => Some(value),
            other => {
                let reason = format!("the ping script answered {other:?}");
                let _ = queued.reply.send(Err(BackendError::Unavailable(reason)));
                continue;
            }
        };
        left.push(Left {
            ping: queued.ping,
            now: queued.now,
            value,
        });
        waiting.push(queued.reply);
    }
    if left.is_empty() {
        return;
    }
    let recorded = ping_rules::record(&core, &settings, left);
    let answers = match tokio::time::timeout_at(deadline.into(), recorded).await {
        Ok(answers) => answers,
        Err(_) => {
            core.mark_timed_out();
            waiting
                .iter()
                .map(|_| Err(BackendError::Unavailable(timed_out())))
                .collect()
        }
    };
    drop(slot);
    for (reply, answer) in waiting.into_iter().zip(answers) {
        let _ = reply.send(answer);
    }
}

fn timed_out() -> String {
    format!(
        "redis did not answer ping within {} s",
        OP_TIMEOUT.as_secs()
    )
}

/// Answers every ping of a failed call with the call's failure.
fn fail(batch: Vec<Queued>, reason: &str) {
    for queued in batch {
        let _ = queued
            .reply
            .send(Err(BackendError::Unavailable(reason.to_owned())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobName, Origin};

    #[test]
    fn a_quick_event_numbered_by_the_script_is_the_event_line() {
        let at = UnixTime::from_millis(1_795_143_600_123).unwrap();
        for timestamp in [None, Some(UnixTime::from_secs(1_795_143_590).unwrap())] {
            let mut ping = Ping::new(JobName::parse("backup").unwrap());
            ping.at = timestamp;
            ping.origin = Origin {
                remote_addr: Some("10.0.0.1".into()),
                user_agent: Some("curl/8 \"quoted\"".into()),
            };
            let line = quick_event(&ping, at).expect("a line");
            let event = Event {
                seq: 42,
                at,
                kind: EventKind::Signal(Box::new(SignalEvent {
                    signal: Signal::Success,
                    origin: ping.origin.clone(),
                    rid: None,
                    exit_code: None,
                    duration_ms: None,
                    log: None,
                    timestamp,
                })),
            };
            assert_eq!(format!("{{\"seq\":42,{line}"), event.to_line());
        }
    }
}
