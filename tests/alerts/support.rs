//! Helpers for the alert tests: making jobs overdue at once, reading payload times,
//! and checking Standard Webhooks signatures independently of the app's own code.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::common::{now_unix, Received, TestApp, Webhook};

/// How long any single wait may take: the test machine is small and busy.
pub const WAIT: Duration = Duration::from_secs(15);

/// Pings `name` with `frequency=1m` and a timestamp two minutes ago, so its deadline
/// passed a minute ago and the sweeper, woken by the ping, raises `down` at once.
/// Returns the timestamp sent.
pub async fn ping_overdue(app: &TestApp, name: &str) -> i64 {
    let ts = now_unix() - 120;
    let response = app
        .ping_with(&[
            ("name", name),
            ("frequency", "1m"),
            ("timestamp", &ts.to_string()),
        ])
        .await;
    assert_eq!(response.status(), 200, "overdue ping for {name}");
    ts
}

/// The alerts received for one job, in arrival order.
pub fn of_job<'a>(received: &'a [Received], name: &str) -> Vec<&'a Received> {
    received.iter().filter(|r| r.body["name"] == name).collect()
}

/// A header's value; panics when it is missing or not text.
pub fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name} missing: {:?}", received.headers))
        .to_str()
        .expect("header is text")
}

/// The alert's `id`.
pub fn id_of(received: &Received) -> &str {
    received.body["id"].as_str().expect("id is a string")
}

/// An integer field of a payload or job object.
pub fn int(value: &serde_json::Value, field: &str) -> i64 {
    value[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} should be an integer: {value}"))
}

/// Unix seconds of an RFC 3339 time that is in UTC with a `Z` and whole seconds.
pub fn unix_of(value: &serde_json::Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected an RFC 3339 string, got {value}"));
    let bytes = text.as_bytes();
    assert!(
        text.len() == 20 && bytes[10] == b'T' && text.ends_with('Z'),
        "{text:?} should look like 2026-11-21T03:00:00Z"
    );
    OffsetDateTime::parse(text, &Rfc3339)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .unix_timestamp()
}

/// RFC 3339 in UTC with `Z`, as the payload writes it.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .expect("valid time")
        .format(&Rfc3339)
        .expect("formats")
}

/// Time between two arrivals.
pub fn gap(earlier: &Received, later: &Received) -> Duration {
    later.at.saturating_duration_since(earlier.at)
}

/// Waits until an alert matching `wanted` has arrived and returns it.
pub async fn wait_for_alert(
    hook: &Webhook,
    wanted: impl Fn(&Received) -> bool,
    timeout: Duration,
) -> Received {
    let deadline = Instant::now() + timeout;
    loop {
        let received = hook.received();
        if let Some(found) = received.iter().find(|r| wanted(r)) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no matching alert within {timeout:?}; got {:#?}",
            received.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls the job object until its status is `status`, and returns it.
pub async fn wait_for_status(
    app: &TestApp,
    name: &str,
    status: &str,
    timeout: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let job = app.job(name).await;
        if job["status"] == status {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not {status} within {timeout:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `webhook-signature` holds a `v1,` HMAC-SHA256 under `key` of
/// `"<webhook-id>.<webhook-timestamp>.<raw body>"` (the header may list several
/// space-separated signatures, as Standard Webhooks allows).
pub fn signature_matches(key: &[u8], received: &Received) -> bool {
    let id = header(received, "webhook-id");
    let timestamp = header(received, "webhook-timestamp");
    let signatures = header(received, "webhook-signature");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&received.raw);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    signatures
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

/// A URL on 127.0.0.1 where nothing listens: a port bound and released at once.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/hook")
}

/// Sleeps until the wall clock is at least `ms` milliseconds into a second (and not
/// past 900), so a test can control where in a second an alert is raised.
pub async fn align_to_millis_into_second(ms: u32) {
    loop {
        let into = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_millis();
        if (ms..900).contains(&into) {
            return;
        }
        let wait = if into < ms {
            ms - into
        } else {
            1000 - into + ms
        };
        tokio::time::sleep(Duration::from_millis(u64::from(wait))).await;
    }
}

/// Wall-clock unix seconds (fractional) at which `received` arrived, given one
/// simultaneous reading of both clocks.
pub fn arrival_unix(received: &Received, mono: Instant, wall: SystemTime) -> f64 {
    let wall = wall.duration_since(UNIX_EPOCH).expect("after 1970");
    let offset = received.at.saturating_duration_since(mono);
    (wall + offset).as_secs_f64()
}
