//! One conformance suite for every store: the same black-box scenarios, through HTTP
//! against the real app on port 0, run on `memory://`, `sqlite://` (a temporary
//! directory) and `redis://` (a fresh `redis-server` on a free port per test).
//!
//! Each scenario in [`scenarios`] is written once, as a function of the store; the
//! `conformance!` macro below makes one test of it per store. [`outage`] holds what only
//! a networked store can do: be unreachable, freeze, lose its scripts, outlive every
//! replica.

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../health/redis_server.rs"]
mod redis_server;

mod outage;
mod scenarios;
mod support;

/// One test per scenario and store: `memory::name`, `sqlite::name`, `redis::name`.
macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let store = crate::support::Store::memory();
                    crate::scenarios::$scenario(&store).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let store = crate::support::Store::sqlite();
                    crate::scenarios::$scenario(&store).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let store = crate::support::Store::redis().await;
                    crate::scenarios::$scenario(&store).await;
                }
            )*
        }
    };
}

conformance!(
    a_ping_is_recorded_and_shown_as_the_job_object,
    a_new_name_without_a_frequency_is_refused,
    an_older_timestamp_is_refused_and_an_equal_one_is_a_retry,
    a_new_frequency_moves_the_deadline_at_once,
    the_service_cap_answers_507_until_a_job_is_deleted,
    listings_page_by_name_and_filter_by_status,
    counts_show_in_health_and_metrics,
    down_reminder_and_up_alerts_reach_the_webhook_in_order,
    a_failed_delivery_is_retried_with_the_same_id,
    deleting_a_job_drops_its_undelivered_alerts,
    state_survives_a_restart_and_down_jobs_stay_down,
);
