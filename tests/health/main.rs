//! Black-box tests of self-health (SPEC §6): the real app on port 0, a real webhook
//! receiver, and a real `redis-server` on a free port watched by a real subscriber.

#[path = "../common/mod.rs"]
mod common;

mod conditions;
mod document;
mod outage;
mod publishing;
mod redis_server;
mod support;
