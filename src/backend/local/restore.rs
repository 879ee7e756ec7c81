//! Taking stored jobs back into the registry at start: down jobs stay down, late ones
//! get the startup grace, and the schedule, names, counts and pending alerts are
//! published once every job is in.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use super::schedule::{Entry, WakeUp};
use super::LocalBackend;
use crate::backend::PendingAlert;
use crate::domain::{Job, JobName, Status, UnixTime};
use crate::sync::write;

/// What the start gathers while stored jobs are put into the registry.
#[derive(Default)]
pub(super) struct Restoring {
    pub(super) wakeups: Vec<WakeUp>,
    pub(super) names: BTreeSet<JobName>,
    pub(super) down: usize,
}

impl LocalBackend {
    /// Fills the registry from stored state (see [`Self::restore_job`]).
    #[cfg(test)]
    pub(super) fn restore(
        &self,
        jobs: Vec<Job>,
        alerts: Vec<PendingAlert>,
        max_seq: u64,
        start: UnixTime,
    ) {
        let mut restoring = Restoring::default();
        for job in jobs {
            self.restore_job(job, start, &mut restoring);
        }
        self.finish_restore(restoring, alerts, max_seq);
    }

    /// Puts one stored job into the registry. Down jobs stay down; up jobs whose
    /// deadline passed while overdue was stopped get the startup grace.
    pub(super) fn restore_job(&self, job: Job, start: UnixTime, restoring: &mut Restoring) {
        let (job, not_before) = job.restore(start, &self.options.policy());
        if job.status == Status::Down {
            restoring.down += 1;
        }
        let mut entry = Entry::new(job, not_before);
        entry.scheduled = entry.wake_target();
        if let Some(at) = entry.scheduled {
            restoring
                .wakeups
                .push(std::cmp::Reverse((at, entry.job.name.clone())));
        }
        restoring.names.insert(entry.job.name.clone());
        self.jobs.insert(entry.job.name.clone(), Box::new(entry));
    }

    /// Publishes what [`Self::restore_job`] gathered, and the pending alerts.
    pub(super) fn finish_restore(
        &self,
        restoring: Restoring,
        alerts: Vec<PendingAlert>,
        max_seq: u64,
    ) {
        let Restoring {
            wakeups,
            names,
            down,
        } = restoring;
        self.len.store(names.len(), Ordering::SeqCst);
        self.down.store(down, Ordering::SeqCst);
        *write(&self.names) = names;
        self.schedule.replace(wakeups);
        let mut outbox = self.alerts.lock();
        for alert in alerts {
            outbox.push(alert);
        }
        self.seq.store(max_seq, Ordering::SeqCst);
    }
}
