//! Badges as a README shows them: `<img>` tags on a page of another origin, decoded and
//! drawn by the browser, their colours read back from the pixels.

use std::time::Duration;

use serde_json::Value;

use crate::common::encode;
use crate::page::js;
use crate::support::{fail, pause, ping, start_run, OtherOrigin, Session};

/// The badge's pixel colour at (`x` from the right when negative, `y`), read by drawing
/// the `<img id=ID>` on a canvas (allowed: badges are served to any origin).
async fn pixel(session: &Session, id: &str, x: i32, y: i32) -> [u8; 3] {
    let value = session
        .page
        .eval(&format!(
            "(() => {{ const img = document.getElementById({id}); \
             const c = document.createElement('canvas'); \
             c.width = img.naturalWidth; c.height = img.naturalHeight; \
             const g = c.getContext('2d'); g.drawImage(img, 0, 0); \
             const x = {x} < 0 ? img.naturalWidth + {x} : {x}; \
             return Array.from(g.getImageData(x, {y}, 1, 1).data.slice(0, 3)); }})()",
            id = js(id)
        ))
        .await;
    let rgb: Vec<u8> = value
        .as_array()
        .expect("pixel")
        .iter()
        .map(|v| v.as_u64().expect("channel") as u8)
        .collect();
    [rgb[0], rgb[1], rgb[2]]
}

/// The colour's name, by its dominant channel, or grey when none dominates.
fn hue([r, g, b]: [u8; 3]) -> &'static str {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let spread = r.max(g).max(b) - r.min(g).min(b);
    if spread < 16 {
        if r > 120 {
            "light grey"
        } else {
            "dark grey"
        }
    } else if g > r && g > b {
        "green"
    } else if r > g && r > b {
        "red"
    } else if b > r && b > g {
        "blue"
    } else {
        "mixed"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badges_render_in_the_browser_with_the_colour_of_their_status() {
    let session = Session::start(&["--public-badges"]).await;
    let app = &session.app;
    let hostile = r#"<script>document.title="pwned"</script>&"#;
    for name in ["up-job", "down-job", "paused-job", "running-job", hostile] {
        ping(app, name).await;
    }
    fail(app, "down-job").await;
    pause(app, "paused-job").await;
    start_run(app, "running-job").await;

    let badges = [
        ("up", "up-job", "green"),
        ("down", "down-job", "red"),
        ("paused", "paused-job", "light grey"),
        ("running", "running-job", "blue"),
        ("unknown", "nobody", "light grey"),
        ("hostile", hostile, "green"),
    ];
    let other = OtherOrigin::start().await;
    let images: String = badges
        .iter()
        .map(|(id, name, _)| {
            format!(
                "<p><img id=\"{id}\" crossorigin=\"anonymous\" src=\"{}\"></p>",
                session.url(&format!("/badge/{}.svg", encode(name)))
            )
        })
        .collect();
    other.put(
        "/readme",
        &format!("<!doctype html><title>README</title><h1>Our jobs</h1>{images}"),
    );
    session.page.goto(&other.url("/readme")).await;
    session
        .page
        .wait_until(
            "[...document.images].every(i => i.complete)",
            Duration::from_secs(10),
            "every badge to load",
        )
        .await;
    session.page.screenshot("badges-in-a-readme").await;
    for (id, name, colour) in badges {
        let width = session
            .page
            .eval(&format!("document.getElementById({}).naturalWidth", js(id)))
            .await;
        assert!(
            width.as_u64().is_some_and(|w| w > 40),
            "the badge of {name} did not decode as an image: width {width}"
        );
        let message = pixel(&session, id, -3, 10).await;
        assert_eq!(hue(message), colour, "{name}: {message:?}");
        let label = pixel(&session, id, 2, 10).await;
        assert_eq!(hue(label), "dark grey", "{name}'s label: {label:?}");
    }
    assert_eq!(
        session.page.eval("document.title").await,
        Value::from("README")
    );

    // Opened on its own, each badge is an SVG document that draws its name as text.
    for (id, name, _) in badges {
        session
            .page
            .goto(&session.url(&format!("/badge/{}.svg", encode(name))))
            .await;
        let text = session
            .page
            .eval("document.documentElement.textContent")
            .await;
        assert!(
            text.as_str().is_some_and(|t| t.contains(name)),
            "{name}: {text}"
        );
        session.page.screenshot(&format!("badge-{id}")).await;
    }
    assert_ne!(
        session.page.eval("document.title").await,
        Value::from("pwned")
    );
    session.stop().await;
}
