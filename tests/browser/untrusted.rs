//! Names, notes and outputs are shown as text: nothing a job sends runs in the page
//! (SPEC §15). Each would, if it ran, change the title or call a recording server on
//! another port; the DOM is checked too, so that an escaping bug shows even where the
//! Content-Security-Policy would have stopped the script.

use std::time::Duration;

use serde_json::Value;

use crate::common::encode;
use crate::page::{js, Page};
use crate::support::{fail, OtherOrigin, Session};

/// Fails when the page holds an element or attribute that only untrusted text could
/// have put there, or when a payload ran.
async fn assert_inert(page: &Page, other: &OtherOrigin, names: &[String]) {
    let injected = page
        .eval(
            "[...document.querySelectorAll('main img[src=x], main svg[onload], main script, \
             [onerror], [onload], [onmouseover], b.injected')].map(e => e.outerHTML)",
        )
        .await;
    assert_eq!(injected, Value::Array(vec![]), "on {}", page.url().await);
    assert_ne!(page.eval("document.title").await, Value::from("pwned"));
    let hits: Vec<String> = other
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("/hit"))
        .collect();
    assert!(hits.is_empty(), "a payload ran: {hits:?}");
    let text = page.text("main").await;
    for name in names {
        assert!(text.contains(name.as_str()), "{name} is not shown as text");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_names_notes_and_outputs_shows_as_text_and_runs_nothing() {
    let session = Session::start(&[]).await;
    let app = &session.app;
    let other = OtherOrigin::start().await;
    let hit = |what: &str| other.url(&format!("/hit-{what}"));
    let names = vec![
        format!(
            "<img src=x onerror=\"document.title='pwned';fetch('{}')\">",
            hit("img")
        ),
        format!(
            "<script>document.title='pwned';fetch('{}')</script>",
            hit("script")
        ),
        format!("\"><svg onload=\"fetch('{}')\">", hit("attribute")),
    ];
    for name in &names {
        let response = app.ping(name, "1h").await;
        assert_eq!(response.status(), 200, "{name}");
    }
    // An output and a note with markup too.
    let output = format!(
        "<b class=injected>bold</b><script>fetch('{}')</script>",
        hit("output")
    );
    let logged = app
        .client
        .post(app.url("/ping"))
        .query(&[("name", names[0].as_str()), ("state", "fail")])
        .body(output.clone())
        .send()
        .await
        .expect("fail ping");
    assert_eq!(logged.status(), 200);
    fail(app, &names[1]).await;
    let note = format!(
        "<b class=injected onmouseover=\"fetch('{}')\">look</b>",
        hit("note")
    );
    let acked = app
        .client
        .post(app.url(&format!("/ping/{}/ack", encode(&names[1]))))
        .query(&[("note", note.as_str())])
        .send()
        .await
        .expect("ack");
    assert_eq!(acked.status(), 200);

    let page = &session.page;
    page.goto(&session.url("/")).await;
    for name in &names {
        let shown = page
            .eval(&format!(
                "[...document.querySelectorAll('tr[data-job]')].some(r => r.dataset.job === {})",
                js(name)
            ))
            .await;
        assert_eq!(shown, Value::Bool(true), "no row for {name}");
    }
    assert_inert(page, &other, &names).await;
    page.screenshot("untrusted-names").await;
    // After a live refresh has replaced the region, still nothing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_inert(page, &other, &names).await;
    page.assert_no_faults().await;

    for (i, name) in names.iter().enumerate() {
        page.goto(&session.url(&format!("/ui/job?name={}", encode(name))))
            .await;
        assert_eq!(page.text("main h1").await.trim(), name.as_str());
        page.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
            .await;
        assert_inert(page, &other, std::slice::from_ref(name)).await;
        page.screenshot(&format!("untrusted-job-{i}")).await;
    }
    // The output and the note, as text.
    page.goto(&session.url(&format!("/ui/job?name={}", encode(&names[0]))))
        .await;
    page.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
        .await;
    assert!(
        page.text("main").await.contains(&output),
        "the output is not shown as text"
    );
    page.goto(&session.url(&format!("/ui/job?name={}", encode(&names[1]))))
        .await;
    assert!(
        page.text("main").await.contains(&note),
        "the note is not shown as text"
    );
    assert_inert(page, &other, &[]).await;
    session.stop().await;
}
