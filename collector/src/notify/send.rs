//! Delivery: mail over SMTP (lettre; STARTTLS required unless the configuration says
//! otherwise, authentication when a user is given; a plain-text and an HTML part) and
//! webhooks (reqwest with rustls: the JSON payload, or `{"text": ...}` for Slack and Teams
//! incoming webhooks). Each attempt is bounded in time.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

use super::Smtp;
use crate::store::notify::NotificationRow;

/// How long one delivery attempt may take.
const ATTEMPT: Duration = Duration::from_secs(30);

/// Deliver `n`: Ok, or what went wrong.
pub async fn deliver(
    n: &NotificationRow,
    smtp: Option<&Smtp>,
    http: &reqwest::Client,
) -> Result<(), String> {
    let body: Value = serde_json::from_str(&n.body).map_err(|e| format!("stored body: {e}"))?;
    match n.kind.as_str() {
        "email" => {
            let smtp = smtp.ok_or("no [notify.smtp] is configured to send mail")?;
            mail(n, &body, smtp).await
        }
        "webhook" | "chat" => {
            let payload = if n.kind == "chat" {
                serde_json::json!({"text": body["text"]})
            } else {
                body["payload"].clone()
            };
            let r = http
                .post(&n.address)
                .timeout(ATTEMPT)
                .json(&payload)
                .send()
                .await
                .map_err(|e| format!("{}: {e}", n.address))?;
            if r.status().is_success() {
                Ok(())
            } else {
                Err(format!("{}: HTTP {}", n.address, r.status()))
            }
        }
        other => Err(format!("unknown contact kind {other:?}")),
    }
}

async fn mail(n: &NotificationRow, body: &Value, smtp: &Smtp) -> Result<(), String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("notify.smtp.from {:?}: {e}", smtp.from))?;
    let to: Mailbox = n
        .address
        .parse()
        .map_err(|e| format!("{:?}: {e}", n.address))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(&n.subject)
        .message_id(Some(format!("<{}@posture>", n.id)))
        .multipart(MultiPart::alternative_plain_html(
            body["text"].as_str().unwrap_or("").to_owned(),
            body["html"].as_str().unwrap_or("").to_owned(),
        ))
        .map_err(|e| e.to_string())?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(ATTEMPT));
    if smtp.starttls {
        let mut tls = TlsParameters::builder(smtp.host.clone());
        if let Some(pem) = &smtp.ca_pem {
            tls = tls.add_root_certificate(
                Certificate::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?,
            );
        }
        builder = builder.tls(Tls::Required(
            tls.build_rustls().map_err(|e| e.to_string())?,
        ));
    }
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {e}", smtp.host, smtp.port))
}
