//! Cron schedules in IANA time zones (SPEC §11): the grammar, and the first fire time
//! strictly after an instant, with the daylight-saving rules written there.
//!
//! Parsing and matching are croner's and the zone rules jiff's bundled IANA database;
//! this file narrows the grammar to the five fields and macros of the SPEC, refuses an
//! expression that can never fire without searching for it, and fires a local time that
//! a clock change repeats only once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::{ParseError, UnixTime};
use crate::sync::lock;

/// What a schedule looks like, for the messages that refuse one.
const SCHEDULE_FORMAT: &str = "expected five fields (minute hour day-of-month month \
     day-of-week) with *, lists 1,15, ranges 1-5, steps */10 or 0-30/5, names JAN-DEC and \
     SUN-SAT, day of week 0-7, or a macro: @yearly, @annually, @monthly, @weekly, @daily, \
     @midnight, @hourly";

/// The zone of a schedule sent without `tz`.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A cron expression in a time zone: when a job is expected to run.
#[derive(Clone)]
pub struct Schedule {
    /// The expression as the job sent it, trimmed.
    expression: Arc<str>,
    /// The zone's IANA name as the job sent it (`UTC` when it sent none).
    timezone: Arc<str>,
    cron: Arc<Cron>,
    zone: TimeZone,
}

/// How many parsed schedules [`Schedule::parse`] keeps; past it, it starts over.
const PARSED_CAP: usize = 4_096;

/// Schedules parsed lately, by zone name and expression as sent. A job sends the same
/// pair with every ping, and Redis reads a job's schedule back with every change, while
/// parsing one (the cron pattern, the zone's rules) costs far more than a lookup. The
/// key is `<zone>\0<expression>`: only valid pairs are kept, and neither part of a valid
/// pair holds a NUL, so no two pairs share a key.
static PARSED: OnceLock<Mutex<HashMap<String, Schedule>>> = OnceLock::new();

impl Schedule {
    /// Parses `expression` in the zone named `timezone` (`UTC` when `None`).
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Self, ParseError> {
        let key = format!("{}\0{expression}", timezone.unwrap_or(DEFAULT_TIMEZONE));
        let parsed = PARSED.get_or_init(Mutex::default);
        if let Some(schedule) = lock(parsed).get(&key) {
            return Ok(schedule.clone());
        }
        let schedule = Self::parse_uncached(expression, timezone)?;
        let mut parsed = lock(parsed);
        if parsed.len() >= PARSED_CAP {
            parsed.clear();
        }
        parsed.insert(key, schedule.clone());
        Ok(schedule)
    }

    fn parse_uncached(expression: &str, timezone: Option<&str>) -> Result<Self, ParseError> {
        let trimmed = expression.trim();
        let invalid = |reason: &str| ParseError::Schedule {
            value: expression.to_owned(),
            reason: format!("{reason}; {SCHEDULE_FORMAT}"),
        };
        let fields = expand_macro(trimmed).map_err(|r| invalid(&r))?;
        check_fields(&fields).map_err(|r| invalid(&r))?;
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&fields.join(" "))
            .map_err(|e| invalid(&e.to_string().to_lowercase()))?;
        if never_fires(&fields) {
            return Err(invalid("it never fires (no month has that day)"));
        }
        let name = timezone.map(str::trim).unwrap_or(DEFAULT_TIMEZONE);
        let zone = zone(name)?;
        Ok(Self {
            expression: Arc::from(trimmed),
            timezone: Arc::from(name),
            cron: Arc::new(cron),
            zone,
        })
    }

    /// The expression as sent.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The zone's IANA name.
    pub fn timezone(&self) -> &str {
        &self.timezone
    }

    /// The first fire time strictly after `after`. A local time that a clock change
    /// skips fires at the first instant after the gap; one that it repeats fires once,
    /// at its first occurrence. `None` only beyond the representable range.
    pub fn next_after(&self, after: UnixTime) -> Option<UnixTime> {
        let mut from = Timestamp::from_millisecond(after.millis())
            .ok()?
            .to_zoned(self.zone.clone());
        // The second occurrences of repeated local times are skipped. A fold repeats at
        // most a day of local time (real ones an hour or two), and fire times are
        // whole minutes, so this bound is never the one that ends the search.
        for _ in 0..=MINUTES_A_DAY {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            if !is_repeat(&next) {
                return UnixTime::from_millis(next.timestamp().as_millisecond());
            }
            from = next;
        }
        None
    }

    /// The wait from `after` to the next fire time after it, in whole seconds rounded
    /// up: a schedule's period at that moment.
    pub fn period_after(&self, after: UnixTime) -> Option<u64> {
        let next = self.next_after(after)?;
        Some(u64::try_from((next.millis() - after.millis() + 999) / 1000).unwrap_or(0))
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?} in {})", self.expression, self.timezone)
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}

impl Eq for Schedule {}

/// The zone named `name`, from the IANA database bundled in the binary.
fn zone(name: &str) -> Result<TimeZone, ParseError> {
    let unknown = || ParseError::TimeZone(name.to_owned());
    // jiff accepts some forms that are not zone names (fixed offsets, POSIX TZ strings);
    // the SPEC asks for IANA names.
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b))
    {
        return Err(unknown());
    }
    jiff::tz::db().get(name).map_err(|_| unknown())
}

/// Whether `at` is the second occurrence of its local time, in the later half of a
/// repeated hour.
/// Minutes in a day: more fire times than any fold of a zone can repeat.
const MINUTES_A_DAY: usize = 24 * 60;

fn is_repeat(at: &Zoned) -> bool {
    let ambiguous = at.time_zone().to_ambiguous_zoned(at.datetime());
    ambiguous.is_ambiguous()
        && ambiguous
            .earlier()
            .is_ok_and(|first| first.timestamp() < at.timestamp())
}

/// The five fields of `expression`, a macro replaced by its fields.
fn expand_macro(expression: &str) -> Result<Vec<String>, String> {
    if let Some(name) = expression.strip_prefix('@') {
        let fields = match name.to_ascii_lowercase().as_str() {
            "yearly" | "annually" => "0 0 1 1 *",
            "monthly" => "0 0 1 * *",
            "weekly" => "0 0 * * 0",
            "daily" | "midnight" => "0 0 * * *",
            "hourly" => "0 * * * *",
            _ => return Err(format!("unknown macro {:?}", format!("@{name}"))),
        };
        return Ok(fields.split(' ').map(str::to_owned).collect());
    }
    let fields: Vec<String> = expression.split_whitespace().map(str::to_owned).collect();
    if fields.len() != 5 {
        return Err(format!("{} fields instead of 5", fields.len()));
    }
    Ok(fields)
}

/// Refuses what croner accepts beyond the SPEC's grammar (`?`, `L`, `W`, `#`, seconds,
/// years) before it sees the expression.
fn check_fields(fields: &[String]) -> Result<(), String> {
    const NAMES: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];
    for (field, name) in fields.iter().zip(NAMES) {
        let allowed = |c: char| c.is_ascii_digit() || "*,-/".contains(c);
        let letters_allowed = matches!(name, "month" | "day of week");
        let ok = field
            .chars()
            .all(|c| allowed(c) || (letters_allowed && c.is_ascii_alphabetic()));
        if !ok {
            return Err(format!("the {name} field {field:?} is not understood"));
        }
        if letters_allowed {
            for word in field
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| !w.is_empty())
            {
                if word.len() != 3 {
                    return Err(format!(
                        "the {name} field {field:?} has an unknown name {word:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether the fields can never match: with day of week unrestricted, every day of
/// month named lies beyond the length of every month named (`0 0 30 2 *`). With a
/// restricted day of week the job also fires on those days (the Vixie rule), so it
/// always fires.
fn never_fires(fields: &[String]) -> bool {
    let (dom, month, dow) = (&fields[2], &fields[3], &fields[4]);
    if dow != "*" || dom.contains('*') {
        return false;
    }
    let Some(days) = values(dom, 1, 31) else {
        return false;
    };
    let Some(months) = values(&month.to_ascii_uppercase(), 1, 12) else {
        return false;
    };
    let longest = |m: u32| [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(m - 1) as usize];
    let shortest_day = days.iter().min().copied().unwrap_or(1);
    months.iter().all(|m| shortest_day > longest(*m))
}

/// The numbers a field of numbers, ranges and steps names, within `min..=max`; `None`
/// for a field with a wildcard or names (those always include a possible value here).
fn values(field: &str, min: u32, max: u32) -> Option<Vec<u32>> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let number = |s: &str| -> Option<u32> {
        s.parse()
            .ok()
            .or_else(|| MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1))
    };
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok()?.max(1)),
            None => (part, 1),
        };
        let (low, high) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None if range == "*" => (min, max),
            None => {
                let n = number(range)?;
                (n, if step > 1 { max } else { n })
            }
        };
        out.extend((low..=high.min(max)).step_by(step as usize));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> UnixTime {
        UnixTime::parse(rfc3339).unwrap()
    }

    fn next(expr: &str, tz: &str, after: &str) -> String {
        let schedule = Schedule::parse(expr, Some(tz)).unwrap();
        let next = schedule.next_after(at(after)).unwrap();
        Timestamp::from_millisecond(next.millis())
            .unwrap()
            .to_zoned(zone(tz).unwrap())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    #[test]
    fn every_fire_of_a_repeated_hour_fires_once_however_many_there_are() {
        // Berlin falls back at 03:00 CEST on 2026-10-25: 02:00-02:59 happen twice.
        assert_eq!(
            next("*/5 * * * *", "Europe/Berlin", "2026-10-25T00:55:00Z"),
            "2026-10-25T03:00:00+01:00"
        );
        assert_eq!(
            next("* * * * *", "Europe/Berlin", "2026-10-25T00:59:00Z"),
            "2026-10-25T03:00:00+01:00"
        );
        // Troll (Antarctica) falls back two hours, from +02:00 to +00:00 at 01:00 UTC:
        // 01:00-02:59 local happen twice, so 120 fire times in a row are skipped.
        assert_eq!(
            next("*/1 * * * *", "Antarctica/Troll", "2026-10-25T00:59:00Z"),
            "2026-10-25T03:00:00+00:00"
        );
    }

    #[test]
    fn the_grammar_takes_fields_lists_ranges_steps_names_and_macros() {
        for expr in [
            "*/5 * * * *",
            "0 3 * * 1-5",
            "0-30/5 1,15 1 JAN-DEC SUN-SAT",
            "0 0 * * 7",
            "0 0 * * mon",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@HOURLY",
        ] {
            assert!(Schedule::parse(expr, None).is_ok(), "{expr}");
        }
        for bad in [
            "",
            "* * * *",
            "0 0 * * * *",
            "@reboot",
            "61 * * * *",
            "0 24 * * *",
            "0 0 L * *",
            "0 0 ? * *",
            "0 0 * * 1#2",
            "0 0 15W * *",
            "0 0 * JANUARY *",
            "x * * * *",
        ] {
            let err = Schedule::parse(bad, None).expect_err(bad).to_string();
            assert!(err.contains("five fields"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_expression_that_never_fires_is_refused_at_once() {
        let started = std::time::Instant::now();
        for never in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30-31 FEB *"] {
            let err = Schedule::parse(never, None).expect_err(never).to_string();
            assert!(err.contains("never fires"), "{never}: {err}");
        }
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
        assert!(
            Schedule::parse("0 0 29 2 *", None).is_ok(),
            "leap years have it"
        );
        assert!(
            Schedule::parse("0 0 30 2 1", None).is_ok(),
            "Mondays in February"
        );
    }

    #[test]
    fn zones_are_iana_names_and_utc_by_default() {
        assert_eq!(Schedule::parse("@daily", None).unwrap().timezone(), "UTC");
        for ok in [
            "Europe/Berlin",
            "America/New_York",
            "Australia/Sydney",
            "UTC",
        ] {
            assert!(Schedule::parse("@daily", Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "Mars/Olympus",
            "",
            "+02:00",
            "EST5EDT,M3.2.0,M11.1.0",
            "../etc",
        ] {
            let err = Schedule::parse("@daily", Some(bad))
                .expect_err(bad)
                .to_string();
            assert!(err.contains("IANA"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_next_fire_is_strictly_after() {
        assert_eq!(
            next("0 3 * * *", "UTC", "2026-12-07T03:00:00Z"),
            "2026-12-08T03:00:00+00:00"
        );
        assert_eq!(
            next("0 3 * * *", "UTC", "2026-12-07T02:59:59Z"),
            "2026-12-07T03:00:00+00:00"
        );
        assert_eq!(
            next("*/5 * * * *", "UTC", "2026-12-07T10:04:59Z"),
            "2026-12-07T10:05:00+00:00"
        );
        assert_eq!(
            next("0 3 * * 1-5", "Europe/Berlin", "2026-12-04T03:00:00Z"),
            "2026-12-07T03:00:00+01:00"
        );
    }

    #[test]
    fn either_day_field_matching_is_enough() {
        // The 1st of the month or any Monday (Vixie cron).
        assert_eq!(
            next("0 0 1 * MON", "UTC", "2026-06-01T00:00:00Z"),
            "2026-06-08T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 1 * MON", "UTC", "2026-06-29T00:00:00Z"),
            "2026-07-01T00:00:00+00:00"
        );
    }

    #[test]
    fn a_skipped_local_time_fires_at_the_first_instant_after_the_gap() {
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z"),
            "2026-03-29T03:00:00+02:00"
        );
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z"),
            "2026-03-30T02:30:00+02:00"
        );
        // New York springs forward on 2026-03-08 at 02:00.
        assert_eq!(
            next("15 2 * * *", "America/New_York", "2026-03-07T12:00:00Z"),
            "2026-03-08T03:00:00-04:00"
        );
    }

    #[test]
    fn a_refusal_is_one_line_even_for_control_characters() {
        for (expr, tz) in [
            ("@\nweekly", None),
            ("@x\ry", None),
            ("0 3 * * MO\nN", None),
            ("0 3 * * *", Some("Europe/\nBerlin")),
        ] {
            let message = Schedule::parse(expr, tz).expect_err(expr).to_string();
            assert!(
                !message.contains('\n') && !message.contains('\r'),
                "{message:?}"
            );
        }
    }

    #[test]
    fn a_repeated_local_time_fires_once_at_its_first_occurrence() {
        // Berlin falls back on 2026-10-25 at 03:00 CEST to 02:00 CET.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z"),
            "2026-10-25T02:30:00+02:00"
        );
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-10-25T00:31:00Z"),
            "2026-10-26T02:30:00+01:00"
        );
        // Every half hour: 02:00 and 02:30 come once, in summer time.
        assert_eq!(
            next("*/30 * * * *", "Europe/Berlin", "2026-10-25T00:10:00Z"),
            "2026-10-25T02:30:00+02:00"
        );
        assert_eq!(
            next("*/30 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z"),
            "2026-10-25T03:00:00+01:00"
        );
    }

    #[test]
    fn southern_hemisphere_zones_change_the_other_way() {
        // Sydney: summer time starts 2026-10-04 02:00 → 03:00; ends 2026-04-05 03:00 → 02:00.
        assert_eq!(
            next("30 2 * * *", "Australia/Sydney", "2026-10-03T00:00:00Z"),
            "2026-10-04T03:00:00+11:00"
        );
        assert_eq!(
            next("30 2 * * *", "Australia/Sydney", "2026-04-04T00:00:00Z"),
            "2026-04-05T02:30:00+11:00"
        );
        assert_eq!(
            next("30 2 * * *", "Australia/Sydney", "2026-04-04T15:31:00Z"),
            "2026-04-06T02:30:00+10:00"
        );
    }

    proptest::proptest! {
        #[test]
        fn the_parser_never_panics(expr in "\\PC{0,60}", tz in "\\PC{0,30}") {
            let _ = Schedule::parse(&expr, Some(&tz));
        }

        #[test]
        fn a_computed_fire_time_is_a_fire_time_and_strictly_after(
            minute in proptest::sample::select(vec!["*", "0", "*/5", "0-30/10", "15,45", "59"]),
            hour in proptest::sample::select(vec!["*", "0", "3", "*/6", "1-5", "2"]),
            dom in proptest::sample::select(vec!["*", "1", "15", "28", "1-10", "31"]),
            month in proptest::sample::select(vec!["*", "1", "FEB", "3-4", "*/3", "OCT"]),
            dow in proptest::sample::select(vec!["*", "0", "1-5", "SAT", "7"]),
            zone in proptest::sample::select(vec!["UTC", "Europe/Berlin", "Australia/Sydney", "America/New_York"]),
            secs in 1_700_000_000i64..1_900_000_000,
        ) {
            let expr = format!("{minute} {hour} {dom} {month} {dow}");
            let schedule = match Schedule::parse(&expr, Some(zone)) {
                Ok(schedule) => schedule,
                Err(e) => {
                    // Only a day that no month named has (31 FEB) is refused.
                    proptest::prop_assert!(e.to_string().contains("never fires"), "{expr}: {e}");
                    return Ok(());
                }
            };
            let after = UnixTime::from_secs(secs).unwrap();
            if let Some(next) = schedule.next_after(after) {
                proptest::prop_assert!(next > after);
                let zoned = Timestamp::from_millisecond(next.millis()).unwrap().to_zoned(schedule.zone.clone());
                let matches = schedule.cron.is_time_matching(&zoned).unwrap_or(false);
                // A fire moved out of a gap lands on the first instant after it, which
                // the fields need not match.
                let moved = Timestamp::from_millisecond(next.millis() - 1).unwrap().to_zoned(schedule.zone.clone()).offset() != zoned.offset();
                proptest::prop_assert!(matches || moved, "{expr} in {zone} after {secs}: {zoned}");
                proptest::prop_assert!(!is_repeat(&zoned));
            }
        }
    }
}
