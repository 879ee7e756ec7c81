//! Alert headers, and Standard Webhooks signatures verified by an HMAC computed here.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::common::{now_unix, spawn_app_with, Received, Reply, Webhook};
use crate::support::{header, id_of, ping_overdue, signature_matches, WAIT};

/// Asserts the Standard Webhooks headers of a signed alert, apart from the signature.
fn assert_webhook_headers(alert: &Received, received_at: i64) {
    let id = id_of(alert);
    assert_eq!(header(alert, "webhook-id"), id);
    assert_eq!(header(alert, "idempotency-key"), id);
    let timestamp: i64 = header(alert, "webhook-timestamp")
        .parse()
        .expect("webhook-timestamp is unix seconds");
    assert!(
        (received_at - 10..=received_at + 1).contains(&timestamp),
        "webhook-timestamp {timestamp} should be the time of sending ({received_at})"
    );
    assert!(
        header(alert, "webhook-signature").starts_with("v1,"),
        "{:?}",
        alert.headers
    );
}

#[tokio::test]
async fn alerts_carry_user_agent_content_type_and_idempotency_key_and_no_signature_without_a_secret(
) {
    let hook = Webhook::start().await;
    let app = spawn_app_with(&["--alert-uri", &hook.url, "--realert-every", "1h"]).await;
    ping_overdue(&app, "headers").await;
    let got = hook.wait_for(1, WAIT).await;
    let alert = &got[0];
    assert_eq!(
        header(alert, "user-agent"),
        format!("overdue/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(header(alert, "content-type"), "application/json");
    assert_eq!(header(alert, "idempotency-key"), id_of(alert));
    let webhook_headers: Vec<_> = alert
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("webhook-"))
        .collect();
    assert!(
        webhook_headers.is_empty(),
        "unsigned alerts carry no webhook-* headers: {webhook_headers:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_plain_secret_signs_alerts_with_its_bytes_as_the_hmac_key() {
    let secret = "plain secret, used as bytes";
    // The first attempt fails, so the retry's signature is checked too.
    let hook = Webhook::start_with(|n| Reply::status(if n == 0 { 500 } else { 200 })).await;
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--alert-secret",
        secret,
        "--realert-every",
        "1h",
    ])
    .await;
    ping_overdue(&app, "signed").await;
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(
        id_of(&got[0]),
        id_of(&got[1]),
        "the second request is the retry"
    );
    for alert in &got {
        assert_webhook_headers(alert, now_unix());
        assert!(
            signature_matches(secret.as_bytes(), alert),
            "signature {:?} does not verify with the secret's bytes",
            header(alert, "webhook-signature")
        );
        assert!(!signature_matches(b"another secret", alert));
    }
    app.stop().await;
}

#[tokio::test]
async fn a_whsec_secret_is_base64_decoded_into_the_hmac_key() {
    let key: Vec<u8> = (0u8..32).map(|b| b.wrapping_mul(37) ^ 0xA5).collect();
    let secret = format!("whsec_{}", STANDARD.encode(&key));
    let hook = Webhook::start().await;
    let app = spawn_app_with(&[
        "--alert-uri",
        &hook.url,
        "--alert-secret",
        &secret,
        "--realert-every",
        "1h",
    ])
    .await;
    ping_overdue(&app, "signed-whsec").await;
    let got = hook.wait_for(1, WAIT).await;
    let alert = &got[0];
    assert_webhook_headers(alert, now_unix());
    assert!(
        signature_matches(&key, alert),
        "signature {:?} does not verify with the decoded whsec_ key",
        header(alert, "webhook-signature")
    );
    assert!(
        !signature_matches(secret.as_bytes(), alert),
        "the whsec_ text itself must not be the key"
    );
    app.stop().await;
}
