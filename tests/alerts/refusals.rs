//! A webhook that refuses an alert (a 4xx): the log says why, in the webhook's own
//! words (its answer's first line, bounded), so the operator need not guess. The real
//! binary, reading its JSON log.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{ping, Server};

/// A receiver on port 0 that answers every request `400` with `body`; returns its URL.
fn refusing_receiver(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            // Reads the request (it is small) up to the end of its body.
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if rest.len() >= length {
                        break;
                    }
                }
            }
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

fn wait_for_log(server: &Server, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = server
            .output
            .lock()
            .expect("output lock")
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| matches(l));
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no log line {what}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_refusal_is_logged_with_the_first_line_of_the_webhooks_answer() {
    let long_line: &'static str = Box::leak(format!("{}\nnever logged", "y".repeat(1000)).into());
    for (body, expected) in [
        ("missing field x\nsecond line", "missing field x".to_owned()),
        // A long first line is cut, not logged whole.
        (long_line, "y".repeat(200)),
    ] {
        let url = refusing_receiver(body);
        let server = Server::start(
            "memory://",
            &[
                "--alert-uri",
                &url,
                "--sweep-interval",
                "50ms",
                "--log-format",
                "json",
            ],
        );
        let old = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            - 3600)
            .to_string();
        let (status, _) = ping(
            &server,
            &[("name", "late"), ("frequency", "1m"), ("timestamp", &old)],
        );
        assert_eq!(status, 200);
        let line = wait_for_log(&server, "refusing the alert", |l| {
            l["message"] == "alert refused by the webhook; not retried"
        });
        assert_eq!(line["answer"], Value::String(expected), "{line}");
        assert_eq!(line["job"], "late");
        server.stop();
    }
}
