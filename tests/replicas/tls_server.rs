//! A throwaway TLS-only `redis-server` (`--port 0`, `--tls-port P`) whose certificates
//! the test makes with the `openssl` command: a private CA, a server certificate for
//! 127.0.0.1, a client certificate the server requires, and a second CA that signed
//! nothing here. `redis-cli --tls` reads and writes it on the test's side.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TlsRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` (`name.crt`, `name.key`).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A certificate `name.crt` (key `name.key`) signed by `ca`, with `extensions`.
fn make_leaf(dir: &Path, ca: &str, name: &str, extensions: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(&ext, extensions).expect("write extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

impl TlsRedis {
    /// Makes the certificates, starts the server (client certificates required) and
    /// waits until it accepts connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        make_ca(dir.path(), "ca");
        make_ca(dir.path(), "other-ca");
        make_leaf(
            dir.path(),
            "ca",
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        );
        make_leaf(dir.path(), "ca", "client", "extendedKeyUsage=clientAuth\n");
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let file = |name: &str| dir.path().join(name).display().to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--tls-cert-file", &file("server.crt")])
            .args(["--tls-key-file", &file("server.key")])
            .args(["--tls-ca-cert-file", &file("ca.crt")])
            .args(["--tls-auth-clients", "yes"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = Self { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.cli(&["PING"]).trim() != "PONG" {
            assert!(
                Instant::now() < deadline,
                "the TLS redis-server did not answer"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The path of one of the files made at start (`ca.crt`, `client.key`, …).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `rediss://` with the private CA and the client certificate.
    pub fn url(&self) -> String {
        self.url_with("ca.crt")
    }

    /// `rediss://` with `ca` as the trusted CA and the client certificate.
    pub fn url_with(&self, ca: &str) -> String {
        format!(
            "rediss://127.0.0.1:{}/0?ca={}&cert={}&key={}",
            self.port,
            self.file(ca).display(),
            self.file("client.crt").display(),
            self.file("client.key").display()
        )
    }

    /// A client of the redis crate for the test's own reads, over TLS with the same
    /// files.
    pub fn client(&self) -> redis::Client {
        let read = |name: &str| std::fs::read(self.file(name)).expect("read a test certificate");
        redis::Client::build_with_tls(
            format!("rediss://127.0.0.1:{}/0", self.port),
            redis::TlsCertificates {
                client_tls: Some(redis::ClientTlsConfig {
                    client_cert: read("client.crt"),
                    client_key: read("client.key"),
                }),
                root_cert: Some(read("ca.crt")),
            },
        )
        .expect("a TLS client")
    }

    /// Runs `redis-cli` over TLS with the client certificate; its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let file = |name: &str| self.file(name).display().to_string();
        let out = Command::new("redis-cli")
            .args(["--tls", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["--cacert", &file("ca.crt"), "--cert", &file("client.crt")])
            .args(["--key", &file("client.key")])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
