//! The cron and zone parser of `/ping?schedule=&tz=` (SPEC §11), fed arbitrary
//! expressions, zone names and instants.
//!
//! Properties: no panic; a refusal is one line that shows the accepted form; an accepted
//! schedule's next fire after any instant is strictly after it, and is itself the first
//! fire after the millisecond before it (a fire time, not a point in between).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use overdue::domain::{Schedule, UnixTime};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    expression: &'a str,
    /// Mostly real zone names, so that most inputs get past the zone lookup.
    zone: Zone<'a>,
    /// Milliseconds within 1970–2200.
    at_ms: u64,
}

#[derive(Arbitrary, Debug)]
enum Zone<'a> {
    Default,
    Known(u8),
    Raw(&'a str),
}

const ZONES: [&str; 8] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/St_Johns",
];

fuzz_target!(|input: Input<'_>| {
    let zone = match input.zone {
        Zone::Default => None,
        Zone::Known(i) => Some(ZONES[usize::from(i) % ZONES.len()]),
        Zone::Raw(raw) => Some(raw),
    };
    let schedule = match Schedule::parse(input.expression, zone) {
        Ok(schedule) => schedule,
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains('\n'), "a refusal is one line: {message:?}");
            assert!(
                message.contains("five fields") || message.contains("IANA time zone"),
                "a refusal shows the accepted form: {message:?}"
            );
            return;
        }
    };
    let span = 230 * 365 * 86_400_000;
    let Some(at) = i64::try_from(input.at_ms % span)
        .ok()
        .and_then(UnixTime::from_millis)
    else {
        return;
    };
    if let Some(next) = schedule.next_after(at) {
        assert!(next > at, "{schedule:?}: {next:?} is not after {at:?}");
        let before = UnixTime::from_millis(next.millis() - 1).expect("in range");
        assert_eq!(
            schedule.next_after(before),
            Some(next),
            "{schedule:?}: {next:?} is not a fire time"
        );
    }
});
