//! The charts' history on Redis replicas (SPEC §15, issue 20): every process samples
//! its own figures, so each replica's pages have charts, and the shared store's figures
//! (the jobs) are the same on each.

use std::time::Duration;

use crate::common::{spawn_app_on, TestApp};
use crate::health_page::svgs;
use crate::redis_server::RedisServer;

async fn page(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.expect("body")
}

#[tokio::test]
async fn each_replica_on_redis_samples_and_charts_its_own_history() {
    let redis = RedisServer::start().await;
    // 18 s over 360 samples: one every 50 ms.
    let flags = ["--health-retention", "18s", "--perf-retention", "18s"];
    let a = spawn_app_on(&redis.url(), &flags).await;
    let b = spawn_app_on(&redis.url(), &flags).await;
    for _ in 0..10 {
        assert_eq!(a.ping("backup", "1h").await.status(), 200);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    for app in [&a, &b] {
        let html = page(app, "/ui/health").await;
        let charts = svgs(&html);
        assert_eq!(charts.len(), 6, "{html}");
        assert!(charts[0].contains(r#"class="band band-"#), "{}", charts[0]);
        let jobs = charts
            .iter()
            .find(|svg| svg.contains("aria-label=\"Jobs over"))
            .expect("a jobs chart");
        assert!(jobs.contains("<polyline"), "{jobs}");
        assert!(
            jobs.contains("last 1 jobs; down"),
            "the shared store: {jobs}"
        );
    }

    // The pings went to A only: its request figures have them, B's do not.
    let on_a = page(&a, "/ui/performance").await;
    assert!(on_a.contains(r#"<tr data-series="GET /ping">"#), "{on_a}");
    assert!(svgs(&on_a)[0].contains("<polyline"), "{on_a}");
    let on_b = page(&b, "/ui/performance").await;
    assert!(!on_b.contains(r#"<tr data-series="GET /ping">"#), "{on_b}");
    assert!(svgs(&on_b)[0].contains("<polyline"), "{on_b}");

    a.stop().await;
    b.stop().await;
}
