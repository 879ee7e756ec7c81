//! A browser-like client for the dashboard tests: it keeps the session cookie, never
//! follows redirects (the tests assert them), and finds the CSRF token in a page.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, COOKIE, ORIGIN};
use reqwest::redirect::Policy;

use crate::common::{spawn_app_with, TestApp};

/// The admin token the signed-in tests use.
pub const TOKEN: &str = "dash-s3cret";

/// The app and a client that behaves like a browser tab on it.
pub struct Dash {
    pub app: TestApp,
    pub client: reqwest::Client,
    /// The `overdue_session=…` pair, once signed in.
    pub cookie: Option<String>,
}

impl Dash {
    /// The app with `--admin-token` and `flags`, not signed in.
    pub async fn with_token(flags: &[&str]) -> Self {
        let mut all = vec!["--admin-token", TOKEN];
        all.extend_from_slice(flags);
        Self::start(&all).await
    }

    /// The app with `flags` exactly (without a token: the dashboard is open).
    pub async fn start(flags: &[&str]) -> Self {
        let app = spawn_app_with(flags).await;
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            app,
            client,
            cookie: None,
        }
    }

    /// The app with the admin token, signed in.
    pub async fn signed_in(flags: &[&str]) -> Self {
        let mut dash = Self::with_token(flags).await;
        let response = dash.sign_in(TOKEN, &[]).await;
        assert_eq!(response.status(), 303, "sign-in");
        dash.cookie = Some(session_pair(&response).expect("a session cookie"));
        dash
    }

    /// `http://host:port` of the app: the same origin as its pages.
    pub fn origin(&self) -> String {
        format!("http://{}", self.app.addr)
    }

    /// Headers a page of this origin sends: the session cookie and `Origin`.
    pub fn browser_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = &self.cookie {
            headers.insert(COOKIE, HeaderValue::from_str(cookie).expect("cookie"));
        }
        headers.insert(
            ORIGIN,
            HeaderValue::from_str(&self.origin()).expect("origin"),
        );
        headers
    }

    /// `POST /ui/sign-in` with `token`, from this origin, with extra headers.
    pub async fn sign_in(&self, token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.app.url("/ui/sign-in"))
            .header(ORIGIN, self.origin())
            .form(&[("token", token)]);
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        request.send().await.expect("request")
    }

    /// `GET path` with the session cookie.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.client.get(self.app.url(path));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.expect("request")
    }

    /// The HTML of `path`, asserting a 200.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.expect("body")
    }

    /// A form post from a page of this origin, with the session cookie.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.app.url(path))
            .headers(self.browser_headers())
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// The CSRF token the forms of `path` carry.
    pub async fn csrf(&self, path: &str) -> String {
        csrf_in(&self.page(path).await).expect("a csrf field in the page")
    }

    pub async fn stop(self) {
        self.app.stop().await;
    }
}

/// The `overdue_session=…` pair a response sets.
pub fn session_pair(response: &reqwest::Response) -> Option<String> {
    set_cookie(response).and_then(|c| c.split(';').next().map(str::to_owned))
}

/// The whole `Set-Cookie` value of the session cookie.
pub fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("overdue_session="))
        .map(str::to_owned)
}

/// The value of the first `name="csrf"` field in `html`.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)?;
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest.split('"').next().map(str::to_owned)
}
