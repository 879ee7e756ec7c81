//! Pausing, resuming and acknowledging a job (SPEC §12), as pure functions like the
//! rest of a job's rules: the operator's action, or the end of a pause window found by
//! the sweeper, gives the new job and its events. None of them raises an alert.

use super::{record, Change, Job, Status};
use crate::domain::{Acknowledgement, AdminAction, EventKind, Refusal, UnixTime};

impl Job {
    /// Applies an operator's action at `now`; a refusal changes nothing.
    pub fn act(&self, action: AdminAction, now: UnixTime) -> Result<Change, Refusal> {
        match action {
            AdminAction::Pause { until } => Ok(self.pause(until, now)),
            AdminAction::Resume if self.status == Status::Paused => Ok(self.resume(now)),
            AdminAction::Resume => Err(Refusal::NotPaused(self.status)),
            AdminAction::Acknowledge { note } if self.status == Status::Down => {
                let mut job = self.clone();
                let mut events = Vec::with_capacity(1);
                let note = note.map(|n| n.into_string());
                // The episode's reminders end here; the `up` alert does not depend on
                // them, so it still goes when the job comes back.
                job.next_reminder = None;
                job.set_acknowledged(Some(Acknowledgement {
                    at: now,
                    note: note.clone(),
                }));
                record(&mut job, now, EventKind::Acknowledged { note }, &mut events);
                Ok(Change {
                    job,
                    alert: None,
                    events,
                })
            }
            AdminAction::Acknowledge { .. } => Err(Refusal::NotDown(self.status)),
        }
    }

    /// The job paused until `until` (`None`: until resumed). A down job leaves its
    /// episode: nothing reminds about it while paused, and it comes back up.
    fn pause(&self, until: Option<UnixTime>, now: UnixTime) -> Change {
        let mut job = self.clone();
        let mut events = Vec::with_capacity(1);
        job.status = Status::Paused;
        job.set_paused_until(until);
        job.down_since = None;
        job.next_reminder = None;
        // The pause ends the outage's episode, and its acknowledgement with it.
        job.set_acknowledged(None);
        record(&mut job, now, EventKind::Paused { until }, &mut events);
        Change {
            job,
            alert: None,
            events,
        }
    }

    /// The job resumed at `now`, by the route or at the end of its window: `up`, with
    /// its deadline no earlier than one period and its grace after `now`, so that a
    /// job silent through a maintenance window has its full interval to ping again.
    /// A job that was down comes back without an `up` alert: the pause was the
    /// operator's answer to the outage.
    pub(super) fn resume(&self, now: UnixTime) -> Change {
        let mut job = self.clone();
        let mut events = Vec::with_capacity(1);
        job.status = Status::Up;
        job.set_paused_until(None);
        job.down_since = None;
        job.next_reminder = None;
        job.episode_alerts = 0;
        job.set_acknowledged(None);
        let floor = now.plus(job.period_after(now)).plus(job.grace.seconds());
        let own = job.own_deadline();
        job.set_resume_deadline((floor > own).then_some(floor));
        // A run that ran out of time during the pause is not alerted afterwards.
        if let Some(runs) = job.runs.as_deref_mut() {
            runs.expire(now);
        }
        record(&mut job, now, EventKind::Resumed, &mut events);
        Change {
            job,
            alert: None,
            events,
        }
    }
}

#[cfg(test)]
mod tests;
