//! Black-box tests of notification channels (SPEC §14): the real app on port 0 sends
//! to real servers started by the test (an HTTP recorder on port 0 for each HTTP kind,
//! reached through the `+http://` form; aiosmtpd for email, with and without
//! STARTTLS), and the tests look only at what arrives there and at the HTTP API.

#[path = "../common/mod.rs"]
mod common;

#[allow(dead_code)]
#[path = "../process/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../health/redis_server.rs"]
mod redis_server;

mod api;
mod delivery;
mod email;
mod kinds;
mod replicas;
mod routing;
mod secrets;
mod support;
