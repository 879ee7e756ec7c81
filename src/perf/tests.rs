//! Unit tests of the registry: route series, settings updates and the summary.

use super::routes::ROUTE_CAPACITY;
use super::*;
use axum::http::Method;

fn perf() -> Perf {
    Perf::new(PerfSettings::default())
}

#[test]
fn the_same_route_always_finds_the_same_series() {
    let p = perf();
    let a = p.route_index(&Method::GET, Some("/ping"));
    let b = p.route_index(&Method::GET, Some("/ping"));
    let c = p.route_index(&Method::HEAD, Some("/ping"));
    let d = p.route_index(&Method::from_bytes(b"BREW").unwrap(), Some("/ping"));
    let e = p.route_index(&Method::from_bytes(b"WHEN").unwrap(), Some("/ping"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(d, e, "invented methods share OTHER");
    assert_eq!(p.route_series(), 3);
}

#[test]
fn a_full_table_sends_new_routes_to_one_overflow_series() {
    let p = perf();
    for i in 0..ROUTE_CAPACITY + 10 {
        p.route_index(&Method::GET, Some(&format!("/r{i}")));
    }
    assert_eq!(p.route_series(), ROUTE_CAPACITY);
    let overflow = p.route_index(&Method::GET, Some("/yet-another"));
    assert_eq!(overflow, ROUTE_CAPACITY);
}

#[test]
fn a_million_requests_leave_the_registry_the_same_size() {
    let p = perf();
    let index = p.route_index(&Method::GET, Some("/ping"));
    let start = Instant::now();
    p.finish_request(index, 200, Duration::from_micros(50), start);
    let before = p.heap_bytes();
    for i in 0..1_000_000u64 {
        p.finish_request(index, 200, Duration::from_nanos(i % 5_000_000), start);
    }
    assert_eq!(p.heap_bytes(), before);
    assert_eq!(p.pings_total(), 1_000_001);
}

#[test]
fn summary_has_every_field_of_the_spec() {
    let p = perf();
    let index = p.route_index(&Method::GET, Some("/ping"));
    for ms in [1, 2, 3] {
        p.finish_request(index, 200, Duration::from_millis(ms), Instant::now());
    }
    p.record_store(StoreOp::Upsert, Duration::from_micros(20), Instant::now());
    let s = p.summary_json();
    let route = &s["routes"]["GET /ping"];
    assert_eq!(route["count"], 3);
    assert_eq!(route["total_ms"], 6.0);
    assert_eq!(route["min_ms"], 1.0);
    assert_eq!(route["max_ms"], 3.0);
    assert_eq!(route["last_ms"], 3.0);
    assert!((route["avg_ms"].as_f64().unwrap() - 2.0).abs() < 1e-9);
    assert!(route["last_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s["store"]["upsert"]["count"], 1);
    assert_eq!(s["alerts"], json!({}));
    assert_eq!(
        s["config"],
        json!({"enabled": true, "timing_header": false, "log_all_timings": false,
               "retention_seconds": 3600, "slow_request_ms": 250, "slow_store_ms": 100})
    );
}

#[test]
fn a_new_retention_starts_new_aggregates() {
    let p = perf();
    let index = p.route_index(&Method::GET, Some("/ping"));
    p.finish_request(index, 200, Duration::from_millis(1), Instant::now());
    p.update_config(br#"{"retention_seconds": 3600}"#).unwrap();
    assert_eq!(
        p.summary_json()["routes"]["GET /ping"]["count"],
        1,
        "unchanged"
    );
    p.update_config(br#"{"retention_seconds": 60}"#).unwrap();
    assert_eq!(p.summary_json()["routes"], json!({}));
    p.finish_request(index, 200, Duration::from_millis(1), Instant::now());
    assert_eq!(p.summary_json()["routes"]["GET /ping"]["count"], 1);
}

#[test]
fn config_updates_are_checked_as_a_whole_and_name_the_field() {
    let p = perf();
    for (body, field) in [
        (r#"{"enabled": "yes"}"#, "enabled"),
        (r#"{"timing_header": 1}"#, "timing_header"),
        (r#"{"log_all_timings": null}"#, "log_all_timings"),
        (r#"{"retention_seconds": 0}"#, "retention_seconds"),
        (r#"{"retention_seconds": 1.5}"#, "retention_seconds"),
        (r#"{"retention_seconds": 1000000}"#, "retention_seconds"),
        (r#"{"slow_request_ms": -1}"#, "slow_request_ms"),
        (r#"{"slow_store_ms": "fast"}"#, "slow_store_ms"),
        (r#"{"enabled": false, "colour": "blue"}"#, "colour"),
    ] {
        let err = p.update_config(body.as_bytes()).unwrap_err();
        assert!(err.contains(field), "{body}: {err}");
    }
    assert!(p.update_config(b"[1]").is_err());
    assert!(p.update_config(b"not json").is_err());
    assert!(p.enabled(), "nothing applied from a refused update");
    let config = p
        .update_config(br#"{"slow_request_ms": 12.5, "slow_store_ms": 0, "enabled": false}"#)
        .unwrap();
    assert_eq!(config["slow_request_ms"], 12.5);
    assert_eq!(config["slow_store_ms"], 0);
    assert_eq!(config["enabled"], false);
    assert_eq!(p.update_config(b"{}").unwrap(), config);
}
