use super::*;
use crate::backend::local::codec::EventBytes;
use crate::domain::{Frequency, Grace, Status, UnixTime};

fn job(name: &str, pings: u64) -> Job {
    Job {
        name: JobName::parse(name).unwrap(),
        frequency: Frequency::parse("1h").unwrap(),
        grace: Grace::default(),
        last_ping: UnixTime::from_secs(1_795_000_000 + pings as i64).unwrap(),
        status: Status::Up,
        down_since: None,
        episode_alerts: 0,
        alerts_sent: 0,
        pings_total: pings,
        next_reminder: None,
        down_reason: Default::default(),
        runs: None,
        events_seq: 0,
    }
}

/// The journal, and the jobs it handed over at start.
fn open(db: &Path) -> (Journal, Vec<Job>) {
    let mut jobs = Vec::new();
    let (journal, _) = Journal::open(
        db,
        SyncMode::Normal,
        100,
        StoreTimer::default(),
        &mut |job| jobs.push(job),
        Box::new(|_| {}),
    )
    .unwrap();
    (journal, jobs)
}

#[tokio::test]
async fn segments_left_by_a_crash_are_replayed_once_or_twice_alike() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let (journal, _) = open(&db);
    journal.close().await.unwrap();
    // What a run killed before its fold leaves: two segments, the second torn.
    let mut first = Vec::new();
    codec::encode(
        &[
            Op::Upsert(job("a", 1), EventBytes::default()),
            Op::Upsert(job("b", 1), EventBytes::default()),
            Op::Upsert(job("a", 2), EventBytes::default()),
        ],
        &mut first,
    )
    .unwrap();
    let mut second = Vec::new();
    codec::encode(
        &[
            Op::Delete(JobName::parse("b").unwrap()),
            Op::Upsert(job("c", 5), EventBytes::default()),
        ],
        &mut second,
    )
    .unwrap();
    second.extend_from_slice(&[9, 0, 0, 0, 1]);
    for _ in 0..2 {
        // One job's changes are all in one lane.
        std::fs::write(codec::segment_path(&db, 5, 7), &first).unwrap();
        std::fs::write(codec::segment_path(&db, 5, 8), &second).unwrap();
        let (journal, loaded) = open(&db);
        let mut jobs: Vec<String> = loaded
            .iter()
            .map(|j| format!("{} {}", j.name, j.pings_total))
            .collect();
        jobs.sort();
        assert_eq!(jobs, ["a 2", "c 5"]);
        let left: Vec<(usize, u64)> = codec::segments(&db)
            .unwrap()
            .iter()
            .map(|s| (s.lane, s.number))
            .collect();
        let new: Vec<(usize, u64)> = (0..LANES).map(|lane| (lane, 9)).collect();
        assert_eq!(
            left, new,
            "replayed segments are removed; every lane starts at 9"
        );
        journal.close().await.unwrap();
    }
}

/// What a kill -9 leaves: a copy of the live directory, segments of every lane.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.path().join(entry.file_name())).unwrap();
    }
    to
}

#[tokio::test]
async fn every_job_in_every_lane_comes_back_in_its_latest_state_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let (journal, _) = open(&db);
    // 200 jobs spread over the lanes, pinged in turns; every third one deleted
    // after its pings and every ninth created again after its deletion.
    let names: Vec<JobName> = (0..200)
        .map(|i| JobName::parse(&format!("job-{i}")).unwrap())
        .collect();
    for round in 1..=5 {
        for name in &names {
            let op = Op::Upsert(job(name.as_str(), round), EventBytes::default());
            journal.append(Some(name), vec![op], Vec::new()).unwrap();
        }
    }
    for (i, name) in names.iter().enumerate() {
        if i % 3 == 0 {
            journal
                .append(Some(name), vec![Op::Delete(name.clone())], Vec::new())
                .unwrap();
        }
        if i % 9 == 0 {
            let op = Op::Upsert(job(name.as_str(), 100), EventBytes::default());
            journal.append(Some(name), vec![op], Vec::new()).unwrap();
        }
    }
    let lanes: std::collections::BTreeSet<usize> = codec::segments(&db)
        .unwrap()
        .iter()
        .map(|s| s.lane)
        .collect();
    assert_eq!(lanes.len(), LANES, "the jobs use every lane");
    let crashed = copy_dir(dir.path());
    journal.close().await.unwrap();

    let expected: Vec<String> = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| match (i % 3 == 0, i % 9 == 0) {
            (_, true) => Some(format!("{name} 100")),
            (true, false) => None,
            (false, false) => Some(format!("{name} 5")),
        })
        .collect();
    for db in [db, crashed.path().join("o.db")] {
        let (journal, loaded) = open(&db);
        let mut got: Vec<(String, String)> = loaded
            .iter()
            .map(|j| (j.name.to_string(), format!("{} {}", j.name, j.pings_total)))
            .collect();
        got.sort();
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|e| (e.split(' ').next().unwrap().to_owned(), e.clone()))
            .collect();
        want.sort();
        assert_eq!(got, want, "{}", db.display());
        journal.close().await.unwrap();
    }
}

#[tokio::test]
async fn appended_changes_survive_without_a_fold_and_are_folded_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let (journal, _) = open(&db);
    assert!(journal
        .append(
            None,
            vec![Op::Upsert(job("a", 1), EventBytes::default())],
            Vec::new()
        )
        .unwrap()
        .is_none());
    journal
        .append(
            None,
            vec![Op::Upsert(job("a", 2), EventBytes::default())],
            Vec::new(),
        )
        .unwrap();
    let crashed = copy_dir(dir.path());
    journal.close().await.unwrap();
    assert!(
        codec::segments(&db).unwrap().is_empty(),
        "close folds everything"
    );
    for db in [db, crashed.path().join("o.db")] {
        let (journal, loaded) = open(&db);
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].pings_total, 2);
        journal.close().await.unwrap();
    }
    assert!(journal_closed_refuses_writes().await);
}

async fn journal_closed_refuses_writes() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(&dir.path().join("o.db"));
    journal.close().await.unwrap();
    journal
        .append(
            None,
            vec![Op::Upsert(job("a", 1), EventBytes::default())],
            Vec::new(),
        )
        .is_err()
}

/// Runs `f` with every journal thread it starts counted: the returned token's strong
/// count less one is how many of them still run.
fn counting_threads<T>(f: impl FnOnce() -> T) -> (T, Arc<()>) {
    let alive = Arc::new(());
    hooks::ALIVE.with(|a| *a.borrow_mut() = Some(alive.clone()));
    let out = f();
    hooks::ALIVE.with(|a| a.borrow_mut().take());
    (out, alive)
}

fn open_with(db: &Path, sync: SyncMode) -> Result<Journal, BackendError> {
    Journal::open(
        db,
        sync,
        100,
        StoreTimer::default(),
        &mut |_| {},
        Box::new(|_| {}),
    )
    .map(|(journal, _)| journal)
}

#[test]
fn opening_a_corrupt_database_fails_and_leaves_no_thread_running() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let (opened, alive) = counting_threads(|| open_with(&db, SyncMode::Normal));
    assert!(opened.is_err());
    assert_eq!(Arc::strong_count(&alive), 1, "no journal thread runs");
}

#[test]
fn an_open_failing_after_its_threads_started_stops_and_joins_them() {
    for sync in [SyncMode::Normal, SyncMode::Full] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        hooks::FAIL_AFTER_SPAWN.with(|fail| fail.set(true));
        let (opened, alive) = counting_threads(|| open_with(&db, sync));
        assert!(opened.is_err(), "{sync:?}");
        assert_eq!(Arc::strong_count(&alive), 1, "{sync:?}: no thread left");
    }
}

#[test]
fn dropping_a_journal_without_close_folds_and_joins_its_threads() {
    for sync in [SyncMode::Normal, SyncMode::Full] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        let (journal, alive) = counting_threads(|| open_with(&db, sync).unwrap());
        let threads = match sync {
            SyncMode::Normal => 1,
            SyncMode::Full => 2,
        };
        assert_eq!(Arc::strong_count(&alive), 1 + threads, "{sync:?}");
        let name = JobName::parse("a").unwrap();
        journal
            .append(
                Some(&name),
                vec![Op::Upsert(job("a", 3), EventBytes::default())],
                Vec::new(),
            )
            .unwrap();
        drop(journal);
        assert_eq!(Arc::strong_count(&alive), 1, "{sync:?}: threads joined");
        assert!(
            codec::segments(&db).unwrap().is_empty(),
            "{sync:?}: the drop folded everything"
        );
        let mut jobs = Vec::new();
        let (journal, _) = Journal::open(
            &db,
            sync,
            100,
            StoreTimer::default(),
            &mut |job| jobs.push(job.pings_total),
            Box::new(|_| {}),
        )
        .unwrap();
        assert_eq!(jobs, [3]);
        drop(journal);
    }
}

#[tokio::test]
async fn the_listener_hears_each_report_once_durable_in_order_and_never_a_refused_one() {
    for sync in [SyncMode::Normal, SyncMode::Full] {
        let dir = tempfile::tempdir().unwrap();
        let heard: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let listener = heard.clone();
        let (journal, _) = Journal::open(
            &dir.path().join("o.db"),
            sync,
            100,
            StoreTimer::default(),
            &mut |_| {},
            Box::new(move |ops| {
                let mut heard = listener.lock().unwrap();
                heard.extend(ops.iter().map(|op| format!("{op:?}")));
            }),
        )
        .unwrap();
        let name = JobName::parse("a").unwrap();
        let ack = |id: &str| Op::OutboxAck(id.to_owned());
        let mut waiting = Vec::new();
        for (i, report) in [vec![ack("1")], Vec::new(), vec![ack("2"), ack("3")]]
            .into_iter()
            .enumerate()
        {
            let op = Op::Upsert(job("a", i as u64), EventBytes::default());
            waiting.push(journal.append(Some(&name), vec![op], report).unwrap());
        }
        // A waiter that gave up (a cancelled request) does not lose its report.
        drop(waiting.pop());
        for rx in waiting.into_iter().flatten() {
            wait(rx).await.unwrap();
        }
        journal.close().await.unwrap();
        let refused = journal.append(
            Some(&name),
            vec![Op::Upsert(job("a", 9), EventBytes::default())],
            vec![ack("4")],
        );
        assert!(refused.is_err());
        assert_eq!(
            *heard.lock().unwrap(),
            [
                r#"OutboxAck("1")"#,
                r#"OutboxAck("2")"#,
                r#"OutboxAck("3")"#
            ],
            "{sync:?}"
        );
    }
}
