//! Black-box tests of performance monitoring (SPEC §7): the real app on port 0 (and the
//! real binary where the store or the logs matter), driven with known traffic, then read
//! through `/metrics` and `/metrics/performance`.

#[path = "../common/mod.rs"]
mod common;

#[allow(dead_code)]
#[path = "../process/harness.rs"]
mod harness;

mod alerts;
mod config;
mod logs;
mod requests;
mod store;
mod support;
