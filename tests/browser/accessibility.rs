//! Accessibility (issue 20, SPEC §15): every control has a name a screen reader reads,
//! the keyboard alone reaches the search, the filters and a job and acts on it, and the
//! pages follow the system's light or dark choice.

use serde_json::{json, Value};

use crate::common::encode;
use crate::support::{fail, ping, status, Session};

/// The controls of the page without an accessible name: a label (`for` or wrapping),
/// `aria-label`, `aria-labelledby`, their own text or value, or a `title`.
const UNNAMED_CONTROLS: &str = "(() => {
    const named = e => {
      if ((e.getAttribute('aria-label') || '').trim()) return true;
      const by = e.getAttribute('aria-labelledby');
      if (by && by.split(/\\s+/).some(id => (document.getElementById(id)?.textContent || '').trim())) return true;
      if (e.labels && [...e.labels].some(l => l.textContent.trim())) return true;
      if (e.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes(e.type) && e.value.trim()) return true;
      if (['BUTTON', 'A', 'SUMMARY'].includes(e.tagName) && e.textContent.trim()) return true;
      return !!(e.getAttribute('title') || '').trim();
    };
    return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href], summary')]
      .filter(e => !named(e))
      .map(e => e.outerHTML.slice(0, 120));
  })()";

/// What has the keyboard focus, in words.
const FOCUSED: &str = "(() => {
    const e = document.activeElement;
    if (!e || e === document.body) return 'body';
    return e.tagName.toLowerCase() + ':' + (e.getAttribute('name') || '') + ':' +
      (e.tagName === 'INPUT' ? '' : e.textContent.trim());
  })()";

async fn press(session: &Session, key: &str, code: u32, text: Option<&str>) {
    let mut down = json!({
        "type": "keyDown", "key": key, "code": key,
        "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code,
    });
    if let Some(text) = text {
        down["text"] = Value::from(text);
    }
    session.page.call("Input.dispatchKeyEvent", down).await;
    session
        .page
        .call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": key,
                   "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code}),
        )
        .await;
}

/// Presses Tab until `wanted` has the focus; the focus path taken, or a failure
/// naming it.
async fn tab_to(session: &Session, wanted: &str) -> Vec<String> {
    let mut path = Vec::new();
    for _ in 0..40 {
        press(session, "Tab", 9, None).await;
        let focused = session.page.eval(FOCUSED).await;
        let focused = focused.as_str().unwrap_or_default().to_owned();
        path.push(focused.clone());
        if focused == wanted {
            return path;
        }
    }
    panic!("Tab never reached {wanted:?}; it went through {path:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_control_has_a_name_on_every_page() {
    let session = Session::start(&["--admin-token", "t0ken"]).await;
    let page = &session.page;
    page.goto(&session.url("/ui/sign-in")).await;
    let unnamed = page.eval(UNNAMED_CONTROLS).await;
    assert_eq!(unnamed, json!([]), "on the sign-in page");
    page.eval("document.querySelector('input[name=token]').value = 't0ken'")
        .await;
    page.click_button("form[action='/ui/sign-in']", "Sign in")
        .await;
    ping(&session.app, "alpha").await;
    ping(&session.app, "bravo").await;
    fail(&session.app, "bravo").await;
    for path in [
        "/".to_owned(),
        format!("/ui/job?name={}", encode("bravo")),
        "/ui/health".to_owned(),
        "/ui/performance".to_owned(),
    ] {
        page.goto(&session.url(&path)).await;
        assert!(
            !page.url().await.contains("sign-in"),
            "{path} needs the session"
        );
        let unnamed = page.eval(UNNAMED_CONTROLS).await;
        assert_eq!(unnamed, json!([]), "on {path}");
    }
    session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_alone_searches_filters_opens_and_pauses_a_job() {
    let session = Session::start(&[]).await;
    for name in ["alpha", "bravo", "charlie"] {
        ping(&session.app, name).await;
    }
    fail(&session.app, "bravo").await;
    let page = &session.page;
    page.goto(&session.url("/")).await;

    // The search box, by Tab, then typed into and sent with Enter.
    tab_to(&session, "input:q:").await;
    page.call("Input.insertText", json!({"text": "ar"})).await;
    press(&session, "Enter", 13, Some("\r")).await;
    page.wait_until(
        "location.search.includes('q=ar')",
        std::time::Duration::from_secs(10),
        "the search sent by Enter",
    )
    .await;
    page.wait_until(
        "document.readyState === 'complete' && document.querySelectorAll('tr[data-job]').length === 1",
        std::time::Duration::from_secs(10),
        "one row for 'ar' (charlie)",
    )
    .await;

    // A status filter, by Tab and Enter.
    page.goto(&session.url("/")).await;
    tab_to(&session, "a::down").await;
    press(&session, "Enter", 13, Some("\r")).await;
    page.wait_until(
        "location.search.includes('status=down') && document.readyState === 'complete'",
        std::time::Duration::from_secs(10),
        "the down filter followed by Enter",
    )
    .await;
    page.wait_until(
        "[...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job).join() === 'bravo'",
        std::time::Duration::from_secs(10),
        "only bravo is down",
    )
    .await;

    // The job's page, then its Pause button, by Tab and Enter.
    tab_to(&session, "a::bravo").await;
    press(&session, "Enter", 13, Some("\r")).await;
    page.wait_until(
        "location.pathname === '/ui/job' && document.readyState === 'complete'",
        std::time::Duration::from_secs(10),
        "bravo's page opened by Enter",
    )
    .await;
    tab_to(&session, "button::Pause").await;
    press(&session, "Enter", 13, Some("\r")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(&session.app, "bravo").await != "paused" {
        assert!(
            std::time::Instant::now() < deadline,
            "Enter on Pause did not pause bravo"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    page.assert_no_faults().await;
    session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_follow_the_light_or_dark_choice_of_the_system() {
    let session = Session::start(&[]).await;
    ping(&session.app, "alpha").await;
    let page = &session.page;
    let background = "getComputedStyle(document.body).backgroundColor";
    let text = "getComputedStyle(document.body).color";
    for path in ["/", "/ui/job?name=alpha", "/ui/health", "/ui/performance"] {
        page.set_dark(false).await;
        page.goto(&session.url(path)).await;
        let light = (page.eval(background).await, page.eval(text).await);
        page.set_dark(true).await;
        let dark = (page.eval(background).await, page.eval(text).await);
        assert_ne!(light.0, dark.0, "{path}: the background follows dark mode");
        assert_ne!(light.1, dark.1, "{path}: the text follows dark mode");
    }
    page.set_dark(false).await;
    session.stop().await;
}
