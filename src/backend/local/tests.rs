use super::*;

fn ms(v: i64) -> UnixTime {
    UnixTime::from_millis(v).unwrap()
}
use crate::domain::{AlertEvent, Cadence, Frequency, Grace};

fn backend(realert: Option<u64>) -> LocalBackend {
    LocalBackend::in_memory(
        BackendOptions {
            max_services: 3,
            history: 100,
            realert_every: realert.map(Duration::from_secs),
            realert_max: Duration::from_secs(86_400),
            startup_grace: Duration::from_secs(900),
            sync: crate::backend::SyncMode::Normal,
            fanout: crate::backend::Fanout::default(),
        },
        Wakers::default(),
    )
}

fn ping(name: &str, frequency: Option<&str>, at: Option<i64>) -> Ping {
    Ping {
        frequency: frequency.map(|f| Frequency::parse(f).unwrap()),
        grace: None,
        at: at.and_then(UnixTime::from_secs),
        want_job: true,
        ..Ping::new(JobName::parse(name).unwrap())
    }
}

fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_job_is_due_just_after_its_deadline_and_reminded() {
    let b = backend(Some(60));
    b.record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    assert!(
        b.take_due(ms(1_060_000), 10).await.unwrap().is_empty(),
        "not due at the deadline itself"
    );
    let due = b.take_due(ms(1_060_001), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].event, due[0].alert_count, due[0].expected_by_unix),
        (AlertEvent::Down, 1, 1_060)
    );
    assert!(
        b.take_due(ms(1_100_000), 10).await.unwrap().is_empty(),
        "no reminder yet"
    );
    let reminder = b.take_due(ms(1_120_002), 10).await.unwrap();
    assert_eq!(reminder[0].alert_count, 2);
    assert_eq!(reminder[0].overdue_seconds, 60);
    assert_eq!(b.counts_now().down, 1);
}

#[tokio::test(start_paused = true)]
async fn a_later_ping_defers_the_alert_without_touching_the_heap() {
    let b = backend(None);
    b.record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    b.record_ping(ping("j", None, None), t(1_050))
        .await
        .unwrap();
    assert_eq!(b.schedule.len(), 1);
    assert!(b.take_due(ms(1_061_000), 10).await.unwrap().is_empty());
    assert_eq!(
        b.next_wake().await,
        Some(t(1_110)),
        "re-armed at the real deadline"
    );
    assert_eq!(b.take_due(ms(1_111_000), 10).await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_shorter_frequency_moves_the_deadline_earlier_at_once() {
    let b = backend(None);
    b.record_ping(ping("j", Some("10m"), None), t(1_000))
        .await
        .unwrap();
    b.record_ping(ping("j", Some("1m"), None), t(1_030))
        .await
        .unwrap();
    assert_eq!(b.next_wake().await, Some(t(1_090)));
    assert_eq!(b.take_due(ms(1_091_000), 10).await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn recovery_raises_up_with_the_time_down() {
    let b = backend(Some(60));
    b.record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    b.take_due(ms(1_061_000), 10).await.unwrap();
    let outcome = b
        .record_ping(ping("j", None, None), t(1_200))
        .await
        .unwrap();
    assert!(matches!(outcome, PingOutcome::Recovered(_)));
    let leased = b.lease_alerts(ms(1_200_000), 10).await.unwrap();
    assert_eq!(leased.len(), 1, "one per job: the down alert first");
    assert_eq!(leased[0].alert.event, AlertEvent::Down);
    b.finish_alert(&leased[0], Delivery::Delivered)
        .await
        .unwrap();
    let up = b.lease_alerts(ms(1_200_000), 10).await.unwrap();
    assert_eq!(up[0].alert.event, AlertEvent::Up);
    assert_eq!(up[0].alert.overdue_seconds, 140);
    assert_eq!(b.counts_now().down, 0);
}

#[tokio::test(start_paused = true)]
async fn stale_timestamps_change_nothing_and_equal_ones_are_retries() {
    let b = backend(None);
    b.record_ping(ping("j", Some("1m"), Some(1_000)), t(1_000))
        .await
        .unwrap();
    let stale = b
        .record_ping(ping("j", Some("5m"), Some(999)), t(1_001))
        .await
        .unwrap();
    assert!(matches!(stale, PingOutcome::Stale(ref j) if j.frequency().unwrap().seconds() == 60));
    let equal = b
        .record_ping(ping("j", None, Some(1_000)), t(1_001))
        .await
        .unwrap();
    assert!(matches!(equal, PingOutcome::Recorded(ref j) if j.pings_total == 1));
}

#[tokio::test(start_paused = true)]
async fn the_service_cap_refuses_new_names_until_one_is_deleted() {
    let b = backend(None);
    for n in ["a", "b", "c"] {
        b.record_ping(ping(n, Some("1m"), None), t(1_000))
            .await
            .unwrap();
    }
    let full = b
        .record_ping(ping("d", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    assert!(matches!(full, PingOutcome::Full { max: 3 }));
    assert!(b.delete(&JobName::parse("a").unwrap()).await.unwrap());
    let ok = b
        .record_ping(ping("d", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    assert!(matches!(ok, PingOutcome::Recorded(_)));
}

#[tokio::test(start_paused = true)]
async fn restart_keeps_down_jobs_down_and_gives_startup_grace() {
    let b = backend(Some(3_600));
    let up = Job {
        name: JobName::parse("late").unwrap(),
        cadence: Cadence::Every(Frequency::parse("1h").unwrap()),
        grace: Grace::default(),
        last_ping: t(0),
        status: Status::Up,
        down_since: None,
        episode_alerts: 0,
        alerts_sent: 0,
        pings_total: 1,
        next_reminder: None,
        down_reason: Default::default(),
        runs: None,
        events_seq: 0,
        interventions: None,
    };
    let down = Job {
        name: JobName::parse("down").unwrap(),
        status: Status::Down,
        down_since: Some(t(3_600)),
        episode_alerts: 1,
        next_reminder: Some(t(100_030)),
        ..up.clone()
    };
    b.restore(vec![up, down], Vec::new(), 0, t(100_000));
    // The late job waits min(1h, 15m) from the start; the down job only reminds.
    let first = b.take_due(ms(100_031_000), 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].name.as_str(), first[0].alert_count), ("down", 2));
    assert!(b.take_due(ms(100_900_000), 10).await.unwrap().is_empty());
    let late = b.take_due(ms(100_900_001), 10).await.unwrap();
    assert_eq!((late[0].name.as_str(), late[0].alert_count), ("late", 1));
}

fn options() -> BackendOptions {
    BackendOptions {
        max_services: 3,
        history: 100,
        realert_every: None,
        realert_max: Duration::from_secs(86_400),
        startup_grace: Duration::from_secs(900),
        sync: crate::backend::SyncMode::Full,
        fanout: crate::backend::Fanout::default(),
    }
}

/// Runs `f` with every journal thread it starts counted (see `journal::hooks`).
fn counting_threads<T>(f: impl FnOnce() -> T) -> (T, Arc<()>) {
    let alive = Arc::new(());
    super::journal::hooks::ALIVE.with(|a| *a.borrow_mut() = Some(alive.clone()));
    let out = f();
    super::journal::hooks::ALIVE.with(|a| a.borrow_mut().take());
    (out, alive)
}

#[test]
fn a_store_that_cannot_open_leaves_no_thread_running() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the store's directory should be.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, vec![0x5a; 8192]).unwrap();
    for path in [blocker.join("o.db"), corrupt] {
        let (opened, alive) =
            counting_threads(|| LocalBackend::open_sqlite(&path, options(), Wakers::default()));
        assert!(opened.is_err(), "{}", path.display());
        assert_eq!(Arc::strong_count(&alive), 1, "{}", path.display());
    }
}

#[tokio::test]
async fn dropping_a_store_without_close_stops_its_threads_and_keeps_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let (backend, alive) =
        counting_threads(|| LocalBackend::open_sqlite(&db, options(), Wakers::default()));
    let backend = backend.unwrap();
    assert_eq!(Arc::strong_count(&alive), 3, "the fold and the sync thread");
    backend
        .record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    drop(backend);
    assert_eq!(Arc::strong_count(&alive), 1, "both threads joined");
    let again = LocalBackend::open_sqlite(&db, options(), Wakers::default()).unwrap();
    assert_eq!(again.counts_now().total, 1);
    again.close().await.unwrap();
}

/// The schema exactly as the build before runs and events created it, kept frozen here.
const PREVIOUS_SCHEMA: &str = "
    CREATE TABLE jobs (
        name TEXT PRIMARY KEY,
        frequency TEXT NOT NULL,
        frequency_s INTEGER NOT NULL,
        grace_s INTEGER NOT NULL,
        last_ping_ms INTEGER NOT NULL,
        status TEXT NOT NULL,
        down_since_ms INTEGER,
        episode_alerts INTEGER NOT NULL,
        alerts_sent INTEGER NOT NULL,
        pings_total INTEGER NOT NULL,
        next_reminder_ms INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        job TEXT NOT NULL,
        alert TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_ms INTEGER NOT NULL
    );
    CREATE INDEX outbox_job ON outbox (job);
    INSERT INTO jobs VALUES ('old', '1h', 3600, 0, 1000000, 'up', NULL, 0, 0, 4, NULL);";

fn seqs(page: &EventPage) -> Vec<u64> {
    page.events
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect()
}

#[tokio::test]
async fn a_database_of_the_previous_build_upgrades_and_keeps_runs_and_events_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(PREVIOUS_SCHEMA)
        .unwrap();
    let name = JobName::parse("old").unwrap();
    let backend = LocalBackend::open_sqlite(&db, options(), Wakers::default()).unwrap();
    let job = backend.get(&name).await.unwrap().unwrap();
    assert_eq!((job.pings_total, job.events_seq), (4, 0));
    assert!(job.runs.is_none());
    let mut start = ping("old", None, None);
    start.signal = crate::domain::Signal::Start;
    start.max_runtime = Some(Some(60));
    backend.record_ping(start, t(2_000)).await.unwrap();
    backend.close().await.unwrap();

    // Restarted: the open run, its end-by wake-up and the event counter continue.
    let backend = LocalBackend::open_sqlite(&db, options(), Wakers::default()).unwrap();
    let job = backend.get(&name).await.unwrap().unwrap();
    assert_eq!(job.events_seq, 1);
    let runs = job.runs.as_deref().expect("runs restored");
    assert_eq!((runs.open.len(), runs.max_runtime), (1, Some(60)));
    assert_eq!(
        backend.next_wake().await,
        Some(t(2_060)),
        "the run's end-by"
    );
    let page = backend.events(&name, None, 50).await.unwrap().unwrap();
    assert_eq!(page.events[0]["kind"], "start");
    let alerts = backend.take_due(ms(2_060_001), 10).await.unwrap();
    assert_eq!(alerts.len(), 1, "the run timed out after the restart");
    // Not folded yet: the history reads the journal's pending changes too.
    let page = backend.events(&name, None, 50).await.unwrap().unwrap();
    assert_eq!(seqs(&page), [2, 1]);
    assert_eq!(page.events[0]["reason"], "run_timeout");
    drop(backend);

    // Dropped without a close: the journal is replayed at the next start.
    let backend = LocalBackend::open_sqlite(&db, options(), Wakers::default()).unwrap();
    let page = backend.events(&name, None, 1).await.unwrap().unwrap();
    assert_eq!((seqs(&page), page.next), (vec![2], Some(2)));
    let page = backend.events(&name, Some(2), 1).await.unwrap().unwrap();
    assert_eq!((seqs(&page), page.next), (vec![1], None));
    assert!(backend.delete(&name).await.unwrap());
    backend
        .record_ping(ping("old", Some("1h"), None), t(3_000))
        .await
        .unwrap();
    let page = backend.events(&name, None, 50).await.unwrap().unwrap();
    assert_eq!(seqs(&page), [2, 1], "the new job's created and ping only");
    assert_eq!(page.events[1]["kind"], "created");
    backend.close().await.unwrap();
    let backend = LocalBackend::open_sqlite(&db, options(), Wakers::default()).unwrap();
    let page = backend.events(&name, None, 50).await.unwrap().unwrap();
    assert_eq!(seqs(&page), [2, 1]);
    assert_eq!(page.events[1]["kind"], "created");
    backend.close().await.unwrap();
}

#[tokio::test]
async fn memory_keeps_the_newest_events_and_none_with_history_zero() {
    for history in [3, 0] {
        let b = LocalBackend::in_memory(
            BackendOptions {
                history,
                ..options()
            },
            Wakers::default(),
        );
        let name = JobName::parse("j").unwrap();
        b.record_ping(ping("j", Some("1h"), None), t(1_000))
            .await
            .unwrap();
        for i in 1..=4 {
            b.record_ping(ping("j", None, None), t(1_000 + i))
                .await
                .unwrap();
        }
        let page = b.events(&name, None, 50).await.unwrap().unwrap();
        let expected: Vec<u64> = if history == 0 { vec![] } else { vec![6, 5, 4] };
        assert_eq!(seqs(&page), expected, "history {history}");
        b.record_delivery(
            &JobName::parse("gone").unwrap(),
            DeliveryEvent {
                alert_id: "A".into(),
                event: "down",
                channel: "webhook:x".into(),
                delivered: true,
                attempts: 1,
                last_status: Some(200),
                last_error: None,
            },
            t(2_000),
        )
        .await
        .unwrap();
        assert!(b
            .get(&JobName::parse("gone").unwrap())
            .await
            .unwrap()
            .is_none());
    }
}

#[test]
fn the_snapshot_keeps_a_schedule_a_pause_and_an_acknowledgement() {
    use crate::domain::{Acknowledgement, Schedule};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let mut scheduled = Job::from_first_ping(
        &ping("nightly", Some("1h"), Some(1_795_000_000)),
        t(1_795_000_000),
        &options().policy(),
        Alert::fresh_id,
    )
    .unwrap()
    .job;
    scheduled.cadence = Cadence::cron(
        Schedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap(),
        scheduled.last_ping,
    );
    scheduled.status = Status::Paused;
    scheduled.set_paused_until(Some(t(1_795_100_000)));
    scheduled.set_acknowledged(Some(Acknowledgement {
        at: t(1_795_000_100),
        note: Some("disk swap".into()),
    }));
    let mut acked = scheduled.clone();
    acked.name = JobName::parse("acked").unwrap();
    acked.cadence = Cadence::Every(Frequency::parse("1h").unwrap());
    acked.status = Status::Down;
    acked.set_paused_until(None);
    acked.set_acknowledged(Some(Acknowledgement {
        at: t(1_795_000_100),
        note: None,
    }));
    acked.set_resume_deadline(Some(t(1_795_000_200)));
    let mut snapshot = snapshot::Snapshot::open(&db, crate::backend::SyncMode::Normal, 10).unwrap();
    snapshot
        .apply(&[
            Op::Upsert(scheduled.clone(), EventBytes::default()),
            Op::Upsert(acked.clone(), EventBytes::default()),
        ])
        .unwrap();
    let mut loaded = Vec::new();
    snapshot.load(&mut |job| loaded.push(job)).unwrap();
    loaded.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(loaded, [acked, scheduled.clone()]);
    assert_eq!(loaded[1].deadline(), scheduled.deadline());
    assert_eq!(loaded[1].frequency(), None);
}
