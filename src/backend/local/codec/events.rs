//! A job's events in the compact binary form of the journal's records and of the
//! snapshot's `events` rows (SPEC §13).
//!
//! Events stay in this form from the change that records them to the snapshot's row:
//! the journal writes them as they are, the changes waiting for a fold hold them as
//! bytes rather than as structures with their own allocations, and the fold appends
//! them to a job's stored row and trims its oldest by walking the bytes. They become
//! [`Event`]s only when somebody reads a job's history.

use super::{
    put_i64, put_opt_str, put_opt_u64, put_str, put_u64, reason_code, reason_from, Reader, NO_TIME,
};
use crate::domain::{
    DeliveryEvent, Event, EventKind, ExitCode, Origin, Output, RunId, Signal, SignalEvent, UnixTime,
};

/// The fewest bytes an event takes (its seq, time and kind): a count beyond what is
/// left at that size is damage.
const MIN_EVENT: usize = 17;

/// Events, oldest first, in their stored form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventBytes {
    count: u32,
    /// The events one after the other, without the count.
    bytes: Vec<u8>,
}

impl EventBytes {
    /// `events`, oldest first, in the stored form.
    pub fn encode(events: &[Event]) -> Result<Self, String> {
        let count = u32::try_from(events.len()).map_err(|_| "too many events".to_owned())?;
        let mut bytes = Vec::new();
        for event in events {
            put_event(&mut bytes, event)?;
        }
        Ok(Self { count, bytes })
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends the stored form, its count first, to `buf`.
    pub fn put(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.count.to_le_bytes());
        buf.extend_from_slice(&self.bytes);
    }

    /// A whole blob as [`EventBytes::put`] wrote it; `None` when damaged.
    pub fn from_stored(blob: &[u8]) -> Option<Self> {
        let mut r = Reader { bytes: blob };
        let events = Self::read(&mut r)?;
        r.bytes.is_empty().then_some(events)
    }

    /// Reads the stored form at `r`, checking each event's layout without building it.
    pub(super) fn read(r: &mut Reader<'_>) -> Option<Self> {
        let count = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
        if count as usize > r.bytes.len() / MIN_EVENT {
            return None;
        }
        let start = r.bytes;
        for _ in 0..count {
            skip_event(r)?;
        }
        let used = start.len() - r.bytes.len();
        Some(Self {
            count,
            bytes: start.get(..used)?.to_vec(),
        })
    }

    /// The events themselves; `None` when one of them does not read (a value out of
    /// its range).
    pub fn decode(&self) -> Option<Vec<Event>> {
        let mut r = Reader { bytes: &self.bytes };
        let mut events = Vec::with_capacity(self.len());
        for _ in 0..self.count {
            events.push(read_event(&mut r)?);
        }
        r.bytes.is_empty().then_some(events)
    }

    /// Appends `newer` (events recorded after all of these), then keeps the newest
    /// `keep`.
    pub fn append(&mut self, newer: &Self, keep: usize) -> Result<(), String> {
        self.bytes.extend_from_slice(&newer.bytes);
        self.count = self
            .count
            .checked_add(newer.count)
            .ok_or_else(|| "too many events".to_owned())?;
        self.keep_newest(keep)
    }

    /// Adds those events of `newer` that are newer than every event held (a journal
    /// segment replayed after its fold repeats events the row has), then keeps the
    /// newest `keep`. Returns whether any was added.
    pub fn merge(&mut self, newer: &Self, keep: usize) -> Result<bool, String> {
        let added = newer.newer_than(self.last_seq()?)?;
        if added.is_empty() {
            return Ok(false);
        }
        self.append(&added, keep)?;
        Ok(true)
    }

    /// The events whose seq is above `seq` (all of them for `None`). Events are in
    /// seq order, so they are a tail.
    pub fn newer_than(&self, seq: Option<u64>) -> Result<Self, String> {
        let Some(seq) = seq else {
            return Ok(self.clone());
        };
        let mut r = Reader { bytes: &self.bytes };
        let mut older = 0;
        while older < self.count {
            let rest = r.bytes;
            if skip_event(&mut r).ok_or_else(damaged)? > seq {
                r.bytes = rest;
                break;
            }
            older += 1;
        }
        Ok(Self {
            count: self.count - older,
            bytes: r.bytes.to_vec(),
        })
    }

    /// The seq of the oldest event held.
    pub fn first_seq(&self) -> Option<u64> {
        let head = self.bytes.get(..8)?;
        Some(u64::from_le_bytes(head.try_into().ok()?))
    }

    /// The seq of the newest event held.
    pub fn last_seq(&self) -> Result<Option<u64>, String> {
        let mut r = Reader { bytes: &self.bytes };
        let mut last = None;
        for _ in 0..self.count {
            last = Some(skip_event(&mut r).ok_or_else(damaged)?);
        }
        Ok(last)
    }

    /// Drops the oldest events beyond `keep`.
    fn keep_newest(&mut self, keep: usize) -> Result<(), String> {
        let Some(excess) = self.len().checked_sub(keep).filter(|&n| n > 0) else {
            return Ok(());
        };
        let mut r = Reader { bytes: &self.bytes };
        for _ in 0..excess {
            skip_event(&mut r).ok_or_else(damaged)?;
        }
        let cut = self.bytes.len() - r.bytes.len();
        self.bytes.drain(..cut);
        self.count = u32::try_from(keep).map_err(|_| "too many events".to_owned())?;
        Ok(())
    }
}

fn damaged() -> String {
    "damaged events".to_owned()
}

/// Steps over one event as [`put_event`] wrote it, checking its layout, and returns its
/// seq. It must read exactly what [`read_event`] reads: the tests hold them together.
fn skip_event(r: &mut Reader<'_>) -> Option<u64> {
    let seq = r.u64()?;
    r.i64()?;
    match r.u8()? {
        0 => {
            r.u8()?;
            r.opt_str()?;
            r.opt_str()?;
            r.opt_str()?;
            r.opt_u64()?;
            r.opt_u64()?;
            r.opt_str()?;
            r.i64()?;
        }
        1 | 4 | 6 => {}
        2 | 3 => {
            r.u8()?;
        }
        5 => {
            r.i64()?;
        }
        7 => {
            r.opt_str()?;
        }
        8 => {
            r.str()?;
            r.u8()?;
            r.str()?;
            r.u8()?;
            r.u64()?;
            r.opt_u64()?;
            r.opt_str()?;
        }
        _ => return None,
    }
    Some(seq)
}

fn put_event(buf: &mut Vec<u8>, event: &Event) -> Result<(), String> {
    put_u64(buf, event.seq);
    put_i64(buf, event.at.millis());
    match &event.kind {
        EventKind::Signal(s) => {
            buf.push(0);
            buf.push(match s.signal {
                Signal::Success => 0,
                Signal::Start => 1,
                Signal::Fail => 2,
                Signal::Log => 3,
            });
            put_opt_str(buf, s.origin.remote_addr.as_deref())?;
            put_opt_str(buf, s.origin.user_agent.as_deref())?;
            put_opt_str(buf, s.rid.as_ref().map(RunId::as_str))?;
            put_opt_u64(buf, s.exit_code.map(|c| u64::from(c.get())));
            put_opt_u64(buf, s.duration_ms);
            put_opt_str(buf, s.log.as_ref().map(Output::as_str))?;
            put_i64(buf, s.timestamp.map_or(NO_TIME, UnixTime::millis));
        }
        EventKind::Created => buf.push(1),
        EventKind::Down(reason) => {
            buf.push(2);
            buf.push(reason_code(*reason));
        }
        EventKind::Reminder(reason) => {
            buf.push(3);
            buf.push(reason_code(*reason));
        }
        EventKind::Up => buf.push(4),
        EventKind::Paused { until } => {
            buf.push(5);
            put_i64(buf, until.map_or(NO_TIME, UnixTime::millis));
        }
        EventKind::Resumed => buf.push(6),
        EventKind::Acknowledged { note } => {
            buf.push(7);
            put_opt_str(buf, note.as_deref())?;
        }
        EventKind::Delivery(d) => {
            buf.push(8);
            put_str(buf, &d.alert_id)?;
            buf.push(u8::from(d.event == "up"));
            put_str(buf, &d.channel)?;
            buf.push(u8::from(d.delivered));
            put_u64(buf, u64::from(d.attempts));
            put_opt_u64(buf, d.last_status.map(u64::from));
            put_opt_str(buf, d.last_error.as_deref())?;
        }
    }
    Ok(())
}

fn read_event(r: &mut Reader<'_>) -> Option<Event> {
    let seq = r.u64()?;
    let at = UnixTime::from_millis(r.i64()?)?;
    let kind = match r.u8()? {
        0 => {
            let signal = match r.u8()? {
                0 => Signal::Success,
                1 => Signal::Start,
                2 => Signal::Fail,
                3 => Signal::Log,
                _ => return None,
            };
            let origin = Origin {
                remote_addr: r.opt_str()?.map(Box::from),
                user_agent: r.opt_str()?.map(Box::from),
            };
            EventKind::Signal(Box::new(SignalEvent {
                signal,
                origin,
                rid: r.opt_str()?.map(RunId::parse).transpose().ok()?,
                exit_code: r
                    .opt_u64()?
                    .map(|c| u8::try_from(c).map(ExitCode::new))
                    .transpose()
                    .ok()?,
                duration_ms: r.opt_u64()?,
                log: r.opt_str()?.map(Output::from_stored),
                timestamp: r.time()?,
            }))
        }
        1 => EventKind::Created,
        2 => EventKind::Down(reason_from(r.u8()?)?),
        3 => EventKind::Reminder(reason_from(r.u8()?)?),
        4 => EventKind::Up,
        5 => EventKind::Paused { until: r.time()? },
        6 => EventKind::Resumed,
        7 => EventKind::Acknowledged {
            note: r.opt_str()?.map(str::to_owned),
        },
        8 => EventKind::Delivery(Box::new(DeliveryEvent {
            alert_id: r.str()?.to_owned(),
            event: if r.bool()? { "up" } else { "down" },
            channel: r.str()?.to_owned(),
            delivered: r.bool()?,
            attempts: u32::try_from(r.u64()?).ok()?,
            last_status: r.opt_u64()?.map(u16::try_from).transpose().ok()?,
            last_error: r.opt_str()?.map(str::to_owned),
        })),
        _ => return None,
    };
    Some(Event { seq, at, kind })
}
