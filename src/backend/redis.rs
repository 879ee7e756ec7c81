//! The shared backend (`redis://HOST:PORT[/DB]`): any number of replicas keep their
//! state in one Redis (or Valkey) and never alert twice.
//!
//! Every change is one Lua script, so it is atomic whichever replica runs it: a ping
//! (the older-timestamp and capacity checks, the job's fields and its wake-up), a sweep
//! (claiming due jobs and appending their alerts to the outbox in the same step), and
//! each outbox transition; under load, pings share script calls (see [`pings`]).
//! Times come from the replicas' clocks, passed as arguments, like the local
//! backend's. The scripts are sent by hash (`EVALSHA`); the `redis`
//! crate sends a script again when Redis answers that it lost it.
//!
//! Keys, all under the hash tag `{overdue}` so that a deployment lives in one cluster
//! slot (see the README's "Running several replicas" for the whole layout):
//! `jobs` (hash: each job's name and its fields packed in one value), `names` and
//! `down` (sorted sets with score 0, for byte-ordered listings and counts), `wake`
//! (sorted set of wake-ups in ms), `outbox` (stream, one consumer group), `q:<name>`
//! (list: the job's undelivered alerts in order), `ready` (sorted set: queue heads due
//! for an attempt), `att` (hash: attempts per alert), `meta` (hash: liveness, alert
//! sequence, layout) and `pings` (hash: pings per minute).
//!
//! Every operation has a time limit and any Redis failure is
//! [`BackendError::Unavailable`]: the ping answers 503 and nothing is acknowledged that
//! Redis did not store. The connection manager reconnects by itself.

mod decode;
mod pings;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use tokio::sync::OnceCell;

use super::outbox::PendingAlert;
use super::{
    Backend, BackendError, BackendOptions, Counts, Delivery, Page, Ping, PingOutcome, Signals,
    StoreHealth, StoreOp, StoreTimer,
};
use crate::domain::{Alert, Job, JobName, Status, UnixTime};

/// Every key starts with this; the braces make it the cluster hash tag.
const PREFIX: &str = "{overdue}:";
/// The longest wait for one operation, connecting included: a hung Redis must not hang
/// requests.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// An alert handed to a replica and neither finished nor rescheduled for this long is
/// taken over by another: its replica died mid-delivery. Well above one attempt (10 s)
/// and the write of its outcome; `?lease=` in the store URL changes it.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// A replica looks for alerts at least this often: alerts raised, rescheduled or
/// orphaned by other replicas wake nobody here.
const POLL: Duration = Duration::from_secs(1);
/// When no replica touched the store (a ping, a sweep, a look for alerts) for this long
/// by Redis's clock, overdue was not running: jobs that fell due meanwhile get the
/// startup grace. A running replica looks for alerts at least every second.
const LIVENESS_GAP: Duration = Duration::from_secs(10);
/// Due jobs claimed per script call, so one huge burst never blocks Redis for long.
const SWEEP_CHUNK: usize = 500;
/// Consumers of stopped replicas are forgotten after this, once they hold no alert.
const CONSUMER_RETENTION: Duration = Duration::from_secs(3600);

fn script(body: &str) -> Script {
    Script::new(body)
}

/// `EVALSHA` of `script` with one key (so that a cluster-aware proxy routes it to the
/// deployment's slot) and the key prefix as its first argument; callers add the rest.
/// Built directly as one command: a `ScriptInvocation` would copy every argument twice.
fn evalsha(script: &Script, key: String) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(1).arg(key).arg(PREFIX);
    cmd
}

/// Pings this replica recorded in the current and the previous minute. They reach
/// Redis about once a second, with each look for alerts, so that `pings_per_hour` adds
/// up every replica without a write on the ping path.
#[derive(Default)]
struct MinuteCounts {
    /// By minute parity: the minute (high 32 bits) and its count (low 32 bits).
    slots: [AtomicU64; 2],
}

impl MinuteCounts {
    fn record(&self, now_secs: i64) {
        let minute = (now_secs.max(0) / 60) as u64 & 0xFFFF_FFFF;
        let slot = &self.slots[(minute % 2) as usize];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            if current >> 32 == minute {
                slot.fetch_add(1, Ordering::Relaxed);
                return;
            }
            match slot.compare_exchange_weak(
                current,
                (minute << 32) | 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// (minute, count) of the slots that counted something.
    fn snapshot(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|packed| packed & 0xFFFF_FFFF > 0)
            .map(|packed| (packed >> 32, packed & 0xFFFF_FFFF))
    }
}

/// The Lua scripts, each with the shared helpers in front.
struct Scripts {
    ping: Script,
    take_due: Script,
    lease: Script,
    finish: Script,
    delete: Script,
    list: Script,
    prune: Script,
    migrate: Script,
}

impl Scripts {
    fn new() -> Self {
        macro_rules! lua {
            ($file:literal) => {
                script(concat!(
                    include_str!("redis/common.lua"),
                    include_str!(concat!("redis/", $file))
                ))
            };
        }
        Self {
            ping: lua!("ping.lua"),
            take_due: lua!("take_due.lua"),
            lease: lua!("lease.lua"),
            finish: lua!("finish.lua"),
            delete: lua!("delete.lua"),
            list: lua!("list.lua"),
            prune: lua!("prune.lua"),
            migrate: lua!("migrate.lua"),
        }
    }

    fn all(&self) -> [&Script; 8] {
        [
            &self.ping,
            &self.take_due,
            &self.lease,
            &self.finish,
            &self.delete,
            &self.list,
            &self.prune,
            &self.migrate,
        ]
    }
}

/// `--store redis://[USER:PASSWORD@]HOST:PORT[/DB][?lease=DURATION]`. `Debug` and
/// `Display` hide the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisStore {
    /// What the redis client connects to (credentials included, `lease` left out).
    url: String,
    shown: String,
    /// How long an alert handed to a replica may stay unfinished before another
    /// replica takes it over.
    lease: Duration,
}

impl RedisStore {
    /// Accepts `redis://HOST:PORT[/DB]` (the port defaults to 6379, the database to 0),
    /// with optional credentials and an optional `?lease=DURATION` (1s to 1h). Refuses
    /// anything else with a one-line reason.
    pub fn parse(raw: &str) -> Result<Self, String> {
        const FORM: &str = "expected redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0";
        let raw = raw.trim();
        if raw.starts_with("rediss://") {
            return Err(format!(
                "TLS (rediss://) is not supported by this build; {FORM}"
            ));
        }
        let mut url =
            reqwest::Url::parse(raw).map_err(|e| format!("invalid redis URL: {e}; {FORM}"))?;
        if url.scheme() != "redis" {
            return Err(FORM.to_owned());
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("the redis URL has no host; {FORM}"))?;
        let port = url.port().unwrap_or(6379);
        if port == 0 {
            return Err(format!("port 0 is not a Redis port; {FORM}"));
        }
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            digits if digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 9 => digits
                .parse::<u32>()
                .map_err(|_| format!("invalid database number; {FORM}"))?,
            _ => return Err(format!("the path must be a database number; {FORM}")),
        };
        if url.fragment().is_some() {
            return Err(format!("a fragment (#…) is not accepted; {FORM}"));
        }
        let mut lease = DEFAULT_LEASE;
        for (name, value) in url.query_pairs() {
            match &*name {
                "lease" => lease = parse_lease(&value)?,
                other => {
                    return Err(format!(
                        "unknown parameter {other:?}; the only one is lease=DURATION"
                    ))
                }
            }
        }
        let shown = format!("redis://{host}:{port}/{db}");
        url.set_query(None);
        let url = url.to_string();
        redis::Client::open(url.as_str())
            .map_err(|e| format!("not a usable Redis URL ({e}); {FORM}"))?;
        Ok(Self { url, shown, lease })
    }

    fn client(&self) -> redis::RedisResult<redis::Client> {
        redis::Client::open(self.url.as_str())
    }
}

/// `lease=DURATION`, in the frequency grammar: from 1 s to 1 h.
fn parse_lease(raw: &str) -> Result<Duration, String> {
    let secs = crate::domain::parse_duration_secs(raw)
        .map_err(|e| format!("invalid lease {raw:?}: {e}"))?;
    if !(1..=3600).contains(&secs) {
        return Err(format!("invalid lease {raw:?}: between 1s and 1h"));
    }
    Ok(Duration::from_secs(secs))
}

impl fmt::Display for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisStore({})", self.shown)
    }
}

fn unavailable(what: &str, e: impl fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("redis {what}: {e}"))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The key of a fixed part of the layout.
fn key(part: &str) -> String {
    format!("{PREFIX}{part}")
}

/// The connection and what every operation on it shares, also held by the ping
/// batcher's tasks.
struct Core {
    client: redis::Client,
    /// Connected on first use, so a replica starts (and answers 503) while Redis is
    /// still down; the manager then reconnects by itself after failures.
    manager: OnceCell<ConnectionManager>,
    scripts: Scripts,
    /// When an operation last ran out of time. For a moment after it, the reads behind
    /// `/health` and `/metrics` fail at once instead of each waiting for the limit on a
    /// frozen Redis.
    timed_out_at: Mutex<Option<Instant>>,
}

/// The state of every replica sharing one Redis.
pub struct RedisBackend {
    store: RedisStore,
    core: Arc<Core>,
    /// Pings go to Redis in batches, one script call each (see [`pings`]).
    pings_out: pings::Batcher,
    /// This replica's name in the outbox's consumer group: host, pid and a random part.
    consumer: String,
    options: BackendOptions,
    signals: Signals,
    timer: StoreTimer,
    pings: MinuteCounts,
}

impl Core {
    async fn connection(&self) -> Result<ConnectionManager, BackendError> {
        let manager = self
            .manager
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    // Callers retry on their own schedule (the next ping, sweep or
                    // poll); the manager reconnects on demand.
                    .set_number_of_retries(0)
                    .set_connection_timeout(OP_TIMEOUT)
                    .set_response_timeout(OP_TIMEOUT)
                    // Requests and replies are small and latency-bound.
                    .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await
            .map_err(|e| unavailable("connect", e))?;
        Ok(manager.clone())
    }

    /// Runs `op` within [`OP_TIMEOUT`].
    async fn bounded<T>(
        &self,
        what: &str,
        op: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(OP_TIMEOUT, op).await {
            Ok(result) => result,
            Err(_) => {
                self.mark_timed_out();
                Err(BackendError::Unavailable(format!(
                    "redis did not answer {what} within {} s",
                    OP_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// A Redis failure as the store's error; a timeout also arms [`Self::fail_fast`].
    fn failed(&self, what: &str, e: redis::RedisError) -> BackendError {
        if e.is_timeout() {
            self.mark_timed_out();
        }
        unavailable(what, e)
    }

    fn mark_timed_out(&self) {
        *self
            .timed_out_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
    }

    /// Fails a secondary read at once while Redis has just been found not answering.
    fn fail_fast(&self, what: &str) -> Result<(), BackendError> {
        let recent = self
            .timed_out_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < OP_TIMEOUT);
        if recent {
            return Err(BackendError::Unavailable(format!(
                "redis did not answer recently; {what} skipped"
            )));
        }
        Ok(())
    }

    /// Runs a script command built by [`evalsha`]; when Redis lost the script
    /// (restarted, `SCRIPT FLUSH`), loads it again and retries once.
    async fn eval(
        &self,
        what: &str,
        script: &Script,
        cmd: &redis::Cmd,
    ) -> Result<Value, BackendError> {
        self.bounded(what, async {
            let mut conn = self.connection().await?;
            match cmd.query_async::<Value>(&mut conn).await {
                Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                    tracing::info!(
                        script = what,
                        "redis does not have the script (restarted or flushed); loading it"
                    );
                    script
                        .prepare_invoke()
                        .load_async(&mut conn)
                        .await
                        .map_err(|e| unavailable("script load", e))?;
                    cmd.query_async::<Value>(&mut conn).await
                }
                other => other,
            }
            .map_err(|e| self.failed(what, e))
        })
        .await
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        what: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, BackendError> {
        self.bounded(what, async {
            let mut conn = self.connection().await?;
            cmd.query_async::<T>(&mut conn)
                .await
                .map_err(|e| self.failed(what, e))
        })
        .await
    }

    async fn pipe<T: redis::FromRedisValue>(
        &self,
        what: &str,
        pipe: &redis::Pipeline,
    ) -> Result<T, BackendError> {
        self.bounded(what, async {
            let mut conn = self.connection().await?;
            pipe.query_async::<T>(&mut conn)
                .await
                .map_err(|e| self.failed(what, e))
        })
        .await
    }
}

impl RedisBackend {
    /// A backend for `store`. It connects now, creates the outbox's group and loads
    /// the scripts; when Redis does not answer yet it starts anyway, answers 503 and
    /// readiness fails until Redis does.
    pub async fn open(
        store: &RedisStore,
        options: BackendOptions,
        signals: Signals,
        timer: StoreTimer,
    ) -> Result<Self, BackendError> {
        let client = store.client().map_err(|e| unavailable("URL", e))?;
        let consumer = format!(
            "{}-{}-{:04x}",
            crate::health::instance_name(),
            std::process::id(),
            ulid::Ulid::new().random() & 0xffff
        );
        let core = Arc::new(Core {
            client,
            manager: OnceCell::new(),
            scripts: Scripts::new(),
            timed_out_at: Mutex::new(None),
        });
        let backend = Self {
            store: store.clone(),
            pings_out: pings::Batcher::start(Arc::clone(&core), options.max_services),
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
        self.migrate().await?;
        let mut prune = evalsha(&self.core.scripts.prune, key("outbox"));
        prune.arg("").arg(millis(CONSUMER_RETENTION));
        self.core
            .eval("prune", &self.core.scripts.prune, &prune)
            .await
            .map(drop)
    }

    /// Moves jobs stored in the layout before 2026-12-06 (a hash a job) into the `jobs`
    /// hash, a slice a call; a deployment already moved costs one call.
    async fn migrate(&self) -> Result<(), BackendError> {
        const SLICE: usize = 1_000;
        let started = Instant::now();
        let mut from = 0_i64;
        loop {
            let mut invocation = evalsha(&self.core.scripts.migrate, key("names"));
            invocation.arg(from).arg(SLICE);
            let reply = self
                .core
                .eval("migrate", &self.core.scripts.migrate, &invocation)
                .await?;
            let next = decode::int(&reply)
                .ok_or_else(|| unavailable("migrate reply", "not an integer"))?;
            if next < 0 {
                break;
            }
            if from == 0 && next > 0 {
                tracing::info!("moving the jobs of an earlier layout (a hash a job) to one hash");
            }
            let last = next - from < SLICE as i64;
            from = next;
            if last {
                break;
            }
        }
        if from > 0 {
            tracing::info!(
                jobs = from,
                elapsed_ms = started.elapsed().as_millis(),
                "jobs moved to the one-hash layout"
            );
        }
        Ok(())
    }

    /// Removes an outbox entry that cannot be read back, so that it does not hold its
    /// job's later alerts forever.
    async fn discard(&self, job: &[u8], alert_id: &[u8], now_ms: i64) {
        let mut finish = evalsha(&self.core.scripts.finish, key("outbox"));
        finish
            .arg(&self.consumer)
            .arg(job)
            .arg(alert_id)
            .arg("done")
            .arg(0)
            .arg(now_ms);
        if let Err(e) = self
            .core
            .eval("discard", &self.core.scripts.finish, &finish)
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
        let name = ping.name.clone();
        let reply = self.pings_out.send(ping, now).await?;
        let reply = decode::ping_reply(&name, &reply).map_err(|e| unavailable("ping reply", e))?;
        let outcome = match reply {
            decode::PingReply::Outcome { outcome, earliest } => {
                if earliest {
                    self.signals.sweeper.notify_one();
                }
                if matches!(outcome, PingOutcome::Recovered(_)) {
                    self.signals.dispatcher.notify_one();
                }
                if matches!(
                    outcome,
                    PingOutcome::Recorded(_)
                        | PingOutcome::Acknowledged
                        | PingOutcome::Recovered(_)
                ) {
                    self.pings.record(now.secs());
                    self.timer.finish(StoreOp::Upsert, started);
                }
                outcome
            }
            decode::PingReply::FrequencyRequired => PingOutcome::FrequencyRequired,
            decode::PingReply::Full => PingOutcome::Full {
                max: self.options.max_services,
            },
            decode::PingReply::Corrupt => {
                tracing::error!(job = %name, "the job's fields in redis do not parse");
                return Err(BackendError::Unavailable(format!(
                    "the stored job {} is unreadable",
                    name
                )));
            }
        };
        Ok(outcome)
    }

    async fn delete(&self, name: &JobName) -> Result<bool, BackendError> {
        let started = self.timer.start();
        let mut invocation = evalsha(&self.core.scripts.delete, key("names"));
        invocation.arg(name.as_str());
        let reply = self
            .core
            .eval("delete", &self.core.scripts.delete, &invocation)
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
        decode::packed(name.clone(), &value).map(Some).map_err(|e| {
            tracing::error!(job = %name, error = %e, "the job's fields in redis do not parse");
            unavailable("job", e)
        })
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
        let (mut jobs, counts) = decode::page(&reply).map_err(|e| unavailable("list reply", e))?;
        let next = if jobs.len() > limit {
            jobs.truncate(limit);
            jobs.last().map(|j| j.name.clone())
        } else {
            None
        };
        let total = match status {
            None => counts.total,
            Some(Status::Down) => counts.down,
            Some(Status::Up) => counts.total.saturating_sub(counts.down),
        };
        Ok(Page { jobs, total, next })
    }

    async fn counts(&self) -> Result<Counts, BackendError> {
        self.core.fail_fast("counts")?;
        let mut pipe = redis::pipe();
        pipe.cmd("ZCARD")
            .arg(key("names"))
            .cmd("ZCARD")
            .arg(key("down"));
        let (total, down): (usize, usize) = self.core.pipe("counts", &pipe).await?;
        Ok(Counts { total, down })
    }

    async fn take_due(&self, now: UnixTime, limit: usize) -> Result<Vec<Alert>, BackendError> {
        let now_ms = now.millis();
        let started = self.timer.start();
        let every = self
            .options
            .realert_every
            .map_or(0, |every| every.as_secs().max(1));
        let mut raised = Vec::new();
        loop {
            let chunk = limit.saturating_sub(raised.len()).min(SWEEP_CHUNK);
            if chunk == 0 {
                break;
            }
            // Ids are minted inside the script from this prefix, in the same step that
            // claims the job: one (job, alert_count) never gets two ids.
            let id_prefix: String = ulid::Ulid::new().to_string().chars().take(22).collect();
            let mut invocation = evalsha(&self.core.scripts.take_due, key("wake"));
            invocation
                .arg(now_ms)
                .arg(chunk)
                .arg(every)
                .arg(self.options.startup_grace.as_secs())
                .arg(id_prefix)
                .arg(millis(LIVENESS_GAP));
            let reply = self
                .core
                .eval("sweep", &self.core.scripts.take_due, &invocation)
                .await?;
            let (alerts, unreadable, examined) =
                decode::sweep(&reply).map_err(|e| unavailable("sweep reply", e))?;
            for name in unreadable {
                tracing::error!(job = %name, "the job's fields in redis do not parse; it is not scheduled any more");
            }
            raised.extend(alerts.into_iter().filter_map(|entry| match entry {
                Ok(pending) => Some(pending.alert),
                Err(e) => {
                    tracing::error!(error = %e, "an alert written by this sweep does not parse");
                    None
                }
            }));
            // Every name examined left the due part of the schedule (raised, re-armed or
            // dropped); fewer than asked for means it is empty.
            if examined < chunk {
                break;
            }
        }
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
            .eval("lease", &self.core.scripts.lease, &invocation)
            .await?;
        let entries = decode::leased(&reply, now_ms).map_err(|e| unavailable("lease reply", e))?;
        let mut leased = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry {
                Ok(pending) => leased.push(pending),
                Err(bad) => {
                    tracing::error!(error = %bad.reason, "an alert in redis does not parse; dropping it");
                    self.discard(&bad.job, &bad.alert_id, now_ms).await;
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
        };
        let mut invocation = evalsha(&self.core.scripts.finish, key("outbox"));
        invocation
            .arg(&self.consumer)
            .arg(alert.alert.name.as_str())
            .arg(&alert.alert.id)
            .arg(kind)
            .arg(retry_at)
            .arg(crate::domain::now_ms());
        let reply = self
            .core
            .eval("finish", &self.core.scripts.finish, &invocation)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_counts_keep_the_current_and_the_previous_minute() {
        let counts = MinuteCounts::default();
        for secs in [600, 601, 659, 660, 661] {
            counts.record(secs);
        }
        let mut seen: Vec<(u64, u64)> = counts.snapshot().collect();
        seen.sort_unstable();
        assert_eq!(seen, [(10, 3), (11, 2)]);
        counts.record(720);
        let mut seen: Vec<(u64, u64)> = counts.snapshot().collect();
        seen.sort_unstable();
        assert_eq!(seen, [(11, 2), (12, 1)], "minute 12 takes minute 10's slot");
    }

    #[test]
    fn store_urls_name_host_port_and_database() {
        let store = RedisStore::parse("redis://cache.internal:6380/2").unwrap();
        assert_eq!(store.to_string(), "redis://cache.internal:6380/2");
        assert_eq!(store.lease, DEFAULT_LEASE);
        let store = RedisStore::parse("redis://127.0.0.1").unwrap();
        assert_eq!(store.to_string(), "redis://127.0.0.1:6379/0");
        let store = RedisStore::parse("redis://127.0.0.1:6379/0?lease=5s").unwrap();
        assert_eq!(store.lease, Duration::from_secs(5));
        assert!(!store.url.contains("lease"), "{}", store.url);
    }

    #[test]
    fn store_urls_hide_their_credentials() {
        let store = RedisStore::parse("redis://user:s3cret@cache:6379/1").unwrap();
        let shown = format!("{store} {store:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(store.url.contains("s3cret"), "the client still gets them");
    }

    #[test]
    fn junk_store_urls_are_refused_in_one_line() {
        for bad in [
            "redis://",
            "redis://:6379",
            "redis://host:99999",
            "redis://host:0",
            "redis://host:6379/zero",
            "redis://host:6379/1/2",
            "redis://host:6379/0?db=1",
            "redis://host:6379/0?lease=0s",
            "redis://host:6379/0?lease=2h",
            "redis://host:6379/0#x",
            "rediss://host:6379",
        ] {
            let e = RedisStore::parse(bad).expect_err(bad);
            assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
        }
    }
}
