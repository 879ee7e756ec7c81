//! Black-box tests of the HTTP API against the real app on port 0.

#[path = "../common/mod.rs"]
mod common;

mod pings;
