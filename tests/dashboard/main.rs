//! Black-box tests of the web dashboard (SPEC §15) through HTTP: sign-in, sessions,
//! CSRF and cross-origin refusals, the pages and their markup, the assets. The browser
//! scenarios live elsewhere; these read the HTML the server sends.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod assets;
mod health_page;
mod job_page;
mod jobs_page;
mod performance_page;
mod support;
