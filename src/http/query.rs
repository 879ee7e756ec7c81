//! Strict query-string decoding: `+` is a space, `%XX` escapes must form UTF-8, and the
//! first occurrence of a parameter wins.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::error::ApiError;

/// Parameters kept inline, without an allocation; a ping has at most five.
const INLINE: usize = 8;

/// The parameters of one query string, split once. A query without escapes (the usual
/// ping) is read in place, without an allocation; one with escapes is decoded once.
pub struct Query<'a> {
    inline: [(&'a str, &'a str); INLINE],
    inline_len: usize,
    /// Pairs beyond the inline ones, or every pair when the query has escapes.
    decoded: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    pub fn parse(raw: Option<&'a str>) -> Result<Self, ApiError> {
        let raw = raw.unwrap_or("");
        let mut query = Self {
            inline: [("", ""); INLINE],
            inline_len: 0,
            decoded: Vec::new(),
        };
        let escaped = raw.bytes().any(|b| b == b'%' || b == b'+');
        for (key, value) in pieces(raw) {
            if escaped {
                query.decoded.push((decode(key)?, decode(value)?));
            } else if query.inline_len < INLINE {
                query.inline[query.inline_len] = (key, value);
                query.inline_len += 1;
            } else {
                query
                    .decoded
                    .push((Cow::Borrowed(key), Cow::Borrowed(value)));
            }
        }
        Ok(query)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let inline = self.inline.get(..self.inline_len).unwrap_or_default();
        if let Some((_, value)) = inline.iter().find(|(k, _)| *k == key) {
            return Some(value);
        }
        self.decoded
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Every decoded pair, in order (the fuzz targets check them).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let inline = self.inline.get(..self.inline_len).unwrap_or_default();
        inline
            .iter()
            .copied()
            .chain(self.decoded.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }
}

/// The query parser as the fuzz targets see it: the decoded pairs, or the client's
/// error message.
#[doc(hidden)]
pub fn parse_for_fuzzing(raw: &str) -> Result<Vec<(String, String)>, String> {
    let query = Query::parse(Some(raw)).map_err(|e| e.message())?;
    Ok(query
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// The raw `key=value` pairs of a query, empty pieces skipped; a key without `=` has
/// an empty value. Split on bytes: `&` and `=` are ASCII, so every slice stays on a
/// character boundary.
fn pieces(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = raw;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
        let piece = rest.get(..end).unwrap_or("");
        rest = rest.get(end + 1..).unwrap_or("");
        if piece.is_empty() {
            continue;
        }
        return Some(match piece.bytes().position(|b| b == b'=') {
            Some(at) => (
                piece.get(..at).unwrap_or(""),
                piece.get(at + 1..).unwrap_or(""),
            ),
            None => (piece, ""),
        });
    })
}

fn decode(raw: &str) -> Result<Cow<'_, str>, ApiError> {
    if !raw.contains(['%', '+']) {
        return Ok(Cow::Borrowed(raw));
    }
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| Cow::Owned(s.into_owned()))
        .map_err(|_| ApiError::bad_request("query parameters must be UTF-8 once percent-decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus_and_keeps_the_first_value() {
        let q = Query::parse(Some("name=a%20b+c&name=other&flag&x=%E2%9C%93")).unwrap();
        assert_eq!(q.get("name"), Some("a b c"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("x"), Some("✓"));
        assert_eq!(q.get("missing"), None);
    }

    #[test]
    fn reads_a_query_without_escapes_in_place() {
        let q = Query::parse(Some("name=backup&frequency=1D&&flag&name=second")).unwrap();
        assert_eq!(q.get("name"), Some("backup"));
        assert_eq!(q.get("frequency"), Some("1D"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("grace"), None);
        assert_eq!(Query::parse(None).unwrap().get("name"), None);
        let many: String = (0..20).map(|i| format!("k{i}=v{i}&")).collect();
        let q = Query::parse(Some(&many)).unwrap();
        assert_eq!(q.get("k0"), Some("v0"));
        assert_eq!(q.get("k19"), Some("v19"));
    }

    #[test]
    fn refuses_escapes_that_are_not_utf8() {
        assert!(Query::parse(Some("name=%FF")).is_err());
    }
}
