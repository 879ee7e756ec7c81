//! The alert body of SPEC §5, field by field.

use std::time::Duration;

use crate::common::{now_unix, spawn_app_with, Webhook};
use crate::support::{id_of, int, ping_overdue, rfc3339, unix_of, WAIT};

const FIELDS: [&str; 16] = [
    "id",
    "event",
    "name",
    "frequency",
    "frequency_seconds",
    "schedule",
    "timezone",
    "grace_seconds",
    "last_ping",
    "last_ping_unix",
    "expected_by",
    "expected_by_unix",
    "overdue_seconds",
    "alert_count",
    "sent_at",
    "monitor",
];

#[tokio::test]
async fn every_payload_field_has_the_documented_type_and_value() {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--realert-every",
        "1h",
        "--service-name",
        "billing-monitor",
    ])
    .await;
    let pinged_at = now_unix();
    let ts = pinged_at - 120;
    let response = app
        .ping_with(&[
            ("name", "invoice run"),
            ("frequency", "1min"),
            ("grace", "10s"),
            ("timestamp", &ts.to_string()),
        ])
        .await;
    assert_eq!(response.status(), 200);
    let expected_by = ts + 60 + 10;

    let got = hook.wait_for(1, WAIT).await;
    let received_at = now_unix();
    let body = &got[0].body;
    let object = body.as_object().expect("the body is a JSON object");
    for field in FIELDS {
        assert!(object.contains_key(field), "{field} missing from {body}");
    }
    // SPEC §11: null for a frequency job.
    assert!(body["schedule"].is_null() && body["timezone"].is_null());

    let id = body["id"].as_str().expect("id is a string");
    let ulid = ulid::Ulid::from_string(id).unwrap_or_else(|e| panic!("id {id:?} is no ULID: {e}"));
    let minted_ms = i64::try_from(ulid.timestamp_ms()).expect("fits");
    assert!(
        ((pinged_at - 1) * 1000..=(received_at + 1) * 1000).contains(&minted_ms),
        "the ULID's time {minted_ms} ms should be when the alert was raised"
    );
    assert_eq!(body["event"], "down");
    assert_eq!(body["name"], "invoice run");
    assert_eq!(
        body["frequency"], "1min",
        "the frequency as the job sent it"
    );
    assert_eq!(body["frequency_seconds"], 60);
    assert!(body["frequency_seconds"].is_u64());
    assert_eq!(body["grace_seconds"], 10);
    assert!(body["grace_seconds"].is_u64());
    assert_eq!(body["last_ping"], rfc3339(ts));
    assert_eq!(unix_of(&body["last_ping"]), ts);
    assert_eq!(body["last_ping_unix"], ts);
    assert_eq!(body["expected_by"], rfc3339(expected_by));
    assert_eq!(unix_of(&body["expected_by"]), expected_by);
    assert_eq!(body["expected_by_unix"], expected_by);
    let overdue = int(body, "overdue_seconds");
    assert!(
        (pinged_at - expected_by..=received_at - expected_by).contains(&overdue),
        "overdue_seconds {overdue}: the job was {} s past expected_by when it pinged",
        pinged_at - expected_by
    );
    assert!(body["overdue_seconds"].is_u64());
    assert_eq!(body["alert_count"], 1);
    assert!(body["alert_count"].is_u64());
    let sent_at = unix_of(&body["sent_at"]);
    assert!(
        (pinged_at..=received_at + 1).contains(&sent_at),
        "sent_at {sent_at} should be the moment of sending (now is {received_at})"
    );
    assert_eq!(
        body["monitor"], "billing-monitor",
        "monitor is --service-name"
    );

    // A second alert, for another job: a different id.
    ping_overdue(&app, "other").await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got[1].body["name"], "other");
    assert_ne!(id_of(&got[1]), id);
    assert!(ulid::Ulid::from_string(id_of(&got[1])).is_ok());
    hook.expect_no_more_than(2, Duration::ZERO).await;
    app.stop().await;
}
