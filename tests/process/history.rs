//! A change and its events are one durable step (SPEC §13): after kill -9 under a load
//! of mixed signals, every acknowledged ping has its event exactly once, and no event
//! exists beyond the pings acknowledged or in flight at the kill.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{client, ping, temp_db, Server};

const CLIENTS: usize = 8;
/// Jobs per client thread: enough that none records more events than the history keeps.
const JOBS_PER_CLIENT: usize = 16;
const HISTORY: &str = "1000";
const STATES: [&str; 4] = ["start", "success", "fail", "log"];

/// The run ids of every signal event of `name`, walking its history page by page.
fn event_rids(server: &Server, name: &str) -> Vec<String> {
    let client = client();
    let mut rids = Vec::new();
    let mut before: Option<u64> = None;
    let mut oldest = None;
    loop {
        let mut request = client
            .get(server.url(&format!("/ping/{name}/events")))
            .query(&[("limit", "1000")]);
        if let Some(before) = before {
            request = request.query(&[("before", before.to_string())]);
        }
        let response = request.send().expect("events request");
        assert_eq!(response.status(), 200, "GET /ping/{name}/events");
        let page: Value = response.json().expect("events json");
        for event in page["events"].as_array().expect("events array") {
            oldest = event["seq"].as_u64();
            if let Some(rid) = event["rid"].as_str() {
                rids.push(rid.to_owned());
            }
        }
        match page["next"].as_u64() {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(
        oldest,
        Some(1),
        "{name}: the history was trimmed; raise HISTORY"
    );
    rids
}

fn acknowledged_signals_keep_their_events_through_sigkill(sync: &str) {
    let (_dir, db) = temp_db();
    let args = ["--sync", sync, "--history", HISTORY];
    let mut server = Server::start_sqlite(&db, &args);
    let names: Vec<String> = (0..CLIENTS * JOBS_PER_CLIENT)
        .map(|i| format!("h{i}"))
        .collect();
    for name in &names {
        let (status, _) = ping(&server, &[("name", name), ("frequency", "1h")]);
        assert_eq!(status, 200);
    }
    let url = server.url("/ping");
    // Every rid sent, and those whose ping was acknowledged, with the job they named.
    let sent: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (url, sent, acked, stop) = (url.clone(), sent.clone(), acked.clone(), stop.clone());
            let names = names[t * JOBS_PER_CLIENT..(t + 1) * JOBS_PER_CLIENT].to_vec();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let name = &names[i % names.len()];
                    let state = STATES[(i / names.len()) % STATES.len()];
                    let rid = format!("t{t}-{i}");
                    i += 1;
                    sent.lock()
                        .expect("sent lock")
                        .insert(rid.clone(), name.clone());
                    let response = client
                        .get(&url)
                        .query(&[("name", name.as_str()), ("state", state), ("rid", &rid)])
                        .send();
                    // Only a complete 200 counts as acknowledged.
                    if let Ok(response) = response {
                        if response.status() == 200 && response.bytes().is_ok() {
                            acked.lock().expect("acked lock").push(rid);
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
    let sent = sent.lock().expect("sent lock").clone();
    let acked = acked.lock().expect("acked lock").clone();

    let server = Server::start_sqlite(&db, &args);
    let mut found: HashMap<String, usize> = HashMap::new();
    for name in &names {
        for rid in event_rids(&server, name) {
            *found.entry(rid).or_default() += 1;
        }
    }
    let acked_set: HashSet<&String> = acked.iter().collect();
    let lost: Vec<&&String> = acked_set
        .iter()
        .filter(|r| !found.contains_key(**r))
        .collect();
    let twice: Vec<(&String, &usize)> = found.iter().filter(|(_, n)| **n > 1).collect();
    let invented: Vec<&String> = found.keys().filter(|r| !sent.contains_key(*r)).collect();
    let unacked_kept = found.keys().filter(|r| !acked_set.contains(r)).count();
    eprintln!(
        "sync={sync}: sent={} acked={} events={} lost={} twice={} invented={} in flight kept={unacked_kept}",
        sent.len(),
        acked.len(),
        found.len(),
        lost.len(),
        twice.len(),
        invented.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged pings without their event: {lost:?}"
    );
    assert!(twice.is_empty(), "events recorded twice: {twice:?}");
    assert!(
        invented.is_empty(),
        "events of pings never sent: {invented:?}"
    );
    assert!(
        unacked_kept <= CLIENTS,
        "{unacked_kept} events of pings not acknowledged; at most one in flight per client"
    );
    assert!(acked.len() > 100, "only {} pings acknowledged", acked.len());
    server.stop();
}

#[test]
fn acknowledged_signals_keep_their_events_through_sigkill_with_sync_normal() {
    acknowledged_signals_keep_their_events_through_sigkill("normal");
}

#[test]
fn acknowledged_signals_keep_their_events_through_sigkill_with_sync_full() {
    acknowledged_signals_keep_their_events_through_sigkill("full");
}
