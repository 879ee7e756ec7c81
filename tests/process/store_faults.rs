//! The database's filesystem fills up under the running binary (issue 7's fault
//! injection): pings answer 503 with a clear message, nothing that was not stored is
//! acknowledged, `/health` and `/readyz` report it, and everything recovers by itself
//! once there is room again.
//!
//! The small filesystem is a tmpfs mounted by the test, which needs root (CI runs as
//! root); elsewhere the test says so and returns.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{client, job, ping, Server};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipped: mounting a small filesystem needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed as root");
        Some(SmallFs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem refuses: the disk is full.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", filler.display()))
            .stderr(std::process::Stdio::null())
            .status();
        filler
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = client().get(server.url(path)).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pings_total(server: &Server, name: &str) -> u64 {
    let (status, body) = job(server, name);
    assert_eq!(status, 200, "GET /ping/{name}");
    body["pings_total"].as_u64().expect("pings_total")
}

#[test]
fn a_full_disk_refuses_pings_with_503_acknowledges_nothing_unstored_and_recovers() {
    let Some(fs) = SmallFs::mount("4m") else {
        return;
    };
    let db = fs.path().join("overdue.db");
    let mut server = Server::start_sqlite(&db, &[]);
    assert_eq!(
        ping(&server, &[("name", "steady"), ("frequency", "1h")]).0,
        200
    );

    let filler = fs.fill();
    // The log's last page may still have room for a few records: every ping either
    // answers 200 (stored) or 503 (not), and once refused they stay refused.
    let mut acknowledged = 1;
    let mut refused = None;
    for i in 0..2_000 {
        let response = client()
            .get(server.url("/ping"))
            .query(&[("name", "steady")])
            .send()
            .expect("ping");
        match response.status().as_u16() {
            200 => acknowledged += 1,
            503 => {
                let message = response.text().expect("body");
                refused = Some((i, message));
                break;
            }
            other => panic!("ping answered {other}"),
        }
    }
    let (_, message) = refused.expect("a full disk must refuse pings");
    assert!(
        message.contains("nothing was recorded") && !message.trim_end().contains('\n'),
        "one clear line: {message:?}"
    );
    for _ in 0..20 {
        assert_eq!(ping(&server, &[("name", "steady")]).0, 503);
        assert_eq!(
            ping(&server, &[("name", "newcomer"), ("frequency", "1h")]).0,
            503
        );
    }
    assert_eq!(
        pings_total(&server, "steady"),
        acknowledged,
        "memory holds exactly what was stored"
    );
    assert_eq!(
        job(&server, "newcomer").0,
        404,
        "a refused new job does not exist"
    );
    wait_for("/health critical", Duration::from_secs(15), || {
        let (status, body) = get(&server, "/health");
        status == 503
            && body["status"] == "unhealthy"
            && body["indicators"]["store_reachable"] == false
    });
    assert_eq!(get(&server, "/readyz").0, 503);

    // Room again: everything comes back by itself.
    std::fs::remove_file(&filler).expect("remove filler");
    wait_for("pings accepted again", Duration::from_secs(10), || {
        ping(&server, &[("name", "steady")]).0 == 200
    });
    acknowledged += 1;
    assert_eq!(
        ping(&server, &[("name", "newcomer"), ("frequency", "1h")]).0,
        200
    );
    wait_for("/health recovered", Duration::from_secs(15), || {
        let (status, body) = get(&server, "/health");
        status == 200 && body["indicators"]["store_reachable"] == true
    });
    assert_eq!(get(&server, "/readyz").0, 200);

    // Every acknowledged ping, and only those, survives a crash.
    server.sigkill();
    let server = Server::start_sqlite(&db, &[]);
    assert_eq!(pings_total(&server, "steady"), acknowledged);
    assert_eq!(job(&server, "newcomer").0, 200);
    server.stop();
}
