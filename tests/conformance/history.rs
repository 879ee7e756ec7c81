//! SPEC §13, history: every job's recent events, durable, paged newest first, deleted
//! with the job, the same on every store.

use std::time::Duration;

use serde_json::Value;

use crate::common::{encode, now_unix, TestApp, Webhook};
use crate::support::{json, ping_overdue, Store, WAIT};

async fn events(app: &TestApp, name: &str, query: &str) -> Value {
    json(app, &format!("/ping/{}/events{query}", encode(name))).await
}

fn kinds(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| e["kind"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn ok(app: &TestApp, params: &[(&str, &str)]) {
    let response = app.ping_with(params).await;
    assert_eq!(response.status(), 200, "GET /ping {params:?}");
}

pub async fn every_signal_is_an_event_newest_first(store: &Store) {
    let app = store.spawn(&[]).await;
    let t0 = now_unix() - 60;
    ok(
        &app,
        &[
            ("name", "job"),
            ("frequency", "1h"),
            ("timestamp", &t0.to_string()),
        ],
    )
    .await;
    ok(&app, &[("name", "job"), ("state", "start"), ("rid", "r-1")]).await;
    let response = app
        .client
        .post(app.url("/ping"))
        .query(&[("name", "job"), ("exit_code", "3"), ("rid", "r-1")])
        .header("user-agent", "runitor/1.2")
        .body("line one\nline two\n")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    ok(&app, &[("name", "job"), ("state", "log")]).await;

    let page = events(&app, "job", "").await;
    assert_eq!(
        kinds(&page),
        ["log", "down", "fail", "start", "ping", "created"]
    );
    assert_eq!(page["next"], Value::Null);
    let list = page["events"].as_array().expect("events");
    let seqs: Vec<u64> = list.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first, seq increasing: {seqs:?}"
    );
    for event in list {
        assert!(
            event["at"].as_str().is_some_and(|at| at.ends_with('Z')),
            "{event}"
        );
        assert!(event["at_unix_ms"].as_i64().is_some(), "{event}");
    }
    let fail = &list[2];
    assert_eq!(fail["exit_code"], 3);
    assert_eq!(fail["rid"], "r-1");
    assert_eq!(fail["user_agent"], "runitor/1.2");
    assert_eq!(fail["remote_addr"], "127.0.0.1");
    assert_eq!(fail["log"], "line one\nline two\n");
    assert!(
        fail["duration_seconds"].as_f64().is_some(),
        "it ended run r-1: {fail}"
    );
    assert_eq!(list[1]["reason"], "failed");
    let t = time::OffsetDateTime::from_unix_timestamp(t0).expect("a time");
    let sent = t
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    assert_eq!(
        list[4]["timestamp"],
        sent.as_str(),
        "the first ping sent one"
    );
    assert!(
        list[3].get("timestamp").is_none(),
        "only a ping that sent one shows it"
    );
    assert_eq!(list[3]["duration_seconds"], Value::Null);
    app.stop().await;
}

pub async fn history_pages_with_limit_and_before(store: &Store) {
    let app = store.spawn(&[]).await;
    ok(&app, &[("name", "paged"), ("frequency", "1h")]).await;
    for _ in 0..9 {
        ok(&app, &[("name", "paged")]).await;
    }
    // 11 events: created and 10 pings.
    let first = events(&app, "paged", "?limit=4").await;
    assert_eq!(first["events"].as_array().map(Vec::len), Some(4));
    let next = first["next"].as_u64().expect("a next page");
    assert_eq!(Some(next), first["events"][3]["seq"].as_u64());
    let second = events(&app, "paged", &format!("?limit=4&before={next}")).await;
    assert!(
        second["events"][0]["seq"].as_u64() < Some(next),
        "before is exclusive"
    );
    let third = events(
        &app,
        "paged",
        &format!("?limit=4&before={}", second["next"]),
    )
    .await;
    assert_eq!(third["events"].as_array().map(Vec::len), Some(3));
    assert_eq!(third["next"], Value::Null);
    assert_eq!(kinds(&third).last().map(String::as_str), Some("created"));
    let all = events(&app, "paged", "").await;
    assert_eq!(
        all["events"].as_array().map(Vec::len),
        Some(11),
        "limit defaults to 50"
    );
    for bad in ["?limit=0", "?limit=1001", "?limit=x", "?before=x"] {
        let response = app.get(&format!("/ping/paged/events{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert_eq!(app.get("/ping/unknown/events").await.status(), 404);
    app.stop().await;
}

pub async fn history_keeps_the_last_n_events_and_none_with_zero(store: &Store) {
    let app = store.spawn(&["--history", "3"]).await;
    ok(&app, &[("name", "short"), ("frequency", "1h")]).await;
    for _ in 0..5 {
        ok(&app, &[("name", "short")]).await;
    }
    let page = events(&app, "short", "").await;
    let seqs: Vec<u64> = page["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["seq"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(seqs, [7, 6, 5]);
    app.stop().await;

    let app = store.spawn(&["--history", "0"]).await;
    ok(&app, &[("name", "none"), ("frequency", "1h")]).await;
    let page = events(&app, "none", "").await;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(0));
    assert_eq!(page["next"], Value::Null);
    app.stop().await;
}

pub async fn history_goes_with_its_job(store: &Store) {
    let app = store.spawn(&[]).await;
    ok(&app, &[("name", "gone"), ("frequency", "1h")]).await;
    ok(&app, &[("name", "gone")]).await;
    let response = app
        .client
        .delete(app.url("/ping/gone"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 200);
    assert_eq!(app.get("/ping/gone/events").await.status(), 404);
    ok(&app, &[("name", "gone"), ("frequency", "1h")]).await;
    let page = events(&app, "gone", "").await;
    assert_eq!(
        kinds(&page),
        ["ping", "created"],
        "a new job starts a new history"
    );
    app.stop().await;
}

pub async fn alerts_and_their_deliveries_are_events(store: &Store) {
    let hook = Webhook::start().await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "1s"])
        .await;
    ping_overdue(&app, "late").await;
    hook.wait_for(2, WAIT).await;
    ok(&app, &[("name", "late")]).await;
    hook.wait_for(3, WAIT).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let page = loop {
        let page = events(&app, "late", "").await;
        let deliveries = kinds(&page).iter().filter(|k| *k == "delivery").count();
        if deliveries >= 3 || tokio::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let list = page["events"].as_array().expect("events");
    let of = |kind: &str| list.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!((of("down"), of("up")), (1, 1), "{page}");
    assert!(of("reminder") >= 1, "{page}");
    assert_eq!(
        list.iter()
            .find(|e| e["kind"] == "down")
            .map(|e| e["reason"].clone()),
        Some(Value::from("missed"))
    );
    let delivery = list
        .iter()
        .find(|e| e["kind"] == "delivery")
        .expect("a delivery event");
    assert_eq!(delivery["outcome"], "delivered");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(delivery["last_error"], Value::Null);
    assert!(delivery["alert_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    assert!(matches!(delivery["event"].as_str(), Some("down" | "up")));
    let channel = delivery["channel"].as_str().unwrap_or_default();
    assert!(channel.starts_with("webhook:"), "{channel}");
    assert!(
        !channel.contains('/'),
        "a redacted name, no path: {channel}"
    );
    app.stop().await;
}

pub async fn history_survives_a_restart(store: &Store) {
    if !store.durable {
        return;
    }
    let app = store.spawn(&[]).await;
    ok(&app, &[("name", "kept"), ("frequency", "1h")]).await;
    ok(&app, &[("name", "kept"), ("state", "start")]).await;
    let before = events(&app, "kept", "").await;
    app.stop().await;
    let app = store.spawn(&[]).await;
    let after = events(&app, "kept", "").await;
    assert_eq!(before, after);
    ok(&app, &[("name", "kept")]).await;
    let page = events(&app, "kept", "").await;
    assert_eq!(
        page["events"][0]["seq"].as_u64(),
        before["events"][0]["seq"].as_u64().map(|s| s + 1)
    );
    assert_eq!(
        app.job("kept").await["running"],
        false,
        "the run restored and ended"
    );
    app.stop().await;
}

pub async fn refused_pings_record_nothing(store: &Store) {
    let app = store.spawn(&[]).await;
    let now = now_unix();
    ok(
        &app,
        &[
            ("name", "quiet"),
            ("frequency", "1h"),
            ("timestamp", &now.to_string()),
        ],
    )
    .await;
    let before = events(&app, "quiet", "").await;
    let old = (now - 100).to_string();
    assert_eq!(
        app.ping_with(&[("name", "quiet"), ("timestamp", &old)])
            .await
            .status(),
        409
    );
    assert_eq!(
        app.ping_with(&[("name", "quiet"), ("state", "bogus")])
            .await
            .status(),
        400
    );
    assert_eq!(events(&app, "quiet", "").await, before);
    app.stop().await;
}
