//! Charts as inline SVG, drawn on the server by pure functions: a line chart of one or
//! more series over a time span, and a band of statuses over a time span.
//!
//! The page's `Content-Security-Policy` forbids inline style, so the markup holds only
//! presentation attributes and classes (a stylesheet may recolour the classes for the
//! dark scheme). Every chart is `role="img"` with an `aria-label` that says in words
//! what it shows, and every colour comes with a word: status bands carry a legend and a
//! `<title>` per stretch of the same status.

use std::fmt::Write;
use std::time::Duration;

use crate::xml::escape;

const WIDTH: f64 = 480.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 150.0;
/// Height of one line of a legend.
const LEGEND_LINE: f64 = 18.0;
/// A status band needs no value axis: a thin strip, its time axis and its legend.
const BAND_HEIGHT: f64 = 96.0;
const BAND_BOTTOM: f64 = 46.0;
/// Colours per series index, as presentation attributes (the stylesheet may override
/// them through the `series-N` classes).
const COLOURS: [&str; 4] = ["#2563eb", "#d97706", "#059669", "#9333ea"];

/// One line of a [`LineChart`]: its name in the legend, its unit, and its points as
/// (unix milliseconds, value); `None` is a gap (nothing measured then).
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub unit: String,
    pub points: Vec<(i64, Option<f64>)>,
}

/// A line chart of `lines` over the `span` that ends at `now_ms`.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// What the chart shows, in words (it starts the `aria-label`).
    pub title: String,
    pub now_ms: i64,
    pub span: Duration,
    pub lines: Vec<Line>,
}

/// One stretch of a status band: from `at_ms` until the next sample (or `now_ms`), the
/// status was `status` (a word such as `healthy`, also its class name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSample<'a> {
    pub at_ms: i64,
    pub status: &'a str,
}

/// A band coloured by status over the `span` that ends at `now_ms`, with a legend of
/// `statuses` (word and fill colour) in that order.
#[derive(Debug, Clone)]
pub struct StatusBand<'a> {
    pub title: String,
    pub now_ms: i64,
    pub span: Duration,
    pub samples: Vec<StatusSample<'a>>,
    pub statuses: &'a [(&'a str, &'a str)],
}

/// A small disc of colour `fill`, hidden from screen readers: it goes beside a status
/// word, never instead of it. Drawn with a presentation attribute, it needs no style.
pub fn dot(fill: &str) -> String {
    format!(
        r#"<svg class="dot" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><circle cx="6" cy="6" r="6" fill="{}"/></svg>"#,
        escape(fill)
    )
}

/// A span in the largest unit that divides it well: `24 h`, `90 min`, `36 s`.
pub fn span_words(span: Duration) -> String {
    let secs = span.as_secs();
    if secs >= 86_400 && secs % 86_400 == 0 {
        format!("{} d", secs / 86_400)
    } else if secs >= 3600 && secs % 3600 == 0 {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else if secs >= 1 {
        format!("{secs} s")
    } else {
        format!("{} ms", span.as_millis())
    }
}

/// A value as the labels show it: three significant figures at most.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let magnitude = value.abs();
    let text = if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The x coordinate of `at_ms` on a span ending at `now_ms`, clamped to the plot.
fn x_of(at_ms: i64, now_ms: i64, span: Duration) -> f64 {
    let span_ms = (span.as_millis() as f64).max(1.0);
    let from = now_ms as f64 - span_ms;
    let fraction = ((at_ms as f64 - from) / span_ms).clamp(0.0, 1.0);
    LEFT + fraction * (WIDTH - LEFT - RIGHT)
}

fn open_svg(out: &mut String, class: &str, height: f64, label: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart {class}" viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{label}"><title>{title}</title>"#,
        label = escape(label),
        title = escape(title),
    );
}

/// The time axis at height `at`: a baseline, and the span's start and end in words.
fn time_axis(out: &mut String, span: Duration, at: f64) {
    let _ = write!(
        out,
        r##"<line class="axis" x1="{LEFT}" y1="{at}" x2="{x2}" y2="{at}" stroke="#888888" stroke-width="1"/><text class="axis-label" x="{LEFT}" y="{y}" font-size="12" fill="currentColor">{start}</text><text class="axis-label" x="{x2}" y="{y}" font-size="12" fill="currentColor" text-anchor="end">now</text>"##,
        x2 = WIDTH - RIGHT,
        y = at + 15.0,
        start = escape(&format!("−{}", span_words(span))),
    );
}

/// Minimum and maximum of the values present, if any.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// Renders `chart` as an inline `<svg>`: the lines (each run of points without a gap
/// a polyline, a lone point a dot), the time axis, the value axis from zero (or the
/// minimum when negative) to the maximum, and a legend with each line's minimum,
/// maximum and last value. The `aria-label` says the same in words.
pub fn line_chart(chart: &LineChart) -> String {
    let values = || {
        chart
            .lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|(_, v)| *v))
    };
    let (low, high) = match extent(values()) {
        Some((lo, hi)) => (
            lo.min(0.0),
            if hi > lo.min(0.0) {
                hi
            } else {
                lo.min(0.0) + 1.0
            },
        ),
        None => (0.0, 1.0),
    };
    let y_of = |v: f64| PLOT_BOTTOM - (v - low) / (high - low) * (PLOT_BOTTOM - TOP);

    let span = span_words(chart.span);
    let mut summary = format!("{} over the last {span}", chart.title);
    let mut legend = String::new();
    for (i, line) in chart.lines.iter().enumerate() {
        let present = || line.points.iter().filter_map(|(_, v)| *v);
        let last = line.points.iter().rev().find_map(|(_, v)| *v);
        let words = match (extent(present()), last) {
            (Some((lo, hi)), Some(last)) => format!(
                "{}: min {}, max {}, last {} {}",
                line.name,
                number(lo),
                number(hi),
                number(last),
                line.unit
            ),
            _ => format!("{}: no data", line.name),
        };
        let _ = write!(summary, "; {words}");
        // One legend line per series, so a long one never runs into the next.
        let y = PLOT_BOTTOM + 38.0 + i as f64 * LEGEND_LINE;
        let x = LEFT;
        let colour = COLOURS[i % COLOURS.len()];
        let _ = write!(
            legend,
            r#"<rect class="swatch series-{i}" x="{x}" y="{sy}" width="10" height="10" fill="{colour}"/><text class="legend" x="{tx}" y="{y}" font-size="12" fill="currentColor">{words}</text>"#,
            sy = y - 9.0,
            tx = x + 14.0,
            words = escape(&words),
        );
    }
    if chart.lines.iter().all(|l| l.points.is_empty()) {
        summary.push_str("; no samples yet");
    }

    let mut out = String::with_capacity(4096);
    let height = PLOT_BOTTOM + 30.0 + chart.lines.len().max(1) as f64 * LEGEND_LINE;
    open_svg(&mut out, "line-chart", height, &summary, &summary);
    // Value axis: its bounds as labels, and a faint line at the top.
    let _ = write!(
        out,
        r##"<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{PLOT_BOTTOM}" stroke="#888888" stroke-width="1"/><line class="grid" x1="{LEFT}" y1="{TOP}" x2="{x2}" y2="{TOP}" stroke="#888888" stroke-width="0.5" stroke-dasharray="3 3"/><text class="axis-label" x="{lx}" y="{ty}" font-size="12" fill="currentColor" text-anchor="end">{high}</text><text class="axis-label" x="{lx}" y="{PLOT_BOTTOM}" font-size="12" fill="currentColor" text-anchor="end">{low}</text>"##,
        x2 = WIDTH - RIGHT,
        lx = LEFT - 4.0,
        ty = TOP + 4.0,
        high = escape(&number(high)),
        low = escape(&number(low)),
    );
    time_axis(&mut out, chart.span, PLOT_BOTTOM);
    if chart.lines.iter().all(|l| l.points.is_empty()) {
        let _ = write!(
            out,
            r#"<text class="empty" x="{x}" y="{y}" font-size="13" fill="currentColor" text-anchor="middle">No samples yet</text>"#,
            x = (LEFT + WIDTH - RIGHT) / 2.0,
            y = (TOP + PLOT_BOTTOM) / 2.0,
        );
    }
    for (i, line) in chart.lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        for run in line
            .points
            .split(|(_, v)| v.is_none_or(|v| !v.is_finite()))
            .filter(|run| !run.is_empty())
        {
            let coords: Vec<(f64, f64)> = run
                .iter()
                .filter_map(|(at, v)| Some((x_of(*at, chart.now_ms, chart.span), y_of((*v)?))))
                .collect();
            if let [(x, y)] = coords[..] {
                let _ = write!(
                    out,
                    r#"<circle class="point series-{i}" cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{colour}"/>"#
                );
                continue;
            }
            let points = coords
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect::<Vec<_>>()
                .join(" ");
            if i == 0 {
                // The first line is also an area down to the axis, so its volume reads
                // at a glance.
                let (first, last) = (coords[0].0, coords[coords.len() - 1].0);
                let _ = write!(
                    out,
                    r#"<polygon class="area series-{i}" points="{first:.1},{PLOT_BOTTOM} {points} {last:.1},{PLOT_BOTTOM}" fill="{colour}" fill-opacity="0.15" stroke="none"/>"#
                );
            }
            let _ = write!(
                out,
                r#"<polyline class="line series-{i}" points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#
            );
        }
    }
    out.push_str(&legend);
    out.push_str("</svg>");
    out
}

/// Renders `band` as an inline `<svg>`: one rectangle per stretch of the same status
/// (with a `<title>` naming it), the time axis, and a legend of every status word with
/// its colour. The `aria-label` gives the share of samples in each status and the last.
pub fn status_band(band: &StatusBand<'_>) -> String {
    let span = span_words(band.span);
    let total = band.samples.len();
    let mut summary = format!("{} over the last {span}", band.title);
    if total == 0 {
        summary.push_str(": no samples yet");
    } else {
        let shares: Vec<String> = band
            .statuses
            .iter()
            .filter_map(|(word, _)| {
                let n = band.samples.iter().filter(|s| s.status == *word).count();
                (n > 0).then(|| format!("{word} {}%", (n * 100 + total / 2) / total))
            })
            .collect();
        let _ = write!(summary, ": {}", shares.join(", "));
        if let Some(last) = band.samples.last() {
            let _ = write!(summary, "; now {}", last.status);
        }
    }
    let fill_of = |word: &str| {
        band.statuses
            .iter()
            .find(|(w, _)| *w == word)
            .map_or("#888888", |(_, fill)| *fill)
    };

    let mut out = String::with_capacity(2048);
    open_svg(&mut out, "status-band", BAND_HEIGHT, &summary, &summary);
    let (top, bottom) = (TOP, BAND_BOTTOM);
    let mut index = 0;
    while index < total {
        let start = band.samples[index];
        let mut next = index + 1;
        while next < total && band.samples[next].status == start.status {
            next += 1;
        }
        let end_ms = band.samples.get(next).map_or(band.now_ms, |s| s.at_ms);
        let x1 = x_of(start.at_ms, band.now_ms, band.span);
        // A stretch is at least a pixel wide, so the last sample shows.
        let x2 = x_of(end_ms, band.now_ms, band.span).max(x1 + 1.0);
        let _ = write!(
            out,
            r#"<rect class="band band-{class}" x="{x1:.1}" y="{top}" width="{w:.1}" height="{h}" fill="{fill}"><title>{word}: {n} sample{s}</title></rect>"#,
            class = escape(start.status),
            w = x2 - x1,
            h = bottom - top,
            fill = escape(fill_of(start.status)),
            word = escape(start.status),
            n = next - index,
            s = if next - index == 1 { "" } else { "s" },
        );
        index = next;
    }
    if total == 0 {
        let _ = write!(
            out,
            r#"<text class="empty" x="{x}" y="{y}" font-size="13" fill="currentColor" text-anchor="middle">No samples yet</text>"#,
            x = (LEFT + WIDTH - RIGHT) / 2.0,
            y = (TOP + BAND_BOTTOM) / 2.0 + 4.0,
        );
    }
    time_axis(&mut out, band.span, BAND_BOTTOM);
    for (i, (word, fill)) in band.statuses.iter().enumerate() {
        let x = LEFT + i as f64 * 110.0;
        let y = BAND_BOTTOM + 40.0;
        let _ = write!(
            out,
            r#"<rect class="swatch band-{word}" x="{x}" y="{sy}" width="10" height="10" fill="{fill}"/><text class="legend" x="{tx}" y="{y}" font-size="12" fill="currentColor">{word}</text>"#,
            word = escape(word),
            fill = escape(fill),
            sy = y - 9.0,
            tx = x + 14.0,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUSES: [(&str, &str); 3] = [
        ("healthy", "#16a34a"),
        ("degraded", "#d97706"),
        ("unhealthy", "#dc2626"),
    ];

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        match roxmltree::Document::parse(svg) {
            Ok(doc) => doc,
            Err(e) => panic!("not well-formed XML ({e}): {svg}"),
        }
    }

    fn chart(points: Vec<(i64, Option<f64>)>) -> LineChart {
        LineChart {
            title: "Request rate".into(),
            now_ms: 3_600_000,
            span: Duration::from_secs(3600),
            lines: vec![Line {
                name: "requests".into(),
                unit: "/s".into(),
                points,
            }],
        }
    }

    fn count(doc: &roxmltree::Document<'_>, tag: &str) -> usize {
        doc.descendants()
            .filter(|n| n.tag_name().name() == tag)
            .count()
    }

    fn label(doc: &roxmltree::Document<'_>) -> String {
        doc.root_element()
            .attribute("aria-label")
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn an_empty_series_is_a_well_formed_chart_that_says_so() {
        let svg = line_chart(&chart(vec![]));
        let doc = parse(&svg);
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("role"), Some("img"));
        assert!(label(&doc).contains("no samples yet"), "{}", label(&doc));
        assert_eq!(count(&doc, "polyline"), 0);
        assert!(svg.contains("No samples yet"));
        assert!(svg.contains("−1 h"));
    }

    #[test]
    fn one_point_is_a_dot() {
        let doc_text = line_chart(&chart(vec![(3_000_000, Some(4.0))]));
        let doc = parse(&doc_text);
        assert_eq!(count(&doc, "circle"), 1);
        assert_eq!(count(&doc, "polyline"), 0);
        assert!(
            label(&doc).contains("min 4, max 4, last 4 /s"),
            "{}",
            label(&doc)
        );
    }

    #[test]
    fn a_full_series_is_one_line_and_gaps_split_it() {
        let full: Vec<(i64, Option<f64>)> =
            (0..360).map(|i| (i * 10_000, Some(i as f64))).collect();
        let doc_text = line_chart(&chart(full.clone()));
        let doc = parse(&doc_text);
        assert_eq!(count(&doc, "polyline"), 1);
        assert_eq!(count(&doc, "polygon"), 1, "the first line is an area too");
        assert!(
            label(&doc).contains("min 0, max 359, last 359"),
            "{}",
            label(&doc)
        );

        let mut gapped = full;
        gapped[100].1 = None;
        gapped[200].1 = None;
        let doc_text = line_chart(&chart(gapped));
        assert_eq!(count(&parse(&doc_text), "polyline"), 3);
    }

    #[test]
    fn labels_are_escaped() {
        let mut c = chart(vec![(1, Some(1.0)), (2, Some(f64::NAN))]);
        c.title = r#"<script>alert("x")</script> & 'co'"#.into();
        c.lines[0].name = "a<b>\u{1}".into();
        let svg = line_chart(&c);
        let doc = parse(&svg);
        assert!(!svg.contains("<script>"));
        assert!(label(&doc).starts_with(r#"<script>alert("x")</script> & 'co'"#));
        let band = status_band(&StatusBand {
            title: "<b>".into(),
            now_ms: 10,
            span: Duration::from_secs(1),
            samples: vec![StatusSample {
                at_ms: 0,
                status: "\"><x",
            }],
            statuses: &[("\"><x", "red\"")],
        });
        parse(&band);
        assert!(!band.contains("<x"));
    }

    #[test]
    fn no_chart_has_a_style_attribute() {
        let line = line_chart(&chart(vec![(1, Some(1.0)), (2, Some(2.0))]));
        let band = status_band(&StatusBand {
            title: "Status".into(),
            now_ms: 10,
            span: Duration::from_secs(1),
            samples: vec![StatusSample {
                at_ms: 0,
                status: "healthy",
            }],
            statuses: &STATUSES,
        });
        for svg in [line, band] {
            let doc = parse(&svg);
            assert!(doc.descendants().all(|n| n.attribute("style").is_none()));
        }
    }

    #[test]
    fn a_status_band_merges_stretches_and_names_every_status_in_words() {
        let samples = ["healthy", "healthy", "degraded", "unhealthy", "healthy"]
            .iter()
            .enumerate()
            .map(|(i, status)| StatusSample {
                at_ms: i as i64 * 1000,
                status,
            })
            .collect();
        let svg = status_band(&StatusBand {
            title: "Status".into(),
            now_ms: 5000,
            span: Duration::from_secs(5),
            samples,
            statuses: &STATUSES,
        });
        let doc = parse(&svg);
        let bands: Vec<&str> = doc
            .descendants()
            .filter(|n| {
                n.has_tag_name("rect")
                    && n.attribute("class").is_some_and(|c| c.starts_with("band "))
            })
            .filter_map(|n| n.first_child()?.text())
            .collect();
        assert_eq!(
            bands,
            [
                "healthy: 2 samples",
                "degraded: 1 sample",
                "unhealthy: 1 sample",
                "healthy: 1 sample"
            ]
        );
        let legend: Vec<&str> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("legend"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(legend, ["healthy", "degraded", "unhealthy"]);
        assert_eq!(
            label(&doc),
            "Status over the last 5 s: healthy 60%, degraded 20%, unhealthy 20%; now healthy"
        );
    }

    #[test]
    fn an_empty_band_is_well_formed() {
        let svg = status_band(&StatusBand {
            title: "Status".into(),
            now_ms: 0,
            span: Duration::from_secs(24 * 3600),
            samples: vec![],
            statuses: &STATUSES,
        });
        let doc = parse(&svg);
        assert!(label(&doc).ends_with("over the last 1 d: no samples yet"));
    }

    #[test]
    fn spans_and_numbers_read_well() {
        assert_eq!(span_words(Duration::from_secs(3600)), "1 h");
        assert_eq!(span_words(Duration::from_secs(5400)), "90 min");
        assert_eq!(span_words(Duration::from_secs(36)), "36 s");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.1234), "0.123");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(2.50), "2.5");
    }
}
