//! Black-box tests of the real `overdue` binary: start-up and configuration, signals,
//! and what survives a restart or a crash (SPEC §2 and §8).
//!
//! Every test spawns the binary on port 0 with its own temporary database, reads the
//! port from its "listening on" log line, and talks to it over real HTTP. Alerts go to
//! the real webhook receiver of `tests/common`, run on a runtime owned by the test.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod docs;
mod fault_hook;
mod faults;
mod harness;
mod history;
mod lifecycle;
mod logs;
mod restarts;
mod secrets;
mod store_faults;
