//! The dashboard's query and form parsers (SPEC §15): the jobs page's `q`, `status`,
//! `sort` and `page`, and the performance page's configuration form turned into the
//! JSON of `PUT /metrics/performance/config`, fed raw text.
//!
//! Properties: no panic; an accepted jobs query, written back by the page's own link
//! builder, reads as the same view; the form's JSON holds every field but `csrf` with
//! its last value, and survives being written out and read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(view) = overdue::fuzzing::jobs_request(raw) {
        let (q, _, _, page, href) = &view;
        assert_eq!(q.trim(), q, "{raw:?}");
        assert!(*page >= 1, "{raw:?}");
        let query = match href.strip_prefix("/?") {
            Some(query) => query,
            None => {
                assert_eq!(href, "/", "{raw:?}");
                ""
            }
        };
        let again = overdue::fuzzing::jobs_request(query)
            .unwrap_or_else(|e| panic!("the link {href:?} of {raw:?} no longer parses: {e}"));
        assert_eq!(view, again, "{raw:?} linked as {href:?}");
    }

    let Ok(pairs) = overdue::fuzzing::parse_query(raw) else {
        return;
    };
    let update =
        overdue::fuzzing::form_to_update(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let Value::Object(object) = &update else {
        panic!("{raw:?} became {update}");
    };
    let fields: std::collections::BTreeSet<&str> = pairs
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "csrf")
        .collect();
    assert_eq!(
        object
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        fields,
        "{raw:?}"
    );
    for (field, value) in &pairs {
        if field == "csrf" {
            continue;
        }
        // The last value of a field is the one that counts.
        let last = pairs.iter().rev().find(|(k, _)| k == field).map(|(_, v)| v);
        if last != Some(value) {
            continue;
        }
        let got = &object[field.as_str()];
        let trimmed = value.trim();
        match got {
            Value::Bool(on) => assert_eq!(*on, matches!(trimmed, "true" | "on"), "{raw:?}"),
            Value::String(text) => assert_eq!(text, trimmed, "{raw:?}"),
            _ => {}
        }
    }
    let written = update.to_string();
    let read: Value = serde_json::from_str(&written)
        .unwrap_or_else(|e| panic!("{raw:?} wrote {written:?}, which does not read: {e}"));
    // serde_json's default float reader may land one unit in the last place away
    // from the written digits (it lacks `float_roundtrip`); the config route reads
    // the same way, and a threshold that close is the same threshold.
    let (Value::Object(read), Value::Object(update)) = (&read, &update) else {
        panic!("{raw:?} wrote {written:?}");
    };
    assert_eq!(read.len(), update.len(), "{raw:?} wrote {written:?}");
    for ((rk, rv), (uk, uv)) in read.iter().zip(update) {
        assert_eq!(rk, uk, "{raw:?} wrote {written:?}");
        match (rv.as_f64(), uv.as_f64()) {
            (Some(r), Some(u)) if rv.is_f64() || uv.is_f64() => {
                assert!(
                    (r - u).abs() <= u.abs() * 1e-15,
                    "{raw:?} wrote {written:?}"
                )
            }
            _ => assert_eq!(rv, uv, "{raw:?} wrote {written:?}"),
        }
    }
});
