//! The in-memory view of the alert outbox: one entry per alert and channel, queued per
//! job and channel in the order alerts were raised, and a schedule of the queue heads
//! that are ready for an attempt.
//!
//! Only alerts that are already durable enter it (the local store publishes them once
//! its journal reports them durable), so a delivery can never precede the write that a
//! restart would need. [`PendingAlert`], [`Fanout`] and [`AlertRoutes`] are shared with
//! the Redis store.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use crate::domain::{Alert, JobName, UnixTime};

use super::Delivery;

/// One alert on its way to one channel, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    /// Order of raising across all jobs; per job and channel, lower goes first.
    pub seq: u64,
    pub alert: Alert,
    /// The channel's key (`kind:host#hash`, a hash of its whole URL, never the URL);
    /// empty for `PING_ALERT_URI`'s channel (or the log when it is unset), as for every
    /// entry written before channels had entries of their own.
    pub channel: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix milliseconds before which no attempt is made.
    pub next_attempt_ms: i64,
}

impl PendingAlert {
    /// The entry's own id: the alert's id, and its channel's key when it has one. The
    /// journal and the snapshot name an entry by it.
    pub fn entry_id(&self) -> String {
        entry_id(&self.alert.id, &self.channel)
    }
}

/// The id of alert `alert_id`'s entry for channel `channel` (see
/// [`PendingAlert::entry_id`]).
pub fn entry_id(alert_id: &str, channel: &str) -> String {
    if channel.is_empty() {
        alert_id.to_owned()
    } else {
        format!("{alert_id}/{channel}")
    }
}

/// Which channels take an alert; implemented by the configured channels' routing.
pub trait AlertRoutes: Send + Sync {
    /// The keys of the channels whose routing takes `alert`, each once.
    fn channels_for(&self, alert: &Alert) -> Vec<String>;
}

/// How a store turns a raised alert into outbox entries: one per channel that takes it,
/// or one for the log when no channel is configured. Cheap to clone.
#[derive(Clone, Default)]
pub struct Fanout(Option<Arc<dyn AlertRoutes>>);

impl Fanout {
    /// Entries for the channels of `routes`.
    pub fn new(routes: Arc<dyn AlertRoutes>) -> Self {
        Self(Some(routes))
    }

    /// The channel keys of `alert`'s entries; `[""]` (the log) without channels, none
    /// when no channel takes it.
    pub fn channels_for(&self, alert: &Alert) -> Vec<String> {
        match &self.0 {
            Some(routes) => routes.channels_for(alert),
            None => vec![String::new()],
        }
    }
}

impl fmt::Debug for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Fanout(channels)"
        } else {
            "Fanout(log)"
        })
    }
}

/// A queue's identity: its job and its channel's key.
type QueueKey = (JobName, String);

#[derive(Debug, Default)]
pub struct Outbox {
    /// Per job, its channels' queues.
    queues: HashMap<JobName, HashMap<String, VecDeque<PendingAlert>>>,
    /// Heads of queues that are not leased, by (ready time, seq).
    ready: BTreeSet<(i64, u64, QueueKey)>,
    /// When each queued entry was raised (unix seconds), by seq: the first is the
    /// oldest pending alert, without a scan.
    raised: BTreeMap<u64, i64>,
    len: usize,
    /// Entries waiting per channel key.
    per_channel: HashMap<String, u64>,
}

impl Outbox {
    pub fn push(&mut self, alert: PendingAlert) {
        let job = alert.alert.name.clone();
        let queue = self
            .queues
            .entry(job.clone())
            .or_default()
            .entry(alert.channel.clone())
            .or_default();
        if queue.is_empty() {
            self.ready.insert((
                alert.next_attempt_ms,
                alert.seq,
                (job, alert.channel.clone()),
            ));
        }
        self.raised.insert(alert.seq, alert.alert.raised_at_unix);
        *self.per_channel.entry(alert.channel.clone()).or_default() += 1;
        queue.push_back(alert);
        self.len += 1;
    }

    /// Takes up to `limit` ready heads out of the schedule; they stay at the head of
    /// their queue until [`Outbox::finish`].
    pub fn lease(&mut self, now: UnixTime, limit: usize) -> Vec<PendingAlert> {
        let now_ms = now.millis();
        let mut leased = Vec::new();
        while leased.len() < limit {
            let Some(first) = self.ready.first() else {
                break;
            };
            if first.0 > now_ms {
                break;
            }
            let Some((_, _, (job, channel))) = self.ready.pop_first() else {
                break;
            };
            let head = self
                .queues
                .get(&job)
                .and_then(|q| q.get(&channel))
                .and_then(|q| q.front());
            if let Some(head) = head {
                leased.push(head.clone());
            }
        }
        leased
    }

    /// Ends the lease of `alert`. Returns `false` when the entry is no longer queued
    /// (its job was deleted meanwhile), in which case nothing changes.
    pub fn finish(&mut self, alert: &PendingAlert, outcome: Delivery) -> bool {
        let job = &alert.alert.name;
        let Some(queues) = self.queues.get_mut(job) else {
            return false;
        };
        let Some(queue) = queues.get_mut(&alert.channel) else {
            return false;
        };
        let is_head = queue.front().is_some_and(|h| h.alert.id == alert.alert.id);
        if !is_head {
            return false;
        }
        let key = || (job.clone(), alert.channel.clone());
        match outcome {
            Delivery::Delivered | Delivery::GaveUp => {
                if let Some(done) = queue.pop_front() {
                    self.raised.remove(&done.seq);
                }
                self.len -= 1;
                uncount(&mut self.per_channel, &alert.channel, 1);
                match queue.front() {
                    Some(next) => {
                        self.ready.insert((next.next_attempt_ms, next.seq, key()));
                    }
                    None => {
                        queues.remove(&alert.channel);
                        if queues.is_empty() {
                            self.queues.remove(job);
                        }
                    }
                }
            }
            Delivery::RetryAt(at) | Delivery::Deferred(at) => {
                let at_ms = at.millis();
                if let Some(head) = queue.front_mut() {
                    if matches!(outcome, Delivery::RetryAt(_)) {
                        head.attempts = head.attempts.saturating_add(1);
                    }
                    head.next_attempt_ms = at_ms;
                    self.ready.insert((at_ms, head.seq, key()));
                }
            }
        }
        true
    }

    /// Drops every undelivered entry of a deleted job, on every channel.
    pub fn drop_job(&mut self, job: &JobName) {
        let Some(queues) = self.queues.remove(job) else {
            return;
        };
        for (channel, queue) in queues {
            if let Some(head) = queue.front() {
                self.ready.remove(&(
                    head.next_attempt_ms,
                    head.seq,
                    (job.clone(), channel.clone()),
                ));
            }
            for alert in &queue {
                self.raised.remove(&alert.seq);
            }
            self.len -= queue.len();
            uncount(&mut self.per_channel, &channel, queue.len() as u64);
        }
    }

    /// When the next queue head becomes ready for an attempt.
    pub fn next_ready(&self) -> Option<UnixTime> {
        self.ready
            .first()
            .and_then(|(at, _, _)| UnixTime::from_millis(*at))
    }

    /// Entries waiting, over all channels.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Entries waiting per channel key.
    pub fn per_channel(&self) -> HashMap<String, u64> {
        self.per_channel.clone()
    }

    /// When the oldest undelivered alert was raised.
    pub fn oldest_raised_at(&self) -> Option<UnixTime> {
        self.raised
            .first_key_value()
            .and_then(|(_, at)| UnixTime::from_secs(*at))
    }
}

fn uncount(per_channel: &mut HashMap<String, u64>, channel: &str, n: u64) {
    if let Some(count) = per_channel.get_mut(channel) {
        *count = count.saturating_sub(n);
        if *count == 0 {
            per_channel.remove(channel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: i64) -> UnixTime {
        UnixTime::from_millis(v).unwrap()
    }
    use crate::domain::{AlertEvent, Cadence, Frequency, Grace, Job, Status};

    fn pending(job: &str, seq: u64, at: i64) -> PendingAlert {
        let job = Job {
            name: JobName::parse(job).unwrap(),
            cadence: Cadence::Every(Frequency::parse("1m").unwrap()),
            grace: Grace::default(),
            last_ping: UnixTime::from_secs(0).unwrap(),
            status: Status::Down,
            down_since: None,
            episode_alerts: 1,
            alerts_sent: 1,
            pings_total: 1,
            next_reminder: None,
            down_reason: Default::default(),
            runs: None,
            events_seq: 0,
            interventions: None,
        };
        PendingAlert {
            seq,
            alert: Alert::new(
                Alert::fresh_id(),
                &job,
                AlertEvent::Down,
                UnixTime::from_secs(100).unwrap(),
            ),
            channel: String::new(),
            attempts: 0,
            next_attempt_ms: at,
        }
    }

    fn on(channel: &str, mut p: PendingAlert) -> PendingAlert {
        p.channel = channel.to_owned();
        p
    }

    #[test]
    fn each_channel_of_a_job_has_its_own_queue_and_order() {
        let mut outbox = Outbox::default();
        let first = pending("a", 1, 0);
        let second = pending("a", 3, 0);
        outbox.push(on("slack", first.clone()));
        outbox.push(on(
            "ntfy",
            PendingAlert {
                seq: 2,
                ..on("ntfy", first)
            },
        ));
        outbox.push(on("slack", second.clone()));
        outbox.push(on(
            "ntfy",
            PendingAlert {
                seq: 4,
                ..on("ntfy", second)
            },
        ));
        let leased = outbox.lease(ms(0), 10);
        assert_eq!(leased.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![1, 2]);
        // Slack failing holds only slack's next alert.
        assert!(outbox.finish(&leased[0], Delivery::RetryAt(ms(5_000))));
        assert!(outbox.finish(&leased[1], Delivery::Delivered));
        let next = outbox.lease(ms(0), 10);
        assert_eq!(next.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![4]);
        assert_eq!(outbox.len(), 3);
        let counts = outbox.per_channel();
        assert_eq!((counts["slack"], counts["ntfy"]), (2, 1));
        outbox.drop_job(&JobName::parse("a").unwrap());
        assert_eq!(outbox.len(), 0);
        assert!(outbox.per_channel().is_empty());
        assert!(outbox.lease(ms(10_000), 10).is_empty());
    }

    #[test]
    fn a_deferred_entry_waits_without_counting_an_attempt() {
        let mut outbox = Outbox::default();
        outbox.push(pending("a", 1, 0));
        let leased = outbox.lease(ms(0), 1);
        outbox.finish(&leased[0], Delivery::Deferred(ms(500)));
        assert!(outbox.lease(ms(499), 1).is_empty());
        assert_eq!(outbox.lease(ms(500), 1)[0].attempts, 0);
    }

    #[test]
    fn one_lease_per_job_in_raising_order() {
        let mut outbox = Outbox::default();
        outbox.push(pending("a", 1, 0));
        outbox.push(pending("a", 2, 0));
        outbox.push(pending("b", 3, 0));
        let leased = outbox.lease(ms(10), 10);
        assert_eq!(leased.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![1, 3]);
        assert!(outbox.lease(ms(10), 10).is_empty());
        assert!(outbox.finish(&leased[0], Delivery::Delivered));
        assert_eq!(
            outbox
                .lease(ms(10), 10)
                .iter()
                .map(|p| p.seq)
                .collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(outbox.len(), 2);
        assert_eq!(outbox.oldest_raised_at(), UnixTime::from_secs(100));
    }

    #[test]
    fn retry_waits_until_its_time() {
        let mut outbox = Outbox::default();
        outbox.push(pending("a", 1, 0));
        let leased = outbox.lease(ms(0), 1);
        outbox.finish(&leased[0], Delivery::RetryAt(ms(1_000)));
        assert!(outbox.lease(ms(999), 1).is_empty());
        assert_eq!(outbox.next_ready(), Some(ms(1_000)));
        let again = outbox.lease(ms(1_000), 1);
        assert_eq!(again[0].attempts, 1);
    }

    #[test]
    fn dropping_a_job_forgets_its_alerts_and_late_finishes() {
        let mut outbox = Outbox::default();
        outbox.push(pending("a", 1, 0));
        outbox.push(pending("a", 2, 0));
        let leased = outbox.lease(ms(0), 1);
        outbox.drop_job(&JobName::parse("a").unwrap());
        assert_eq!(outbox.len(), 0);
        assert_eq!(outbox.oldest_raised_at(), None);
        assert!(!outbox.finish(&leased[0], Delivery::Delivered));
        assert!(outbox.lease(ms(0), 10).is_empty());
    }
}
