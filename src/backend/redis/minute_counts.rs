//! This replica's ping counts per minute, for `pings_per_hour` across replicas.

/// Pings this replica recorded in the current and the previous minute. They reach
/// Redis about once a second, with each look for alerts, so that `pings_per_hour` adds
/// up every replica without a write on the ping path.
pub(super) type MinuteCounts = crate::minute_buckets::MinuteBuckets<2>;
