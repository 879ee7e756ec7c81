//! SPEC §3 and §9: no query string, however odd, makes the server answer 5xx or stop.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::common::spawn_app;

const KEYS: [&str; 12] = [
    "name",
    "frequency",
    "timestamp",
    "grace",
    "token",
    "limit",
    "after",
    "status",
    "",
    "nAme",
    "x",
    "name[]",
];

/// Percent-encodes every byte that is not unreserved, so arbitrary bytes (invalid UTF-8,
/// control characters, `&`, `=`) reach the server's decoder.
fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A parameter value: arbitrary bytes, or a plausible value, or raw query characters.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| escape(&b)),
        prop_oneof![
            Just("1m".to_owned()),
            Just("0s".to_owned()),
            Just("366D".to_owned()),
            Just("99999999999999999999999W".to_owned()),
            Just("-1".to_owned()),
            Just("253402300800".to_owned()),
            Just("9999-12-31T23:59:59Z".to_owned()),
            Just("up".to_owned()),
            Just("0".to_owned()),
            Just("18446744073709551616".to_owned()),
        ],
        "[a-zA-Z0-9&=%+ .:-]{0,30}",
        "[%+&=0-9A-Fa-f]{0,12}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        // Key/value pairs with known and junk keys.
        proptest::collection::vec((proptest::sample::select(KEYS.to_vec()), value()), 0..6)
            .prop_map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            }),
        // Raw strings made of the query's own metacharacters.
        "[&=%+a-z0-9]{0,60}",
    ]
}

#[derive(Debug, Clone)]
enum Target {
    GetPing,
    PostPing,
    HeadPing,
    Pings,
    Job(String),
    DeleteJob(String),
}

fn target() -> impl Strategy<Value = Target> {
    let segment = proptest::collection::vec(any::<u8>(), 1..30).prop_map(|b| escape(&b));
    prop_oneof![
        3 => Just(Target::GetPing),
        2 => Just(Target::PostPing),
        1 => Just(Target::HeadPing),
        2 => Just(Target::Pings),
        1 => segment.clone().prop_map(Target::Job),
        1 => segment.prop_map(Target::DeleteJob),
    ]
}

#[test]
fn arbitrary_queries_never_cause_a_5xx_and_the_server_keeps_answering() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = runtime.block_on(spawn_app());
    // A job whose name the generated requests sometimes hit.
    runtime.block_on(async {
        assert_eq!(app.ping("x", "1m").await.status(), 200);
    });
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(target(), query()), |(target, query)| {
        runtime.block_on(async {
            let client = &app.client;
            let (method, path) = match &target {
                Target::GetPing => (reqwest::Method::GET, format!("/ping?{query}")),
                Target::PostPing => (reqwest::Method::POST, format!("/ping?{query}")),
                Target::HeadPing => (reqwest::Method::HEAD, format!("/ping?{query}")),
                Target::Pings => (reqwest::Method::GET, format!("/pings?{query}")),
                Target::Job(name) => (reqwest::Method::GET, format!("/ping/{name}?{query}")),
                Target::DeleteJob(name) => {
                    (reqwest::Method::DELETE, format!("/ping/{name}?{query}"))
                }
            };
            let mut request = client.request(method.clone(), app.url(&path));
            if method == reqwest::Method::POST {
                request = request.body(query.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("{method} {path}: {e}")))?;
            let status = response.status();
            prop_assert!(
                !status.is_server_error(),
                "{} {} answered {}",
                method,
                path,
                status
            );
            let body = response.text().await.unwrap_or_default();
            if status.is_client_error() {
                prop_assert!(
                    method == reqwest::Method::HEAD || !body.trim().is_empty(),
                    "{} {}: empty error body",
                    method,
                    path
                );
            }
            Ok(())
        })
    });
    runtime.block_on(async {
        let livez = app.get("/livez").await;
        assert_eq!(livez.status(), 200);
        assert_eq!(livez.text().await.unwrap(), "ok\n");
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    runtime.block_on(app.stop());
}
