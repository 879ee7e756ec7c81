//! Email through a real SMTP server (aiosmtpd, started by the test): STARTTLS with a
//! self-signed certificate made by the test, implicit TLS, plain text with `tls=off`,
//! and a refusal to send in the clear when STARTTLS is missing.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{app_notifying, ping_overdue, WAIT};

/// The Python that has aiosmtpd (`.ci/run` installs python3-aiosmtpd).
fn python() -> &'static str {
    for candidate in ["/usr/bin/python3", "python3"] {
        let has = Command::new(candidate)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if has {
            return candidate;
        }
    }
    panic!("no python3 with aiosmtpd: install python3-aiosmtpd");
}

/// A certificate and key for 127.0.0.1, self-signed, made with openssl.
fn self_signed(dir: &Path) -> (String, String) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl could not make a certificate");
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

/// aiosmtpd with its Debugging handler, which prints every message it accepts.
struct SmtpServer {
    port: u16,
    child: Child,
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy)]
enum Mode {
    Plain,
    StartTls,
    Implicit,
}

impl SmtpServer {
    fn start(mode: Mode) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = Command::new(python());
        cmd.args(["-u", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"));
        match mode {
            Mode::Plain => {}
            Mode::StartTls => {
                let (cert, key) = self_signed(dir.path());
                cmd.args(["--tlscert", &cert, "--tlskey", &key]);
            }
            Mode::Implicit => {
                let (cert, key) = self_signed(dir.path());
                cmd.args(["--smtpscert", &cert, "--smtpskey", &key]);
            }
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout");
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut out = sink.lock().expect("lock");
                out.push_str(&line);
                out.push('\n');
            }
        });
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            port,
            child,
            output,
            _dir: dir,
        }
    }

    fn output(&self) -> String {
        self.output.lock().expect("lock").clone()
    }

    async fn wait_for_message(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.output();
            if out.contains("END MESSAGE") {
                return out;
            }
            assert!(Instant::now() < deadline, "no message arrived:\n{out}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_alert_mail(out: &str, job: &str) {
    assert!(
        out.contains(&format!("Subject: [overdue] {job} is DOWN")),
        "{out}"
    );
    assert!(out.contains("From: ops@monitor.example"), "{out}");
    assert!(out.contains("To: a@team.example, b@team.example"), "{out}");
    assert!(out.contains("Content-Type: text/plain"), "{out}");
    assert!(
        out.contains(&format!("{job} is DOWN: no ping since ")),
        "{out}"
    );
}

const ENVELOPE: &str = "from=ops@monitor.example&to=a@team.example,b@team.example";

#[tokio::test]
async fn email_goes_out_over_starttls() {
    let server = SmtpServer::start(Mode::StartTls);
    let url = format!("smtp://127.0.0.1:{}?{ENVELOPE}&tls=insecure", server.port);
    let app = app_notifying(&[url]).await;
    ping_overdue(&app, "mail-starttls").await;
    let out = server.wait_for_message().await;
    assert_alert_mail(&out, "mail-starttls");
    app.stop().await;
}

#[tokio::test]
async fn email_goes_out_over_implicit_tls() {
    let server = SmtpServer::start(Mode::Implicit);
    let url = format!("smtps://127.0.0.1:{}?{ENVELOPE}&tls=insecure", server.port);
    let app = app_notifying(&[url]).await;
    ping_overdue(&app, "mail-smtps").await;
    let out = server.wait_for_message().await;
    assert_alert_mail(&out, "mail-smtps");
    app.stop().await;
}

#[tokio::test]
async fn smtp_refuses_to_send_without_starttls_unless_tls_is_off() {
    let server = SmtpServer::start(Mode::Plain);
    let refused = app_notifying(&[format!("smtp://127.0.0.1:{}?{ENVELOPE}", server.port)]).await;
    ping_overdue(&refused, "mail-clear").await;
    // The attempt fails (no STARTTLS offered) and is counted; nothing was sent.
    let deadline = Instant::now() + WAIT;
    loop {
        let body: serde_json::Value = refused
            .client
            .get(refused.url("/channels"))
            .send()
            .await
            .expect("channels")
            .json()
            .await
            .expect("json");
        if body["channels"][0]["failed"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed attempt counted: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !server.output().contains("MESSAGE FOLLOWS"),
        "{}",
        server.output()
    );
    refused.stop().await;

    let plain = app_notifying(&[format!(
        "smtp://127.0.0.1:{}?{ENVELOPE}&tls=off",
        server.port
    )])
    .await;
    ping_overdue(&plain, "mail-plain").await;
    let out = server.wait_for_message().await;
    assert_alert_mail(&out, "mail-plain");
    plain.stop().await;
}
