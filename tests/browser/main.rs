//! The dashboard and the badges in a real browser (SPEC §15): headless Chromium driven
//! through the DevTools protocol against the real app on port 0. Each scenario writes
//! screenshots into `target/screenshots/`.
//!
//! Needs Chromium (`/usr/bin/chromium`, Debian's `chromium` package, which `.ci/run`
//! installs; `OVERDUE_CHROMIUM` names another); without it every test fails saying so.

#[path = "../common/mod.rs"]
mod common;

mod cdp;
mod chromium;
mod page;
mod support;

mod accessibility;
mod badges;
mod cross_origin;
mod job_page;
mod jobs_page;
mod pages;
mod sign_in;
mod timing;
mod untrusted;
