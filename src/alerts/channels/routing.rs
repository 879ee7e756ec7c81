//! A channel's routing, from its URL's fragment: `#jobs=GLOB,GLOB&events=down,reminder,up`.

use crate::domain::{Alert, AlertEvent};

/// Which of a job's alerts a channel takes: `down` (the first of an episode),
/// `reminder` (the next ones while it stays down), `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventFilter {
    pub down: bool,
    pub reminder: bool,
    pub up: bool,
}

impl Default for EventFilter {
    fn default() -> Self {
        Self {
            down: true,
            reminder: true,
            up: true,
        }
    }
}

impl EventFilter {
    /// The events let through, in the order of the URL grammar.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.down, "down"),
            (self.reminder, "reminder"),
            (self.up, "up"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// A job-name pattern: `*` matches any run of characters, `?` exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<char>);

impl Glob {
    /// A non-empty pattern without control characters (job names have none).
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.chars().any(char::is_control) {
            return None;
        }
        Some(Self(raw.chars().collect()))
    }

    pub fn as_string(&self) -> String {
        self.0.iter().collect()
    }

    /// Linear-time wildcard matching: on a mismatch, retry from the last `*` one
    /// character further, so that no pattern can make matching exponential.
    pub fn matches(&self, name: &str) -> bool {
        let pattern = &self.0;
        let text: Vec<char> = name.chars().collect();
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some('*') => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(&c) if c == '?' || c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|&c| c == '*')
    }
}

/// A channel's routing: all jobs and all events unless the fragment narrows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// Empty means every job.
    pub jobs: Vec<Glob>,
    pub events: EventFilter,
}

impl Routing {
    /// Whether an alert of this job and event goes to the channel.
    pub fn matches(&self, alert: &Alert) -> bool {
        let event_on = match alert.event {
            AlertEvent::Up => self.events.up,
            AlertEvent::Down if alert.alert_count > 1 => self.events.reminder,
            AlertEvent::Down => self.events.down,
        };
        event_on
            && (self.jobs.is_empty() || self.jobs.iter().any(|g| g.matches(alert.name.as_str())))
    }

    /// The job patterns as given (`["*"]` when all jobs), for `GET /channels`.
    pub fn job_patterns(&self) -> Vec<String> {
        if self.jobs.is_empty() {
            vec!["*".to_owned()]
        } else {
            self.jobs.iter().map(Glob::as_string).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::parse(p).unwrap()
    }

    #[test]
    fn globs_match_with_star_and_question_mark() {
        assert!(glob("backup-*").matches("backup-db"));
        assert!(glob("backup-*").matches("backup-"));
        assert!(!glob("backup-*").matches("nightly-backup"));
        assert!(glob("*-db").matches("backup-db"));
        assert!(glob("b?ckup").matches("backup"));
        assert!(!glob("b?ckup").matches("bckup"));
        assert!(glob("*").matches("anything at all"));
        assert!(glob("a*b*c").matches("a-x-b-y-c"));
        assert!(!glob("a*b*c").matches("a-x-b-y"));
        assert!(glob("é?").matches("éé"));
    }

    #[test]
    fn pathological_globs_stay_fast() {
        let name = "a".repeat(200);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!glob(&pattern).matches(&name));
    }

    #[test]
    fn empty_or_control_globs_are_refused() {
        assert!(Glob::parse("").is_none());
        assert!(Glob::parse("a\nb").is_none());
    }
}
