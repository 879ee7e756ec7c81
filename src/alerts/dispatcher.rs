//! Delivers the outbox's entries, one per alert and channel: each channel has its own
//! slots (deliveries in flight at once), so a channel that hangs or fails fills only
//! its own and never delays another; each entry retries with exponential backoff and
//! gives up on its own; the store hands out only the head of each job and channel's
//! queue, so per job and channel alerts go out in the order raised. An entry leaves
//! the outbox only after its channel took or refused it, or when it gives up, so a
//! restart never loses one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::channels::{Channel, ChannelKind, Outcome, Transports};
use super::delivery_stats::{AttemptOutcome, AttemptReport, DeliveryObserver, DispatcherStats};
use crate::backend::{Backend, Delivery, PendingAlert, Wakers};
use crate::domain::{Alert, DeliveryEvent, UnixTime};
use crate::sync::lock;

/// Deliveries in flight at once over all channels, shared out evenly between them;
/// one per job and channel at most. Each delivery costs the process CPU (the request,
/// its acknowledgement and its history event) that pings share: more channels do not
/// multiply it, so a burst through several channels takes no more of the pings' share
/// than one through a single channel.
const CONCURRENCY: usize = 64;
/// Slots each channel keeps however many there are: its own, so that a channel that
/// hangs fills only these, and enough for a burst to drain well within its bound.
const MIN_CHANNEL_SLOTS: usize = 16;
/// How long an entry whose channel has no free slot waits before it is offered again.
const DEFER: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// An alert that could not be delivered for this long is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long shutdown waits for deliveries in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Of why a delivery failed, at most this much is kept in its event.
const ERROR_EVENT_BYTES: usize = 300;

/// Where one leased entry goes.
enum Target {
    /// The channel at this index of the configuration.
    Channel(usize),
    /// The log: no channel is configured.
    Log,
    /// An entry for a channel that is no longer configured.
    Gone,
}

pub struct Dispatcher {
    backend: Arc<dyn Backend>,
    signals: Wakers,
    stats: DispatcherStats,
    transports: Transports,
    observers: Vec<Arc<dyn DeliveryObserver>>,
    /// Per channel (configuration order), its free delivery slots.
    slots: Vec<Arc<Semaphore>>,
    /// The log's slots, when no channel is configured.
    log_slots: Arc<Semaphore>,
    /// Each channel's index by its key.
    by_key: HashMap<String, usize>,
    /// Where entries with the empty key go: `PING_ALERT_URI`'s channel (see
    /// [`Channel::outbox_key`]), or the log when it is unset.
    legacy: Option<usize>,
    /// Keys of channels no longer configured that were already logged, so that each is
    /// logged once.
    gone: Mutex<HashSet<String>>,
}

impl Dispatcher {
    pub fn new(
        backend: Arc<dyn Backend>,
        signals: Wakers,
        stats: DispatcherStats,
        transports: Transports,
        observers: Vec<Arc<dyn DeliveryObserver>>,
    ) -> Self {
        let per_channel = channel_slots(stats.channels.len());
        let slots = stats
            .channels
            .iter()
            .map(|_| Arc::new(Semaphore::new(per_channel)))
            .collect();
        let by_key = stats
            .channels
            .iter()
            .enumerate()
            .filter(|(_, channel)| !channel.outbox_key().is_empty())
            .map(|(i, channel)| (channel.outbox_key().to_owned(), i))
            .collect();
        let legacy = stats.channels.iter().position(Channel::is_alert_uri);
        Self {
            backend,
            signals,
            stats,
            transports,
            observers,
            slots,
            log_slots: Arc::new(Semaphore::new(CONCURRENCY)),
            by_key,
            legacy,
            gone: Mutex::new(HashSet::new()),
        }
    }

    /// Free slots over every channel (or the log's): how many entries to lease.
    fn free_slots(&self) -> usize {
        if self.slots.is_empty() {
            self.log_slots.available_permits()
        } else {
            self.slots.iter().map(|s| s.available_permits()).sum()
        }
    }

    fn target(&self, pending: &PendingAlert) -> Target {
        if pending.channel.is_empty() {
            return self.legacy.map_or(Target::Log, Target::Channel);
        }
        match self.by_key.get(&pending.channel) {
            Some(&index) => Target::Channel(index),
            None => Target::Gone,
        }
    }

    /// Delivers until `shutdown`, then gives deliveries in flight up to 5 s; what is not
    /// delivered by then stays in the outbox for the next start.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut tasks = JoinSet::new();
        let mut waiting = Waiting::new(this.slots.len());
        loop {
            while tasks.try_join_next().is_some() {}
            let mut deferred = Vec::new();
            this.start_waiting(&mut waiting, &mut tasks, &mut deferred);
            let free = this.free_slots();
            if free > 0 {
                let leased = match this.backend.lease_alerts(UnixTime::now(), free).await {
                    Ok(leased) => leased,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot lease alerts; retrying shortly");
                        Vec::new()
                    }
                };
                for pending in leased {
                    let (slots, index) = match this.target(&pending) {
                        Target::Channel(index) => (this.slots.get(index).cloned(), Some(index)),
                        Target::Log => (Some(this.log_slots.clone()), None),
                        Target::Gone => {
                            let this = this.clone();
                            tasks.spawn(async move { this.drop_gone(pending).await });
                            continue;
                        }
                    };
                    match slots.map(Semaphore::try_acquire_owned) {
                        Some(Ok(permit)) => this.start(&mut tasks, pending, permit),
                        // Its channel is busy: it waits here for the channel's next free
                        // slot, or, when too many already wait, is offered again shortly.
                        _ => {
                            if let Some(pending) = index.and_then(|i| waiting.push(i, pending)) {
                                deferred.push(pending);
                            }
                        }
                    }
                }
            }
            if !deferred.is_empty() {
                let this = this.clone();
                tasks.spawn(async move { this.defer(deferred).await });
            }
            let wait = this
                .backend
                .next_alert_at()
                .await
                .map(|at| UnixTime::now().until(at))
                .unwrap_or(Duration::from_secs(60))
                // The floor keeps a store that fails to lease from turning this into a spin.
                .clamp(Duration::from_millis(5), Duration::from_secs(60));
            let expiry = waiting.next_expiry();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = this.signals.dispatcher.notified() => {}
                () = tokio::time::sleep(wait), if this.free_slots() > 0 => {}
                () = sleep_until_or_never(expiry) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        // Entries that waited for a slot are handed back at once, so that another
        // replica can take them without waiting for their lease to run out.
        let left = waiting.drain();
        if !left.is_empty() {
            let this = this.clone();
            tasks.spawn(async move { this.defer_until(left, UnixTime::now()).await });
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                in_flight = tasks.len(),
                "alert deliveries still running at shutdown stay queued for the next start"
            );
            tasks.abort_all();
        }
    }

    /// Starts the entries waiting for a slot whose channel has one now, in the order
    /// they came; those that waited [`DEFER`] go to `deferred`.
    fn start_waiting(
        self: &Arc<Self>,
        waiting: &mut Waiting,
        tasks: &mut JoinSet<()>,
        deferred: &mut Vec<PendingAlert>,
    ) {
        for (index, slots) in self.slots.iter().enumerate() {
            deferred.extend(waiting.expired(index));
            while waiting.has(index) {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    break;
                };
                if let Some(pending) = waiting.pop(index) {
                    self.start(tasks, pending, permit);
                }
            }
        }
    }

    /// One delivery on a task of its own, holding a slot of its channel until it ends.
    fn start(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        pending: PendingAlert,
        permit: OwnedSemaphorePermit,
    ) {
        let this = self.clone();
        tasks.spawn(async move {
            this.deliver(pending).await;
            drop(permit);
        });
    }

    /// Hands entries whose channel had no free slot back to the store, without an
    /// attempt counted, to be offered again after [`DEFER`].
    async fn defer(&self, entries: Vec<PendingAlert>) {
        self.defer_until(entries, UnixTime::now().plus_millis(millis(DEFER)))
            .await;
    }

    async fn defer_until(&self, entries: Vec<PendingAlert>, at: UnixTime) {
        for pending in entries {
            if let Err(e) = self
                .backend
                .finish_alert(&pending, Delivery::Deferred(at))
                .await
            {
                tracing::warn!(alert_id = %pending.alert.id, error = %e, "could not defer an alert");
            }
        }
    }

    /// An entry for a channel that is no longer configured (the `--notify` list changed
    /// across a restart): dropped, with one warning per channel and a `gave_up`
    /// delivery event in the job's history.
    async fn drop_gone(&self, pending: PendingAlert) {
        // The key is `name#hash`: its name is safe to show, as every channel name is.
        let name = pending
            .channel
            .split_once('#')
            .map_or(pending.channel.as_str(), |(name, _)| name)
            .to_owned();
        if lock(&self.gone).insert(pending.channel.clone()) {
            tracing::warn!(
                channel = %name,
                "alerts queued for a channel that is no longer configured are dropped"
            );
        }
        if let Err(e) = self.backend.finish_alert(&pending, Delivery::GaveUp).await {
            tracing::error!(alert_id = %pending.alert.id, error = %e, "could not record the delivery outcome");
        }
        let alert = &pending.alert;
        let event = DeliveryEvent {
            alert_id: alert.id.to_string(),
            event: alert.event.as_str(),
            channel: name,
            delivered: false,
            attempts: pending.attempts,
            last_status: None,
            last_error: Some("the channel is no longer configured".to_owned()),
        };
        self.write_event(alert, event);
    }

    async fn deliver(&self, pending: PendingAlert) {
        let outcome = match self.target(&pending) {
            Target::Channel(index) => self.to_channel(&pending, index).await,
            Target::Log | Target::Gone => self.log_only(&pending),
        };
        if let Err(e) = self.backend.finish_alert(&pending, outcome).await {
            tracing::error!(alert_id = %pending.alert.id, error = %e, "could not record the delivery outcome");
        }
        self.signals.dispatcher.notify_one();
    }

    fn log_only(&self, pending: &PendingAlert) -> Delivery {
        let alert = &pending.alert;
        tracing::warn!(
            job = %alert.name,
            event = alert.event.as_str(),
            alert_id = %alert.id,
            alert_count = alert.alert_count,
            overdue_seconds = alert.overdue_seconds,
            expected_by = %alert.expected_by,
            "job alert (no PING_ALERT_URI set, logged only)"
        );
        let report = AttemptReport {
            alert,
            attempt: pending.attempts + 1,
            outcome: AttemptOutcome::Delivered,
            elapsed: Duration::ZERO,
            status: None,
            to_webhook: false,
            channel: None,
            first_of_attempt: true,
        };
        for observer in &self.observers {
            observer.attempt(&report);
        }
        Delivery::Delivered
    }

    /// One attempt of one entry to its channel.
    async fn to_channel(&self, pending: &PendingAlert, index: usize) -> Delivery {
        let alert = &pending.alert;
        let attempt_no = pending.attempts + 1;
        let (Some(channel), Some(stats)) =
            (self.stats.channels.get(index), self.stats.stats.get(index))
        else {
            return Delivery::GaveUp;
        };
        let sent_at = UnixTime::now();
        let started = Instant::now();
        let outcome = self.transports.send(channel, alert, sent_at).await;
        let elapsed = started.elapsed();
        let next = match &outcome {
            Outcome::Retry { retry_after, .. } => {
                let backoff = backoff(pending.attempts);
                // Retry-After is honoured, but never below the first backoff step: a
                // "0" or a past date must not turn retries into a flood.
                let delay = retry_after.map_or(backoff, |after| after.max(FIRST_BACKOFF));
                Some(UnixTime::now().plus_millis(millis(delay)))
            }
            _ => None,
        };
        let deadline = UnixTime::from_secs(alert.raised_at_unix)
            .unwrap_or(sent_at)
            .plus(GIVE_UP_AFTER.as_secs());
        let giving_up = next.is_some_and(|next| next > deadline);
        let observed = self.log_attempt(
            channel, alert, attempt_no, &outcome, elapsed, giving_up, next,
        );
        stats.record(&outcome);
        let delivery = match next {
            Some(next) if !giving_up => Delivery::RetryAt(next),
            _ => {
                self.record_delivery(channel, alert, attempt_no, &outcome);
                match outcome {
                    Outcome::Delivered { .. } => Delivery::Delivered,
                    _ => Delivery::GaveUp,
                }
            }
        };
        // An alert reaches the observers that publish it once: through the first
        // channel that takes it.
        let first = self.stats.channels.iter().position(|c| c.wants(alert)) == Some(index);
        let report = AttemptReport {
            alert,
            attempt: attempt_no,
            outcome: observed,
            elapsed,
            status: outcome.status(),
            to_webhook: true,
            channel: Some(channel.name()),
            first_of_attempt: first,
        };
        for observer in &self.observers {
            observer.attempt(&report);
        }
        delivery
    }

    /// Writes the end of a delivery to one channel into the job's history (SPEC §13).
    fn record_delivery(&self, channel: &Channel, alert: &Alert, attempts: u32, outcome: &Outcome) {
        let event = DeliveryEvent {
            alert_id: alert.id.to_string(),
            event: alert.event.as_str(),
            channel: channel.name().to_owned(),
            delivered: matches!(outcome, Outcome::Delivered { .. }),
            attempts,
            last_status: outcome.status(),
            last_error: outcome
                .error()
                .and_then(|e| first_line(e.as_bytes(), ERROR_EVENT_BYTES)),
        };
        self.write_event(alert, event);
    }

    /// Writes a delivery event on a task of its own: the history is a record, not part
    /// of delivering, so a slow or failing store write neither delays the next
    /// delivery nor is retried.
    fn write_event(&self, alert: &Alert, event: DeliveryEvent) {
        let backend = self.backend.clone();
        let name = alert.name.clone();
        tokio::spawn(async move {
            if let Err(e) = backend.record_delivery(&name, event, UnixTime::now()).await {
                tracing::debug!(job = %name, error = %e, "could not record a delivery event");
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn log_attempt(
        &self,
        channel: &Channel,
        alert: &Alert,
        attempt_no: u32,
        outcome: &Outcome,
        elapsed: Duration,
        giving_up: bool,
        next: Option<UnixTime>,
    ) -> AttemptOutcome {
        let elapsed_ms = crate::logging::millis(elapsed);
        let name = channel.name();
        match outcome {
            Outcome::Delivered { status } => {
                tracing::info!(
                    job = %alert.name, alert_id = %alert.id, event = alert.event.as_str(),
                    channel = name, attempt = attempt_no, status, elapsed_ms,
                    "alert delivered"
                );
                AttemptOutcome::Delivered
            }
            Outcome::GiveUp { reason, answer, .. } => {
                if channel.kind() == ChannelKind::Webhook {
                    tracing::error!(
                        job = %alert.name, alert_id = %alert.id, channel = name, attempt = attempt_no,
                        %reason, answer = answer.as_deref(), elapsed_ms,
                        "alert refused by the webhook; not retried"
                    );
                } else {
                    tracing::error!(
                        job = %alert.name, alert_id = %alert.id, channel = name, attempt = attempt_no,
                        %reason, answer = answer.as_deref(), elapsed_ms,
                        "alert refused by the channel; not retried"
                    );
                }
                AttemptOutcome::Refused
            }
            Outcome::Retry { reason, answer, .. } if giving_up => {
                tracing::error!(
                    job = %alert.name, alert_id = %alert.id, channel = name, attempt = attempt_no,
                    %reason, answer = answer.as_deref(), "alert undeliverable for 24 h; giving up"
                );
                AttemptOutcome::GaveUp
            }
            Outcome::Retry { reason, answer, .. } => {
                let retry_in_ms =
                    next.map_or(0, |next| UnixTime::now().until(next).as_millis() as u64);
                tracing::warn!(
                    job = %alert.name, alert_id = %alert.id, channel = name, attempt = attempt_no,
                    %reason, answer = answer.as_deref(), elapsed_ms, retry_in_ms,
                    "alert delivery failed; will retry"
                );
                AttemptOutcome::Retrying
            }
        }
    }
}

/// Delivery slots of each of `channels` channels: [`CONCURRENCY`] shared out, never
/// fewer than [`MIN_CHANNEL_SLOTS`].
fn channel_slots(channels: usize) -> usize {
    (CONCURRENCY / channels.max(1)).max(MIN_CHANNEL_SLOTS)
}

/// Leased entries whose channel had no free slot, per channel (configuration order),
/// oldest first. An entry for a busy channel waits here rather than going back to the
/// store: with several channels the store hands out heads in the order raised, mixing
/// the channels, so most entries leased for one freed slot belong to a channel that has
/// none, and sending each back and leasing it again cost a store write and a lease per
/// delivery, while slots stood idle until the entries came back. At most as many wait
/// per channel as it has slots, and none longer than [`DEFER`]: past that it goes back
/// to the store as before, so an entry is never held much longer than its attempt.
struct Waiting {
    /// With the tokio clock, as the loop's timers: a test that pauses time sees them
    /// agree.
    queues: Vec<VecDeque<(PendingAlert, tokio::time::Instant)>>,
    /// How many may wait per channel.
    room: usize,
}

impl Waiting {
    fn new(channels: usize) -> Self {
        Self {
            queues: (0..channels).map(|_| VecDeque::new()).collect(),
            room: channel_slots(channels),
        }
    }

    /// Queues `pending` for channel `index`; hands it back when there is no room.
    fn push(&mut self, index: usize, pending: PendingAlert) -> Option<PendingAlert> {
        match self.queues.get_mut(index) {
            Some(queue) if queue.len() < self.room => {
                queue.push_back((pending, tokio::time::Instant::now()));
                None
            }
            _ => Some(pending),
        }
    }

    fn has(&self, index: usize) -> bool {
        self.queues.get(index).is_some_and(|q| !q.is_empty())
    }

    fn pop(&mut self, index: usize) -> Option<PendingAlert> {
        self.queues
            .get_mut(index)
            .and_then(VecDeque::pop_front)
            .map(|(pending, _)| pending)
    }

    /// Takes out channel `index`'s entries that have waited [`DEFER`] or longer.
    fn expired(&mut self, index: usize) -> Vec<PendingAlert> {
        let mut expired = Vec::new();
        if let Some(queue) = self.queues.get_mut(index) {
            while queue
                .front()
                .is_some_and(|(_, since)| since.elapsed() >= DEFER)
            {
                expired.extend(queue.pop_front().map(|(pending, _)| pending));
            }
        }
        expired
    }

    /// When the oldest waiting entry will have waited [`DEFER`]; `None` when none waits.
    fn next_expiry(&self) -> Option<tokio::time::Instant> {
        self.queues
            .iter()
            .filter_map(|q| q.front().map(|(_, since)| *since + DEFER))
            .min()
    }

    fn drain(&mut self) -> Vec<PendingAlert> {
        self.queues
            .iter_mut()
            .flat_map(|q| q.drain(..).map(|(pending, _)| pending))
            .collect()
    }
}

/// Sleeps until `at`; never returns without one.
async fn sleep_until_or_never(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The first non-empty line of `bytes`, trimmed, cut to at most `max` bytes on a
/// character boundary; `None` when there is none.
fn first_line(bytes: &[u8], max: usize) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let end = (0..=line.len().min(max))
        .rev()
        .find(|&i| line.is_char_boundary(i))
        .unwrap_or(0);
    line.get(..end).map(str::to_owned)
}

/// 1 s, 2 s, 4 s, … capped at 5 min, after `attempts` failed attempts (≥ 1 counted on
/// the one that just failed).
pub fn backoff(previous_attempts: u32) -> Duration {
    let factor = 1u64
        .checked_shl(previous_attempts.min(20))
        .unwrap_or(u64::MAX);
    FIRST_BACKOFF
        .checked_mul(u32::try_from(factor).unwrap_or(u32::MAX))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests;
