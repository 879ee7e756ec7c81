//! Email over SMTP (lettre, on tokio with rustls): subject `[overdue] backup is DOWN`,
//! a plain-text body. `smtp://` upgrades with STARTTLS and refuses to send without it
//! (unless `tls=off`); `smtps://` speaks TLS from the first byte. SMTP 4xx replies are
//! retried, 5xx are not.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Context, Outcome, ATTEMPT_TIMEOUT};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encryption {
    /// `smtp://`: STARTTLS, required.
    StartTls,
    /// `smtp://…&tls=insecure`: STARTTLS, required, the certificate not checked.
    StartTlsUnverified,
    /// `smtps://`: TLS from the start.
    Implicit,
    /// `smtps://…?tls=insecure`: TLS from the start, the certificate not checked.
    ImplicitUnverified,
    /// `smtp://…&tls=off`: plain text, for a relay on a trusted network.
    Off,
}

/// A mail server, its credentials and the envelope.
pub(crate) struct Target {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: Encryption,
    pub(super) credentials: Option<(String, String)>,
    pub(super) from: Mailbox,
    pub(super) to: Vec<Mailbox>,
}

/// An address as `from=` and `to=` take it: `ops@example.com` or `Ops <ops@example.com>`.
pub(super) fn mailbox(raw: &str) -> Option<Mailbox> {
    raw.trim().parse().ok()
}

fn transport(target: &Target) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let params = |verify: bool| {
        TlsParameters::builder(target.host.clone())
            .dangerous_accept_invalid_certs(!verify)
            .dangerous_accept_invalid_hostnames(!verify)
            .build()
            .map_err(|e| format!("cannot set up TLS: {e}"))
    };
    let tls = match target.tls {
        Encryption::StartTls => LettreTls::Required(params(true)?),
        Encryption::StartTlsUnverified => LettreTls::Required(params(false)?),
        Encryption::Implicit => LettreTls::Wrapper(params(true)?),
        Encryption::ImplicitUnverified => LettreTls::Wrapper(params(false)?),
        Encryption::Off => LettreTls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.clone())
        .port(target.port)
        .tls(tls)
        .timeout(Some(ATTEMPT_TIMEOUT));
    if let Some((user, password)) = &target.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

pub(super) fn message(ctx: &Context<'_>, target: &Target) -> Result<Message, String> {
    let notice = ctx.notice;
    let mut builder = Message::builder()
        .from(target.from.clone())
        .subject(format!("[overdue] {}", notice.headline()))
        .header(ContentType::TEXT_PLAIN);
    for to in &target.to {
        builder = builder.to(to.clone());
    }
    let body = format!("{}\n\nmonitor: {}\n", notice.text(), ctx.monitor);
    builder
        .body(body)
        .map_err(|e| format!("cannot build the email: {e}"))
}

pub(super) async fn send(ctx: &Context<'_>, target: &Target) -> Outcome {
    let mailer = match transport(target) {
        Ok(mailer) => mailer,
        Err(reason) => return Outcome::give_up(reason),
    };
    let email = match message(ctx, target) {
        Ok(email) => email,
        Err(reason) => return Outcome::give_up(reason),
    };
    match mailer.send(email).await {
        Ok(_) => Outcome::Delivered { status: None },
        Err(e) => {
            let status = e
                .status()
                .and_then(|code| code.to_string().parse::<u16>().ok());
            let reason = format!("smtp: {e}");
            if e.is_permanent() {
                Outcome::GiveUp {
                    reason,
                    status,
                    answer: None,
                }
            } else {
                // 4xx replies, and a connection, TLS or timeout failure: retried.
                Outcome::Retry {
                    reason,
                    status,
                    retry_after: None,
                    answer: None,
                }
            }
        }
    }
}
