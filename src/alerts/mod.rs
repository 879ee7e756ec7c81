//! Alert delivery: the dispatcher takes durable alerts from the backend's outbox and
//! delivers each to the channels whose routing takes it (or to the log when there is
//! none); `channels` speaks each service's API, signing webhooks when a secret is set.

pub mod channels;
mod delivery_stats;
mod dispatcher;
mod signing;
mod webhook_url;

pub use channels::{Channel, ChannelKind, ChannelRoutes, ChannelUrlError, Outcome, Transports};
pub use delivery_stats::{
    AttemptOutcome, AttemptReport, ChannelStats, DeliveryObserver, DispatcherStats,
};
pub use dispatcher::Dispatcher;
pub use signing::{Signer, SignerError};
pub use webhook_url::AlertUri;
