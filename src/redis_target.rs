//! Where a Redis is and how to reach it (SPEC §8, "Redis as production runs it"):
//! `redis://` or `rediss://`, ACL credentials, and the TLS files of `?ca=`, `?cert=` and
//! `?key=`. Shared by the store (`--store`) and the health publisher (`--health-redis`),
//! which add parameters of their own; and the one place that turns what Redis answers
//! when it refuses a connection into a line an operator can act on.

use std::fmt;
use std::path::Path;

use redis::{ClientTlsConfig, TlsCertificates};

/// A parsed Redis URL, its TLS files already read. `Debug` and `Display` show the
/// scheme, host, port and database only: never the password nor the files' contents.
#[derive(Clone)]
pub struct RedisTarget {
    /// The URL the client gets, credentials included, parameters left out.
    url: String,
    tls: Option<TlsCertificates>,
    shown: String,
    /// The parameters the caller reads itself (`lease`, `wait`), in order.
    extra: Vec<(String, String)>,
}

impl RedisTarget {
    /// Accepts `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]` and `rediss://…` (the
    /// port defaults to 6379, the database to 0). On `rediss://`, `?ca=PATH` trusts a
    /// private CA instead of the system's roots and `?cert=PATH&key=PATH` presents a
    /// client certificate; the files are read now, so that a missing or unreadable one
    /// stops the start. Parameters named in `extra` are handed back by
    /// [`Self::extra`]; any other is refused. Errors are one line.
    pub fn parse(raw: &str, extra: &[&str]) -> Result<Self, String> {
        const FORM: &str = "expected redis://[USER:PASSWORD@]HOST:PORT[/DB] or rediss://…";
        let raw = raw.trim();
        let mut url =
            reqwest::Url::parse(raw).map_err(|e| format!("invalid redis URL: {e}; {FORM}"))?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            other => return Err(format!("unknown scheme {other:?}; {FORM}")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("the redis URL has no host; {FORM}"))?
            .to_owned();
        let port = url.port().unwrap_or(6379);
        if port == 0 {
            return Err(format!("port 0 is not a Redis port; {FORM}"));
        }
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            digits if digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 9 => digits
                .parse::<u32>()
                .map_err(|_| format!("invalid database number; {FORM}"))?,
            _ => return Err(format!("the path must be a database number; {FORM}")),
        };
        if url.fragment().is_some() {
            return Err(format!("a fragment (#…) is not accepted; {FORM}"));
        }
        let mut files = TlsFiles::default();
        let mut extras = Vec::new();
        for (name, value) in url.query_pairs() {
            match &*name {
                "ca" => files.ca = Some(read_file("ca", &value, tls, CERTIFICATE)?),
                "cert" => files.cert = Some(read_file("cert", &value, tls, CERTIFICATE)?),
                "key" => files.key = Some(read_file("key", &value, tls, PRIVATE_KEY)?),
                other if extra.contains(&other) => {
                    extras.push((other.to_owned(), value.into_owned()));
                }
                other => {
                    let mut known = vec!["ca", "cert", "key"];
                    known.extend_from_slice(extra);
                    return Err(format!(
                        "unknown parameter {other:?}; known are {}",
                        known.join(", ")
                    ));
                }
            }
        }
        let scheme = url.scheme().to_owned();
        let shown = format!("{scheme}://{host}:{port}/{db}");
        url.set_query(None);
        let target = Self {
            url: url.to_string(),
            tls: tls.then(|| files.certificates()).transpose()?,
            shown,
            extra: extras,
        };
        // Certificates and keys that rustls cannot use are refused here, not at the
        // first connection.
        target.client().map_err(|e| {
            format!(
                "not a usable Redis URL ({}); {FORM}",
                describe(&e).unwrap_or_else(|| e.to_string())
            )
        })?;
        Ok(target)
    }

    /// The parameters named in `extra` at [`Self::parse`], as given.
    pub fn extra(&self) -> &[(String, String)] {
        &self.extra
    }

    /// A client for this Redis; it connects when used.
    pub fn client(&self) -> redis::RedisResult<redis::Client> {
        match &self.tls {
            Some(certificates) => {
                redis::Client::build_with_tls(self.url.as_str(), certificates.clone())
            }
            None => redis::Client::open(self.url.as_str()),
        }
    }
}

impl PartialEq for RedisTarget {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
            && self.extra == other.extra
            && self.tls.is_some() == other.tls.is_some()
    }
}

impl Eq for RedisTarget {}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisTarget({})", self.shown)
    }
}

/// The contents of `?ca=`, `?cert=` and `?key=`.
#[derive(Default)]
struct TlsFiles {
    ca: Option<Vec<u8>>,
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
}

impl TlsFiles {
    fn certificates(self) -> Result<TlsCertificates, String> {
        let client_tls = match (self.cert, self.key) {
            (Some(client_cert), Some(client_key)) => Some(ClientTlsConfig {
                client_cert,
                client_key,
            }),
            (None, None) => None,
            _ => {
                return Err(
                    "?cert= and ?key= go together (a client certificate and its key)".into(),
                )
            }
        };
        Ok(TlsCertificates {
            client_tls,
            root_cert: self.ca,
        })
    }
}

/// What every PEM certificate file holds; a file without it would leave rustls with
/// no certificate at all, and the mistake would only show at the first connection.
const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";
/// What every PEM private key holds (PKCS#8, PKCS#1 or SEC1).
const PRIVATE_KEY: &str = "PRIVATE KEY-----";

/// Reads the file of `?name=PATH`, which must hold `marker`; only `rediss://` takes TLS
/// files. The error names the path (an operator wrote it) but never what the file
/// holds.
fn read_file(name: &str, path: &str, tls: bool, marker: &str) -> Result<Vec<u8>, String> {
    if !tls {
        return Err(format!("?{name}= needs TLS: use rediss://"));
    }
    if path.is_empty() {
        return Err(format!("?{name}= needs a file path"));
    }
    let contents = std::fs::read(Path::new(path))
        .map_err(|e| format!("cannot read the ?{name}= file {path:?}: {e}"))?;
    if !String::from_utf8_lossy(&contents).contains(marker) {
        let what = if marker == PRIVATE_KEY {
            "private key"
        } else {
            "certificate"
        };
        return Err(format!("the ?{name}= file {path:?} holds no PEM {what}"));
    }
    Ok(contents)
}

/// What an operator must fix when Redis refuses a connection: a wrong user or
/// password, or a certificate one side does not trust; `None` for anything else
/// (unreachable, slow, restarting), which retrying may cure.
pub fn describe(e: &redis::RedisError) -> Option<String> {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || lower.contains("wrongpass")
        || lower.contains("noauth")
    {
        return Some(
            "redis refused the user name or password (AUTH): check the user and password in the URL"
                .to_owned(),
        );
    }
    if lower.contains("noperm") {
        return Some(format!(
            "the redis user lacks a permission overdue needs: {}",
            one_line(&text)
        ));
    }
    if lower.contains("certificate") || lower.contains("pem") {
        return Some(format!("TLS refused: {}", one_line(&text)));
    }
    None
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_scheme_host_port_and_database_and_hide_credentials() {
        let target = RedisTarget::parse("redis://user:s3cret@cache.internal:6380/2", &[]).unwrap();
        assert_eq!(target.to_string(), "redis://cache.internal:6380/2");
        assert!(!format!("{target:?}").contains("s3cret"));
        assert!(target.url.contains("s3cret"), "the client still gets them");
        let target = RedisTarget::parse("rediss://:pw@cache", &[]).unwrap();
        assert_eq!(target.to_string(), "rediss://cache:6379/0");
        let target = RedisTarget::parse("redis://h:1/0?lease=5s", &["lease"]).unwrap();
        assert_eq!(target.extra(), [("lease".to_owned(), "5s".to_owned())]);
        assert!(!target.url.contains("lease"));
    }

    #[test]
    fn tls_files_must_exist_be_readable_and_go_with_rediss() {
        for bad in [
            "rediss://h:1/0?ca=/nonexistent/ca.pem",
            "rediss://h:1/0?cert=/nonexistent/c.pem&key=/nonexistent/k.pem",
            "rediss://h:1/0?ca=",
            "redis://h:1/0?ca=/etc/hostname",
            "rediss://h:1/0?cert=/etc/hostname",
            "rediss://h:1/0?ca=/etc/hostname",
            "rediss://h:1/0?wait=1",
        ] {
            let e = RedisTarget::parse(bad, &[]).expect_err(bad);
            assert!(!e.contains('\n') && !e.is_empty(), "{bad}: {e}");
        }
    }
}
