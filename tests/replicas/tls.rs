//! The store and the health publisher on a TLS-only Redis (SPEC §8, "Redis as
//! production runs it"): a private CA (`?ca=`) and a client certificate the server
//! requires (`?cert=`, `?key=`); a CA that did not sign the server's certificate stops
//! the start in one line naming the option.

use std::time::{Duration, Instant};

use crate::common::now_unix;
use crate::harness::{command, run_to_exit, Hook, Server};
use crate::support::{client, ping, Alerts, WAIT};
use crate::tls_server::TlsRedis;

#[test]
fn pings_alerts_and_health_publishing_work_over_tls_with_a_private_ca() {
    let redis = TlsRedis::start();
    let hook = Hook::start();
    let url = redis.url();
    let server = Server::start(
        &url,
        &[
            "--alert-uri",
            hook.url(),
            "--health-redis",
            &url,
            "--health-publish-every",
            "1s",
            "--sweep-interval",
            "200ms",
        ],
    );
    let client = client();
    let old = (now_unix() - 120).to_string();
    let late = [
        ("name", "tls-late"),
        ("frequency", "1m"),
        ("timestamp", &old),
    ];
    assert_eq!(ping(&client, &server, &late), 200, "{}", server.log());
    assert_eq!(
        ping(
            &client,
            &server,
            &[("name", "tls-fine"), ("frequency", "1h")]
        ),
        200
    );

    let received = hook.wait_for(1, WAIT);
    assert!(
        Alerts::of(&received).has("tls-late", "down", 1),
        "the late job's alert did not arrive: {:?}",
        received.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    // The jobs live in the TLS Redis, under the deployment's hash tag.
    let keys = redis.cli(&["KEYS", "{overdue}:*"]);
    assert!(
        keys.contains("{overdue}:"),
        "no store keys in redis: {keys:?}"
    );

    let deadline = Instant::now() + WAIT;
    loop {
        let latest = redis.cli(&["GET", "health:service:overdue:latest"]);
        if latest.contains("\"status\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no health publication over TLS: {latest:?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop();
}

/// One line on standard error, exit code 2, naming `option` and the certificate.
fn assert_refused(option: &str, args: &[&str]) {
    let finished = run_to_exit(command(args));
    let stderr = finished.stderr.trim();
    assert_eq!(
        finished.status.code(),
        Some(2),
        "{stderr}\n{}",
        finished.stdout
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(option), "names {option}: {stderr}");
    assert!(stderr.contains("certificate"), "says why: {stderr}");
}

#[test]
fn a_ca_that_did_not_sign_the_server_is_refused_at_start_in_one_line() {
    let redis = TlsRedis::start();
    let wrong = redis.url_with("other-ca.crt");
    assert_refused("--store", &["--listen", "127.0.0.1:0", "--store", &wrong]);
    assert_refused(
        "--health-redis",
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            "memory://",
            "--health-redis",
            &wrong,
        ],
    );
}
