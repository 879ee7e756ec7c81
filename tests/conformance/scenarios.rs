//! The scenarios every store must pass, each a function of the store (SPEC §3–§5, §8).

use std::collections::HashSet;
use std::time::Duration;

use crate::common::{now_unix, Reply, Webhook};
use crate::support::{delete, health, json, names, ping_overdue, wait_for_json, Store, WAIT};

pub async fn a_ping_is_recorded_and_shown_as_the_job_object(store: &Store) {
    let app = store.spawn(&[]).await;
    let response = app
        .ping_with(&[("name", "backup"), ("frequency", "1D"), ("grace", "30m")])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "Successfully recorded ping for backup\n"
    );
    let job = app.job("backup").await;
    assert_eq!(job["frequency"], "1D");
    assert_eq!(job["frequency_seconds"], 86_400);
    assert_eq!(job["grace_seconds"], 1_800);
    assert_eq!(job["status"], "up");
    assert_eq!(job["down_since"], serde_json::Value::Null);
    assert_eq!(
        (job["alerts_sent"].as_u64(), job["pings_total"].as_u64()),
        (Some(0), Some(1))
    );
    let last = job["last_ping_unix"].as_i64().unwrap();
    assert_eq!(job["next_deadline_unix"], last + 86_400 + 1_800);

    // A known job keeps its frequency and grace; JSON on request.
    let response = app
        .client
        .get(app.url("/ping"))
        .query(&[("name", "backup")])
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (job["frequency"].as_str(), job["grace_seconds"].as_u64()),
        (Some("1D"), Some(1_800))
    );
    assert_eq!(job["pings_total"], 2);
    let head = app
        .client
        .head(app.url("/ping?name=backup"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(app.job("backup").await["pings_total"], 3);
    app.stop().await;
}

pub async fn a_new_name_without_a_frequency_is_refused(store: &Store) {
    let app = store.spawn(&[]).await;
    let response = app.ping_with(&[("name", "fresh")]).await;
    assert_eq!(response.status(), 400);
    let message = response.text().await.unwrap();
    assert!(message.contains("frequency is required"), "{message}");
    assert_eq!(app.get("/ping/fresh").await.status(), 404);
    assert_eq!(app.ping("fresh", "1x").await.status(), 400);
    assert_eq!(app.get("/ping/fresh").await.status(), 404);
    app.stop().await;
}

pub async fn an_older_timestamp_is_refused_and_an_equal_one_is_a_retry(store: &Store) {
    let app = store.spawn(&[]).await;
    let t = (now_unix() - 30).to_string();
    let earlier = (now_unix() - 31).to_string();
    let later = (now_unix() - 29).to_string();
    let ping = |ts: &str, frequency: &str| {
        let mut params = vec![("name", "job"), ("timestamp", ts)];
        if !frequency.is_empty() {
            params.push(("frequency", frequency));
        }
        let app = &app;
        let params: Vec<(String, String)> = params
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        async move {
            app.client
                .get(app.url("/ping"))
                .query(&params)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(ping(&t, "1m").await.status(), 200);
    let stale = ping(&earlier, "5m").await;
    assert_eq!(stale.status(), 409);
    let message = stale.text().await.unwrap();
    assert!(
        message.ends_with('\n') && !message.trim_end().contains('\n'),
        "one line: {message:?}"
    );
    let job = app.job("job").await;
    assert_eq!(job["frequency"], "1m", "a refused ping changes nothing");
    assert_eq!(job["last_ping_unix"].to_string(), t);

    assert_eq!(
        ping(&t, "").await.status(),
        200,
        "an equal timestamp is a retry"
    );
    assert_eq!(
        app.job("job").await["pings_total"],
        1,
        "and is not counted twice"
    );

    assert_eq!(ping(&later, "").await.status(), 200);
    let job = app.job("job").await;
    assert_eq!(job["pings_total"], 2);
    assert_eq!(job["last_ping_unix"].to_string(), later);
    app.stop().await;
}

pub async fn a_new_frequency_moves_the_deadline_at_once(store: &Store) {
    let app = store.spawn(&[]).await;
    let t = now_unix() - 40;
    for (ts, frequency) in [(t, "1m"), (t + 30, "10m")] {
        let response = app
            .ping_with(&[
                ("name", "j"),
                ("frequency", frequency),
                ("timestamp", &ts.to_string()),
            ])
            .await;
        assert_eq!(response.status(), 200);
    }
    let job = app.job("j").await;
    assert_eq!(job["next_deadline_unix"], t + 30 + 600);
    assert_eq!(job["frequency_seconds"], 600);
    app.stop().await;
}

pub async fn the_service_cap_answers_507_until_a_job_is_deleted(store: &Store) {
    let app = store.spawn(&["--max-services", "2"]).await;
    assert_eq!(app.ping("a", "1h").await.status(), 200);
    assert_eq!(app.ping("b", "1h").await.status(), 200);
    let full = app.ping("c", "1h").await;
    assert_eq!(full.status(), 507);
    let message = full.text().await.unwrap();
    assert!(message.contains("--max-services"), "{message}");
    assert_eq!(
        app.ping("a", "1h").await.status(),
        200,
        "known jobs still ping"
    );

    assert_eq!(
        delete(&app, "a").await,
        (200, "Successfully deleted ping: a\n".to_owned())
    );
    assert_eq!(delete(&app, "a").await.0, 404);
    assert_eq!(app.get("/ping/a").await.status(), 404);
    assert_eq!(
        app.ping("c", "1h").await.status(),
        200,
        "the slot is free again"
    );
    assert_eq!(json(&app, "/pings").await["total"], 2);
    app.stop().await;
}

pub async fn listings_page_by_name_and_filter_by_status(store: &Store) {
    let app = store.spawn(&["--realert-every", "1h"]).await;
    // Byte order: upper case before lower case, multi-byte UTF-8 last.
    for name in ["é", "a", "Z", "c d"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    for name in ["b", "d"] {
        ping_overdue(&app, name).await;
    }
    wait_for_json(&app, "/pings?status=down", "two jobs down", |page| {
        page["total"] == 2
    })
    .await;

    let page = json(&app, "/pings?limit=3").await;
    assert_eq!(names(&page), ["Z", "a", "b"]);
    assert_eq!(
        (page["total"].as_u64(), page["next"].as_str()),
        (Some(6), Some("b"))
    );
    let page = json(&app, "/pings?limit=3&after=b").await;
    assert_eq!(names(&page), ["c d", "d", "é"]);
    assert_eq!(page["next"], serde_json::Value::Null);
    let page = json(&app, "/pings?after=B").await;
    assert_eq!(
        names(&page),
        ["Z", "a", "b", "c d", "d", "é"],
        "after is exclusive, not a prefix"
    );

    let down = json(&app, "/pings?status=down").await;
    assert_eq!(names(&down), ["b", "d"]);
    assert_eq!(down["total"], 2);
    assert!(down["services"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["status"] == "down" && j["down_since"].is_string()));
    let up = json(&app, "/pings?status=up&limit=2&after=Z").await;
    assert_eq!(names(&up), ["a", "c d"]);
    assert_eq!(
        (up["total"].as_u64(), up["next"].as_str()),
        (Some(4), Some("c d"))
    );
    let last = json(&app, "/pings?status=up&after=c%20d").await;
    assert_eq!(names(&last), ["é"]);
    assert_eq!(last["next"], serde_json::Value::Null);
    // SPEC §12: `paused` is a status of its own; none is paused here.
    let paused = json(&app, "/pings?status=paused").await;
    assert_eq!(
        (names(&paused).len(), paused["total"].as_u64()),
        (0, Some(0))
    );
    let job = &json(&app, "/pings?limit=1").await["services"][0];
    for field in ["schedule", "timezone", "paused_until", "acknowledged"] {
        assert!(job[field].is_null(), "{field}: {job}");
    }
    app.stop().await;
}

pub async fn counts_show_in_health_and_metrics(store: &Store) {
    let app = store.spawn(&["--realert-every", "1h"]).await;
    for name in ["a", "b", "c"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    ping_overdue(&app, "late").await;
    // Replicas sharing a store add up their ping counts about once a second.
    let health = wait_for_json(&app, "/health", "one job down and 4 pings", |doc| {
        doc["indicators"]["services_down"] == 1
            && doc["indicators"]["pings_per_hour"].as_f64() >= Some(4.0)
    })
    .await;
    let indicators = &health["indicators"];
    assert_eq!(indicators["services_monitored"], 4, "{health:#}");
    assert_eq!(indicators["store_reachable"], true);
    assert!(
        indicators["pings_per_hour"].as_f64().unwrap() >= 4.0,
        "{health:#}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("overdue_services{status=\"up\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("overdue_services{status=\"down\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("overdue_services{status=\"paused\"} 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("overdue_alert_backlog "), "{metrics}");
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.stop().await;
}

pub async fn down_reminder_and_up_alerts_reach_the_webhook_in_order(store: &Store) {
    let hook = Webhook::start().await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "2s"])
        .await;
    let ts = ping_overdue(&app, "nightly").await;
    let got = hook.wait_for(2, WAIT).await;
    let (down, reminder) = (&got[0].body, &got[1].body);
    assert_eq!(
        (down["event"].as_str(), down["alert_count"].as_u64()),
        (Some("down"), Some(1))
    );
    assert_eq!(down["expected_by_unix"], ts + 60);
    assert_eq!(down["last_ping_unix"], ts);
    assert!(
        ulid::Ulid::from_string(down["id"].as_str().unwrap()).is_ok(),
        "{down}"
    );
    assert_eq!(
        (reminder["event"].as_str(), reminder["alert_count"].as_u64()),
        (Some("down"), Some(2))
    );
    assert_ne!(down["id"], reminder["id"]);
    assert!(reminder["overdue_seconds"].as_u64() > down["overdue_seconds"].as_u64());
    let job = app.job("nightly").await;
    assert_eq!(job["status"], "down");
    assert_eq!(job["down_since"], down["expected_by"]);

    assert_eq!(app.ping_with(&[("name", "nightly")]).await.status(), 200);
    let got = hook.wait_for(3, WAIT).await;
    let up = got
        .iter()
        .map(|r| &r.body)
        .find(|b| b["event"] == "up")
        .expect("an up alert");
    assert_eq!(up["name"], "nightly");
    let before_up = got.iter().take_while(|r| r.body["event"] != "up").count();
    assert!(before_up >= 2, "up comes after the down alerts");
    assert!(up["overdue_seconds"].as_u64().unwrap() >= 60, "{up}");
    let job = app.job("nightly").await;
    assert_eq!(job["status"], "up");
    assert_eq!(job["down_since"], serde_json::Value::Null);
    assert_eq!(job["alerts_sent"].as_u64(), Some(before_up as u64 + 1));
    let ids: HashSet<&str> = got.iter().map(|r| r.body["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), got.len(), "one id per alert");
    // Up, the job is not reminded any more.
    let settled = hook.received().len();
    hook.expect_no_more_than(settled, Duration::from_millis(2_500))
        .await;
    app.stop().await;
}

pub async fn a_failed_delivery_is_retried_with_the_same_id(store: &Store) {
    let hook = Webhook::start_with(|n| Reply::status(if n == 0 { 503 } else { 200 })).await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "1h"])
        .await;
    ping_overdue(&app, "flaky").await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[0].body["id"], got[1].body["id"]);
    assert_eq!(got[1].body["alert_count"], 1);
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(900),
        "backoff from 1 s"
    );
    wait_for_json(&app, "/health", "an empty backlog", |doc| {
        doc["indicators"]["alert_backlog"] == 0
    })
    .await;
    hook.expect_no_more_than(2, Duration::from_millis(500))
        .await;
    app.stop().await;
}

pub async fn deleting_a_job_drops_its_undelivered_alerts(store: &Store) {
    let hook = Webhook::start_with(|_| Reply::status(500)).await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "1h"])
        .await;
    ping_overdue(&app, "doomed").await;
    hook.wait_for(1, WAIT).await;
    let health = health(&app).await;
    assert_eq!(health["indicators"]["alert_backlog"], 1, "{health:#}");
    assert!(health["indicators"]["oldest_pending_alert_age_seconds"].is_u64());
    assert_eq!(delete(&app, "doomed").await.0, 200);
    let health = crate::support::health(&app).await;
    assert_eq!(health["indicators"]["alert_backlog"], 0, "{health:#}");
    assert_eq!(health["indicators"]["oldest_pending_alert_age_seconds"], 0);
    let attempts = hook.received().len();
    hook.expect_no_more_than(attempts, Duration::from_millis(2_500))
        .await;
    app.stop().await;
}

pub async fn state_survives_a_restart_and_down_jobs_stay_down(store: &Store) {
    if !store.durable {
        return;
    }
    let hook = Webhook::start().await;
    let flags = ["--alert-uri", hook.url.as_str(), "--realert-every", "1h"];
    let app = store.spawn(&flags).await;
    assert_eq!(app.ping("kept", "1h").await.status(), 200);
    ping_overdue(&app, "down").await;
    hook.wait_for(1, WAIT).await;
    app.stop().await;

    let app = store.spawn(&flags).await;
    let kept = app.job("kept").await;
    assert_eq!(
        (kept["status"].as_str(), kept["pings_total"].as_u64()),
        (Some("up"), Some(1))
    );
    let down = app.job("down").await;
    assert_eq!(down["status"], "down", "a down job stays down");
    hook.expect_no_more_than(1, Duration::from_millis(2_000))
        .await;
    assert_eq!(app.ping_with(&[("name", "down")]).await.status(), 200);
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(
        (got[1].body["event"].as_str(), got[1].body["name"].as_str()),
        (Some("up"), Some("down"))
    );
    app.stop().await;
}
