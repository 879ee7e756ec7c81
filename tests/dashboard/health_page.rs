//! `GET /ui/health` (SPEC §15): the `/health` document as a person reads it, and the
//! charts of the status and main indicators over `--health-retention`.

use std::time::Duration;

use crate::support::Dash;

/// The charts of a page: its `<svg …>…</svg>` elements but the decorative ones.
pub fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg ")
        .filter_map(|(at, _)| {
            let end = html[at..].find("</svg>")?;
            Some(&html[at..at + end + "</svg>".len()])
        })
        .filter(|svg| !svg.contains(r#"aria-hidden="true""#))
        .collect()
}

#[tokio::test]
async fn the_health_page_shows_the_status_word_the_indicators_conditions_and_channels() {
    // No webhook configured: the alert_uri_missing warning makes it degraded.
    let dash = Dash::start(&[]).await;
    dash.app.ping("backup", "1h").await;
    let html = dash.page("/ui/health").await;
    assert!(
        html.contains(r#"class="health-status status-degraded">"#)
            && html.contains(r##"<circle cx="6" cy="6" r="6" fill="#d97706"/></svg> Status: <strong>degraded</strong></p>"##),
        "{html}"
    );
    assert!(html.contains(r#"<table id="indicators">"#), "{html}");
    for key in [
        "store_reachable",
        "store_latency_ms",
        "alert_backlog",
        "services_monitored",
        "services_down",
        "pings_per_hour",
        "health_redis_reachable",
    ] {
        assert!(
            html.contains(&format!(r#"data-indicator="{key}""#)),
            "{key}"
        );
    }
    assert!(
        html.contains("<th scope=\"row\">Jobs monitored</th><td>1</td>"),
        "{html}"
    );
    assert!(html.contains(r#"<table id="conditions">"#), "{html}");
    assert!(html.contains("<code>alert_uri_missing</code>"), "{html}");
    assert!(html.contains(r#"<td class="severity severity-warning"><svg class="dot""#));
    assert!(html.contains("</svg> warning</td>"), "{html}");
    assert!(html.contains(r#"id="channels""#), "{html}");
    assert!(!html.contains("style="), "no inline style under the CSP");
    dash.stop().await;
}

#[tokio::test]
async fn the_health_page_lists_the_channels() {
    // Nothing is sent to it: no job falls due.
    let dash = Dash::start(&["--notify", "ntfy+http://127.0.0.1:9/overdue"]).await;
    let html = dash.page("/ui/health").await;
    assert!(html.contains(r#"<table id="channels">"#), "{html}");
    assert!(
        html.contains(
            "<tr><th scope=\"row\">ntfy:127.0.0.1:9</th><td>0</td><td>no delivery yet</td><td>yes</td></tr>"
        ),
        "{html}"
    );
    dash.stop().await;
}

#[tokio::test]
async fn the_health_charts_have_points_once_samples_are_taken() {
    // 18 s over 360 samples: one every 50 ms, so the test sees several.
    let dash = Dash::start(&["--health-retention", "18s"]).await;
    dash.app.ping("backup", "1h").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let html = dash.page("/ui/health").await;
    let charts = svgs(&html);
    assert_eq!(charts.len(), 6, "the status band and five indicator charts");
    for svg in &charts {
        assert!(svg.contains(r#"role="img""#), "{svg}");
        assert!(svg.contains("aria-label=\""), "{svg}");
        assert!(svg.contains("over the last 18 s"), "{svg}");
        assert!(html.contains("<figure class=\"chart\">"));
    }
    let band = charts[0];
    assert!(band.contains(r#"class="band band-degraded""#), "{band}");
    assert!(band.contains("now degraded"), "{band}");
    assert!(band.contains(">healthy</text>") && band.contains(">unhealthy</text>"));
    let jobs = charts
        .iter()
        .find(|svg| svg.contains("aria-label=\"Jobs over"))
        .expect("a jobs chart");
    assert!(
        jobs.contains("<polyline"),
        "several samples make a line: {jobs}"
    );
    assert!(
        jobs.contains("monitored: min 1, max 1, last 1 jobs"),
        "{jobs}"
    );
    dash.stop().await;
}

#[tokio::test]
async fn before_any_sample_the_charts_say_so() {
    // A day's retention samples every 4 min: only the sample taken at start exists.
    let dash = Dash::start(&[]).await;
    let html = dash.page("/ui/health").await;
    let charts = svgs(&html);
    assert_eq!(charts.len(), 6);
    assert!(charts[0].contains("over the last 1 d"), "{}", charts[0]);
    assert!(!html.contains("<polyline"), "at most one sample so far");
    dash.stop().await;
}
