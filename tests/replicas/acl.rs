//! Redis ACL users (SPEC §8): a user limited to the deployment's `{overdue}` keys and
//! the commands overdue needs runs the store, and one limited to the `health:` keys
//! and channels publishes health (`--health-redis`); a wrong password stops the start
//! in one line naming the option, and a password changed under a running replica
//! shows in `/health`; the password never shows in the output, `/health` or an error.

use std::time::{Duration, Instant};

use crate::common::now_unix;
use crate::harness::{command, run_to_exit, Hook, Server};
use crate::redis_server::RedisServer;
use crate::support::{client, json, ping, runtime, Alerts, WAIT};

const PASSWORD: &str = "Acl-Passw0rd-7f3e19";
const WRONG: &str = "Wr0ng-Passw0rd-2c8d41";
const LATER: &str = "Lat3r-Passw0rd-9a0b77";
/// The default user's password: overdue never gets it.
const ADMIN: &str = "Adm1n-Passw0rd-64c1e0";

/// Every command overdue sends, directly or from its scripts, and nothing else.
const COMMANDS: &[&str] = &[
    "+ping",
    "+auth",
    "+hello",
    "+select",
    "+evalsha",
    "+script|load",
    "+del",
    "+set",
    "+pttl",
    "+pexpire",
    "+hget",
    "+hgetall",
    "+hmget",
    "+hset",
    "+hdel",
    "+hexists",
    "+hincrby",
    "+lindex",
    "+lpop",
    "+lpush",
    "+rpush",
    "+lrange",
    "+ltrim",
    "+zadd",
    "+zrem",
    "+zcard",
    "+zscore",
    "+zrange",
    "+zrangebylex",
    "+zrangebyscore",
    "+xadd",
    "+xdel",
    "+xlen",
    "+xrange",
    "+xgroup",
    "+xinfo",
    "+xreadgroup",
    "+xack",
    "+xautoclaim",
    "+xclaim",
    "+xpending",
];

/// Every command the health publisher sends, and nothing else.
const HEALTH_COMMANDS: &[&str] = &[
    "+ping",
    "+auth",
    "+hello",
    "+select",
    "+publish",
    "+set",
    "+zadd",
    "+zremrangebyscore",
    "+pexpire",
    "+multi",
    "+exec",
];

/// The user `publisher` on `redis`, limited to the `health:` keys and channels and
/// [`HEALTH_COMMANDS`].
async fn add_health_user(redis: &RedisServer) {
    let mut conn = admin(redis).await;
    let mut setuser = redis::cmd("ACL");
    setuser
        .arg("SETUSER")
        .arg("publisher")
        .arg("reset")
        .arg("on")
        .arg(format!(">{PASSWORD}"))
        .arg("~health:*")
        .arg("resetchannels")
        .arg("&health:*")
        .arg("-@all");
    for command in HEALTH_COMMANDS {
        setuser.arg(*command);
    }
    setuser
        .query_async::<()>(&mut conn)
        .await
        .expect("ACL SETUSER publisher");
}

fn health_redis(redis: &RedisServer, password: &str) -> String {
    format!("redis://publisher:{password}@127.0.0.1:{}/0", redis.port)
}

/// A Redis with the user `overdue`, limited to `{overdue}:*` keys and [`COMMANDS`].
async fn redis_with_user() -> RedisServer {
    let redis = RedisServer::start().await;
    let mut conn = redis.connection().await;
    let mut setuser = redis::cmd("ACL");
    setuser
        .arg("SETUSER")
        .arg("overdue")
        .arg("reset")
        .arg("on")
        .arg(format!(">{PASSWORD}"))
        .arg("~{overdue}:*")
        .arg("resetchannels")
        .arg("-@all");
    for command in COMMANDS {
        setuser.arg(*command);
    }
    setuser
        .query_async::<()>(&mut conn)
        .await
        .expect("ACL SETUSER");
    // The default user gets a password too, so that only `overdue` can be what works.
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(ADMIN)
        .query_async::<()>(&mut conn)
        .await
        .expect("CONFIG SET requirepass");
    redis
}

/// A connection as the default user, for the test's own commands.
async fn admin(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://:{ADMIN}@127.0.0.1:{}/0", redis.port))
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect as the default user")
}

fn store(redis: &RedisServer, password: &str) -> String {
    format!("redis://overdue:{password}@127.0.0.1:{}/0", redis.port)
}

fn assert_hidden(place: &str, text: &str) {
    for secret in [PASSWORD, WRONG, LATER, ADMIN] {
        assert!(
            !text.contains(secret),
            "{secret:?} appears in {place}:\n{text}"
        );
    }
}

#[test]
fn a_user_limited_to_the_overdue_keys_and_commands_runs_the_store() {
    let rt = runtime();
    let redis = rt.block_on(redis_with_user());
    let hook = Hook::start();
    let server = Server::start(
        &store(&redis, PASSWORD),
        &["--alert-uri", hook.url(), "--sweep-interval", "200ms"],
    );
    let client = client();
    let old = (now_unix() - 120).to_string();
    let late = [
        ("name", "acl-late"),
        ("frequency", "1m"),
        ("timestamp", &old),
    ];
    assert_eq!(ping(&client, &server, &late), 200, "{}", server.log());
    let fine = [("name", "acl-fine"), ("frequency", "1h")];
    assert_eq!(ping(&client, &server, &fine), 200, "{}", server.log());
    let received = hook.wait_for(1, WAIT);
    assert!(
        Alerts::of(&received).has("acl-late", "down", 1),
        "{:?}\n{}",
        received.iter().map(|r| &r.body).collect::<Vec<_>>(),
        server.log()
    );
    let job = json(&client, &server, "/ping/acl-fine");
    assert_eq!(job["status"], "up", "{job}");
    let health = json(&client, &server, "/health");
    assert_eq!(health["indicators"]["store_reachable"], true, "{health}");
    assert_hidden("the log", &server.log());
    server.stop();
}

#[test]
fn a_wrong_password_is_refused_at_start_in_one_line_naming_the_option() {
    let rt = runtime();
    let redis = rt.block_on(redis_with_user());
    let wrong = store(&redis, WRONG);
    let finished = run_to_exit(command(&["--listen", "127.0.0.1:0", "--store", &wrong]));
    let stderr = finished.stderr.trim();
    assert_eq!(finished.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("--store"), "{stderr}");
    assert!(stderr.contains("password"), "{stderr}");
    assert_hidden("stderr", stderr);
    assert_hidden("stdout", &finished.stdout);

    let finished = run_to_exit(command(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        "memory://",
        "--health-redis",
        &wrong,
    ]));
    let stderr = finished.stderr.trim();
    assert_eq!(finished.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("--health-redis"), "{stderr}");
    assert!(stderr.contains("password"), "{stderr}");
    assert_hidden("stderr", stderr);
    assert_hidden("stdout", &finished.stdout);
}

#[test]
fn an_unknown_user_is_refused_at_start_in_one_line_naming_the_option() {
    let rt = runtime();
    let redis = rt.block_on(redis_with_user());
    let unknown = format!("redis://nobody:{PASSWORD}@127.0.0.1:{}/0", redis.port);
    for option in ["--store", "--health-redis"] {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        if option == "--health-redis" {
            args.extend(["--store", "memory://"]);
        }
        args.extend([option, &unknown]);
        let finished = run_to_exit(command(&args));
        let stderr = finished.stderr.trim();
        assert_eq!(finished.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(option) && stderr.contains("user name"),
            "{stderr}"
        );
        assert_hidden("stderr", stderr);
        assert_hidden("stdout", &finished.stdout);
    }
}

#[test]
fn a_password_changed_under_a_running_replica_shows_in_health() {
    let rt = runtime();
    let redis = rt.block_on(redis_with_user());
    let url = store(&redis, PASSWORD);
    let server = Server::start(
        &url,
        &["--health-redis", &url, "--health-publish-every", "1s"],
    );
    let client = client();
    let fine = [("name", "acl-fine"), ("frequency", "1h")];
    assert_eq!(ping(&client, &server, &fine), 200, "{}", server.log());

    // The password changes and the replica's connections are dropped: it must
    // reconnect with what it has.
    rt.block_on(async {
        let mut conn = admin(&redis).await;
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("overdue")
            .arg("resetpass")
            .arg(format!(">{LATER}"))
            .query_async::<()>(&mut conn)
            .await
            .expect("ACL SETUSER");
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg("overdue")
            .query_async::<()>(&mut conn)
            .await
            .expect("CLIENT KILL");
    });
    let deadline = Instant::now() + WAIT;
    let health = loop {
        let response = client.get(server.url("/health")).send().expect("/health");
        let status = response.status().as_u16();
        let body = response.text().expect("body");
        if status == 503 && body.contains("password") && body.contains("health_redis_unreachable") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "/health never told: {status} {body}"
        );
        // Pings make the store use its connection again.
        ping(&client, &server, &fine);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(health.contains("store_unreachable"), "{health}");
    assert_hidden("/health", &health);
    assert_hidden(
        "/metrics",
        &client
            .get(server.url("/metrics"))
            .send()
            .expect("metrics")
            .text()
            .expect("text"),
    );
    assert_hidden("the log", &server.log());
}

#[test]
fn a_health_user_limited_to_the_health_keys_publishes_and_a_changed_password_shows_in_health() {
    let rt = runtime();
    let redis = rt.block_on(async {
        let redis = redis_with_user().await;
        add_health_user(&redis).await;
        redis
    });
    let server = Server::start(
        "memory://",
        &[
            "--health-redis",
            &health_redis(&redis, PASSWORD),
            "--health-publish-every",
            "1s",
        ],
    );
    let client = client();
    // What the limited user published is in Redis.
    let deadline = Instant::now() + WAIT;
    loop {
        let latest: Option<String> = rt.block_on(async {
            let mut conn = admin(&redis).await;
            redis::cmd("GET")
                .arg("health:service:overdue:latest")
                .query_async(&mut conn)
                .await
                .expect("GET")
        });
        if latest.is_some_and(|doc| doc.contains("\"status\"")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the publisher never published\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let health = json(&client, &server, "/health");
    assert_eq!(
        health["indicators"]["health_redis_reachable"], true,
        "{health}"
    );

    // The password changes and the publisher's connection is dropped.
    rt.block_on(async {
        let mut conn = admin(&redis).await;
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("publisher")
            .arg("resetpass")
            .arg(format!(">{LATER}"))
            .query_async::<()>(&mut conn)
            .await
            .expect("ACL SETUSER");
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg("publisher")
            .query_async::<()>(&mut conn)
            .await
            .expect("CLIENT KILL");
    });
    let deadline = Instant::now() + WAIT;
    let condition = loop {
        let health = json(&client, &server, "/health");
        // The dropped connection shows first; the refusal once the publisher
        // reconnects.
        let found = health["alerts"].as_array().and_then(|all| {
            all.iter()
                .find(|c| {
                    c["code"] == "health_redis_unreachable"
                        && c["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("password"))
                })
                .cloned()
        });
        if let Some(condition) = found {
            break condition;
        }
        assert!(Instant::now() < deadline, "/health never told: {health}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let message = condition["message"].as_str().unwrap_or_default();
    assert_eq!(message.lines().count(), 1, "{condition}");
    assert!(
        message.contains("--health-redis"),
        "the publisher's error names the option and why: {condition}"
    );
    assert_hidden("/health", &condition.to_string());
    assert_hidden("the log", &server.log());
    server.stop();
}

#[test]
fn a_wrong_health_redis_url_password_from_the_environment_is_refused_in_one_line() {
    let rt = runtime();
    let redis = rt.block_on(async {
        let redis = redis_with_user().await;
        add_health_user(&redis).await;
        redis
    });
    let mut cmd = command(&["--listen", "127.0.0.1:0", "--store", "memory://"]);
    cmd.env("HEALTH_REDIS_URL", health_redis(&redis, WRONG));
    let finished = run_to_exit(cmd);
    let stderr = finished.stderr.trim();
    assert_eq!(finished.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("--health-redis") && stderr.contains("password"),
        "{stderr}"
    );
    assert_hidden("stderr", stderr);
    assert_hidden("stdout", &finished.stdout);
}
