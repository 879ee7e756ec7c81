//! Start, serve, stop on a signal (SPEC §2), and a stalled client (SPEC §9).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{client, job, ping, temp_db, Server};

/// Starts on a fresh database, pings, sends `signal`, and asserts exit 0 within 10 s
/// and a closed port afterwards.
fn stops_cleanly_on(signal: fn(&Server)) {
    let (_dir, db) = temp_db();
    let mut server = Server::start_sqlite(&db, &[]);
    let (status, body) = ping(&server, &[("name", "smoke"), ("frequency", "1m")]);
    assert_eq!(status, 200, "ping: {body}");
    assert_eq!(body["name"], "smoke");
    let text = client()
        .get(server.url("/ping?name=smoke"))
        .send()
        .expect("plain ping")
        .text()
        .expect("body");
    assert_eq!(text, "Successfully recorded ping for smoke\n");

    signal(&server);
    let started = Instant::now();
    let status = server.wait(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "expected exit 0 within 10 s, got {status:?} after {:?}:\n{}",
        started.elapsed(),
        server.log()
    );
    let refused = TcpStream::connect_timeout(&server.addr, Duration::from_secs(2));
    assert!(
        refused.is_err(),
        "{} still accepts connections after the process exited",
        server.addr
    );
    let log = server.log();
    assert!(log.contains("stopped"), "no \"stopped\" line in:\n{log}");
}

#[test]
fn sigterm_stops_the_server_with_exit_0_and_closes_the_port() {
    stops_cleanly_on(Server::sigterm);
}

#[test]
fn sigint_stops_the_server_with_exit_0_and_closes_the_port() {
    stops_cleanly_on(Server::sigint);
}

#[test]
fn a_request_in_flight_at_sigterm_is_answered_before_exit() {
    let (_dir, db) = temp_db();
    let mut server = Server::start_sqlite(&db, &[]);
    // A request whose headers are complete but whose body is still arriving is in
    // flight; shutdown must let it finish rather than cut it off.
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .write_all(
            b"POST /ping?name=inflight&frequency=1h HTTP/1.1\r\nHost: x\r\n\
              Content-Length: 4\r\nConnection: close\r\n\r\nab",
        )
        .expect("send head");
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(b"cd").expect("send rest of body");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request in flight got {answer:?}"
    );
    let status = server.wait(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");

    let server = Server::start_sqlite(&db, &[]);
    assert_eq!(
        job(&server, "inflight").0,
        200,
        "the answered ping was kept"
    );
    server.stop();
}

#[test]
fn a_stalled_client_does_not_hold_up_other_requests_and_is_disconnected() {
    let server = Server::start("memory://", &[]);
    let mut stalled = TcpStream::connect(server.addr).expect("connect");
    stalled
        .write_all(b"GET /ping?name=stalled&frequency=1m HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half")
        .expect("send half a header");
    let opened = Instant::now();

    for i in 0..20 {
        let name = format!("other-{i}");
        let (status, _) = ping(&server, &[("name", &name), ("frequency", "1m")]);
        assert_eq!(status, 200, "ping {name} while a client stalls");
    }
    assert!(
        opened.elapsed() < Duration::from_secs(5),
        "other requests were held up for {:?}",
        opened.elapsed()
    );

    // The header read timeout is 10 s: the server must give up on the stalled client.
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut rest = Vec::new();
    let read = stalled.read_to_end(&mut rest);
    let waited = opened.elapsed();
    assert!(
        read.is_ok() || waited < Duration::from_secs(19),
        "the stalled connection was still open after {waited:?}"
    );
    assert!(
        waited >= Duration::from_secs(8),
        "the stalled connection was closed after only {waited:?}"
    );
    assert!(
        waited <= Duration::from_secs(16),
        "the stalled connection was closed only after {waited:?}"
    );
    assert_eq!(
        job(&server, "stalled").0,
        404,
        "half a request recorded nothing"
    );
    server.stop();
}
