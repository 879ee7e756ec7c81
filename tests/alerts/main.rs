//! Black-box tests of alerting (SPEC §5): the real app on port 0 POSTs to a real
//! webhook receiver on port 0, and the tests look only at what arrives there and at
//! the HTTP API.

#[path = "../common/mod.rs"]
mod common;

mod delivery;
mod lifecycle;
mod ordering;
mod payload;
mod resilience;
mod signing;
mod support;
