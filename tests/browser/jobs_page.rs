//! The jobs page (SPEC §15): every status by word and colour, totals, live refresh
//! that keeps the page's state, search, filters and paging over many jobs.

use std::time::Duration;

use serde_json::Value;

use crate::page::js;
use crate::support::{fail, pause, ping, ping_all, start_run, Session};

/// The status word in the row of `name`.
async fn row_status(session: &Session, name: &str) -> String {
    session
        .page
        .text(&format!("tr[data-job={}] td.status", js(name)))
        .await
        .trim()
        .to_owned()
}

/// The number in the totals for `status`.
async fn total(session: &Session, status: &str) -> u64 {
    let text = session
        .page
        .text(&format!("ul#totals li[data-status={status}] b"))
        .await;
    text.trim()
        .replace([',', ' ', '\u{a0}'], "")
        .parse()
        .unwrap_or_else(|_| panic!("total of {status}: {text:?}"))
}

/// The names of the rows shown, in order.
async fn rows(session: &Session) -> Vec<String> {
    let value = session
        .page
        .eval("[...document.querySelectorAll('table#jobs tr[data-job]')].map(r => r.dataset.job)")
        .await;
    value
        .as_array()
        .expect("rows")
        .iter()
        .map(|v| v.as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_shows_by_word_and_a_job_going_down_shows_without_a_reload() {
    let session = Session::start(&[]).await;
    let app = &session.app;
    for name in ["alpha", "bravo", "charlie", "delta", "echo"] {
        ping(app, name).await;
    }
    fail(app, "bravo").await;
    pause(app, "charlie").await;
    start_run(app, "delta").await;
    let page = &session.page;
    page.goto(&session.url("/")).await;
    // A run in progress is said beside the status, which stays up.
    assert_eq!(
        page.text("tr[data-job=delta] .status-running").await.trim(),
        "running"
    );
    assert_eq!(page.count(".status-running").await, 1);
    for (name, word) in [
        ("alpha", "up"),
        ("bravo", "down"),
        ("charlie", "paused"),
        ("delta", "up"),
        ("echo", "up"),
    ] {
        assert_eq!(row_status(&session, name).await, word, "{name}");
        let class = page
            .eval(&format!(
                "document.querySelector({}).className",
                js(&format!("tr[data-job={name}] td.status"))
            ))
            .await;
        assert!(
            class
                .as_str()
                .is_some_and(|c| c.split(' ').any(|c| c == format!("status-{word}"))),
            "{name}: {class}"
        );
    }
    assert_eq!(total(&session, "all").await, 5);
    assert_eq!(total(&session, "down").await, 1);
    assert_eq!(total(&session, "paused").await, 1);
    assert_eq!(total(&session, "running").await, 1);
    page.assert_no_faults().await;
    page.screenshot("jobs").await;

    // Unsent search text and the document itself survive the refresh.
    page.eval("window.__sameDocument = true").await;
    page.type_into("form[role=search] input[name=q]", "ec")
        .await;
    fail(app, "echo").await;
    page.wait_until(
        &format!(
            "document.querySelector({}).textContent.trim() === 'down'",
            js("tr[data-job=echo] td.status")
        ),
        Duration::from_secs(15),
        "echo shown down by the live refresh",
    )
    .await;
    assert_eq!(page.eval("window.__sameDocument").await, Value::Bool(true));
    assert_eq!(
        page.eval("document.querySelector('form[role=search] input[name=q]').value")
            .await,
        Value::from("ec")
    );
    assert_eq!(total(&session, "down").await, 2);
    page.assert_no_faults().await;
    page.screenshot("jobs-after-live-refresh").await;

    page.set_dark(true).await;
    page.screenshot("jobs-dark").await;
    page.set_dark(false).await;
    page.set_width(360).await;
    page.goto(&session.url("/")).await;
    let overflow = page
        .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    page.screenshot("jobs-360px").await;
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "at 360 px the page scrolls sideways by {overflow} px"
    );
    session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filter_and_paging_over_a_thousand_jobs() {
    let session = Session::start(&[]).await;
    let app = &session.app;
    let names: Vec<String> = (0..1000).map(|i| format!("job-{i:04}")).collect();
    ping_all(app, &names).await;
    let down: Vec<String> = (0..10).map(|i| format!("job-{:04}", i * 100 + 5)).collect();
    for name in &down {
        fail(app, name).await;
    }
    let page = &session.page;
    page.goto(&session.url("/")).await;
    assert_eq!(total(&session, "all").await, 1000);
    let first = rows(&session).await;
    assert_eq!(first.len(), 100);
    assert_eq!(first.first().map(String::as_str), Some("job-0000"));
    let pages = page.text("nav[aria-label=Pages]").await;
    assert!(pages.contains("Page 1 of 10"), "{pages}");
    page.screenshot("jobs-1000").await;

    page.click_and_wait("nav[aria-label=Pages] a[rel=next]")
        .await;
    let second = rows(&session).await;
    assert_eq!(second.first().map(String::as_str), Some("job-0100"));
    assert_eq!(second.len(), 100);
    assert!(page
        .text("nav[aria-label=Pages]")
        .await
        .contains("Page 2 of 10"));
    page.click_and_wait("nav[aria-label=Pages] a[rel=prev]")
        .await;
    assert_eq!(rows(&session).await, first);

    // Search: name contains, case-insensitive.
    page.type_into("form[role=search] input[name=q]", "JOB-099")
        .await;
    page.click_button("form[role=search]", "Search").await;
    let found = rows(&session).await;
    assert_eq!(
        found,
        (990..1000)
            .map(|i| format!("job-{i:04}"))
            .collect::<Vec<_>>()
    );
    page.screenshot("jobs-search").await;

    // Filter: the status link, marked current.
    page.goto(&session.url("/")).await;
    page.click_button("nav[aria-label='Status filter']", "down")
        .await;
    assert_eq!(rows(&session).await, down);
    let current = page
        .text("nav[aria-label='Status filter'] [aria-current=page]")
        .await;
    assert_eq!(current.trim(), "down");
    // A search keeps the filter.
    page.type_into("form[role=search] input[name=q]", "job-00")
        .await;
    page.click_button("form[role=search]", "Search").await;
    assert_eq!(rows(&session).await, vec!["job-0005".to_owned()]);
    page.screenshot("jobs-down-filter").await;

    page.type_into("form[role=search] input[name=q]", "nothing-like-this")
        .await;
    page.click_button("form[role=search]", "Search").await;
    assert_eq!(rows(&session).await, Vec::<String>::new());
    assert!(page.text("main").await.contains("No jobs match."));
    page.assert_no_faults().await;
    session.stop().await;
}
