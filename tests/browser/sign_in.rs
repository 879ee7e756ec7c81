//! Signing in with the admin token and out again (SPEC §15 "Access").

use serde_json::Value;

use crate::support::{ping, Session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_with_the_token_and_out_again() {
    let session = Session::start(&["--admin-token", "s3cret"]).await;
    ping(&session.app, "backup").await;
    let page = &session.page;

    // Without a session the dashboard sends the browser to the sign-in form.
    page.goto(&session.url("/")).await;
    assert!(
        page.url().await.contains("/ui/sign-in"),
        "{}",
        page.url().await
    );
    assert_eq!(
        page.count("form[method=post][action='/ui/sign-in'] input[type=password][name=token]")
            .await,
        1
    );
    page.screenshot("sign-in").await;

    page.type_into("input[name=token]", "wrong").await;
    page.click_button("form[action='/ui/sign-in']", "Sign in")
        .await;
    let body = page.text("body").await;
    assert!(body.contains("Wrong token."), "{body}");
    assert_eq!(page.count("tr[data-job]").await, 0);
    page.screenshot("sign-in-wrong-token").await;

    page.type_into("input[name=token]", "s3cret").await;
    page.click_button("form[action='/ui/sign-in']", "Sign in")
        .await;
    assert!(page.url().await.ends_with('/'), "{}", page.url().await);
    assert_eq!(page.count("table#jobs tr[data-job='backup']").await, 1);
    // The session cookie is out of the page's reach, and strict about sites.
    assert_eq!(
        page.eval("document.cookie.includes('overdue_session')")
            .await,
        Value::Bool(false)
    );
    let cookies = page.cookies().await;
    let cookie = cookies
        .iter()
        .find(|c| c["name"] == "overdue_session")
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    page.assert_no_faults().await;
    page.screenshot("jobs-signed-in").await;

    page.click_button("header", "Sign out").await;
    page.goto(&session.url("/")).await;
    assert!(
        page.url().await.contains("/ui/sign-in"),
        "signed out, the jobs page asks for the token again: {}",
        page.url().await
    );
    assert_eq!(page.count("tr[data-job]").await, 0);
    session.stop().await;
}
