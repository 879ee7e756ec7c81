//! `?wait=N` (SPEC §8): a change is answered 200 only once N replicas of Redis
//! acknowledged it; with the replica gone, the change is answered 503 within the 2 s
//! limit.

use std::time::{Duration, Instant};

use crate::harness::Server;
use crate::redis_server::RedisServer;
use crate::support::{client, ping, runtime, WAIT};

#[test]
fn with_wait_a_ping_is_answered_only_once_a_replica_has_it() {
    let rt = runtime();
    let master = rt.block_on(RedisServer::start());
    let master_port = master.port.to_string();
    // The copy the replica receives lands here, not in the crate.
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_arg = dir.path().display().to_string();
    let mut replica = rt.block_on(RedisServer::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        &dir_arg,
        "--replicaof",
        "127.0.0.1",
        &master_port,
    ]));
    // The replica is in sync before the test starts.
    let deadline = Instant::now() + WAIT;
    rt.block_on(async {
        let mut conn = master.connection().await;
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .expect("INFO");
            if info.contains("connected_slaves:1") && info.contains("state=online") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the replica never synced: {info}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    let server = Server::start(&format!("{}/0?wait=1", master.url()), &[]);
    let client = client();
    for i in 0..20 {
        let name = format!("w{i}");
        let status = ping(&client, &server, &[("name", &name), ("frequency", "1h")]);
        assert_eq!(status, 200, "{}", server.log());
        // Acknowledged means on the replica already.
        let on_replica: i64 = rt.block_on(async {
            let mut conn = replica.connection().await;
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

    // Without the replica no change can be confirmed: 503 within the limit.
    replica.stop();
    let started = Instant::now();
    let status = ping(&client, &server, &[("name", "alone"), ("frequency", "1h")]);
    assert_eq!(status, 503, "{}", server.log());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    server.stop();
}
