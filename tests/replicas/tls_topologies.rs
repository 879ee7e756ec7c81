//! `rediss+cluster://` and `rediss+sentinel://` (SPEC §8, TLS to every node): a
//! TLS-only cluster of three masters (`--tls-cluster yes`), and three Sentinels, a
//! master and a replica all TLS-only (`tls-replication yes`), every server requiring
//! the client certificate. Pings and alerts work through both; health is published to
//! the TLS cluster; behind the Sentinels a killed master is followed to the new one
//! over TLS; a CA that signed nothing, or a master name no Sentinel knows, is refused
//! at start in one line.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::now_unix;
use crate::harness::{Hook, Server};
use crate::support::{client, json, ping, Alerts, WAIT};
use crate::tls_server::{free_port, Certificates, TlsRedis};

const MASTER: &str = "tlsmaster";

/// Three TLS-only masters joined into one cluster whose bus and replication are TLS
/// too, once every node says it is ok.
fn start_tls_cluster(certificates: &Arc<Certificates>) -> Vec<TlsRedis> {
    let nodes: Vec<TlsRedis> = (0..3)
        .map(|i| {
            let conf = certificates.dir().join(format!("nodes-{i}.conf"));
            let bus = free_port().to_string();
            TlsRedis::start_with(
                certificates.clone(),
                &[
                    "--dir",
                    &certificates.dir().display().to_string(),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf.display().to_string(),
                    "--cluster-port",
                    &bus,
                    "--tls-cluster",
                    "yes",
                    "--tls-replication",
                    "yes",
                ],
            )
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = Command::new("redis-cli")
        .args(certificates.cli_args())
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster create");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + WAIT;
    for node in &nodes {
        loop {
            let info = node.cli(&["CLUSTER", "INFO"]);
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

#[test]
fn a_tls_only_cluster_serves_pings_alerts_and_history_over_rediss_cluster() {
    let certificates = Certificates::make();
    let nodes = start_tls_cluster(&certificates);
    let store = format!(
        "rediss+cluster://127.0.0.1:{},127.0.0.1:{}?{}",
        nodes[0].port,
        nodes[1].port,
        certificates.params("ca.crt")
    );
    let hook = Hook::start();
    // The health publisher uses the same TLS cluster.
    let flags = [
        "--alert-uri",
        hook.url(),
        "--sweep-interval",
        "200ms",
        "--health-redis",
        &store,
        "--health-publish-every",
        "1s",
    ];
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
    // The keys are in the cluster, over TLS.
    let owner = nodes
        .iter()
        .find(|n| n.cli(&["CLUSTER", "COUNTKEYSINSLOT", "10268"]).trim() != "0")
        .expect("a node holds the deployment's keys");
    let keyslot = owner.cli(&["CLUSTER", "KEYSLOT", "{overdue}"]);
    assert_eq!(keyslot.trim(), "10268");
    let deadline = Instant::now() + WAIT;
    loop {
        let health = json(&http, &replicas[0], "/health");
        if health["indicators"]["health_redis_reachable"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health never published over TLS: {health}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_tls_cluster_with_a_ca_that_signed_nothing_is_refused_at_start_in_one_line() {
    let certificates = Certificates::make();
    let nodes = start_tls_cluster(&certificates);
    let store = format!(
        "rediss+cluster://127.0.0.1:{}?{}",
        nodes[0].port,
        certificates.params("other-ca.crt")
    );
    let finished = crate::harness::run_to_exit(crate::harness::command(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
    ]));
    let stderr = finished.stderr.trim();
    assert_eq!(
        finished.status.code(),
        Some(2),
        "{stderr}\n{}",
        finished.stdout
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("--store") && stderr.contains("TLS"),
        "{stderr}"
    );
    assert!(!stderr.contains("BEGIN"), "{stderr}");
}

/// A TLS-only `redis-sentinel` watching the master on `master_port`, killed on drop.
struct TlsSentinel {
    port: u16,
    certificates: Arc<Certificates>,
    child: Child,
}

impl TlsSentinel {
    fn start(certificates: &Arc<Certificates>, master_port: u16) -> Self {
        let port = free_port();
        let conf = certificates.dir().join(format!("sentinel-{port}.conf"));
        let mut text = format!("port 0\ntls-port {port}\nbind 127.0.0.1\ntls-replication yes\n");
        for (name, value) in certificates.directives() {
            text.push_str(&format!("{name} {value}\n"));
        }
        text.push_str(&format!(
            "sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {MASTER} 1000\n\
             sentinel failover-timeout {MASTER} 5000\n"
        ));
        std::fs::write(&conf, text).expect("write the sentinel config");
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-sentinel (apt-get install redis-sentinel)");
        Self {
            port,
            certificates: certificates.clone(),
            child,
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        self.certificates.cli(self.port, args)
    }
}

impl Drop for TlsSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sentinels_master_and_replica_over_tls_serve_pings_alerts_and_a_failover() {
    let certificates = Certificates::make();
    let mut master = TlsRedis::start_with(certificates.clone(), &["--tls-replication", "yes"]);
    let master_port = master.port.to_string();
    let dir = certificates.dir().display().to_string();
    let replica = TlsRedis::start_with(
        certificates.clone(),
        &[
            "--tls-replication",
            "yes",
            "--dir",
            &dir,
            "--replicaof",
            "127.0.0.1",
            &master_port,
        ],
    );
    let sentinels: Vec<TlsSentinel> = (0..3)
        .map(|_| TlsSentinel::start(&certificates, master.port))
        .collect();
    // Every Sentinel sees the replica and the other two, over TLS.
    let deadline = Instant::now() + WAIT;
    loop {
        let ready = sentinels.iter().all(|s| {
            let replicas = s.cli(&["SENTINEL", "REPLICAS", MASTER]);
            let others = s.cli(&["SENTINEL", "SENTINELS", MASTER]);
            replicas.contains(&replica.port.to_string())
                && sentinels
                    .iter()
                    .filter(|o| o.port != s.port)
                    .all(|o| others.contains(&o.port.to_string()))
        });
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Sentinels never saw the whole set over TLS"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let nodes: Vec<String> = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let store = format!(
        "rediss+sentinel://{}/{MASTER}/0?{}",
        nodes.join(","),
        certificates.params("ca.crt")
    );
    // A master name no Sentinel knows, asked over TLS, stops the start in one line.
    let unknown = format!(
        "rediss+sentinel://{}/no-such-master/0?{}",
        nodes.join(","),
        certificates.params("ca.crt")
    );
    let finished = crate::harness::run_to_exit(crate::harness::command(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        &unknown,
    ]));
    let stderr = finished.stderr.trim();
    assert_eq!(finished.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("--store") && stderr.contains("no-such-master"),
        "{stderr}"
    );

    let hook = Hook::start();
    let server = Server::start(
        &store,
        &["--alert-uri", hook.url(), "--sweep-interval", "200ms"],
    );
    let http = client();
    let old = (now_unix() - 120).to_string();
    let late = [("name", "late"), ("frequency", "1m"), ("timestamp", &old)];
    assert_eq!(ping(&http, &server, &late), 200, "{}", server.log());
    let fine = [("name", "fine"), ("frequency", "1h")];
    assert_eq!(ping(&http, &server, &fine), 200, "{}", server.log());
    let received = hook.wait_for(1, WAIT);
    assert!(Alerts::of(&received).has("late", "down", 1), "{received:?}");

    // Replication is asynchronous without `wait`: the replica has both jobs before the
    // master dies, so that what follows is about finding the new master.
    let deadline = Instant::now() + WAIT;
    while ["late", "fine"]
        .iter()
        .any(|name| replica.cli(&["HEXISTS", "{overdue}:jobs", name]).trim() != "1")
    {
        assert!(
            Instant::now() < deadline,
            "the replica never synced over TLS"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The master dies; the Sentinels promote the replica and pings follow, over TLS.
    master.kill();
    let deadline = Instant::now() + Duration::from_secs(40);
    while ping(&http, &server, &fine) != 200 {
        assert!(
            Instant::now() < deadline,
            "pings never reached the new master\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        replica.cli(&["ROLE"]).starts_with("master"),
        "{}",
        replica.cli(&["ROLE"])
    );
    let job = json(&http, &server, "/ping/fine");
    assert!(job["pings_total"].as_u64() >= Some(2), "{job}");
    assert_eq!(ping(&http, &server, &[("name", "late")]), 200);
    let received = hook.wait_for(2, WAIT);
    assert!(Alerts::of(&received).has("late", "up", 1), "{received:?}");
    assert!(Alerts::of(&received).raised_twice().is_empty());
    server.stop();
}

#[test]
fn a_missing_tls_file_on_sentinel_and_cluster_urls_stops_the_start_in_one_line() {
    for store in [
        "rediss+cluster://127.0.0.1:7000?ca=/nonexistent/ca.pem",
        "rediss+sentinel://127.0.0.1:26379/mymaster?cert=/nonexistent/c.pem&key=/nonexistent/k.pem",
    ] {
        let finished = crate::harness::run_to_exit(crate::harness::command(&[
            "--listen",
            "127.0.0.1:0",
            "--store",
            store,
        ]));
        let stderr = finished.stderr.trim();
        assert_eq!(finished.status.code(), Some(2), "{store}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("--store") && stderr.contains("cannot read the ?"),
            "{stderr}"
        );
    }
}
