//! Redis restarted under load, with its append-only file on: nothing a replica
//! acknowledged is lost, no alert is lost.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::now_unix;
use crate::harness::{all_names, Hook, Server};
use crate::redis_server::RedisServer;
use crate::support::{client, ping, runtime, Alerts, WAIT};

const CLIENTS: usize = 4;

#[test]
fn acknowledged_pings_and_alerts_survive_a_redis_restart() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_arg = dir.path().display().to_string();
    // appendfsync always: every write Redis acknowledges is on disk, so even SIGKILL
    // loses none (everysec, the README's advice, may lose the last second).
    let mut redis = rt.block_on(RedisServer::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &dir_arg,
    ]));
    let hook = Hook::start();
    let store = format!("{}/0?lease=2s", redis.url());
    let flags = [
        "--alert-uri",
        hook.url(),
        "--realert-every",
        "1h",
        "--sweep-interval",
        "200ms",
    ];
    let replicas: Vec<Server> = (0..2).map(|_| Server::start(&store, &flags)).collect();

    // Clients ping distinct names through both replicas; one in ten is overdue at once
    // and must alert. Only a complete 200 counts as acknowledged.
    let acked: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(Mutex::new(0usize));
    std::thread::scope(|scope| {
        for t in 0..CLIENTS {
            let (acked, stop, refused, replicas) = (&acked, &stop, &refused, &replicas);
            scope.spawn(move || {
                let client = client();
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("c{t}-{i}");
                    let overdue = i % 10 == 0;
                    let old = (now_unix() - 120).to_string();
                    let mut params = vec![("name", name.as_str()), ("frequency", "1m")];
                    if overdue {
                        params.push(("timestamp", &old));
                    } else {
                        params[1] = ("frequency", "1h");
                    }
                    match ping(&client, &replicas[i % replicas.len()], &params) {
                        200 => acked.lock().expect("lock").push((name, overdue)),
                        _ => *refused.lock().expect("lock") += 1,
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1_500));
        redis.stop();
        std::thread::sleep(Duration::from_millis(700));
        rt.block_on(redis.restart());
        let back = Instant::now();
        // Pings succeed again by themselves.
        let recovered = loop {
            let before = acked.lock().expect("lock").len();
            std::thread::sleep(Duration::from_millis(300));
            if acked.lock().expect("lock").len() > before + 10 {
                break true;
            }
            if back.elapsed() > WAIT {
                break false;
            }
        };
        stop.store(true, Ordering::SeqCst);
        assert!(recovered, "pings never recovered after the restart");
    });
    let acked = acked.lock().expect("lock").clone();
    let refused = *refused.lock().expect("lock");
    assert!(refused > 0, "the restart should have refused some pings");

    let stored = all_names(&replicas[0]);
    let lost: Vec<&String> = acked
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !stored.contains(*n))
        .collect();
    eprintln!(
        "{} pings acknowledged, {refused} refused with 503 while Redis was away, {} lost",
        acked.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged pings lost: {lost:?}");

    let overdue: HashSet<&str> = acked
        .iter()
        .filter(|(_, o)| *o)
        .map(|(n, _)| n.as_str())
        .collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let alerts = Alerts::of(&hook.received());
        let missing: Vec<&&str> = overdue
            .iter()
            .filter(|n| !alerts.has(n, "down", 1))
            .collect();
        if missing.is_empty() {
            assert!(
                alerts.raised_twice().is_empty(),
                "{:?}",
                alerts.raised_twice()
            );
            eprintln!(
                "{} down alerts delivered, {} redelivered",
                overdue.len(),
                alerts.redelivered()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "down alerts lost for {} acknowledged overdue jobs: {missing:?}",
            missing.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for replica in replicas {
        replica.stop();
    }
}
