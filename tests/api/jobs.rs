//! SPEC §4: one job, deleting it, and the paginated list of jobs.

use std::time::Duration;

use tokio::task::JoinSet;

use crate::common::{encode, now_unix, spawn_app, TestApp};
use crate::support::{assert_text_error, job_status, poll_until};

/// `GET path` as JSON, asserting 200.
async fn get_json(app: &TestApp, path: &str) -> serde_json::Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

fn names(page: &serde_json::Value) -> Vec<String> {
    page["services"]
        .as_array()
        .expect("services is an array")
        .iter()
        .map(|job| job["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Creates the jobs `names`, several at a time.
async fn create_many(app: &TestApp, names: Vec<String>) {
    let mut tasks = JoinSet::new();
    let chunk_size = names.len().div_ceil(16).max(1);
    for chunk in names.chunks(chunk_size) {
        let chunk = chunk.to_vec();
        let client = app.client.clone();
        let url = app.url("/ping");
        tasks.spawn(async move {
            for name in chunk {
                let r = client
                    .get(&url)
                    .query(&[("name", name.as_str()), ("frequency", "1h")])
                    .send()
                    .await
                    .expect("ping");
                assert_eq!(r.status(), 200, "{name}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("ping task");
    }
}

/// Makes `name` a down job with a timestamp far past its deadline, and waits for it.
async fn make_down(app: &TestApp, name: &str) {
    let old = (now_unix() - 3600).to_string();
    let r = app
        .ping_with(&[("name", name), ("frequency", "1m"), ("timestamp", &old)])
        .await;
    assert_eq!(r.status(), 200);
    poll_until(Duration::from_secs(15), "job going down", || async {
        (app.job(name).await["status"] == "down").then_some(())
    })
    .await;
}

#[tokio::test]
async fn get_job_answers_404_for_an_unknown_name() {
    let app = spawn_app().await;
    let response = app.get("/ping/nobody").await;
    let body = assert_text_error(response, 404).await;
    assert!(body.contains("nobody"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn delete_removes_a_job_and_then_answers_404() {
    let app = spawn_app().await;
    assert_eq!(app.ping("doomed", "1m").await.status(), 200);
    let response = app
        .client
        .delete(app.url("/ping/doomed"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "Successfully deleted ping: doomed\n"
    );
    assert_eq!(job_status(&app, "doomed").await.0, 404);
    let again = app
        .client
        .delete(app.url("/ping/doomed"))
        .send()
        .await
        .unwrap();
    assert_text_error(again, 404).await;
    let list = get_json(&app, "/pings").await;
    assert_eq!(list["total"], 0);
    assert_eq!(names(&list), Vec::<String>::new());
    // The name can be used again, as a new job that needs a frequency.
    assert_eq!(app.ping_with(&[("name", "doomed")]).await.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn delete_of_an_unknown_name_answers_404() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(app.url("/ping/ghost"))
        .send()
        .await
        .unwrap();
    let body = assert_text_error(response, 404).await;
    assert!(body.contains("ghost"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn names_with_spaces_slashes_and_unicode_are_percent_encoded_in_the_path() {
    let app = spawn_app().await;
    for name in [
        "nightly backup",
        "db/dump/daily",
        "café ✓ 🚀",
        "a+b?c#d%e",
        "50%",
    ] {
        assert_eq!(app.ping(name, "1h").await.status(), 200, "{name}");
        let path = format!("/ping/{}", encode(name));
        let job = get_json(&app, &path).await;
        assert_eq!(job["name"], name, "{path}");
        let response = app.client.delete(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.text().await.unwrap(),
            format!("Successfully deleted ping: {name}\n")
        );
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn list_is_sorted_by_name_with_a_total() {
    let app = spawn_app().await;
    for name in ["charlie", "alpha", "Bravo", "delta", "ärger", "alpha2"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    let list = get_json(&app, "/pings").await;
    assert_eq!(
        names(&list),
        ["Bravo", "alpha", "alpha2", "charlie", "delta", "ärger"]
    );
    assert_eq!(list["total"], 6);
    assert!(list["next"].is_null(), "{list}");
    let first = &list["services"][0];
    assert_eq!(first["frequency_seconds"], 3600);
    assert_eq!(first["status"], "up");
    assert_eq!(*first, app.job("Bravo").await);
    app.stop().await;
}

#[tokio::test]
async fn an_empty_list_has_no_services_and_no_next() {
    let app = spawn_app().await;
    let list = get_json(&app, "/pings").await;
    assert_eq!(
        list,
        serde_json::json!({"services": [], "total": 0, "next": null})
    );
    app.stop().await;
}

#[tokio::test]
async fn the_status_filter_lists_up_or_down_jobs_with_their_own_total() {
    let app = spawn_app().await;
    for name in ["up-a", "up-b", "up-c"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    make_down(&app, "down-a").await;
    make_down(&app, "down-b").await;
    let down = get_json(&app, "/pings?status=down").await;
    assert_eq!(names(&down), ["down-a", "down-b"]);
    assert_eq!(down["total"], 2);
    assert!(down["services"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["status"] == "down"));
    let up = get_json(&app, "/pings?status=up").await;
    assert_eq!(names(&up), ["up-a", "up-b", "up-c"]);
    assert_eq!(up["total"], 3);
    let all = get_json(&app, "/pings").await;
    assert_eq!(all["total"], 5);
    let page = get_json(&app, "/pings?status=up&limit=2").await;
    assert_eq!(names(&page), ["up-a", "up-b"]);
    assert_eq!(page["total"], 3);
    assert_eq!(page["next"], "up-b");
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_status_filter_is_refused_with_400() {
    let app = spawn_app().await;
    for status in ["sideways", "UP", "1"] {
        let response = app.get(&format!("/pings?status={status}")).await;
        let body = assert_text_error(response, 400).await;
        assert!(body.contains("status"), "{status}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_limit_is_refused_with_400() {
    let app = spawn_app().await;
    assert_eq!(app.ping("one", "1h").await.status(), 200);
    for limit in ["0", "abc", "-1", "1.5", "ten"] {
        let response = app.get(&format!("/pings?limit={limit}")).await;
        let body = assert_text_error(response, 400).await;
        assert!(body.contains("limit"), "{limit}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn after_is_exclusive() {
    let app = spawn_app().await;
    for name in ["a", "b", "c", "d"] {
        assert_eq!(app.ping(name, "1h").await.status(), 200);
    }
    assert_eq!(names(&get_json(&app, "/pings?after=b").await), ["c", "d"]);
    // A name that is not a job works as a cursor too.
    assert_eq!(names(&get_json(&app, "/pings?after=bb").await), ["c", "d"]);
    assert_eq!(
        names(&get_json(&app, "/pings?after=d").await),
        Vec::<String>::new()
    );
    let list = get_json(&app, "/pings?after=a&limit=2").await;
    assert_eq!(names(&list), ["b", "c"]);
    assert_eq!(list["next"], "c");
    assert_eq!(list["total"], 4, "total counts every job, not the page");
    app.stop().await;
}

#[tokio::test]
async fn next_chains_pages_until_null() {
    let app = spawn_app().await;
    let expected: Vec<String> = (0..25).map(|i| format!("job-{i:02}")).collect();
    create_many(&app, expected.clone()).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &after {
            None => "/pings?limit=10".to_owned(),
            Some(a) => format!("/pings?limit=10&after={}", encode(a)),
        };
        let page = get_json(&app, &path).await;
        assert_eq!(page["total"], 25);
        let got = names(&page);
        assert!(got.len() <= 10, "{path}: {got:?}");
        pages += 1;
        seen.extend(got.clone());
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), got.last().map(String::as_str), "{path}");
                after = Some(next.to_owned());
            }
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    app.stop().await;
}

#[tokio::test]
async fn the_limit_defaults_to_1000_and_is_clamped_to_10000() {
    let app = spawn_app().await;
    let expected: Vec<String> = (0..10_001).map(|i| format!("j{i:05}")).collect();
    create_many(&app, expected.clone()).await;

    let page = get_json(&app, "/pings").await;
    assert_eq!(page["total"], 10_001);
    assert_eq!(names(&page), expected[..1000]);
    assert_eq!(page["next"].as_str(), Some(expected[999].as_str()));

    let page = get_json(&app, "/pings?limit=10000").await;
    assert_eq!(names(&page).len(), 10_000);
    assert_eq!(page["next"].as_str(), Some(expected[9_999].as_str()));

    for limit in ["10001", "50000", "18446744073709551615"] {
        let page = get_json(&app, &format!("/pings?limit={limit}")).await;
        assert_eq!(names(&page), expected[..10_000], "limit={limit}");
        assert_eq!(page["next"].as_str(), Some(expected[9_999].as_str()));
    }
    let last = get_json(&app, &format!("/pings?after={}", expected[9_999])).await;
    assert_eq!(names(&last), [expected[10_000].clone()]);
    assert!(last["next"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn a_plus_in_a_job_path_is_a_literal_plus() {
    let app = spawn_app().await;
    assert_eq!(app.ping("a+b", "1m").await.status(), 200);
    assert_eq!(app.ping("a b", "2m").await.status(), 200);
    let job = get_json(&app, "/ping/a+b").await;
    assert_eq!(job["name"], "a+b");
    assert_eq!(job["frequency_seconds"], 60);
    let job = get_json(&app, "/ping/a%20b").await;
    assert_eq!(job["name"], "a b");
    app.stop().await;
}

#[tokio::test]
async fn dot_names_are_reachable_when_percent_encoded() {
    let app = spawn_app().await;
    for (name, path) in [(".", "/ping/%2E"), ("..", "/ping/%2E%2E")] {
        assert_eq!(app.ping(name, "1m").await.status(), 200, "{name}");
        let raw = crate::support::raw_get(app.addr, path).await;
        assert_eq!(raw.status, 200, "{path}: {raw:?}");
        let job: serde_json::Value = serde_json::from_str(&raw.body).expect("json");
        assert_eq!(job["name"], name);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_ping_from_a_down_job_marks_it_up_again() {
    let app = spawn_app().await;
    make_down(&app, "phoenix").await;
    let down = app.job("phoenix").await;
    assert!(down["down_since"].is_string(), "{down}");
    let r = app.ping_with(&[("name", "phoenix")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "Successfully recorded ping for phoenix\n"
    );
    let up = app.job("phoenix").await;
    assert_eq!(up["status"], "up");
    assert!(up["down_since"].is_null(), "{up}");
    assert_eq!(up["pings_total"], 2);
    assert_eq!(up["frequency"], "1m");
    let last = up["last_ping_unix"].as_i64().unwrap();
    assert!(last >= now_unix() - 5, "{up}");
    assert_eq!(up["next_deadline_unix"].as_i64(), Some(last + 60));
    // The down alert and the up alert were both raised.
    assert!(
        up["alerts_sent"].as_u64() >= Some(2),
        "alerts_sent after down and up: {up}"
    );
    let list = get_json(&app, "/pings?status=down").await;
    assert_eq!(list["total"], 0);
    app.stop().await;
}
