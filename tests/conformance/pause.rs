//! SPEC §12 on every store: pause (for a while, until a time, until resumed), the
//! window's end found by the sweeper, resume and its deadline, acknowledgement, their
//! refusals and their events. HTTP scenarios first, then the `Backend` trait with
//! explicit clocks for the exact deadlines.

use std::sync::Arc;
use std::time::Duration;

use overdue::backend::{
    open, ActionOutcome, Backend, BackendOptions, Ping, StoreTimer, StoreUrl, SyncMode, Wakers,
};
use overdue::domain::{AdminAction, Frequency, JobName, Note, Refusal, Status, UnixTime};
use serde_json::Value;

use crate::common::{encode, now_unix, TestApp, Webhook};
use crate::support::{json, names, ping_overdue, wait_for_json, Store, WAIT};

/// `POST /ping/{name}/{action}` with `params` in the query; the status and the body
/// (JSON when `as_json`, else the text as a JSON string).
async fn post(
    app: &TestApp,
    name: &str,
    action: &str,
    params: &[(&str, &str)],
    as_json: bool,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/ping/{}/{action}", encode(name))))
        .query(params);
    if as_json {
        request = request.header("Accept", "application/json");
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = if as_json {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    };
    (status, body)
}

/// The kinds of a job's events, newest first, without the deliveries of its alerts:
/// those land whenever the webhook answers.
async fn kinds(app: &TestApp, name: &str) -> Vec<String> {
    let page = json(app, &format!("/ping/{}/events", encode(name))).await;
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .filter(|kind| kind != "delivery")
        .collect()
}

/// The newest event of `kind` of a job.
async fn newest(app: &TestApp, name: &str, kind: &str) -> Value {
    let page = json(app, &format!("/ping/{}/events", encode(name))).await;
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} event in {page:#}"))
}

pub async fn a_pause_shows_its_end_in_the_job_listings_and_metrics(store: &Store) {
    let app = store.spawn(&[]).await;
    for name in ["a", "b", "c"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    let before = now_unix();
    let (status, text) = post(&app, "b", "pause", &[("for", "2h")], false).await;
    assert_eq!(status, 200);
    let text = text.as_str().unwrap_or_default().to_owned();
    assert!(
        text.starts_with("Paused b until ") && text.ends_with("Z\n"),
        "{text:?}"
    );
    let job = app.job("b").await;
    assert_eq!(job["status"], "paused");
    let until = UnixTime::parse(job["paused_until"].as_str().expect("paused_until"))
        .expect("RFC 3339")
        .secs();
    assert!(
        (before + 7_200..=now_unix() + 7_200).contains(&until),
        "{job:#}"
    );
    assert_eq!(
        text,
        format!("Paused b until {}\n", job["paused_until"].as_str().unwrap())
    );

    // Pausing a paused job replaces its end: a time, then none at all.
    let (status, job) = post(
        &app,
        "b",
        "pause",
        &[("until", "2100-01-01T00:00:00Z")],
        true,
    )
    .await;
    assert_eq!(
        (status, job["paused_until"].as_str()),
        (200, Some("2100-01-01T00:00:00Z"))
    );
    let (status, job) = post(&app, "b", "pause", &[], true).await;
    assert_eq!((status, job["status"].as_str()), (200, Some("paused")));
    assert_eq!(job["paused_until"], Value::Null, "until resumed");
    let (_, text) = post(&app, "c", "pause", &[], false).await;
    assert_eq!(text, "Paused c until resumed\n");

    let paused = json(&app, "/pings?status=paused").await;
    assert_eq!(
        (names(&paused), paused["total"].as_u64()),
        (vec!["b", "c"], Some(2))
    );
    let up = json(&app, "/pings?status=up").await;
    assert_eq!((names(&up), up["total"].as_u64()), (vec!["a"], Some(1)));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "overdue_services{status=\"up\"} 1\n",
        "overdue_services{status=\"down\"} 0\n",
        "overdue_services{status=\"paused\"} 2\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    app.stop().await;
}

pub async fn a_paused_job_raises_no_alert_and_still_records_its_pings(store: &Store) {
    let hook = Webhook::start().await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "1s"])
        .await;
    // A down job, reminding every second, then paused: its reminders stop.
    let ts = ping_overdue(&app, "down").await;
    hook.wait_for(1, WAIT).await;
    let (status, job) = post(&app, "down", "pause", &[], true).await;
    assert_eq!((status, job["status"].as_str()), (200, Some("paused")));
    assert_eq!(job["down_since"], Value::Null);
    // A reminder raised just before the pause may still be on its way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = hook.received().len();
    // An up job paused, then pinged with a one-second frequency: its deadline passes.
    assert_eq!(app.ping("quiet", "1h").await.status(), 200);
    assert_eq!(
        post(&app, "quiet", "pause", &[("for", "1h")], false)
            .await
            .0,
        200
    );
    assert_eq!(app.ping("quiet", "1s").await.status(), 200);
    let fail = app
        .ping_with(&[("name", "quiet"), ("state", "fail"), ("exit_code", "3")])
        .await;
    assert_eq!(fail.status(), 200);
    // A ping of the paused down job is recorded, and leaves it paused: no `up`.
    let later = (ts + 30).to_string();
    let ping = app
        .ping_with(&[("name", "down"), ("timestamp", &later)])
        .await;
    assert_eq!(ping.status(), 200);
    hook.expect_no_more_than(sent, Duration::from_millis(3_000))
        .await;
    let down = app.job("down").await;
    assert_eq!(
        (
            down["status"].as_str(),
            down["pings_total"].as_u64(),
            down["last_ping_unix"].as_i64()
        ),
        (Some("paused"), Some(2), Some(ts + 30))
    );
    let quiet = app.job("quiet").await;
    assert_eq!(
        (
            quiet["status"].as_str(),
            quiet["pings_total"].as_u64(),
            quiet["last_exit_code"].as_u64()
        ),
        (Some("paused"), Some(3), Some(3))
    );
    assert_eq!(kinds(&app, "quiet").await[..2], ["fail", "ping"]);
    app.stop().await;
}

pub async fn resume_brings_a_down_job_up_without_an_up_alert(store: &Store) {
    let hook = Webhook::start().await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "1h"])
        .await;
    ping_overdue(&app, "job").await;
    hook.wait_for(1, WAIT).await;
    assert_eq!(post(&app, "job", "pause", &[], false).await.0, 200);
    let resumed_at = now_unix();
    let (status, text) = post(&app, "job", "resume", &[], false).await;
    assert_eq!((status, text.as_str()), (200, Some("Resumed job\n")));
    let job = app.job("job").await;
    assert_eq!(
        (
            job["status"].as_str(),
            job["paused_until"].clone(),
            job["down_since"].clone()
        ),
        (Some("up"), Value::Null, Value::Null)
    );
    // Its own deadline passed long ago: now a full period (1m) and its grace.
    let deadline = job["next_deadline_unix"].as_i64().expect("deadline");
    assert!(
        (resumed_at + 60..=now_unix() + 60).contains(&deadline),
        "{job:#}"
    );
    hook.expect_no_more_than(1, Duration::from_millis(2_000))
        .await;
    let (status, body) = post(&app, "job", "resume", &[], true).await;
    assert_eq!(status, 409, "not paused any more: {body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not paused"),
        "{body}"
    );
    // A job resumed before its own deadline keeps the later one.
    assert_eq!(app.ping("fresh", "1D").await.status(), 200);
    let own = app.job("fresh").await["next_deadline_unix"].clone();
    assert_eq!(post(&app, "fresh", "pause", &[], false).await.0, 200);
    let (_, job) = post(&app, "fresh", "resume", &[], true).await;
    let later = job["next_deadline_unix"].as_i64().unwrap_or_default();
    assert!(later >= own.as_i64().unwrap_or_default(), "{job:#}");
    assert!(later - resumed_at >= 86_400, "resume time + 1D: {job:#}");
    app.stop().await;
}

pub async fn the_end_of_a_window_resumes_the_job_while_the_server_runs(store: &Store) {
    let hook = Webhook::start().await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "1h"])
        .await;
    ping_overdue(&app, "job").await;
    hook.wait_for(1, WAIT).await;
    let (status, job) = post(&app, "job", "pause", &[("for", "1s")], true).await;
    assert_eq!((status, job["status"].as_str()), (200, Some("paused")));
    let job = wait_for_json(&app, "/ping/job", "the job resumed", |j| {
        j["status"] == "up"
    })
    .await;
    assert_eq!(job["paused_until"], Value::Null);
    assert_eq!(kinds(&app, "job").await[..2], ["resumed", "paused"]);
    let resumed = newest(&app, "job", "resumed").await;
    let at = resumed["at_unix_ms"].as_i64().unwrap_or_default() / 1000;
    assert_eq!(job["next_deadline_unix"].as_i64(), Some(at + 60), "{job:#}");
    hook.expect_no_more_than(1, Duration::from_millis(1_500))
        .await;
    app.stop().await;
}

pub async fn an_acknowledgement_stops_reminders_and_the_up_alert_still_goes(store: &Store) {
    let hook = Webhook::start().await;
    let app = store
        .spawn(&["--alert-uri", &hook.url, "--realert-every", "1s"])
        .await;
    ping_overdue(&app, "job").await;
    hook.wait_for(2, WAIT).await;
    let before = now_unix();
    let (status, job) = post(
        &app,
        "job",
        "ack",
        &[("note", "disk replaced at 3:10")],
        true,
    )
    .await;
    assert_eq!((status, job["status"].as_str()), (200, Some("down")));
    let ack = &job["acknowledged"];
    assert_eq!(ack["note"], "disk replaced at 3:10");
    let at = UnixTime::parse(ack["at"].as_str().expect("at"))
        .expect("RFC 3339")
        .secs();
    assert!((before..=now_unix()).contains(&at), "{job:#}");
    // A reminder already raised may still be in flight: count after a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = hook.received().len();
    hook.expect_no_more_than(sent, Duration::from_millis(3_000))
        .await;
    let (_, text) = post(&app, "job", "ack", &[], false).await;
    assert_eq!(text, "Acknowledged job\n", "a second ack replaces the note");
    assert_eq!(app.job("job").await["acknowledged"]["note"], Value::Null);
    assert_eq!(app.ping_with(&[("name", "job")]).await.status(), 200);
    let got = hook.wait_for(sent + 1, WAIT).await;
    assert_eq!(got[sent].body["event"], "up");
    let job = app.job("job").await;
    assert_eq!(
        (job["status"].as_str(), job["acknowledged"].clone()),
        (Some("up"), Value::Null)
    );
    let (status, text) = post(&app, "job", "ack", &[], false).await;
    assert_eq!(status, 409, "an up job: {text}");
    app.stop().await;
}

pub async fn refused_actions_change_nothing(store: &Store) {
    let app = store.spawn(&[]).await;
    assert_eq!(app.ping("job", "1h").await.status(), 200);
    let job = app.job("job").await;
    let events = kinds(&app, "job").await;
    let long = "n".repeat(501);
    for (action, params, code) in [
        ("resume", vec![], 409),
        ("ack", vec![], 409),
        ("ack", vec![("note", long.as_str())], 400),
        ("pause", vec![("for", "soon")], 400),
        ("pause", vec![("for", "0s")], 400),
        ("pause", vec![("for", "1M")], 400),
        ("pause", vec![("until", "next week")], 400),
        ("pause", vec![("until", "1000")], 400),
        (
            "pause",
            vec![("for", "1h"), ("until", "2100-01-01T00:00:00Z")],
            400,
        ),
    ] {
        let (status, body) = post(&app, "job", action, &params, true).await;
        assert_eq!(status, code, "{action} {params:?}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(!message.is_empty() && !message.contains('\n'), "{body}");
    }
    assert_eq!(app.job("job").await, job);
    assert_eq!(kinds(&app, "job").await, events);
    // Acknowledging a paused job, even one that was down, is refused too.
    assert_eq!(post(&app, "job", "pause", &[], false).await.0, 200);
    let (status, text) = post(&app, "job", "ack", &[("note", "x")], false).await;
    assert_eq!(status, 409, "{text}");
    assert!(
        text.as_str().unwrap_or_default().contains("paused"),
        "{text}"
    );
    for action in ["pause", "resume", "ack"] {
        let (status, _) = post(&app, "nobody", action, &[], false).await;
        assert_eq!(status, 404, "{action} of an unknown job");
    }
    assert_eq!(
        app.get("/ping/nobody").await.status(),
        404,
        "nothing created"
    );
    app.stop().await;
}

pub async fn pause_resume_and_ack_are_events(store: &Store) {
    let app = store.spawn(&["--realert-every", "1h"]).await;
    ping_overdue(&app, "job").await;
    wait_for_json(&app, "/ping/job", "down", |j| j["status"] == "down").await;
    assert_eq!(
        post(&app, "job", "ack", &[("note", "on it")], false)
            .await
            .0,
        200
    );
    assert_eq!(
        post(
            &app,
            "job",
            "pause",
            &[("until", "2100-01-01T00:00:00Z")],
            false
        )
        .await
        .0,
        200
    );
    assert_eq!(post(&app, "job", "resume", &[], false).await.0, 200);
    assert_eq!(
        kinds(&app, "job").await[..4],
        ["resumed", "paused", "acknowledged", "down"]
    );
    assert_eq!(
        newest(&app, "job", "paused").await["until"],
        "2100-01-01T00:00:00Z"
    );
    assert_eq!(newest(&app, "job", "acknowledged").await["note"], "on it");
    assert_eq!(post(&app, "job", "pause", &[], false).await.0, 200);
    assert_eq!(newest(&app, "job", "paused").await["until"], Value::Null);
    app.stop().await;
}

pub async fn a_pause_survives_a_restart_and_a_window_that_ended_meanwhile_resumes(store: &Store) {
    if !store.durable {
        return;
    }
    let hook = Webhook::start().await;
    let flags = ["--alert-uri", hook.url.as_str(), "--realert-every", "1s"];
    let app = store.spawn(&flags).await;
    ping_overdue(&app, "long").await;
    ping_overdue(&app, "short").await;
    hook.wait_for(2, WAIT).await;
    let (_, long) = post(&app, "long", "pause", &[("for", "1h")], true).await;
    let (_, short) = post(&app, "short", "pause", &[("for", "1s")], true).await;
    assert_eq!(
        post(&app, "short", "ack", &[], false).await.0,
        409,
        "paused, not down"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = hook.received().len();
    app.stop().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let app = store.spawn(&flags).await;
    let kept = app.job("long").await;
    assert_eq!(
        (kept["status"].as_str(), &kept["paused_until"]),
        (Some("paused"), &long["paused_until"])
    );
    assert!(short["paused_until"].is_string());
    let job = wait_for_json(&app, "/ping/short", "resumed after the restart", |j| {
        j["status"] == "up"
    })
    .await;
    assert!(
        job["next_deadline_unix"].as_i64() > Some(now_unix()),
        "{job:#}"
    );
    hook.expect_no_more_than(sent, Duration::from_millis(2_000))
        .await;
    app.stop().await;
}

/// A backend of `store` reminding every minute.
async fn backend(store: &Store) -> Arc<dyn Backend> {
    let url: StoreUrl = store.url.parse().expect("store URL");
    let options = BackendOptions {
        max_services: 10,
        history: 100,
        realert_every: Some(Duration::from_secs(60)),
        realert_max: Duration::from_secs(3_600),
        startup_grace: Duration::from_secs(900),
        sync: SyncMode::Normal,
        fanout: overdue::backend::Fanout::default(),
    };
    open(&url, options, Wakers::default(), StoreTimer::default())
        .await
        .expect("open the store")
}

fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs).expect("time")
}

fn ms(v: i64) -> UnixTime {
    UnixTime::from_millis(v).expect("time")
}

fn name(raw: &str) -> JobName {
    JobName::parse(raw).expect("name")
}

fn first_ping(raw: &str, frequency: &str) -> Ping {
    Ping {
        frequency: Some(Frequency::parse(frequency).expect("frequency")),
        ..Ping::new(name(raw))
    }
}

async fn act(b: &Arc<dyn Backend>, raw: &str, action: AdminAction, now: UnixTime) -> ActionOutcome {
    b.act(&name(raw), action, now).await.expect("act")
}

pub async fn a_window_end_is_a_wake_up_and_resume_takes_the_later_deadline(store: &Store) {
    let b = backend(store).await;
    b.record_ping(first_ping("j", "1m"), t(1_000))
        .await
        .unwrap();
    let paused = act(
        &b,
        "j",
        AdminAction::Pause {
            until: Some(t(1_100)),
        },
        t(1_010),
    )
    .await;
    assert!(matches!(paused, ActionOutcome::Done(ref j) if j.status == Status::Paused));
    assert!(
        b.take_due(ms(1_061_000), 10).await.unwrap().is_empty(),
        "no alert while paused"
    );
    assert_eq!(
        b.next_wake().await,
        Some(t(1_100)),
        "the window's end, not the deadline"
    );
    assert!(b.take_due(ms(1_100_000), 10).await.unwrap().is_empty());
    assert_eq!(
        b.get(&name("j")).await.unwrap().unwrap().status,
        Status::Paused,
        "due just after its end"
    );
    assert!(
        b.take_due(ms(1_100_500), 10).await.unwrap().is_empty(),
        "a resume raises nothing"
    );
    let job = b.get(&name("j")).await.unwrap().unwrap();
    assert_eq!((job.status, job.paused_until()), (Status::Up, None));
    assert_eq!(job.deadline(), ms(1_160_500), "resume time + 1m");
    assert_eq!(b.next_wake().await, Some(ms(1_160_500)));
    assert!(b.take_due(ms(1_160_500), 10).await.unwrap().is_empty());
    let down = b.take_due(ms(1_160_501), 10).await.unwrap();
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].expected_by_unix, 1_160);
    b.close().await.unwrap();
}

pub async fn resume_and_ack_apply_only_to_paused_and_down_jobs(store: &Store) {
    let b = backend(store).await;
    b.record_ping(first_ping("j", "1m"), t(1_000))
        .await
        .unwrap();
    let note = || Some(Note::parse("looking").expect("note"));
    assert!(matches!(
        act(&b, "j", AdminAction::Resume, t(1_001)).await,
        ActionOutcome::Refused(Refusal::NotPaused(Status::Up))
    ));
    assert!(matches!(
        act(&b, "j", AdminAction::Acknowledge { note: note() }, t(1_001)).await,
        ActionOutcome::Refused(Refusal::NotDown(Status::Up))
    ));
    assert!(matches!(
        act(&b, "gone", AdminAction::Resume, t(1_001)).await,
        ActionOutcome::Unknown
    ));
    assert_eq!(b.take_due(ms(1_060_001), 10).await.unwrap().len(), 1);
    let ActionOutcome::Done(acked) =
        act(&b, "j", AdminAction::Acknowledge { note: note() }, t(1_070)).await
    else {
        panic!("a down job is acknowledged");
    };
    assert_eq!(acked.status, Status::Down);
    assert!(
        b.take_due(ms(1_200_000), 10).await.unwrap().is_empty(),
        "no reminder"
    );
    assert_eq!(b.next_wake().await, None, "nothing to wake for");
    let counts = b.counts().await.unwrap();
    assert_eq!((counts.total, counts.down), (1, 1));
    // Paused while down: no longer counted down; resumed: up with a new deadline.
    act(&b, "j", AdminAction::Pause { until: None }, t(1_300)).await;
    assert_eq!(b.counts().await.unwrap().down, 0);
    assert_eq!(
        b.next_wake().await,
        None,
        "paused until resumed: nothing to wake for"
    );
    let ActionOutcome::Done(up) = act(&b, "j", AdminAction::Resume, t(1_400)).await else {
        panic!("a paused job resumes");
    };
    assert_eq!((up.status, up.deadline()), (Status::Up, t(1_460)));
    assert_eq!(b.next_wake().await, Some(t(1_460)));
    b.close().await.unwrap();
}
