//! The Redis store URL of `--store`, checked before anything connects.

use std::fmt;
use std::time::Duration;

/// An alert handed to a replica and neither finished nor rescheduled for this long is
/// taken over by another: its replica died mid-delivery. Well above one attempt (10 s)
/// and the write of its outcome; `?lease=` in the store URL changes it.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// `--store redis://[USER:PASSWORD@]HOST:PORT[/DB][?lease=DURATION]`. `Debug` and
/// `Display` hide the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisStore {
    /// What the redis client connects to (credentials included, `lease` left out).
    pub(super) url: String,
    shown: String,
    /// How long an alert handed to a replica may stay unfinished before another
    /// replica takes it over.
    pub(super) lease: Duration,
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

    pub(super) fn client(&self) -> redis::RedisResult<redis::Client> {
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
