//! The `webhook` kind: the JSON alert of SPEC §5, with `Idempotency-Key` and, with
//! `--alert-secret`, the Standard Webhooks headers.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};

use super::{http, Context, Outcome};
use crate::alerts::Signer;
use crate::domain::Alert;

pub(super) async fn send(
    ctx: &Context<'_>,
    url: &reqwest::Url,
    signer: Option<&Signer>,
    alert: &Alert,
) -> Outcome {
    let now = ctx.sent_at;
    let body = match serde_json::to_vec(&alert.payload(now, ctx.monitor)) {
        Ok(body) => body,
        Err(e) => return Outcome::give_up(format!("cannot encode the alert: {e}")),
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(&alert.id) {
        headers.insert("idempotency-key", id.clone());
        if let Some(signer) = signer {
            headers.insert("webhook-id", id);
            headers.insert("webhook-timestamp", HeaderValue::from(now.secs()));
            if let Ok(sig) = HeaderValue::from_str(&signer.sign(&alert.id, now.secs(), &body)) {
                headers.insert("webhook-signature", sig);
            }
        }
    }
    let request = ctx.client.post(url.clone()).headers(headers).body(body);
    http::send(request, "webhook").await
}
