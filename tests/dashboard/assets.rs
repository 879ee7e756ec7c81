//! SPEC §15 and issue 20: assets are embedded, cached and compressed on request.

use std::io::Read;

use crate::support::Dash;

/// The URL of the asset the layout links in attribute `attribute` (`href`, `src`)
/// under a name that ends with `suffix`.
fn linked(html: &str, attribute: &str, suffix: &str) -> String {
    html.split(&format!(r#"{attribute}=""#))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|url| url.starts_with("/ui/assets/") && url.ends_with(suffix))
        .expect("the asset is linked")
        .to_owned()
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_plain_names_last_an_hour() {
    let dash = Dash::start(&[]).await;
    let html = dash.page("/ui/health").await;
    let css = linked(&html, "href", ".css");
    assert_ne!(css, "/ui/assets/dashboard.css");
    let response = dash.get(&css).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let js = linked(&html, "src", ".js");
    assert_eq!(dash.get(&js).await.status(), 200);
    let plain = dash.get("/ui/assets/dashboard.css").await;
    assert_eq!(plain.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(dash.get("/ui/assets/nothing.css").await.status(), 404);
    dash.stop().await;
}

#[tokio::test]
async fn assets_are_gzipped_when_the_client_accepts_it() {
    let dash = Dash::start(&[]).await;
    let plain = dash.get("/ui/assets/dashboard.css").await;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let response = dash
        .client
        .get(dash.app.url("/ui/assets/dashboard.css"))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["vary"], "Accept-Encoding");
    let compressed = response.bytes().await.unwrap();
    assert!(compressed.len() < plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.to_vec());
    dash.stop().await;
}
