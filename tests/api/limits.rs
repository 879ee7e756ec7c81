//! SPEC §9: limits and bad input — names, query and body sizes, encodings, routes.

use crate::common::{encode, spawn_app};
use crate::support::{assert_text_error, job_status, raw_get, raw_request};

const KIB: usize = 1024;

/// A `POST /ping` with a chunked body of `size` bytes, in 1 KiB chunks.
fn chunked_post(addr: std::net::SocketAddr, query: &str, size: usize) -> Vec<u8> {
    let mut request = format!(
        "POST /ping?{query} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\
         Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    let mut left = size;
    while left > 0 {
        let n = left.min(KIB);
        request.extend_from_slice(format!("{n:X}\r\n").as_bytes());
        request.extend(std::iter::repeat_n(b'x', n));
        request.extend_from_slice(b"\r\n");
        left -= n;
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

#[tokio::test]
async fn a_name_of_200_bytes_is_accepted_and_201_bytes_is_refused() {
    let app = spawn_app().await;
    let ascii = "n".repeat(200);
    assert_eq!(app.ping(&ascii, "1m").await.status(), 200);
    assert_eq!(app.job(&ascii).await["name"], ascii.as_str());
    let too_long = "n".repeat(201);
    let body = assert_text_error(app.ping(&too_long, "1m").await, 400).await;
    assert!(body.contains("200"), "{body}");
    assert_eq!(job_status(&app, &too_long).await.0, 400);
    // Bytes, not characters: 100 two-byte characters fit, 101 do not.
    let wide = "é".repeat(100);
    assert_eq!(app.ping(&wide, "1m").await.status(), 200);
    let too_wide = "é".repeat(101);
    assert_eq!(app.ping(&too_wide, "1m").await.status(), 400);
    let list: serde_json::Value = app.get("/pings").await.json().await.unwrap();
    assert_eq!(list["total"], 2);
    app.stop().await;
}

#[tokio::test]
async fn names_with_control_characters_are_refused_with_400() {
    let app = spawn_app().await;
    for escaped in ["a%0Ab", "%00", "tab%09", "del%7F", "cr%0D%0Alf", "c1%C2%85"] {
        let response = app.get(&format!("/ping?name={escaped}&frequency=1m")).await;
        let body = assert_text_error(response, 400).await;
        assert!(body.contains("control"), "{escaped}: {body}");
        let response = app.get(&format!("/ping/{escaped}")).await;
        assert_eq!(response.status(), 400, "/ping/{escaped}");
    }
    let list: serde_json::Value = app.get("/pings").await.json().await.unwrap();
    assert_eq!(list["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn a_query_longer_than_8_kib_is_refused() {
    let app = spawn_app().await;
    let head = "name=long&frequency=1m&pad=";
    let exact = format!("{head}{}", "p".repeat(8 * KIB - head.len()));
    assert_eq!(exact.len(), 8 * KIB);
    let r = app.get(&format!("/ping?{exact}")).await;
    assert_eq!(r.status(), 200, "a query of exactly 8 KiB is accepted");
    let over = format!("{exact}p");
    let r = app.get(&format!("/ping?{over}")).await;
    let status = r.status().as_u16();
    assert!([414, 400].contains(&status), "{status}");
    assert_text_error(r, status).await;
    let huge = format!("/ping?name=huge&frequency=1m&pad={}", "p".repeat(32 * KIB));
    let r = app.get(&huge).await;
    assert!([414, 400].contains(&r.status().as_u16()), "{}", r.status());
    assert_eq!(job_status(&app, "huge").await.0, 404);
    let r = app.get(&format!("/pings?{over}")).await;
    assert!([414, 400].contains(&r.status().as_u16()), "{}", r.status());
    app.stop().await;
}

#[tokio::test]
async fn a_body_of_16_kib_is_accepted_and_ignored() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/ping?name=body&frequency=1m"))
        .body(vec![b'x'; 16 * KIB])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "Successfully recorded ping for body\n"
    );
    let raw = raw_request(app.addr, &chunked_post(app.addr, "name=body", 16 * KIB)).await;
    assert_eq!(raw.status, 200, "{raw:?}");
    assert_eq!(raw.body.trim_end(), "Successfully recorded ping for body");
    assert_eq!(app.job("body").await["pings_total"], 2);
    app.stop().await;
}

#[tokio::test]
async fn a_body_of_17_kib_with_content_length_is_refused_with_413() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/ping?name=big&frequency=1m"))
        .body(vec![b'x'; 17 * KIB])
        .send()
        .await
        .unwrap();
    assert_text_error(r, 413).await;
    assert_eq!(job_status(&app, "big").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_chunked_body_of_17_kib_is_refused_with_413() {
    let app = spawn_app().await;
    let request = chunked_post(app.addr, "name=chunky&frequency=1m", 17 * KIB);
    let raw = raw_request(app.addr, &request).await;
    assert_eq!(raw.status, 413, "{raw:?}");
    let content_type = raw.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{raw:?}");
    assert_eq!(job_status(&app, "chunky").await.0, 404);
    // The server still answers.
    assert_eq!(app.get("/livez").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn escapes_that_are_not_utf8_are_refused_with_400() {
    let app = spawn_app().await;
    for query in [
        "name=%FF&frequency=1m",
        "name=ok&frequency=%C3",
        "name=ok%E2%82&frequency=1m",
        "%FF=x&name=ok&frequency=1m",
    ] {
        let r = app.get(&format!("/ping?{query}")).await;
        let body = assert_text_error(r, 400).await;
        assert!(body.contains("UTF-8"), "{query}: {body}");
    }
    assert_eq!(app.get("/ping/%FF").await.status(), 400);
    assert_eq!(app.get("/pings?after=%FF").await.status(), 400);
    let list: serde_json::Value = app.get("/pings").await.json().await.unwrap();
    assert_eq!(list["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn raw_bytes_that_are_not_utf8_in_the_query_never_cause_a_5xx() {
    let app = spawn_app().await;
    for target in [
        "/ping?name=%&frequency=1m",
        "/ping?name=%2&frequency=1m",
        "/ping?name=%zz&frequency=1m",
        "/ping?&&&=&=",
        "/ping?name==&frequency==1m",
    ] {
        let raw = raw_get(app.addr, target).await;
        assert!(raw.status < 500, "{target}: {raw:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_route_answers_404() {
    let app = spawn_app().await;
    // `/` is the dashboard (SPEC §15).
    for path in ["/nope", "/pingz?name=a", "/ping/a/b", "/metrics/nowhere"] {
        let response = app.get(path).await;
        let body = assert_text_error(response, 404).await;
        assert!(!body.is_empty(), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_method_answers_405() {
    let app = spawn_app().await;
    let r = app
        .client
        .put(app.url("/ping?name=a&frequency=1m"))
        .send()
        .await
        .unwrap();
    assert_text_error(r, 405).await;
    // DELETE /ping is the remove endpoint (SPEC §4); PATCH is no route's method.
    let r = app
        .client
        .patch(app.url("/ping?name=a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = app.client.post(app.url("/pings")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = app.client.post(app.url("/livez")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(job_status(&app, "a").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn livez_answers_ok_and_readyz_answers_200() {
    let app = spawn_app().await;
    let r = app.get("/livez").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().is_empty());
    let r = app.client.head(app.url("/livez")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_encoded_slash_in_a_job_path_is_one_name() {
    let app = spawn_app().await;
    assert_eq!(app.ping("a/b", "1m").await.status(), 200);
    assert_eq!(app.job("a/b").await["name"], "a/b");
    assert_eq!(
        app.get(&format!("/ping/{}", encode("a"))).await.status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Other clients are served meanwhile.
    let r = app.get("/ping?name=meanwhile&frequency=1m").await;
    assert_eq!(r.status(), 200);
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(25),
        slow.read_to_end(&mut buf),
    )
    .await;
    assert!(
        closed.is_ok(),
        "the connection was still open after {:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(
        !text.contains(" 200 "),
        "incomplete headers were served: {text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_ends_within_the_request_time_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(
        b"POST /ping?name=slowbody&frequency=1m HTTP/1.1\r\nHost: x\r\n\
          Content-Length: 1000\r\nConnection: close\r\n\r\nonly a few bytes",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let ended = tokio::time::timeout(
        std::time::Duration::from_secs(25),
        slow.read_to_end(&mut buf),
    )
    .await;
    assert!(ended.is_ok(), "the request was still open after 25 s");
    let text = String::from_utf8_lossy(&buf);
    if let Some(status) = text.split(' ').nth(1) {
        assert!(!status.starts_with('5') && status != "200", "{text}");
    }
    assert_eq!(job_status(&app, "slowbody").await.0, 404);
    app.stop().await;
}
