use super::*;
use redis::Value;

fn name() -> JobName {
    JobName::parse("j").unwrap()
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn a_job_reads_back_from_its_packed_value() {
    let up = unpack(name(), b"1000500|7|1|||0|2|3600|30|1h").unwrap();
    assert!(up.late);
    let job = &up.job;
    assert_eq!(
        (
            job.frequency().unwrap().seconds(),
            job.grace.seconds(),
            job.last_ping.millis()
        ),
        (3_600, 30, 1_000_500)
    );
    assert_eq!(
        (job.status, job.alerts_sent, job.pings_total),
        (Status::Up, 2, 7)
    );
    let down = unpack(name(), b"1000500|7||4600500|8200500|3|5|3600|0|1h").unwrap();
    assert!(!down.late);
    assert_eq!(down.job.status, Status::Down);
    assert_eq!(down.job.down_since.map(UnixTime::millis), Some(4_600_500));
    assert_eq!(
        down.job.next_reminder.map(UnixTime::millis),
        Some(8_200_500)
    );
    assert_eq!(down.job.episode_alerts, 3);
}

#[test]
fn packing_and_unpacking_give_back_the_same_value() {
    for value in [
        "1000500|7|1|||0|2|3600|30|1h|0||",
        "1000500|7||4600500|8200500|3|5|3600|0|1h|12|f|",
        "1000500|7||4600500||3|5|86400|0|1D|3|t|,,60,0,0;1000000,t,",
        "1000500|7||||3|5|60|0|1m|9||1500,2,,3,1;1000000,,a%7Cb%3Bc%25d,e;1000100,,",
    ] {
        let stored = unpack(name(), value.as_bytes()).unwrap();
        assert_eq!(pack(&stored), value);
    }
}

#[test]
fn a_value_of_the_layout_before_runs_reads_with_the_defaults() {
    let old = unpack(name(), b"1000500|7||4600500||3|5|86400|0|1D").unwrap();
    let job = &old.job;
    assert_eq!(
        (job.events_seq, job.down_reason, job.runs.is_none()),
        (0, DownReason::Missed, true)
    );
    assert_eq!(job.frequency().unwrap().as_str(), "1D");
    assert_eq!(
        pack(&old),
        "1000500|7||4600500||3|5|86400|0|1D|0||",
        "written back in the new layout"
    );
}

#[test]
fn runs_keep_every_field_and_any_printable_run_id() {
    let mut runs = Runs {
        last_duration_ms: Some(12_500),
        last_exit_code: Some(255),
        max_runtime: Some(3_600),
        failure_tolerance: 100,
        consecutive_failures: 4,
        ..Runs::default()
    };
    let at = |ms| UnixTime::from_millis(ms).unwrap();
    for (i, rid) in [Some("x|y;z%,w 1"), None, Some("%7C")]
        .into_iter()
        .enumerate()
    {
        runs.start(rid.map(|r| RunId::parse(r).unwrap()), at(1_000 + i as i64));
    }
    runs.open[1].timed_out = true;
    let text = pack_runs(&runs);
    assert!(!text.contains('|'), "{text}");
    assert_eq!(unpack_runs(&text).unwrap(), runs);
    let mut job = unpack(name(), b"1000500|7||||3|5|60|0|1m").unwrap();
    job.job.runs = Some(Box::new(runs.clone()));
    job.job.events_seq = 41;
    job.job.down_reason = DownReason::RunTimeout;
    let back = unpack(name(), pack(&job).as_bytes()).unwrap();
    assert_eq!(back, job);
}

#[test]
fn a_schedule_a_pause_and_an_acknowledgement_round_trip_in_the_extras() {
    for value in [
        "1000500|7||||0|2|0|300||4|||;0 3 * * 1-5;Europe/Berlin;;;;",
        "1000500|7||||0|2|3600|30|1h|0|||p;;;2000000;;;",
        "1000500|7||||0|2|3600|30|1h|0|||;;;;1200000;;",
        "1000500|7||||0|2|3600|30|1h|0|||p;;;;;;",
        "1000500|7||4600500||3|5|0|300||9|f||;@daily;UTC;;;4700000;=disk %7C swap; 100%25",
        "1000500|7||4600500||3|5|3600|0|1h|9|f||;;;;;4700000;=",
        "1000500|7||4600500||3|5|3600|0|1h|9|f||;;;;;4700000;",
    ] {
        let stored = unpack(name(), value.as_bytes()).unwrap();
        assert_eq!(pack(&stored), value);
    }
    let scheduled = unpack(
        name(),
        b"1000500|7||4600500||3|5|0|300||9|f||p;@daily;UTC;5000000;;4700000;=disk %7C swap; 100%25",
    )
    .unwrap()
    .job;
    assert_eq!(scheduled.status, Status::Paused);
    assert_eq!(scheduled.frequency(), None);
    assert_eq!(
        scheduled.schedule().map(Schedule::expression),
        Some("@daily")
    );
    assert_eq!(
        scheduled.paused_until().map(UnixTime::millis),
        Some(5_000_000)
    );
    let ack = scheduled.acknowledged().unwrap();
    assert_eq!(ack.at.millis(), 4_700_000);
    assert_eq!(ack.note.as_deref(), Some("disk | swap; 100%"));
    // The first fire after the last ping (1970-01-01T00:16:40.5Z) is the next
    // midnight, plus 300 s of grace.
    assert_eq!(scheduled.deadline().secs(), 86_400 + 300);
    let mut plain = unpack(name(), b"1000500|7||||0|2|3600|30|1h|0||")
        .unwrap()
        .job;
    plain.set_acknowledged(None);
    assert_eq!(
        pack(&Stored {
            job: plain,
            late: false
        }),
        "1000500|7||||0|2|3600|30|1h|0||",
        "a job with none of it keeps the layout the quick path matches"
    );
}

#[test]
fn values_that_do_not_parse_are_errors_not_panics() {
    for bad in [
        &b""[..],
        b"1000500|7|1|||0|2|3600|30",
        b"1000500|7|1|||0|2|3600|x|1h",
        b"1000500|7|1|soon||0|2|3600|30|1h",
        b"1000500|7|1|||0|2|60|30|1h",
        b"1000500|7|2|||0|2|3600|30|1h",
        b"-5|7||||0|2|3600|30|1h",
        b"1000500|+7||||0|2|3600|30|1h",
        b"\xff|7||||0|2|3600|30|1h",
        b"1000500|7|1|||0|2|3600|30|1h|x||",
        b"1000500|7|1|||0|2|3600|30|1h|0|z|",
        b"1000500|7|1|||0|2|3600|30|1h|0||1,2",
        b"1000500|7|1|||0|2|3600|30|1h|0||,256,,0,0",
        b"1000500|7|1|||0|2|3600|30|1h|0||,,,101,0",
        b"1000500|7|1|||0|2|3600|30|1h|0||,,,0,0;x,,",
        b"1000500|7|1|||0|2|3600|30|1h|0||,,,0,0;5,y,",
        b"1000500|7|1|||0|2|3600|30|1h|0||,,,0,0;5,,\x01",
        b"1000500|7|1|||0|2|3600|30|1h|0|",
        b"1000500|7|1|||0|2|3600|30|1h|0||||",
        b"1000500|7|1|||0|2|3600|30|1h|0|||x;;;;;;",
        b"1000500|7|1|||0|2|3600|30|1h|0|||;;;;",
        b"1000500|7|1|||0|2|3600|30|1h|0|||;0 0 30 2 *;UTC;;;;",
        b"1000500|7|1|||0|2|3600|30|1h|0|||;0 3 * * *;Mars/Olympus;;;;",
        b"1000500|7|1|||0|2|3600|30|1h|0|||;;Europe/Berlin;;;;",
        b"1000500|7|1|||0|2|3600|30|1h|0|||;;;;;;=orphan note",
        b"1000500|7|1|||0|2|3600|30|1h|0|||;;;;;5;note without =",
        b"1000500|7|1|||0|2|3600|30|1h|0|||;;;soon;;;",
        b"1000500|7|1|||0|2|3600|30|1h|0|||;;;;later;;",
        b"1000500|7|1|||0|2|0|30||0|||;;;;;;",
        b"1000500|7|1|||0|2|0|30||0||",
        b"1000500|7|1|||0|2|3600|30|1h|0||||;;;;;;",
    ] {
        assert!(
            unpack(name(), bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn an_outbox_entry_reads_back_as_its_alert() {
    let fields: Vec<Value> = [
        "i",
        "01JD0000000000000000000000",
        "v",
        "d",
        "n",
        "backup",
        "f",
        "1D",
        "s",
        "86400",
        "g",
        "0",
        "l",
        "1795143600000",
        "x",
        "1795230000000",
        "o",
        "61",
        "c",
        "1",
        "r",
        "1795230061000",
        "q",
        "9",
    ]
    .into_iter()
    .map(bulk)
    .collect();
    let pending = entry(&fields, 2, 5).unwrap();
    assert_eq!(pending.seq, 9);
    assert_eq!(pending.attempts, 2);
    let alert = pending.alert;
    assert_eq!(alert.event, AlertEvent::Down);
    assert_eq!(alert.expected_by, "2026-11-21T03:00:00Z");
    assert_eq!(alert.expected_by_unix, 1_795_230_000);
    assert_eq!((alert.overdue_seconds, alert.alert_count), (61, 1));
    assert_eq!(alert.raised_at_unix, 1_795_230_061);
    assert_eq!(
        (alert.reason, alert.exit_code, alert.log.as_deref()),
        (Reason::Missed, None, None),
        "an entry raised before runs"
    );
    let mut broken = fields.clone();
    broken[3] = bulk("x");
    assert!(entry(&broken, 0, 0).is_err());
}

#[test]
fn an_alert_written_as_entry_fields_reads_back_equal() {
    let job = unpack(name(), b"1795143600000|7||||0|2|86400|0|1D")
        .unwrap()
        .job;
    let now = UnixTime::from_millis(1_795_230_061_250).unwrap();
    let mut alert = Alert::new("01JD".to_owned(), &job, AlertEvent::Down, now);
    alert.reason = Reason::Failed;
    alert.exit_code = Some(3);
    alert.duration_ms = Some(12_500);
    alert.log = Some("line one\nline | two".to_owned());
    let written = alert_fields(&alert, now);
    let keys = [
        "i", "v", "f", "s", "g", "l", "x", "o", "c", "r", "w", "e", "u", "m",
    ];
    let mut fields: Vec<Value> = keys
        .iter()
        .zip(&written)
        .flat_map(|(k, v)| [bulk(k), bulk(v)])
        .collect();
    fields.extend(["n", "j", "q", "3"].map(bulk));
    let read = entry(&fields, 0, 0).unwrap();
    assert_eq!(read.alert, alert);
    assert_eq!(read.seq, 3);
    // The store script leaves empty optional fields out.
    let up = Alert::new("01JE".to_owned(), &job, AlertEvent::Up, now);
    let written = alert_fields(&up, now);
    let mut fields: Vec<Value> = keys
        .iter()
        .zip(&written)
        .filter(|(_, v)| !v.is_empty())
        .flat_map(|(k, v)| [bulk(k), bulk(v)])
        .collect();
    fields.extend(["n", "j", "q", "4"].map(bulk));
    let read = entry(&fields, 0, 0).unwrap();
    assert_eq!(read.alert, up);
    assert_eq!(read.alert.reason, Reason::Recovered);
    // A schedule job's alert has no frequency, and its schedule and zone.
    let scheduled = unpack(
        name(),
        b"1795143600000|7||||0|2|0|300||4|||;0 3 * * *;Europe/Berlin;;;;",
    )
    .unwrap()
    .job;
    let down = Alert::new("01JF".to_owned(), &scheduled, AlertEvent::Down, now);
    assert_eq!(
        (down.frequency.as_deref(), down.schedule.as_deref()),
        (None, Some("0 3 * * *"))
    );
    let written = alert_fields(&down, now);
    let keys = [
        "i", "v", "f", "s", "g", "l", "x", "o", "c", "r", "w", "e", "u", "m", "k", "z",
    ];
    let mut fields: Vec<Value> = keys
        .iter()
        .zip(&written)
        .enumerate()
        .filter(|(i, (_, v))| *i < 10 || !v.is_empty())
        .flat_map(|(_, (k, v))| [bulk(k), bulk(v)])
        .collect();
    fields.extend(["n", "j", "q", "5"].map(bulk));
    let read = entry(&fields, 0, 0).unwrap();
    assert_eq!(read.alert, down);
    assert_eq!(read.alert.timezone.as_deref(), Some("Europe/Berlin"));
}
