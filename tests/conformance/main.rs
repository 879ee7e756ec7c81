//! One conformance suite for every store: the same black-box scenarios, through HTTP
//! against the real app on port 0, run on `memory://`, `sqlite://` (a temporary
//! directory) and `redis://` (a fresh `redis-server` on a free port per test).
//!
//! Each scenario is written once, as a function of the store: [`scenarios`] through
//! HTTP, [`backend`] through the `Backend` trait with explicit clocks (the local
//! backend's unit tests, for every store). The `conformance!` macro below makes one test
//! of each per store. [`outage`] holds what only a networked store can do: be
//! unreachable, freeze, lose its scripts, outlive every replica.

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../health/redis_server.rs"]
mod redis_server;

mod backend;
mod dashboard;
mod history;
mod outage;
mod pause;
mod runs;
mod scenarios;
mod schedules;
mod support;

/// One test per scenario and store: `TESTS::memory::name`, `TESTS::sqlite::name`,
/// `TESTS::redis::name`, for the scenarios of module `GROUP`.
macro_rules! conformance {
    ($tests:ident => $group:ident: $($scenario:ident),* $(,)?) => {
        mod $tests {
            mod memory {
                $(
                    #[tokio::test]
                    async fn $scenario() {
                        let store = crate::support::Store::memory();
                        crate::$group::$scenario(&store).await;
                    }
                )*
            }
            mod sqlite {
                $(
                    #[tokio::test]
                    async fn $scenario() {
                        let store = crate::support::Store::sqlite();
                        crate::$group::$scenario(&store).await;
                    }
                )*
            }
            mod redis {
                $(
                    #[tokio::test]
                    async fn $scenario() {
                        let store = crate::support::Store::redis().await;
                        crate::$group::$scenario(&store).await;
                    }
                )*
            }
        }
    };
}

conformance!(http => scenarios:
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

conformance!(trait_api => backend:
    a_job_is_due_just_after_its_deadline_and_reminded,
    a_later_ping_defers_the_alert,
    a_shorter_frequency_moves_the_deadline_earlier_at_once,
    recovery_raises_up_after_the_down_alerts,
    stale_timestamps_change_nothing_and_equal_ones_are_retries,
    the_service_cap_refuses_new_names_until_one_is_deleted,
    a_retry_waits_for_its_time_and_counts_its_attempts,
    deleting_a_job_drops_its_alerts,
    concurrent_pings_each_count_once_and_the_cap_holds,
    concurrent_plain_and_full_pings_each_count_once,
    plain_pings_change_the_job_as_full_ones_do,
    a_late_plain_ping_leaves_its_job_due,
    reminders_back_off_up_to_realert_max,
    plain_and_full_pings_leave_equal_jobs_and_wake_ups,
    a_job_pinged_twice_in_one_batch_keeps_the_order,
);

conformance!(run_signals => runs:
    a_start_and_its_success_record_the_run_and_its_duration,
    a_run_id_ends_its_own_run,
    a_fail_alerts_at_once_and_the_next_success_recovers,
    failures_within_the_tolerance_raise_no_alert,
    a_run_longer_than_max_runtime_goes_down_with_run_timeout,
    a_log_changes_nothing_but_the_history,
    missed_deadlines_say_reason_missed,
    bad_run_parameters_are_refused_and_change_nothing,
    an_older_timestamp_is_refused_for_every_state,
);

conformance!(job_history => history:
    every_signal_is_an_event_newest_first,
    history_pages_with_limit_and_before,
    history_keeps_the_last_n_events_and_none_with_zero,
    history_goes_with_its_job,
    alerts_and_their_deliveries_are_events,
    history_survives_a_restart,
    refused_pings_record_nothing,
);

conformance!(cron_schedules => schedules:
    a_daily_schedule_in_berlin_is_due_5m_after_its_next_fire,
    a_local_time_skipped_by_dst_fires_at_the_end_of_the_gap,
    a_local_time_repeated_by_dst_fires_once,
    weekday_schedules_skip_the_weekend_in_their_zone,
    a_job_switches_between_frequency_and_schedule,
    malformed_schedules_and_zones_are_refused_with_the_accepted_form,
    a_schedule_job_goes_down_and_up_with_its_fields_in_the_alerts,
    a_schedule_survives_a_restart,
);

conformance!(pauses => pause:
    a_pause_shows_its_end_in_the_job_listings_and_metrics,
    a_paused_job_raises_no_alert_and_still_records_its_pings,
    resume_brings_a_down_job_up_without_an_up_alert,
    the_end_of_a_window_resumes_the_job_while_the_server_runs,
    an_acknowledgement_stops_reminders_and_the_up_alert_still_goes,
    refused_actions_change_nothing,
    pause_resume_and_ack_are_events,
    a_pause_survives_a_restart_and_a_window_that_ended_meanwhile_resumes,
    a_window_end_is_a_wake_up_and_resume_takes_the_later_deadline,
    resume_and_ack_apply_only_to_paused_and_down_jobs,
);

conformance!(dashboard_pages => dashboard:
    the_jobs_page_selects_the_same_page_on_every_store,
);
