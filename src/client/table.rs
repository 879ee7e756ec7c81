//! Readable answers: aligned columns and times relative to now.

use serde_json::Value;

/// Rows under a header, each column as wide as its widest cell, two spaces apart; the
/// last column is not padded, so no line ends in spaces.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count()) + 2;
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `3 min ago`, `in 2 h`, `now`: the distance from `now` to `then`, in whole units
/// (both in unix seconds).
pub fn relative(then: i64, now: i64) -> String {
    let distance = now.saturating_sub(then);
    let magnitude = distance.unsigned_abs();
    let (count, unit) = match magnitude {
        0 => return "now".to_owned(),
        1..=59 => (magnitude, "s"),
        60..=3_599 => (magnitude / 60, "min"),
        3_600..=172_799 => (magnitude / 3_600, "h"),
        _ => (magnitude / 86_400, "d"),
    };
    if distance > 0 {
        format!("{count} {unit} ago")
    } else {
        format!("in {count} {unit}")
    }
}

/// A JSON value as one cell: `-` for null, strings without quotes.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A time field with its relative form: `2026-11-21T03:00:00Z (3 min ago)`, from the
/// `<field>_unix` seconds (or `<field>_unix_ms`) beside it when the object has them.
pub fn time_cell(object: &Value, field: &str, now: i64) -> String {
    let unix = object
        .get(format!("{field}_unix"))
        .and_then(Value::as_i64)
        .or_else(|| {
            object
                .get(format!("{field}_unix_ms"))
                .and_then(Value::as_i64)
                .map(|ms| ms.div_euclid(1000))
        });
    match unix.or_else(|| object.get(field).and_then(Value::as_str).and_then(rfc3339)) {
        Some(unix) => relative(unix, now),
        None => cell(object.get(field)),
    }
}

/// Unix seconds of an RFC 3339 time, the form of every time the API sends.
pub fn rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// Now, in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_relative_to_now() {
        assert_eq!(relative(1_000, 1_000), "now");
        assert_eq!(relative(1_000 - 42, 1_000), "42 s ago");
        assert_eq!(relative(1_000 - 180, 1_000), "3 min ago");
        assert_eq!(relative(1_000 + 7_200, 1_000), "in 2 h");
        assert_eq!(relative(1_000 + 3 * 86_400, 1_000), "in 3 d");
        assert_eq!(rfc3339("2026-11-21T03:00:00Z"), Some(1_795_230_000));
        assert_eq!(rfc3339("yesterday"), None);
    }

    #[test]
    fn columns_are_aligned_and_lines_not_padded() {
        let rows = vec![
            vec!["backup".to_owned(), "up".to_owned(), "1D".to_owned()],
            vec!["a".to_owned(), "down".to_owned(), "-".to_owned()],
        ];
        let table = render(&["NAME", "STATUS", "EVERY"], &rows);
        assert_eq!(
            table,
            "NAME    STATUS  EVERY\nbackup  up      1D\na       down    -\n"
        );
    }
}
