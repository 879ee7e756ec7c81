//! The job page (SPEC §15): pause for a chosen time and resume, from its forms.

use crate::common::encode;
use crate::support::{ping, status, Session};

/// Chooses `1h` in the pause form's `for` control, a list or a text box.
const CHOOSE_AN_HOUR: &str = "(() => { \
    const form = document.querySelector('form[action*=\"/ui/job/pause\"]'); \
    const e = form.elements['for']; \
    if (e.tagName === 'SELECT') { \
      const o = [...e.options].find(o => o.value === '1h') || e.options[0]; e.value = o.value; \
    } else { e.value = '1h'; } \
    return e.value; })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_paused_and_resumed_from_its_page() {
    let session = Session::start(&[]).await;
    let name = "nightly backup/db";
    ping(&session.app, name).await;
    let page = &session.page;
    page.goto(&session.url(&format!("/ui/job?name={}", encode(name))))
        .await;
    assert_eq!(page.text("main h1").await.trim(), name);
    assert!(page.count("main dl").await >= 1);
    let code = page.text("main").await;
    assert!(
        code.contains("curl") && code.contains("overdue run"),
        "{code}"
    );
    page.assert_no_faults().await;
    page.screenshot("job").await;

    let chosen = page.eval(CHOOSE_AN_HOUR).await;
    assert!(chosen.as_str().is_some_and(|v| !v.is_empty()), "{chosen}");
    page.click_button("form[action*='/ui/job/pause']", "Pause")
        .await;
    assert_eq!(status(&session.app, name).await, "paused");
    assert!(
        page.url().await.contains("/ui/job?name="),
        "{}",
        page.url().await
    );
    assert!(page.text("main").await.contains("paused"));
    page.screenshot("job-paused").await;

    page.click_button("form[action*='/ui/job/resume']", "Resume")
        .await;
    assert_eq!(status(&session.app, name).await, "up");
    page.assert_no_faults().await;
    session.stop().await;
}
