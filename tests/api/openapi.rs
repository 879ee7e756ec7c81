//! SPEC §17: `GET /openapi.json` describes every route the router serves, and its
//! schemas describe the answers the routes really give.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::{spawn_app, spawn_app_with, TestApp};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.expect("the document is JSON")
}

/// Every (method, path) the document has an operation for.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_string(), path.clone()))
        })
        .collect()
}

fn routed() -> BTreeSet<(String, String)> {
    overdue::http::routes()
        .into_iter()
        .map(|r| (r.verb.as_str().to_owned(), r.path.to_owned()))
        .collect()
}

#[tokio::test]
async fn the_document_and_the_router_list_the_same_routes() {
    // Open like /health, even when the admin routes are not.
    let app = spawn_app_with(&["--admin-token", "s3cret"]).await;
    let doc = document(&app).await;
    let documented = documented(&doc);
    let routed = routed();
    assert_eq!(
        routed.len(),
        overdue::http::routes().len(),
        "a route is listed twice"
    );
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes without a description: {undocumented:?}; described but not routed: {unrouted:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_listed_route_is_served_with_its_method() {
    let app = spawn_app().await;
    // The /hc routes answer an unknown slug with healthchecks' own "not found": they
    // are called with a known one.
    assert_eq!(app.ping("known", "1h").await.status(), 200);
    for route in overdue::http::routes() {
        let path = route
            .path
            .replace("{name}", "nobody")
            .replace("{key}", "any-key")
            .replace("{slug}", "known")
            .replace("{exit_code}", "0");
        let method = reqwest::Method::from_bytes(route.verb.as_str().to_uppercase().as_bytes())
            .expect("method");
        let response = app
            .client
            .request(method, app.url(&path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        // The router's own refusals: no such route, or not with this method.
        assert_ne!(status, 405, "{route:?}: {body}");
        assert!(
            !(status == 404 && body == "not found\n"),
            "{route:?} is not routed"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_an_answer_for_every_operation() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert!(doc["info"]["title"].is_string());
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for scheme in ["admin_token", "ping_token_bearer", "ping_token_query"] {
        assert!(schemes.contains_key(scheme), "no {scheme}");
    }
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][&method];
        let responses = operation["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has no responses");
        for (status, response) in responses {
            assert!(
                response["description"].is_string(),
                "{method} {path} {status}"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"].get("application/json").is_some(),
                    "{method} {path} {status} names no error body"
                );
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_document_names_every_parameter_and_who_may_call() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let names = |method: &str, path: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has no parameters"))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let ping: BTreeSet<String> = [
        "name",
        "frequency",
        "timestamp",
        "grace",
        "token",
        "state",
        "exit_code",
        "rid",
        "max_runtime",
        "failure_tolerance",
    ]
    .map(String::from)
    .into();
    assert_eq!(names("get", "/ping"), ping);
    assert_eq!(names("post", "/ping"), ping);
    assert_eq!(
        names("get", "/pings"),
        ["status", "limit", "after"].map(String::from).into()
    );
    for (method, path) in [
        ("get", "/ping/{name}"),
        ("delete", "/ping/{name}"),
        ("delete", "/ping"),
        ("post", "/ping/remove"),
    ] {
        assert_eq!(
            names(method, path),
            ["name".to_owned()].into(),
            "{method} {path}"
        );
    }
    assert_eq!(
        names("get", "/ping/{name}/events"),
        ["name", "limit", "before"].map(String::from).into()
    );
    for method in ["get", "post"] {
        for path in [
            "/hc/{key}/{slug}",
            "/hc/{key}/{slug}/start",
            "/hc/{key}/{slug}/fail",
            "/hc/{key}/{slug}/log",
        ] {
            assert_eq!(
                names(method, path),
                ["key", "slug", "rid", "create"].map(String::from).into(),
                "{method} {path}"
            );
        }
        assert_eq!(
            names(method, "/hc/{key}/{slug}/{exit_code}"),
            ["key", "slug", "exit_code", "rid", "create"]
                .map(String::from)
                .into()
        );
    }
    assert!(doc["paths"]["/metrics/performance/config"]["put"]["requestBody"].is_object());
    for route in overdue::http::routes() {
        let security = &doc["paths"][route.path][route.verb.as_str()]["security"];
        let admin = security
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("admin_token").is_some()));
        assert_eq!(
            admin,
            route.access == overdue::http::Access::Admin,
            "{route:?}: {security}"
        );
    }
    app.stop().await;
}

/// The property names of a component schema.
fn properties(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no schema {schema}"))
        .keys()
        .cloned()
        .collect()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_schemas_describe_the_real_answers() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let response = app
        .client
        .get(app.url("/ping?name=backup&frequency=1D"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let job: Value = response.json().await.unwrap();
    assert_eq!(properties(&doc, "Job"), keys(&job));
    let required: BTreeSet<String> = doc["components"]["schemas"]["Job"]["required"]
        .as_array()
        .expect("required")
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(required, keys(&job), "every field of a job is always there");
    let page: Value = app.get("/pings").await.json().await.unwrap();
    assert_eq!(properties(&doc, "JobPage"), keys(&page));
    let config: Value = app
        .get("/metrics/performance/config")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(properties(&doc, "PerfConfig"), keys(&config));
    assert_eq!(properties(&doc, "PerfConfigUpdate"), keys(&config));
    let performance: Value = app.get("/metrics/performance").await.json().await.unwrap();
    assert_eq!(properties(&doc, "Performance"), keys(&performance));
    let health: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(properties(&doc, "HealthDocument"), keys(&health));
    let error: Value = app
        .client
        .get(app.url("/ping/nobody"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(properties(&doc, "ErrorBody"), keys(&error));
    let events: Value = app.get("/ping/backup/events").await.json().await.unwrap();
    assert_eq!(properties(&doc, "EventPage"), keys(&events));
    // Every field an event shows is described; the kinds name the events there are.
    let described = properties(&doc, "Event");
    let kinds: BTreeSet<String> = doc["components"]["schemas"]["EventKind"]["enum"]
        .as_array()
        .expect("the event kinds")
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    for event in events["events"].as_array().expect("events") {
        assert!(keys(event).is_subset(&described), "{event}");
        assert!(
            kinds.contains(event["kind"].as_str().unwrap_or("")),
            "{event}"
        );
    }
    app.stop().await;
}
