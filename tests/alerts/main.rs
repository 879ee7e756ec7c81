//! Black-box tests of alerting (SPEC §5): the real app on port 0 POSTs to a real
//! webhook receiver on port 0, and the tests look only at what arrives there and at
//! the HTTP API; a refusal's log line is read from the real binary's JSON log.

#[path = "../common/mod.rs"]
mod common;

#[allow(dead_code)]
#[path = "../process/harness.rs"]
mod harness;

mod delivery;
mod lifecycle;
mod ordering;
mod payload;
mod refusals;
mod resilience;
mod signing;
mod support;
