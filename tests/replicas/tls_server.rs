//! A throwaway TLS-only `redis-server` (`--port 0`, `--tls-port P`) whose certificates
//! the test makes with the `openssl` command: a private CA, a server certificate for
//! 127.0.0.1, a client certificate the server requires, and a second CA that signed
//! nothing here. Several servers (a cluster, Sentinels and their master) can share one
//! set of certificates. `redis-cli --tls` reads and writes them on the test's side.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The files made by `openssl`: `ca.crt`, `other-ca.crt`, `server.crt`/`.key`,
/// `client.crt`/`.key`.
pub struct Certificates {
    dir: tempfile::TempDir,
}

pub struct TlsRedis {
    pub port: u16,
    certificates: Arc<Certificates>,
    child: Child,
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
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

impl Certificates {
    /// Makes the CAs and the server's and client's certificates.
    pub fn make() -> Arc<Self> {
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
        Arc::new(Self { dir })
    }

    /// The path of one of the files (`ca.crt`, `client.key`, …).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A directory for the servers' own files (cluster and Sentinel configs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The TLS directives of `redis-server` and `redis-sentinel` (without their
    /// dashes): this server's certificate, client certificates required, and the
    /// client certificate it presents itself to other servers (replication, the
    /// cluster bus, Sentinels).
    pub fn directives(&self) -> Vec<(String, String)> {
        let file = |name: &str| self.file(name).display().to_string();
        [
            ("tls-cert-file", file("server.crt")),
            ("tls-key-file", file("server.key")),
            ("tls-client-cert-file", file("client.crt")),
            ("tls-client-key-file", file("client.key")),
            ("tls-ca-cert-file", file("ca.crt")),
            ("tls-auth-clients", "yes".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// `?ca=…&cert=…&key=…` with `ca` as the trusted CA and the client certificate.
    pub fn params(&self, ca: &str) -> String {
        format!(
            "ca={}&cert={}&key={}",
            self.file(ca).display(),
            self.file("client.crt").display(),
            self.file("client.key").display()
        )
    }

    /// The arguments of `redis-cli` for TLS with the client certificate.
    pub fn cli_args(&self) -> Vec<String> {
        let file = |name: &str| self.file(name).display().to_string();
        vec![
            "--tls".to_owned(),
            "--cacert".to_owned(),
            file("ca.crt"),
            "--cert".to_owned(),
            file("client.crt"),
            "--key".to_owned(),
            file("client.key"),
        ]
    }

    /// Runs `redis-cli` over TLS against `port`; its standard output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(self.cli_args())
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl TlsRedis {
    /// Makes the certificates, starts the server (client certificates required) and
    /// waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with(Certificates::make(), &[])
    }

    /// A TLS-only server with `certificates` and the `extra` arguments, once it
    /// answers.
    pub fn start_with(certificates: Arc<Certificates>, extra: &[&str]) -> Self {
        let port = free_port();
        let mut command = Command::new("redis-server");
        command.args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ]);
        for (name, value) in certificates.directives() {
            command.arg(format!("--{name}")).arg(value);
        }
        let child = command
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = Self {
            port,
            certificates,
            child,
        };
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
        self.certificates.file(name)
    }

    /// `rediss://` with the private CA and the client certificate.
    pub fn url(&self) -> String {
        self.url_with("ca.crt")
    }

    /// `rediss://` with `ca` as the trusted CA and the client certificate.
    pub fn url_with(&self, ca: &str) -> String {
        format!(
            "rediss://127.0.0.1:{}/0?{}",
            self.port,
            self.certificates.params(ca)
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
        self.certificates.cli(self.port, args)
    }

    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
