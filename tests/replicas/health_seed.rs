//! The health seed's own variables (SPEC §8): `HEALTH_REDIS_HOST` and
//! `HEALTH_REDIS_PORT` name the health Redis when `HEALTH_REDIS_URL` is unset, and
//! `HEALTH_REDIS_CLUSTER_MODE=true` makes the host a node of a Redis Cluster.

use std::time::{Duration, Instant};

use crate::harness::{command, run_to_exit, Server};
use crate::redis_server::RedisServer;
use crate::support::{runtime, WAIT};

#[test]
fn health_redis_host_and_port_name_the_health_redis() {
    let rt = runtime();
    let redis = rt.block_on(RedisServer::start());
    let mut cmd = command(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        "memory://",
        "--health-publish-every",
        "1s",
    ]);
    cmd.env("HEALTH_REDIS_HOST", "127.0.0.1")
        .env("HEALTH_REDIS_PORT", redis.port.to_string());
    let server = Server::spawn(cmd);
    let deadline = Instant::now() + WAIT;
    loop {
        let latest: Option<String> = rt.block_on(async {
            let mut conn = redis.connection().await;
            redis::cmd("GET")
                .arg("health:service:overdue:latest")
                .query_async(&mut conn)
                .await
                .expect("GET")
        });
        if latest.is_some_and(|l| l.contains("\"status\"")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing published to HEALTH_REDIS_HOST:HEALTH_REDIS_PORT\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop();
}

#[test]
fn with_cluster_mode_the_host_is_a_cluster_node() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let nodes = crate::cluster::start_cluster(&rt, dir.path());
    let port = nodes[0].port.to_string();
    let mut cmd = command(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        "memory://",
        "--health-publish-every",
        "1s",
    ]);
    cmd.env("HEALTH_REDIS_HOST", "127.0.0.1")
        .env("HEALTH_REDIS_PORT", &port)
        .env("HEALTH_REDIS_CLUSTER_MODE", "true");
    let server = Server::spawn(cmd);
    let deadline = Instant::now() + WAIT;
    loop {
        // redis-cli -c follows the key's redirection to whichever master holds it.
        let out = std::process::Command::new("redis-cli")
            .args(["-c", "-p", &port, "GET", "health:service:overdue:latest"])
            .output()
            .expect("run redis-cli");
        if String::from_utf8_lossy(&out.stdout).contains("\"status\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing published to the cluster\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop();
}

#[test]
fn cluster_mode_on_a_node_that_is_not_a_cluster_is_refused_in_one_line() {
    let rt = runtime();
    let plain = rt.block_on(RedisServer::start());
    let mut cmd = command(&["--listen", "127.0.0.1:0", "--store", "memory://"]);
    cmd.env("HEALTH_REDIS_HOST", "127.0.0.1")
        .env("HEALTH_REDIS_PORT", plain.port.to_string())
        .env("HEALTH_REDIS_CLUSTER_MODE", "true");
    let finished = run_to_exit(cmd);
    let stderr = finished.stderr.trim();
    assert_eq!(finished.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--health-redis") && stderr.contains("Cluster"),
        "{stderr}"
    );
}
