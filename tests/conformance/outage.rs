//! What only a networked store does: go away, freeze, forget its scripts, outlive the
//! replicas. Redis only.

use std::time::{Duration, Instant};

use crate::common::{TestApp, Webhook};
use crate::support::{json, ping_overdue, wait_for_json, Store, WAIT};

/// `GET /health`: status and document.
async fn health(app: &TestApp) -> (u16, serde_json::Value) {
    let response = app.get("/health").await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("health JSON"))
}

fn has_store_unreachable(doc: &serde_json::Value) -> bool {
    doc["alerts"].as_array().is_some_and(|alerts| {
        alerts
            .iter()
            .any(|a| a["code"] == "store_unreachable" && a["severity"] == "critical")
    })
}

/// Pings until one answers 200; panics after [`WAIT`].
async fn wait_for_recovery(app: &TestApp, name: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if app.ping(name, "1h").await.status() == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pings did not recover within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_unreachable_redis_answers_503_and_everything_recovers_when_it_returns() {
    let mut store = Store::redis().await;
    let app = store.spawn(&[]).await;
    assert_eq!(app.ping("before", "1h").await.status(), 200);

    store.redis.as_mut().expect("redis").stop();
    let response = app.ping("during", "1h").await;
    assert_eq!(response.status(), 503);
    let message = response.text().await.unwrap();
    assert!(
        message.contains("nothing was recorded") && !message.trim_end().contains('\n'),
        "{message:?}"
    );
    let response = app
        .client
        .get(app.url("/ping?name=during&frequency=1h"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(app.get("/readyz").await.status(), 503);
    let (status, doc) = health(&app).await;
    assert_eq!(status, 503, "{doc:#}");
    assert_eq!(doc["indicators"]["store_reachable"], false);
    assert!(has_store_unreachable(&doc), "{doc:#}");
    assert_eq!(app.get("/livez").await.status(), 200);

    // The same port again (an empty Redis: this one keeps nothing).
    store.redis.as_mut().expect("redis").restart().await;
    wait_for_recovery(&app, "after").await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let (status, doc) = health(&app).await;
    assert_eq!(status, 200, "{doc:#}");
    assert!(!has_store_unreachable(&doc));
    app.stop().await;
}

#[tokio::test]
async fn a_frozen_redis_costs_a_request_two_seconds_not_more() {
    let store = Store::redis().await;
    let app = store.spawn(&[]).await;
    assert_eq!(app.ping("before", "1h").await.status(), 200);
    let redis = store.redis.as_ref().expect("redis");
    redis.signal("STOP");
    let sent = Instant::now();
    let status = app.ping("during", "1h").await.status();
    let took = sent.elapsed();
    redis.signal("CONT");
    assert_eq!(status, 503);
    assert!(
        (Duration::from_millis(1_500)..Duration::from_secs(5)).contains(&took),
        "a ping waited {took:?} on a frozen redis"
    );
    wait_for_recovery(&app, "after").await;
    app.stop().await;
}

#[tokio::test]
async fn scripts_redis_forgot_are_sent_again() {
    let store = Store::redis().await;
    let app = store.spawn(&[]).await;
    assert_eq!(app.ping("a", "1h").await.status(), 200);
    let mut conn = store.redis.as_ref().expect("redis").connection().await;
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async::<()>(&mut conn)
        .await
        .expect("SCRIPT FLUSH");
    assert_eq!(app.ping("a", "1h").await.status(), 200);
    assert_eq!(app.ping("b", "1h").await.status(), 200);
    assert_eq!(json(&app, "/pings").await["total"], 2);
    app.stop().await;
}

/// The `k` field (the last ping's deadline had already passed when it was recorded; no
/// startup grace for it) is kept by plain pings too, which take the script's short path:
/// set by a late one, removed by a timely one. Explicit clocks, no sweep in between, so
/// the job stays up as it would during a startup grace.
#[tokio::test]
async fn plain_pings_keep_the_late_ping_mark() {
    use overdue::backend::{open, BackendOptions, Ping, StoreTimer, SyncMode, Wakers};
    use overdue::domain::{Frequency, JobName, UnixTime};

    let store = Store::redis().await;
    let url = store.url.parse().expect("store URL");
    let options = BackendOptions {
        max_services: 10,
        history: 100,
        realert_every: None,
        realert_max: Duration::from_secs(24 * 3600),
        startup_grace: Duration::from_secs(900),
        sync: SyncMode::Normal,
        fanout: overdue::backend::Fanout::default(),
    };
    let b = open(&url, options, Wakers::default(), StoreTimer::default())
        .await
        .expect("open the store");
    let t = |secs: i64| UnixTime::from_secs(secs).expect("time");
    let plain = |frequency: Option<&str>, at: Option<i64>| Ping {
        frequency: frequency.map(|f| Frequency::parse(f).expect("frequency")),
        grace: None,
        at: at.map(t),
        want_job: false,
        ..Ping::new(JobName::parse("nightly").expect("name"))
    };
    let mut conn = store.redis.as_ref().expect("redis").connection().await;
    // The third of the job's packed fields (`l|p|k|…`, see codec.rs).
    let mut late_mark = async || -> Option<String> {
        let packed: String = redis::cmd("HGET")
            .arg("{overdue}:jobs")
            .arg("nightly")
            .query_async(&mut conn)
            .await
            .expect("HGET");
        let k = packed.split('|').nth(2).expect("a packed job");
        (!k.is_empty()).then(|| k.to_owned())
    };

    b.record_ping(plain(Some("1m"), Some(1_000)), t(1_000))
        .await
        .expect("register");
    assert_eq!(late_mark().await, None, "registered in time");
    // A run of 1_010 reported at 1_100, after its deadline (1_070).
    b.record_ping(plain(None, Some(1_010)), t(1_100))
        .await
        .expect("late ping");
    assert_eq!(late_mark().await.as_deref(), Some("1"), "a late plain ping");
    b.record_ping(plain(None, None), t(1_101))
        .await
        .expect("ping in time");
    assert_eq!(late_mark().await, None, "a ping in time clears it");
    let job = b
        .get(&JobName::parse("nightly").expect("name"))
        .await
        .expect("get")
        .expect("the job");
    assert_eq!((job.pings_total, job.last_ping), (3, t(1_101)));
    b.close().await.expect("close");
}

/// Keys, per-job data and the outbox all sit under one hash tag, so that a deployment
/// lives in one Redis Cluster slot.
#[tokio::test]
async fn every_key_shares_one_hash_tag() {
    let hook = Webhook::start_with(|_| crate::common::Reply::status(500)).await;
    let store = Store::redis().await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "1h"])
        .await;
    assert_eq!(app.ping("a job", "1h").await.status(), 200);
    ping_overdue(&app, "late").await;
    hook.wait_for(1, WAIT).await;
    let mut conn = store.redis.as_ref().expect("redis").connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert!(keys.len() >= 6, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("{overdue}:")), "{keys:?}");
    app.stop().await;
}

/// SPEC §8 with replicas: when no replica ran for a while, a job that fell due meanwhile
/// gets start + min(frequency + grace, --startup-grace); a down job stays down.
#[tokio::test]
async fn a_job_due_while_no_replica_ran_gets_the_startup_grace() {
    let hook = Webhook::start().await;
    let store = Store::redis().await;
    let flags = [
        "--alert-uri",
        hook.url.as_str(),
        "--realert-every",
        "1h",
        "--startup-grace",
        "3s",
    ];
    let app = store.spawn(&flags).await;
    ping_overdue(&app, "down").await;
    hook.wait_for(1, WAIT).await;
    let response = app
        .ping_with(&[("name", "late"), ("frequency", "2s"), ("grace", "4s")])
        .await;
    assert_eq!(response.status(), 200);
    app.stop().await;

    // Longer than the liveness gap (10 s) with no replica: overdue was not running.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let spawned = Instant::now();
    let app = store.spawn(&flags).await;
    assert_eq!(app.job("late").await["status"], "up");
    let got = hook.wait_for(2, WAIT).await;
    let late = &got[1].body;
    assert_eq!(
        (late["name"].as_str(), late["alert_count"].as_u64()),
        (Some("late"), Some(1))
    );
    let after = got[1].at - spawned;
    assert!(
        after >= Duration::from_millis(2_900),
        "the late job alerted {after:?} after the start, before its startup grace (min(6 s, 3 s))"
    );
    assert_eq!(app.job("down").await["status"], "down");
    hook.expect_no_more_than(2, Duration::from_millis(500))
        .await;
    wait_for_json(&app, "/pings?status=down", "both down", |page| {
        page["total"] == 2
    })
    .await;
    app.stop().await;
}

/// Two replicas deciding on the same jobs at once: every decision is stored only if the
/// job is still as its replica read it, so the sweep that loses the race raises
/// nothing, and pings that ask for the job (decided in Rust, not on the quick path) each
/// count once.
#[tokio::test]
async fn replicas_deciding_at_once_raise_each_alert_once_and_count_each_ping_once() {
    use overdue::backend::{open, Backend, BackendOptions, Ping, StoreTimer, SyncMode, Wakers};
    use overdue::domain::{Frequency, JobName, UnixTime};
    use std::sync::Arc;

    let store = Store::redis().await;
    let url = store.url.parse().expect("store URL");
    let options = || BackendOptions {
        max_services: 100,
        history: 100,
        realert_every: Some(Duration::from_secs(60)),
        realert_max: Duration::from_secs(3_600),
        startup_grace: Duration::from_secs(900),
        sync: SyncMode::Normal,
        fanout: overdue::backend::Fanout::default(),
    };
    let replica = || async {
        open(&url, options(), Wakers::default(), StoreTimer::default())
            .await
            .expect("open the store")
    };
    let (a, b): (Arc<dyn Backend>, Arc<dyn Backend>) = (replica().await, replica().await);
    let t = |secs: i64| UnixTime::from_secs(secs).expect("time");
    let ping = |name: &str| Ping {
        frequency: Some(Frequency::parse("1m").expect("frequency")),
        grace: None,
        at: None,
        want_job: true,
        ..Ping::new(JobName::parse(name).expect("name"))
    };
    let names: Vec<String> = (0..20).map(|i| format!("job-{i:02}")).collect();
    for name in &names {
        a.record_ping(ping(name), t(1_000)).await.expect("ping");
    }
    let mut pings = Vec::new();
    for round in 0..10 {
        for (i, name) in names.iter().enumerate() {
            let replica = if (round + i) % 2 == 0 { &a } else { &b };
            let (replica, sent) = (Arc::clone(replica), ping(name));
            pings.push(tokio::spawn(async move {
                replica.record_ping(sent, t(1_001)).await
            }));
        }
    }
    for ping in pings {
        ping.await.expect("task").expect("ping");
    }
    for name in &names {
        let job = a
            .get(&JobName::parse(name).expect("name"))
            .await
            .expect("get")
            .expect("the job");
        assert_eq!(job.pings_total, 11, "{name}");
    }
    let now = UnixTime::from_millis(1_061_001).expect("time");
    let (from_a, from_b) = tokio::join!(a.take_due(now, 100), b.take_due(now, 100));
    let (from_a, from_b) = (from_a.expect("sweep a"), from_b.expect("sweep b"));
    let mut raised: Vec<&str> = from_a
        .iter()
        .chain(&from_b)
        .map(|alert| alert.name.as_str())
        .collect();
    raised.sort_unstable();
    assert_eq!(raised, names, "each job's down alert raised once");
    assert_eq!(a.backlog().await.expect("backlog"), names.len());
    a.close().await.expect("close");
    b.close().await.expect("close");
}
