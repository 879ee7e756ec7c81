//! Alert delivery: the dispatcher takes durable alerts from the backend's outbox and
//! delivers them to the webhook (signed when a secret is set) or to the log.

mod dispatcher;
mod signing;
mod webhook_url;

pub use dispatcher::{AttemptOutcome, AttemptReport, DeliveryObserver, Dispatcher, Sink};
pub use signing::{Signer, SignerError};
pub use webhook_url::AlertUri;
