//! Strict query-string decoding: `+` is a space, `%XX` escapes must form UTF-8, and the
//! first occurrence of a parameter wins.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::error::ApiError;

/// The decoded parameters of one query string, in order.
pub struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    pub fn parse(raw: Option<&'a str>) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for piece in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            pairs.push((decode(key)?, decode(value)?));
        }
        Ok(Self { pairs })
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Every decoded pair, in order (the fuzz targets check them).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

/// The query parser as the fuzz targets see it: the decoded pairs, or the client's
/// error message.
#[doc(hidden)]
pub fn parse_for_fuzzing(raw: &str) -> Result<Vec<(String, String)>, String> {
    let query = Query::parse(Some(raw)).map_err(|e| e.message().to_owned())?;
    Ok(query
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
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
    fn refuses_escapes_that_are_not_utf8() {
        assert!(Query::parse(Some("name=%FF")).is_err());
    }
}
