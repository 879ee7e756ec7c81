//! Secrets planted in every kind's URL (tokens, passwords, paths, queries) never show
//! in the log at trace level, `/health`, `/metrics`, `/channels`, the answer of
//! `POST /channels/test`, a job's delivery events, the dashboard's pages, the SQLite store's files, a start
//! refused for a bad URL, or `--help`.

use std::time::{Duration, Instant};

use crate::harness::{command, run_to_exit, Server};
use crate::support::Recorder;

const SECRETS: [&str; 14] = [
    "whPASS1",
    "whPATH2",
    "whKEY3",
    "slackPATH4",
    "discordTOKEN5",
    "teamsSIG6",
    "ntfyPASS7",
    "ntfyTOPIC8",
    "tgTOKEN9",
    "tgCHAT10",
    "pdKEY11",
    "ogKEY12",
    "amPATH13",
    "smtpPASS14",
];

fn assert_hidden(place: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{secret:?} appears in {place}:\n{text}"
        );
    }
}

fn urls(addr: std::net::SocketAddr) -> Vec<String> {
    vec![
        format!("http://user:whPASS1@{addr}/hook/whPATH2?key=whKEY3"),
        format!("slack+http://{addr}/services/slackPATH4"),
        format!("discord+http://{addr}/api/webhooks/1/discordTOKEN5"),
        format!("teams+http://{addr}/workflows/x?sig=teamsSIG6"),
        format!("ntfy+http://user:ntfyPASS7@{addr}/ntfyTOPIC8"),
        format!("telegram+http://{addr}/bottgTOKEN9?chat_id=tgCHAT10"),
        format!("pagerduty+http://{addr}/v2/enqueue?routing_key=pdKEY11"),
        format!("opsgenie+http://{addr}/v2/alerts?api_key=ogKEY12"),
        format!("alertmanager+http://{addr}/amPATH13"),
        // Nothing listens on port 1: its connection errors are logged.
        "smtp://user:smtpPASS14@127.0.0.1:1?from=a@x.example&to=b@x.example&tls=off".to_owned(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_in_channel_urls_never_appear_in_logs_answers_or_errors() {
    // Every other request fails, so that refusals, retries and answers are logged.
    let service =
        Recorder::start_with(|n| (if n % 2 == 0 { 500 } else { 200 }, Duration::ZERO)).await;
    let urls = urls(service.addr);
    let mut args = vec!["--realert-every", "0", "--sweep-interval", "50ms"];
    for url in &urls {
        args.extend(["--notify", url.as_str()]);
    }
    // On SQLite, so that the stored outbox entries (keyed by channel) are checked too.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("o.db").display());
    let mut cmd = command(&["--listen", "127.0.0.1:0", "--store", &store]);
    cmd.args(&args).env("RUST_LOG", "trace");
    let server = tokio::task::spawn_blocking(move || Server::spawn(cmd))
        .await
        .expect("spawn");
    let client = reqwest::Client::new();
    let old = (crate::common::now_unix() - 120).to_string();
    let response = client
        .get(server.url("/ping"))
        .query(&[
            ("name", "secretive"),
            ("frequency", "1m"),
            ("timestamp", old.as_str()),
        ])
        .send()
        .await
        .expect("ping");
    assert_eq!(response.status(), 200);
    // Nine HTTP channels, some retried after 1 s.
    service.wait_for(12).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.log().contains("smtp") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let test = client
        .post(server.url("/channels/test"))
        .send()
        .await
        .expect("test");
    assert_eq!(test.status(), 200);
    assert_hidden("POST /channels/test", &test.text().await.expect("body"));
    for path in [
        "/health",
        "/metrics",
        "/channels",
        "/metrics/performance",
        "/ping/secretive/events",
        // The dashboard (SPEC §14: never in the dashboard either).
        "/",
        "/ui/job?name=secretive",
        "/ui/health",
        "/ui/performance",
    ] {
        let body = client
            .get(server.url(path))
            .send()
            .await
            .expect(path)
            .text()
            .await
            .expect("body");
        assert_hidden(path, &body);
        // The pages that list channels do show them, by their redacted names.
        if path == "/ui/health" || path.starts_with("/ui/job") {
            assert!(
                body.contains("slack:127.0.0.1"),
                "{path} names the channels:\n{body}"
            );
        }
    }
    let log = server.log();
    assert!(
        log.contains("\"level\":\"TRACE\""),
        "the test needs trace logs"
    );
    assert!(log.contains("alert delivery failed; will retry"), "{log}");
    assert!(
        log.contains("email:127.0.0.1:1"),
        "the email channel is named in the log"
    );
    assert_hidden("the log", &log);
    drop(server);
    // The database and its journal name channels by key, never by URL.
    for file in std::fs::read_dir(dir.path()).expect("store dir") {
        let path = file.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read a store file");
        assert_hidden(
            &path.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
    }
}

#[test]
fn a_refused_url_and_help_never_show_a_secret() {
    for url in [
        "telegram+https://api.telegram.org/bottgTOKEN9",
        "pagerduty+https://events.pagerduty.com/whPATH2?key=pdKEY11",
        "smtp://u:smtpPASS14@mail.example?from=whKEY3",
        "ogKEY12://x",
        "https://h.example/amPATH13#events=teamsSIG6",
    ] {
        let finished = run_to_exit(command(&["--store", "memory://", "--notify", url]));
        assert_eq!(
            finished.status.code(),
            Some(2),
            "{url}: {}",
            finished.stderr
        );
        let stderr = finished.stderr.trim_end();
        assert!(!stderr.contains('\n'), "one line: {stderr}");
        assert!(
            stderr.contains("--notify") && stderr.contains("slack+https://"),
            "{stderr}"
        );
        assert_hidden("a start refusal", &finished.stderr);
        assert_hidden("a start refusal's stdout", &finished.stdout);
    }
    let all = urls("127.0.0.1:9".parse().expect("addr")).join(" ");
    let mut help = command(&["--help"]);
    help.env("OVERDUE_NOTIFY", &all);
    let finished = run_to_exit(help);
    assert_eq!(finished.status.code(), Some(0));
    assert!(finished.stdout.contains("--notify"));
    assert_hidden("--help", &finished.stdout);
}
