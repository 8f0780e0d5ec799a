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
        "alertmanager" => {
            let url = format!("{}/api/v2/alerts", n.address.trim_end_matches('/'));
            post(
                http,
                &url,
                &alertmanager_alerts(&body["payload"], chrono::Utc::now()),
            )
            .await
        }
        "webhook" | "chat" => {
            let payload = if n.kind == "chat" {
                serde_json::json!({"text": body["text"]})
            } else {
                body["payload"].clone()
            };
            post(http, &n.address, &payload).await
        }
        other => Err(format!("unknown contact kind {other:?}")),
    }
}

async fn post(http: &reqwest::Client, url: &str, payload: &Value) -> Result<(), String> {
    let r = http
        .post(url)
        .timeout(ATTEMPT)
        .json(payload)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", r.status()))
    }
}

/// How long an open alert stays active in Alertmanager unless it is sent again: longer than
/// the longest gap between reminders (16 days between the 30- and 14-day reminders of a
/// certificate, a week otherwise).
const ALERTMANAGER_HOLD: chrono::Duration = chrono::Duration::days(31);

/// A message's items as Alertmanager alerts (its API v2): labels name the organisation,
/// domain, target, check and severity; a fix or a resolution ends the alert now.
pub fn alertmanager_alerts(payload: &Value, now: chrono::DateTime<chrono::Utc>) -> Value {
    let alerts: Vec<Value> = payload["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let ends = if i["reason"] == "resolved" {
                now
            } else {
                now + ALERTMANAGER_HOLD
            };
            serde_json::json!({
                "labels": {
                    "alertname": "PostureCheckFailing",
                    "organisation": payload["organisation"],
                    "domain": i["domain"],
                    "target": i["target"],
                    "check": i["check"],
                    "severity": i["severity"],
                },
                "annotations": {
                    "summary": format!("{}: {}", i["check"].as_str().unwrap_or(""), i["title"].as_str().unwrap_or("")),
                    "description": i["message"],
                    "fix": i["fix"],
                    "why": i["why"],
                    "runbook": i["page"],
                },
                "startsAt": i["since"],
                "endsAt": ends.to_rfc3339(),
                "generatorURL": i["page"],
            })
        })
        .collect();
    Value::Array(alerts)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_become_alertmanager_alerts_and_a_fix_ends_one() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let payload = serde_json::json!({
            "organisation": "RX2",
            "items": [
                {"reason": "failing", "check": "TLS-CERT-EXPIRING", "title": "t", "domain": "www.b.test",
                 "target": "tls://www.b.test:443", "severity": "high", "message": "m", "fix": "Renew",
                 "why": "w", "page": "https://c/ui/domain/www.b.test", "since": "2026-11-30T00:00:00+00:00"},
                {"reason": "resolved", "check": "MAIL-DMARC-POLICY", "title": "t", "domain": "a.test",
                 "target": "a.test", "severity": "high", "message": "m", "fix": "f", "why": "w",
                 "page": "https://c/ui/domain/a.test", "since": "2026-11-29T00:00:00+00:00"}
            ]
        });
        let alerts = alertmanager_alerts(&payload, now);
        assert_eq!(alerts[0]["labels"]["alertname"], "PostureCheckFailing");
        assert_eq!(alerts[0]["labels"]["organisation"], "RX2");
        assert_eq!(alerts[0]["labels"]["check"], "TLS-CERT-EXPIRING");
        assert_eq!(alerts[0]["annotations"]["fix"], "Renew");
        assert_eq!(alerts[0]["startsAt"], "2026-11-30T00:00:00+00:00");
        assert_eq!(alerts[0]["endsAt"], "2027-01-01T00:00:00+00:00");
        assert_eq!(alerts[1]["endsAt"], "2026-12-01T00:00:00+00:00");
    }
}
