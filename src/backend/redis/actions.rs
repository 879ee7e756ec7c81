//! An operator's action on one job (SPEC §12) on Redis: read the job, decide with
//! `Job::act` in Rust, store with the compare-and-set every other decision takes; a
//! job that changed meanwhile is read and decided again.

use super::cas::{self, Applied, Change, StatusSet, Wake};
use super::codec;
use super::connection::{key, unavailable, RedisLink};
use crate::backend::{ActionOutcome, BackendError};
use crate::domain::{AdminAction, JobName, UnixTime};

/// Reads and compare-and-sets before an action fails: the job changes under it only
/// when pings or sweeps of it race with the write.
const ROUNDS: usize = 8;

/// Applies `action` to the job `name` at `now`; `true` with it when the job's wake-up
/// is now the first of all (the sweeper must look again).
pub(super) async fn act(
    core: &RedisLink,
    max_services: usize,
    history: usize,
    name: &JobName,
    action: AdminAction,
    now: UnixTime,
) -> Result<(ActionOutcome, bool), BackendError> {
    for _ in 0..ROUNDS {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(key("jobs")).arg(name.as_str());
        let value: Option<Vec<u8>> = core.query("action read", &cmd).await?;
        let Some(value) = value else {
            return Ok((ActionOutcome::Unknown, false));
        };
        let stored = codec::unpack(name.clone(), &value).map_err(|e| {
            tracing::error!(job = %name, error = %e, "the job's value in redis does not parse");
            unavailable("job", e)
        })?;
        let before = stored.job.status;
        let change = match stored.job.act(action.clone(), now) {
            Ok(change) => change,
            Err(refusal) => return Ok((ActionOutcome::Refused(refusal), false)),
        };
        let job = change.job;
        let write = Change {
            new: Some(codec::pack(&codec::Stored {
                job: job.clone(),
                late: stored.late,
            })),
            wake: job.wake_target(None).map_or(Wake::Remove, Wake::At),
            status: StatusSet::moved(Some(before), job.status),
            events: cas::lines(&change.events, history),
            ..Change::on(name.as_str(), Some(&value))
        };
        let applied = cas::store(core, max_services, history, &[write]).await?;
        if let [Applied::Done { earliest }] = applied[..] {
            return Ok((ActionOutcome::Done(job), earliest));
        }
    }
    Err(BackendError::Unavailable(format!(
        "{name} kept changing while an action was applied; try again"
    )))
}
