//! The query-string parser of `/ping` and the admin routes, fed raw bytes, then the
//! domain parsers the ping handler applies to its values.
//!
//! Properties: no panic; every decoded pair comes from a non-empty `&` piece; encoding
//! the decoded pairs again and parsing that gives the same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use overdue::domain::{Frequency, Grace, JobName, UnixTime};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the unreserved characters is escaped, `+` and `%` included.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fuzz_target!(|data: &[u8]| {
    // The handler sees the query as text: hyper hands over a URI that is a str.
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pairs) = overdue::fuzzing::parse_query(raw) else {
        return;
    };
    let pieces = raw.split('&').filter(|p| !p.is_empty()).count();
    assert_eq!(
        pairs.len(),
        pieces,
        "one pair per non-empty piece of {raw:?}"
    );

    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, ESCAPE),
                utf8_percent_encode(v, ESCAPE)
            )
        })
        .collect();
    let again = overdue::fuzzing::parse_query(&encoded.join("&"))
        .unwrap_or_else(|e| panic!("re-encoded {raw:?} no longer parses: {e}"));
    assert_eq!(pairs, again, "re-encoding {raw:?} changed its pairs");

    // What the ping handler does with the values: each parser refuses or accepts,
    // and never panics.
    for (key, value) in &pairs {
        match key.as_str() {
            "name" => {
                if let Ok(name) = JobName::parse(value) {
                    assert_eq!(name.as_str(), value);
                    assert!(!value.is_empty() && value.len() <= 200);
                }
            }
            "frequency" => {
                let _ = Frequency::parse(value);
            }
            "grace" => {
                let _ = Grace::parse(value);
            }
            "timestamp" => {
                let _ = UnixTime::parse(value);
            }
            _ => {}
        }
    }
});
