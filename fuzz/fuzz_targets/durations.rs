//! The frequency and grace grammar (`30s`, `1h30m`, `2days`), and the option durations
//! that add humantime forms (`250ms`).
//!
//! Properties: no panic; an accepted frequency is within 1 s..=366 days, parses again
//! from its own text to the same value, and from its seconds written as `<n>s`; the
//! grammar, `Frequency` and `Grace` agree with one another.
#![no_main]

use libfuzzer_sys::fuzz_target;
use overdue::domain::{
    parse_duration_secs, Frequency, Grace, MAX_FREQUENCY_SECS, MIN_FREQUENCY_SECS,
};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let secs = parse_duration_secs(raw);
    let frequency = Frequency::parse(raw);
    match (&secs, &frequency) {
        (Ok(s), Ok(f)) => assert_eq!(*s, f.seconds()),
        (Ok(s), Err(_)) => assert!(
            !(MIN_FREQUENCY_SECS..=MAX_FREQUENCY_SECS).contains(s),
            "{raw:?} is {s} s, in range, yet refused as a frequency"
        ),
        (Err(_), Ok(f)) => panic!("{raw:?} refused by the grammar, accepted as {f:?}"),
        (Err(_), Err(_)) => {}
    }
    if let Ok(f) = &frequency {
        let s = f.seconds();
        assert!((MIN_FREQUENCY_SECS..=MAX_FREQUENCY_SECS).contains(&s));
        // parse → display → parse: the echoed text means the same.
        let again = Frequency::parse(f.as_str()).expect("a frequency's own text parses");
        assert_eq!(again.seconds(), s);
        assert_eq!(again.as_str(), f.as_str());
        assert_eq!(
            Frequency::parse(&format!("{s}s")).map(|f| f.seconds()),
            Ok(s)
        );
        // What the SQLite journal stores reads back.
        assert!(Frequency::from_stored(f.as_str(), s).is_ok());
    }

    if let Ok(g) = Grace::parse(raw) {
        assert!(g.seconds() <= MAX_FREQUENCY_SECS);
        assert_eq!(Grace::from_secs(g.seconds()), Some(g));
        // A grace is a frequency that may also be zero.
        if g.seconds() > 0 {
            assert_eq!(frequency.map(|f| f.seconds()), Ok(g.seconds()));
        }
    }

    // Option durations: the grammar, humantime forms and a bare 0; never a panic.
    if let Ok(d) = overdue::config::parse_duration(raw) {
        if let Ok(s) = secs {
            assert_eq!(
                d.as_secs(),
                s,
                "{raw:?}: the grammar and the option disagree"
            );
        }
    }
});
