//! Notification channels (SPEC §14): a [`Channel`] is one parsed `--notify` URL (its
//! kind, its redacted name, its routing and the endpoint with its secrets); a
//! [`Transports`] turns one alert into that service's request and classifies the answer
//! as an [`Outcome`]. One file per kind speaks that service's API; `message` writes the
//! human text every kind but `webhook` sends.

mod alertmanager;
mod discord;
mod email;
mod http;
mod message;
mod ntfy;
mod opsgenie;
mod pagerduty;
mod routing;
mod slack;
mod teams;
mod telegram;
mod url;
mod webhook;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use message::{readable_duration, Notice};
pub use routing::{EventFilter, Routing};
pub use url::ChannelUrlError;

use super::Signer;
use crate::domain::{Alert, UnixTime};

/// One attempt may take this long before it counts as a failure.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The kinds of SPEC §14's table, as named in a channel's name and in `GET /channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Webhook,
    Slack,
    Discord,
    Teams,
    Ntfy,
    Telegram,
    PagerDuty,
    Opsgenie,
    Alertmanager,
    Email,
}

impl ChannelKind {
    /// The kind as written in names, metrics labels and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Telegram => "telegram",
            ChannelKind::PagerDuty => "pagerduty",
            ChannelKind::Opsgenie => "opsgenie",
            ChannelKind::Alertmanager => "alertmanager",
            ChannelKind::Email => "email",
        }
    }
}

/// Where a channel sends, with its secrets; never shown (a channel shows its name).
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// The kinds whose whole URL (minus the fragment) is the request's target.
    Http(reqwest::Url),
    Telegram(telegram::Target),
    PagerDuty(pagerduty::Target),
    Opsgenie(opsgenie::Target),
    Email(Arc<email::Target>),
}

/// One notification channel, parsed from a `--notify` URL (or `PING_ALERT_URI`).
/// `Display` and `Debug` show only its name, `kind:host[:port]`: the token, password,
/// path and query stay inside.
#[derive(Clone)]
pub struct Channel {
    kind: ChannelKind,
    name: String,
    /// `name#hash`: names the channel's outbox entries (see [`Channel::key`]).
    key: String,
    /// Built from `PING_ALERT_URI` rather than a `--notify` URL.
    alert_uri: bool,
    routing: Routing,
    endpoint: Endpoint,
}

impl Channel {
    /// Parses one channel URL of SPEC §14's table, fragment (routing) included.
    pub fn parse(raw: &str) -> Result<Self, ChannelUrlError> {
        url::parse(raw)
    }

    /// The webhook channel of `PING_ALERT_URI`: an `http(s)://` URL, all jobs and events.
    pub fn webhook(mut url: reqwest::Url) -> Self {
        url.set_fragment(None);
        let name = url::name_of(ChannelKind::Webhook, &url);
        let key = url::key_of(ChannelKind::Webhook, url.scheme(), &url, &name);
        Self {
            kind: ChannelKind::Webhook,
            name,
            key,
            alert_uri: true,
            routing: Routing::default(),
            endpoint: Endpoint::Http(url),
        }
    }

    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// `kind:host` (with `:port` when the URL gives one): safe to log and show.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key of the channel's outbox entries: its name, `#`, and 16 hex digits of a
    /// hash of its whole URL. Stable across restarts while the URL is unchanged; holds
    /// no secret.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this is `PING_ALERT_URI`'s channel.
    pub fn is_alert_uri(&self) -> bool {
        self.alert_uri
    }

    /// The key its outbox entries carry: [`Channel::key`], except for
    /// `PING_ALERT_URI`'s channel, whose entries carry the empty key, as every entry
    /// did before channels had entries of their own. So its pending alerts follow
    /// `PING_ALERT_URI` when its URL changes across a restart (SPEC §5: a restart
    /// loses none), and the alerts an earlier version stored go to it.
    pub fn outbox_key(&self) -> &str {
        if self.alert_uri {
            ""
        } else {
            &self.key
        }
    }

    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// Whether this channel takes `alert` (its job and event pass the routing).
    pub fn wants(&self, alert: &Alert) -> bool {
        self.routing.matches(alert)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Channel({})", self.name)
    }
}

/// The configured channels' routing, as the stores see it: which channels get an
/// outbox entry for an alert.
pub struct ChannelRoutes(Arc<[Channel]>);

impl ChannelRoutes {
    pub fn new(channels: &[Channel]) -> Self {
        Self(channels.into())
    }
}

impl crate::backend::AlertRoutes for ChannelRoutes {
    fn channels_for(&self, alert: &Alert) -> Vec<String> {
        self.0
            .iter()
            .filter(|channel| channel.wants(alert))
            .map(|channel| channel.outbox_key().to_owned())
            .collect()
    }
}

/// How one attempt to deliver to one channel ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The service took it (a 2xx, or the SMTP server accepted the message).
    Delivered { status: Option<u16> },
    /// Worth trying again: a connection error, a timeout, 408, 429, 5xx, an SMTP 4xx.
    Retry {
        reason: String,
        status: Option<u16>,
        /// The service's `Retry-After`, when it gave one with a 429 or 503.
        retry_after: Option<Duration>,
        /// The first line of the service's answer, bounded; never a secret of ours.
        answer: Option<String>,
    },
    /// Refused for good: another 4xx, a 3xx, an SMTP 5xx; not retried.
    GiveUp {
        reason: String,
        status: Option<u16>,
        answer: Option<String>,
    },
}

impl Outcome {
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Delivered { status }
            | Outcome::Retry { status, .. }
            | Outcome::GiveUp { status, .. } => *status,
        }
    }

    /// Why it failed, for logs and `last_error`; `None` when delivered.
    pub fn error(&self) -> Option<String> {
        match self {
            Outcome::Delivered { .. } => None,
            Outcome::Retry { reason, answer, .. } | Outcome::GiveUp { reason, answer, .. } => {
                Some(match answer {
                    Some(answer) => format!("{reason}: {answer}"),
                    None => reason.clone(),
                })
            }
        }
    }

    fn give_up(reason: impl Into<String>) -> Self {
        Outcome::GiveUp {
            reason: reason.into(),
            status: None,
            answer: None,
        }
    }
}

/// What every transport shares: the HTTP client, the webhook signer and the monitor's
/// name. Cheap to clone.
#[derive(Clone)]
pub struct Transports {
    client: reqwest::Client,
    signer: Option<Signer>,
    monitor: Arc<str>,
}

impl Transports {
    pub fn new(signer: Option<Signer>, monitor: &str) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("overdue/", env!("CARGO_PKG_VERSION")))
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            // A redirect of a POST is a misconfiguration, not something to follow
            // silently with a changed method.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            signer,
            monitor: Arc::from(monitor),
        })
    }

    /// This monitor's name (`--service-name`).
    pub fn monitor(&self) -> &str {
        &self.monitor
    }

    /// One attempt to deliver `alert` to `channel`, bounded by [`ATTEMPT_TIMEOUT`].
    pub async fn send(&self, channel: &Channel, alert: &Alert, sent_at: UnixTime) -> Outcome {
        let notice = Notice::from(alert);
        let attempt = self.dispatch(channel, alert, &notice, sent_at);
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry {
                reason: "timed out after 10s".into(),
                status: None,
                retry_after: None,
                answer: None,
            },
        }
    }

    /// A test message for `POST /channels/test`: a `down` alert of a job named
    /// `overdue-test` whose text says it is a test.
    pub async fn send_test(&self, channel: &Channel) -> Outcome {
        let now = UnixTime::now();
        let Some(alert) = message::test_alert(now) else {
            return Outcome::give_up("cannot build the test message");
        };
        let mut notice = Notice::from(&alert);
        notice.test = true;
        let attempt = self.dispatch(channel, &alert, &notice, now);
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry {
                reason: "timed out after 10s".into(),
                status: None,
                retry_after: None,
                answer: None,
            },
        }
    }

    async fn dispatch(
        &self,
        channel: &Channel,
        alert: &Alert,
        notice: &Notice,
        sent_at: UnixTime,
    ) -> Outcome {
        let monitor = &*self.monitor;
        let ctx = Context {
            client: &self.client,
            monitor,
            notice,
            sent_at,
        };
        match (&channel.endpoint, channel.kind) {
            (Endpoint::Http(url), ChannelKind::Webhook) => {
                webhook::send(&ctx, url, self.signer.as_ref(), alert).await
            }
            (Endpoint::Http(url), ChannelKind::Slack) => slack::send(&ctx, url).await,
            (Endpoint::Http(url), ChannelKind::Discord) => discord::send(&ctx, url).await,
            (Endpoint::Http(url), ChannelKind::Teams) => teams::send(&ctx, url).await,
            (Endpoint::Http(url), ChannelKind::Ntfy) => ntfy::send(&ctx, url).await,
            (Endpoint::Http(url), ChannelKind::Alertmanager) => alertmanager::send(&ctx, url).await,
            (Endpoint::Telegram(target), _) => telegram::send(&ctx, target).await,
            (Endpoint::PagerDuty(target), _) => pagerduty::send(&ctx, target).await,
            (Endpoint::Opsgenie(target), _) => opsgenie::send(&ctx, target).await,
            (Endpoint::Email(target), _) => email::send(&ctx, target).await,
            (Endpoint::Http(_), kind) => Outcome::give_up(format!(
                "no transport for {} over a plain URL",
                kind.as_str()
            )),
        }
    }
}

/// What one attempt's transport reads.
pub(crate) struct Context<'a> {
    client: &'a reqwest::Client,
    monitor: &'a str,
    notice: &'a Notice,
    sent_at: UnixTime,
}

impl Context<'_> {
    /// `overdue/<monitor>/<job>`: PagerDuty's `dedup_key` and Opsgenie's `alias`, the
    /// same for a job's down and its up so that the up closes what the down opened.
    fn incident_key(&self) -> String {
        format!("overdue/{}/{}", self.monitor, self.notice.name)
    }
}
