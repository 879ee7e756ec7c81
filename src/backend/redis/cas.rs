//! Writing what the Rust side decided, atomically and only if each job is still as it
//! was read: a compare-and-set on the job's whole packed value (`store.lua`).
//!
//! The whole value serves as the version: it is the job's entire state, so a value
//! that is the same as when read means a state that is the same, and a decision made on
//! it still holds. A separate version field would have to be bumped by the quick path
//! of every plain ping too, for nothing more.

use redis::Value;

use super::codec;
use super::connection::{evalsha, key, unavailable, RedisLink};
use super::decode;
use crate::backend::BackendError;
use crate::domain::{Alert, Event, Status, UnixTime};

/// A job's wake-up after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    Unchanged,
    /// Nothing to wake for (a down job without reminders, a job that is gone).
    Remove,
    /// At this moment, unless one at or before it is already scheduled: the sweep
    /// re-arms a job woken early, so an early wake-up is harmless and keeps the write
    /// small.
    NoLaterThan(UnixTime),
    /// At exactly this moment.
    At(UnixTime),
}

/// A job's place in the `down` and `paused` sets after a change: they tell a job's
/// status to listings and counts without reading every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusSet {
    Unchanged,
    /// In the set of this status (none for `up`), out of the other.
    Into(Status),
}

impl StatusSet {
    /// The move of a job whose status was `old` (`None`: a new job) and is `new`.
    pub fn moved(old: Option<Status>, new: Status) -> Self {
        match old {
            Some(old) if old == new => StatusSet::Unchanged,
            None if new == Status::Up => StatusSet::Unchanged,
            _ => StatusSet::Into(new),
        }
    }
}

/// One job's change, as decided on the value `expected`.
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub name: String,
    /// The packed value the decision was made on; `None` when there was no such job.
    pub expected: Option<Vec<u8>>,
    /// The job's new packed value; `None` leaves it as it is.
    pub new: Option<String>,
    pub wake: Wake,
    pub status: StatusSet,
    /// The change creates the job, which `--max-services` may refuse.
    pub creates: bool,
    /// An alert raised by the change, with when it was raised.
    pub alert: Option<(Alert, UnixTime)>,
    /// The events the change records, oldest first, each its JSON line; empty when the
    /// history is off.
    pub events: Vec<String>,
}

impl Change {
    /// A change of `name` that writes nothing yet, decided on `expected`.
    pub fn on(name: &str, expected: Option<&[u8]>) -> Self {
        Self {
            name: name.to_owned(),
            expected: expected.map(<[u8]>::to_vec),
            new: None,
            wake: Wake::Unchanged,
            status: StatusSet::Unchanged,
            creates: false,
            alert: None,
            events: Vec::new(),
        }
    }
}

/// What became of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applied {
    /// The job changed since it was read (or an earlier change of it in the call was
    /// not applied): nothing was written; read it again and decide again.
    Conflict,
    /// Stored; `earliest` when the job's wake-up is now the first of all.
    Done { earliest: bool },
    /// A new job refused: `--max-services` jobs exist.
    Full,
}

/// The JSON lines of `events` as stored, oldest first; none when `history` is 0.
pub(super) fn lines(events: &[Event], history: usize) -> Vec<String> {
    if history == 0 {
        return Vec::new();
    }
    // Only the last `history` can stay: older ones would be trimmed at once.
    let skip = events.len().saturating_sub(history);
    events[skip..].iter().map(Event::to_line).collect()
}

/// Stores `changes` in one atomic call, in order, keeping the last `history` events of
/// each job; one answer a change.
pub(super) async fn store(
    core: &RedisLink,
    max_services: usize,
    history: usize,
    changes: &[Change],
) -> Result<Vec<Applied>, BackendError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = evalsha(&core.scripts.store, key("jobs"));
    cmd.arg(max_services).arg(history);
    for change in changes {
        cmd.arg(&change.name)
            .arg(change.expected.as_deref().unwrap_or_default())
            .arg(change.new.as_deref().unwrap_or_default());
        match change.wake {
            Wake::Unchanged => cmd.arg(""),
            Wake::Remove => cmd.arg("x"),
            Wake::NoLaterThan(at) => cmd.arg(format!("<{}", at.millis())),
            Wake::At(at) => cmd.arg(format!("={}", at.millis())),
        };
        cmd.arg(match change.status {
            StatusSet::Unchanged => "",
            StatusSet::Into(Status::Up) => "u",
            StatusSet::Into(Status::Down) => "d",
            StatusSet::Into(Status::Paused) => "p",
        })
        .arg(if change.creates { "1" } else { "" });
        // An alert goes with the keys of the channels that take it, one outbox entry
        // each; an alert no channel takes writes no entry.
        let entries = change
            .alert
            .as_ref()
            .map(|(alert, raised)| (alert, raised, core.fanout.channels_for(alert)))
            .filter(|(_, _, channels)| !channels.is_empty());
        match &entries {
            Some((_, _, channels)) => cmd.arg(channels.len()),
            None => cmd.arg(""),
        };
        cmd.arg(change.events.len());
        if let Some((alert, raised, channels)) = &entries {
            cmd.arg(&codec::alert_fields(alert, **raised)[..]);
            cmd.arg(&channels[..]);
        }
        cmd.arg(&change.events[..]);
    }
    let reply = core.eval_change("store", &core.scripts.store, &cmd).await?;
    let codes = decode::array(&reply)
        .filter(|codes| codes.len() == changes.len())
        .ok_or_else(|| unavailable("store reply", "not one answer a change"))?;
    codes
        .iter()
        .map(|code| match code {
            Value::Int(0) => Ok(Applied::Conflict),
            Value::Int(1) => Ok(Applied::Done { earliest: false }),
            Value::Int(2) => Ok(Applied::Done { earliest: true }),
            Value::Int(3) => Ok(Applied::Full),
            other => Err(unavailable("store reply", format!("{other:?}"))),
        })
        .collect()
}
