//! The health and performance pages load, under their own policy, with their charts.

use crate::support::{ping, Session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_and_performance_pages_show_their_charts() {
    let session = Session::start(&["--perf-retention", "60s"]).await;
    ping(&session.app, "backup").await;
    let page = &session.page;
    for (path, shot) in [("/ui/health", "health"), ("/ui/performance", "performance")] {
        page.goto(&session.url(path)).await;
        assert!(
            page.count("main figure svg[role=img][aria-label]").await >= 1,
            "{path} has no chart"
        );
        page.assert_no_faults().await;
        page.screenshot(shot).await;
    }
    assert!(
        page.count("form[action='/ui/performance/config'] button")
            .await
            >= 1
    );
    session.stop().await;
}
