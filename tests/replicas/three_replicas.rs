//! Three replicas on one Redis: shared jobs, one replica SIGKILLed while due jobs are
//! being swept and their alerts delivered, every alert raised once and delivered.

use std::time::{Duration, Instant};

use crate::common::{Received, Reply};
use crate::harness::{all_names, Hook, Server};
use crate::redis_server::RedisServer;
use crate::support::{client, json, now_ms, ping, runtime, sleep_until_ms, Alerts, WAIT};
use crate::tls_server::TlsRedis;

const REPLICAS: usize = 3;
const JOBS: usize = 600;
/// Every job pings once with the same timestamp and this frequency: they all fall due
/// at the same moment, a few seconds after registration.
const FREQUENCY_S: i64 = 6;

fn name(i: usize) -> String {
    format!("job-{i:04}")
}

/// Waits until `done` holds for what the webhook received; panics after [`WAIT`].
fn wait_for_alerts(hook: &Hook, what: &str, done: impl Fn(&Alerts) -> bool) -> Vec<Received> {
    let deadline = Instant::now() + WAIT;
    loop {
        let received = hook.received();
        if done(&Alerts::of(&received)) {
            return received;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook never received {what} within {WAIT:?} ({} requests)",
            received.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Alerts pending in the outbox's group under the consumer of the replica with `pid`.
async fn leased_by(conn: &mut redis::aio::MultiplexedConnection, pid: u32) -> i64 {
    let summary: redis::Value = redis::cmd("XPENDING")
        .arg("{overdue}:outbox")
        .arg("overdue")
        .query_async(conn)
        .await
        .unwrap_or(redis::Value::Nil);
    let marker = format!("-{pid}-");
    let redis::Value::Array(parts) = summary else {
        return 0;
    };
    let Some(redis::Value::Array(consumers)) = parts.get(3) else {
        return 0;
    };
    consumers
        .iter()
        .filter_map(|c| match c {
            redis::Value::Array(pair) => match (pair.first(), pair.get(1)) {
                (Some(redis::Value::BulkString(name)), Some(redis::Value::BulkString(n)))
                    if String::from_utf8_lossy(name).contains(&marker) =>
                {
                    String::from_utf8_lossy(n).parse::<i64>().ok()
                }
                _ => None,
            },
            _ => None,
        })
        .sum()
}

#[test]
fn three_replicas_share_jobs_and_raise_each_alert_once_when_one_is_killed() {
    let rt = runtime();
    let redis = rt.block_on(RedisServer::start());
    let redis_client = redis::Client::open(redis.url()).expect("redis url");
    // A short lease, so that a dead replica's alerts are taken over within the test.
    let store = format!("{}/0?lease=2s", redis.url());
    share_jobs_and_raise_each_alert_once(&rt, &store, &redis_client);
}

/// The same over TLS (SPEC §8): a TLS-only Redis with a private CA and client
/// certificates.
#[test]
fn over_tls_three_replicas_share_jobs_and_raise_each_alert_once_when_one_is_killed() {
    let rt = runtime();
    let redis = TlsRedis::start();
    let store = format!("{}&lease=2s", redis.url());
    share_jobs_and_raise_each_alert_once(&rt, &store, &redis.client());
}

/// Three replicas on `store`; `redis_client` reaches the same Redis for the test's reads.
fn share_jobs_and_raise_each_alert_once(
    rt: &tokio::runtime::Runtime,
    store: &str,
    redis_client: &redis::Client,
) {
    // Slow enough that alerts are in flight when the replica dies.
    let hook = Hook::start_with(|_| Reply {
        status: 200,
        headers: Vec::new(),
        delay: Duration::from_millis(150),
    });
    let flags = [
        "--alert-uri",
        hook.url(),
        "--realert-every",
        "4s",
        "--sweep-interval",
        "200ms",
    ];
    let mut replicas: Vec<Server> = (0..REPLICAS)
        .map(|_| Server::start(store, &flags))
        .collect();

    // Pings spread over the replicas, one thread each.
    let ts = now_ms() / 1000;
    let due_at_ms = (ts + FREQUENCY_S) * 1000;
    std::thread::scope(|scope| {
        for (r, replica) in replicas.iter().enumerate() {
            scope.spawn(move || {
                let client = client();
                for i in (r..JOBS).step_by(REPLICAS) {
                    let status = ping(
                        &client,
                        replica,
                        &[
                            ("name", &name(i)),
                            ("frequency", &format!("{FREQUENCY_S}s")),
                            ("timestamp", &ts.to_string()),
                        ],
                    );
                    assert_eq!(status, 200, "ping {} through replica {r}", name(i));
                }
            });
        }
    });
    assert!(
        now_ms() < due_at_ms,
        "registering {JOBS} jobs took longer than their frequency"
    );

    // A job pinged through one replica is seen through the others, and every replica
    // counts the same.
    let http = client();
    for i in [0, 1, 2, JOBS - 1] {
        let other = &replicas[(i + 1) % REPLICAS];
        let job = json(&http, other, &format!("/ping/{}", name(i)));
        assert_eq!(
            job["pings_total"],
            1,
            "{} through another replica: {job}",
            name(i)
        );
    }
    for replica in &replicas {
        assert_eq!(all_names(replica).len(), JOBS);
        let health = json(&http, replica, "/health");
        assert_eq!(
            health["indicators"]["services_monitored"], JOBS as u64,
            "{health:#}"
        );
    }
    // Every replica counts every replica's pings (each sends its counts every second).
    let counted = Instant::now();
    for replica in &replicas {
        loop {
            let health = json(&http, replica, "/health");
            if health["indicators"]["pings_per_hour"].as_f64() >= Some(JOBS as f64) {
                break;
            }
            assert!(
                counted.elapsed() < Duration::from_secs(5),
                "pings_per_hour never added up the {JOBS} pings: {health:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // The deadline passes; replica 0 dies while the sweep and the deliveries run, as
    // soon as it holds leased alerts.
    sleep_until_ms(due_at_ms);
    let mut conn = rt
        .block_on(redis_client.get_multiplexed_async_connection())
        .expect("connect to redis");
    let orphaned = {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let held = rt.block_on(leased_by(&mut conn, replicas[0].pid()));
            if held > 0 || Instant::now() > deadline {
                break held;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    replicas[0].sigkill();
    let killed_at = Instant::now();
    eprintln!("replica 0 killed holding {orphaned} leased alerts");

    let received = wait_for_alerts(&hook, "every job's first down alert", |alerts| {
        (0..JOBS).all(|i| alerts.has(&name(i), "down", 1))
    });
    eprintln!(
        "all {JOBS} first down alerts within {:?} of the kill ({} deliveries)",
        killed_at.elapsed(),
        received.len()
    );
    for replica in &replicas[1..] {
        let health = json(&http, replica, "/health");
        assert_eq!(
            health["indicators"]["services_down"], JOBS as u64,
            "{health:#}"
        );
    }

    // The restarted replica takes a recovery ping: `up` is sent once.
    replicas[0] = Server::start(store, &flags);
    assert_eq!(ping(&http, &replicas[0], &[("name", &name(0))]), 200);
    wait_for_alerts(&hook, "the up alert of job-0000", |alerts| {
        alerts.has(&name(0), "up", 1)
    });

    // Reminders go on, raised by one replica each.
    let received = wait_for_alerts(&hook, "every down job's first reminder", |alerts| {
        (1..JOBS).all(|i| alerts.has(&name(i), "down", 2))
    });
    for replica in replicas.drain(..) {
        replica.stop();
    }
    let alerts = Alerts::of(&received);
    let twice = alerts.raised_twice();
    assert!(
        twice.is_empty(),
        "alerts raised twice (one key, several ids): {twice:#?}"
    );
    let ups = &alerts.by_key[&(name(0), "up".to_owned(), 1)];
    assert_eq!(ups.1, 1, "the up alert arrived {} times", ups.1);
    eprintln!(
        "{} alerts, {} redelivered after the kill (at-least-once)",
        alerts.by_key.len(),
        alerts.redelivered()
    );
    assert!(
        orphaned > 0,
        "replica 0 never held a leased alert: the takeover went untested"
    );
}
