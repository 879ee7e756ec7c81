//! SPEC §15, the jobs page: paging, search, filters, sorts, totals, the strip, the
//! live region, and names shown as text.

use crate::support::{Dash, TOKEN};

/// The `data-job` names of the table's rows, in order, as the HTML writes them.
fn rows(html: &str) -> Vec<String> {
    html.split(r#"<tr data-job=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The count a totals item shows.
fn total(html: &str, status: &str) -> usize {
    let start = format!(r#"<li data-status="{status}">{status} <b>"#);
    let at = html.find(&start).expect("the total") + start.len();
    html[at..].split('<').next().unwrap().parse().unwrap()
}

async fn pause(dash: &Dash, name: &str) {
    let response = dash
        .client
        .post(dash.app.url(&format!("/ping/{name}/pause")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A thousand jobs `job-0000`…`job-0999`, the first ten paused.
async fn thousand_jobs() -> Dash {
    let dash = Dash::signed_in(&[]).await;
    for i in 0..1_000 {
        let name = format!("job-{i:04}");
        assert_eq!(dash.app.ping(&name, "1h").await.status(), 200);
    }
    for i in 0..10 {
        pause(&dash, &format!("job-{i:04}")).await;
    }
    dash
}

#[tokio::test]
async fn a_thousand_jobs_are_paged_searched_filtered_and_sorted_on_the_server() {
    let dash = thousand_jobs().await;

    let first = dash.page("/").await;
    let names = rows(&first);
    assert_eq!(names.len(), 100);
    assert_eq!(names[0], "job-0000");
    assert_eq!(names[99], "job-0099");
    assert!(first.contains("Page 1 of 10"), "paging");
    assert!(first.contains(r#"<a href="/?page=2" rel="next">Next</a>"#));
    assert_eq!(total(&first, "all"), 1_000);
    assert_eq!(total(&first, "up"), 990);
    assert_eq!(total(&first, "paused"), 10);
    assert_eq!(total(&first, "down"), 0);
    assert_eq!(total(&first, "running"), 0);

    let last = dash.page("/?page=10").await;
    assert_eq!(rows(&last).first().map(String::as_str), Some("job-0900"));
    assert!(last.contains(r#"<a href="/?page=9" rel="prev">Previous</a>"#));
    assert!(last.contains("Page 10 of 10"));

    let search = dash.page("/?q=JOB-012").await;
    let found = rows(&search);
    assert_eq!(found.len(), 10, "{found:?}");
    assert!(found.iter().all(|n| n.starts_with("job-012")));
    assert!(
        search.contains(r#"value="JOB-012""#),
        "the search box keeps its text"
    );

    let paused = dash.page("/?status=paused").await;
    assert_eq!(rows(&paused).len(), 10);
    assert!(paused.contains(r#"<a href="/?status=paused" aria-current="page">paused</a>"#));
    assert!(paused.contains(r#"<input type="hidden" name="status" value="paused">"#));
    assert!(paused.contains("Page 1 of 1"));

    // The most recent ping is job-0999's: sorted by last ping, the stalest first.
    let by_ping = dash.page("/?sort=last_ping&page=10").await;
    assert_eq!(rows(&by_ping).last().map(String::as_str), Some("job-0999"));
    assert!(by_ping.contains(
        r#"<th scope="col" aria-sort="ascending"><a href="/?sort=last_ping">Last ping</a></th>"#
    ));

    let by_status = dash.page("/?sort=status").await;
    // Down first (none), then up: the paused ones come last.
    assert_eq!(rows(&by_status)[0], "job-0010");

    let none = dash.page("/?q=nothing-like-this").await;
    assert!(rows(&none).is_empty());
    assert!(none.contains("No jobs match."));
    dash.stop().await;
}

#[tokio::test]
async fn a_row_shows_status_cadence_times_and_the_strip_of_events() {
    let dash = Dash::signed_in(&[]).await;
    assert_eq!(dash.app.ping("nightly", "1D").await.status(), 200);
    let response = dash
        .app
        .ping_with(&[("name", "nightly"), ("state", "fail"), ("exit_code", "3")])
        .await;
    assert_eq!(response.status(), 200);
    let response = dash
        .app
        .ping_with(&[
            ("name", "cron-job"),
            ("schedule", "0 3 * * *"),
            ("tz", "Europe/Berlin"),
            ("state", "start"),
        ])
        .await;
    assert_eq!(response.status(), 200);
    let html = dash.page("/").await;
    assert!(
        html.contains(r#"<td class="status status-down">down</td>"#),
        "{html}"
    );
    assert!(html.contains(r#"<td class="status status-up">up</td>"#));
    assert!(html.contains("every 1D"));
    assert!(html.contains("0 3 * * * (Europe/Berlin)"));
    assert!(html.contains(r#"<span class="status-word status-running">running</span>"#));
    assert!(html.contains(r#"<a href="/ui/job?name=nightly">nightly</a>"#));
    assert!(html.contains(r#"<span class="strip" aria-label="last 20 events">"#));
    assert!(html.contains(r#"<span class="mark mark-fail" title="fail, exit code 3 at "#));
    assert!(html.contains(r#"<span class="mark mark-down" title="down (failed) at "#));
    assert!(html.contains(">just now</time>"), "{html}");
    let time = html.split("<time datetime=\"").nth(1).unwrap();
    assert!(
        time.starts_with("20") && time.contains("Z\" title=\""),
        "{time}"
    );
    assert_eq!(total(&html, "running"), 1);
    let running = dash.page("/?status=running").await;
    assert_eq!(rows(&running), ["cron-job"]);
    dash.stop().await;
}

#[tokio::test]
async fn the_live_region_is_answered_alone_to_the_refresh_script() {
    let dash = Dash::signed_in(&[]).await;
    assert_eq!(dash.app.ping("backup", "1h").await.status(), 200);
    let page = dash.page("/?q=back").await;
    assert!(page.contains(r#"<div id="jobs-live" data-refresh="jobs" data-every="5""#));
    assert!(page.contains(r#"<form role="search" method="get" action="/">"#));
    let response = dash
        .client
        .get(dash.app.url("/?q=back"))
        .header("cookie", dash.cookie.clone().unwrap())
        .header("x-overdue-fragment", "jobs")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let fragment = response.text().await.unwrap();
    assert!(fragment.starts_with(r#"<div id="jobs-live""#), "{fragment}");
    assert!(!fragment.contains("<html"));
    assert!(
        !fragment.contains(r#"role="search""#),
        "the search box is not replaced"
    );
    assert_eq!(rows(&fragment), ["backup"]);
    dash.stop().await;
}

#[tokio::test]
async fn a_name_with_markup_is_shown_as_text_everywhere() {
    let dash = Dash::signed_in(&[]).await;
    let name = r#"<script>alert(1)</script>"'&"#;
    assert_eq!(dash.app.ping(name, "1h").await.status(), 200);
    let html = dash.page("/").await;
    assert!(!html.contains("<script>alert(1)"), "{html}");
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;";
    assert!(
        html.contains(&format!(r#"<tr data-job="{escaped}">"#)),
        "the attribute is escaped: {html}"
    );
    assert!(
        html.contains(&format!(">{escaped}</a>")),
        "the text is escaped"
    );
    assert!(html.contains("/ui/job?name=%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%26"));
    let job = dash
        .page("/ui/job?name=%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%26")
        .await;
    assert!(!job.contains("<script>alert(1)"));
    assert!(job.contains(&format!("<h1>{escaped}</h1>")), "{job}");
    dash.stop().await;
}
