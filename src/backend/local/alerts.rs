//! The local store's outbox of durable alerts and the dispatcher's wake-up: what the
//! journal's listener publishes into once a change is durable, and what the in-memory
//! store publishes into at once.
//!
//! Only durable alerts enter it, so a delivery can never precede the write that a
//! restart would need.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::journal::Op;
use crate::backend::outbox::Outbox;
use crate::sync::lock;

/// The alerts that are durable and not yet delivered, and the dispatcher to wake when
/// one is added. Shared with the journal's listener, which publishes changes once
/// they are durable.
pub(super) struct Alerts {
    outbox: Mutex<Outbox>,
    dispatcher: Arc<Notify>,
}

impl Alerts {
    pub(super) fn new(dispatcher: Arc<Notify>) -> Self {
        Self {
            outbox: Mutex::default(),
            dispatcher,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Outbox> {
        lock(&self.outbox)
    }

    /// Makes durable changes visible to the dispatcher, in order: queues new alerts,
    /// drops a deleted job's, and wakes the dispatcher when an alert was queued.
    /// Returns whether one was.
    pub(super) fn publish(&self, ops: Vec<Op>) -> bool {
        let mut outbox = self.lock();
        let mut queued = false;
        for op in ops {
            match op {
                Op::OutboxPut(p) => {
                    outbox.push(p);
                    queued = true;
                }
                Op::Delete(name) => outbox.drop_job(&name),
                _ => {}
            }
        }
        drop(outbox);
        if queued {
            self.dispatcher.notify_one();
        }
        queued
    }
}
