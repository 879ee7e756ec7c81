//! A badge drawn two ways: a flat SVG in the shields.io style, and the shields.io
//! endpoint JSON that shields.io turns into its own badge. Pure functions of the text.

use std::fmt::Write as _;

use crate::xml::escape;

/// Height of a flat badge, in pixels.
const HEIGHT: u32 = 20;
/// Space on either side of a text inside its section.
const PADDING: f64 = 5.0;
/// The label section's background.
const LABEL_FILL: &str = "#555";

/// The colour of a badge's message, by its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Green,
    Red,
    Grey,
    Blue,
}

impl Colour {
    /// The shields.io colour name, as the endpoint JSON gives it.
    pub fn name(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Red => "red",
            Colour::Grey => "grey",
            Colour::Blue => "blue",
        }
    }

    /// The fill of the message section. Green, red and blue are shields.io's own for
    /// those names; grey is its light grey, as its dark grey is the label's background.
    pub fn hex(self) -> &'static str {
        match self {
            Colour::Green => "#97ca00",
            Colour::Red => "#e05d44",
            Colour::Grey => "#9f9f9f",
            Colour::Blue => "#007ec6",
        }
    }
}

/// What a badge says: `label | message`, the message on its colour.
#[derive(Debug, Clone, Copy)]
pub struct Badge<'a> {
    /// Left-hand text; an empty label draws the message alone.
    pub label: &'a str,
    pub message: &'a str,
    pub colour: Colour,
}

impl Badge<'_> {
    /// The shields.io endpoint form: `{"schemaVersion": 1, "label", "message", "color"}`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "schemaVersion": 1,
            "label": self.label,
            "message": self.message,
            "color": self.colour.name(),
        })
    }

    /// The flat SVG badge. Each text is given a `textLength`, so that a font wider
    /// than the estimate is squeezed into its section rather than spilling out.
    pub fn svg(&self) -> String {
        let label = escape(self.label);
        let message = escape(self.message);
        let label_text = text_width(self.label);
        let message_text = text_width(self.message);
        let label_width = if self.label.is_empty() {
            0.0
        } else {
            (label_text + 2.0 * PADDING).ceil()
        };
        let message_width = (message_text + 2.0 * PADDING).ceil();
        let total = label_width + message_width;
        let title = if self.label.is_empty() {
            message.clone()
        } else {
            format!("{label}: {message}")
        };
        let mut svg = String::with_capacity(1024 + 4 * (label.len() + message.len()));
        // Writing to a String cannot fail.
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"{HEIGHT}\" \
             role=\"img\" aria-label=\"{title}\"><title>{title}</title>\
             <linearGradient id=\"s\" x2=\"0\" y2=\"100%\">\
             <stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/>\
             <stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
             <clipPath id=\"r\"><rect width=\"{total}\" height=\"{HEIGHT}\" rx=\"3\" fill=\"#fff\"/></clipPath>\
             <g clip-path=\"url(#r)\">\
             <rect width=\"{label_width}\" height=\"{HEIGHT}\" fill=\"{LABEL_FILL}\"/>\
             <rect x=\"{label_width}\" width=\"{message_width}\" height=\"{HEIGHT}\" fill=\"{fill}\"/>\
             <rect width=\"{total}\" height=\"{HEIGHT}\" fill=\"url(#s)\"/></g>\
             <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" \
             text-rendering=\"geometricPrecision\" font-size=\"11\">",
            fill = self.colour.hex(),
        );
        if !self.label.is_empty() {
            shadowed_text(&mut svg, label_width / 2.0, label_text, &label);
        }
        shadowed_text(
            &mut svg,
            label_width + message_width / 2.0,
            message_text,
            &message,
        );
        svg.push_str("</g></svg>");
        svg
    }
}

/// A text centred on `x`, over its own dark shadow one pixel lower.
fn shadowed_text(svg: &mut String, x: f64, width: f64, escaped: &str) {
    let _ = write!(
        svg,
        "<text x=\"{x:.1}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\" textLength=\"{width:.1}\" \
         lengthAdjust=\"spacingAndGlyphs\">{escaped}</text>\
         <text x=\"{x:.1}\" y=\"14\" textLength=\"{width:.1}\" lengthAdjust=\"spacingAndGlyphs\">{escaped}</text>"
    );
}

/// The advance of each printable ASCII character (space to `~`) in 11 px Verdana,
/// the font shields.io measures with; the badge names it first.
const VERDANA_11: [f64; 95] = [
    3.9, 4.3, 5.1, 9.0, 7.0, 11.8, 8.0, 3.0, 5.0, 5.0, 7.0, 9.0, 4.0, 5.0, 4.0,
    5.0, // ' '..'/'
    7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, // '0'..'9'
    5.0, 5.0, 9.0, 9.0, 9.0, 6.0, 11.0, // ':'..'@'
    7.5, 7.5, 7.7, 8.5, 7.0, 6.3, 8.5, 8.3, 4.6, 5.0, 7.6, 6.1, 9.3, // 'A'..'M'
    8.2, 8.7, 6.6, 8.7, 7.7, 7.5, 6.8, 8.1, 7.5, 10.9, 7.5, 6.8, 7.5, // 'N'..'Z'
    5.0, 5.0, 5.0, 9.0, 7.0, 7.0, // '['..'`'
    6.6, 6.9, 5.7, 6.9, 6.6, 3.9, 6.9, 7.0, 3.0, 3.8, 6.5, 3.0, 10.7, // 'a'..'m'
    7.0, 6.7, 6.9, 6.9, 4.7, 5.7, 4.3, 7.0, 6.5, 9.0, 6.5, 6.5, 5.8, // 'n'..'z'
    7.0, 5.0, 7.0, 9.0, // '{'..'~'
];

/// The estimated width of `text` in 11 px Verdana. Characters outside ASCII get a
/// generous average (CJK and emoji a full em), so an estimate errs on the wide side.
pub fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| {
            let code = u32::from(c);
            match code
                .checked_sub(0x20)
                .and_then(|i| VERDANA_11.get(i as usize))
            {
                Some(width) => *width,
                None if code >= 0x2e80 => 11.0,
                None => 7.5,
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wider_letters_make_a_wider_estimate() {
        assert!(text_width("WWWW") > text_width("iiii") * 2.0);
        assert_eq!(text_width(""), 0.0);
        assert!(text_width("監視") >= 22.0);
        assert!(text_width("é") > 6.0);
    }

    #[test]
    fn the_message_section_starts_where_the_label_ends() {
        let svg = Badge {
            label: "backup",
            message: "up",
            colour: Colour::Green,
        }
        .svg();
        let label_width = (text_width("backup") + 10.0).ceil();
        assert!(
            svg.contains(&format!("<rect x=\"{label_width}\" ")),
            "{svg}"
        );
        assert!(svg.contains("fill=\"#97ca00\""), "{svg}");
        assert!(svg.contains(">backup</text>") && svg.contains(">up</text>"));
    }

    #[test]
    fn an_empty_label_draws_the_message_alone() {
        let svg = Badge {
            label: "",
            message: "down",
            colour: Colour::Red,
        }
        .svg();
        assert_eq!(svg.matches("<text ").count(), 2, "{svg}");
        assert!(svg.contains("<title>down</title>"), "{svg}");
    }
}
