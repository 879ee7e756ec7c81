//! Black-box tests of the HTTP API (SPEC sections 3, 4, 9, 10 and 13) against the real app on
//! port 0 with the `memory://` store.

#[path = "../common/mod.rs"]
mod common;

mod arbitrary_queries;
mod badges;
mod connections;
mod errors;
mod frequency;
mod hc;
mod history;
mod jobs;
mod limits;
mod openapi;
mod pause;
mod pings;
mod remove;
mod runs;
mod support;
mod timestamps;
mod tokens;
