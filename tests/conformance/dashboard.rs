//! SPEC §15 on every store: the jobs page chooses the same page of jobs (search,
//! status filter, sort, paging, totals) whether the store offers its jobs in place
//! (memory, SQLite) or is scanned in chunks through its listing (Redis).

use crate::support::Store;

/// The `data-job` names of the page's rows, in order.
fn rows(html: &str) -> Vec<String> {
    html.split(r#"<tr data-job=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

fn total(html: &str, status: &str) -> usize {
    let start = format!(r#"<li data-status="{status}">{status} <b>"#);
    let at = html.find(&start).expect("the total") + start.len();
    html[at..].split('<').next().unwrap().parse().unwrap()
}

pub async fn the_jobs_page_selects_the_same_page_on_every_store(store: &Store) {
    let app = store.spawn(&[]).await;
    // More jobs than one chunk of a scanned listing.
    for i in 0..1_100 {
        let name = format!("j-{i:04}");
        assert_eq!(app.ping(&name, "1h").await.status(), 200, "{name}");
    }
    for name in ["j-0003", "j-0500", "j-1099"] {
        let response = app
            .client
            .post(app.url(&format!("/ping/{name}/pause")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    for name in ["j-0007", "j-0800"] {
        let response = app.ping_with(&[("name", name), ("state", "start")]).await;
        assert_eq!(response.status(), 200);
    }
    let page = |path: &'static str| {
        let app = &app;
        async move {
            let response = app.get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.unwrap()
        }
    };

    let first = page("/").await;
    assert_eq!(rows(&first).len(), 100);
    assert!(first.contains("Page 1 of 11"));
    assert_eq!(total(&first, "all"), 1_100);
    assert_eq!(total(&first, "paused"), 3);
    assert_eq!(total(&first, "running"), 2);
    assert_eq!(total(&first, "up"), 1_097);

    let last = page("/?page=11").await;
    assert_eq!(rows(&last).first().map(String::as_str), Some("j-1000"));
    assert_eq!(rows(&last).len(), 100);

    assert_eq!(
        rows(&page("/?status=paused").await),
        ["j-0003", "j-0500", "j-1099"]
    );
    assert_eq!(rows(&page("/?status=running").await), ["j-0007", "j-0800"]);

    let search = rows(&page("/?q=J-105").await);
    assert_eq!(search.len(), 10);
    assert!(search.iter().all(|n| n.starts_with("j-105")));

    // Pinged in name order: the stalest first is name order too, ties by name.
    let stalest = rows(&page("/?sort=last_ping&page=11").await);
    assert_eq!(stalest.first().map(String::as_str), Some("j-1000"));

    let by_status = rows(&page("/?sort=status&page=11").await);
    assert_eq!(
        by_status.last().map(String::as_str),
        Some("j-1099"),
        "paused last"
    );
    app.stop().await;
}
