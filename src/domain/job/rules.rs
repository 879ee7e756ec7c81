use std::time::Duration;

use super::*;

const HOUR: Duration = Duration::from_secs(3_600);

fn policy(every: u64, max: u64) -> Policy {
    Policy {
        realert_every: (every > 0).then(|| Duration::from_secs(every)),
        realert_max: Duration::from_secs(max),
        startup_grace: Duration::from_secs(900),
    }
}

fn p() -> Policy {
    policy(60, 3_600)
}

fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs).unwrap()
}

fn ping(frequency: Option<&str>, at: Option<i64>) -> Ping {
    Ping {
        name: JobName::parse("j").unwrap(),
        frequency: frequency.map(|f| Frequency::parse(f).unwrap()),
        schedule: None,
        grace: None,
        at: at.map(t),
        want_job: false,
        signal: Signal::Success,
        exit_code: None,
        rid: None,
        max_runtime: None,
        failure_tolerance: None,
        output: None,
        origin: Origin::default(),
    }
}

fn signal(signal: Signal) -> Ping {
    Ping {
        signal,
        ..ping(None, None)
    }
}

fn id() -> String {
    "A".to_owned()
}

fn created(p: &Ping, now: i64) -> Job {
    Job::from_first_ping(p, t(now), &policy(60, 3_600), id)
        .unwrap()
        .job
}

fn job() -> Job {
    created(&ping(Some("1m"), None), 1_000)
}

fn apply(job: &Job, p: &Ping, now: i64) -> Change {
    match job.apply_ping(p, t(now), &policy(60, 3_600), id) {
        PingEffect::Applied(change) => change,
        other => panic!("not applied: {other:?}"),
    }
}

fn due(job: &Job, now: i64, p: &Policy) -> Change {
    job.fall_due(t(now), None, p, id()).expect("due")
}

fn kinds(change: &Change) -> Vec<&'static str> {
    change.events.iter().map(Event::kind_name).collect()
}

#[test]
fn a_new_name_needs_a_frequency_and_is_created_with_its_first_ping() {
    assert!(Job::from_first_ping(&ping(None, None), t(1), &p(), id).is_none());
    let change = Job::from_first_ping(&ping(Some("1m"), None), t(1_000), &p(), id).unwrap();
    assert_eq!(change.job.deadline(), t(1_060));
    assert_eq!((change.job.pings_total, change.job.events_seq), (1, 2));
    assert_eq!(kinds(&change), ["created", "ping"]);
    assert_eq!(change.events[1].seq, 2);
}

#[test]
fn reminders_double_from_realert_every_up_to_realert_max() {
    let p = policy(60, HOUR.as_secs());
    let waits: Vec<i64> = (1..=9)
        .map(|n| next_reminder(&p, n, t(0)).unwrap().secs())
        .collect();
    assert_eq!(waits, [60, 120, 240, 480, 960, 1_920, 3_600, 3_600, 3_600]);
    assert_eq!(next_reminder(&policy(60, 60), 5, t(0)), Some(t(60)));
    assert_eq!(next_reminder(&policy(0, 60), 1, t(0)), None);
    assert_eq!(
        next_reminder(&policy(60, 86_400), u32::MAX, t(0)),
        Some(t(86_400))
    );
}

#[test]
fn a_weekend_down_reminds_about_a_dozen_times_not_thousands() {
    let p = policy(60, 86_400);
    let mut j = due(&job(), 1_061, &p).job;
    let mut reminders = 0;
    while let Some(at) = j.next_reminder.filter(|at| *at < t(1_061 + 2 * 86_400)) {
        j = due(&j, at.secs() + 1, &p).job;
        reminders += 1;
    }
    assert!((10..=16).contains(&reminders), "{reminders} reminders");
}

#[test]
fn falling_due_marks_down_once_then_reminds() {
    let p = p();
    assert!(
        job().fall_due(t(1_060), None, &p, id()).is_none(),
        "not at the deadline"
    );
    let change = due(&job(), 1_061, &p);
    let (down, alert) = (change.job.clone(), change.alert.clone().unwrap());
    assert_eq!(
        (down.status, down.episode_alerts, down.alerts_sent),
        (Status::Down, 1, 1)
    );
    assert_eq!(down.down_since, Some(t(1_060)));
    assert_eq!(
        (
            alert.event,
            alert.overdue_seconds,
            alert.alert_count,
            alert.reason
        ),
        (AlertEvent::Down, 1, 1, super::super::Reason::Missed)
    );
    assert_eq!(kinds(&change), ["down"]);
    assert_eq!(down.next_reminder, Some(t(1_121)));
    assert!(
        down.fall_due(t(1_121), None, &p, id()).is_none(),
        "reminder not yet due"
    );
    let again = due(&down, 1_122, &p);
    assert_eq!(
        (again.job.episode_alerts, again.alert.unwrap().alert_count),
        (2, 2)
    );
    assert_eq!(
        again.job.down_since,
        Some(t(1_060)),
        "the episode keeps its start"
    );
    assert_eq!(again.job.next_reminder, Some(t(1_242)));
    assert_eq!(again.events[0].kind_name(), "reminder");
}

#[test]
fn the_startup_grace_delays_a_missed_deadline() {
    let p = p();
    let late = job();
    assert!(late.fall_due(t(1_100), Some(t(1_200)), &p, id()).is_none());
    assert!(late.fall_due(t(1_201), Some(t(1_200)), &p, id()).is_some());
}

#[test]
fn pings_are_stale_retries_or_applied_and_a_ping_recovers_a_down_job() {
    let j = created(&ping(Some("1m"), Some(1_000)), 1_000);
    assert_eq!(
        j.apply_ping(&ping(None, Some(999)), t(1_001), &p(), id),
        PingEffect::Stale
    );
    assert_eq!(
        j.apply_ping(&ping(None, Some(1_000)), t(1_001), &p(), id),
        PingEffect::Retry
    );
    let later = apply(&j, &ping(Some("10m"), None), 1_030).job;
    assert_eq!((later.pings_total, later.deadline()), (2, t(1_630)));
    let down = due(&later, 1_700, &policy(60, 60)).job;
    let change = apply(&down, &ping(None, None), 1_800);
    let (up, alert) = (change.job.clone(), change.alert.clone().unwrap());
    assert_eq!(
        (up.status, up.down_since, up.next_reminder),
        (Status::Up, None, None)
    );
    assert_eq!(
        (alert.event, alert.overdue_seconds, alert.reason),
        (AlertEvent::Up, 170, super::super::Reason::Recovered)
    );
    assert_eq!(up.alerts_sent, 2);
    assert_eq!(kinds(&change), ["ping", "up"]);
}

#[test]
fn an_arrival_ping_never_moves_the_last_ping_back() {
    let j = created(&ping(Some("1m"), Some(2_000)), 1_000);
    assert_eq!(apply(&j, &ping(None, None), 1_500).job.last_ping, t(2_000));
}

#[test]
fn a_start_opens_a_run_without_moving_the_deadline_and_a_success_ends_it() {
    let j = job();
    let started = apply(&j, &signal(Signal::Start), 1_030).job;
    assert_eq!(
        started.deadline(),
        t(1_060),
        "a start does not move the deadline"
    );
    assert_eq!(started.to_json()["running"], true);
    assert_eq!(started.to_json()["last_start"], t(1_030).rfc3339());
    let ended = apply(&started, &signal(Signal::Success), 1_042);
    assert_eq!(ended.job.deadline(), t(1_102));
    assert_eq!(ended.job.to_json()["last_duration_seconds"], 12.0);
    assert_eq!(ended.job.to_json()["running"], false);
    assert_eq!(ended.events[0].to_json()["duration_seconds"], 12.0);
}

#[test]
fn a_run_id_ends_its_own_run_and_at_most_ten_stay_open() {
    let mut j = job();
    for (i, rid) in ["a", "b"].iter().enumerate() {
        let start = Ping {
            rid: RunId::parse(rid).ok(),
            ..signal(Signal::Start)
        };
        j = apply(&j, &start, 1_001 + i as i64).job;
    }
    let end_a = Ping {
        rid: RunId::parse("a").ok(),
        ..signal(Signal::Success)
    };
    let j = apply(&j, &end_a, 1_011).job;
    assert_eq!(
        j.runs.as_deref().and_then(|r| r.last_duration_ms),
        Some(10_000)
    );
    assert_eq!(j.runs.as_deref().map(|r| r.open.len()), Some(1));
    let mut j = j;
    for i in 0..15 {
        j = apply(&j, &signal(Signal::Start), 1_020 + i).job;
    }
    assert_eq!(j.runs.as_deref().map(|r| r.open.len()), Some(MAX_OPEN_RUNS));
}

#[test]
fn a_fail_marks_an_up_job_down_at_once_and_the_next_success_brings_it_up() {
    let j = job();
    let fail = Ping {
        exit_code: Some(ExitCode::new(2)),
        signal: Signal::Fail,
        output: Output::from_body(b"disk full"),
        ..signal(Signal::Fail)
    };
    let change = apply(&j, &fail, 1_010);
    let alert = change.alert.clone().unwrap();
    assert_eq!(change.job.status, Status::Down);
    assert_eq!(change.job.deadline(), t(1_070), "the job did run");
    assert_eq!(
        (alert.reason, alert.exit_code, alert.log.as_deref()),
        (super::super::Reason::Failed, Some(2), Some("disk full"))
    );
    assert_eq!(kinds(&change), ["fail", "down"]);
    let again = apply(&change.job, &fail, 1_020);
    assert!(again.alert.is_none(), "already down: no new alert");
    let reminder = due(&again.job, 1_200, &p()).alert.unwrap();
    assert_eq!(
        (reminder.reason, reminder.exit_code),
        (super::super::Reason::Failed, Some(2))
    );
    let up = apply(&again.job, &signal(Signal::Success), 1_030);
    assert_eq!(up.job.status, Status::Up);
    assert_eq!(up.alert.unwrap().event, AlertEvent::Up);
    assert_eq!(up.job.to_json()["consecutive_failures"], 0);
}

#[test]
fn tolerated_failures_alert_only_beyond_the_tolerance() {
    let tolerant = Ping {
        failure_tolerance: Some(2),
        ..ping(Some("1m"), None)
    };
    let mut j = created(&tolerant, 1_000);
    for n in 0..2 {
        let change = apply(&j, &signal(Signal::Fail), 1_001 + n);
        assert!(change.alert.is_none(), "failure {n} is tolerated");
        j = change.job;
    }
    let reset = apply(&j, &signal(Signal::Success), 1_010).job;
    assert_eq!(reset.to_json()["consecutive_failures"], 0);
    let mut j = reset;
    for n in 0..2 {
        j = apply(&j, &signal(Signal::Fail), 1_011 + n).job;
    }
    let third = apply(&j, &signal(Signal::Fail), 1_020);
    assert_eq!(
        third.alert.map(|a| a.reason),
        Some(super::super::Reason::Failed)
    );
}

#[test]
fn a_run_longer_than_max_runtime_marks_the_job_down_once() {
    let limited = Ping {
        max_runtime: Some(Some(30)),
        ..ping(Some("1h"), None)
    };
    let j = created(&limited, 1_000);
    let started = apply(&j, &signal(Signal::Start), 1_010).job;
    assert_eq!(
        started.wake_target(None),
        Some(t(1_040)),
        "the run's end-by is a wake-up"
    );
    assert!(started.fall_due(t(1_040), None, &p(), id()).is_none());
    let change = due(&started, 1_041, &p());
    let alert = change.alert.unwrap();
    assert_eq!(
        (alert.reason, alert.duration_ms),
        (super::super::Reason::RunTimeout, Some(31_000))
    );
    assert_eq!(change.job.status, Status::Down);
    assert_eq!(change.events[0].to_json()["reason"], "run_timeout");
    let up = apply(&change.job, &signal(Signal::Success), 1_100);
    assert_eq!(up.alert.map(|a| a.event), Some(AlertEvent::Up));
    let cleared = Ping {
        max_runtime: Some(None),
        ..ping(None, None)
    };
    let cleared = apply(&up.job, &cleared, 1_101).job;
    assert_eq!(cleared.runs.as_deref().map(|r| r.max_runtime), Some(None));
    assert_eq!(
        cleared.to_json()["max_runtime_seconds"],
        serde_json::Value::Null
    );
    let fresh = Ping {
        max_runtime: Some(None),
        ..ping(Some("1h"), None)
    };
    assert!(
        created(&fresh, 1_000).runs.is_none(),
        "defaults are not kept"
    );
}

#[test]
fn a_log_records_an_event_and_changes_nothing_else() {
    let j = job();
    let log = Ping {
        output: Output::from_body(b"step 3 of 5"),
        ..signal(Signal::Log)
    };
    let change = apply(&j, &log, 1_030);
    assert_eq!(
        (
            change.job.last_ping,
            change.job.pings_total,
            change.job.deadline()
        ),
        (j.last_ping, j.pings_total, j.deadline())
    );
    assert_eq!(change.job.events_seq, j.events_seq + 1);
    assert_eq!(change.events[0].to_json()["log"], "step 3 of 5");
    let old = Ping {
        at: Some(t(999)),
        ..log
    };
    assert_eq!(
        j.apply_ping(&old, t(1_031), &p(), id),
        PingEffect::Stale,
        "the guard holds for logs"
    );
}

#[test]
fn a_restart_keeps_down_jobs_down_and_gives_late_ones_the_startup_grace() {
    let p = Policy {
        startup_grace: Duration::from_secs(900),
        ..policy(3_600, 86_400)
    };
    let late = created(&ping(Some("1h"), Some(0)), 0);
    let (late, not_before) = late.restore(t(100_000), &p);
    assert_eq!(not_before, Some(t(100_900)), "min(1h, 15m) after the start");
    assert_eq!(late.wake_target(not_before), Some(t(100_900)));
    let down = due(&late, 3_601, &p).job;
    let (down, none) = down.restore(t(100_000), &p);
    assert_eq!((down.status, none), (Status::Down, None));
    assert_eq!(
        down.next_reminder,
        Some(t(7_201)),
        "the stored reminder, earlier"
    );
    let on_time = job();
    assert_eq!(on_time.restore(t(1_000), &p).1, None);
}

#[test]
fn a_job_is_due_just_after_its_wake_up() {
    assert!(!is_due(t(10), t(10)));
    assert!(is_due(t(10), UnixTime::from_millis(10_001).unwrap()));
}

proptest::proptest! {
    #[test]
    fn reminder_intervals_never_shrink_and_stay_within_bounds(
        every in 1u64..100_000, extra in 0u64..1_000_000, n in 1u32..200,
    ) {
        let p = policy(every, every + extra);
        let a = next_reminder(&p, n, t(0)).map(UnixTime::secs);
        let b = next_reminder(&p, n + 1, t(0)).map(UnixTime::secs);
        proptest::prop_assert!(a <= b);
        let a = a.unwrap_or(0);
        proptest::prop_assert!(a >= i64::try_from(every).unwrap());
        proptest::prop_assert!(a <= i64::try_from(every + extra).unwrap());
    }

    #[test]
    fn any_sequence_of_signals_keeps_the_job_consistent(
        steps in proptest::collection::vec((0u8..4, 0u8..3, 1i64..100), 1..40),
    ) {
        let mut j = job();
        let mut now = 1_000;
        for (kind, code, dt) in steps {
            now += dt;
            let sig = [Signal::Success, Signal::Start, Signal::Fail, Signal::Log][usize::from(kind)];
            let p = Ping { exit_code: (code > 0).then(|| ExitCode::new(code)), ..signal(sig) };
            let p = Ping { signal: Signal::parse(Some(sig.as_str()), p.exit_code).unwrap(), ..p };
            let before = j.events_seq;
            if let PingEffect::Applied(change) = j.apply_ping(&p, t(now), &policy(60, 3_600), id) {
                proptest::prop_assert!(change.job.events_seq > before);
                proptest::prop_assert_eq!(change.events.last().map(|e| e.seq), Some(change.job.events_seq));
                j = change.job;
            }
            if let Some(change) = j.fall_due(t(now), None, &policy(60, 3_600), id()) {
                j = change.job;
            }
            proptest::prop_assert_eq!(j.status == Status::Down, j.down_since.is_some());
            proptest::prop_assert!(j.runs.as_deref().is_none_or(|r| r.open.len() <= MAX_OPEN_RUNS && !r.is_default()));
        }
    }
}

#[test]
fn the_job_object_shows_schedule_pause_and_acknowledgement_or_null() {
    let plain = job().to_json();
    for field in ["schedule", "timezone", "paused_until", "acknowledged"] {
        assert!(plain[field].is_null(), "{field}: {plain}");
    }
    assert_eq!(plain["frequency"], "1m");
    let mut scheduled = job();
    scheduled.cadence = Cadence::cron(
        Schedule::parse("0 3 * * *", None).unwrap(),
        scheduled.last_ping,
    );
    scheduled.status = Status::Paused;
    scheduled.set_paused_until(Some(t(90_000)));
    scheduled.set_acknowledged(Some(Acknowledgement {
        at: t(2_000),
        note: Some("disk swap".into()),
    }));
    let json = scheduled.to_json();
    assert!(json["frequency"].is_null() && json["frequency_seconds"].is_null());
    assert_eq!(
        (&json["schedule"], &json["timezone"], &json["status"]),
        (&"0 3 * * *".into(), &"UTC".into(), &"paused".into())
    );
    assert_eq!(json["paused_until"], "1970-01-02T01:00:00Z");
    assert_eq!(
        json["acknowledged"],
        serde_json::json!({"at": "1970-01-01T00:33:20Z", "note": "disk swap"})
    );
    // Last ping at 1,000 s: the first 03:00 after it, plus no grace.
    assert_eq!(json["next_deadline_unix"], 3 * 3_600);
    scheduled.set_acknowledged(None);
    scheduled.set_paused_until(None);
    assert!(scheduled.interventions.is_none(), "an empty box is dropped");
    let alert = Alert::new(id(), &scheduled, AlertEvent::Down, t(20_000));
    let payload = alert.payload(t(20_000), "overdue");
    assert!(payload["frequency"].is_null() && payload["frequency_seconds"].is_null());
    assert_eq!(
        (&payload["schedule"], &payload["timezone"]),
        (&"0 3 * * *".into(), &"UTC".into())
    );
    let frequency_alert = Alert::new(id(), &job(), AlertEvent::Down, t(20_000));
    let payload = frequency_alert.payload(t(20_000), "overdue");
    assert!(payload["schedule"].is_null() && payload["timezone"].is_null());
    assert_eq!(payload["frequency_seconds"], 60);
}

#[test]
fn a_paused_job_never_falls_due_and_wakes_at_its_pause_end() {
    let mut paused = job();
    paused.status = Status::Paused;
    assert_eq!(paused.fall_due(t(100_000), None, &p(), id()), None);
    assert_eq!(paused.wake_target(None), None);
    paused.set_paused_until(Some(t(5_000)));
    assert_eq!(paused.wake_target(None), Some(t(5_000)));
}

fn scheduled(expression: &str, tz: &str, at: Option<i64>) -> Ping {
    Ping {
        schedule: Some(Schedule::parse(expression, Some(tz)).unwrap()),
        ..ping(None, at)
    }
}

#[test]
fn a_schedule_job_is_due_at_its_first_fire_strictly_after_the_last_ping_plus_5m() {
    // 2026-11-21T03:00:00Z, a fire time of `0 3 * * *` in UTC.
    let fire = 1_795_230_000;
    let job = created(&scheduled("0 3 * * *", "UTC", Some(fire)), fire + 10);
    assert_eq!(job.grace.seconds(), SCHEDULE_DEFAULT_GRACE_SECS);
    assert_eq!(
        job.deadline(),
        t(fire + 86_400 + 300),
        "strictly after: not the fire time the ping was sent at"
    );
    let early = created(&scheduled("0 3 * * *", "UTC", Some(fire - 1)), fire + 10);
    assert_eq!(early.deadline(), t(fire + 300));
    assert!(job
        .fall_due(t(fire + 86_400 + 300), None, &p(), id())
        .is_none());
    let down = job
        .fall_due(t(fire + 86_400 + 301), None, &p(), id())
        .unwrap();
    let alert = down.alert.unwrap();
    assert_eq!(alert.schedule.as_deref(), Some("0 3 * * *"));
    assert_eq!(alert.expected_by_unix, fire + 86_400 + 300);
}

#[test]
fn a_job_switches_kind_with_the_ping_that_carries_the_other_and_takes_its_default_grace() {
    let fire = 1_795_230_000;
    let job = created(&ping(Some("1h"), Some(fire)), fire);
    assert_eq!(job.grace.seconds(), 0);
    let switched = apply(
        &job,
        &scheduled("0 3 * * *", "UTC", Some(fire + 60)),
        fire + 60,
    )
    .job;
    assert_eq!(
        (switched.frequency(), switched.grace.seconds()),
        (None, SCHEDULE_DEFAULT_GRACE_SECS)
    );
    assert_eq!(switched.deadline(), t(fire + 86_400 + 300));
    // Neither sent: it keeps its schedule and grace.
    let kept = apply(&switched, &ping(None, Some(fire + 120)), fire + 120).job;
    assert_eq!(kept.schedule(), switched.schedule());
    assert_eq!(kept.grace.seconds(), SCHEDULE_DEFAULT_GRACE_SECS);
    let mut back_ping = ping(Some("10m"), Some(fire + 180));
    let back = apply(&kept, &back_ping, fire + 180).job;
    assert_eq!((back.schedule(), back.grace.seconds()), (None, 0));
    assert_eq!(back.deadline(), t(fire + 180 + 600));
    back_ping.grace = Some(Grace::parse("1m").unwrap());
    let graced = apply(&kept, &back_ping, fire + 180).job;
    assert_eq!(graced.grace.seconds(), 60, "a grace sent wins");
    // A new zone is a new schedule; the same one sent again changes nothing.
    let berlin = apply(
        &kept,
        &scheduled("0 3 * * *", "Europe/Berlin", Some(fire + 240)),
        fire + 240,
    )
    .job;
    assert_eq!(
        berlin.schedule().map(Schedule::timezone),
        Some("Europe/Berlin")
    );
    assert_eq!(berlin.deadline(), t(fire + 86_400 - 3_600 + 300));
}

#[test]
fn a_stale_ping_does_not_switch_the_kind() {
    let job = created(&ping(Some("1h"), Some(2_000)), 2_000);
    assert!(matches!(
        job.apply_ping(&scheduled("@daily", "UTC", Some(1_000)), t(2_100), &p(), id),
        PingEffect::Stale
    ));
}
