//! What an operator did to a job (SPEC §12): a pause with its end, an acknowledgement
//! of its outage, the deadline a resume gave it. Kept apart from the job's own state and boxed, since few jobs have
//! either at any time.

use super::UnixTime;

/// An outage acknowledged by an operator: reminders stop until the job comes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub at: UnixTime,
    pub note: Option<String>,
}

/// A job's pause end, acknowledgement and resume deadline; a job with none of them
/// has none of this.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interventions {
    /// When a paused job resumes by itself; `None` while not paused or paused without
    /// an end (the status tells which).
    pub paused_until: Option<UnixTime>,
    /// Set by `ack` on a down job, cleared when it comes up.
    pub acknowledged: Option<Acknowledgement>,
    /// Set by a resume when resume time + period + grace is later than the job's own
    /// deadline; cleared by the first ping whose own deadline is no earlier.
    pub resume_deadline: Option<UnixTime>,
}

impl Interventions {
    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.paused_until.is_none() && self.acknowledged.is_none() && self.resume_deadline.is_none()
    }
}
