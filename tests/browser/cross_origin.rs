//! A form posted to the dashboard from a page of another origin changes nothing
//! (SPEC §15: "refuses a cross-origin Origin"), even with a valid CSRF token.

use std::time::Duration;

use crate::support::{ping, status, OtherOrigin, Session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_posted_from_another_origin_is_refused() {
    let session = Session::start(&[]).await;
    ping(&session.app, "victim").await;
    let page = &session.page;
    page.goto(&session.url("/ui/job?name=victim")).await;
    // The page's own token: the attack has everything but the origin.
    let token = page
        .eval("document.querySelector('form[action*=\"/ui/job/pause\"] input[name=csrf]').value")
        .await;
    let token = token
        .as_str()
        .expect("a CSRF token in the pause form")
        .to_owned();

    let other = OtherOrigin::start().await;
    other.put(
        "/attack",
        &format!(
            "<!doctype html><title>cute cats</title>\
             <form id=f method=post action=\"{}\">\
             <input name=csrf value=\"{token}\"><input name=for value=1h></form>\
             <script>document.getElementById('f').submit()</script>",
            session.url("/ui/job/pause?name=victim")
        ),
    );
    let mark = page.mark();
    page.goto(&other.url("/attack")).await;
    page.wait_until(
        &format!(
            "location.href.startsWith({})",
            crate::page::js(&session.url("/"))
        ),
        Duration::from_secs(10),
        "the form to be posted",
    )
    .await;
    // The post's own answer, not a page after it.
    let answered = page
        .wait_until(
            "document.readyState === 'complete'",
            Duration::from_secs(10),
            "the answer",
        )
        .await;
    assert_eq!(answered, true);
    assert_eq!(page.response_status(mark, "/ui/job/pause"), Some(403));
    assert_eq!(
        status(&session.app, "victim").await,
        "up",
        "the job was paused"
    );
    page.screenshot("cross-origin-refused").await;

    // The same token from the dashboard's own page works: the origin was the refusal.
    page.goto(&session.url("/ui/job?name=victim")).await;
    page.click_button("form[action*='/ui/job/pause']", "Pause")
        .await;
    assert_eq!(status(&session.app, "victim").await, "paused");
    session.stop().await;
}
