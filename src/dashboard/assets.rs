//! The dashboard's stylesheet, script and icon, compiled into the binary.
//!
//! Each asset is served under a name that carries a hash of its content
//! (`dashboard.1a2b3c4d.css`), so a browser may keep it for a year: a new build that
//! changes it changes its name. The plain name is served too, for an hour, for
//! anything that links it by hand. A gzip copy is made once, on first use.
//!
//! A plain `include_bytes!` table rather than `rust-embed`: three files do not need a
//! directory walker, and rust-embed's current release would bring a second `sha2`.

use std::io::Write;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Path;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The files: their plain name, media type and bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/dashboard.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/dashboard.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("assets/icon.svg"),
    ),
];

/// One asset, ready to serve.
struct Asset {
    plain: &'static str,
    hashed: String,
    content_type: &'static str,
    bytes: &'static [u8],
    gzip: Option<Vec<u8>>,
}

fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(plain, content_type, bytes)| Asset {
                plain,
                hashed: hashed_name(plain, bytes),
                content_type,
                bytes,
                gzip: gzip(bytes),
            })
            .collect()
    })
}

fn hashed_name(plain: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    match plain.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{short}.{ext}"),
        None => format!("{plain}.{short}"),
    }
}

/// The gzip form, when it is smaller (an already-compressed file is served as it is).
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < bytes.len()).then_some(compressed)
}

/// The URL path of asset `plain` (e.g. `dashboard.css`), under its hashed name.
pub fn url(plain: &str) -> String {
    let name = assets()
        .iter()
        .find(|a| a.plain == plain)
        .map_or(plain, |a| a.hashed.as_str());
    format!("/ui/assets/{name}")
}

/// Whether the client accepts gzip: `Accept-Encoding` names it (or `*`) with a
/// quality above zero.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !refused && (coding.eq_ignore_ascii_case("gzip") || coding == "*")
        })
}

/// `GET /ui/assets/{file}`.
#[utoipa::path(
    get,
    path = "/ui/assets/{file}",
    tag = "dashboard",
    summary = "A stylesheet, script or icon of the dashboard",
    description = "Under its hashed name (`dashboard.1a2b3c4d.css`) it may be cached for a year; \
        under its plain name, for an hour. Compressed with gzip when the client accepts it.",
    params(("file" = String, Path, description = "The asset's file name")),
    responses(
        (status = 200, description = "The asset", content_type = "text/css"),
        (status = 404, description = "No such asset"),
    ),
)]
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((asset, hashed)) = assets().iter().find_map(|a| {
        if a.hashed == file {
            Some((a, true))
        } else if a.plain == file {
            Some((a, false))
        } else {
            None
        }
    }) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let cache = if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let gzip = asset.gzip.as_deref().filter(|_| accepts_gzip(&headers));
    let body = match gzip {
        Some(bytes) => Body::from(bytes),
        None => Body::from(asset.bytes),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip.is_some() {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_unless_its_quality_is_zero() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT_ENCODING, HeaderValue::from_static(v));
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn every_asset_has_a_hashed_url() {
        let css = url("dashboard.css");
        assert!(css.starts_with("/ui/assets/dashboard.") && css.ends_with(".css"));
        assert_ne!(css, "/ui/assets/dashboard.css");
    }
}
