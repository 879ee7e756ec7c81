//! The shared backend (`redis://HOST:PORT[/DB]`): any number of replicas keep their
//! state in one Redis (or Valkey) and never alert twice.
//!
//! A job's rules are applied here as in the local store, by the functions of
//! `domain::job`: the job is read, the change decided in Rust, and written back with
//! its side effects (wake-up, `down` set, outbox) by one script that stores it only if
//! the job is still as it was read ([`cas`]); a replica that lost the race reads again
//! and decides again, so exactly one replica raises each alert. The one exception is
//! the quick path of the ping script, for the usual ping of an up job (see
//! [`pings`]). Each outbox transition is a script of its own. Times come from the
//! replicas' clocks, passed as arguments, like the local backend's. The scripts are
//! sent by hash (`EVALSHA`) and sent again when Redis answers that it lost them.
//!
//! Keys, all under the hash tag `{overdue}` so that a deployment lives in one cluster
//! slot (see the README's "Running several replicas" for the whole layout):
//! `jobs` (hash: each job's name and its fields packed in one value, see [`codec`]),
//! `names` and `down` (sorted sets with score 0, for byte-ordered listings and counts),
//! `wake` (sorted set of wake-ups in ms), `outbox` (stream, one consumer group),
//! `q:<name>` and `qc:<channel>:<name>` (lists: the job's undelivered entries for the
//! log or for one channel, in order), `qs:<name>` (set: the channels the job has
//! queues for), `qn` (hash: entries waiting per channel key), `ready` (sorted set: queue heads due for
//! an attempt), `att` (hash:
//! attempts per entry), `meta` (hash: when the
//! deployment last resumed, alert sequence), `alive` (liveness) and `pings` (hash: pings
//! per minute).
//!
//! Every operation has a time limit and any Redis failure is
//! [`BackendError::Unavailable`]: the ping answers 503 and nothing is acknowledged that
//! Redis did not store. The connection manager reconnects by itself.

mod actions;
mod cas;
mod codec;
mod connection;
mod decode;
mod minute_counts;
mod ping_rules;
mod pings;
mod scripts;
mod store_url;
mod sweep;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Value;

use self::connection::{evalsha, key, millis, unavailable, RedisLink};
use self::minute_counts::MinuteCounts;
pub use self::store_url::RedisStore;
use super::outbox::PendingAlert;
use super::{
    ActionOutcome, Backend, BackendError, BackendOptions, Counts, Delivery, EventPage, Page, Ping,
    PingOutcome, StoreHealth, StoreOp, StoreTimer, Wakers,
};
use crate::domain::{AdminAction, Alert, DeliveryEvent, Job, JobName, Status, UnixTime};

/// A replica looks for alerts at least this often: alerts raised, rescheduled or
/// orphaned by other replicas wake nobody here.
const POLL: Duration = Duration::from_secs(1);
/// When no replica touched the store (a ping, a sweep, a look for alerts) for this long
/// by Redis's clock, overdue was not running: jobs that fell due meanwhile get the
/// startup grace. A running replica looks for alerts at least every second.
const LIVENESS_GAP: Duration = Duration::from_secs(10);
/// Reads and compare-and-sets of a job before a delivery event is given up: the job
/// changes under it only when pings or sweeps of it race with the write.
const DELIVERY_ROUNDS: usize = 5;
/// Consumers of stopped replicas are forgotten after this, once they hold no alert.
const CONSUMER_RETENTION: Duration = Duration::from_secs(3600);

/// The state of every replica sharing one Redis.
pub struct RedisBackend {
    store: RedisStore,
    core: Arc<RedisLink>,
    /// Pings go to Redis in batches, one script call each (see [`pings`]).
    pings_out: pings::Batcher,
    /// This replica's name in the outbox's consumer group: host, pid and a random part.
    consumer: String,
    options: BackendOptions,
    signals: Wakers,
    timer: StoreTimer,
    pings: MinuteCounts,
}

impl RedisBackend {
    /// A backend for `store`. It connects now, creates the outbox's group and loads
    /// the scripts; when Redis does not answer yet it starts anyway, answers 503 and
    /// readiness fails until Redis does.
    pub async fn open(
        store: &RedisStore,
        options: BackendOptions,
        signals: Wakers,
        timer: StoreTimer,
    ) -> Result<Self, BackendError> {
        let connector = store.connector().map_err(|e| unavailable("URL", e))?;
        let consumer = format!(
            "{}-{}-{:04x}",
            crate::health::instance_name(),
            std::process::id(),
            ulid::Ulid::new().random() & 0xffff
        );
        let core = Arc::new(RedisLink::new(
            connector,
            store.wait,
            options.fanout.clone(),
        ));
        if let Some(why) = connection::refusal_at_start(&core).await {
            return Err(BackendError::Unavailable(why));
        }
        let backend = Self {
            store: store.clone(),
            pings_out: pings::Batcher::start(
                Arc::clone(&core),
                ping_rules::Settings {
                    max_services: options.max_services,
                    history: options.history,
                    policy: options.policy(),
                },
            ),
            core,
            consumer,
            options,
            signals,
            timer,
            pings: MinuteCounts::default(),
        };
        match backend.prepare().await {
            Ok(()) => tracing::info!(
                store = %backend.store,
                consumer = %backend.consumer,
                "state in redis"
            ),
            Err(e) => tracing::warn!(
                store = %backend.store,
                error = %e,
                "redis does not answer yet: pings get 503 until it does"
            ),
        }
        Ok(backend)
    }

    /// Loads the scripts, creates the outbox's group and forgets the consumers of
    /// replicas stopped long ago.
    async fn prepare(&self) -> Result<(), BackendError> {
        self.core
            .bounded("start", async {
                let mut conn = self.core.connection().await?;
                for script in self.core.scripts.all() {
                    script
                        .prepare_invoke()
                        .load_async(&mut conn)
                        .await
                        .map_err(|e| unavailable("script load", e))?;
                }
                Ok(())
            })
            .await?;
        let mut prune = evalsha(&self.core.scripts.prune, key("outbox"));
        prune.arg("").arg(millis(CONSUMER_RETENTION));
        self.core
            .eval("prune", &self.core.scripts.prune, &prune)
            .await
            .map(drop)
    }

    /// Removes an outbox entry that cannot be read back, so that it does not hold its
    /// job's later alerts forever.
    async fn discard(&self, job: &[u8], alert_id: &[u8], channel: &[u8], now_ms: i64) {
        let mut finish = evalsha(&self.core.scripts.finish, key("outbox"));
        finish
            .arg(&self.consumer)
            .arg(job)
            .arg(alert_id)
            .arg("done")
            .arg(0)
            .arg(now_ms)
            .arg(channel);
        if let Err(e) = self
            .core
            .eval_change("discard", &self.core.scripts.finish, &finish)
            .await
        {
            tracing::warn!(error = %e, "could not discard an unreadable alert");
        }
    }
}

#[async_trait]
impl Backend for RedisBackend {
    async fn record_ping(&self, ping: Ping, now: UnixTime) -> Result<PingOutcome, BackendError> {
        let started = self.timer.start();
        let ping_rules::Decided { outcome, earliest } = self.pings_out.send(ping, now).await?;
        if earliest {
            self.signals.sweeper.notify_one();
        }
        if matches!(outcome, PingOutcome::Recovered(_)) {
            self.signals.dispatcher.notify_one();
        }
        if matches!(
            outcome,
            PingOutcome::Recorded(_) | PingOutcome::Acknowledged | PingOutcome::Recovered(_)
        ) {
            self.pings.record(now.secs());
            self.timer.finish(StoreOp::Upsert, started);
        }
        Ok(outcome)
    }

    async fn delete(&self, name: &JobName) -> Result<bool, BackendError> {
        let started = self.timer.start();
        let mut invocation = evalsha(&self.core.scripts.delete, key("names"));
        invocation.arg(name.as_str());
        let reply = self
            .core
            .eval_change("delete", &self.core.scripts.delete, &invocation)
            .await?;
        let deleted = decode::int(&reply) == Some(1);
        if deleted {
            self.timer.finish(StoreOp::Delete, started);
        }
        Ok(deleted)
    }

    async fn get(&self, name: &JobName) -> Result<Option<Job>, BackendError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(key("jobs")).arg(name.as_str());
        let value: Option<Vec<u8>> = self.core.query("get", &cmd).await?;
        let Some(value) = value else {
            return Ok(None);
        };
        codec::unpack(name.clone(), &value)
            .map(|stored| Some(stored.job))
            .map_err(|e| {
                tracing::error!(job = %name, error = %e, "the job's value in redis does not parse");
                unavailable("job", e)
            })
    }

    async fn act(
        &self,
        name: &JobName,
        action: AdminAction,
        now: UnixTime,
    ) -> Result<ActionOutcome, BackendError> {
        let started = self.timer.start();
        let max = self.options.max_services;
        let history = self.options.history;
        let (outcome, earliest) = actions::act(&self.core, max, history, name, action, now).await?;
        if earliest {
            self.signals.sweeper.notify_one();
        }
        if matches!(outcome, ActionOutcome::Done(_)) {
            self.timer.finish(StoreOp::Upsert, started);
        }
        Ok(outcome)
    }

    async fn list(
        &self,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, BackendError> {
        let mut invocation = evalsha(&self.core.scripts.list, key("names"));
        invocation
            .arg(status.map_or("", Status::as_str))
            .arg(after.unwrap_or(""))
            .arg(limit);
        let reply = self
            .core
            .eval("list", &self.core.scripts.list, &invocation)
            .await?;
        let (jobs, counts) = decode::page(&reply).map_err(|e| unavailable("list reply", e))?;
        Ok(Page::from_fetched(jobs, limit, status, counts))
    }

    async fn counts(&self) -> Result<Counts, BackendError> {
        self.core.fail_fast("counts")?;
        let mut pipe = redis::pipe();
        pipe.cmd("ZCARD")
            .arg(key("names"))
            .cmd("ZCARD")
            .arg(key("down"))
            .cmd("ZCARD")
            .arg(key("paused"));
        let (total, down, paused): (usize, usize, usize) = self.core.pipe("counts", &pipe).await?;
        Ok(Counts {
            total,
            down,
            paused,
        })
    }

    async fn take_due(&self, now: UnixTime, limit: usize) -> Result<Vec<Alert>, BackendError> {
        let started = self.timer.start();
        let policy = self.options.policy();
        let raised = sweep::take_due(
            &self.core,
            &policy,
            self.options.max_services,
            self.options.history,
            now,
            limit,
        )
        .await?;
        if !raised.is_empty() {
            self.timer.finish(StoreOp::OutboxPut, started);
            self.signals.dispatcher.notify_one();
        }
        Ok(raised)
    }

    async fn next_wake(&self) -> Option<UnixTime> {
        self.core.fail_fast("next wake").ok()?;
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(key("wake")).arg(0).arg(0).arg("WITHSCORES");
        let first: Vec<(String, f64)> = self.core.query("next wake", &cmd).await.ok()?;
        first
            .first()
            .and_then(|(_, score)| UnixTime::from_millis(*score as i64))
    }

    async fn lease_alerts(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, BackendError> {
        let now_ms = now.millis();
        let mut invocation = evalsha(&self.core.scripts.lease, key("outbox"));
        invocation
            .arg(&self.consumer)
            .arg(now_ms)
            .arg(limit)
            .arg(millis(self.store.lease))
            .arg(millis(LIVENESS_GAP));
        for (minute, count) in self.pings.snapshot() {
            invocation
                .arg(format!("{}:{minute}", self.consumer))
                .arg(count);
        }
        let reply = self
            .core
            .eval_change("lease", &self.core.scripts.lease, &invocation)
            .await?;
        let entries = decode::leased(&reply, now_ms).map_err(|e| unavailable("lease reply", e))?;
        let mut leased = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry {
                Ok(pending) => leased.push(pending),
                Err(bad) => {
                    tracing::error!(error = %bad.reason, "an alert in redis does not parse; dropping it");
                    self.discard(&bad.job, &bad.alert_id, &bad.channel, now_ms)
                        .await;
                }
            }
        }
        Ok(leased)
    }

    async fn next_alert_at(&self) -> Option<UnixTime> {
        let poll = UnixTime::now().plus_millis(millis(POLL));
        if self.core.fail_fast("next alert").is_err() {
            return Some(poll);
        }
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(key("ready")).arg(0).arg(0).arg("WITHSCORES");
        let first: Vec<(String, f64)> = match self.core.query("next alert", &cmd).await {
            Ok(first) => first,
            Err(_) => return Some(poll),
        };
        Some(
            first
                .first()
                .and_then(|(_, score)| UnixTime::from_millis(*score as i64))
                .map_or(poll, |at| at.min(poll)),
        )
    }

    async fn finish_alert(
        &self,
        alert: &PendingAlert,
        outcome: Delivery,
    ) -> Result<(), BackendError> {
        let started = self.timer.start();
        let (kind, retry_at, op) = match outcome {
            Delivery::Delivered | Delivery::GaveUp => ("done", 0, StoreOp::OutboxAck),
            Delivery::RetryAt(at) => ("retry", at.millis(), StoreOp::OutboxRetry),
            Delivery::Deferred(at) => ("defer", at.millis(), StoreOp::OutboxRetry),
        };
        let mut invocation = evalsha(&self.core.scripts.finish, key("outbox"));
        invocation
            .arg(&self.consumer)
            .arg(alert.alert.name.as_str())
            .arg(&alert.alert.id)
            .arg(kind)
            .arg(retry_at)
            .arg(UnixTime::now().millis())
            .arg(&alert.channel);
        let reply = self
            .core
            .eval_change("finish", &self.core.scripts.finish, &invocation)
            .await?;
        if decode::int(&reply) != Some(1) {
            tracing::debug!(
                job = %alert.alert.name,
                alert_id = %alert.alert.id,
                "alert finished elsewhere (taken over after its lease, or its job was deleted)"
            );
        }
        self.timer.finish(op, started);
        Ok(())
    }

    async fn events(
        &self,
        name: &JobName,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Option<EventPage>, BackendError> {
        let mut invocation = evalsha(&self.core.scripts.events, key("jobs"));
        invocation
            .arg(name.as_str())
            .arg(before.map(|b| b.to_string()).unwrap_or_default())
            .arg(limit);
        let reply = self
            .core
            .eval("events", &self.core.scripts.events, &invocation)
            .await?;
        if matches!(reply, Value::Nil) {
            return Ok(None);
        }
        let lines =
            decode::array(&reply).ok_or_else(|| unavailable("events reply", "not a list"))?;
        let mut events = Vec::with_capacity(lines.len().min(limit));
        for line in lines {
            let parsed = decode::bytes(line)
                .and_then(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
                .filter(|event| event["seq"].is_u64());
            match parsed {
                Some(event) => events.push(event),
                None => {
                    tracing::error!(job = %name, "an event in redis does not parse; skipping it");
                }
            }
        }
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().and_then(|event| event["seq"].as_u64())
        } else {
            None
        };
        Ok(Some(EventPage { events, next }))
    }

    async fn record_delivery(
        &self,
        name: &JobName,
        delivery: DeliveryEvent,
        now: UnixTime,
    ) -> Result<(), BackendError> {
        // The event is all a delivery changes: without a history there is nothing to do.
        let history = self.options.history;
        if history == 0 {
            return Ok(());
        }
        for _ in 0..DELIVERY_ROUNDS {
            let mut cmd = redis::cmd("HGET");
            cmd.arg(key("jobs")).arg(name.as_str());
            let value: Option<Vec<u8>> = self.core.query("delivery read", &cmd).await?;
            // Deleted meanwhile: it records nothing.
            let Some(value) = value else {
                return Ok(());
            };
            let stored = match codec::unpack(name.clone(), &value) {
                Ok(stored) => stored,
                Err(e) => {
                    tracing::error!(job = %name, error = %e, "the job's value in redis does not parse; its delivery is not recorded");
                    return Ok(());
                }
            };
            let change = stored.job.record_delivery(delivery.clone(), now);
            let new = codec::pack(&codec::Stored {
                job: change.job,
                late: stored.late,
            });
            let write = cas::Change {
                new: Some(new),
                events: cas::lines(&change.events, history),
                ..cas::Change::on(name.as_str(), Some(&value))
            };
            let applied =
                cas::store(&self.core, self.options.max_services, history, &[write]).await?;
            if matches!(applied[..], [cas::Applied::Done { .. }]) {
                return Ok(());
            }
        }
        tracing::debug!(job = %name, "the job kept changing; its delivery event is not recorded");
        Ok(())
    }

    /// Redis keeps the state; a stopping replica only leaves the consumer group when
    /// it holds no alert (otherwise another replica takes them over after the lease).
    async fn close(&self) -> Result<(), BackendError> {
        // The last second of ping counts, which the next look for alerts would have sent.
        let mut counts = redis::cmd("HSET");
        counts.arg(key("pings"));
        let mut any = false;
        for (minute, count) in self.pings.snapshot() {
            counts.arg(format!("{}:{minute}", self.consumer)).arg(count);
            any = true;
        }
        if any {
            if let Err(e) = self.core.query::<i64>("ping counts", &counts).await {
                tracing::debug!(error = %e, "could not write the last ping counts");
            }
        }
        let mut prune = evalsha(&self.core.scripts.prune, key("outbox"));
        prune.arg(&self.consumer).arg(millis(CONSUMER_RETENTION));
        if let Err(e) = self
            .core
            .eval("prune", &self.core.scripts.prune, &prune)
            .await
        {
            tracing::warn!(error = %e, "could not leave the outbox's consumer group");
        }
        Ok(())
    }
}

#[async_trait]
impl StoreHealth for RedisBackend {
    async fn backlog(&self) -> Result<usize, BackendError> {
        self.core.fail_fast("backlog")?;
        let mut cmd = redis::cmd("XLEN");
        cmd.arg(key("outbox"));
        self.core.query("backlog", &cmd).await
    }

    async fn channel_backlog(&self) -> Result<HashMap<String, u64>, BackendError> {
        self.core.fail_fast("channel backlog")?;
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(key("qn"));
        let counts: HashMap<String, i64> = self.core.query("channel backlog", &cmd).await?;
        Ok(counts
            .into_iter()
            .filter_map(|(channel, n)| u64::try_from(n).ok().map(|n| (channel, n)))
            .collect())
    }

    async fn oldest_pending_alert(&self) -> Result<Option<UnixTime>, BackendError> {
        self.core.fail_fast("oldest alert")?;
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(key("outbox")).arg("-").arg("+").arg("COUNT").arg(1);
        let reply: Value = self.core.query("oldest alert", &cmd).await?;
        Ok(decode::first_raised_at(&reply).and_then(UnixTime::from_secs))
    }

    async fn pings_last_hour(&self, now: UnixTime) -> Result<Option<u64>, BackendError> {
        let now_secs = now.secs();
        self.core.fail_fast("pings per hour")?;
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(key("pings"));
        let counts: Vec<(String, u64)> = self.core.query("pings per hour", &cmd).await?;
        let now = now_secs.div_euclid(60);
        let mut total = 0;
        let mut stale = Vec::new();
        // Fields are "<replica>:<unix minute>"; minutes older than an hour go.
        for (field, count) in counts {
            let minute = field.rsplit(':').next().and_then(|m| m.parse::<i64>().ok());
            match minute.map(|m| now - m) {
                Some(age) if (0..60).contains(&age) => total += count,
                Some(age) if age < 0 => {}
                _ => stale.push(field),
            }
        }
        if !stale.is_empty() {
            let mut cmd = redis::cmd("HDEL");
            cmd.arg(key("pings")).arg(stale);
            if let Err(e) = self.core.query::<i64>("pings cleanup", &cmd).await {
                tracing::debug!(error = %e, "could not remove old ping counts");
            }
        }
        Ok(Some(total))
    }

    async fn check(&self) -> Result<Duration, BackendError> {
        let started = self.timer.start();
        let begun = Instant::now();
        let _: String = self.core.query("ping", &redis::cmd("PING")).await?;
        let elapsed = begun.elapsed();
        self.timer.finish(StoreOp::Check, started);
        Ok(elapsed)
    }
}
