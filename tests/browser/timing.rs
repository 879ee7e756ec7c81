//! Not a check but a measurement, run by `scripts/bench-dashboard.sh` against a monitor
//! it started (`OVERDUE_BENCH_URL`): how long the jobs page takes to be complete in
//! headless Chromium, from the navigation command to its load event with no request
//! of the page still pending.

use std::time::Duration;

use crate::chromium::Chromium;
use crate::page::Page;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-dashboard.sh runs it against a monitor it started"]
async fn jobs_page_complete_time() {
    let base = std::env::var("OVERDUE_BENCH_URL").expect("OVERDUE_BENCH_URL: the monitor's URL");
    let runs: usize = std::env::var("OVERDUE_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(9);
    let browser = Chromium::start().await;
    let mut times: Vec<Duration> = Vec::new();
    // The first load fills the browser's cache with the assets, as a returning
    // operator's browser has them; it is reported apart.
    let mut cold = None;
    for run in 0..=runs {
        let page = Page::open(&browser).await;
        let took = page.goto_timed(&format!("{base}/")).await;
        assert!(page.count("table#jobs tr[data-job]").await > 0, "no rows");
        if run == 0 {
            cold = Some(took);
            page.screenshot("bench-jobs-page").await;
        } else {
            times.push(took);
        }
        page.close().await;
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "jobs page complete: median {:.1} ms over {} loads (first, cold cache: {:.1} ms; min {:.1}, max {:.1})",
        median.as_secs_f64() * 1000.0,
        times.len(),
        cold.unwrap_or_default().as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
    );
}
