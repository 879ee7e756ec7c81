//! The connection to Redis and how every operation on it runs: within a time limit,
//! scripts by hash, every failure as [`BackendError::Unavailable`].

use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManagerConfig;
use redis::{Script, Value};

use super::scripts::Scripts;
use crate::backend::{BackendError, Fanout};
use crate::redis_target::{describe, Connector, RedisConnection};
use crate::sync::lock;

/// Every key starts with this; the braces make it the cluster hash tag.
pub(super) const PREFIX: &str = "{overdue}:";
/// The longest wait for one operation, connecting included: a hung Redis must not hang
/// requests.
pub(super) const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// What `WAIT` leaves of the limit for its answer to come back.
const WAIT_MARGIN: Duration = Duration::from_millis(200);

/// `EVALSHA` of `script` with one key (so that a cluster-aware proxy routes it to the
/// deployment's slot) and the key prefix as its first argument; callers add the rest.
/// Built directly as one command: a `ScriptInvocation` would copy every argument twice.
pub(super) fn evalsha(script: &Script, key: String) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(1).arg(key).arg(PREFIX);
    cmd
}

pub(super) fn unavailable(what: &str, e: impl fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("redis {what}: {e}"))
}

/// A Redis error as the store's error; a refusal (credentials, certificates,
/// permissions) in words that say what to fix.
pub(super) fn redis_failure(what: &str, e: &redis::RedisError) -> BackendError {
    match describe(e) {
        Some(why) => BackendError::Unavailable(why),
        None => unavailable(what, e),
    }
}

/// Why Redis refuses this replica, when it answers but refuses: a wrong user or
/// password, a certificate not trusted, a user without the scripts' permissions. Such
/// a store is misconfigured and must stop the start; an unreachable one is not (the
/// replica starts and answers 503 until Redis comes).
pub(super) async fn refusal_at_start(link: &RedisLink) -> Option<String> {
    let attempt = async {
        let mut conn = link
            .connector
            .connect(ConnectionManagerConfig::new().set_number_of_retries(0))
            .await?;
        for script in link.scripts.all() {
            script.prepare_invoke().load_async(&mut conn).await?;
        }
        Ok::<(), redis::RedisError>(())
    };
    match tokio::time::timeout(OP_TIMEOUT, attempt).await {
        Ok(Err(e)) => tokio::time::timeout(OP_TIMEOUT, link.connector.refusal(&e))
            .await
            .ok()
            .flatten(),
        Ok(Ok(())) | Err(_) => None,
    }
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The key of a fixed part of the layout.
pub(super) fn key(part: &str) -> String {
    format!("{PREFIX}{part}")
}

/// The connection and what every operation on it shares, also held by the ping
/// batcher's tasks.
pub(super) struct RedisLink {
    connector: Connector,
    /// Connected on first use, so a replica starts (and answers 503) while Redis is
    /// still down; the manager then reconnects by itself after failures. Behind
    /// Sentinels a failing connection is dropped, so that the next operation asks
    /// them for the master again.
    manager: Mutex<Option<RedisConnection>>,
    /// One connection attempt at a time: operations that find no connection wait for
    /// it instead of each opening their own.
    connecting: tokio::sync::Mutex<()>,
    pub(super) scripts: Scripts,
    /// `?wait=N`: replicas of Redis that must acknowledge each change before it is
    /// answered; 0 does not wait.
    wait: u32,
    /// When an operation last ran out of time. For a moment after it, the reads behind
    /// `/health` and `/metrics` fail at once instead of each waiting for the limit on a
    /// frozen Redis.
    timed_out_at: Mutex<Option<Instant>>,
    /// Which channels a raised alert gets an outbox entry for: the store script writes
    /// them with the change that raises it.
    pub(super) fanout: Fanout,
}

impl RedisLink {
    pub(super) fn new(connector: Connector, wait: u32, fanout: Fanout) -> Self {
        Self {
            connector,
            wait,
            manager: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            scripts: Scripts::new(),
            timed_out_at: Mutex::new(None),
            fanout,
        }
    }

    pub(super) async fn connection(&self) -> Result<RedisConnection, BackendError> {
        if let Some(manager) = lock(&self.manager).clone() {
            return Ok(manager);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(manager) = lock(&self.manager).clone() {
            return Ok(manager);
        }
        let config = ConnectionManagerConfig::new()
            // Callers retry on their own schedule (the next ping, sweep or poll); the
            // manager reconnects on demand.
            .set_number_of_retries(0)
            .set_connection_timeout(OP_TIMEOUT)
            .set_response_timeout(OP_TIMEOUT)
            // Requests and replies are small and latency-bound.
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let manager = self
            .connector
            .connect(config)
            .await
            .map_err(|e| redis_failure("connect", &e))?;
        *lock(&self.manager) = Some(manager.clone());
        Ok(manager)
    }

    /// Runs `op` within [`OP_TIMEOUT`].
    pub(super) async fn bounded<T>(
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
        // Behind Sentinels a dropped connection or a master turned replica means a
        // failover: the next operation asks the Sentinels where the master is.
        let moved = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.kind() == redis::ErrorKind::ReadOnly;
        if moved && self.connector.follows_failovers() {
            *lock(&self.manager) = None;
        }
        redis_failure(what, &e)
    }

    pub(super) fn mark_timed_out(&self) {
        *lock(&self.timed_out_at) = Some(Instant::now());
    }

    /// Fails a secondary read at once while Redis has just been found not answering.
    pub(super) fn fail_fast(&self, what: &str) -> Result<(), BackendError> {
        let recent = lock(&self.timed_out_at).is_some_and(|at| at.elapsed() < OP_TIMEOUT);
        if recent {
            return Err(BackendError::Unavailable(format!(
                "redis did not answer recently; {what} skipped"
            )));
        }
        Ok(())
    }

    /// Runs a script that changes state, as [`Self::eval`] does; with `?wait=N`, its
    /// answer only counts once N replicas of Redis acknowledged the change (`WAIT`,
    /// within the same time limit), so that a failover cannot lose what was answered.
    pub(super) async fn eval_change(
        &self,
        what: &str,
        script: &Script,
        cmd: &redis::Cmd,
    ) -> Result<Value, BackendError> {
        if self.wait == 0 {
            return self.eval(what, script, cmd).await;
        }
        let started = Instant::now();
        self.bounded(what, async {
            let reply = self.run_script(what, script, cmd).await?;
            // WAIT returns short of the limit, so that a missing replica is told as
            // such rather than as a timeout; WAIT 0 would block for ever: at least a
            // millisecond.
            let left = OP_TIMEOUT
                .saturating_sub(started.elapsed())
                .saturating_sub(WAIT_MARGIN)
                .max(Duration::from_millis(1));
            let mut conn = self.connection().await?;
            let acknowledged = conn
                .wait_for_replicas(PREFIX, self.wait, millis(left))
                .await
                .map_err(|e| self.failed("wait", e))?;
            if acknowledged < self.wait {
                return Err(BackendError::Unavailable(format!(
                    "redis: {acknowledged} of {} replicas acknowledged the change within {} s (?wait=); it may still have been applied, a retry is safe",
                    self.wait,
                    OP_TIMEOUT.as_secs()
                )));
            }
            Ok(reply)
        })
        .await
    }

    /// Runs a script command built by [`evalsha`]; when Redis lost the script
    /// (restarted, `SCRIPT FLUSH`), loads it again and retries once.
    pub(super) async fn eval(
        &self,
        what: &str,
        script: &Script,
        cmd: &redis::Cmd,
    ) -> Result<Value, BackendError> {
        self.bounded(what, self.run_script(what, script, cmd)).await
    }

    /// [`Self::eval`] without its time limit.
    async fn run_script(
        &self,
        what: &str,
        script: &Script,
        cmd: &redis::Cmd,
    ) -> Result<Value, BackendError> {
        {
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
        }
    }

    pub(super) async fn query<T: redis::FromRedisValue>(
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

    pub(super) async fn pipe<T: redis::FromRedisValue>(
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
