//! Finds jobs whose deadline (or reminder) passed and has the backend raise their
//! alerts. It sleeps until the earliest wake-up in the backend's heap, or until a ping
//! schedules an earlier one, and never scans every job.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, Wakers};
use crate::domain::UnixTime;

/// Alerts raised per call to the backend, so one huge burst is made durable in steps.
const BATCH: usize = 10_000;
/// Floor on a sleep, so a store that keeps failing cannot turn the loop into a spin.
const MIN_SLEEP: Duration = Duration::from_millis(5);

/// Raises every alert due at `now`; returns how many.
pub async fn sweep_once(backend: &dyn Backend, now: UnixTime) -> usize {
    let mut total = 0;
    loop {
        match backend.take_due(now, BATCH).await {
            Ok(alerts) => {
                for alert in &alerts {
                    tracing::info!(
                        job = %alert.name,
                        alert_count = alert.alert_count,
                        overdue_s = alert.overdue_seconds,
                        "job missed its deadline"
                    );
                }
                total += alerts.len();
                if alerts.len() < BATCH {
                    return total;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "sweep could not store its alerts; retrying next tick");
                return total;
            }
        }
    }
}

/// Runs until `shutdown`. `interval` caps every sleep, so a clock jump or a lost
/// wake-up costs at most one interval.
pub async fn run(
    backend: Arc<dyn Backend>,
    signals: Wakers,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        sweep_once(backend.as_ref(), UnixTime::now()).await;
        // A job is due just after its wake-up (see `domain::is_due`).
        let until_next = backend
            .next_wake()
            .await
            .map(|at| UnixTime::now().until(at.plus_millis(1)))
            .unwrap_or(interval);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = signals.sweeper.notified() => {}
            () = tokio::time::sleep(until_next.clamp(MIN_SLEEP, interval)) => {}
        }
    }
}
