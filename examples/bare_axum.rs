//! The floor for `scripts/bench.sh`: an axum server whose `GET /ping` parses the query
//! and answers like overdue, but stores nothing. Comparing the two shows what
//! recording a ping (the registry, the deadline schedule, the SQLite commit) costs on
//! top of HTTP and query parsing.
//!
//! `cargo run --release --example bare_axum -- 127.0.0.1:4100`

use axum::extract::Query;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

/// What overdue's `/ping` reads from the query; unknown parameters are ignored.
#[derive(Deserialize)]
struct PingQuery {
    name: String,
    #[allow(dead_code)]
    frequency: Option<String>,
}

async fn ping(Query(query): Query<PingQuery>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Successfully recorded ping for {}", query.name),
    )
}

// The same allocator as overdue, so that the ratio measures work, not allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4100".to_owned());
    let app = Router::new()
        .route("/ping", get(ping))
        .route("/livez", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare_axum listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
