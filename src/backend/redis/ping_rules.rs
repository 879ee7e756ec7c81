//! The pings the quick path of `ping.lua` left to Rust: each decided by the rules of
//! `domain::job` on the job's value as the script saw it, and stored with the
//! compare-and-set of [`cas`](super::cas). A job's pings are decided in the order they
//! came, each on the value the one before it leaves; when a job changed meanwhile
//! (another replica, a sweep), it is read again and its pings not yet stored are
//! decided again.

use std::collections::HashMap;

use super::cas::{self, Applied, Change, DownSet, Wake};
use super::codec::{self, Stored};
use super::connection::{key, unavailable, RedisLink};
use crate::backend::{BackendError, Ping, PingOutcome};
use crate::domain::{Alert, Job, PingEffect, Policy, Status, UnixTime};

/// Rounds of read, decide and store before a ping whose job keeps changing fails: each
/// round stores at least the first change of every job nobody else changed meanwhile.
const ROUNDS: usize = 8;

/// What deciding and storing pings needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub max_services: usize,
    /// Events kept per job.
    pub history: usize,
    pub policy: Policy,
}

/// A ping the script did not record, with the job's value as the script saw it.
pub(super) struct Left {
    pub ping: Ping,
    pub now: UnixTime,
    /// The job's packed value; `None` when there was no such job.
    pub value: Option<Vec<u8>>,
}

/// What recording a ping did, as the backend reports it.
pub(super) struct Decided {
    pub outcome: PingOutcome,
    /// The job's wake-up is now the first of all: the sweeper must look again.
    pub earliest: bool,
}

/// A ping's decision on one value of its job.
enum Decision {
    /// Nothing to store: the answer holds as long as the value it was decided on did.
    Answer(Result<PingOutcome, BackendError>),
    /// Stored by `change`; then `outcome`, and `next` is the job's value after it.
    Store {
        change: Box<Change>,
        outcome: PingOutcome,
        next: Vec<u8>,
    },
}

/// Decides and stores `left`, and answers each ping, in order.
pub(super) async fn record(
    core: &RedisLink,
    settings: &Settings,
    left: Vec<Left>,
) -> Vec<Result<Decided, BackendError>> {
    let Settings {
        max_services,
        history,
        ref policy,
    } = *settings;
    let mut answers: Vec<Option<Result<Decided, BackendError>>> =
        left.iter().map(|_| None).collect();
    // Per job, the value its next undecided ping is decided on.
    let mut values: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    for l in &left {
        values
            .entry(l.ping.name.as_str().to_owned())
            .or_insert_with(|| l.value.clone());
    }
    for _ in 0..ROUNDS {
        // Each job's undecided pings, in order, each on the value the one before leaves.
        let mut decided: Vec<(usize, Decision)> = Vec::new();
        let mut next_values = values.clone();
        for (i, l) in left.iter().enumerate() {
            if answers[i].is_some() {
                continue;
            }
            let Some(value) = next_values.get_mut(l.ping.name.as_str()) else {
                continue;
            };
            let decision = decide(&l.ping, l.now, policy, history, value.as_deref());
            if let Decision::Store { next, .. } = &decision {
                *value = Some(next.clone());
            }
            decided.push((i, decision));
        }
        if decided.is_empty() {
            break;
        }
        let changes: Vec<Change> = decided
            .iter()
            .filter_map(|(_, d)| match d {
                Decision::Store { change, .. } => Some(Change::clone(change)),
                Decision::Answer(_) => None,
            })
            .collect();
        let applied = match cas::store(core, max_services, history, &changes).await {
            Ok(applied) => applied,
            Err(e) => {
                return fill(answers, &e);
            }
        };
        // A job's pings after its first change not applied are decided again, on the
        // value read again. After a new job was refused, its later pings in the call
        // are refused too: the job count cannot fall within one atomic call.
        let mut stale_jobs: Vec<String> = Vec::new();
        let mut refused_jobs: Vec<&str> = Vec::new();
        let mut applied = applied.into_iter();
        for (i, decision) in decided {
            let ping = &left[i].ping;
            let name = ping.name.as_str();
            if let Decision::Store { .. } = decision {
                // Consumed in order, whatever becomes of this decision.
                if refused_jobs.contains(&name) || stale_jobs.iter().any(|n| n == name) {
                    applied.next();
                }
            }
            if refused_jobs.contains(&name) {
                let outcome = if ping.frequency.is_none() {
                    PingOutcome::FrequencyRequired
                } else {
                    PingOutcome::Full { max: max_services }
                };
                answers[i] = Some(Ok(Decided {
                    outcome,
                    earliest: false,
                }));
                continue;
            }
            if stale_jobs.iter().any(|n| n == name) {
                continue;
            }
            match decision {
                Decision::Answer(answer) => {
                    answers[i] = Some(answer.map(|outcome| Decided {
                        outcome,
                        earliest: false,
                    }));
                }
                Decision::Store { outcome, next, .. } => match applied.next() {
                    Some(Applied::Done { earliest }) => {
                        values.insert(name.to_owned(), Some(next));
                        answers[i] = Some(Ok(Decided { outcome, earliest }));
                    }
                    Some(Applied::Full) => {
                        answers[i] = Some(Ok(Decided {
                            outcome: PingOutcome::Full { max: max_services },
                            earliest: false,
                        }));
                        refused_jobs.push(name);
                    }
                    Some(Applied::Conflict) | None => stale_jobs.push(name.to_owned()),
                },
            }
        }
        if stale_jobs.is_empty() {
            break;
        }
        match read(core, &stale_jobs).await {
            Ok(read) => values.extend(stale_jobs.into_iter().zip(read)),
            Err(e) => return fill(answers, &e),
        }
    }
    let gave_up = BackendError::Unavailable(
        "the job kept changing while its ping was being recorded".to_owned(),
    );
    fill(answers, &gave_up)
}

/// The answers, with `error` for every ping not answered yet.
fn fill(
    answers: Vec<Option<Result<Decided, BackendError>>>,
    error: &BackendError,
) -> Vec<Result<Decided, BackendError>> {
    answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                let BackendError::Unavailable(reason) = error;
                Err(BackendError::Unavailable(reason.clone()))
            })
        })
        .collect()
}

/// The jobs' packed values now, in one round trip.
async fn read(core: &RedisLink, names: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
    let mut cmd = redis::cmd("HMGET");
    cmd.arg(key("jobs")).arg(names);
    core.query("ping reread", &cmd).await
}

/// `ping` at `now` on the job stored as `value`, by the rules of `domain::job`.
fn decide(
    ping: &Ping,
    now: UnixTime,
    policy: &Policy,
    history: usize,
    value: Option<&[u8]>,
) -> Decision {
    let name = ping.name.as_str();
    let (old, decided) = match value {
        None => match Job::from_first_ping(ping, now, policy, Alert::fresh_id) {
            Some(change) => (None, change),
            None => return Decision::Answer(Ok(PingOutcome::FrequencyRequired)),
        },
        Some(value) => {
            let stored = match codec::unpack(ping.name.clone(), value) {
                Ok(stored) => stored,
                Err(e) => {
                    tracing::error!(job = %ping.name, error = %e, "the job's value in redis does not parse");
                    return Decision::Answer(Err(unavailable(
                        "job",
                        format!("the stored job {} is unreadable", ping.name),
                    )));
                }
            };
            let old = stored.job;
            match old.apply_ping(ping, now, policy, Alert::fresh_id) {
                PingEffect::Stale => return Decision::Answer(Ok(PingOutcome::Stale(old))),
                PingEffect::Retry => return Decision::Answer(Ok(PingOutcome::Recorded(old))),
                PingEffect::Applied(change) => (Some(old), change),
            }
        }
    };
    let stored = Stored::pinged(decided.job, now);
    let next = codec::pack(&stored);
    let job = &stored.job;
    let was_down = old.as_ref().is_some_and(|o| o.status == Status::Down);
    let is_down = job.status == Status::Down;
    let target = job.wake_target(None);
    // An up job whose deadline is still ahead has its wake-up at or before it (one
    // beyond it is only ever a startup grace, given to deadlines already past), so a
    // later wake-up needs no change: the sweep re-arms an early one.
    let keeps_wake = old.as_ref().is_some_and(|old| {
        !was_down && !is_down && {
            let old_deadline = old.deadline();
            old_deadline > now && target.is_some_and(|t| t >= old_deadline)
        }
    });
    let recovered = was_down && !is_down;
    let change = Change {
        new: Some(next.clone()),
        wake: match target {
            Some(target) if !keeps_wake => Wake::NoLaterThan(target),
            _ => Wake::Unchanged,
        },
        down: match (was_down, is_down) {
            (false, true) => DownSet::Add,
            (true, false) => DownSet::Remove,
            _ => DownSet::Unchanged,
        },
        creates: old.is_none(),
        alert: decided.alert.map(|alert| (alert, now)),
        events: cas::lines(&decided.events, history),
        ..Change::on(name, value)
    };
    let outcome = if recovered {
        PingOutcome::Recovered(stored.job)
    } else {
        PingOutcome::Recorded(stored.job)
    };
    Decision::Store {
        change: Box::new(change),
        outcome,
        next: next.into_bytes(),
    }
}
