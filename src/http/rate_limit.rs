//! The optional per-client rate limit (`--rate-limit N/s`): a token bucket per client
//! address, refilled continuously, holding at most N tokens (so a client may burst N
//! requests, then gets N per second). Beyond it: 429 with `Retry-After`.
//!
//! Only built when the option is set, so a monitor without it pays nothing.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;

use super::error::ApiError;

/// `--rate-limit`: at most `requests` per `per` from one client, in bursts of up to
/// `requests`; `requests == 0` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

impl RateLimit {
    /// No limit.
    pub const OFF: RateLimit = RateLimit {
        requests: 0,
        per: Duration::from_secs(1),
    };

    /// Whether there is no limit at all.
    pub fn is_off(&self) -> bool {
        self.requests == 0
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_off() {
            return f.write_str("off");
        }
        let unit = if self.per.as_secs() == 60 { "m" } else { "s" };
        write!(f, "{}/{unit}", self.requests)
    }
}

/// Clients tracked at once before idle entries are swept out early.
const MAX_TRACKED: usize = 100_000;
/// New clients between two sweeps of idle entries.
const SWEEP_EVERY: usize = 4096;
/// Paths that are never limited: an orchestrator's probes must not be refused because
/// other traffic from the same address (a node, a proxy) used up the budget.
const EXEMPT: [&str; 2] = ["/livez", "/readyz"];

/// The buckets of every recently seen client.
pub struct Limiter {
    /// Tokens added per second.
    rate: f64,
    /// Bucket size: the burst a client may send at once.
    burst: f64,
    /// How long an untouched bucket takes to fill up: after that it is the same as no
    /// bucket at all, so it may be dropped.
    idle_after: Duration,
    buckets: DashMap<Client, Bucket>,
    new_clients: AtomicUsize,
    setting: RateLimit,
}

/// A client: its IPv4 address, or the /64 prefix of its IPv6 address (one host
/// usually owns a whole /64, so per-address buckets would be trivial to dodge).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Client(IpAddr);

impl From<IpAddr> for Client {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Client(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
            v4 => Client(v4),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Limiter {
    /// `None` when the setting is off.
    pub fn new(setting: RateLimit) -> Option<Self> {
        if setting.is_off() {
            return None;
        }
        let burst = f64::from(setting.requests);
        let rate = burst / setting.per.as_secs_f64();
        Some(Self {
            rate,
            burst,
            idle_after: setting.per,
            buckets: DashMap::new(),
            new_clients: AtomicUsize::new(0),
            setting,
        })
    }

    /// Takes one token for `ip`; when there is none, how long until there is.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let client = Client::from(ip);
        match self.buckets.get_mut(&client) {
            Some(mut bucket) => self.take(&mut bucket, now),
            None => {
                self.note_new_client(now);
                let mut bucket = Bucket {
                    tokens: self.burst,
                    updated: now,
                };
                let verdict = self.take(&mut bucket, now);
                // Two first requests racing: the later insert wins, which can only
                // forgive one request.
                self.buckets.insert(client, bucket);
                verdict
            }
        }
    }

    fn take(&self, bucket: &mut Bucket, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    /// Keeps memory bounded whatever the number of clients: every few thousand new
    /// clients, or when the table is full, buckets that have filled up again (so hold
    /// nothing a fresh bucket would not) are dropped.
    fn note_new_client(&self, now: Instant) {
        let seen = self.new_clients.fetch_add(1, Ordering::Relaxed) + 1;
        if seen % SWEEP_EVERY == 0 || self.buckets.len() >= MAX_TRACKED {
            self.buckets
                .retain(|_, b| now.saturating_duration_since(b.updated) < self.idle_after);
        }
    }

    /// Clients with a bucket now (for tests and diagnostics).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The middleware: 429 with `Retry-After` (whole seconds, at least 1) beyond the limit.
pub async fn limit(
    State(limiter): State<std::sync::Arc<Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    if EXEMPT.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    // The accept loop attaches the peer address to every request when a limiter is set.
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return next.run(request).await;
    };
    match limiter.check(peer.ip(), Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::RateLimited {
                limit: limiter.setting.to_string(),
                retry_after: secs.max(1),
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: u32) -> Limiter {
        Limiter::new(RateLimit {
            requests,
            per: Duration::from_secs(1),
        })
        .unwrap()
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_for_refill() {
        let l = limiter(3);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip, t0).is_ok());
        }
        let wait = l.check(ip, t0).unwrap_err();
        assert!(wait > Duration::from_millis(300) && wait <= Duration::from_millis(334));
        // Another client has its own bucket.
        assert!(l.check("10.0.0.2".parse().unwrap(), t0).is_ok());
        // A third of a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(340);
        assert!(l.check(ip, t1).is_ok());
        assert!(l.check(ip, t1).is_err());
        // A long pause never stores more than the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(l.check(ip, t2).is_ok());
        }
        assert!(l.check(ip, t2).is_err());
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_prefix() {
        let l = limiter(1);
        let t0 = Instant::now();
        assert!(l.check("2001:db8:1:2::1".parse().unwrap(), t0).is_ok());
        assert!(l.check("2001:db8:1:2::ffff".parse().unwrap(), t0).is_err());
        assert!(l.check("2001:db8:1:3::1".parse().unwrap(), t0).is_ok());
        // An IPv4-mapped address is the IPv4 client.
        assert!(l.check("192.0.2.1".parse().unwrap(), t0).is_ok());
        assert!(l.check("::ffff:192.0.2.1".parse().unwrap(), t0).is_err());
    }

    #[test]
    fn idle_clients_are_forgotten_so_memory_stays_bounded() {
        let l = limiter(10);
        let t0 = Instant::now();
        for i in 0..SWEEP_EVERY as u32 - 1 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(l.check(ip, t0).is_ok());
        }
        assert_eq!(l.tracked(), SWEEP_EVERY - 1);
        // Two seconds later every bucket is full again: the next new client sweeps them.
        let later = t0 + Duration::from_secs(2);
        assert!(l.check("192.0.2.7".parse().unwrap(), later).is_ok());
        assert_eq!(l.tracked(), 1);
    }
}
