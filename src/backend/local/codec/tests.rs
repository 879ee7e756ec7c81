use super::*;
use crate::domain::{
    AlertEvent, DeliveryEvent, Event, EventKind, ExitCode, Origin, Output, Signal, SignalEvent,
};
use proptest::prelude::*;

fn job(name: &str, last_ping_ms: i64, down: bool) -> Job {
    Job {
        name: JobName::parse(name).unwrap(),
        cadence: Cadence::Every(Frequency::parse("1h 30m").unwrap()),
        grace: Grace::parse("30s").unwrap(),
        last_ping: UnixTime::from_millis(last_ping_ms).unwrap(),
        status: if down { Status::Down } else { Status::Up },
        down_since: down.then(|| UnixTime::from_millis(last_ping_ms + 5_430_000).unwrap()),
        episode_alerts: u32::from(down),
        alerts_sent: 7,
        pings_total: 12,
        next_reminder: None,
        down_reason: Default::default(),
        runs: None,
        events_seq: 0,
        interventions: None,
    }
}

fn t(ms: i64) -> UnixTime {
    UnixTime::from_millis(ms).unwrap()
}

/// One event of every kind, with every optional field set and unset.
fn sample_events() -> Vec<Event> {
    let signal = |seq, signal, full: bool| Event {
        seq,
        at: t(1_795_000_000_000 + seq as i64),
        kind: EventKind::Signal(Box::new(SignalEvent {
            signal,
            origin: Origin {
                remote_addr: full.then(|| "10.0.0.1".into()),
                user_agent: full.then(|| "runitor/1.2".into()),
            },
            rid: full.then(|| RunId::parse("r-1").unwrap()),
            exit_code: full.then(|| ExitCode::new(3)),
            duration_ms: full.then_some(12_500),
            log: full.then(|| Output::from_body("out\né".as_bytes()).unwrap()),
            timestamp: full.then(|| t(1_794_999_999_000)),
        })),
    };
    let at = t(1_795_000_001_000);
    vec![
        Event {
            seq: 1,
            at,
            kind: EventKind::Created,
        },
        signal(2, Signal::Success, false),
        signal(3, Signal::Start, true),
        signal(4, Signal::Fail, true),
        signal(5, Signal::Log, false),
        Event {
            seq: 6,
            at,
            kind: EventKind::Down(DownReason::RunTimeout),
        },
        Event {
            seq: 7,
            at,
            kind: EventKind::Reminder(DownReason::Failed),
        },
        Event {
            seq: 8,
            at,
            kind: EventKind::Up,
        },
        Event {
            seq: 9,
            at,
            kind: EventKind::Paused { until: Some(at) },
        },
        Event {
            seq: 10,
            at,
            kind: EventKind::Paused { until: None },
        },
        Event {
            seq: 11,
            at,
            kind: EventKind::Resumed,
        },
        Event {
            seq: 12,
            at,
            kind: EventKind::Acknowledged {
                note: Some("on it".into()),
            },
        },
        Event {
            seq: 13,
            at,
            kind: EventKind::Acknowledged { note: None },
        },
        Event {
            seq: 14,
            at,
            kind: EventKind::Delivery(Box::new(DeliveryEvent {
                alert_id: "01J".into(),
                event: "up",
                channel: "webhook:example.com".into(),
                delivered: false,
                attempts: 7,
                last_status: Some(500),
                last_error: Some("HTTP 500".into()),
            })),
        },
    ]
}

/// A job with open runs, a reason and an event counter.
fn job_with_runs() -> Job {
    let mut job = job("runner", 1_795_000_000_000, true);
    job.down_reason = DownReason::RunTimeout;
    job.events_seq = 14;
    job.runs = Some(Box::new(Runs {
        open: vec![
            OpenRun {
                rid: RunId::parse("a").ok(),
                started: t(1_795_000_000_000),
                timed_out: true,
            },
            OpenRun {
                rid: None,
                started: t(1_795_000_060_000),
                timed_out: false,
            },
        ],
        last_duration_ms: Some(61_000),
        last_exit_code: Some(2),
        max_runtime: Some(60),
        failure_tolerance: 3,
        consecutive_failures: 2,
    }));
    job
}

/// The upsert record exactly as the build before runs and events wrote it (tag 1),
/// kept frozen here: segments it left must still be read.
fn previous_build_upsert(job: &Job) -> Vec<u8> {
    let mut payload = vec![1u8];
    put_str(&mut payload, job.name.as_str()).unwrap();
    put_str(&mut payload, job.frequency().unwrap().as_str()).unwrap();
    put_u64(&mut payload, job.frequency().unwrap().seconds());
    put_u64(&mut payload, job.grace.seconds());
    put_i64(&mut payload, job.last_ping.millis());
    payload.push(u8::from(job.status == Status::Down));
    put_i64(
        &mut payload,
        job.down_since.map_or(i64::MIN, UnixTime::millis),
    );
    put_u64(&mut payload, u64::from(job.episode_alerts));
    put_u64(&mut payload, job.alerts_sent);
    put_u64(&mut payload, job.pings_total);
    put_i64(
        &mut payload,
        job.next_reminder.map_or(i64::MIN, UnixTime::millis),
    );
    let mut record = Vec::new();
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

#[test]
fn records_of_the_previous_build_still_read_with_the_defaults() {
    let old = job("nightly backup", 1_795_000_000_123, true);
    let bytes = previous_build_upsert(&old);
    let decoded = decode(&bytes);
    assert_eq!(decoded.torn_bytes, 0);
    match decoded.ops.as_slice() {
        [Op::Upsert(job, events)] => {
            assert_eq!(job, &old, "runs none, reason missed, counter 0");
            assert!(events.is_empty());
        }
        other => panic!("one upsert expected: {other:?}"),
    }
}

#[test]
fn a_job_s_runs_reason_counter_and_events_round_trip() {
    let job = job_with_runs();
    let events = sample_events();
    let mut buf = Vec::new();
    let stored = EventBytes::encode(&events).unwrap();
    encode(&[Op::Upsert(job.clone(), stored.clone())], &mut buf).unwrap();
    match decode(&buf).ops.as_slice() {
        [Op::Upsert(back, back_events)] => {
            assert_eq!(back, &job);
            assert_eq!(back_events, &stored);
            assert_eq!(back_events.decode(), Some(events.clone()));
        }
        other => panic!("one upsert expected: {other:?}"),
    }
    let mut blob = Vec::new();
    stored.put(&mut blob);
    assert_eq!(
        EventBytes::from_stored(&blob).and_then(|e| e.decode()),
        Some(events)
    );
    let mut runs = Vec::new();
    put_runs(&mut runs, job.runs.as_deref().unwrap()).unwrap();
    assert_eq!(decode_runs(&runs).as_ref(), job.runs.as_deref());
    assert_eq!(decode_runs(&runs[..runs.len() - 1]), None);
}

/// A paused schedule job with an acknowledged outage and a resume deadline: every
/// field SPEC §11 and §12 add.
fn job_with_schedule_pause_and_ack(note: Option<&str>) -> Job {
    let mut job = job_with_runs();
    job.cadence = Cadence::cron(
        Schedule::parse("0 3 * * 1-5", Some("Europe/Berlin")).unwrap(),
        job.last_ping,
    );
    job.status = Status::Paused;
    job.set_paused_until(Some(t(1_795_100_000_000)));
    job.set_acknowledged(Some(Acknowledgement {
        at: t(1_795_000_100_000),
        note: note.map(str::to_owned),
    }));
    job.set_resume_deadline(Some(t(1_795_000_200_000)));
    job
}

/// The upsert record exactly as the build with runs and events wrote it (tag 7), kept
/// frozen here: segments it left must still be read.
fn runs_build_upsert(job: &Job, events: &[Event]) -> Vec<u8> {
    let mut payload = vec![7u8];
    put_str(&mut payload, job.name.as_str()).unwrap();
    put_str(&mut payload, job.frequency().unwrap().as_str()).unwrap();
    put_u64(&mut payload, job.frequency().unwrap().seconds());
    put_u64(&mut payload, job.grace.seconds());
    put_i64(&mut payload, job.last_ping.millis());
    payload.push(u8::from(job.status == Status::Down));
    put_i64(
        &mut payload,
        job.down_since.map_or(i64::MIN, UnixTime::millis),
    );
    put_u64(&mut payload, u64::from(job.episode_alerts));
    put_u64(&mut payload, job.alerts_sent);
    put_u64(&mut payload, job.pings_total);
    put_i64(
        &mut payload,
        job.next_reminder.map_or(i64::MIN, UnixTime::millis),
    );
    payload.push(reason_code(job.down_reason));
    put_u64(&mut payload, job.events_seq);
    match job.runs.as_deref() {
        None => payload.push(0),
        Some(runs) => {
            payload.push(1);
            put_runs(&mut payload, runs).unwrap();
        }
    }
    EventBytes::encode(events).unwrap().put(&mut payload);
    let mut record = Vec::new();
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

#[test]
fn records_of_the_runs_build_still_read_without_schedule_pause_or_ack() {
    let old = job_with_runs();
    let events = sample_events();
    let decoded = decode(&runs_build_upsert(&old, &events));
    assert_eq!(decoded.torn_bytes, 0);
    match decoded.ops.as_slice() {
        [Op::Upsert(job, back_events)] => {
            assert_eq!(job, &old);
            assert_eq!(back_events.decode().as_ref(), Some(&events));
            assert!(job.interventions.is_none() && job.schedule().is_none());
        }
        other => panic!("one upsert expected: {other:?}"),
    }
}

#[test]
fn a_job_s_schedule_pause_and_acknowledgement_round_trip() {
    for note in [Some("disk swap; back at 05:00 | ops"), Some(""), None] {
        let job = job_with_schedule_pause_and_ack(note);
        let mut buf = Vec::new();
        encode(&[Op::Upsert(job.clone(), EventBytes::default())], &mut buf).unwrap();
        match decode(&buf).ops.as_slice() {
            [Op::Upsert(back, _)] => {
                assert_eq!(back, &job);
                assert_eq!(back.status, Status::Paused);
                assert_eq!(back.schedule().map(|s| s.timezone()), Some("Europe/Berlin"));
                assert_eq!(back.paused_until(), Some(t(1_795_100_000_000)));
                assert_eq!(back.acknowledged().map(|a| a.note.as_deref()), Some(note));
                assert_eq!(back.deadline(), job.deadline(), "its next fire computed");
            }
            other => panic!("one upsert expected: {other:?}"),
        }
    }
    // A paused job without an end keeps no pause time, only its status.
    let mut open_ended = job("p", 1_795_000_000_000, false);
    open_ended.status = Status::Paused;
    let mut buf = Vec::new();
    encode(
        &[Op::Upsert(open_ended.clone(), EventBytes::default())],
        &mut buf,
    )
    .unwrap();
    assert!(matches!(decode(&buf).ops.as_slice(), [Op::Upsert(back, _)] if back == &open_ended));
}

fn sample_ops() -> Vec<Op> {
    let down = job("nightly backup", 1_795_000_000_123, true);
    let alert = Alert::new(
        Alert::fresh_id(),
        &down,
        AlertEvent::Down,
        UnixTime::from_secs(1_795_006_000).unwrap(),
    );
    vec![
        Op::Upsert(job("a", 1_795_000_000_000, false), EventBytes::default()),
        Op::Upsert(down, EventBytes::encode(&sample_events()).unwrap()),
        Op::Upsert(job_with_runs(), EventBytes::default()),
        Op::Upsert(
            job_with_schedule_pause_and_ack(Some("n")),
            EventBytes::default(),
        ),
        Op::OutboxPut(PendingAlert {
            seq: 42,
            alert: alert.clone(),
            channel: String::new(),
            attempts: 3,
            next_attempt_ms: 1_795_006_001_000,
        }),
        Op::OutboxPut(PendingAlert {
            seq: 43,
            alert,
            channel: "slack:hooks.slack.com#0123456789abcdef".into(),
            attempts: 0,
            next_attempt_ms: 1_795_006_001_000,
        }),
        Op::OutboxRetry {
            id: "01J".into(),
            attempts: 4,
            next_attempt_ms: 9,
        },
        Op::OutboxAck("01J".into()),
        Op::Delete(JobName::parse("a").unwrap()),
        Op::Check,
    ]
}

#[test]
fn records_round_trip() {
    let ops = sample_ops();
    let mut buf = Vec::new();
    encode(&ops, &mut buf).unwrap();
    let decoded = decode(&buf);
    assert_eq!(decoded.torn_bytes, 0);
    assert_eq!(format!("{:?}", decoded.ops), format!("{ops:?}"));
}

#[test]
fn reading_stops_at_a_torn_or_damaged_record() {
    let ops = sample_ops();
    let mut buf = Vec::new();
    encode(&ops, &mut buf).unwrap();
    let whole = buf.len();
    // A write cut short: every whole record before it is read.
    let mut first = Vec::new();
    encode(&ops[..1], &mut first).unwrap();
    let cut = decode(&buf[..whole - 3]);
    assert_eq!(cut.ops.len(), ops.len() - 1);
    assert!(cut.torn_bytes > 0);
    // A flipped bit in the second record: only the first is read.
    let mut damaged = buf.clone();
    damaged[first.len() + HEADER + 2] ^= 0x40;
    let read = decode(&damaged);
    assert_eq!(read.ops.len(), 1);
    assert_eq!(read.torn_bytes, whole - first.len());
}

#[test]
fn segment_names_sort_by_lane_then_number() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    for (lane, n) in [(1, 10), (0, 2), (1, 1), (12, 3)] {
        std::fs::write(segment_path(&db, lane, n), b"").unwrap();
    }
    // As versions with one lane named them: lane 0.
    std::fs::write(dir.path().join("o.db.log.00000000000000000001"), b"").unwrap();
    std::fs::write(dir.path().join("o.db.log.x"), b"").unwrap();
    std::fs::write(dir.path().join("o.db.log.1.x"), b"").unwrap();
    std::fs::write(dir.path().join("other.db.log.3"), b"").unwrap();
    let found: Vec<(usize, u64)> = segments(&db)
        .unwrap()
        .into_iter()
        .map(|s| (s.lane, s.number))
        .collect();
    assert_eq!(found, vec![(0, 1), (0, 2), (1, 1), (1, 10), (12, 3)]);
}

proptest! {
    /// Arbitrary bytes never panic the reader, and what it reads re-encodes to a
    /// prefix of the input.
    #[test]
    fn arbitrary_bytes_are_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let decoded = decode(&bytes);
        let mut again = Vec::new();
        encode(&decoded.ops, &mut again).unwrap();
        prop_assert_eq!(again.len() + decoded.torn_bytes, bytes.len());
    }

    #[test]
    fn any_cut_reads_a_prefix(cut in 0usize..2_000) {
        let ops = sample_ops();
        let mut buf = Vec::new();
        encode(&ops, &mut buf).unwrap();
        let cut = cut.min(buf.len());
        let decoded = decode(&buf[..cut]);
        prop_assert!(decoded.ops.len() <= ops.len());
        prop_assert_eq!(format!("{:?}", decoded.ops), format!("{:?}", &ops[..decoded.ops.len()]));
    }
}

/// Events with seqs `from..=to`, of every kind in turn.
fn events_between(from: u64, to: u64) -> Vec<Event> {
    let kinds = sample_events();
    (from..=to)
        .map(|seq| Event {
            seq,
            ..kinds[(seq as usize) % kinds.len()].clone()
        })
        .collect()
}

fn seqs(events: &EventBytes) -> Vec<u64> {
    events.decode().unwrap().iter().map(|e| e.seq).collect()
}

#[test]
fn stored_events_step_over_every_kind_exactly_as_they_read() {
    // `from_stored` walks the layout without building events; `decode` builds them.
    // Any kind the walk measured differently would misplace every later event.
    let events = sample_events();
    let stored = EventBytes::encode(&events).unwrap();
    let mut blob = Vec::new();
    stored.put(&mut blob);
    let walked = EventBytes::from_stored(&blob).unwrap();
    assert_eq!(walked.len(), events.len());
    assert_eq!(walked.decode(), Some(events));
    for cut in 0..blob.len() {
        assert_eq!(EventBytes::from_stored(&blob[..cut]), None, "cut at {cut}");
    }
}

#[test]
fn appended_events_keep_the_newest() {
    let mut kept = EventBytes::encode(&events_between(1, 5)).unwrap();
    kept.append(&EventBytes::encode(&events_between(6, 9)).unwrap(), 6)
        .unwrap();
    assert_eq!(seqs(&kept), [4, 5, 6, 7, 8, 9]);
    kept.append(&EventBytes::default(), 6).unwrap();
    assert_eq!(seqs(&kept), [4, 5, 6, 7, 8, 9]);
    kept.append(&EventBytes::encode(&events_between(10, 30)).unwrap(), 3)
        .unwrap();
    assert_eq!(seqs(&kept), [28, 29, 30]);
}

#[test]
fn merged_events_skip_those_already_held() {
    let mut kept = EventBytes::encode(&events_between(1, 4)).unwrap();
    // A segment replayed after its fold repeats 3 and 4.
    let replayed = EventBytes::encode(&events_between(3, 7)).unwrap();
    assert!(kept.merge(&replayed, 100).unwrap());
    assert_eq!(seqs(&kept), [1, 2, 3, 4, 5, 6, 7]);
    assert!(!kept.merge(&replayed, 100).unwrap(), "nothing new");
    assert_eq!(seqs(&kept), [1, 2, 3, 4, 5, 6, 7]);
    let mut empty = EventBytes::default();
    assert!(empty.merge(&replayed, 2).unwrap());
    assert_eq!(seqs(&empty), [6, 7]);
}

proptest! {
    #[test]
    fn appending_in_any_split_equals_encoding_the_newest(
        total in 0u64..60,
        splits in proptest::collection::vec(0u64..60, 0..6),
        keep in 1usize..40,
    ) {
        let mut cuts: Vec<u64> = splits.into_iter().filter(|&c| c <= total).collect();
        cuts.push(0);
        cuts.push(total);
        cuts.sort_unstable();
        cuts.dedup();
        let mut kept = EventBytes::default();
        for pair in cuts.windows(2) {
            let part = EventBytes::encode(&events_between(pair[0] + 1, pair[1])).unwrap();
            kept.append(&part, keep).unwrap();
        }
        let first = total.saturating_sub(keep as u64) + 1;
        let expected: Vec<u64> = (first..=total).collect();
        prop_assert_eq!(seqs(&kept), expected);
    }
}
