//! What an operator did to a job (SPEC §12): a pause with its end, an acknowledgement
//! of its outage. Kept apart from the job's own state and boxed, since few jobs have
//! either at any time.

use super::UnixTime;

/// An outage acknowledged by an operator: reminders stop until the job comes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub at: UnixTime,
    pub note: Option<String>,
}

/// A job's pause end and acknowledgement; a job with neither has none of this.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interventions {
    /// When a paused job resumes by itself; `None` while not paused or paused without
    /// an end (the status tells which).
    pub paused_until: Option<UnixTime>,
    /// Set by `ack` on a down job, cleared when it comes up.
    pub acknowledged: Option<Acknowledgement>,
}

impl Interventions {
    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.paused_until.is_none() && self.acknowledged.is_none()
    }
}
