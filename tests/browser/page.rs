//! One browser tab: navigation, script evaluation, clicks, typing, screenshots, and
//! what the page did wrong (script errors, `Content-Security-Policy` violations).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::cdp::{Connection, Event};
use crate::chromium::{Chromium, WINDOW};

/// A page load, a click's navigation, a condition: each may take this long.
pub const WAIT: Duration = Duration::from_secs(20);

/// Records the page's `Content-Security-Policy` violations where the tests can read
/// them. Added by the protocol, it runs before the page's own scripts and is not
/// subject to the page's policy.
const VIOLATION_RECORDER: &str = "window.__violations = []; \
    document.addEventListener('securitypolicyviolation', e => window.__violations.push(\
    e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '')));";

/// A tab of the browser, attached with its own protocol session.
pub struct Page {
    connection: Connection,
    session: String,
}

/// Where the tests write their screenshots: `target/screenshots/`.
pub fn screenshots_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().map(PathBuf::from).unwrap_or(tmp);
    target.join("screenshots")
}

/// `text` as a JavaScript string literal.
pub fn js(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

impl Page {
    /// Opens a new tab on `about:blank`.
    pub async fn open(browser: &Chromium) -> Page {
        let connection = browser.connection();
        let target = connection
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await
            .expect("a new tab");
        let attached = connection
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await
            .expect("attach to the tab");
        let session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        let page = Page {
            connection,
            session,
        };
        for domain in ["Page.enable", "Runtime.enable", "Network.enable"] {
            page.call(domain, json!({})).await;
        }
        page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": VIOLATION_RECORDER}),
        )
        .await;
        page.set_width(WINDOW.0).await;
        page
    }

    /// Closes the tab.
    pub async fn close(self) {
        let target = self.call("Target.getTargetInfo", json!({})).await;
        let _ = self
            .connection
            .call(
                None,
                "Target.closeTarget",
                json!({"targetId": target["targetInfo"]["targetId"]}),
            )
            .await;
    }

    /// Sends a command to this tab; a refusal fails the test.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.connection
            .call(Some(&self.session), method, params)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn cursor(&self) -> usize {
        self.connection.cursor()
    }

    /// Waits for this tab's load event after `cursor`.
    async fn loaded_after(&self, cursor: usize, what: &str) {
        let session = self.session.clone();
        self.connection
            .wait_event(cursor, WAIT, what, |e| {
                e.session.as_deref() == Some(&session) && e.method == "Page.loadEventFired"
            })
            .await;
    }

    /// Opens `url` and waits for its load event (after any redirects).
    pub async fn goto(&self, url: &str) {
        let cursor = self.cursor();
        let navigated = self.call("Page.navigate", json!({"url": url})).await;
        if let Some(error) = navigated["errorText"].as_str() {
            panic!("cannot open {url}: {error}");
        }
        self.loaded_after(cursor, &format!("the load of {url}"))
            .await;
    }

    /// Opens `url` and measures how long until it is complete: its load event fired
    /// and no request it started is still pending.
    pub async fn goto_timed(&self, url: &str) -> Duration {
        let cursor = self.cursor();
        let started = Instant::now();
        let navigated = self.call("Page.navigate", json!({"url": url})).await;
        if let Some(error) = navigated["errorText"].as_str() {
            panic!("cannot open {url}: {error}");
        }
        self.loaded_after(cursor, &format!("the load of {url}"))
            .await;
        loop {
            if self.pending_requests(cursor) == 0 {
                return started.elapsed();
            }
            assert!(started.elapsed() < WAIT, "requests of {url} still pending");
            let next = self.cursor();
            let session = self.session.clone();
            self.connection
                .wait_event(next, WAIT, "a request to end", |e| {
                    e.session.as_deref() == Some(&session)
                        && matches!(
                            e.method.as_str(),
                            "Network.loadingFinished" | "Network.loadingFailed"
                        )
                })
                .await;
        }
    }

    /// Requests this tab started after `cursor` that have neither finished nor failed.
    pub fn pending_requests(&self, cursor: usize) -> usize {
        let mut pending = std::collections::HashSet::new();
        for event in self.events_since(cursor) {
            let id = event.params["requestId"].as_str().unwrap_or("").to_owned();
            match event.method.as_str() {
                "Network.requestWillBeSent" => {
                    pending.insert(id);
                }
                "Network.loadingFinished" | "Network.loadingFailed" => {
                    pending.remove(&id);
                }
                _ => {}
            }
        }
        pending.len()
    }

    /// This tab's events after `cursor`.
    fn events_since(&self, cursor: usize) -> Vec<Event> {
        self.connection
            .events_since(cursor)
            .into_iter()
            .filter(|e| e.session.as_deref() == Some(&self.session))
            .collect()
    }

    /// The value of `expression` (awaited when it is a promise); an exception fails the
    /// test.
    pub async fn eval(&self, expression: &str) -> Value {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(details) = answer.get("exceptionDetails") {
            panic!(
                "{expression} threw: {}",
                details["exception"]["description"]
                    .as_str()
                    .unwrap_or(&details.to_string())
            );
        }
        answer["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy and returns its value; fails naming `what`.
    pub async fn wait_until(&self, expression: &str, timeout: Duration, what: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not happen within {timeout:?} (on {})",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The current address.
    pub async fn url(&self) -> String {
        self.eval("location.href")
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The text of the first element `selector` matches; fails when none does.
    pub async fn text(&self, selector: &str) -> String {
        let value = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({}); return e ? e.textContent : null; }})()",
                js(selector)
            ))
            .await;
        value
            .as_str()
            .unwrap_or_else(|| panic!("no element {selector} on {}", "the page"))
            .to_owned()
    }

    /// How many elements `selector` matches.
    pub async fn count(&self, selector: &str) -> u64 {
        self.eval(&format!(
            "document.querySelectorAll({}).length",
            js(selector)
        ))
        .await
        .as_u64()
        .unwrap_or(0)
    }

    /// Clicks the first element `selector` matches (it must exist).
    pub async fn click(&self, selector: &str) {
        let found = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
                js(selector)
            ))
            .await;
        assert_eq!(found, Value::Bool(true), "nothing to click at {selector}");
    }

    /// Clicks and waits for the page the click leads to.
    pub async fn click_and_wait(&self, selector: &str) {
        let cursor = self.cursor();
        self.click(selector).await;
        self.loaded_after(cursor, &format!("the page after clicking {selector}"))
            .await;
    }

    /// Clicks the button (or submit input, or link) whose text is exactly `text`, inside
    /// `scope` (a selector), and waits for the page it leads to.
    pub async fn click_button(&self, scope: &str, text: &str) {
        let cursor = self.cursor();
        let found = self
            .eval(&format!(
                "(() => {{ const scope = document.querySelector({scope}); if (!scope) return false; \
                 const e = [...scope.querySelectorAll('button, input[type=submit], a')] \
                   .find(e => (e.tagName === 'INPUT' ? e.value : e.textContent).trim() === {text}); \
                 if (!e) return false; e.click(); return true; }})()",
                scope = js(scope),
                text = js(text)
            ))
            .await;
        assert_eq!(
            found,
            Value::Bool(true),
            "no button {text:?} in {scope} on {}",
            self.url().await
        );
        self.loaded_after(cursor, &format!("the page after {text:?}"))
            .await;
    }

    /// The HTTP status of the last response this tab received for a URL containing
    /// `part`, after `cursor`.
    pub fn response_status(&self, cursor: usize, part: &str) -> Option<u64> {
        self.events_since(cursor)
            .into_iter()
            .filter(|e| e.method == "Network.responseReceived")
            .filter(|e| {
                e.params["response"]["url"]
                    .as_str()
                    .is_some_and(|u| u.contains(part))
            })
            .filter_map(|e| e.params["response"]["status"].as_u64())
            .next_back()
    }

    /// A cursor into this tab's events, for [`Page::response_status`].
    pub fn mark(&self) -> usize {
        self.cursor()
    }

    /// The cookies the browser holds for the current page.
    pub async fn cookies(&self) -> Vec<Value> {
        let answer = self.call("Network.getCookies", json!({})).await;
        answer["cookies"].as_array().cloned().unwrap_or_default()
    }

    /// Puts the focus in `selector`, empties it and types `text` as a keyboard would.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let found = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return false; e.focus(); e.value = ''; return true; }})()",
                js(selector)
            ))
            .await;
        assert_eq!(
            found,
            Value::Bool(true),
            "nothing to type into at {selector}"
        );
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Sets the viewport's width (the height stays the window's).
    pub async fn set_width(&self, width: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": WINDOW.1, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
    }

    /// Light or dark, as `prefers-color-scheme` says.
    pub async fn set_dark(&self, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": value}]}),
        )
        .await;
    }

    /// Writes a screenshot of the whole page to `target/screenshots/NAME.png` and
    /// returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let width = size["width"]
            .as_f64()
            .unwrap_or(f64::from(WINDOW.0))
            .max(1.0);
        // Tall enough for a page of jobs, short enough to stay a sane image.
        let height = size["height"]
            .as_f64()
            .unwrap_or(f64::from(WINDOW.1))
            .clamp(1.0, 6000.0);
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Script errors this tab raised, and the page's `Content-Security-Policy`
    /// violations: both mean the page is broken under its own policy.
    pub async fn faults(&self) -> Vec<String> {
        let mut faults: Vec<String> = self
            .events_since(0)
            .into_iter()
            .filter(|e| e.method == "Runtime.exceptionThrown")
            .map(|e| {
                let details = &e.params["exceptionDetails"];
                format!(
                    "script error: {}",
                    details["exception"]["description"]
                        .as_str()
                        .or(details["text"].as_str())
                        .unwrap_or("?")
                )
            })
            .collect();
        let violations = self.eval("window.__violations || []").await;
        for violation in violations.as_array().into_iter().flatten() {
            faults.push(format!(
                "CSP violation: {}",
                violation.as_str().unwrap_or("?")
            ));
        }
        faults
    }

    /// Fails the test when the page had a script error or a policy violation.
    pub async fn assert_no_faults(&self) {
        let faults = self.faults().await;
        assert!(faults.is_empty(), "on {}: {faults:#?}", self.url().await);
    }
}
