//! What survives a stop, a crash and a restart (SPEC §8): acknowledged pings, pending
//! alerts, down jobs, and the startup grace for jobs that fell due while stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::{now_unix, Reply};
use crate::harness::{all_names, bodies, job, ping, sleep_until_fraction, temp_db, Hook, Server};

const CLIENTS: usize = 8;

/// Pings distinct names from 8 threads as fast as the server answers, SIGKILLs it
/// mid-stream, restarts it on the same file and looks for every acknowledged name.
fn acknowledged_pings_survive_sigkill(sync: &str) {
    let (_dir, db) = temp_db();
    let mut server = Server::start_sqlite(&db, &["--sync", sync]);
    let url = server.url("/ping");
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("t{t}-{i}");
                    i += 1;
                    let response = client
                        .get(&url)
                        .query(&[("name", name.as_str()), ("frequency", "1h")])
                        .send();
                    // Only a complete 200 counts as acknowledged.
                    if let Ok(response) = response {
                        if response.status() == 200 && response.bytes().is_ok() {
                            acked.lock().expect("acked lock").push(name);
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.sigkill();
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().expect("client thread");
    }
    let acked = acked.lock().expect("acked lock").clone();

    let server = Server::start_sqlite(&db, &["--sync", sync]);
    let stored = all_names(&server);
    let lost: Vec<&String> = acked.iter().filter(|n| !stored.contains(*n)).collect();
    eprintln!(
        "sync={sync}: acked={} lost={} stored={}",
        acked.len(),
        lost.len(),
        stored.len()
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged pings were lost with --sync {sync}, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        acked.len() > 100,
        "only {} pings were acknowledged in 1.5 s",
        acked.len()
    );
    server.stop();
}

#[test]
fn acknowledged_pings_survive_sigkill_with_sync_normal() {
    acknowledged_pings_survive_sigkill("normal");
}

#[test]
fn acknowledged_pings_survive_sigkill_with_sync_full() {
    acknowledged_pings_survive_sigkill("full");
}

#[test]
fn memory_store_loses_every_job_on_restart() {
    let server = Server::start("memory://", &[]);
    assert_eq!(
        ping(&server, &[("name", "gone"), ("frequency", "1h")]).0,
        200
    );
    assert_eq!(job(&server, "gone").0, 200);
    server.stop();
    let server = Server::start("memory://", &[]);
    assert_eq!(job(&server, "gone").0, 404);
    server.stop();
}

/// A ping whose deadline passed two minutes ago: the job is overdue at the next sweep.
fn ping_overdue(server: &Server, name: &str) {
    let timestamp = (now_unix() - 120).to_string();
    let (status, body) = ping(
        server,
        &[
            ("name", name),
            ("frequency", "1m"),
            ("timestamp", &timestamp),
        ],
    );
    assert_eq!(status, 200, "overdue ping: {body}");
}

/// An alert the webhook refused is still delivered, with the same id, by the next
/// process on the same database.
fn a_refused_alert_is_delivered_after_restart(kill: fn(&mut Server)) {
    let (_dir, db) = temp_db();
    let failing = Hook::start_with(|_| Reply::status(500));
    let mut server = Server::start_sqlite(&db, &["--alert-uri", failing.url()]);
    ping_overdue(&server, "pending");
    let first = failing.wait_for(1, Duration::from_secs(15));
    let id = first[0].body["id"].as_str().expect("alert id").to_owned();
    assert_eq!(first[0].body["event"], "down");
    kill(&mut server);
    drop(server);

    let working = Hook::start();
    let server = Server::start_sqlite(&db, &["--alert-uri", working.url()]);
    let got = working.wait_for(1, Duration::from_secs(20));
    assert_eq!(
        got[0].body["id"],
        id,
        "the first alert after restart should be the pending one: {:#?}",
        bodies(&got, 0)
    );
    assert_eq!(got[0].body["event"], "down");
    assert_eq!(got[0].body["alert_count"], 1);
    assert_eq!(got[0].body["name"], "pending");
    server.stop();
}

#[test]
fn a_pending_alert_survives_sigterm_and_is_delivered_after_restart() {
    a_refused_alert_is_delivered_after_restart(|server| {
        server.sigterm();
        let status = server.wait(Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
    });
}

#[test]
fn a_pending_alert_survives_sigkill_and_is_delivered_after_restart() {
    a_refused_alert_is_delivered_after_restart(Server::sigkill);
}

#[test]
fn a_down_job_stays_down_across_a_restart_and_keeps_being_reminded() {
    let (_dir, db) = temp_db();
    let hook = Hook::start();
    let flags = ["--alert-uri", hook.url(), "--realert-every", "2s"];
    let server = Server::start_sqlite(&db, &flags);
    ping_overdue(&server, "stays-down");
    let first = hook.wait_for(1, Duration::from_secs(15));
    assert_eq!(first[0].body["event"], "down");
    assert_eq!(first[0].body["alert_count"], 1);
    server.stop();
    let before = hook.received().len();

    let server = Server::start_sqlite(&db, &flags);
    let (status, body) = job(&server, "stays-down");
    assert_eq!(status, 200);
    assert_eq!(body["status"], "down", "after restart: {body}");
    // A reminder arrives within one realert interval (plus a sweep and slack).
    let got = hook.wait_for(before + 1, Duration::from_secs(10));
    let after = bodies(&got, before);
    let reminder = &after[0];
    assert_eq!(reminder["event"], "down", "{after:#?}");
    assert!(
        reminder["alert_count"].as_u64().is_some_and(|n| n >= 2),
        "the first alert after restart should be a reminder: {after:#?}"
    );
    assert_ne!(reminder["id"], first[0].body["id"]);
    std::thread::sleep(Duration::from_millis(1500));
    let after = bodies(&hook.received(), before);
    let fresh: Vec<&Value> = after
        .iter()
        .filter(|a| a["alert_count"] == 1 || a["event"] != "down")
        .collect();
    assert!(
        fresh.is_empty(),
        "a restart must not raise a new down (or up) for a job that was already down: {fresh:#?}"
    );
    let (_, body) = job(&server, "stays-down");
    assert_eq!(body["status"], "down", "{body}");
    server.stop();
}

/// Pings a job with frequency `3s`, stops the server, and restarts it once the deadline
/// has passed, at `offset_ms` into a wall-clock second. Returns the restarted server.
fn restart_after_the_deadline_passed(
    db: &std::path::Path,
    hook: &Hook,
    name: &str,
    startup_grace: &str,
    offset_ms: u64,
) -> Server {
    let server = Server::start_sqlite(db, &["--alert-uri", hook.url()]);
    let (status, body) = ping(&server, &[("name", name), ("frequency", "3s")]);
    assert_eq!(status, 200, "{body}");
    let deadline = body["next_deadline_unix"].as_i64().expect("deadline");
    server.stop();
    assert!(
        hook.received().is_empty(),
        "nothing was due before the stop"
    );
    // Wait until the deadline has passed while no server ran.
    while now_unix() <= deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    sleep_until_fraction(offset_ms);
    Server::start_sqlite(
        db,
        &["--alert-uri", hook.url(), "--startup-grace", startup_grace],
    )
}

/// Asserts that no alert arrived in the first `quiet` after the start, and that a
/// `down` alert arrived by `by` after it.
fn alerts_between(hook: &Hook, server: &Server, name: &str, quiet: Duration, by: Duration) {
    let got = hook.wait_for(1, by + Duration::from_secs(2));
    let after = got[0].at.saturating_duration_since(server.spawned_at);
    assert_eq!(got[0].body["name"], name);
    assert_eq!(got[0].body["event"], "down");
    assert_eq!(got[0].body["alert_count"], 1);
    assert!(
        after >= quiet,
        "the job alerted {after:?} after the restart, inside its startup grace"
    );
    assert!(
        after <= by,
        "the job alerted only {after:?} after the restart"
    );
}

#[test]
fn a_job_that_fell_due_while_stopped_gets_the_startup_grace() {
    let (_dir, db) = temp_db();
    let hook = Hook::start();
    // Started early in its second, so the whole-second clock of the store cannot
    // shorten the grace by much.
    let server = restart_after_the_deadline_passed(&db, &hook, "late", "2s", 50);
    alerts_between(
        &hook,
        &server,
        "late",
        Duration::from_millis(1500),
        Duration::from_secs(5),
    );
    server.stop();
}

#[test]
fn the_startup_grace_is_at_most_the_jobs_own_frequency() {
    let (_dir, db) = temp_db();
    let hook = Hook::start();
    // min(frequency + grace, startup grace) = min(3s, 1h) = 3s.
    let server = restart_after_the_deadline_passed(&db, &hook, "capped", "1h", 50);
    alerts_between(
        &hook,
        &server,
        "capped",
        Duration::from_millis(2500),
        Duration::from_secs(7),
    );
    server.stop();
}

#[test]
fn the_startup_grace_counts_from_the_start_even_late_in_a_second() {
    let (_dir, db) = temp_db();
    let hook = Hook::start();
    // Started late in its second: a grace counted from the start of that second would
    // end almost a second early.
    let server = restart_after_the_deadline_passed(&db, &hook, "late-in-second", "2s", 850);
    alerts_between(
        &hook,
        &server,
        "late-in-second",
        Duration::from_millis(1500),
        Duration::from_secs(5),
    );
    server.stop();
}
