//! Store operations are timed where they happen: the SQLite writer's statements and
//! commits, and the load at start (the real binary on a real database).

use serde_json::Value;

use crate::harness::{client, ping, temp_db, Server};
use crate::support::{assert_stat, Exposition};

fn get_json(server: &Server, path: &str) -> Value {
    let response = client().get(server.url(path)).send().expect("get");
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().expect("json")
}

fn get_metrics(server: &Server) -> Exposition {
    let response = client().get(server.url("/metrics")).send().expect("get");
    assert_eq!(response.status(), 200, "GET /metrics");
    Exposition::parse(&response.text().expect("text"))
}

#[test]
fn store_operations_are_timed_after_pings_and_deletes() {
    let (_dir, db) = temp_db();
    let server = Server::start_sqlite(&db, &[]);
    for i in 0..10 {
        assert_eq!(
            ping(
                &server,
                &[("name", &format!("job-{i}")), ("frequency", "1h")]
            )
            .0,
            200
        );
    }
    for i in 0..3 {
        let response = client()
            .delete(server.url(&format!("/ping/job-{i}")))
            .send()
            .expect("delete");
        assert_eq!(response.status(), 200);
    }
    let perf = get_json(&server, "/metrics/performance");
    let store = perf["store"].as_object().expect("store object");
    for op in ["load", "upsert", "delete", "commit"] {
        let stat = store
            .get(op)
            .unwrap_or_else(|| panic!("no {op} in {perf:#}"));
        assert_stat(stat, op);
    }
    assert_eq!(store["load"]["count"], 1);
    assert_eq!(store["upsert"]["count"], 10);
    assert_eq!(store["delete"]["count"], 3);
    // Writes share commits; store checks (readiness, health) commit too.
    let commits = store["commit"]["count"].as_u64().unwrap_or(0);
    let checks = store
        .get("check")
        .map_or(0, |c| c["count"].as_u64().unwrap_or(0));
    assert!(
        (1..=13 + checks).contains(&commits),
        "{commits} commits for 13 writes and {checks} checks"
    );

    let m = get_metrics(&server);
    for (op, n) in [("load", 1.0), ("upsert", 10.0), ("delete", 3.0)] {
        assert_eq!(
            m.get(
                "overdue_store_operation_duration_seconds_count",
                &[("op", op)]
            ),
            Some(n),
            "op {op}"
        );
    }
    server.stop();
}

#[test]
fn the_memory_store_times_its_in_memory_writes() {
    let server = Server::start("memory://", &[]);
    ping(&server, &[("name", "a"), ("frequency", "1h")]);
    ping(&server, &[("name", "a")]);
    // A stale ping writes nothing, so it is no store operation.
    ping(&server, &[("name", "a"), ("timestamp", "1000")]);
    let deleted = client()
        .delete(server.url("/ping/a"))
        .send()
        .expect("delete");
    assert_eq!(deleted.status(), 200);
    let perf = get_json(&server, "/metrics/performance");
    assert_eq!(perf["store"]["upsert"]["count"], 2, "{perf:#}");
    assert_eq!(perf["store"]["delete"]["count"], 1);
    assert!(perf["store"].get("load").is_none(), "nothing to load");
    server.stop();
}

#[test]
fn the_load_at_start_is_timed_after_a_restart() {
    let (_dir, db) = temp_db();
    let server = Server::start_sqlite(&db, &[]);
    ping(&server, &[("name", "kept"), ("frequency", "1h")]);
    server.stop();
    let server = Server::start_sqlite(&db, &[]);
    let perf = get_json(&server, "/metrics/performance");
    assert_eq!(perf["store"]["load"]["count"], 1);
    assert!(perf["store"].get("upsert").is_none(), "{perf:#}");
    server.stop();
}
