//! Connection limits (issue 7): the `--max-connections` cap, slow clients cut by the
//! header-read and request timeouts, and the optional per-client `--rate-limit`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::spawn_app_with;
use crate::support::{assert_text_error, raw_request, RawResponse};

/// A keep-alive connection that has been served once, so it holds one of the slots.
async fn held_connection(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(request_on(&mut stream, "/livez").await, 200);
    stream
}

/// Sends `GET path` on an open keep-alive connection and reads one response; its
/// status, or 0 when the connection was closed instead.
async fn request_on(stream: &mut TcpStream, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: overdue\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return head.split(' ').nth(1).and_then(|s| s.parse().ok());
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("an answer or a close within 20 s")
        .unwrap_or(0)
}

/// Reads from `stream` until the server closes it; how long that took from `since`,
/// and what was received. Panics when it is still open after `limit`.
async fn wait_closed(
    stream: &mut TcpStream,
    since: Instant,
    limit: Duration,
) -> (Duration, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let closed = tokio::time::timeout(limit.saturating_sub(since.elapsed()), async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "still open {:?} after it started",
        since.elapsed()
    );
    (since.elapsed(), String::from_utf8_lossy(&buf).into_owned())
}

#[tokio::test]
async fn a_connection_beyond_the_cap_is_answered_503_while_the_others_are_served() {
    let app = spawn_app_with(&["--max-connections", "5"]).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(held_connection(app.addr).await);
    }

    let refused = raw_request(
        app.addr,
        b"GET /ping?name=sixth&frequency=1m HTTP/1.1\r\nHost: overdue\r\n\r\n",
    )
    .await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(
        refused.header("retry-after").as_deref(),
        Some("1"),
        "{refused:?}"
    );
    assert_eq!(refused.header("connection").as_deref(), Some("close"));
    assert!(refused.body.contains("--max-connections"), "{refused:?}");
    assert!(
        !refused.body.trim_end().contains('\n'),
        "one line: {refused:?}"
    );
    let json = raw_request(
        app.addr,
        b"GET /livez HTTP/1.1\r\nHost: overdue\r\nAccept: application/json\r\n\r\n",
    )
    .await;
    assert_eq!(json.status, 503);
    let body: serde_json::Value = serde_json::from_str(&json.body).expect("JSON error");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("--max-connections"));

    // The five connections inside the cap are still served, and nothing was recorded
    // for the refused ping.
    for stream in &mut held {
        assert_eq!(
            request_on(stream, "/ping?name=held&frequency=1m").await,
            200
        );
    }
    assert_eq!(request_on(&mut held[0], "/ping/sixth").await, 404);

    // A closed connection frees its slot for the next client.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        match request_on(&mut stream, "/livez").await {
            200 => break,
            status => {
                assert_eq!(status, 503);
                assert!(Instant::now() < deadline, "the freed slot was never reused");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn a_flood_beyond_the_cap_is_refused_or_closed_while_the_admitted_clients_carry_on() {
    let app = spawn_app_with(&["--max-connections", "2"]).await;
    let mut held = [
        held_connection(app.addr).await,
        held_connection(app.addr).await,
    ];
    // 400 connections beyond the cap that never send a request: up to 256 are given
    // 2 s to send one before they are closed, the others are closed at once.
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..400 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        flood.spawn(async move {
            let since = Instant::now();
            wait_closed(&mut stream, since, Duration::from_secs(15)).await
        });
    }
    for stream in &mut held {
        let sent = Instant::now();
        assert_eq!(request_on(stream, "/livez").await, 200);
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "{:?}",
            sent.elapsed()
        );
    }
    while let Some(result) = flood.join_next().await {
        let (took, got) = result.expect("flood task");
        assert!(
            took < Duration::from_secs(10),
            "a refused connection lasted {took:?}"
        );
        assert!(!got.contains(" 200 "), "{got}");
    }
    // After the flood a client beyond the cap still gets its 503 at once.
    let sent = Instant::now();
    let refused = raw_request(app.addr, b"GET /livez HTTP/1.1\r\nHost: o\r\n\r\n").await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(sent.elapsed() < Duration::from_secs(1));
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn silent_connections_cannot_hold_the_cap_beyond_the_header_timeout() {
    let app = spawn_app_with(&["--max-connections", "2"]).await;
    let started = Instant::now();
    // Two connections that never send a byte take both slots...
    let mut silent = [
        TcpStream::connect(app.addr).await.unwrap(),
        TcpStream::connect(app.addr).await.unwrap(),
    ];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let refused = raw_request(app.addr, b"GET /livez HTTP/1.1\r\nHost: o\r\n\r\n").await;
        if refused.status == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "the cap was never reached");
    }
    // ...until the 10 s header-read timeout closes them.
    for stream in &mut silent {
        let (took, got) = wait_closed(stream, started, Duration::from_secs(20)).await;
        assert!(took >= Duration::from_secs(9), "closed early: {took:?}");
        assert!(!got.contains(" 200 "), "{got}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        if request_on(&mut stream, "/livez").await == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slots were not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_gets_the_header_timeout_anew_after_each_response() {
    let app = spawn_app_with(&[]).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    // Requests 6 s apart keep the connection: each response restarts its 10 s.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(request_on(&mut stream, "/livez").await, 200, "still served");
    }
    let last = Instant::now();
    let (took, got) = wait_closed(&mut stream, last, Duration::from_secs(20)).await;
    assert!(took >= Duration::from_secs(9), "closed early: {took:?}");
    assert!(took <= Duration::from_secs(13), "closed late: {took:?}");
    assert!(
        got.is_empty(),
        "nothing is sent to an idle connection: {got}"
    );
    app.stop().await;
}

/// Writes `bytes` one at a time, `every` apart, until the server closes the
/// connection (or the bytes run out); returns how long it was open and what came back.
async fn trickle(addr: SocketAddr, bytes: Vec<u8>, every: Duration) -> (Duration, String) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.split();
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    let write = async {
        for byte in bytes {
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(every).await;
        }
        std::future::pending::<()>().await;
    };
    let read = async {
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            () = write => {}
            () = read => {}
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "a slow client was still connected after 30 s"
    );
    (
        started.elapsed(),
        String::from_utf8_lossy(&received).into_owned(),
    )
}

#[tokio::test]
async fn slow_clients_are_cut_by_the_timeouts_without_starving_others() {
    let app = spawn_app_with(&[]).await;
    let every = Duration::from_millis(250);
    // Half a header, sent one byte at a time and never finished.
    let mut header = b"GET /ping?name=loris&frequency=1m HTTP/1.1\r\nHost: o\r\n".to_vec();
    header.extend(
        std::iter::repeat_n(b'x', 200)
            .chain(b": y\r\n".iter().copied())
            .cycle()
            .take(2000),
    );
    // A complete header, then a body trickled byte by byte that would take 250 s.
    let mut body = b"POST /ping?name=trickle&frequency=1m HTTP/1.1\r\nHost: o\r\n\
        Content-Length: 1000\r\n\r\n"
        .to_vec();
    let head_len = body.len();
    body.extend(std::iter::repeat_n(b'b', 1000));

    let mut slow = tokio::task::JoinSet::new();
    for i in 0..30 {
        let addr = app.addr;
        let (bytes, kind) = if i % 2 == 0 {
            (header.clone(), "header")
        } else {
            (body.clone(), "body")
        };
        slow.spawn(async move {
            if kind == "body" {
                // The header goes in one piece; only the body trickles.
                let started = Instant::now();
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.write_all(&bytes[..head_len]).await.unwrap();
                let rest = bytes[head_len..].to_vec();
                let (mut reader, mut writer) = stream.split();
                let mut got = Vec::new();
                let mut chunk = [0u8; 1024];
                let outcome = tokio::time::timeout(Duration::from_secs(30), async {
                    tokio::select! {
                        () = async {
                            for byte in rest {
                                if writer.write_all(&[byte]).await.is_err() { break; }
                                tokio::time::sleep(every).await;
                            }
                            std::future::pending::<()>().await;
                        } => {}
                        () = async {
                            loop {
                                match reader.read(&mut chunk).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                                }
                            }
                        } => {}
                    }
                })
                .await;
                assert!(outcome.is_ok(), "a trickled body was still open after 30 s");
                (
                    kind,
                    started.elapsed(),
                    String::from_utf8_lossy(&got).into_owned(),
                )
            } else {
                let (took, got) = trickle(addr, bytes, every).await;
                (kind, took, got)
            }
        });
    }

    // Meanwhile, ordinary clients are served promptly.
    let mut slowest = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(11);
    let mut served = 0;
    while Instant::now() < until {
        let sent = Instant::now();
        let response = app.ping(&format!("meanwhile-{served}"), "1m").await;
        assert_eq!(response.status(), 200);
        slowest = slowest.max(sent.elapsed());
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a ping took {slowest:?} while slow clients were connected"
    );

    while let Some(result) = slow.join_next().await {
        let (kind, took, got) = result.expect("slow client task");
        // Cut at 10 s (the header-read timeout, or the request timeout while the body
        // trickles), with room for a loaded machine.
        assert!(
            took >= Duration::from_secs(9) && took < Duration::from_secs(20),
            "{kind}: cut after {took:?}"
        );
        assert!(
            !got.contains(" 200 "),
            "{kind}: a slow request was served: {got}"
        );
        if kind == "body" {
            assert!(
                got.starts_with("HTTP/1.1 408"),
                "a trickled body gets 408: {got}"
            );
        }
    }
    for name in ["loris", "trickle"] {
        let r = app.get(&format!("/ping/{name}")).await;
        assert_eq!(r.status(), 404, "{name} must not be recorded");
    }
    app.stop().await;
}

#[tokio::test]
async fn beyond_the_rate_limit_a_client_gets_429_with_retry_after() {
    let app = spawn_app_with(&["--rate-limit", "3/m"]).await;
    for i in 0..3 {
        let r = app.ping(&format!("limited-{i}"), "1m").await;
        assert_eq!(r.status(), 200, "request {i} is within the burst");
    }
    let r = app.ping("limited-3", "1m").await;
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    let body = assert_text_error(r, 429).await;
    assert!(
        body.contains("--rate-limit") && body.contains("3/m"),
        "{body}"
    );
    let r = app
        .client
        .get(app.url("/pings"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "admin routes count too");
    assert!(r.headers().contains_key("retry-after"));
    let json: serde_json::Value = r.json().await.unwrap();
    assert!(json["error"].as_str().unwrap().contains("--rate-limit"));

    // The probes stay open to an orchestrator whatever the budget.
    for probe in ["/livez", "/readyz"] {
        for _ in 0..5 {
            assert_eq!(app.get(probe).await.status(), 200, "{probe}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_rate_limited_client_is_served_again_after_retry_after() {
    let app = spawn_app_with(&["--rate-limit", "2/s"]).await;
    let mut limited: Option<RawResponse> = None;
    for _ in 0..20 {
        let r = raw_request(
            app.addr,
            b"GET /ping?name=bursty&frequency=1m HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n",
        )
        .await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200);
    }
    let limited = limited.expect("20 requests at once exceed 2/s");
    let wait: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert_eq!(wait, 1, "{limited:?}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(app.ping("bursty", "1m").await.status(), 200);
    app.stop().await;
}
