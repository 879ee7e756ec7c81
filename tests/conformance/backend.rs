//! The `Backend` trait itself, with explicit times (no sleeping): deadlines, reminders,
//! deferrals, recovery, timestamps, the cap, retries and deletion, for every store.

use std::sync::Arc;
use std::time::Duration;

use overdue::backend::{
    open, Backend, BackendOptions, Delivery, Ping, PingOutcome, StoreTimer, StoreUrl, SyncMode,
    Wakers,
};
use overdue::domain::{AlertEvent, Frequency, JobName, UnixTime};

use crate::support::Store;

async fn backend(store: &Store, realert_secs: Option<u64>) -> Arc<dyn Backend> {
    backing_off(store, realert_secs, 86_400).await
}

/// A backend whose reminders start `realert_secs` apart and back off up to `max_secs`.
async fn backing_off(store: &Store, realert_secs: Option<u64>, max_secs: u64) -> Arc<dyn Backend> {
    let url: StoreUrl = store.url.parse().expect("store URL");
    let options = BackendOptions {
        max_services: 3,
        history: 100,
        realert_every: realert_secs.map(Duration::from_secs),
        realert_max: Duration::from_secs(max_secs),
        startup_grace: Duration::from_secs(900),
        sync: SyncMode::Normal,
        fanout: overdue::backend::Fanout::default(),
    };
    open(&url, options, Wakers::default(), StoreTimer::default())
        .await
        .expect("open the store")
}

fn ping(name: &str, frequency: Option<&str>, at: Option<i64>) -> Ping {
    Ping {
        frequency: frequency.map(|f| Frequency::parse(f).expect("frequency")),
        grace: None,
        at: at.and_then(UnixTime::from_secs),
        want_job: true,
        ..Ping::new(JobName::parse(name).expect("name"))
    }
}

pub fn ms(v: i64) -> UnixTime {
    UnixTime::from_millis(v).unwrap()
}

fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs).expect("time")
}

pub async fn a_job_is_due_just_after_its_deadline_and_reminded(store: &Store) {
    let b = backend(store, Some(60)).await;
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
    assert_eq!(reminder.len(), 1);
    assert_eq!(
        (reminder[0].alert_count, reminder[0].overdue_seconds),
        (2, 60)
    );
    assert_ne!(reminder[0].id, due[0].id);
    let counts = b.counts().await.unwrap();
    assert_eq!((counts.total, counts.down), (1, 1));
    let job = b.get(&JobName::parse("j").unwrap()).await.unwrap().unwrap();
    assert_eq!((job.alerts_sent, job.episode_alerts), (2, 2));
    assert_eq!(job.down_since, Some(t(1_060)));
    b.close().await.unwrap();
}

pub async fn a_later_ping_defers_the_alert(store: &Store) {
    let b = backend(store, None).await;
    b.record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    b.record_ping(ping("j", None, None), t(1_050))
        .await
        .unwrap();
    assert!(b.take_due(ms(1_061_000), 10).await.unwrap().is_empty());
    assert_eq!(
        b.next_wake().await,
        Some(t(1_110)),
        "re-armed at the real deadline"
    );
    assert_eq!(b.take_due(ms(1_111_000), 10).await.unwrap().len(), 1);
    assert_eq!(
        b.next_wake().await,
        None,
        "down without reminders: nothing to wake for"
    );
    b.close().await.unwrap();
}

pub async fn a_shorter_frequency_moves_the_deadline_earlier_at_once(store: &Store) {
    let b = backend(store, None).await;
    b.record_ping(ping("j", Some("10m"), None), t(1_000))
        .await
        .unwrap();
    b.record_ping(ping("j", Some("1m"), None), t(1_030))
        .await
        .unwrap();
    assert_eq!(b.next_wake().await, Some(t(1_090)));
    assert_eq!(b.take_due(ms(1_091_000), 10).await.unwrap().len(), 1);
    b.close().await.unwrap();
}

pub async fn recovery_raises_up_after_the_down_alerts(store: &Store) {
    let b = backend(store, Some(60)).await;
    b.record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    b.take_due(ms(1_061_000), 10).await.unwrap();
    let outcome = b
        .record_ping(ping("j", None, None), t(1_200))
        .await
        .unwrap();
    assert!(matches!(outcome, PingOutcome::Recovered(_)), "{outcome:?}");
    assert_eq!(b.backlog().await.unwrap(), 2);
    assert_eq!(
        b.oldest_pending_alert().await.unwrap(),
        UnixTime::from_secs(1_061)
    );
    let leased = b.lease_alerts(ms(1_200_000), 10).await.unwrap();
    assert_eq!(leased.len(), 1, "one per job: the down alert first");
    assert_eq!(leased[0].alert.event, AlertEvent::Down);
    assert!(
        b.lease_alerts(ms(1_200_000), 10).await.unwrap().is_empty(),
        "leased"
    );
    b.finish_alert(&leased[0], Delivery::Delivered)
        .await
        .unwrap();
    let up = b.lease_alerts(ms(1_200_000), 10).await.unwrap();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].alert.event, AlertEvent::Up);
    assert_eq!(
        (up[0].alert.overdue_seconds, up[0].alert.alert_count),
        (140, 1)
    );
    assert!(up[0].seq > leased[0].seq);
    b.finish_alert(&up[0], Delivery::Delivered).await.unwrap();
    assert_eq!(b.backlog().await.unwrap(), 0);
    assert_eq!(b.oldest_pending_alert().await.unwrap(), None);
    assert_eq!(b.counts().await.unwrap().down, 0);
    b.close().await.unwrap();
}

pub async fn stale_timestamps_change_nothing_and_equal_ones_are_retries(store: &Store) {
    let b = backend(store, None).await;
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
    let fresh = b
        .record_ping(ping("new", None, None), t(1_001))
        .await
        .unwrap();
    assert!(matches!(fresh, PingOutcome::FrequencyRequired));
    b.close().await.unwrap();
}

pub async fn the_service_cap_refuses_new_names_until_one_is_deleted(store: &Store) {
    let b = backend(store, None).await;
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
    assert!(!b.delete(&JobName::parse("a").unwrap()).await.unwrap());
    let ok = b
        .record_ping(ping("d", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    assert!(matches!(ok, PingOutcome::Recorded(_)));
    let page = b.list(None, Some("b"), 1).await.unwrap();
    assert_eq!(page.jobs.len(), 1);
    assert_eq!(page.jobs[0].name.as_str(), "c");
    assert_eq!(page.next.as_ref().map(JobName::as_str), Some("c"));
    assert_eq!(page.total, 3);
    b.close().await.unwrap();
}

pub async fn a_retry_waits_for_its_time_and_counts_its_attempts(store: &Store) {
    let b = backend(store, None).await;
    b.record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    b.take_due(ms(1_061_000), 10).await.unwrap();
    let leased = b.lease_alerts(ms(1_061_000), 10).await.unwrap();
    assert_eq!((leased.len(), leased[0].attempts), (1, 0));
    b.finish_alert(&leased[0], Delivery::RetryAt(ms(1_062_000)))
        .await
        .unwrap();
    assert!(b.lease_alerts(ms(1_061_999), 10).await.unwrap().is_empty());
    assert_eq!(b.next_alert_at().await, Some(ms(1_062_000)));
    let again = b.lease_alerts(ms(1_062_000), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(
        again[0].alert.id, leased[0].alert.id,
        "the same alert, the same id"
    );
    b.finish_alert(&again[0], Delivery::GaveUp).await.unwrap();
    assert_eq!(b.backlog().await.unwrap(), 0);
    b.close().await.unwrap();
}

pub async fn deleting_a_job_drops_its_alerts(store: &Store) {
    let b = backend(store, Some(60)).await;
    b.record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    b.take_due(ms(1_061_000), 10).await.unwrap();
    b.take_due(ms(1_122_000), 10).await.unwrap();
    assert_eq!(b.backlog().await.unwrap(), 2);
    let leased = b.lease_alerts(ms(1_122_000), 10).await.unwrap();
    assert!(b.delete(&JobName::parse("j").unwrap()).await.unwrap());
    assert_eq!(b.backlog().await.unwrap(), 0);
    // A delivery that ends after the deletion changes nothing.
    b.finish_alert(&leased[0], Delivery::Delivered)
        .await
        .unwrap();
    assert!(b.lease_alerts(ms(1_122_000), 10).await.unwrap().is_empty());
    assert!(b.take_due(ms(2_000_000), 10).await.unwrap().is_empty());
    assert_eq!(b.get(&JobName::parse("j").unwrap()).await.unwrap(), None);
    b.close().await.unwrap();
}

/// 250 pings at once over five names with room for three: each accepted ping counts
/// exactly once (its job's counts run 1..=50 without a gap or a repeat), three names
/// take every one of their pings and two get only "full". On Redis the pings share
/// script calls, so this is also the batching's test.
pub async fn concurrent_pings_each_count_once_and_the_cap_holds(store: &Store) {
    let b = backend(store, None).await;
    let names = ["a", "b", "c", "d", "e"];
    let mut tasks = Vec::new();
    for round in 0..50 {
        for name in names {
            let b = Arc::clone(&b);
            tasks.push(tokio::spawn(async move {
                let outcome = b
                    .record_ping(ping(name, Some("1h"), None), t(2_000 + round / 10))
                    .await
                    .expect("ping");
                (name, outcome)
            }));
        }
    }
    let mut counts: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    let mut full: std::collections::BTreeSet<&str> = Default::default();
    for task in tasks {
        match task.await.expect("task") {
            (name, PingOutcome::Recorded(job)) => {
                // A reply handed to the wrong ping of a batch shows here.
                assert_eq!(job.name.as_str(), name, "the answer to a ping of {name}");
                counts.entry(name).or_default().push(job.pings_total)
            }
            (name, PingOutcome::Full { max: 3 }) => {
                full.insert(name);
            }
            (name, other) => panic!("{name}: unexpected {other:?}"),
        }
    }
    assert_eq!(counts.len(), 3, "three names accepted: {counts:?}");
    assert_eq!(full.len(), 2, "two names refused: {full:?}");
    for (name, mut seen) in counts {
        assert!(!full.contains(name), "{name} both accepted and refused");
        seen.sort_unstable();
        assert_eq!(seen, (1..=50).collect::<Vec<_>>(), "{name}");
        let stored = b
            .get(&JobName::parse(name).expect("name"))
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(stored.pings_total, 50, "{name}");
    }
}

/// 300 pings at once over three known jobs, two in three plain and the rest asking for
/// the job: each counts exactly once and the last ping is the latest. On Redis a call
/// then holds the same job several times, on the short path and the full one in turn,
/// so this checks that each step sees the steps before it.
pub async fn concurrent_plain_and_full_pings_each_count_once(store: &Store) {
    let b = backend(store, None).await;
    let names = ["a", "b", "c"];
    for name in names {
        b.record_ping(ping(name, Some("1h"), None), t(1_000))
            .await
            .expect("register");
    }
    let mut tasks = Vec::new();
    for round in 0..100_i64 {
        for name in names {
            let b = Arc::clone(&b);
            let sent = if round % 3 == 2 {
                ping(name, Some("1h"), None)
            } else {
                plain(name, None, None)
            };
            tasks.push(tokio::spawn(async move {
                let outcome = b.record_ping(sent, t(2_000 + round)).await.expect("ping");
                (name, outcome)
            }));
        }
    }
    let mut shown: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    for task in tasks {
        match task.await.expect("task") {
            (name, PingOutcome::Recorded(job)) => {
                assert_eq!(job.name.as_str(), name, "the answer to a ping of {name}");
                shown.entry(name).or_default().push(job.pings_total);
            }
            (_, PingOutcome::Acknowledged) => {}
            (name, other) => panic!("{name}: unexpected {other:?}"),
        }
    }
    for name in names {
        let seen = shown.remove(name).unwrap_or_default();
        let distinct: std::collections::BTreeSet<u64> = seen.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "{name}: a count shown twice {seen:?}"
        );
        assert!(
            seen.iter().all(|&n| (2..=101).contains(&n)),
            "{name}: {seen:?}"
        );
        let stored = job(&b, name).await;
        assert_eq!(stored.pings_total, 101, "{name}");
        assert_eq!(stored.last_ping, t(2_099), "{name}");
        assert_eq!(stored.status, overdue::domain::Status::Up, "{name}");
    }
    b.close().await.expect("close");
}

/// A ping whose caller does not show the job (a plain-text answer): a backend may
/// acknowledge it without reading the job back, but it must change the job exactly as
/// a ping that asks for it.
fn plain(name: &str, frequency: Option<&str>, at: Option<i64>) -> Ping {
    Ping {
        want_job: false,
        ..ping(name, frequency, at)
    }
}

async fn job(b: &Arc<dyn Backend>, name: &str) -> overdue::domain::Job {
    b.get(&JobName::parse(name).expect("name"))
        .await
        .expect("get")
        .expect("the job exists")
}

pub async fn plain_pings_change_the_job_as_full_ones_do(store: &Store) {
    let b = backend(store, Some(60)).await;
    let new = b
        .record_ping(plain("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    assert!(
        matches!(new, PingOutcome::Recorded(ref j) if j.pings_total == 1),
        "a new job comes back whole: {new:?}"
    );
    let known = b
        .record_ping(plain("j", None, None), t(1_030))
        .await
        .unwrap();
    assert!(
        matches!(known, PingOutcome::Recorded(_) | PingOutcome::Acknowledged),
        "{known:?}"
    );
    let j = job(&b, "j").await;
    assert_eq!((j.pings_total, j.last_ping), (2, t(1_030)));
    assert!(
        b.take_due(ms(1_061_000), 10).await.unwrap().is_empty(),
        "the deadline moved to 1_090"
    );

    // A retry counts once; an older timestamp comes back stale with the job; the same
    // frequency again changes nothing but the ping.
    b.record_ping(plain("j", None, Some(1_030)), t(1_031))
        .await
        .unwrap();
    assert_eq!(job(&b, "j").await.pings_total, 2, "a retry counts once");
    let stale = b
        .record_ping(plain("j", Some("5m"), Some(1_029)), t(1_032))
        .await
        .unwrap();
    assert!(
        matches!(stale, PingOutcome::Stale(ref j) if j.last_ping == t(1_030)),
        "{stale:?}"
    );
    b.record_ping(plain("j", Some("1m"), None), t(1_040))
        .await
        .unwrap();
    let j = job(&b, "j").await;
    assert_eq!((j.pings_total, j.frequency().unwrap().seconds()), (3, 60));

    // A new frequency through a plain ping moves the deadline earlier at once.
    b.record_ping(plain("j", Some("30s"), None), t(1_050))
        .await
        .unwrap();
    assert_eq!(b.next_wake().await, Some(t(1_080)));
    let down = b.take_due(ms(1_081_000), 10).await.unwrap();
    assert_eq!(down.len(), 1, "down at the 30 s deadline");

    // A down job's plain ping recovers it and comes back whole, with its `up` alert.
    let recovered = b
        .record_ping(plain("j", None, None), t(1_100))
        .await
        .unwrap();
    assert!(
        matches!(recovered, PingOutcome::Recovered(ref j) if j.pings_total == 5),
        "{recovered:?}"
    );
    assert_eq!(b.backlog().await.unwrap(), 2);
    b.close().await.unwrap();
}

pub async fn a_late_plain_ping_leaves_its_job_due(store: &Store) {
    let b = backend(store, None).await;
    b.record_ping(plain("j", Some("1m"), Some(800)), t(1_000))
        .await
        .unwrap();
    // Pinged again with a run time whose deadline (970) has already passed.
    b.record_ping(plain("j", None, Some(910)), t(1_000))
        .await
        .unwrap();
    assert_eq!(job(&b, "j").await.last_ping, t(910));
    let due = b.take_due(ms(1_000_001), 10).await.unwrap();
    assert_eq!(due.len(), 1, "due after the sweep: {due:?}");
    assert_eq!(due[0].expected_by_unix, 970);
    b.close().await.unwrap();
}

/// SPEC §5 on every store: the first reminder `--realert-every` after the `down` alert,
/// each next one twice as long after the one before, never longer than `--realert-max`.
pub async fn reminders_back_off_up_to_realert_max(store: &Store) {
    let b = backing_off(store, Some(60), 150).await;
    b.record_ping(ping("j", Some("1m"), None), t(1_000))
        .await
        .unwrap();
    let mut at = 1_060_001;
    let down = b.take_due(ms(at), 10).await.unwrap();
    assert_eq!((down.len(), down[0].alert_count), (1, 1));
    for (count, wait) in [(2, 60), (3, 120), (4, 150), (5, 150)] {
        at += wait * 1_000;
        assert!(
            b.take_due(ms(at), 10).await.unwrap().is_empty(),
            "alert {count} not due {wait} s after the one before"
        );
        at += 1;
        let reminder = b.take_due(ms(at), 10).await.unwrap();
        assert_eq!(
            reminder.iter().map(|a| a.alert_count).collect::<Vec<_>>(),
            [count],
            "alert {count} due just after {wait} s"
        );
    }
    b.close().await.unwrap();
}

/// The same pings, plain for one job and asking for the job for another, leave both
/// jobs equal and due at the same moment. On Redis the plain ones take the ping
/// script's quick path and the others the Rust rules, so this holds the quick path to
/// the rules; there the stored values and wake-ups are compared byte for byte too.
pub async fn plain_and_full_pings_leave_equal_jobs_and_wake_ups(store: &Store) {
    let b = backend(store, Some(60)).await;
    let mut raw = match &store.redis {
        Some(server) => Some(server.connection().await),
        None => None,
    };
    // (frequency, timestamp, arrival), each sent to both jobs.
    let steps: [(Option<&str>, Option<i64>, i64); 7] = [
        (Some("1m"), Some(1_000), 1_000),
        // In time: the deadline moves later and the wake-up may stay early.
        (None, None, 1_010),
        (Some("1m"), Some(1_020), 1_030),
        // A retry, then an older timestamp: neither changes the job.
        (None, Some(1_020), 1_031),
        (None, Some(1_019), 1_032),
        // Late: the deadline (1_085) passed before the ping arrived.
        (None, Some(1_025), 1_100),
        (None, None, 1_101),
    ];
    for (step, (frequency, at, now)) in steps.into_iter().enumerate() {
        b.record_ping(plain("quick", frequency, at), t(now))
            .await
            .unwrap();
        b.record_ping(ping("rules", frequency, at), t(now))
            .await
            .unwrap();
        let mut quick = job(&b, "quick").await;
        let rules = job(&b, "rules").await;
        quick.name = rules.name.clone();
        assert_eq!(quick, rules, "after step {step}");
        if let Some(conn) = raw.as_mut() {
            let mut stored = redis::pipe();
            for name in ["quick", "rules"] {
                stored.cmd("HGET").arg("{overdue}:jobs").arg(name);
                stored.cmd("ZSCORE").arg("{overdue}:wake").arg(name);
            }
            let (quick, quick_wake, rules, rules_wake): (String, Option<i64>, String, Option<i64>) =
                stored.query_async(conn).await.expect("stored values");
            assert_eq!(
                (quick, quick_wake),
                (rules, rules_wake),
                "stored after step {step}"
            );
        }
    }
    assert!(
        b.take_due(ms(1_161_000), 10).await.unwrap().is_empty(),
        "not due at the deadline itself"
    );
    let mut due: Vec<String> = b
        .take_due(ms(1_161_001), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name.as_str().to_owned())
        .collect();
    due.sort();
    assert_eq!(due, ["quick", "rules"]);
    b.close().await.unwrap();
}

/// Two pings of one job queued together (on Redis, one script call): a new frequency,
/// which Redis leaves to the Rust rules, then a plain ping its quick path could take
/// alone. They are applied in the order they came: the second sees the first.
pub async fn a_job_pinged_twice_in_one_batch_keeps_the_order(store: &Store) {
    let b = backend(store, None).await;
    b.record_ping(plain("j", Some("1m"), Some(1_000)), t(1_000))
        .await
        .unwrap();
    let (first, second) = tokio::join!(
        b.record_ping(plain("j", Some("2m"), Some(1_010)), t(1_030)),
        b.record_ping(plain("j", None, Some(1_020)), t(1_030)),
    );
    let first = first.unwrap();
    assert!(
        matches!(first, PingOutcome::Recorded(ref j) if j.frequency().unwrap().seconds() == 120 && j.pings_total == 2),
        "{first:?}"
    );
    let second = second.unwrap();
    assert!(
        matches!(second, PingOutcome::Recorded(_) | PingOutcome::Acknowledged),
        "{second:?}"
    );
    let j = job(&b, "j").await;
    assert_eq!(
        (j.pings_total, j.last_ping, j.frequency().unwrap().seconds()),
        (3, t(1_020), 120)
    );
    b.close().await.unwrap();
}
