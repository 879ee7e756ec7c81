//! Headless Chromium driven through the DevTools protocol over a pipe
//! (`--remote-debugging-pipe`): the browser reads commands on its descriptor 3 and
//! writes answers and events on its descriptor 4, each message JSON ended by a NUL.
//!
//! A pipe instead of a port: nothing to find free, nothing another process can connect
//! to, and the browser quits by itself when the pipe closes, so even a test process
//! killed outright leaves no browser behind. A `sh -c 'exec …'` wrapper moves our pipes
//! onto descriptors 3 and 4, as std cannot hand a child extra descriptors without
//! `unsafe`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::cdp::Connection;

/// Where Debian's `chromium` package puts the browser; `OVERDUE_CHROMIUM` overrides it.
const DEFAULT_BINARY: &str = "/usr/bin/chromium";

/// The browser window's size, and so the screenshots'.
pub const WINDOW: (u32, u32) = (1280, 900);

/// A headless Chromium with its own temporary profile; killed, with every process it
/// started, when dropped.
pub struct Chromium {
    child: Child,
    connection: Option<Connection>,
    _profile: tempfile::TempDir,
}

/// The browser to run, or a panic that says how to get one.
fn binary() -> PathBuf {
    let path = std::env::var_os("OVERDUE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY));
    assert!(
        path.is_file(),
        "the browser tests need Chromium at {} (set OVERDUE_CHROMIUM to use another): \
         install Debian's package with `apt-get install chromium`, as .ci/run does",
        path.display()
    );
    path
}

impl Chromium {
    /// Starts the browser and connects to it.
    pub async fn start() -> Chromium {
        let binary = binary();
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let (width, height) = WINDOW;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(&binary)
            .args([
                "--headless",
                // Tests run as root in CI, where the sandbox refuses to start.
                "--no-sandbox",
                "--remote-debugging-pipe",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--password-store=basic",
                "--use-mock-keychain",
                "--hide-scrollbars",
                "--mute-audio",
                "--disable-crash-reporter",
                "--disable-breakpad",
                "--lang=en-US",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Chromium's own log (D-Bus and GPU complaints) is noise here.
            .stderr(Stdio::null())
            // Its own process group, so that drop kills its helpers too.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start {}: {e}", binary.display());
        });
        let input = child.stdin.take().expect("the browser's command pipe");
        let output = child.stdout.take().expect("the browser's event pipe");
        let connection = Connection::new(input, output);
        let version = connection
            .call(None, "Browser.getVersion", serde_json::json!({}))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{} does not answer the DevTools protocol: {e}",
                    binary.display()
                )
            });
        note_version(&version);
        Chromium {
            child,
            connection: Some(connection),
            _profile: profile,
        }
    }

    /// The protocol connection.
    pub fn connection(&self) -> Connection {
        self.connection.clone().expect("connected until dropped")
    }
}

/// Says once which browser ran, for a failure's context.
fn note_version(version: &serde_json::Value) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        eprintln!(
            "browser: {}",
            version["product"].as_str().unwrap_or("an unknown Chromium")
        );
    });
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Closing the pipe asks the browser to quit: it then reaps its own helpers,
        // which a kill would leave to init (and no init reaps them in a container).
        self.connection = None;
        if exited_within(&mut self.child, Duration::from_secs(5)) {
            return;
        }
        if let Some(pid) = self.child.id() {
            if let Some(group) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
        // Reaped here, so that no zombie outlives the test and the profile is no longer
        // written when it is removed.
        exited_within(&mut self.child, Duration::from_secs(5));
    }
}

/// Waits (blocking: it runs in `drop`) until `child` has exited and is reaped.
fn exited_within(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => return false,
        }
    }
}
