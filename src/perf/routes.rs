//! The route series: one per method and route template, with its status counts, in a
//! fixed-size table whose reads are single atomic loads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::series::Series;

/// Route of the series that takes requests if the route table were ever full.
pub(super) const OVERFLOW: &str = "overflow";
/// Route series at most (method × route template); far above what the router has.
pub(super) const ROUTE_CAPACITY: usize = 256;
/// Methods are kept apart up to these; any other method counts as `OTHER`.
pub(super) const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// The series of one method and route template, with its status counts.
pub(super) struct RouteEntry {
    pub(super) method: &'static str,
    pub(super) route: Box<str>,
    /// `"GET /ping"`: the key in the JSON.
    pub(super) key: Box<str>,
    /// A 2xx answer on this route is a recorded ping.
    pub(super) is_ping: bool,
    pub(super) series: Series,
    /// Answers by status, 100 to 599.
    pub(super) statuses: Box<[AtomicU64]>,
}

pub(super) const STATUS_MIN: u16 = 100;
pub(super) const STATUS_SLOTS: usize = 500;

impl RouteEntry {
    pub(super) fn new(method: &'static str, route: &str) -> Self {
        Self {
            method,
            route: route.into(),
            key: format!("{method} {route}").into(),
            is_ping: is_ping(method, route),
            series: Series::default(),
            statuses: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub(super) fn status_counts(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses.iter().enumerate().filter_map(|(i, c)| {
            let n = c.load(Ordering::Relaxed);
            (n > 0).then(|| (STATUS_MIN + i as u16, n))
        })
    }
}

pub(super) fn is_ping(method: &str, route: &str) -> bool {
    route == "/ping" && matches!(method, "GET" | "HEAD" | "POST")
}

/// A fixed-size open-addressing table of route series. A slot is written once (a
/// `OnceLock`), so finding a series is a hash and one or two atomic loads, and two
/// requests racing to create the same series end up with one.
pub(super) struct RouteTable {
    pub(super) slots: Box<[OnceLock<Box<RouteEntry>>]>,
    /// Where requests go if the table were ever full: memory stays bounded.
    pub(super) overflow: Box<RouteEntry>,
}

impl RouteTable {
    pub(super) fn new() -> Self {
        Self {
            slots: (0..ROUTE_CAPACITY).map(|_| OnceLock::new()).collect(),
            overflow: Box::new(RouteEntry::new("OTHER", OVERFLOW)),
        }
    }

    /// The index of the series for `method` and `route`, created on first use.
    pub(super) fn find(&self, method: &'static str, route: &str) -> usize {
        let n = self.slots.len();
        let start = fnv1a(method, route) as usize % n;
        for probe in 0..n {
            let index = (start + probe) % n;
            let entry = self.slots[index].get_or_init(|| Box::new(RouteEntry::new(method, route)));
            if entry.method == method && &*entry.route == route {
                return index;
            }
        }
        n
    }

    pub(super) fn get(&self, index: usize) -> &RouteEntry {
        match self.slots.get(index).and_then(OnceLock::get) {
            Some(entry) => entry,
            None => &self.overflow,
        }
    }

    pub(super) fn entries(&self) -> impl Iterator<Item = &RouteEntry> {
        self.slots
            .iter()
            .filter_map(|s| s.get().map(|e| &**e))
            .chain(std::iter::once(&*self.overflow))
    }
}

pub(super) fn fnv1a(method: &str, route: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in method.bytes().chain([0]).chain(route.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The method as a series label: one of the standard methods, or `OTHER`, so that
/// invented methods cannot grow the table.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    let name = method.as_str();
    METHODS
        .iter()
        .find(|m| **m == name)
        .copied()
        .unwrap_or("OTHER")
}
