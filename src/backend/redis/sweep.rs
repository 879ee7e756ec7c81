//! The sweep on Redis: read the jobs whose wake-up passed (`due.lua`), decide in Rust
//! by the rules of `domain::job` (the startup grace, a re-arm, falling due with its
//! alert), and store every decision of a chunk with one compare-and-set call. Whichever
//! replica stores a job's change first raises its alert; the others' changes of it are
//! refused, their alerts dropped, and the job read again at their next sweep.

use redis::Value;

use super::cas::{self, Applied, Change, StatusSet, Wake};
use super::codec;
use super::connection::{evalsha, key, millis, unavailable, RedisLink};
use super::decode;
use super::LIVENESS_GAP;
use crate::backend::BackendError;
use crate::domain::{is_due, Alert, JobName, Policy, UnixTime};

/// Due jobs read and stored per call, so one huge burst never blocks Redis for long.
const CHUNK: usize = 1_000;

/// Raises the alerts of jobs due at `now`, at most about `limit`.
pub(super) async fn take_due(
    core: &RedisLink,
    policy: &Policy,
    max_services: usize,
    history: usize,
    now: UnixTime,
    limit: usize,
) -> Result<Vec<Alert>, BackendError> {
    let mut raised = Vec::new();
    loop {
        let chunk = limit.saturating_sub(raised.len()).min(CHUNK);
        if chunk == 0 {
            break;
        }
        let due = read_due(core, now, chunk).await?;
        let examined = due.names.len();
        let mut changes = Vec::with_capacity(examined);
        let mut unreadable = Vec::new();
        for (name, value) in due.names.iter().zip(&due.values) {
            let (change, bad) = decide(name, value.as_deref(), due.resumed, now, policy, history);
            if bad {
                unreadable.push(changes.len());
            }
            changes.push(change);
        }
        let applied = cas::store(core, max_services, history, &changes).await?;
        let mut stored = 0;
        for (i, (change, outcome)) in changes.into_iter().zip(applied).enumerate() {
            if !matches!(outcome, Applied::Done { .. }) {
                continue;
            }
            stored += 1;
            if unreadable.contains(&i) {
                tracing::error!(
                    job = %change.name,
                    "the job's value in redis does not parse; it is not scheduled any more"
                );
            }
            raised.extend(change.alert.map(|(alert, _)| alert));
        }
        // Fewer due than asked for means none is left; none stored means other
        // replicas are sweeping the same jobs, and the next sweep reads them again.
        if examined < chunk || stored == 0 {
            break;
        }
    }
    Ok(raised)
}

/// What `due.lua` read.
struct Due {
    names: Vec<String>,
    values: Vec<Option<Vec<u8>>>,
    /// When the deployment last resumed after no replica ran.
    resumed: Option<UnixTime>,
}

async fn read_due(core: &RedisLink, now: UnixTime, limit: usize) -> Result<Due, BackendError> {
    let mut cmd = evalsha(&core.scripts.due, key("wake"));
    cmd.arg(now.millis()).arg(limit).arg(millis(LIVENESS_GAP));
    let reply = core.eval_change("sweep", &core.scripts.due, &cmd).await?;
    let bad = |what: &str| unavailable("sweep reply", what);
    let items = decode::array(&reply).ok_or_else(|| bad("not an array"))?;
    let names: Vec<String> = items
        .first()
        .and_then(decode::array)
        .ok_or_else(|| bad("no names"))?
        .iter()
        .map(|name| decode::text(name).map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("a name is not text"))?;
    let values: Vec<Option<Vec<u8>>> = items
        .get(1)
        .and_then(decode::array)
        .ok_or_else(|| bad("no values"))?
        .iter()
        .map(|value| decode::bytes(value).map(<[u8]>::to_vec))
        .collect();
    if values.len() != names.len() {
        return Err(bad("not one value a name"));
    }
    let resumed = match items.get(2) {
        None | Some(Value::Nil) => None,
        Some(value) => decode::int(value).and_then(UnixTime::from_millis),
    };
    Ok(Due {
        names,
        values,
        resumed,
    })
}

/// The change a sweep at `now` makes to job `name`, stored as `value`; `true` with it
/// when the value does not parse (the job then leaves the schedule).
fn decide(
    name: &str,
    value: Option<&[u8]>,
    resumed: Option<UnixTime>,
    now: UnixTime,
    policy: &Policy,
    history: usize,
) -> (Change, bool) {
    let unchanged = Change::on(name, value);
    let Some(value) = value else {
        // Deleted meanwhile: nothing left to wake for.
        return (
            Change {
                wake: Wake::Remove,
                ..unchanged
            },
            false,
        );
    };
    let parsed = JobName::parse(name)
        .map_err(|e| e.to_string())
        .and_then(|name| codec::unpack(name, value));
    let stored = match parsed {
        Ok(stored) => stored,
        Err(_) => {
            return (
                Change {
                    wake: Wake::Remove,
                    ..unchanged
                },
                true,
            )
        }
    };
    let job = &stored.job;
    // Fell due while no replica was running: the startup grace, unless the last ping
    // was already late when a replica recorded it.
    let not_before = resumed
        .filter(|_| !stored.late)
        .and_then(|resumed| job.startup_not_before(resumed, policy));
    let wake = match job.wake_target(not_before) {
        None => Wake::Remove,
        Some(target) if !is_due(target, now) => Wake::At(target),
        Some(target) => {
            let Some(change) = job.fall_due(now, not_before, policy, Alert::fresh_id()) else {
                return (
                    Change {
                        wake: Wake::At(target),
                        ..unchanged
                    },
                    false,
                );
            };
            let events = cas::lines(&change.events, history);
            let (after, alert) = (change.job, change.alert);
            let status = StatusSet::moved(Some(job.status), after.status);
            let wake = after.wake_target(None).map_or(Wake::Remove, Wake::At);
            let new = codec::pack(&codec::Stored {
                job: after,
                late: false,
            });
            return (
                Change {
                    new: Some(new),
                    wake,
                    status,
                    alert: alert.map(|alert| (alert, now)),
                    events,
                    ..unchanged
                },
                false,
            );
        }
    };
    (Change { wake, ..unchanged }, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;
    use std::time::Duration;

    fn policy() -> Policy {
        Policy {
            realert_every: Some(Duration::from_secs(60)),
            realert_max: Duration::from_secs(3_600),
            startup_grace: Duration::from_secs(900),
        }
    }

    fn t(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs).unwrap()
    }

    #[test]
    fn a_due_job_falls_due_and_a_later_one_is_re_armed() {
        let up = b"1000000|1||||0|0|60|0|1m";
        let (change, bad) = decide("j", Some(up), None, t(1_061), &policy(), 100);
        assert!(!bad);
        assert_eq!(change.status, StatusSet::Into(Status::Down));
        assert_eq!(change.wake, Wake::At(t(1_121)));
        assert_eq!(change.expected.as_deref(), Some(&up[..]));
        let (alert, raised) = change.alert.expect("a down alert");
        assert_eq!((alert.alert_count, raised), (1, t(1_061)));
        let (re_armed, _) = decide("j", Some(up), None, t(1_030), &policy(), 100);
        assert_eq!(re_armed.wake, Wake::At(t(1_060)));
        assert!(re_armed.new.is_none() && re_armed.alert.is_none());
    }

    #[test]
    fn the_startup_grace_spares_jobs_that_were_not_late_when_pinged() {
        let resumed = Some(t(5_000));
        let on_time = b"1000000|1||||0|0|60|0|1m";
        let (change, _) = decide("j", Some(on_time), resumed, t(5_001), &policy(), 100);
        assert_eq!(change.wake, Wake::At(t(5_060)), "min(60 s, 900 s) after");
        let late = b"1000000|1|1|||0|0|60|0|1m";
        let (change, _) = decide("j", Some(late), resumed, t(5_001), &policy(), 100);
        assert!(change.alert.is_some(), "late when pinged: no grace");
    }

    #[test]
    fn gone_and_unreadable_jobs_leave_the_schedule() {
        let (gone, bad) = decide("j", None, None, t(1), &policy(), 100);
        assert_eq!((gone.wake, gone.expected, bad), (Wake::Remove, None, false));
        let (unreadable, bad) = decide("j", Some(b"junk"), None, t(1), &policy(), 100);
        assert_eq!((unreadable.wake, bad), (Wake::Remove, true));
        assert!(unreadable.new.is_none());
    }
}
