//! The Redis store URL of `--store`, checked before anything connects.

use std::fmt;
use std::time::Duration;

use crate::redis_target::{Connector, RedisTarget};

/// An alert handed to a replica and neither finished nor rescheduled for this long is
/// taken over by another: its replica died mid-delivery. Well above one attempt (10 s)
/// and the write of its outcome; `?lease=` in the store URL changes it.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// More replicas than any deployment runs is a typo.
const MAX_WAIT: u32 = 100;

/// `--store redis://[USER:PASSWORD@]HOST:PORT[/DB][?lease=DURATION]`, or `rediss://`
/// with the TLS parameters of [`RedisTarget`]. `Debug` and `Display` hide the
/// credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisStore {
    /// Where Redis is and how to reach it.
    target: RedisTarget,
    /// How long an alert handed to a replica may stay unfinished before another
    /// replica takes it over.
    pub(super) lease: Duration,
    /// `?wait=N`: replicas of Redis that must acknowledge each change before it is
    /// answered.
    pub(super) wait: u32,
}

impl RedisStore {
    /// Accepts what [`RedisTarget::parse`] accepts, with an optional `?lease=DURATION`
    /// (1s to 1h). Refuses anything else with a one-line reason.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let target = RedisTarget::parse(raw, &["lease", "wait"])?;
        let mut lease = DEFAULT_LEASE;
        let mut wait = 0;
        for (name, value) in target.extra() {
            match name.as_str() {
                "lease" => lease = parse_lease(value)?,
                "wait" => wait = parse_wait(value)?,
                _ => {}
            }
        }
        Ok(Self {
            target,
            lease,
            wait,
        })
    }

    pub(super) fn connector(&self) -> redis::RedisResult<Connector> {
        self.target.connector()
    }
}

/// `wait=N`: from 0 (the default, no waiting) to [`MAX_WAIT`] replicas.
fn parse_wait(raw: &str) -> Result<u32, String> {
    raw.parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_WAIT)
        .ok_or_else(|| format!("invalid wait {raw:?}: a number of replicas from 0 to {MAX_WAIT}"))
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
        fmt::Display::fmt(&self.target, f)
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisStore({})", self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_host_port_and_database() {
        let store = RedisStore::parse("redis://cache.internal:6380/2").unwrap();
        assert_eq!(store.to_string(), "redis://cache.internal:6380/2");
        assert_eq!(store.lease, DEFAULT_LEASE);
        let store = RedisStore::parse("redis://127.0.0.1").unwrap();
        assert_eq!(store.to_string(), "redis://127.0.0.1:6379/0");
        let store = RedisStore::parse("redis://127.0.0.1:6379/0?lease=5s").unwrap();
        assert_eq!(store.lease, Duration::from_secs(5));
        assert_eq!(store.wait, 0);
        let store = RedisStore::parse("rediss://h:1/0?wait=2&lease=5s").unwrap();
        assert_eq!((store.wait, store.lease), (2, Duration::from_secs(5)));
        let store = RedisStore::parse("redis+cluster://a:7000,b:7001?wait=1").unwrap();
        assert_eq!(store.wait, 1);
    }

    #[test]
    fn store_urls_hide_their_credentials() {
        let store = RedisStore::parse("redis://user:s3cret@cache:6379/1").unwrap();
        let shown = format!("{store} {store:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
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
            "redis://host:6379/0?wait=-1",
            "redis://host:6379/0?wait=x",
            "redis://host:6379/0?wait=101",
            "redis://host:6379/0#x",
            "rediss://host:6379/0?ca=/nonexistent.pem",
        ] {
            let e = RedisStore::parse(bad).expect_err(bad);
            assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
        }
    }
}
