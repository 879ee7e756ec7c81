//! What the dispatcher tells the rest of the monitor: how each delivery attempt ended
//! (for the health indicators and metrics that observe it) and each channel's counters
//! (for `GET /channels` and `/health`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::channels::{Channel, Outcome};
use crate::domain::Alert;
use crate::sync::lock;

/// Of an error kept for `GET /channels`, at most this many characters.
const LAST_ERROR_CHARS: usize = 300;

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx (or written to the log when no channel is set).
    Delivered,
    /// Failed; the alert will be tried again.
    Retrying,
    /// The channel refused it (a 4xx other than 408 and 429, a 3xx, an SMTP 5xx): not
    /// retried.
    Refused,
    /// Still failing 24 h after it was raised: dropped.
    GaveUp,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retrying => "retrying",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::GaveUp => "gave_up",
        }
    }
}

/// One delivery attempt to one channel, as the observers see it.
#[derive(Debug, Clone)]
pub struct AttemptReport<'a> {
    pub alert: &'a Alert,
    /// 1 for the first attempt of this alert.
    pub attempt: u32,
    pub outcome: AttemptOutcome,
    /// How long the attempt took (the service's round trip).
    pub elapsed: Duration,
    /// The service's HTTP status, when it answered one.
    pub status: Option<u16>,
    /// `false` when no channel is configured and the alert went to the log.
    pub to_webhook: bool,
    /// The channel's name (`slack:hooks.slack.com`); `None` when logged.
    pub channel: Option<&'a str>,
    /// Whether this is the first report of this attempt of the alert (an alert's
    /// attempt is reported once per channel).
    pub first_of_attempt: bool,
}

/// Watches delivery attempts: health indicators, metrics and publishers implement it.
/// Called on the delivery task after each attempt; it must not block.
pub trait DeliveryObserver: Send + Sync {
    fn attempt(&self, report: &AttemptReport<'_>);
}

/// One channel's counters since the start, for `GET /channels` and `/health`.
#[derive(Debug, Default)]
pub struct ChannelStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// Failed attempts since the last success.
    consecutive_failures: AtomicU32,
    last_error: Mutex<Option<String>>,
}

impl ChannelStats {
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Failed attempts (retried, refused or given up).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    /// Delivered attempts over all attempts, in percent; `None` before the first.
    pub fn success_rate_percent(&self) -> Option<f64> {
        let delivered = self.delivered();
        let total = delivered + self.failed();
        #[allow(clippy::cast_precision_loss)]
        (total > 0).then(|| (delivered as f64) * 100.0 / (total as f64))
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    pub(super) fn record(&self, outcome: &Outcome) {
        match outcome.error() {
            None => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
            Some(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                *lock(&self.last_error) = Some(error.chars().take(LAST_ERROR_CHARS).collect());
            }
        }
    }
}

/// The configured channels and their counters: shared by the dispatcher, which
/// counts, and the HTTP routes, which show. Cheap to clone.
#[derive(Clone)]
pub struct DispatcherStats {
    pub(super) channels: Arc<[Channel]>,
    pub(super) stats: Arc<[ChannelStats]>,
}

impl DispatcherStats {
    pub fn new(channels: Vec<Channel>) -> Self {
        let stats = channels.iter().map(|_| ChannelStats::default()).collect();
        Self {
            channels: channels.into(),
            stats,
        }
    }

    /// Each channel with its counters, in configuration order.
    pub fn channels(&self) -> impl Iterator<Item = (&Channel, &ChannelStats)> {
        self.channels.iter().zip(self.stats.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}
