use std::time::Duration;

use super::super::{Change, Job, Ping, PingEffect, Policy, Status};
use crate::domain::{
    AdminAction, AlertEvent, Cadence, Frequency, Grace, JobName, Note, Refusal, Schedule, UnixTime,
};

fn p() -> Policy {
    Policy {
        realert_every: Some(Duration::from_secs(60)),
        realert_max: Duration::from_secs(3_600),
        startup_grace: Duration::from_secs(900),
    }
}

fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs).unwrap()
}

fn id() -> String {
    "A".to_owned()
}

/// A job of frequency 1m last pinged at 1000.
fn job() -> Job {
    let ping = Ping {
        frequency: Some(Frequency::parse("1m").unwrap()),
        ..Ping::new(JobName::parse("j").unwrap())
    };
    Job::from_first_ping(&ping, t(1_000), &p(), id).unwrap().job
}

fn down() -> Job {
    job().fall_due(t(1_061), None, &p(), id()).unwrap().job
}

fn act(job: &Job, action: AdminAction, now: i64) -> Change {
    job.act(action, t(now)).expect("applies")
}

fn pause(job: &Job, until: Option<i64>, now: i64) -> Job {
    act(
        job,
        AdminAction::Pause {
            until: until.map(t),
        },
        now,
    )
    .job
}

fn ping(job: &Job, now: i64) -> Change {
    match job.apply_ping(&Ping::new(job.name.clone()), t(now), &p(), id) {
        PingEffect::Applied(change) => change,
        other => panic!("not applied: {other:?}"),
    }
}

fn kinds(change: &Change) -> Vec<&'static str> {
    change.events.iter().map(|e| e.kind_name()).collect()
}

#[test]
fn a_pause_records_its_end_and_wakes_the_sweeper_only_then() {
    let change = act(
        &job(),
        AdminAction::Pause {
            until: Some(t(2_000)),
        },
        1_010,
    );
    assert_eq!(kinds(&change), ["paused"]);
    assert_eq!(change.events[0].to_json()["until"], t(2_000).rfc3339());
    assert!(change.alert.is_none());
    let paused = change.job;
    assert_eq!(
        (paused.status, paused.paused_until()),
        (Status::Paused, Some(t(2_000)))
    );
    assert_eq!(paused.wake_target(None), Some(t(2_000)));
    assert_eq!(paused.to_json()["status"], "paused");
    assert_eq!(paused.to_json()["paused_until"], t(2_000).rfc3339());
    let forever = pause(&paused, None, 1_020);
    assert_eq!(
        (forever.paused_until(), forever.wake_target(None)),
        (None, None)
    );
}

#[test]
fn nothing_alerts_while_paused_and_pings_are_still_recorded() {
    let paused = pause(&down(), None, 1_070);
    assert_eq!(paused.down_since, None);
    assert!(paused.fall_due(t(100_000), None, &p(), id()).is_none());
    let pinged = ping(&paused, 1_100);
    assert!(pinged.alert.is_none(), "no up alert while paused");
    assert_eq!(kinds(&pinged), ["ping"]);
    assert_eq!(
        (
            pinged.job.status,
            pinged.job.last_ping,
            pinged.job.pings_total
        ),
        (Status::Paused, t(1_100), 2)
    );
    let fail = Ping {
        signal: crate::domain::Signal::Fail,
        ..Ping::new(paused.name.clone())
    };
    let PingEffect::Applied(failed) = paused.apply_ping(&fail, t(1_200), &p(), id) else {
        panic!("a fail is recorded");
    };
    assert!(failed.alert.is_none(), "no down alert while paused");
    assert_eq!(failed.job.status, Status::Paused);
}

#[test]
fn a_window_end_resumes_with_the_later_of_the_two_deadlines() {
    let paused = pause(&job(), Some(1_100), 1_010);
    assert!(
        paused.fall_due(t(1_100), None, &p(), id()).is_none(),
        "due just after its end"
    );
    let resumed = paused
        .fall_due(t(1_101), None, &p(), id())
        .expect("resumes");
    assert!(resumed.alert.is_none());
    assert_eq!(kinds(&resumed), ["resumed"]);
    let up = resumed.job;
    assert_eq!((up.status, up.paused_until()), (Status::Up, None));
    assert_eq!(up.deadline(), t(1_161), "resume time + period + grace");
    assert_eq!(up.wake_target(None), Some(t(1_161)));
    assert_eq!(up.to_json()["next_deadline_unix"], 1_161);
    // A ping after the resume takes its own deadline back.
    assert_eq!(ping(&up, 1_130).job.deadline(), t(1_190));
    // Resumed before its own deadline: that one stays.
    let early = pause(&job(), None, 1_001);
    let change = act(&early, AdminAction::Resume, 1_002);
    assert_eq!(change.job.deadline(), t(1_062));
    let own = Ping {
        frequency: Some(Frequency::parse("1h").unwrap()),
        ..Ping::new(JobName::parse("j").unwrap())
    };
    let hourly = Job::from_first_ping(&own, t(1_000), &p(), id).unwrap().job;
    let hourly = act(&pause(&hourly, None, 1_001), AdminAction::Resume, 1_002).job;
    assert_eq!(hourly.deadline(), t(4_602), "the later one: its own");
}

#[test]
fn a_schedule_job_resumes_with_its_next_fire_after_the_resume() {
    // Daily at 03:00 UTC with 5 minutes of grace, last pinged 2026-11-20T03:01:00Z:
    // its own deadline is 2026-11-21T03:05:00Z.
    let mut scheduled = job();
    scheduled.last_ping = t(1_795_143_660);
    scheduled.grace = Grace::from_secs(300).unwrap();
    let daily = Schedule::parse("0 3 * * *", None).unwrap();
    scheduled.cadence = Cadence::cron(daily, scheduled.last_ping);
    assert_eq!(scheduled.deadline(), t(1_795_230_300));
    let paused = pause(&scheduled, None, 1_795_150_000);
    // Resumed at 2026-11-22T10:00:00Z: the next fire is 2026-11-23T03:00:00Z.
    let up = act(&paused, AdminAction::Resume, 1_795_341_600).job;
    assert_eq!(up.deadline(), t(1_795_402_800 + 300));
    // Resumed before its own deadline, the own one stays.
    let early = act(&paused, AdminAction::Resume, 1_795_150_100).job;
    assert_eq!(early.deadline(), t(1_795_230_300));
}

#[test]
fn a_down_job_resumed_comes_back_up_without_an_up_alert() {
    let acked = act(&down(), AdminAction::Acknowledge { note: None }, 1_065).job;
    let paused = pause(&acked, None, 1_070);
    let change = act(&paused, AdminAction::Resume, 1_500);
    assert!(change.alert.is_none());
    let up = change.job;
    assert_eq!(
        (up.status, up.down_since, up.next_reminder),
        (Status::Up, None, None)
    );
    assert!(up.to_json()["acknowledged"].is_null());
    assert_eq!(up.deadline(), t(1_560));
    let late = up.fall_due(t(1_561), None, &p(), id()).expect("down again");
    assert_eq!(
        late.alert.map(|a| (a.event, a.alert_count)),
        Some((AlertEvent::Down, 1))
    );
}

#[test]
fn resume_and_ack_are_refused_in_the_wrong_state() {
    assert_eq!(
        job().act(AdminAction::Resume, t(1_001)),
        Err(Refusal::NotPaused(Status::Up))
    );
    assert_eq!(
        down().act(AdminAction::Resume, t(1_070)),
        Err(Refusal::NotPaused(Status::Down))
    );
    let ack = || AdminAction::Acknowledge { note: None };
    assert_eq!(
        job().act(ack(), t(1_001)),
        Err(Refusal::NotDown(Status::Up))
    );
    let paused = pause(&down(), None, 1_070);
    assert_eq!(
        paused.act(ack(), t(1_071)),
        Err(Refusal::NotDown(Status::Paused))
    );
}

#[test]
fn an_acknowledgement_ends_the_reminders_until_the_job_comes_up() {
    let note = Note::parse("disk replaced").unwrap();
    let change = act(
        &down(),
        AdminAction::Acknowledge { note: Some(note) },
        1_070,
    );
    assert!(change.alert.is_none());
    assert_eq!(change.events[0].to_json()["note"], "disk replaced");
    let acked = change.job;
    assert_eq!((acked.status, acked.next_reminder), (Status::Down, None));
    assert_eq!(acked.wake_target(None), None);
    assert_eq!(
        acked.to_json()["acknowledged"],
        serde_json::json!({"at": t(1_070).rfc3339(), "note": "disk replaced"})
    );
    assert!(acked.fall_due(t(100_000), None, &p(), id()).is_none());
    let (restored, _) = acked.clone().restore(t(50_000), &p());
    assert_eq!(
        restored.next_reminder, None,
        "a restart does not bring reminders back"
    );
    let up = ping(&acked, 1_200);
    assert_eq!(
        up.alert.map(|a| a.event),
        Some(AlertEvent::Up),
        "the up alert still goes"
    );
    assert!(up.job.to_json()["acknowledged"].is_null());
    let again = up
        .job
        .fall_due(t(1_261), None, &p(), id())
        .expect("a new episode");
    assert!(again.job.to_json()["acknowledged"].is_null());
    assert!(
        again.job.next_reminder.is_some(),
        "a new episode reminds again"
    );
}

proptest::proptest! {
    #[test]
    fn no_sequence_of_actions_alerts_while_paused(
        steps in proptest::collection::vec((0u8..5, 1i64..200), 1..40),
    ) {
        let mut j = job();
        let mut now = 1_000;
        for (step, dt) in steps {
            now += dt;
            let action = match step {
                0 => Some(AdminAction::Pause { until: Some(t(now + dt * 2)) }),
                1 => Some(AdminAction::Pause { until: None }),
                2 => Some(AdminAction::Resume),
                3 => Some(AdminAction::Acknowledge { note: None }),
                _ => None,
            };
            let paused = j.status == Status::Paused;
            if let Some(action) = action {
                if let Ok(change) = j.act(action, t(now)) {
                    proptest::prop_assert!(change.alert.is_none());
                    j = change.job;
                }
            } else {
                let change = ping(&j, now);
                proptest::prop_assert!(!(paused && change.alert.is_some()));
                j = change.job;
            }
            if let Some(change) = j.fall_due(t(now), None, &p(), id()) {
                proptest::prop_assert!(!(j.status == Status::Paused && change.alert.is_some()));
                j = change.job;
            }
            proptest::prop_assert_eq!(j.status == Status::Paused, j.to_json()["status"] == "paused");
            proptest::prop_assert!(j.status == Status::Paused || j.paused_until().is_none());
            proptest::prop_assert!(j.status == Status::Down || j.to_json()["acknowledged"].is_null());
        }
    }
}
