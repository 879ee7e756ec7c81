//! Delivery: which answers are retried, how long retries wait, and what a dead
//! webhook does to the app.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common::{spawn_app_with, Received, Reply, Webhook};
use crate::support::{
    closed_port_url, gap, header, id_of, ping_overdue, unix_of, wait_for_status, WAIT,
};

/// Asserts that `attempts` are one alert delivered again and again: same id and
/// `Idempotency-Key` every time.
fn assert_same_alert(attempts: &[Received]) {
    let id = id_of(&attempts[0]);
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(id_of(attempt), id, "attempt {n} has another id");
        assert_eq!(header(attempt, "idempotency-key"), id, "attempt {n}");
        assert_eq!(attempt.body["event"], "down", "attempt {n}");
        assert_eq!(attempt.body["alert_count"], 1, "attempt {n}");
    }
}

/// Asserts exponential backoff from 1 s between three attempts: ≥ ~1 s, then ≥ ~2 s.
fn assert_backoff(attempts: &[Received]) {
    let first = gap(&attempts[0], &attempts[1]);
    let second = gap(&attempts[1], &attempts[2]);
    assert!(
        (Duration::from_millis(900)..=Duration::from_secs(4)).contains(&first),
        "first retry after {first:?}; expected about 1 s"
    );
    assert!(
        (Duration::from_millis(1800)..=Duration::from_secs(6)).contains(&second),
        "second retry after {second:?}; expected about 2 s"
    );
}

#[tokio::test]
async fn a_5xx_answer_is_retried_with_the_same_id_after_one_then_two_seconds() {
    let hook = Webhook::start_with(|n| Reply::status(if n < 2 { 500 } else { 200 })).await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "flaky").await;
    let attempts = hook.wait_for(3, WAIT).await;
    assert_same_alert(&attempts);
    assert_backoff(&attempts);
    let first_sent = unix_of(&attempts[0].body["sent_at"]);
    let last_sent = unix_of(&attempts[2].body["sent_at"]);
    assert!(
        last_sent >= first_sent + 2,
        "sent_at is the time of each attempt: {first_sent} then {last_sent}"
    );
    // Delivered on the third attempt: nothing more.
    hook.expect_no_more_than(3, Duration::from_millis(1500))
        .await;
    app.stop().await;
}

#[tokio::test]
async fn answers_408_and_503_are_retried_too() {
    let hook = Webhook::start_with(|n| {
        Reply::status(match n {
            0 => 408,
            1 => 503,
            _ => 200,
        })
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "busy-receiver").await;
    let attempts = hook.wait_for(3, WAIT).await;
    assert_same_alert(&attempts);
    assert_backoff(&attempts);
    app.stop().await;
}

#[tokio::test]
async fn a_429_answer_is_retried_after_its_retry_after() {
    let hook = Webhook::start_with(|n| {
        if n == 0 {
            Reply {
                status: 429,
                headers: vec![("Retry-After".to_owned(), "2".to_owned())],
                delay: Duration::ZERO,
            }
        } else {
            Reply::status(200)
        }
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "rate-limited").await;
    let attempts = hook.wait_for(2, WAIT).await;
    assert_same_alert(&attempts);
    let waited = gap(&attempts[0], &attempts[1]);
    assert!(
        (Duration::from_millis(1800)..=Duration::from_secs(5)).contains(&waited),
        "retried {waited:?} after a 429 with Retry-After: 2"
    );
    app.stop().await;
}

#[tokio::test]
async fn answers_400_404_and_410_are_not_retried() {
    let hook = Webhook::start_with(|n| {
        Reply::status(match n {
            0 => 400,
            1 => 404,
            2 => 410,
            // A retry of any of them would be answered here.
            _ => 200,
        })
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    for name in ["refused-a", "refused-b", "refused-c"] {
        ping_overdue(&app, name).await;
    }
    hook.wait_for(3, WAIT).await;
    // Retries would come after about a second.
    hook.expect_no_more_than(3, Duration::from_millis(3500))
        .await;
    let got = hook.received();
    let names: HashSet<_> = got.iter().filter_map(|r| r.body["name"].as_str()).collect();
    assert_eq!(
        names,
        HashSet::from(["refused-a", "refused-b", "refused-c"])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_that_does_not_answer_within_10_seconds_is_retried() {
    let hook = Webhook::start_with(|n| {
        if n == 0 {
            Reply {
                status: 200,
                headers: Vec::new(),
                delay: Duration::from_secs(12),
            }
        } else {
            Reply::status(200)
        }
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "hung").await;
    let attempts = hook.wait_for(2, Duration::from_secs(25)).await;
    assert_same_alert(&attempts);
    let waited = gap(&attempts[0], &attempts[1]);
    assert!(
        (Duration::from_millis(10_500)..=Duration::from_secs(20)).contains(&waited),
        "retried {waited:?} after the first attempt; expected the 10 s timeout and 1 s backoff"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refused_connection_leaves_the_app_healthy_and_pings_fast() {
    let app = spawn_app_with(&["--alert-uri", &closed_port_url(), "--realert-every", "1h"]).await;
    ping_overdue(&app, "unreachable").await;
    wait_for_status(&app, "unreachable", "down", WAIT).await;

    // Deliveries now fail and are retried (after 1 s, 2 s, …) while the app serves.
    let until = Instant::now() + Duration::from_secs(3);
    let mut n = 0;
    while Instant::now() < until {
        let started = Instant::now();
        let response = app.ping(&format!("busy-{}", n % 5), "1h").await;
        assert_eq!(response.status(), 200);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "ping {n} took {took:?}");
        let live = app.get("/livez").await;
        assert_eq!(live.status(), 200);
        assert_eq!(live.text().await.expect("body"), "ok\n");
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = app.job("unreachable").await;
    assert_eq!(job["status"], "down");
    assert_eq!(job["alerts_sent"], 1);
    assert_eq!(app.get("/readyz").await.status(), 200);

    // Shutdown gives pending deliveries at most 5 s; a dead webhook must not hold it.
    let stopping = Instant::now();
    app.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "stop took {:?}",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_of_0_does_not_turn_retries_into_a_flood() {
    let hook = Webhook::start_with(|_| Reply {
        status: 429,
        headers: vec![("Retry-After".to_owned(), "0".to_owned())],
        delay: Duration::ZERO,
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "hammered").await;
    hook.wait_for(1, WAIT).await;
    // Backoff from 1 s allows about 3 attempts in 3 s; honouring "0" once or twice
    // is fine, retrying without any pause is not.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts = hook.received().len();
    assert!(
        attempts <= 10,
        "{attempts} attempts in 3 s against a webhook answering 429 with Retry-After: 0"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_retry_after_given_as_an_http_date_is_honoured() {
    let hook = Webhook::start_with(|n| {
        if n == 0 {
            let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
            let format = time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            );
            Reply {
                status: 429,
                headers: vec![(
                    "Retry-After".to_owned(),
                    at.format(&format).expect("http date"),
                )],
                delay: Duration::ZERO,
            }
        } else {
            Reply::status(200)
        }
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "dated").await;
    let attempts = hook.wait_for(2, WAIT).await;
    assert_same_alert(&attempts);
    let waited = gap(&attempts[0], &attempts[1]);
    assert!(
        (Duration::from_millis(1800)..=Duration::from_secs(6)).contains(&waited),
        "retried {waited:?} after a 429 whose Retry-After was an HTTP date 3 s ahead"
    );
    app.stop().await;
}

#[tokio::test]
async fn any_2xx_answer_is_a_success() {
    let hook = Webhook::start_with(|n| {
        Reply::status(match n {
            0 => 201,
            1 => 202,
            2 => 204,
            // A retry of any of them would be answered here, and retried again.
            _ => 500,
        })
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    for name in ["ok-a", "ok-b", "ok-c"] {
        ping_overdue(&app, name).await;
    }
    hook.wait_for(3, WAIT).await;
    hook.expect_no_more_than(3, Duration::from_millis(2500))
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_hundred_jobs_down_at_once_each_get_exactly_one_alert() {
    // Slow answers keep many deliveries in flight at once.
    let hook = Webhook::start_with(|_| Reply {
        status: 200,
        headers: Vec::new(),
        delay: Duration::from_millis(300),
    })
    .await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    let names: Vec<String> = (0..100).map(|i| format!("batch-{i:03}")).collect();
    for name in &names {
        ping_overdue(&app, name).await;
    }
    hook.wait_for(100, Duration::from_secs(20)).await;
    hook.expect_no_more_than(100, Duration::from_millis(1000))
        .await;
    let got = hook.received();
    let alerted: HashSet<&str> = got.iter().filter_map(|r| r.body["name"].as_str()).collect();
    let expected: HashSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(alerted, expected);
    let ids: HashSet<&str> = got.iter().map(id_of).collect();
    assert_eq!(ids.len(), 100);
    app.stop().await;
}
