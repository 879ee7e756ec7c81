//! Black-box tests of the HTTP API (SPEC sections 3, 4 and 9) against the real app on
//! port 0 with the `memory://` store.

#[path = "../common/mod.rs"]
mod common;

mod arbitrary_queries;
mod connections;
mod errors;
mod frequency;
mod jobs;
mod limits;
mod openapi;
mod pings;
mod remove;
mod support;
mod timestamps;
mod tokens;
