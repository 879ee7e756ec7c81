//! The badge paths (`/badge/{*badge}`, SPEC §15) and their `?label=`, fed arbitrary
//! text, then the SVG drawn from what they yield.
//!
//! Properties: no panic; the name an accepted path yields, percent-encoded again and
//! given its suffix, parses back to the same name and suffix; the SVG of any name and
//! label is well-formed XML, with no raw `<` or `&` from the text.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the unreserved characters is escaped, `.` and `/` left as they are
/// to keep the last-suffix rule honest.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'.')
    .remove(b'/');

#[derive(Debug, Arbitrary)]
struct Input {
    path: String,
    query: String,
    message: String,
}

fuzz_target!(|input: Input| {
    let path = format!("/badge/{}", input.path);
    for raw in [input.path.as_str(), path.as_str()] {
        let Some((name, suffix)) = overdue::fuzzing::badge_split(raw) else {
            continue;
        };
        assert!(suffix == "svg" || suffix == "json", "{raw:?}");
        let Some(name) = name else {
            continue;
        };
        let again = format!("/badge/{}.{suffix}", utf8_percent_encode(&name, ESCAPE));
        assert_eq!(
            overdue::fuzzing::badge_split(&again),
            Some((Some(name.clone()), suffix)),
            "{raw:?} re-encoded as {again:?}"
        );
        let label = match overdue::fuzzing::parse_query(&input.query) {
            Ok(pairs) => pairs
                .into_iter()
                .find(|(k, _)| k == "label")
                .map_or_else(|| name.clone(), |(_, v)| v),
            Err(_) => name.clone(),
        };
        well_formed(&overdue::fuzzing::badge_svg(&label, &name));
    }
    well_formed(&overdue::fuzzing::badge_svg(&input.path, &input.message));
    well_formed(&overdue::fuzzing::badge_svg("", &input.message));
});

/// A small XML checker, enough for the badge's own shape: tags nest, attribute values
/// are quoted and hold no `<` or `"`, every `&` starts one of the escapes the badge
/// writes, and no control character appears.
fn well_formed(svg: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    assert!(svg.starts_with("<svg "), "{svg}");
    while !rest.is_empty() {
        if let Some(tag) = rest.strip_prefix('<') {
            let end = tag
                .find('>')
                .unwrap_or_else(|| panic!("unclosed tag in {svg}"));
            let inner = &tag[..end];
            rest = &tag[end + 1..];
            if let Some(name) = inner.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "mismatched </{name}> in {svg}");
                continue;
            }
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(inner) => (inner, true),
                None => (inner, false),
            };
            let name_end = inner.find(' ').unwrap_or(inner.len());
            let name = &inner[..name_end];
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()),
                "bad tag {name:?} in {svg}"
            );
            attributes(&inner[name_end..], svg);
            if !empty {
                open.push(name);
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            text(&rest[..end], svg);
            rest = &rest[end..];
        }
    }
    assert!(open.is_empty(), "unclosed {open:?} in {svg}");
}

fn attributes(mut rest: &str, svg: &str) {
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return;
        }
        let eq = rest
            .find("=\"")
            .unwrap_or_else(|| panic!("bad attribute {rest:?} in {svg}"));
        let name = &rest[..eq];
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b':'),
            "bad attribute name {name:?} in {svg}"
        );
        let value = &rest[eq + 2..];
        let close = value
            .find('"')
            .unwrap_or_else(|| panic!("unquoted {rest:?} in {svg}"));
        let value_text = &value[..close];
        assert!(
            !value_text.contains('<'),
            "raw < in attribute {value_text:?} of {svg}"
        );
        text(value_text, svg);
        rest = &value[close + 1..];
    }
}

fn text(text: &str, svg: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "control character in {text:?} of {svg}"
    );
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        rest = &rest[at..];
        let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
            .iter()
            .find(|e| rest.starts_with(**e))
            .unwrap_or_else(|| panic!("raw & in {text:?} of {svg}"));
        rest = &rest[known.len()..];
    }
}
