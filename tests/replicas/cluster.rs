//! `redis+cluster://` (SPEC §8): three masters made into a cluster with
//! `redis-cli --cluster create`, two overdue replicas; pings, sweeps, alerts and history
//! work, and a migration of the hash tag's slot to another master is followed.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::now_unix;
use crate::harness::{command, run_to_exit, Hook, Server};
use crate::redis_server::RedisServer;
use crate::support::{client, json, ping, runtime, Alerts, WAIT};

async fn query<T: redis::FromRedisValue>(node: &RedisServer, args: &[&str]) -> T {
    let mut conn = node.connection().await;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{args:?} on {}: {e}", node.port))
}

/// Three empty masters joined into one cluster, once every node says it is ok.
pub fn start_cluster(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Vec<RedisServer> {
    start_cluster_with_replicas(rt, dir, 0)
}

/// Three empty masters with `replicas` replicas each, joined into one cluster, once
/// every node says it is ok.
fn start_cluster_with_replicas(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    replicas: usize,
) -> Vec<RedisServer> {
    let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
        .map(|i| {
            let conf = dir.join(format!("nodes-{i}.conf")).display().to_string();
            let dir = dir.display().to_string();
            rt.block_on(RedisServer::start_with(&[
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &dir,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &conf,
            ]))
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + WAIT;
    for node in &nodes {
        loop {
            let info: String = rt.block_on(query(node, &["CLUSTER", "INFO"]));
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster never became ok: {info}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    nodes
}

/// Moves `slot` from `from` to `to` the way `redis-cli --cluster reshard` does:
/// IMPORTING / MIGRATING, MIGRATE of its keys, then the new owner told to everyone.
fn migrate_slot(
    rt: &tokio::runtime::Runtime,
    nodes: &[RedisServer],
    slot: &str,
    from: usize,
    to: usize,
) {
    let id = |i: usize| -> String { rt.block_on(query(&nodes[i], &["CLUSTER", "MYID"])) };
    let (from_id, to_id) = (id(from), id(to));
    let _: () = rt.block_on(query(
        &nodes[to],
        &["CLUSTER", "SETSLOT", slot, "IMPORTING", &from_id],
    ));
    let _: () = rt.block_on(query(
        &nodes[from],
        &["CLUSTER", "SETSLOT", slot, "MIGRATING", &to_id],
    ));
    let port = nodes[to].port.to_string();
    loop {
        let keys: Vec<String> = rt.block_on(query(
            &nodes[from],
            &["CLUSTER", "GETKEYSINSLOT", slot, "100"],
        ));
        if keys.is_empty() {
            break;
        }
        let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        args.extend(keys.iter().map(String::as_str));
        let _: () = rt.block_on(query(&nodes[from], &args));
    }
    for node in nodes {
        let _: () = rt.block_on(query(node, &["CLUSTER", "SETSLOT", slot, "NODE", &to_id]));
    }
}

#[test]
fn two_replicas_on_a_cluster_ping_sweep_alert_and_follow_a_slot_migration() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let nodes = start_cluster(&rt, dir.path());
    let store = format!(
        "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
        nodes[0].port, nodes[1].port
    );
    let hook = Hook::start();
    let flags = ["--alert-uri", hook.url(), "--sweep-interval", "200ms"];
    let replicas = [Server::start(&store, &flags), Server::start(&store, &flags)];
    let http = client();

    let old = (now_unix() - 120).to_string();
    let late = [("name", "late"), ("frequency", "1m"), ("timestamp", &old)];
    assert_eq!(
        ping(&http, &replicas[0], &late),
        200,
        "{}",
        replicas[0].log()
    );
    let fine = [("name", "fine"), ("frequency", "1h")];
    assert_eq!(
        ping(&http, &replicas[1], &fine),
        200,
        "{}",
        replicas[1].log()
    );
    let received = hook.wait_for(1, WAIT);
    assert!(Alerts::of(&received).has("late", "down", 1), "{received:?}");
    let job = json(&http, &replicas[0], "/ping/fine");
    assert_eq!(job["pings_total"], 1, "{job}");
    let events = json(&http, &replicas[1], "/ping/late/events");
    assert!(
        events["events"].as_array().is_some_and(|e| !e.is_empty()),
        "{events}"
    );

    // The hash tag's slot moves to another master; replicas follow the redirection.
    let slot: i64 = rt.block_on(query(&nodes[0], &["CLUSTER", "KEYSLOT", "{overdue}"]));
    let slot = slot.to_string();
    let owner = (0..3)
        .find(|&i| {
            let n: i64 = rt.block_on(query(&nodes[i], &["CLUSTER", "COUNTKEYSINSLOT", &slot]));
            n > 0
        })
        .expect("a node holds the deployment's keys");
    let to = (owner + 1) % 3;
    migrate_slot(&rt, &nodes, &slot, owner, to);
    let moved: i64 = rt.block_on(query(&nodes[to], &["CLUSTER", "COUNTKEYSINSLOT", &slot]));
    assert!(moved > 0, "the keys did not move");

    let deadline = Instant::now() + WAIT;
    for replica in &replicas {
        while ping(&http, replica, &fine) != 200 {
            assert!(
                Instant::now() < deadline,
                "pings never followed the slot\n{}",
                replica.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let job = json(&http, &replicas[0], "/ping/fine");
    assert!(job["pings_total"].as_u64() >= Some(3), "{job}");
    let late_again = [("name", "late")];
    assert_eq!(ping(&http, &replicas[1], &late_again), 200);
    let received = hook.wait_for(2, WAIT);
    assert!(Alerts::of(&received).has("late", "up", 1), "{received:?}");
    assert!(Alerts::of(&received).raised_twice().is_empty());
}

/// The master that owns `slot` and its replica, as indexes into `nodes`, from
/// `CLUSTER NODES` (`ID HOST:PORT@BUS FLAGS MASTER_ID … SLOT_RANGES…`), once the
/// cluster's gossip has told the first node about the replica.
fn owner_and_replica(
    rt: &tokio::runtime::Runtime,
    nodes: &[RedisServer],
    slot: u16,
) -> (usize, usize) {
    let index = |addr: &str| -> usize {
        let port = addr
            .split(['@', ':'])
            .nth(1)
            .and_then(|p| p.parse::<u16>().ok())
            .expect("a node port");
        nodes
            .iter()
            .position(|n| n.port == port)
            .expect("a node of the test")
    };
    let owns = |ranges: &[&str]| {
        ranges.iter().any(|range| {
            let (low, high) = range.split_once('-').unwrap_or((range, range));
            low.parse::<u16>().is_ok_and(|l| l <= slot)
                && high.parse::<u16>().is_ok_and(|h| slot <= h)
        })
    };
    let deadline = Instant::now() + WAIT;
    loop {
        let table: String = rt.block_on(query(&nodes[0], &["CLUSTER", "NODES"]));
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .filter(|row: &Vec<&str>| row.len() >= 8)
            .collect();
        let master = rows
            .iter()
            .find(|row| row[2].contains("master") && owns(&row[8..]));
        let replica = master.and_then(|master| rows.iter().find(|row| row[3] == master[0]));
        if let (Some(master), Some(replica)) = (master, replica) {
            return (index(master[1]), index(replica[1]));
        }
        assert!(
            Instant::now() < deadline,
            "the owner of slot {slot} never had a replica: {table}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn with_wait_a_change_on_a_cluster_is_answered_once_the_slots_replica_has_it() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut nodes = start_cluster_with_replicas(&rt, dir.path(), 1);
    // The slot of the hash tag, as this cluster computes it.
    let slot: i64 = rt.block_on(query(&nodes[0], &["CLUSTER", "KEYSLOT", "{overdue}"]));
    let slot = u16::try_from(slot).expect("a slot");
    let (master, replica) = owner_and_replica(&rt, &nodes, slot);
    let deadline = Instant::now() + WAIT;
    loop {
        let info: String = rt.block_on(query(&nodes[master], &["INFO", "replication"]));
        if info.contains("connected_slaves:1") && info.contains("state=online") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never synced: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Any node leads to the cluster; WAIT must still reach the slot's master.
    let other = (0..nodes.len())
        .find(|&i| i != master && i != replica)
        .expect("a third node");
    let store = format!("redis+cluster://127.0.0.1:{}?wait=1", nodes[other].port);
    let server = Server::start(&store, &[]);
    let http = client();
    for i in 0..10 {
        let name = format!("w{i}");
        let status = ping(&http, &server, &[("name", &name), ("frequency", "1h")]);
        assert_eq!(status, 200, "{}", server.log());
        // Acknowledged means on the slot's replica already.
        let on_replica: i64 = rt.block_on(async {
            let mut conn = nodes[replica].connection().await;
            let _: () = redis::cmd("READONLY")
                .query_async(&mut conn)
                .await
                .expect("READONLY on the replica");
            redis::cmd("HEXISTS")
                .arg("{overdue}:jobs")
                .arg(&name)
                .query_async(&mut conn)
                .await
                .expect("HEXISTS on the replica")
        });
        assert_eq!(
            on_replica, 1,
            "{name} answered 200 before the replica had it"
        );
    }

    // Without the slot's replica no change can be confirmed, although the other
    // masters still have theirs: 503 within the limit.
    nodes[replica].stop();
    let started = Instant::now();
    let status = ping(&http, &server, &[("name", "alone"), ("frequency", "1h")]);
    assert_eq!(status, 503, "{}", server.log());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    server.stop();
}

#[test]
fn a_node_that_is_not_a_cluster_is_refused_at_start_in_one_line() {
    let rt = runtime();
    let plain = rt.block_on(RedisServer::start());
    let store = format!("redis+cluster://127.0.0.1:{}", plain.port);
    let finished = run_to_exit(command(&["--listen", "127.0.0.1:0", "--store", &store]));
    let stderr = finished.stderr.trim();
    assert_eq!(
        finished.status.code(),
        Some(2),
        "{stderr}\n{}",
        finished.stdout
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--store") && stderr.contains("Cluster"),
        "{stderr}"
    );
}

#[test]
fn with_wait_a_cluster_failover_loses_no_acknowledged_ping() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut nodes = start_cluster_with_replicas(&rt, dir.path(), 1);
    // The cluster's own failover, quick enough for a test.
    for node in &nodes {
        let _: () = rt.block_on(query(
            node,
            &["CONFIG", "SET", "cluster-node-timeout", "1000"],
        ));
    }
    let slot: i64 = rt.block_on(query(&nodes[0], &["CLUSTER", "KEYSLOT", "{overdue}"]));
    let slot = u16::try_from(slot).expect("a slot");
    let (master, replica) = owner_and_replica(&rt, &nodes, slot);
    let deadline = Instant::now() + WAIT;
    loop {
        let info: String = rt.block_on(query(&nodes[master], &["INFO", "replication"]));
        if info.contains("connected_slaves:1") && info.contains("state=online") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never synced: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let other = (0..nodes.len())
        .find(|&i| i != master && i != replica)
        .expect("a third node");
    let store = format!("redis+cluster://127.0.0.1:{}?wait=1", nodes[other].port);
    let server = Server::start(&store, &[]);
    let http = client();
    let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    for name in &names {
        let status = ping(&http, &server, &[("name", name), ("frequency", "1h")]);
        assert_eq!(status, 200, "{}", server.log());
    }

    // The slot's master dies; the cluster promotes its replica, and reads find every
    // acknowledged ping there.
    let killed_at = Instant::now();
    nodes[master].stop();
    let deadline = killed_at + Duration::from_secs(40);
    let status_of = |name: &str| {
        http.get(server.url(&format!("/ping/{name}")))
            .send()
            .map_or(0, |r| r.status().as_u16())
    };
    while status_of(&names[0]) != 200 {
        assert!(
            Instant::now() < deadline,
            "reads never reached the promoted replica\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "cluster failover: first read through the promoted replica {:?} after the kill",
        killed_at.elapsed()
    );
    for name in &names {
        let job = json(&http, &server, &format!("/ping/{name}"));
        assert_eq!(job["pings_total"], 1, "{name} lost: {job}");
    }
    // The promoted master has no replica of its own: with wait=1 a change cannot be
    // confirmed (503), as the docs say.
    let status = ping(&http, &server, &[("name", "after"), ("frequency", "1h")]);
    assert_eq!(status, 503, "{}", server.log());
    server.stop();
}
