//! Which jobs one page of the dashboard's job list shows (SPEC §15): filter by status,
//! search by name, sort, and take one page, as one rule that every store feeds.
//!
//! The jobs are offered one at a time and only name handles are kept, so a store can
//! hand over every job it holds without copying any: it reads the page's jobs by name
//! at the end. A first page keeps the best `offset + limit` in a bounded heap; a deep
//! page keeps every match and picks its slice with two linear selections, since a heap
//! of nearly every job costs a sort.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{Job, JobName, Status};

/// The status filter of the job list: the three statuses, and `running` (a job with an
/// open run, SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Up,
    Down,
    Paused,
    Running,
}

impl StatusFilter {
    /// Every filter, in the order the page lists them.
    pub const ALL: [StatusFilter; 4] = [
        StatusFilter::Up,
        StatusFilter::Down,
        StatusFilter::Paused,
        StatusFilter::Running,
    ];

    /// `up`, `down`, `paused` or `running`; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "up" => Some(Self::Up),
            "down" => Some(Self::Down),
            "paused" => Some(Self::Paused),
            "running" => Some(Self::Running),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Paused => "paused",
            Self::Running => "running",
        }
    }

    fn matches(self, job: &Job) -> bool {
        match self {
            Self::Up => job.status == Status::Up,
            Self::Down => job.status == Status::Down,
            Self::Paused => job.status == Status::Paused,
            Self::Running => is_running(job),
        }
    }
}

/// Whether the job has an open run.
pub fn is_running(job: &Job) -> bool {
    job.runs.as_deref().is_some_and(|r| !r.open.is_empty())
}

/// The order of the job list. Ties are broken by name, so every page is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By name, in byte order (as `GET /pings` lists them).
    #[default]
    Name,
    /// Down first, then up, then paused: what needs attention on top.
    Status,
    /// The longest silent first.
    LastPing,
    /// The nearest deadline first.
    Deadline,
}

impl SortKey {
    /// `name`, `status`, `last_ping` or `deadline`; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "name" => Some(Self::Name),
            "status" => Some(Self::Status),
            "last_ping" => Some(Self::LastPing),
            "deadline" => Some(Self::Deadline),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Status => "status",
            Self::LastPing => "last_ping",
            Self::Deadline => "deadline",
        }
    }

    /// The part of the order that comes before the name.
    fn rank(self, job: &Job) -> i64 {
        match self {
            Self::Name => 0,
            Self::Status => match job.status {
                Status::Down => 0,
                Status::Up => 1,
                Status::Paused => 2,
            },
            Self::LastPing => job.last_ping.millis(),
            Self::Deadline => job.deadline().millis(),
        }
    }
}

/// What one page asks for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Names that contain this, ignoring case; `None` or empty: every name.
    pub search: Option<String>,
    pub status: Option<StatusFilter>,
    pub sort: SortKey,
    /// Matching jobs skipped before the page.
    pub offset: usize,
    /// Jobs on the page.
    pub limit: usize,
}

/// How many jobs have each status, among those the search matches (whatever the
/// status filter): the totals above the list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub all: usize,
    pub up: usize,
    pub down: usize,
    pub paused: usize,
    pub running: usize,
}

impl Totals {
    /// The count of `filter` (`None`: all).
    pub fn of(&self, filter: Option<StatusFilter>) -> usize {
        match filter {
            None => self.all,
            Some(StatusFilter::Up) => self.up,
            Some(StatusFilter::Down) => self.down,
            Some(StatusFilter::Paused) => self.paused,
            Some(StatusFilter::Running) => self.running,
        }
    }
}

/// The names one page shows, before its jobs are read.
#[derive(Debug, Default)]
pub struct Chosen {
    /// The page's names, in order.
    pub names: Vec<JobName>,
    /// Jobs that match the search and the filter, on every page.
    pub matched: usize,
    pub totals: Totals,
}

impl Chosen {
    /// The page with its jobs, read by the store in the order of `names` (a job deleted
    /// meanwhile is left out).
    pub fn with_jobs(self, jobs: Vec<Job>) -> Selected {
        Selected {
            jobs,
            matched: self.matched,
            totals: self.totals,
        }
    }
}

/// One page of the selection.
#[derive(Debug, Default)]
pub struct Selected {
    /// The page's jobs, in order.
    pub jobs: Vec<Job>,
    /// Jobs that match the search and the filter, on every page.
    pub matched: usize,
    pub totals: Totals,
}

/// A job kept in the heap, ordered by the page's order.
struct Ranked {
    rank: i64,
    name: JobName,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank
            .cmp(&other.rank)
            .then_with(|| self.name.as_str().cmp(other.name.as_str()))
    }
}

/// Takes the jobs one at a time and keeps what the page needs.
pub struct Selector {
    selection: Selection,
    /// The search, lowercased once.
    needle: Option<String>,
    keep: usize,
    /// The best `keep` jobs so far; the worst of them on top. Used for the first
    /// pages, where `keep` is small.
    heap: BinaryHeap<Ranked>,
    /// Every matching job, for deep pages: one linear selection at the end costs less
    /// than keeping a heap of nearly every job in order.
    every: Vec<Ranked>,
    matched: usize,
    totals: Totals,
}

impl Selector {
    pub fn new(selection: Selection) -> Self {
        let needle = selection
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        let keep = selection.offset.saturating_add(selection.limit);
        Self {
            selection,
            needle,
            keep,
            heap: BinaryHeap::new(),
            every: Vec::new(),
            matched: 0,
            totals: Totals::default(),
        }
    }

    /// Looks at one job; keeps its name if it belongs to the page so far.
    pub fn offer(&mut self, job: &Job) {
        if let Some(needle) = &self.needle {
            if !contains_ignoring_case(job.name.as_str(), needle) {
                return;
            }
        }
        self.totals.all += 1;
        match job.status {
            Status::Up => self.totals.up += 1,
            Status::Down => self.totals.down += 1,
            Status::Paused => self.totals.paused += 1,
        }
        if is_running(job) {
            self.totals.running += 1;
        }
        if !self.selection.status.is_none_or(|f| f.matches(job)) {
            return;
        }
        self.matched += 1;
        if self.keep == 0 {
            return;
        }
        let rank = self.selection.sort.rank(job);
        if self.keep > HEAP_KEEP_MAX {
            self.every.push(Ranked {
                rank,
                name: job.name.clone(),
            });
            return;
        }
        if self.heap.len() < self.keep {
            self.heap.push(Ranked {
                rank,
                name: job.name.clone(),
            });
            return;
        }
        let better = self.heap.peek().is_some_and(|worst| {
            rank.cmp(&worst.rank)
                .then_with(|| job.name.as_str().cmp(worst.name.as_str()))
                == Ordering::Less
        });
        if better {
            self.heap.pop();
            self.heap.push(Ranked {
                rank,
                name: job.name.clone(),
            });
        }
    }

    /// The page's names.
    pub fn finish(self) -> Chosen {
        let Selection { offset, limit, .. } = self.selection;
        let names = if self.keep > HEAP_KEEP_MAX {
            page_of(self.every, offset, limit)
        } else {
            self.heap
                .into_sorted_vec()
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|r| r.name)
                .collect()
        };
        Chosen {
            names,
            matched: self.matched,
            totals: self.totals,
        }
    }
}

/// Past this many kept jobs (`offset + limit`), a page is chosen from every matching job
/// at the end instead of through a heap.
const HEAP_KEEP_MAX: usize = 2_000;

/// The names at `offset..offset + limit` of the order of `every`, with two linear
/// selections and a sort of the page alone.
fn page_of(mut every: Vec<Ranked>, offset: usize, limit: usize) -> Vec<JobName> {
    if offset >= every.len() || limit == 0 {
        return Vec::new();
    }
    if offset > 0 {
        every.select_nth_unstable(offset);
    }
    let tail = &mut every[offset..];
    if tail.len() > limit {
        tail.select_nth_unstable(limit);
    }
    let end = limit.min(tail.len());
    let page = &mut tail[..end];
    page.sort_unstable();
    page.iter().map(|r| r.name.clone()).collect()
}

/// Whether `haystack` contains `needle` (already lowercase), ignoring case; without an
/// allocation for ASCII names, the usual case.
fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        if n.len() > h.len() {
            return false;
        }
        return h
            .windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    haystack.to_lowercase().contains(needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Frequency, UnixTime};

    fn job(name: &str, last_ping: i64, status: Status) -> Job {
        let mut ping = crate::domain::Ping::new(JobName::parse(name).unwrap());
        ping.frequency = Some(Frequency::parse("1h").unwrap());
        let at = UnixTime::from_secs(last_ping).unwrap();
        let policy = crate::domain::Policy {
            realert_every: None,
            realert_max: std::time::Duration::from_secs(60),
            startup_grace: std::time::Duration::from_secs(60),
        };
        let mut job = Job::from_first_ping(&ping, at, &policy, || "id".to_owned())
            .unwrap()
            .job;
        job.status = status;
        job
    }

    fn names(chosen: &Chosen) -> Vec<&str> {
        chosen.names.iter().map(JobName::as_str).collect()
    }

    fn select(jobs: &[Job], selection: Selection) -> Chosen {
        let mut selector = Selector::new(selection);
        for job in jobs {
            selector.offer(job);
        }
        selector.finish()
    }

    #[test]
    fn a_page_is_the_right_slice_of_the_whole_order() {
        let jobs: Vec<Job> = (0..250)
            .rev()
            .map(|i| job(&format!("job-{i:03}"), 1_800_000_000 + i, Status::Up))
            .collect();
        let page = select(
            &jobs,
            Selection {
                offset: 100,
                limit: 100,
                ..Selection::default()
            },
        );
        assert_eq!(page.names.len(), 100);
        assert_eq!(page.names[0].as_str(), "job-100");
        assert_eq!(page.names[99].as_str(), "job-199");
        assert_eq!(page.matched, 250);
        let last = select(
            &jobs,
            Selection {
                sort: SortKey::LastPing,
                offset: 200,
                limit: 100,
                ..Selection::default()
            },
        );
        assert_eq!(last.names.len(), 50);
        assert_eq!(last.names[0].as_str(), "job-200");
    }

    #[test]
    fn search_ignores_case_and_totals_count_what_it_matches() {
        let jobs = vec![
            job("Backup-DB", 1_800_000_000, Status::Down),
            job("backup-files", 1_800_000_000, Status::Up),
            job("report", 1_800_000_000, Status::Paused),
        ];
        let page = select(
            &jobs,
            Selection {
                search: Some("BACKUP".into()),
                status: Some(StatusFilter::Up),
                limit: 100,
                ..Selection::default()
            },
        );
        assert_eq!(names(&page), ["backup-files"]);
        assert_eq!(page.matched, 1);
        assert_eq!(
            page.totals,
            Totals {
                all: 2,
                up: 1,
                down: 1,
                paused: 0,
                running: 0
            }
        );
    }

    #[test]
    fn status_order_puts_down_jobs_first() {
        let jobs = vec![
            job("a", 1_800_000_000, Status::Up),
            job("b", 1_800_000_000, Status::Paused),
            job("c", 1_800_000_000, Status::Down),
        ];
        let page = select(
            &jobs,
            Selection {
                sort: SortKey::Status,
                limit: 100,
                ..Selection::default()
            },
        );
        assert_eq!(names(&page), ["c", "a", "b"]);
    }

    /// The cost of the deepest page of 100,000 jobs; run by hand with `--ignored` to
    /// compare two versions of the selector in the same profile.
    #[test]
    #[ignore]
    fn the_deepest_page_of_many_jobs_timed() {
        let jobs: Vec<Job> = (0..100_000)
            .map(|i| {
                job(
                    &format!("job-{}", (i * 7_919) % 100_000),
                    1_800_000_000,
                    Status::Up,
                )
            })
            .collect();
        for offset in [0, 99_900] {
            let mut times = Vec::new();
            for _ in 0..5 {
                let started = std::time::Instant::now();
                let page = select(
                    &jobs,
                    Selection {
                        offset,
                        limit: 100,
                        ..Selection::default()
                    },
                );
                times.push(started.elapsed());
                assert_eq!(page.matched, 100_000);
            }
            times.sort();
            eprintln!("offset {offset}: median {:?}", times[2]);
        }
    }

    #[test]
    fn first_and_deep_pages_are_slices_of_one_full_sort() {
        // Ties on the last ping (a few values for 3,000 jobs), so names break them.
        let jobs: Vec<Job> = (0..3_000)
            .map(|i| {
                job(
                    &format!("job-{}", (i * 7_919) % 3_000),
                    1_800_000_000 + (i * 31) % 7,
                    Status::Up,
                )
            })
            .collect();
        let mut order: Vec<(i64, &str)> = jobs
            .iter()
            .map(|j| (j.last_ping.millis(), j.name.as_str()))
            .collect();
        order.sort();
        // Offsets on both sides of HEAP_KEEP_MAX, and past the end.
        for offset in [0, 100, 1_850, 1_900, 1_901, 2_000, 2_950, 2_999, 3_000] {
            let page = select(
                &jobs,
                Selection {
                    sort: SortKey::LastPing,
                    offset,
                    limit: 100,
                    ..Selection::default()
                },
            );
            let expected: Vec<&str> = order.iter().skip(offset).take(100).map(|o| o.1).collect();
            assert_eq!(names(&page), expected, "offset {offset}");
            assert_eq!(page.matched, 3_000);
        }
    }

    #[test]
    fn case_folding_works_beyond_ascii() {
        assert!(contains_ignoring_case("Sauvegarde-ÉTÉ", "été"));
        assert!(contains_ignoring_case("NightlyBackup", "backup"));
        assert!(!contains_ignoring_case("abc", "abcd"));
    }
}
