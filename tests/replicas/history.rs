//! Two replicas recording pings of the same jobs and sweeping them at once (SPEC §8,
//! §13): every acknowledged ping has its event exactly once, numbered without a gap
//! or a repeat, and every down has its up before the next.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Hook, Server};
use crate::redis_server::RedisServer;
use crate::support::{client, json, runtime};

const JOBS: usize = 3;
/// Bursts of pings each thread sends, with a pause long enough between them for the
/// jobs to fall due: both replicas then sweep them while the other thread pings.
const BURSTS: usize = 4;
const PINGS_PER_BURST: usize = 12;

fn name(j: usize) -> String {
    format!("hist-{j}")
}

/// Every event of `job`, newest first, read a page at a time through `server`.
fn all_events(server: &Server, job: &str) -> Vec<Value> {
    let http = client();
    let mut events = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let query = match before {
            Some(b) => format!("/ping/{job}/events?limit=50&before={b}"),
            None => format!("/ping/{job}/events?limit=50"),
        };
        let page = json(&http, server, &query);
        let list = page["events"].as_array().cloned().unwrap_or_default();
        assert!(!list.is_empty() || before.is_some(), "{job}: {page}");
        events.extend(list);
        match page["next"].as_u64() {
            Some(next) => before = Some(next),
            None => return events,
        }
    }
}

#[test]
fn two_replicas_pinging_and_sweeping_at_once_record_each_event_once() {
    let rt = runtime();
    let redis = rt.block_on(RedisServer::start());
    let hook = Hook::start();
    let store = format!("{}/0", redis.url());
    let flags = [
        "--alert-uri",
        hook.url(),
        "--realert-every",
        "1s",
        "--sweep-interval",
        "50ms",
        "--history",
        "10000",
    ];
    let replicas = [Server::start(&store, &flags), Server::start(&store, &flags)];
    let http = client();
    for j in 0..JOBS {
        let status = http
            .get(replicas[0].url("/ping"))
            .query(&[("name", name(j).as_str()), ("frequency", "1s")])
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        assert_eq!(status, 200);
    }

    // Two threads, one a replica, each ping marked: plain pings by their user agent
    // (the quick path), the others by their run id (decided in Rust).
    let acknowledged: Vec<Vec<(usize, String)>> = std::thread::scope(|scope| {
        let threads: Vec<_> = replicas
            .iter()
            .enumerate()
            .map(|(t, replica)| {
                scope.spawn(move || {
                    let http = client();
                    let mut acked = Vec::new();
                    for burst in 0..BURSTS {
                        for i in 0..PINGS_PER_BURST {
                            let j = i % JOBS;
                            let marker = format!("t{t}-b{burst}-p{i}");
                            let mut request = http.get(replica.url("/ping"));
                            request = if i % 2 == 0 {
                                request
                                    .query(&[("name", name(j).as_str())])
                                    .header("user-agent", &marker)
                            } else {
                                request.query(&[("name", name(j).as_str()), ("rid", &marker)])
                            };
                            let status = request.send().map(|r| r.status().as_u16()).unwrap_or(0);
                            if status == 200 {
                                acked.push((j, marker));
                            }
                        }
                        // Out of phase with the other thread, past the jobs' deadline.
                        let pause = if t == 0 { 2_300 } else { 2_100 };
                        std::thread::sleep(Duration::from_millis(pause));
                    }
                    acked
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    });
    let acknowledged: Vec<(usize, String)> = acknowledged.into_iter().flatten().collect();
    assert_eq!(
        acknowledged.len(),
        2 * BURSTS * PINGS_PER_BURST,
        "every ping acknowledged"
    );

    for j in 0..JOBS {
        let job = name(j);
        // Either replica reads the same history.
        let events = all_events(&replicas[j % 2], &job);
        let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
        let expected: Vec<u64> = (1..=seqs.len() as u64).rev().collect();
        assert_eq!(seqs, expected, "{job}: seqs without a gap or a repeat");
        let stored = json(&http, &replicas[0], &format!("/ping/{job}"));
        let mut markers: BTreeMap<String, usize> = BTreeMap::new();
        for event in &events {
            if event["kind"] == "ping" {
                let marker = event["rid"]
                    .as_str()
                    .or(event["user_agent"].as_str())
                    .unwrap_or("?");
                *markers.entry(marker.to_owned()).or_default() += 1;
            }
        }
        let mut wanted: BTreeMap<String, usize> = acknowledged
            .iter()
            .filter(|(k, _)| *k == j)
            .map(|(_, m)| (m.clone(), 1))
            .collect();
        // The ping that created the job came with reqwest's own user agent, if any.
        markers.retain(|m, _| m.starts_with('t'));
        wanted.retain(|m, _| m.starts_with('t'));
        assert_eq!(
            markers, wanted,
            "{job}: each acknowledged ping's event once"
        );
        assert_eq!(
            stored["pings_total"].as_u64(),
            Some(1 + wanted.len() as u64),
            "{job}: {stored}"
        );
        // Oldest first: created, then downs and ups alternating, reminders only while
        // down.
        let mut down = false;
        let mut downs = 0;
        for event in events.iter().rev() {
            match event["kind"].as_str() {
                Some("down") => {
                    assert!(!down, "{job}: a second down without an up: {events:#?}");
                    down = true;
                    downs += 1;
                }
                Some("up") => {
                    assert!(down, "{job}: an up while up: {events:#?}");
                    down = false;
                }
                Some("reminder") => assert!(down, "{job}: a reminder while up"),
                _ => {}
            }
        }
        assert!(
            downs >= 2,
            "{job}: the sweeps raced the pings ({downs} downs)"
        );
        assert_eq!(
            events.last().map(|e| e["kind"].clone()),
            Some("created".into())
        );
    }
    for replica in replicas {
        replica.stop();
    }
}
