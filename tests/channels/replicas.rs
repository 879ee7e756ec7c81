//! Channels on Redis (SPEC §8, §14): two replicas share one Redis; each alert's entry
//! for each channel is sent by one replica, a failing channel's entry retries without
//! holding the other channel's, and deleting the job drops its entries on every
//! channel.

use std::time::Duration;

use crate::common::spawn_app_on;
use crate::redis_server::RedisServer;
use crate::support::{ping_now, ping_overdue, Recorder};

#[tokio::test(flavor = "multi_thread")]
async fn replicas_send_each_channels_entry_once_and_a_failing_channel_holds_only_its_own() {
    let redis = RedisServer::start().await;
    let failing = Recorder::start_with(|_| (503, Duration::ZERO)).await;
    let working = Recorder::start().await;
    let failing_url = format!("ntfy+http://{}/failing", failing.addr);
    let working_url = format!("ntfy+http://{}/working", working.addr);
    let store = format!("{}/0", redis.url());
    let flags = [
        "--realert-every",
        "0",
        "--sweep-interval",
        "50ms",
        "--notify",
        &failing_url,
        "--notify",
        &working_url,
    ];
    let first = spawn_app_on(&store, &flags).await;
    let second = spawn_app_on(&store, &flags).await;
    let jobs = ["r-a", "r-b", "r-c", "r-d"];
    for (i, job) in jobs.iter().enumerate() {
        let replica = if i % 2 == 0 { &first } else { &second };
        ping_overdue(replica, job).await;
    }
    for job in jobs {
        ping_now(&second, job).await;
    }
    // A down and an up per job at the working channel, each once, down before up.
    let got = working.wait_for(2 * jobs.len()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_all = working.received();
    assert_eq!(got_all.len(), got.len(), "an entry was sent twice");
    for job in jobs {
        let titles: Vec<&str> = got_all
            .iter()
            .map(|r| r.header("title"))
            .filter(|t| t.starts_with(&format!("{job} ")))
            .collect();
        assert_eq!(
            titles,
            [format!("{job} is DOWN"), format!("{job} is UP")],
            "{job}"
        );
    }
    // The failing channel retries each job's down, never its up before it.
    failing.wait_for(jobs.len()).await;
    assert!(failing
        .received()
        .iter()
        .all(|r| r.header("title").ends_with("is DOWN")));

    let list: serde_json::Value = first.get("/channels").await.json().await.expect("json");
    // Each job's down, and its up waiting behind it.
    assert_eq!(list["channels"][0]["backlog"], 2 * jobs.len(), "{list:#}");
    assert_eq!(list["channels"][1]["backlog"], 0, "{list:#}");

    // Deleting the jobs drops their entries on every channel: the retries stop.
    for job in jobs {
        let response = first
            .client
            .delete(first.url(&format!("/ping/{job}")))
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 200);
    }
    // A retry already leased may still land; nothing after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = failing.received().len();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        failing.received().len(),
        settled,
        "retries went on after the delete"
    );
    let list: serde_json::Value = second.get("/channels").await.json().await.expect("json");
    assert_eq!(list["channels"][0]["backlog"], 0, "{list:#}");
    first.stop().await;
    second.stop().await;
}
