//! SPEC §15, access: sign-in with the admin token, the session cookie, sign-out, the
//! CSRF token and the cross-origin refusal, and the JSON admin routes with the cookie.

use crate::support::{csrf_in, session_pair, set_cookie, Dash, TOKEN};

#[tokio::test]
async fn a_page_without_a_session_is_sent_to_the_sign_in_page() {
    let dash = Dash::with_token(&[]).await;
    let response = dash.get("/ui/health").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/ui/sign-in");
    let form = dash.page("/ui/sign-in").await;
    assert!(form.contains(r#"<form class="sign-in" method="post" action="/ui/sign-in">"#));
    assert!(
        form.contains(r#"<input id="token" type="password" name="token" aria-label="Admin token""#)
    );
    assert!(form.contains(">Sign in</button>"));
    dash.stop().await;
}

#[tokio::test]
async fn the_bearer_token_opens_a_page_without_a_session() {
    let dash = Dash::with_token(&[]).await;
    let response = dash
        .client
        .get(dash.app.url("/ui/health"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    dash.stop().await;
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_for_twelve_hours() {
    let dash = Dash::with_token(&[]).await;
    let response = dash.sign_in(TOKEN, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let cookie = set_cookie(&response).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} in {cookie}"
        );
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    dash.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_behind_a_proxy_that_says_https() {
    let dash = Dash::with_token(&[]).await;
    let response = dash.sign_in(TOKEN, &[("x-forwarded-proto", "https")]).await;
    let cookie = set_cookie(&response).expect("a session cookie");
    assert!(cookie.split("; ").any(|a| a == "Secure"), "{cookie}");
    dash.stop().await;
}

#[tokio::test]
async fn a_wrong_token_answers_401_with_the_form_and_no_cookie() {
    let dash = Dash::with_token(&[]).await;
    let response = dash.sign_in("not-the-token", &[]).await;
    assert_eq!(response.status(), 401);
    assert!(set_cookie(&response).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("Wrong token."), "{html}");
    assert!(html.contains(r#"name="token""#));
    dash.stop().await;
}

#[tokio::test]
async fn a_signed_in_page_shows_sign_out_and_signing_out_ends_the_session() {
    let mut dash = Dash::signed_in(&[]).await;
    let html = dash.page("/ui/health").await;
    assert!(html.contains(r#"<form method="post" action="/ui/sign-out">"#));
    assert!(html.contains(">Sign out</button>"));
    let csrf = csrf_in(&html).expect("csrf");
    let old = dash.cookie.clone();
    let response = dash.post_form("/ui/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/ui/sign-in");
    let cleared = set_cookie(&response).expect("a clearing cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie, replayed, is refused.
    dash.cookie = old;
    assert_eq!(dash.get("/ui/health").await.status(), 303);
    dash.stop().await;
}

#[tokio::test]
async fn a_post_with_a_missing_or_wrong_csrf_token_is_403() {
    let dash = Dash::signed_in(&[]).await;
    let response = dash.post_form("/ui/sign-out", &[]).await;
    assert_eq!(response.status(), 403);
    let response = dash.post_form("/ui/sign-out", &[("csrf", "0123")]).await;
    assert_eq!(response.status(), 403);
    // Still signed in: nothing changed.
    assert_eq!(dash.get("/ui/health").await.status(), 200);
    dash.stop().await;
}

#[tokio::test]
async fn a_post_from_another_origin_is_403_even_with_the_csrf_token() {
    let dash = Dash::signed_in(&[]).await;
    let csrf = dash.csrf("/ui/health").await;
    let response = dash
        .client
        .post(dash.app.url("/ui/sign-out"))
        .header("cookie", dash.cookie.clone().unwrap())
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = dash
        .client
        .post(dash.app.url("/ui/sign-in"))
        .header("referer", "http://evil.example/login")
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(session_pair(&response).is_none());
    assert_eq!(dash.get("/ui/health").await.status(), 200);
    dash.stop().await;
}

#[tokio::test]
async fn a_form_post_without_a_session_is_401() {
    let dash = Dash::with_token(&[]).await;
    let response = dash.post_form("/ui/sign-out", &[("csrf", "x")]).await;
    assert_eq!(response.status(), 401);
    dash.stop().await;
}

#[tokio::test]
async fn the_json_admin_routes_accept_the_session_cookie() {
    let dash = Dash::signed_in(&[]).await;
    assert_eq!(dash.app.ping("backup", "1h").await.status(), 200);
    let response = dash.get("/ping/backup").await;
    assert_eq!(response.status(), 200);
    let response = dash.get("/pings").await;
    assert_eq!(response.status(), 200);
    // A change with the cookie alone is refused: a forged request could carry it.
    let response = dash
        .client
        .post(dash.app.url("/ping/backup/pause"))
        .headers(dash.browser_headers())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let job: serde_json::Value = dash.get("/ping/backup").await.json().await.unwrap();
    assert_eq!(job["status"], "up");
    let csrf = dash.csrf("/ui/health").await;
    let response = dash
        .client
        .post(dash.app.url("/ping/backup/pause"))
        .headers(dash.browser_headers())
        .header("x-csrf-token", csrf.as_str())
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "cross-origin");
    let response = dash
        .client
        .post(dash.app.url("/ping/backup/pause"))
        .header("cookie", dash.cookie.clone().unwrap())
        .header("x-csrf-token", csrf.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "no origin at all");
    let response = dash
        .client
        .post(dash.app.url("/ping/backup/pause"))
        .headers(dash.browser_headers())
        .header("x-csrf-token", csrf.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    dash.stop().await;
}

#[tokio::test]
async fn without_an_admin_token_the_dashboard_is_open_but_posts_still_need_the_csrf_token() {
    let dash = Dash::start(&[]).await;
    let html = dash.page("/ui/health").await;
    assert!(!html.contains("Sign out"));
    let response = dash.post_form("/ui/sign-out", &[]).await;
    assert_eq!(response.status(), 403);
    dash.stop().await;
}

#[tokio::test]
async fn every_page_carries_the_content_security_policy_and_the_other_headers() {
    let dash = Dash::signed_in(&[]).await;
    assert_eq!(dash.app.ping("backup", "1h").await.status(), 200);
    for path in [
        "/",
        "/ui/job?name=backup",
        "/ui/health",
        "/ui/performance",
        "/ui/sign-in",
    ] {
        let response = dash.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(
            headers["content-security-policy"],
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(!html.contains("style=\""), "{path}: an inline style");
        assert!(!html.contains("<script>"), "{path}: an inline script");
        for nav in [">Jobs</a>", ">Health</a>", ">Performance</a>"] {
            assert!(html.contains(nav), "{path}: {nav}");
        }
        assert!(html.contains(r#"<nav aria-label="Dashboard">"#));
    }
    dash.stop().await;
}
