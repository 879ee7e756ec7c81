//! Secrets (issue 7): the admin and ping tokens, the alert secret, the webhook's
//! credentials and the health Redis password never show in the logs (at debug level, with every timing logged), in
//! `--help`, or in `/health`, `/metrics` and `/metrics/performance`; whether they come
//! from flags or from the environment, and whether a request gets them right or wrong.

use std::time::Duration;

use crate::fault_hook::{Action, FaultHook};
use crate::harness::{client, command, run_to_exit, Server};

const ADMIN: &str = "adm1n-T0ken-e5f0c2";
const PING: &str = "p1ng-T0ken-93ab17";
const ALERT: &str = "alert-S3cret-7d41aa";
/// A password and a query key in the webhook URL.
const HOOK_PASSWORD: &str = "h00k-Passw0rd-c81f";
const HOOK_KEY: &str = "h00k-Key-2b9e44";
/// The password of the health Redis (nothing listens there, so its errors are logged).
const REDIS_PASSWORD: &str = "r3dis-Passw0rd-41d2";
/// Wrong tokens that clients sent: not the configured secrets, but no business in a
/// log either.
const WRONG: &str = "wr0ng-Guess-55aa01";

const SECRETS: [&str; 7] = [
    ADMIN,
    PING,
    ALERT,
    HOOK_PASSWORD,
    HOOK_KEY,
    REDIS_PASSWORD,
    WRONG,
];

fn assert_hidden(place: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{secret:?} appears in {place}:\n{text}"
        );
    }
}

fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.text().expect("body"))
}

/// Runs the monitor with the secrets given as flags (`from_env == false`) or as
/// environment variables, at debug level, and uses every route, right and wrong.
fn exercise(from_env: bool) {
    let hook = FaultHook::start(|_, attempt| {
        // A refused first attempt, so that retries are logged too.
        if attempt == 1 {
            Action::Status(503)
        } else {
            Action::Status(200)
        }
    });
    let alert_uri = hook
        .url
        .replacen("http://", &format!("http://user:{HOOK_PASSWORD}@"), 1)
        + &format!("?key={HOOK_KEY}");
    let redis = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1/0");
    let secrets = [
        ("--admin-token", "OVERDUE_ADMIN_TOKEN", ADMIN),
        ("--ping-token", "OVERDUE_PING_TOKEN", PING),
        ("--alert-secret", "PING_ALERT_SECRET", ALERT),
        ("--alert-uri", "PING_ALERT_URI", alert_uri.as_str()),
        ("--health-redis", "HEALTH_REDIS_URL", redis.as_str()),
    ];
    let mut cmd = command(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        "memory://",
        "--realert-every",
        "0",
        "--log-all-timings",
        "--slow-request",
        "0",
        "--slow-store",
        "0",
        "--health-publish-every",
        "100ms",
    ]);
    for (flag, env, value) in secrets {
        if from_env {
            cmd.env(env, value);
        } else {
            cmd.args([flag, value]);
        }
    }
    cmd.env("RUST_LOG", "debug");
    let server = Server::spawn(cmd);

    let http = client();
    let overdue = (crate::common::now_unix() - 120).to_string();
    // Pings with the right token (parameter and header) and wrong ones.
    let ok = http
        .get(server.url("/ping"))
        .query(&[
            ("name", "secretive"),
            ("frequency", "1m"),
            ("timestamp", overdue.as_str()),
            ("token", PING),
        ])
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = http
        .get(server.url("/ping?name=other&frequency=1h"))
        .bearer_auth(PING)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = http
        .get(server.url(&format!("/ping?name=x&frequency=1h&token={WRONG}")))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_hidden("a 401 body", &wrong.text().unwrap());
    // Admin routes with the right token, a wrong one and none.
    assert_eq!(get(&server, "/pings", Some(ADMIN)).0, 200);
    let (status, body) = get(&server, "/pings", Some(WRONG));
    assert_eq!(status, 403);
    assert_hidden("a 403 body", &body);
    assert_eq!(get(&server, "/ping/secretive", None).0, 401);

    // The alert goes out signed, is refused once and retried.
    hook.wait_until("the alert delivered", Duration::from_secs(20), |a| {
        a.iter().any(|x| x.attempt == 2 && x.answered.is_some())
    });

    for path in ["/health", "/livez", "/readyz"] {
        let (status, body) = get(&server, path, None);
        assert!(status == 200 || status == 503, "{path}: {status}");
        assert_hidden(path, &body);
    }
    for path in [
        "/metrics",
        "/metrics/performance",
        "/metrics/performance/config",
    ] {
        let (status, body) = get(&server, path, Some(ADMIN));
        assert_eq!(status, 200, "{path}");
        assert_hidden(path, &body);
    }
    let log = server.log();
    assert!(
        log.contains("\"level\":\"DEBUG\""),
        "the test needs debug logs to mean something:\n{log}"
    );
    assert!(log.contains("alert delivered"), "{log}");
    assert!(
        log.contains("health_redis_unreachable"),
        "the Redis errors are logged too:\n{log}"
    );
    server.stop();
    assert_hidden("the log", &log);
}

#[test]
fn secrets_given_as_flags_never_appear_in_logs_or_responses() {
    exercise(false);
}

#[test]
fn secrets_given_in_the_environment_never_appear_in_logs_or_responses() {
    exercise(true);
}

#[test]
fn help_shows_no_secret_from_the_environment() {
    let mut cmd = command(&["--help"]);
    cmd.env("OVERDUE_ADMIN_TOKEN", ADMIN)
        .env("OVERDUE_PING_TOKEN", PING)
        .env("PING_ALERT_SECRET", ALERT)
        .env(
            "PING_ALERT_URI",
            format!("http://user:{HOOK_PASSWORD}@127.0.0.1:9/hook?key={HOOK_KEY}"),
        )
        .env(
            "HEALTH_REDIS_URL",
            format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"),
        );
    let out = run_to_exit(cmd);
    assert!(out.status.success());
    assert!(out.stdout.contains("--admin-token"), "{}", out.stdout);
    assert_hidden("--help", &out.stdout);
    assert_hidden("--help (stderr)", &out.stderr);
}
