//! An operator's action on one job (SPEC §12) in the local store: lock, apply
//! `Job::act`, persist, schedule, like every other change.

use super::journal::Op;
use super::LocalBackend;
use crate::backend::{ActionOutcome, BackendError, StoreOp};
use crate::domain::{AdminAction, JobName, UnixTime};

impl LocalBackend {
    /// Applies `action` to the job `name` at `now`; answers once it is durable.
    pub(super) async fn act_on(
        &self,
        name: &JobName,
        action: AdminAction,
        now: UnixTime,
    ) -> Result<ActionOutcome, BackendError> {
        let started = self.memory_timer();
        let (job, durable) = {
            let Some(mut entry) = self.jobs.get_mut(name) else {
                return Ok(ActionOutcome::Unknown);
            };
            let change = match entry.job.act(action, now) {
                Ok(change) => change,
                Err(refusal) => return Ok(ActionOutcome::Refused(refusal)),
            };
            let (stored, kept) = self.route_events(change.events)?;
            // An action raises no alert: nothing for the outbox.
            let ops = vec![Op::Upsert(change.job.clone(), stored)];
            let durable = self.persist(name, ops, Vec::new())?;
            self.recount(Some(entry.job.status), Some(change.job.status));
            entry.job = change.job.clone();
            entry.not_before = None;
            entry.remember(kept, self.options.history);
            self.schedule.arm(&mut entry);
            (change.job, durable)
        };
        self.store_timer.finish(StoreOp::Upsert, started);
        durable.wait().await?;
        Ok(ActionOutcome::Done(job))
    }
}
