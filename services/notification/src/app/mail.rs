//! Sending one e-mail: over SMTP with `lettre` (rustls, pooled), or as an
//! `.eml` file for development. Errors say what kind of failure it was,
//! never what the server echoed (it may echo the address).

use std::path::PathBuf;

use bti_runtime::peers::scheduling::Invitation;
use lettre::message::header::{ContentDisposition, ContentType};
use lettre::message::{Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::domain::templates::Rendered;
use crate::{NotificationConfig, SmtpTls};

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying (connection, 4xx).
    Transient(&'static str),
    /// Not worth retrying (5xx, a bad address).
    Permanent(&'static str),
}

impl Mailer {
    /// The configured mailer: `eml_dir` wins over `smtp.host`; neither means
    /// no e-mail.
    pub fn from_config(c: &NotificationConfig) -> anyhow::Result<Option<Mailer>> {
        c.sender
            .parse::<Mailbox>()
            .map_err(|e| anyhow::anyhow!("service.notification.sender: {e}"))?;
        if let Some(dir) = &c.eml_dir {
            std::fs::create_dir_all(dir)?;
            tracing::info!(dir = %dir.display(), "e-mails are written as .eml files");
            return Ok(Some(Mailer::Files(dir.clone())));
        }
        let Some(host) = c.smtp.host.as_deref().filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let s = &c.smtp;
        let mut b = match s.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        if let Some(port) = s.port {
            b = b.port(port);
        }
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Some(Mailer::Smtp(b.build())))
    }

    /// Builds and sends the message for delivery `id`.
    pub async fn send(
        &self,
        id: &str,
        from: &str,
        to: &str,
        m: &Rendered,
        calendar: Option<&Invitation>,
    ) -> Result<(), SendError> {
        let bad = SendError::Permanent("invalid address");
        let builder = Message::builder()
            .from(from.parse().map_err(|_| bad.clone())?)
            .to(to.parse().map_err(|_| bad)?)
            .subject(m.subject.clone())
            .message_id(Some(format!("<{id}@bti.invalid>")));
        let unbuilt = |_| SendError::Permanent("message could not be built");
        let message = match calendar {
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(m.body.clone())
                .map_err(unbuilt)?,
            // iMIP (RFC 6047): the text, and the recipient's own calendar
            // with its METHOD, which calendar clients act on.
            Some(c) => {
                let kind = format!("text/calendar; charset=utf-8; method={}", c.method);
                let calendar = SinglePart::builder()
                    .header(
                        ContentType::parse(&kind).map_err(|_| SendError::Permanent("calendar"))?,
                    )
                    .header(ContentDisposition::attachment("invitation.ics"))
                    .body(c.ics.clone());
                builder
                    .multipart(
                        MultiPart::mixed()
                            .singlepart(SinglePart::plain(m.body.clone()))
                            .singlepart(calendar),
                    )
                    .map_err(unbuilt)?
            }
        };
        match self {
            Mailer::Files(dir) => {
                let path = dir.join(format!("{id}.eml"));
                tokio::fs::write(&path, message.formatted())
                    .await
                    .map_err(|_| SendError::Transient("eml file not written"))?;
                tracing::info!(path = %path.display(), "e-mail written");
                Ok(())
            }
            Mailer::Smtp(t) => match t.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent("smtp: rejected")),
                Err(e) if e.is_transient() => Err(SendError::Transient("smtp: try later")),
                Err(_) => Err(SendError::Transient("smtp: no connection")),
            },
        }
    }
}

/// Whether `s` is an e-mail address a message can be sent to.
pub fn valid_address(s: &str) -> bool {
    s.len() <= 254 && s.parse::<lettre::Address>().is_ok()
}
