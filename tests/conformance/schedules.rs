//! SPEC §11, schedules: cron expressions in IANA time zones, the daylight-saving rules,
//! the strictly-after rule, the 5 m default grace, switching kinds, the errors and the
//! job and alert fields, the same on every store. Deadlines are checked from explicit
//! past timestamps, so that no test depends on today's date.

use serde_json::Value;

use crate::common::{now_unix, TestApp, Webhook};
use crate::support::{Store, WAIT};

/// A ping with `params`, answered as JSON; asserts a 200 and returns the job object.
async fn ping(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let response = app
        .client
        .get(app.url("/ping"))
        .query(params)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("ping");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "GET /ping {params:?}: {body}");
    serde_json::from_str(&body).expect("a job object")
}

/// A schedule ping of `name` at unix time `at`: its job object.
async fn scheduled(app: &TestApp, name: &str, expression: &str, tz: &str, at: i64) -> Value {
    let at = at.to_string();
    ping(
        app,
        &[
            ("name", name),
            ("schedule", expression),
            ("tz", tz),
            ("timestamp", &at),
        ],
    )
    .await
}

/// The deadline a job object shows, in unix seconds.
fn deadline(job: &Value) -> i64 {
    job["next_deadline_unix"]
        .as_i64()
        .expect("next_deadline_unix")
}

/// `GET /ping` with `params`: the status and the one-line message.
async fn refused(app: &TestApp, params: &[(&str, &str)]) -> (u16, String) {
    let response = app.ping_with(params).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

const GRACE: i64 = 300;

pub async fn a_daily_schedule_in_berlin_is_due_5m_after_its_next_fire(store: &Store) {
    let app = store.spawn(&[]).await;
    // Friday 2026-11-20T12:00:00Z; the next 03:00 in Berlin (CET, +1) is 02:00Z on the
    // 21st.
    let job = scheduled(&app, "backup", "0 3 * * *", "Europe/Berlin", 1_795_176_000).await;
    assert_eq!(deadline(&job), 1_795_226_400 + GRACE);
    assert_eq!(job["next_deadline"], "2026-11-21T02:05:00Z");
    assert_eq!(
        (&job["schedule"], &job["timezone"]),
        (&Value::from("0 3 * * *"), &Value::from("Europe/Berlin"))
    );
    assert_eq!(
        (&job["frequency"], &job["frequency_seconds"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(job["grace_seconds"], GRACE, "a schedule's default grace");
    // A ping at the fire time itself: the deadline is the next fire strictly after it.
    let job = scheduled(&app, "backup", "0 3 * * *", "Europe/Berlin", 1_795_226_400).await;
    assert_eq!(deadline(&job), 1_795_226_400 + 86_400 + GRACE);
    // Without tz the zone is UTC; an explicit grace is kept.
    let job = ping(
        &app,
        &[
            ("name", "utc"),
            ("schedule", "0 3 * * *"),
            ("grace", "1m"),
            ("timestamp", "1795176000"),
        ],
    )
    .await;
    assert_eq!(job["timezone"], "UTC");
    assert_eq!(deadline(&job), 1_795_230_000 + 60);
    // The job routes show the same object.
    assert_eq!(app.job("utc").await["schedule"], "0 3 * * *");
    app.stop().await;
}

pub async fn a_local_time_skipped_by_dst_fires_at_the_end_of_the_gap(store: &Store) {
    let app = store.spawn(&[]).await;
    // 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST (01:00Z); 02:30 never
    // happens, so the job fires at 03:00 CEST.
    let job = scheduled(&app, "gap", "30 2 * * *", "Europe/Berlin", 1_774_699_200).await;
    assert_eq!(deadline(&job), 1_774_746_000 + GRACE);
    // The same in New York on 2026-03-08: 03:00 EDT is 07:00Z.
    let job = scheduled(
        &app,
        "ny-gap",
        "30 2 * * *",
        "America/New_York",
        1_772_884_800,
    )
    .await;
    assert_eq!(deadline(&job), 1_772_953_200 + GRACE);
    // And in Sydney, whose clocks go forward in October: 2026-10-04 03:00 AEDT is
    // 16:00Z on the 3rd.
    let job = scheduled(
        &app,
        "syd-gap",
        "30 2 * * *",
        "Australia/Sydney",
        1_790_985_600,
    )
    .await;
    assert_eq!(deadline(&job), 1_791_043_200 + GRACE);
    app.stop().await;
}

pub async fn a_local_time_repeated_by_dst_fires_once(store: &Store) {
    let app = store.spawn(&[]).await;
    // 2026-10-25 in Berlin: 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
    let job = scheduled(&app, "fold", "30 2 * * *", "Europe/Berlin", 1_792_843_200).await;
    assert_eq!(
        deadline(&job),
        1_792_888_200 + GRACE,
        "the first occurrence"
    );
    // Pinged between the two: the next fire is the next day's, not the repeat.
    let job = scheduled(&app, "fold", "30 2 * * *", "Europe/Berlin", 1_792_888_260).await;
    assert_eq!(deadline(&job), 1_792_978_200 + GRACE);
    // Every half hour across the fold: after 02:30 CEST (00:30Z) comes 03:00 CET
    // (02:00Z); the repeated 02:00 and 02:30 do not fire.
    let job = scheduled(&app, "half", "*/30 * * * *", "Europe/Berlin", 1_792_888_200).await;
    assert_eq!(deadline(&job), 1_792_893_600 + GRACE);
    // Pinged at 02:20 CET (01:20Z), in the repeated hour after the first 02:30: the
    // second 02:30, ten minutes later, does not fire.
    let job = scheduled(&app, "fold", "30 2 * * *", "Europe/Berlin", 1_792_891_200).await;
    assert_eq!(deadline(&job), 1_792_978_200 + GRACE);
    // Sydney's clocks go back on 2026-04-05: 02:30 AEDT (15:30Z on the 4th) fires, the
    // 02:30 AEST an hour later does not.
    let job = scheduled(
        &app,
        "syd-fold",
        "30 2 * * *",
        "Australia/Sydney",
        1_775_300_000,
    )
    .await;
    assert_eq!(deadline(&job), 1_775_316_600 + GRACE);
    let job = scheduled(
        &app,
        "syd-fold",
        "30 2 * * *",
        "Australia/Sydney",
        1_775_316_660,
    )
    .await;
    assert_eq!(deadline(&job), 1_775_316_600 + 86_400 + 3_600 + GRACE);
    // Every half hour across the fold: after 02:30 AEDT comes 03:00 AEST (17:00Z), not
    // the repeated 02:00 and 02:30.
    let job = scheduled(
        &app,
        "syd-half",
        "*/30 * * * *",
        "Australia/Sydney",
        1_775_316_600,
    )
    .await;
    assert_eq!(deadline(&job), 1_775_322_000 + GRACE);
    // Pinged at 02:20 AEST, in the repeated hour: the second 02:30 does not fire.
    let job = scheduled(
        &app,
        "syd-fold",
        "30 2 * * *",
        "Australia/Sydney",
        1_775_319_600,
    )
    .await;
    assert_eq!(deadline(&job), 1_775_316_600 + 86_400 + 3_600 + GRACE);
    app.stop().await;
}

pub async fn weekday_schedules_skip_the_weekend_in_their_zone(store: &Store) {
    let app = store.spawn(&[]).await;
    // Friday 2026-11-20T12:00:00Z: the next weekday 03:00 in New York (EST, -5) is
    // Monday 2026-11-23T08:00:00Z.
    let job = scheduled(&app, "ny", "0 3 * * 1-5", "America/New_York", 1_795_176_000).await;
    assert_eq!(deadline(&job), 1_795_420_800 + GRACE);
    // Names and any case, as in crontab: the same schedule.
    let job = scheduled(
        &app,
        "ny-names",
        "0 3 * * mon-FRI",
        "America/New_York",
        1_795_176_000,
    )
    .await;
    assert_eq!(deadline(&job), 1_795_420_800 + GRACE);
    // Sydney in July (AEST, +10): 03:00 on 2026-07-02 is 17:00Z on the 1st.
    let job = scheduled(&app, "syd", "0 3 * * *", "Australia/Sydney", 1_782_864_000).await;
    assert_eq!(deadline(&job), 1_782_925_200 + GRACE);
    // Day of month and day of week both restricted: either matches (Vixie cron). From
    // Friday the 20th, the next Sunday (the 22nd) comes before the 1st...
    let job = scheduled(&app, "vixie", "0 0 1 * SUN", "UTC", 1_795_176_000).await;
    assert_eq!(deadline(&job), 1_795_305_600 + GRACE);
    // ... and the 21st (a Saturday) before the next Monday.
    let job = scheduled(&app, "vixie-dom", "0 0 21 * MON", "UTC", 1_795_176_000).await;
    assert_eq!(deadline(&job), 1_795_219_200 + GRACE);
    // Macros.
    let job = scheduled(&app, "hourly", "@hourly", "UTC", 1_795_176_000).await;
    assert_eq!(deadline(&job), 1_795_176_000 + 3_600 + GRACE);
    app.stop().await;
}

pub async fn a_job_switches_between_frequency_and_schedule(store: &Store) {
    let app = store.spawn(&[]).await;
    let t0 = 1_795_176_000;
    let job = ping(
        &app,
        &[
            ("name", "switch"),
            ("frequency", "1h"),
            ("timestamp", &t0.to_string()),
        ],
    )
    .await;
    assert_eq!(
        (job["schedule"].is_null(), job["grace_seconds"].as_i64()),
        (true, Some(0))
    );
    let job = scheduled(&app, "switch", "0 3 * * *", "Europe/Berlin", t0 + 60).await;
    assert_eq!(job["frequency"], Value::Null);
    assert_eq!(deadline(&job), 1_795_226_400 + GRACE);
    // Neither sent: the schedule and zone stay.
    let plain = (t0 + 120).to_string();
    let job = ping(&app, &[("name", "switch"), ("timestamp", &plain)]).await;
    assert_eq!(
        (&job["schedule"], &job["timezone"]),
        (&Value::from("0 3 * * *"), &Value::from("Europe/Berlin"))
    );
    assert_eq!(deadline(&job), 1_795_226_400 + GRACE);
    // Back to a frequency, with that kind's default grace.
    let back = (t0 + 180).to_string();
    let job = ping(
        &app,
        &[
            ("name", "switch"),
            ("frequency", "10m"),
            ("timestamp", &back),
        ],
    )
    .await;
    assert_eq!(
        (&job["schedule"], &job["timezone"], &job["frequency"]),
        (&Value::Null, &Value::Null, &Value::from("10m"))
    );
    assert_eq!(deadline(&job), t0 + 180 + 600);
    // Stored as it was shown: a fresh read agrees.
    let read = app.job("switch").await;
    assert_eq!(
        (read["frequency_seconds"].as_i64(), deadline(&read)),
        (Some(600), t0 + 780)
    );
    app.stop().await;
}

pub async fn malformed_schedules_and_zones_are_refused_with_the_accepted_form(store: &Store) {
    let app = store.spawn(&[]).await;
    let (status, body) = refused(
        &app,
        &[
            ("name", "x"),
            ("frequency", "1D"),
            ("schedule", "0 3 * * *"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not both"), "{body}");
    for bad in [
        "0 3 * *",
        "61 * * * *",
        "0 3 * * MON#2",
        "@\nweekly",
        "@fortnightly",
        "",
        "0 0 30 2 *",
    ] {
        let (status, body) = refused(&app, &[("name", "x"), ("schedule", bad)]).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(body.contains("five fields"), "{bad:?}: {body}");
        assert!(
            body.ends_with('\n') && body.lines().count() == 1,
            "{body:?}"
        );
    }
    let (_, never) = refused(&app, &[("name", "x"), ("schedule", "0 0 30 2 *")]).await;
    assert!(never.contains("never fires"), "{never}");
    for zone in ["Mars/Olympus", "CEST", "+02:00", "Europe/Berlin/x", ""] {
        let (status, body) = refused(
            &app,
            &[("name", "x"), ("schedule", "0 3 * * *"), ("tz", zone)],
        )
        .await;
        assert_eq!(status, 400, "{zone:?}: {body}");
        assert!(body.contains("Europe/Berlin"), "{zone:?}: {body}");
    }
    let (status, body) = refused(&app, &[("name", "x"), ("frequency", "1D"), ("tz", "UTC")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("schedule"), "{body}");
    // Nothing was created by any of them.
    assert_eq!(app.get("/ping/x").await.status(), 404);
    app.stop().await;
}

pub async fn a_schedule_job_goes_down_and_up_with_its_fields_in_the_alerts(store: &Store) {
    let hook = Webhook::start().await;
    let app = store.spawn(&["--alert-uri", &hook.url]).await;
    // Every minute, last pinged 400 s ago: its next fire plus 5 m has passed.
    let late = (now_unix() - 400).to_string();
    let job = ping(
        &app,
        &[
            ("name", "minutely"),
            ("schedule", "* * * * *"),
            ("tz", "Australia/Sydney"),
            ("timestamp", &late),
        ],
    )
    .await;
    assert!(deadline(&job) < now_unix());
    let received = hook.wait_for(1, WAIT).await;
    let down = &received[0].body;
    assert_eq!(
        (&down["event"], &down["name"]),
        (&Value::from("down"), &Value::from("minutely"))
    );
    assert_eq!(
        (&down["schedule"], &down["timezone"]),
        (&Value::from("* * * * *"), &Value::from("Australia/Sydney"))
    );
    assert_eq!(
        (&down["frequency"], &down["frequency_seconds"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(down["expected_by_unix"], deadline(&job));
    assert_eq!(app.job("minutely").await["status"], "down");
    // A ping now brings it up, with the same fields.
    let job = ping(&app, &[("name", "minutely")]).await;
    assert_eq!(job["status"], "up");
    assert!(deadline(&job) > now_unix());
    let received = hook.wait_for(2, WAIT).await;
    let up = &received[1].body;
    assert_eq!(up["event"], "up");
    assert_eq!(up["schedule"], "* * * * *");
    // A frequency job's alerts carry the two fields as null.
    let old = (now_unix() - 120).to_string();
    ping(
        &app,
        &[("name", "every"), ("frequency", "1m"), ("timestamp", &old)],
    )
    .await;
    let received = hook.wait_for(3, WAIT).await;
    let every = &received[2].body;
    assert_eq!(
        (&every["name"], &every["schedule"], &every["timezone"]),
        (&Value::from("every"), &Value::Null, &Value::Null)
    );
    app.stop().await;
}

pub async fn a_schedule_survives_a_restart(store: &Store) {
    if !store.durable {
        return;
    }
    let app = store.spawn(&[]).await;
    let job = scheduled(&app, "kept", "0 3 * * 1-5", "Europe/Berlin", 1_795_176_000).await;
    app.stop().await;
    let app = store.spawn(&[]).await;
    let read = app.job("kept").await;
    assert_eq!(
        (&read["schedule"], &read["timezone"], deadline(&read)),
        (&job["schedule"], &job["timezone"], deadline(&job))
    );
    app.stop().await;
}
