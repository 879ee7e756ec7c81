//! A ping's `timestamp`: unix seconds or RFC 3339.
//!
//! Properties: no panic; an accepted time is whole seconds between 1970 and 9999; it
//! parses again to the same time from its unix seconds and from its RFC 3339 form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use overdue::domain::UnixTime;

/// 9999-12-31T23:59:59Z.
const MAX_SECS: i64 = 253_402_300_799;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = UnixTime::parse(raw) else {
        return;
    };
    assert!(
        (0..=MAX_SECS).contains(&t.secs()),
        "{raw:?} gave {}",
        t.secs()
    );
    assert_eq!(t.millis() % 1000, 0, "a timestamp is whole seconds");
    assert_eq!(UnixTime::parse(&t.secs().to_string()), Ok(t));
    let text = t.rfc3339();
    assert_eq!(text.len(), 20, "{text:?}");
    assert_eq!(UnixTime::parse(&text), Ok(t), "{raw:?} -> {text:?}");
    // The arithmetic the backend does with it saturates instead of overflowing.
    let _ = t.plus(u64::MAX);
    let _ = t.since(UnixTime::from_secs(0).expect("epoch"));
});
