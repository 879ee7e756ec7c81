use super::*;
use crate::domain::{AlertEvent, JobName, Reason};

fn pending(seq: u64) -> PendingAlert {
    let now = UnixTime::now();
    PendingAlert {
        seq,
        alert: Alert {
            id: Alert::fresh_id(),
            event: AlertEvent::Down,
            name: JobName::parse(&format!("job-{seq}")).expect("a name"),
            frequency: Some("1m".to_owned()),
            frequency_seconds: Some(60),
            schedule: None,
            timezone: None,
            grace_seconds: 0,
            last_ping: now.rfc3339(),
            last_ping_unix: now.secs(),
            expected_by: now.rfc3339(),
            expected_by_unix: now.secs(),
            overdue_seconds: 0,
            alert_count: 1,
            reason: Reason::Missed,
            exit_code: None,
            duration_ms: None,
            log: None,
            raised_at_unix: now.secs(),
        },
        channel: "webhook:example.com#0".to_owned(),
        attempts: 0,
        next_attempt_ms: 0,
    }
}

fn seqs(entries: &[PendingAlert]) -> Vec<u64> {
    entries.iter().map(|p| p.seq).collect()
}

#[tokio::test(start_paused = true)]
async fn entries_wait_for_their_channel_in_order_up_to_its_slots_and_a_second() {
    // Three channels: 21 may wait for each.
    let mut waiting = Waiting::new(3);
    for seq in 0..21 {
        assert!(waiting.push(1, pending(seq)).is_none());
    }
    assert_eq!(waiting.push(1, pending(21)).map(|p| p.seq), Some(21));
    assert!(waiting.push(2, pending(22)).is_none());
    assert!(waiting.push(7, pending(23)).is_some(), "no such channel");
    assert!(!waiting.has(0));
    assert_eq!(waiting.pop(1).map(|p| p.seq), Some(0));
    assert!(waiting.expired(1).is_empty());

    tokio::time::advance(Duration::from_millis(500)).await;
    assert!(waiting.push(1, pending(24)).is_none());
    let first = waiting.next_expiry().expect("entries wait");
    tokio::time::advance(DEFER - Duration::from_millis(500)).await;
    assert_eq!(first, tokio::time::Instant::now());
    // The 20 that waited a second go back to the store; the later one stays.
    assert_eq!(seqs(&waiting.expired(1)), (1..21).collect::<Vec<_>>());
    assert_eq!(seqs(&waiting.expired(2)), vec![22]);
    assert_eq!(seqs(&waiting.drain()), vec![24]);
    assert!(waiting.next_expiry().is_none());
}

#[test]
fn channels_share_the_slots_but_each_keeps_a_floor() {
    assert_eq!(channel_slots(0), 64);
    assert_eq!(channel_slots(1), 64);
    assert_eq!(channel_slots(2), 32);
    assert_eq!(channel_slots(3), 21);
    assert_eq!(channel_slots(4), 16);
    assert_eq!(channel_slots(10), 16);
}

#[test]
fn backoff_doubles_from_one_second_up_to_five_minutes() {
    let secs: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
}
