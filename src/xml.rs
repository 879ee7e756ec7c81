//! Text placed into the SVG the server draws (charts, badges), escaped once for both.

/// `text` made safe as XML character data and as a quoted attribute value. Control
/// characters cannot appear in XML even escaped: they become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("<b>&\"x'\u{7}\n"),
            "&lt;b&gt;&amp;&quot;x&#39;  ".to_owned()
        );
        assert_eq!(escape("plain"), "plain");
    }
}
