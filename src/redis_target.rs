//! Where a Redis is and how to reach it (SPEC §8, "Redis as production runs it"):
//! `redis://` or `rediss://`, Sentinels or a Cluster (`redis+sentinel://`,
//! `redis+cluster://`, and over TLS `rediss+sentinel://`, `rediss+cluster://`), ACL
//! credentials, and the TLS files of `?ca=`, `?cert=` and `?key=`. Shared by the store (`--store`) and the health publisher (`--health-redis`),
//! which add parameters of their own; and the one place that turns what Redis answers
//! when it refuses a connection into a line an operator can act on.

use std::fmt;
use std::path::Path;

use redis::{ClientTlsConfig, IntoConnectionInfo, TlsCertificates};

/// A parsed Redis URL, its TLS files already read. `Debug` and `Display` show the
/// scheme, host, port and database only: never the password nor the files' contents.
#[derive(Clone)]
pub struct RedisTarget {
    /// The URL the client gets, credentials included, parameters left out.
    url: String,
    /// TLS to every node (`rediss://`, `rediss+sentinel://`, `rediss+cluster://`).
    tls: Option<TlsCertificates>,
    shown: String,
    /// The parameters the caller reads itself (`lease`, `wait`), in order.
    extra: Vec<(String, String)>,
    /// `redis+sentinel://`: the master is found through these Sentinels.
    sentinel: Option<Box<SentinelSpec>>,
}

/// The Sentinels of a `redis+sentinel://` URL, the master's name and how to log in
/// to the master.
#[derive(Clone, PartialEq, Eq)]
struct SentinelSpec {
    /// `redis://HOST:PORT` (`rediss://` over TLS) of every Sentinel or cluster node.
    nodes: Vec<String>,
    master: String,
    db: i64,
    username: Option<String>,
    password: Option<String>,
    /// `redis+cluster://`: the nodes are a Redis Cluster's, not Sentinels.
    cluster: bool,
}

/// How a client for the Redis to use is made: once for one address, or by asking the
/// Sentinels which server is the master now.
pub enum Connector {
    Direct(redis::Client),
    Cluster(redis::cluster::ClusterClient),
    Sentinel {
        client: Box<tokio::sync::Mutex<redis::sentinel::SentinelClient>>,
        /// A client for every Sentinel, with the same TLS as the master's.
        nodes: Vec<redis::Client>,
        master: String,
    },
}

impl Connector {
    /// A client for the server to use now (the master, behind Sentinels).
    pub async fn client(&self) -> redis::RedisResult<redis::Client> {
        match self {
            Connector::Direct(client) => Ok(client.clone()),
            Connector::Sentinel { client, .. } => client.lock().await.async_get_client().await,
            Connector::Cluster(_) => Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a cluster has no single server",
            ))),
        }
    }

    /// A connection to the server to use now, or to the cluster; `manager` sets the
    /// time limits and retries of a single server's connection.
    pub async fn connect(
        &self,
        manager: redis::aio::ConnectionManagerConfig,
    ) -> redis::RedisResult<RedisConnection> {
        match self {
            Connector::Cluster(client) => client
                .get_async_connection()
                .await
                .map(RedisConnection::Cluster),
            _ => {
                let client = self.client().await?;
                redis::aio::ConnectionManager::new_with_config(client, manager)
                    .await
                    .map(RedisConnection::Single)
            }
        }
    }

    /// Why `e` is a misconfiguration rather than a passing state: [`describe`], and
    /// behind Sentinels a master name that none of them knows (a master that is down
    /// during a failover is known, and not a misconfiguration).
    pub async fn refusal(&self, e: &redis::RedisError) -> Option<String> {
        if let Some(why) = describe(e) {
            return Some(why);
        }
        let Connector::Sentinel { nodes, master, .. } = self else {
            return None;
        };
        if e.kind() != redis::ErrorKind::MasterNameNotFoundBySentinel {
            return None;
        }
        let mut answered = false;
        for client in nodes {
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                continue;
            };
            let addr: redis::RedisResult<Option<Vec<String>>> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(master)
                .query_async(&mut conn)
                .await;
            match addr {
                Ok(Some(_)) => return None,
                Ok(None) => answered = true,
                Err(_) => {}
            }
        }
        answered.then(|| format!("no Sentinel knows a master named {master:?}"))
    }

    /// Whether the server may change under a connection (a failover), so that a
    /// connection that fails must be dropped and the server looked up again.
    pub fn follows_failovers(&self) -> bool {
        matches!(self, Connector::Sentinel { .. })
    }
}

impl RedisTarget {
    /// Accepts `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]` and `rediss://…` (the
    /// port defaults to 6379, the database to 0). On `rediss://`, `?ca=PATH` trusts a
    /// private CA instead of the system's roots and `?cert=PATH&key=PATH` presents a
    /// client certificate; the files are read now, so that a missing or unreadable one
    /// stops the start. Parameters named in `extra` are handed back by
    /// [`Self::extra`]; any other is refused. Errors are one line.
    pub fn parse(raw: &str, extra: &[&str]) -> Result<Self, String> {
        const FORM: &str =
            "expected redis://HOST:PORT[/DB] (USER:PASSWORD@ before the host to log in), rediss://…, redis+sentinel://… or redis+cluster://…";
        let raw = raw.trim();
        for (scheme, cluster, tls) in [
            ("redis+sentinel://", false, false),
            ("rediss+sentinel://", false, true),
            ("redis+cluster://", true, false),
            ("rediss+cluster://", true, true),
        ] {
            if let Some(rest) = raw.strip_prefix(scheme) {
                return Self::parse_nodes(rest, extra, cluster, tls);
            }
        }
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
            sentinel: None,
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

    /// Whether this names a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.sentinel.as_ref().is_some_and(|spec| spec.cluster)
    }

    /// The parameters named in `extra` at [`Self::parse`], as given.
    pub fn extra(&self) -> &[(String, String)] {
        &self.extra
    }

    /// `redis+sentinel://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]`,
    /// given without its scheme (the credentials are the master's; the Sentinels are
    /// asked without any); or with `cluster`,
    /// `redis+cluster://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT…]` (a cluster has only
    /// database 0). With `tls` (`rediss+…://`), every node is reached over TLS and
    /// `?ca=`, `?cert=` and `?key=` are read as for `rediss://`.
    fn parse_nodes(rest: &str, extra: &[&str], cluster: bool, tls: bool) -> Result<Self, String> {
        let (scheme, what, form) = match (cluster, tls) {
            (true, false) => (
                "redis+cluster",
                "a cluster node",
                "expected redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]",
            ),
            (true, true) => (
                "rediss+cluster",
                "a cluster node",
                "expected rediss+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…][?ca=PATH]",
            ),
            (false, false) => (
                "redis+sentinel",
                "a Sentinel",
                "expected redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB]",
            ),
            (false, true) => (
                "rediss+sentinel",
                "a Sentinel",
                "expected rediss+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[/DB][?ca=PATH]",
            ),
        };
        let node_scheme = if tls { "rediss" } else { "redis" };
        #[allow(non_snake_case)]
        let FORM = form;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let decode = |part: &str| {
            percent_decode(part)
                .ok_or_else(|| format!("invalid percent-encoding in the credentials; {FORM}"))
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                let user = Some(decode(user)?).filter(|u| !u.is_empty());
                let password = Some(decode(password)?).filter(|p| !p.is_empty());
                (user, password)
            }
        };
        let mut nodes = Vec::new();
        for node in hosts.split(',') {
            let (host, port) = node
                .rsplit_once(':')
                .ok_or_else(|| format!("{what} needs HOST:PORT, got {node:?}; {FORM}"))?;
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("invalid port in {node:?}; {FORM}"))?;
            if host.is_empty() || host.contains(['@', '/', ' ']) {
                return Err(format!("invalid host in {node:?}; {FORM}"));
            }
            nodes.push(format!("{node_scheme}://{host}:{port}"));
        }
        if cluster && !path.is_empty() {
            return Err(format!("a cluster has no master name nor database; {FORM}"));
        }
        let mut segments = path.split('/');
        let master = segments.next().unwrap_or_default().to_owned();
        if master.is_empty() && !cluster {
            return Err(format!("the master name is missing; {FORM}"));
        }
        let db = match segments.next() {
            None | Some("") => 0,
            Some(digits) => digits
                .parse::<u32>()
                .map_err(|_| format!("the database must be a number; {FORM}"))?,
        };
        if segments.next().is_some() {
            return Err(format!("too many path segments; {FORM}"));
        }
        let mut extras = Vec::new();
        let mut files = TlsFiles::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)
                .ok_or_else(|| format!("invalid percent-encoding in ?{name}=; {FORM}"))?;
            match name {
                "ca" => files.ca = Some(read_file("ca", &value, tls, CERTIFICATE)?),
                "cert" => files.cert = Some(read_file("cert", &value, tls, CERTIFICATE)?),
                "key" => files.key = Some(read_file("key", &value, tls, PRIVATE_KEY)?),
                _ if extra.contains(&name) => extras.push((name.to_owned(), value)),
                _ => {
                    let mut known = vec!["ca", "cert", "key"];
                    known.extend_from_slice(extra);
                    return Err(format!(
                        "unknown parameter {name:?} for {scheme}://; known are {}",
                        known.join(", ")
                    ));
                }
            }
        }
        let hosts = nodes
            .iter()
            .map(|n| n.split_once("://").map_or(n.as_str(), |(_, host)| host))
            .collect::<Vec<_>>()
            .join(",");
        let shown = if cluster {
            format!("{scheme}://{hosts}")
        } else {
            format!("{scheme}://{hosts}/{master}/{db}")
        };
        let target = Self {
            url: String::new(),
            tls: tls.then(|| files.certificates()).transpose()?,
            shown,
            extra: extras,
            sentinel: Some(Box::new(SentinelSpec {
                nodes,
                master,
                db: i64::from(db),
                username,
                password,
                cluster,
            })),
        };
        // Certificates and keys that rustls cannot use are refused here, not at the
        // first connection.
        target.connector().map_err(|e| {
            format!(
                "not a usable Redis URL ({}); {FORM}",
                describe(&e).unwrap_or_else(|| e.to_string())
            )
        })?;
        Ok(target)
    }

    /// How clients for this Redis are made.
    pub fn connector(&self) -> redis::RedisResult<Connector> {
        let Some(spec) = &self.sentinel else {
            return self.client().map(Connector::Direct);
        };
        if spec.cluster {
            let mut builder = redis::cluster::ClusterClientBuilder::new(spec.nodes.clone())
                // Callers retry on their own schedule; a redirection is still followed.
                .retries(1)
                .connection_timeout(std::time::Duration::from_secs(2))
                .response_timeout(std::time::Duration::from_secs(2));
            if let Some(user) = &spec.username {
                builder = builder.username(user.clone());
            }
            if let Some(password) = &spec.password {
                builder = builder.password(password.clone());
            }
            if let Some(certificates) = &self.tls {
                // The nodes are `rediss://`; the nodes the cluster names later are
                // reached with the same certificates.
                builder = builder.certs(certificates.clone());
            }
            return builder.build().map(Connector::Cluster);
        }
        let addresses = spec
            .nodes
            .iter()
            .map(|node| node.as_str().into_connection_info().map(|info| info.addr))
            .collect::<redis::RedisResult<Vec<_>>>()?;
        let mut builder = redis::sentinel::SentinelClientBuilder::new(
            addresses,
            spec.master.clone(),
            redis::sentinel::SentinelServerType::Master,
        )?
        .set_client_to_redis_db(spec.db);
        if let Some(user) = &spec.username {
            builder = builder.set_client_to_redis_username(user.clone());
        }
        if let Some(password) = &spec.password {
            builder = builder.set_client_to_redis_password(password.clone());
        }
        if let Some(certificates) = &self.tls {
            // The Sentinels and the master they name are reached over TLS alike, with
            // the same CA and client certificate.
            builder = builder
                .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure)
                .set_client_to_sentinel_certificates(certificates.clone())
                .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
                .set_client_to_redis_certificates(certificates.clone());
        }
        let client = builder.build()?;
        let nodes = spec
            .nodes
            .iter()
            .map(|node| match &self.tls {
                Some(certificates) => {
                    redis::Client::build_with_tls(node.as_str(), certificates.clone())
                }
                None => redis::Client::open(node.as_str()),
            })
            .collect::<redis::RedisResult<Vec<_>>>()?;
        Ok(Connector::Sentinel {
            client: Box::new(tokio::sync::Mutex::new(client)),
            nodes,
            master: spec.master.clone(),
        })
    }

    /// A client for this Redis; it connects when used.
    fn client(&self) -> redis::RedisResult<redis::Client> {
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
            && self.sentinel == other.sentinel
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

/// A connection to one server (reconnecting by itself) or to a cluster (following
/// its redirections).
#[derive(Clone)]
pub enum RedisConnection {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            RedisConnection::Single(conn) => conn.req_packed_command(cmd),
            RedisConnection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            RedisConnection::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            RedisConnection::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(conn) => conn.get_db(),
            RedisConnection::Cluster(conn) => conn.get_db(),
        }
    }
}

impl RedisConnection {
    /// `WAIT replicas timeout_ms` on the server that took the writes to `key`: how many
    /// of its replicas acknowledged them. `WAIT` carries no key, so on a cluster it is
    /// sent to the master of `key`'s slot, the node the writes went to.
    pub async fn wait_for_replicas(
        &mut self,
        key: &str,
        replicas: u32,
        timeout_ms: i64,
    ) -> redis::RedisResult<u32> {
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(replicas).arg(timeout_ms);
        match self {
            RedisConnection::Single(conn) => cmd.query_async(conn).await,
            RedisConnection::Cluster(conn) => {
                use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
                let route = Route::new(hash_slot(key.as_bytes()), SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                let reply = conn.route_command(&cmd, routing).await?;
                redis::FromRedisValue::from_redis_value(&reply)
            }
        }
    }
}

/// The Redis Cluster slot of `key`: CRC16 (XMODEM) of its hash tag (the part between
/// the first `{` and the next `}`, when not empty) or of the whole key, modulo 16384.
/// The crate computes it too, but does not export it.
pub fn hash_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = key.get(open + 1..)?;
            let close = rest.iter().position(|&b| b == b'}')?;
            rest.get(..close).filter(|tag| !tag.is_empty())
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &byte in tagged {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
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
        return Err(format!(
            "?{name}= needs TLS: use rediss://, rediss+sentinel:// or rediss+cluster://"
        ));
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
    if lower.contains("cluster support disabled") {
        return Some(
            "the node is not part of a Redis Cluster (redis+cluster:// needs cluster nodes; use redis:// for a standalone Redis)"
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

/// `%XX` sequences decoded; `None` when one is malformed or the result is not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
