//! Channel URLs (SPEC §14): the scheme picks the kind, the rest is the service's own
//! endpoint, the fragment is the routing. Errors never quote the URL: it carries tokens.

use std::sync::Arc;

use percent_encoding::percent_decode_str;
use reqwest::Url;

use super::routing::{EventFilter, Glob, Routing};
use super::{email, opsgenie, pagerduty, telegram, Channel, ChannelKind, Endpoint};

/// The accepted forms, listed by every parse error.
pub const ACCEPTED_KINDS: &str = "https:// or http:// (webhook), webhook+https://, \
slack+https://, discord+https://, teams+https://, ntfy+https://, telegram+https://, \
pagerduty+https://, opsgenie+https://, alertmanager+http://, smtp://, smtps:// \
(every +https:// kind also as +http://)";

/// Why a channel URL was refused. Its message names the kind and host at most, never
/// the path, query, user or password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}; accepted kinds: {ACCEPTED_KINDS}")]
pub struct ChannelUrlError {
    reason: String,
}

impl ChannelUrlError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// Why, without the list of kinds.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// `kind:host`, with `:port` when the URL names one.
pub(super) fn name_of(kind: ChannelKind, url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}:{host}:{port}", kind.as_str()),
        None => format!("{}:{host}", kind.as_str()),
    }
}

/// A channel's stable key, `name#hash`: the hash (64 bits of SHA-256) covers its kind,
/// its transport and its whole URL without the fragment, so that a restart with the
/// same URL finds its outbox entries and a changed URL does not. The URL itself, with
/// its secrets, is never stored.
pub(super) fn key_of(kind: ChannelKind, transport: &str, url: &Url, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(kind.as_str())
        .chain_update(b"\n")
        .chain_update(transport)
        .chain_update(b"\n")
        .chain_update(url.as_str())
        .finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{name}#{hex}")
}

pub(super) fn parse(raw: &str) -> Result<Channel, ChannelUrlError> {
    let raw = raw.trim();
    let (main, fragment) = match raw.split_once('#') {
        Some((main, fragment)) => (main, Some(fragment)),
        None => (raw, None),
    };
    let Some((scheme, rest)) = main.split_once("://") else {
        return Err(ChannelUrlError::new(
            "expected a URL with a scheme, such as slack+https://hooks.slack.com/services/…",
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    let (kind, transport) = match scheme.split_once('+') {
        None => match scheme.as_str() {
            "http" | "https" => (ChannelKind::Webhook, scheme.as_str()),
            "smtp" | "smtps" => (ChannelKind::Email, scheme.as_str()),
            _ => return Err(unknown_scheme(&scheme)),
        },
        Some((kind, transport)) => {
            let kind = match kind {
                "webhook" => ChannelKind::Webhook,
                "slack" => ChannelKind::Slack,
                "discord" => ChannelKind::Discord,
                "teams" => ChannelKind::Teams,
                "ntfy" => ChannelKind::Ntfy,
                "telegram" => ChannelKind::Telegram,
                "pagerduty" => ChannelKind::PagerDuty,
                "opsgenie" => ChannelKind::Opsgenie,
                "alertmanager" => ChannelKind::Alertmanager,
                _ => return Err(unknown_scheme(&scheme)),
            };
            if transport != "http" && transport != "https" {
                return Err(unknown_scheme(&scheme));
            }
            (kind, transport)
        }
    };
    let routing = match fragment {
        Some(fragment) => parse_routing(fragment)?,
        None => Routing::default(),
    };
    // Every kind is parsed as an http(s) URL, so that its host, port, user and
    // password are read the same way; SMTP URLs borrow the http grammar for that.
    let as_http = if kind == ChannelKind::Email {
        format!("http://{rest}")
    } else {
        format!("{transport}://{rest}")
    };
    let mut url = Url::parse(&as_http).map_err(|e| {
        ChannelUrlError::new(format!("a {} URL that cannot be read ({e})", kind.as_str()))
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ChannelUrlError::new(format!(
            "a {} URL without a host",
            kind.as_str()
        )));
    }
    url.set_fragment(None);
    let name = name_of(kind, &url);
    let via = if kind == ChannelKind::Email {
        scheme.as_str()
    } else {
        transport
    };
    let key = key_of(kind, via, &url, &name);
    let endpoint = endpoint(kind, &scheme, url, &name)?;
    Ok(Channel {
        kind,
        name,
        key,
        alert_uri: false,
        routing,
        endpoint,
    })
}

fn unknown_scheme(scheme: &str) -> ChannelUrlError {
    // The scheme is quoted only when it looks like one: a mistyped URL may hold a
    // token where the scheme was expected.
    let looks_like_a_scheme = scheme.len() <= 24
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if looks_like_a_scheme {
        ChannelUrlError::new(format!("unknown kind of channel URL \"{scheme}://\""))
    } else {
        ChannelUrlError::new("unknown kind of channel URL")
    }
}

fn query_value(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.trim().is_empty())
}

fn without_query(mut url: Url) -> Url {
    url.set_query(None);
    url
}

fn missing(name: &str, what: &str) -> ChannelUrlError {
    ChannelUrlError::new(format!("{name}: the URL needs {what}"))
}

fn endpoint(
    kind: ChannelKind,
    scheme: &str,
    url: Url,
    name: &str,
) -> Result<Endpoint, ChannelUrlError> {
    match kind {
        ChannelKind::Webhook
        | ChannelKind::Slack
        | ChannelKind::Discord
        | ChannelKind::Teams
        | ChannelKind::Alertmanager => Ok(Endpoint::Http(url)),
        ChannelKind::Ntfy => {
            if url.path().trim_matches('/').is_empty() {
                return Err(missing(
                    name,
                    "a topic as its path (ntfy+https://ntfy.sh/TOPIC)",
                ));
            }
            Ok(Endpoint::Http(url))
        }
        ChannelKind::Telegram => {
            let Some(chat_id) = query_value(&url, "chat_id") else {
                return Err(missing(name, "?chat_id=<ID>"));
            };
            let token = url
                .path()
                .trim_end_matches('/')
                .strip_prefix("/bot")
                .filter(|t| !t.is_empty() && !t.contains('/'));
            if token.is_none() {
                return Err(missing(name, "the path /bot<TOKEN>"));
            }
            Ok(Endpoint::Telegram(telegram::Target::new(
                without_query(url),
                chat_id,
            )))
        }
        ChannelKind::PagerDuty => {
            let Some(routing_key) = query_value(&url, "routing_key") else {
                return Err(missing(name, "?routing_key=<KEY>"));
            };
            Ok(Endpoint::PagerDuty(pagerduty::Target::new(
                without_query(url),
                routing_key,
            )))
        }
        ChannelKind::Opsgenie => {
            let Some(api_key) = query_value(&url, "api_key") else {
                return Err(missing(name, "?api_key=<KEY>"));
            };
            Ok(Endpoint::Opsgenie(opsgenie::Target::new(
                without_query(url),
                api_key,
            )))
        }
        ChannelKind::Email => email_target(scheme, &url, name),
    }
}

fn email_target(scheme: &str, url: &Url, name: &str) -> Result<Endpoint, ChannelUrlError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let implicit = scheme == "smtps";
    let tls = match query_value(url, "tls").as_deref() {
        None | Some("on") => {
            if implicit {
                email::Encryption::Implicit
            } else {
                email::Encryption::StartTls
            }
        }
        Some("off") if !implicit => email::Encryption::Off,
        Some("insecure") => {
            if implicit {
                email::Encryption::ImplicitUnverified
            } else {
                email::Encryption::StartTlsUnverified
            }
        }
        Some(_) => {
            return Err(ChannelUrlError::new(format!(
                "{name}: tls= takes on, off (smtp:// only) or insecure"
            )))
        }
    };
    let from = query_value(url, "from").ok_or_else(|| missing(name, "?from=ADDRESS"))?;
    let from = email::mailbox(&from)
        .ok_or_else(|| ChannelUrlError::new(format!("{name}: from= is not an email address")))?;
    let to_raw = query_value(url, "to").ok_or_else(|| missing(name, "&to=ADDRESS,ADDRESS"))?;
    let mut to = Vec::new();
    for one in to_raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        to.push(email::mailbox(one).ok_or_else(|| {
            ChannelUrlError::new(format!(
                "{name}: to= holds something that is not an email address"
            ))
        })?);
    }
    if to.is_empty() {
        return Err(missing(name, "&to=ADDRESS,ADDRESS"));
    }
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let credentials = match (url.username(), url.password()) {
        ("", None) => None,
        (user, password) => Some((decode(user), decode(password.unwrap_or("")))),
    };
    let port = url.port().unwrap_or(if implicit { 465 } else { 587 });
    Ok(Endpoint::Email(Arc::new(email::Target {
        host,
        port,
        tls,
        credentials,
        from,
        to,
    })))
}

fn parse_routing(fragment: &str) -> Result<Routing, ChannelUrlError> {
    let mut routing = Routing::default();
    for part in fragment.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let value = percent_decode_str(value).decode_utf8_lossy();
        match key {
            "jobs" => {
                for pattern in value.split(',') {
                    let glob = Glob::parse(pattern.trim()).ok_or_else(|| {
                        ChannelUrlError::new(
                            "#jobs= takes comma-separated globs (* and ?), none of them empty",
                        )
                    })?;
                    routing.jobs.push(glob);
                }
            }
            "events" => {
                let mut events = EventFilter {
                    down: false,
                    reminder: false,
                    up: false,
                };
                for event in value.split(',').map(str::trim) {
                    match event {
                        "down" => events.down = true,
                        "reminder" => events.reminder = true,
                        "up" => events.up = true,
                        _ => {
                            return Err(ChannelUrlError::new(
                                "#events= takes down, reminder and up, comma-separated",
                            ))
                        }
                    }
                }
                routing.events = events;
            }
            _ => {
                return Err(ChannelUrlError::new(
                    "the fragment takes jobs= and events= only (#jobs=GLOB,GLOB&events=down,reminder,up)",
                ))
            }
        }
    }
    Ok(routing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> Channel {
        Channel::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn refused(raw: &str) -> String {
        match Channel::parse(raw) {
            Ok(c) => panic!("{raw} accepted as {c}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_kind_of_the_table_is_read_with_its_name() {
        let cases = [
            ("https://hooks.example/x", "webhook:hooks.example"),
            ("http://127.0.0.1:9000/x", "webhook:127.0.0.1:9000"),
            ("webhook+https://hooks.example/x", "webhook:hooks.example"),
            (
                "slack+https://hooks.slack.com/services/T/B/X",
                "slack:hooks.slack.com",
            ),
            (
                "discord+https://discord.com/api/webhooks/1/abc",
                "discord:discord.com",
            ),
            (
                "teams+https://prod.westeurope.logic.azure.com/workflows/x?sig=s",
                "teams:prod.westeurope.logic.azure.com",
            ),
            ("ntfy+https://ntfy.sh/my-topic", "ntfy:ntfy.sh"),
            ("ntfy+http://ntfy.lan:8080/jobs", "ntfy:ntfy.lan:8080"),
            (
                "telegram+https://api.telegram.org/bot123:ABC?chat_id=42",
                "telegram:api.telegram.org",
            ),
            (
                "pagerduty+https://events.pagerduty.com/v2/enqueue?routing_key=R",
                "pagerduty:events.pagerduty.com",
            ),
            (
                "opsgenie+https://api.opsgenie.com/v2/alerts?api_key=K",
                "opsgenie:api.opsgenie.com",
            ),
            (
                "alertmanager+http://am.lan:9093",
                "alertmanager:am.lan:9093",
            ),
            ("alertmanager+https://am.example", "alertmanager:am.example"),
            (
                "smtp://u:p@mail.example:587?from=a@x.example&to=b@y.example,c@y.example",
                "email:mail.example:587",
            ),
            (
                "smtps://mail.example?from=a@x.example&to=b@y.example",
                "email:mail.example",
            ),
            ("SLACK+HTTP://127.0.0.1:1/x", "slack:127.0.0.1:1"),
        ];
        for (raw, name) in cases {
            let channel = ok(raw);
            assert_eq!(channel.name(), name, "{raw}");
            assert_eq!(format!("{channel}"), name);
            assert_eq!(format!("{channel:?}"), format!("Channel({name})"));
        }
    }

    #[test]
    fn malformed_urls_are_refused_naming_the_accepted_kinds() {
        for raw in [
            "ftp://x.example/y",
            "slack+ftp://x.example/y",
            "nonsense",
            "telegram+https://api.telegram.org/bot123:ABC",
            "telegram+https://api.telegram.org/nope?chat_id=1",
            "pagerduty+https://events.pagerduty.com/v2/enqueue",
            "opsgenie+https://api.opsgenie.com/v2/alerts?api_key=",
            "smtp://mail.example?to=b@y.example",
            "smtp://mail.example?from=a@x.example",
            "smtp://mail.example?from=nope&to=b@y.example",
            "smtps://mail.example?from=a@x.example&to=b@y.example&tls=off",
            "ntfy+https://ntfy.sh/",
            "https://hooks.example/x#jobs=",
            "https://hooks.example/x#events=down,sideways",
            "https://hooks.example/x#colour=red",
            "https://",
        ] {
            let message = refused(raw);
            assert!(message.contains("slack+https://"), "{raw}: {message}");
            assert!(!message.contains('\n'), "{raw}: {message}");
        }
    }

    #[test]
    fn secrets_stay_out_of_names_debug_output_and_errors() {
        let secrets = ["T0K3N", "P4SS", "R0UTE", "K3Y", "S3CR3TPATH", "Q5"];
        let urls = [
            "slack+https://hooks.slack.com/services/S3CR3TPATH?q=Q5",
            "telegram+https://api.telegram.org/botT0K3N?chat_id=1",
            "pagerduty+https://events.pagerduty.com/v2/enqueue?routing_key=R0UTE",
            "opsgenie+https://api.opsgenie.com/v2/alerts?api_key=K3Y",
            "smtp://user:P4SS@mail.example?from=a@x.example&to=b@y.example",
            "https://user:P4SS@hooks.example/S3CR3TPATH?token=T0K3N",
        ];
        for raw in urls {
            let channel = ok(raw);
            let shown = format!("{channel} {channel:?}");
            for secret in secrets {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        for raw in [
            "telegram+https://api.telegram.org/botT0K3N",
            "pagerduty+https://events.pagerduty.com/S3CR3TPATH?other=R0UTE",
            "smtp://user:P4SS@mail.example?from=K3Y&to=b@y.example",
            "T0K3N://x",
            "https://h/S3CR3TPATH#events=K3Y",
        ] {
            let message = refused(raw);
            for secret in secrets {
                assert!(!message.contains(secret), "{message}");
            }
        }
    }

    #[test]
    fn the_fragment_sets_the_routing() {
        let channel = ok("slack+https://hooks.slack.com/x#jobs=backup-*,db?&events=down,up");
        assert_eq!(channel.routing().job_patterns(), vec!["backup-*", "db?"]);
        assert_eq!(channel.routing().events.names(), vec!["down", "up"]);
        let all = ok("slack+https://hooks.slack.com/x");
        assert_eq!(all.routing().job_patterns(), vec!["*"]);
        assert_eq!(all.routing().events.names(), vec!["down", "reminder", "up"]);
    }

    #[test]
    fn email_urls_read_tls_mode_and_defaults() {
        let Endpoint::Email(t) = ok("smtp://mail.example?from=a@x.example&to=b@y.example").endpoint
        else {
            panic!("not email")
        };
        assert_eq!((t.port, t.tls), (587, email::Encryption::StartTls));
        let Endpoint::Email(t) =
            ok("smtp://u%40x:p%3Aw@mail.example:2525?from=a@x.example&to=b@y.example&tls=off")
                .endpoint
        else {
            panic!("not email")
        };
        assert_eq!((t.port, t.tls), (2525, email::Encryption::Off));
        assert_eq!(t.credentials, Some(("u@x".to_owned(), "p:w".to_owned())));
        let Endpoint::Email(t) =
            ok("smtps://mail.example?from=a@x.example&to=b@y.example").endpoint
        else {
            panic!("not email")
        };
        assert_eq!((t.port, t.tls), (465, email::Encryption::Implicit));
    }

    const PLANTED: &str = "Zq7S3CR3Tx";

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(raw in "\\PC{0,80}") {
            let _ = Channel::parse(&raw);
        }

        #[test]
        fn a_secret_in_user_password_path_query_or_fragment_never_shows(
            scheme in proptest::sample::select(vec![
                "https", "http", "webhook+https", "slack+https", "discord+http", "teams+https",
                "ntfy+https", "telegram+https", "pagerduty+https", "opsgenie+https",
                "alertmanager+http", "smtp", "smtps", "gopher", "slack+ftp",
            ]),
            host in "[a-z0-9.-]{0,12}",
            user in "\\PC{0,8}",
            path in "\\PC{0,16}",
            query in "\\PC{0,16}",
            fragment in "\\PC{0,16}",
            plant in 0u8..32,
        ) {
            let with = |own: &str, bit: u8| {
                if plant & bit != 0 { format!("{own}{PLANTED}") } else { own.to_owned() }
            };
            let raw = format!(
                "{scheme}://{}:{}@{host}/{}?{}#{}",
                with(&user, 1), with("", 2), with(&path, 4), with(&query, 8), with(&fragment, 16)
            );
            let shown = match Channel::parse(&raw) {
                Ok(channel) => format!("{channel} {channel:?}"),
                Err(e) => format!("{e} {e:?}"),
            };
            proptest::prop_assert!(!shown.contains(PLANTED), "{raw:?} shown as {shown}");
            proptest::prop_assert!(!shown.contains('\n'));
        }
    }
}
