use std::time::Duration;

use super::*;
use crate::domain::{EventKind, Ping, Policy};

fn policy() -> Policy {
    Policy {
        realert_every: None,
        realert_max: Duration::from_secs(3600),
        startup_grace: Duration::from_secs(60),
    }
}

/// A job `name` first pinged at `secs`, through the rules rather than a literal.
fn job(name: &str, secs: i64) -> Job {
    let ping = Ping {
        frequency: Some(Frequency::parse("1h").unwrap()),
        ..Ping::new(JobName::parse(name).unwrap())
    };
    let now = UnixTime::from_secs(secs).unwrap();
    Job::from_first_ping(&ping, now, &policy(), || "a".to_owned())
        .unwrap()
        .job
}

fn events(seqs: std::ops::RangeInclusive<u64>) -> EventBytes {
    let events: Vec<Event> = seqs
        .map(|seq| Event {
            seq,
            at: UnixTime::from_secs(1_795_000_000).unwrap(),
            kind: EventKind::Up,
        })
        .collect();
    EventBytes::encode(&events).unwrap()
}

fn open(dir: &tempfile::TempDir, history: usize) -> Snapshot {
    Snapshot::open(&dir.path().join("db.sqlite"), SyncMode::Normal, history).unwrap()
}

fn seqs(snapshot: &Snapshot, name: &str) -> Vec<u64> {
    read_events(&snapshot.conn, &JobName::parse(name).unwrap())
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

fn chunks(snapshot: &Snapshot) -> i64 {
    snapshot
        .conn
        .query_row("SELECT COUNT(*) FROM event_chunks", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn folds_keep_the_newest_history_in_a_few_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let mut snapshot = open(&dir, 100);
    let mut next = 1;
    // Folds of 1 to 7 events, as pings between folds would bring.
    for fold in 0..200u64 {
        let last = next + fold % 7;
        snapshot
            .apply(&[Op::Upsert(job("a", 1_795_000_000), events(next..=last))])
            .unwrap();
        next = last + 1;
        let held = seqs(&snapshot, "a");
        assert!(held.windows(2).all(|w| w[1] == w[0] + 1), "consecutive");
        assert_eq!(held.last(), Some(&last));
        assert!(
            held.len() as u64 >= 100.min(last),
            "the newest 100 at least"
        );
        assert!(
            held.len() < 100 + 2 * CHUNK_EVENTS as usize,
            "{}",
            held.len()
        );
    }
    assert!(chunks(&snapshot) <= 100 / i64::from(CHUNK_EVENTS) + 3);
}

#[test]
fn events_replayed_after_their_fold_are_held_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut snapshot = open(&dir, 100);
    let upsert = |range| Op::Upsert(job("a", 1_795_000_000), events(range));
    snapshot.apply(&[upsert(1..=40)]).unwrap();
    snapshot.apply(&[upsert(30..=45), upsert(41..=50)]).unwrap();
    assert_eq!(seqs(&snapshot, "a"), (1..=50).collect::<Vec<_>>());
}

#[test]
fn deleting_a_job_deletes_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut snapshot = open(&dir, 10);
    for range in [1..=20, 21..=40, 41..=45] {
        snapshot
            .apply(&[Op::Upsert(job("a", 1_795_000_000), events(range.clone()))])
            .unwrap();
        snapshot
            .apply(&[Op::Upsert(job("b", 1_795_000_000), events(range))])
            .unwrap();
    }
    snapshot
        .apply(&[Op::Delete(JobName::parse("a").unwrap())])
        .unwrap();
    assert_eq!(seqs(&snapshot, "a"), Vec::<u64>::new());
    assert_eq!(seqs(&snapshot, "b").last(), Some(&45));
}

#[test]
fn a_history_of_the_one_row_layout_moves_into_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (job TEXT PRIMARY KEY, events BLOB NOT NULL) WITHOUT ROWID;",
        )
        .unwrap();
        let mut blob = Vec::new();
        events(5..=9).put(&mut blob);
        conn.execute(
            "INSERT INTO events (job, events) VALUES ('a', ?1), ('broken', x'01')",
            [blob],
        )
        .unwrap();
    }
    let mut snapshot = Snapshot::open(&path, SyncMode::Normal, 100).unwrap();
    assert_eq!(seqs(&snapshot, "a"), [5, 6, 7, 8, 9]);
    snapshot
        .apply(&[Op::Upsert(job("a", 1_795_000_000), events(10..=11))])
        .unwrap();
    assert_eq!(seqs(&snapshot, "a"), [5, 6, 7, 8, 9, 10, 11]);
    let old: i64 = snapshot
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0, "the old table is gone");
}
