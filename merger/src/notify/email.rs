//! Email over SMTP (lettre): STARTTLS or implicit TLS, optional authentication, a plain-text
//! and an HTML part.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use smallfiles_cluster::config::Secret;

use super::config::EmailConfig;
use super::render;
use super::SendResult;

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl EmailSender {
    pub fn new(cfg: &EmailConfig) -> crate::Result<EmailSender> {
        let bad = |what: &str, e: String| crate::Error::Config(format!("notify.email.{what}: {e}"));
        let smtp = &cfg.smtp;
        let mut builder = if smtp.tls {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| bad("smtp", e.to_string()))?
        } else if smtp.starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                .map_err(|e| bad("smtp", e.to_string()))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        };
        if let Some(ca) = &smtp.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| bad("smtp.ca_file", format!("{}: {e}", ca.display())))?;
            let cert =
                Certificate::from_pem(&pem).map_err(|e| bad("smtp.ca_file", e.to_string()))?;
            let params = TlsParameters::builder(smtp.host.clone())
                .add_root_certificate(cert)
                .build_rustls()
                .map_err(|e| bad("smtp", e.to_string()))?;
            if smtp.tls {
                builder = builder.tls(Tls::Wrapper(params));
            } else if smtp.starttls {
                builder = builder.tls(Tls::Required(params));
            }
        }
        builder = builder.port(smtp.port).timeout(Some(smtp.timeout.0));
        if let Some(user) = &smtp.username {
            let password =
                Secret::resolve(smtp.password_file.as_deref(), smtp.password_env.as_deref())?
                    .unwrap_or_default();
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(EmailSender {
            transport: builder.build(),
            from: cfg
                .from
                .parse()
                .map_err(|e: lettre::address::AddressError| bad("from", e.to_string()))?,
            to: cfg
                .to
                .iter()
                .map(|t| {
                    t.parse()
                        .map_err(|e: lettre::address::AddressError| bad("to", e.to_string()))
                })
                .collect::<crate::Result<_>>()?,
        })
    }

    pub async fn send(&self, subject: &str, markdown: &str) -> SendResult {
        let mut b = Message::builder().from(self.from.clone()).subject(subject);
        for t in &self.to {
            b = b.to(t.clone());
        }
        let message = match b.multipart(MultiPart::alternative_plain_html(
            render::plain_text(markdown),
            render::html(subject, markdown),
        )) {
            Ok(m) => m,
            Err(e) => return SendResult::Failed(format!("building the email: {e}")),
        };
        match self.transport.send(message).await {
            Ok(_) => SendResult::Sent,
            // lettre's errors name the server and the SMTP answer, never the password.
            Err(e) => SendResult::Failed(format!("smtp: {e}")),
        }
    }
}
