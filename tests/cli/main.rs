//! Black-box tests of the command-line client (SPEC §16): the real `overdue` binary as
//! a child process against the real monitor on port 0, a recorder of the requests it
//! sends, a monitor that is down and one that never answers.

#[path = "../common/mod.rs"]
mod common;

mod jobs;
mod ping;
mod recorded;
mod run;
mod signals;
mod support;
mod usage;
