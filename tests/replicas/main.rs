//! Several real `overdue` binaries sharing one real `redis-server` (SPEC §8): pings
//! spread over replicas, a replica SIGKILLed mid-run, Redis itself restarted. Alerts
//! go to the real webhook receiver of `tests/common`.

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../process/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../health/redis_server.rs"]
mod redis_server;

mod acl;
mod cluster;
mod health_seed;
mod history;
mod redis_restart;
mod sentinel;
mod support;
mod three_replicas;
mod tls;
mod tls_server;
mod tls_topologies;
mod wait;
