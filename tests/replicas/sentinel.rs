//! `redis+sentinel://` (SPEC §8): a master, two replicas and three Sentinels; the
//! master is killed (SIGKILL) under ping load with `wait=1`. Pings answer 503 only
//! while there is no master, then recover by themselves through the new master; no
//! acknowledged ping is lost, no alert is lost or raised twice.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::now_unix;
use crate::harness::{all_names, Hook, Server};
use crate::redis_server::RedisServer;
use crate::support::{client, ping, runtime, Alerts, WAIT};

const MASTER: &str = "mymaster";
const CLIENTS: usize = 2;

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `redis-sentinel` watching the master on `master_port`, killed on drop.
struct Sentinel {
    port: u16,
    child: Child,
}

impl Sentinel {
    fn start(dir: &std::path::Path, master_port: u16) -> Self {
        let port = free_port();
        let conf = dir.join(format!("sentinel-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nsentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 5000\nsentinel parallel-syncs {MASTER} 2\n"
            ),
        )
        .expect("write the sentinel config");
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-sentinel (apt-get install redis-sentinel)");
        Self { port, child }
    }

    /// `SENTINEL` `args` on this Sentinel, once it answers.
    fn query(&self, args: &[&str]) -> Option<redis::Value> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port)).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()?;
        let mut cmd = redis::cmd("SENTINEL");
        for arg in args {
            cmd.arg(*arg);
        }
        cmd.query(&mut conn).ok()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A replica of `master`; the copy it receives lands in `dir`, not in the crate.
fn replica_of(
    rt: &tokio::runtime::Runtime,
    master: &RedisServer,
    dir: &std::path::Path,
) -> RedisServer {
    let port = master.port.to_string();
    let dir = dir.display().to_string();
    rt.block_on(RedisServer::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        &dir,
        "--replicaof",
        "127.0.0.1",
        &port,
    ]))
}

/// Waits until every Sentinel knows the master, both replicas and the other two.
fn wait_until_watched(sentinels: &[Sentinel]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let ready = sentinels.iter().all(|s| {
            let count = |args: &[&str]| match s.query(args) {
                Some(redis::Value::Array(items)) => items.len(),
                _ => 0,
            };
            count(&["replicas", MASTER]) == 2 && count(&["sentinels", MASTER]) == 2
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the Sentinels never saw the whole set"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn pings_follow_a_sentinel_failover_and_lose_no_acknowledged_ping() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut master = rt.block_on(RedisServer::start());
    let replicas = [
        replica_of(&rt, &master, dir.path()),
        replica_of(&rt, &master, dir.path()),
    ];
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|_| Sentinel::start(dir.path(), master.port))
        .collect();
    wait_until_watched(&sentinels);
    let nodes: Vec<String> = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let store = format!("redis+sentinel://{}/{MASTER}/0?wait=1", nodes.join(","));
    let hook = Hook::start();
    let server = Server::start(
        &store,
        &[
            "--alert-uri",
            hook.url(),
            "--realert-every",
            "1h",
            "--sweep-interval",
            "200ms",
        ],
    );

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    // (when, status) of every answer.
    let answers: Arc<Mutex<Vec<(Instant, u16)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (killed_at, failover_end) = std::thread::scope(|scope| {
        for t in 0..CLIENTS {
            let (acked, answers, stop, server) = (&acked, &answers, &stop, &server);
            scope.spawn(move || {
                let client = client();
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("s{t}-{i}");
                    // One in ten is overdue at once and must alert exactly once.
                    let old = (now_unix() - 120).to_string();
                    let mut params = vec![("name", name.as_str()), ("frequency", "1h")];
                    if i % 10 == 0 {
                        params = vec![("name", &name), ("frequency", "1m"), ("timestamp", &old)];
                    }
                    let status = ping(&client, server, &params);
                    if status == 200 {
                        acked.lock().expect("lock").push(name);
                    }
                    answers.lock().expect("lock").push((Instant::now(), status));
                    i += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1_500));
        // Taken before the kill: a ping refused while the process is being reaped
        // is already after it.
        let killed_at = Instant::now();
        master.stop();
        // Runs until pings have been answered 200 for 2 s after the failover.
        let deadline = killed_at + Duration::from_secs(40);
        let mut failover_end = None;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if failover_end.is_none() && failover_done(&rt, &sentinels[0], &replicas) {
                failover_end = Some(Instant::now());
            }
            let answers = answers.lock().expect("lock");
            let last_refused = answers
                .iter()
                .filter(|(at, status)| *at > killed_at && *status != 200)
                .map(|(at, _)| *at)
                .max();
            let recovered = last_refused.is_some_and(|at| {
                answers
                    .iter()
                    .any(|(a, s)| *a > at + Duration::from_secs(2) && *s == 200)
            });
            if recovered || Instant::now() > deadline {
                break;
            }
        }
        stop.store(true, Ordering::SeqCst);
        (killed_at, failover_end)
    });

    let answers = answers.lock().expect("lock").clone();
    let refused: Vec<&(Instant, u16)> = answers.iter().filter(|(_, s)| *s != 200).collect();
    assert!(
        refused.iter().all(|(_, s)| *s == 503),
        "only 503 while there is no master: {:?}",
        refused.iter().map(|(_, s)| s).collect::<Vec<_>>()
    );
    let before_kill = refused.iter().filter(|(at, _)| *at < killed_at).count();
    assert_eq!(before_kill, 0, "refusals before the kill\n{}", server.log());
    let last_refused = refused.iter().map(|(at, _)| *at).max();
    let recovered = answers
        .iter()
        .filter(|(at, _)| last_refused.is_none_or(|r| *at > r))
        .filter(|(_, s)| *s == 200)
        .count();
    assert!(
        recovered > 20,
        "pings never recovered through the new master ({} answers, {} refused)\n{}",
        answers.len(),
        refused.len(),
        server.log()
    );
    let failover_end = failover_end.expect("the Sentinels never finished the failover");
    if let Some(last) = last_refused {
        let outage = last.duration_since(killed_at);
        eprintln!(
            "failover: 503 for {outage:?} after the kill; the failover took {:?}",
            failover_end.duration_since(killed_at)
        );
        assert!(outage < Duration::from_secs(30), "{outage:?}");
        // 503 at most for the failover's length: a change that started just before
        // its end may still wait out the 2 s limit, and the test looks every 200 ms.
        assert!(
            last <= failover_end + Duration::from_millis(3_500),
            "503 {:?} after the failover ended\n{}",
            last.duration_since(failover_end),
            server.log()
        );
    }

    // Every acknowledged ping is on the new master.
    let names = all_names(&server);
    let acked = acked.lock().expect("lock");
    let lost: Vec<&String> = acked.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged pings lost: {lost:?}",
        lost.len()
    );

    // Every acknowledged overdue job alerts, none is raised twice.
    let overdue: Vec<&String> = acked
        .iter()
        .filter(|n| {
            n.rsplit('-')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i % 10 == 0)
        })
        .collect();
    let deadline = Instant::now() + WAIT;
    let received = loop {
        let received = hook.received();
        let alerts = Alerts::of(&received);
        if overdue.iter().all(|n| alerts.has(n, "down", 1)) {
            break received;
        }
        assert!(
            Instant::now() < deadline,
            "alerts lost: {:?}\n{}",
            overdue
                .iter()
                .filter(|n| !alerts.has(n, "down", 1))
                .collect::<Vec<_>>(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let twice = Alerts::of(&received).raised_twice();
    assert!(twice.is_empty(), "alerts raised twice: {twice:?}");
    assert_eq!(
        Alerts::of(&received).redelivered(),
        0,
        "alerts sent twice\n{}",
        server.log()
    );
    server.stop();
}

/// Whether the Sentinels have promoted one of `replicas` and it has the other one as
/// an online replica of its own: the end of the failover for a store with `wait=1`.
fn failover_done(
    rt: &tokio::runtime::Runtime,
    sentinel: &Sentinel,
    replicas: &[RedisServer],
) -> bool {
    let port = match sentinel.query(&["get-master-addr-by-name", MASTER]) {
        Some(redis::Value::Array(items)) => items
            .get(1)
            .and_then(|v| redis::from_redis_value::<u16>(v).ok()),
        _ => None,
    };
    let Some(promoted) = replicas.iter().find(|r| Some(r.port) == port) else {
        return false;
    };
    rt.block_on(async {
        let mut conn = promoted.connection().await;
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        info.contains("role:master") && info.contains("state=online")
    })
}

#[test]
fn a_master_name_no_sentinel_knows_is_refused_at_start_in_one_line() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let master = rt.block_on(RedisServer::start());
    let sentinels: Vec<Sentinel> = (0..2)
        .map(|_| Sentinel::start(dir.path(), master.port))
        .collect();
    let deadline = Instant::now() + WAIT;
    while sentinels.iter().any(|s| s.query(&["masters"]).is_none()) {
        assert!(Instant::now() < deadline, "the Sentinels never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let nodes: Vec<String> = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let store = format!("redis+sentinel://{}/no-such-master/0", nodes.join(","));
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
        stderr.contains("--store") && stderr.contains("no-such-master"),
        "{stderr}"
    );
}
