//! The Lua scripts (in `scripts/`), each with the shared helpers of `common.lua` in
//! front. They keep the data's shape in Redis consistent; what happens to a job is
//! decided in Rust (`store.lua` writes it), except on the quick path of `ping.lua`.

use redis::Script;

/// One script a kind of call.
pub(super) struct Scripts {
    /// Records plain pings of up jobs (the quick path); hands the rest to Rust.
    pub ping: Script,
    /// Writes what Rust decided, compare-and-set on each job's value.
    pub store: Script,
    /// Reads the due jobs for a sweep.
    pub due: Script,
    pub lease: Script,
    pub finish: Script,
    pub delete: Script,
    pub list: Script,
    pub prune: Script,
    /// Reads a page of a job's history.
    pub events: Script,
}

impl Scripts {
    pub fn new() -> Self {
        macro_rules! lua {
            ($file:literal) => {
                Script::new(concat!(
                    include_str!("scripts/common.lua"),
                    include_str!(concat!("scripts/", $file))
                ))
            };
        }
        Self {
            ping: lua!("ping.lua"),
            store: lua!("store.lua"),
            due: lua!("due.lua"),
            lease: lua!("lease.lua"),
            finish: lua!("finish.lua"),
            delete: lua!("delete.lua"),
            list: lua!("list.lua"),
            prune: lua!("prune.lua"),
            events: lua!("events.lua"),
        }
    }

    /// Every script, to load them all at start.
    pub fn all(&self) -> [&Script; 9] {
        [
            &self.ping,
            &self.store,
            &self.due,
            &self.lease,
            &self.finish,
            &self.delete,
            &self.list,
            &self.prune,
            &self.events,
        ]
    }
}
