//! Alerts to the people who can fix a problem. Each evaluation (every `interval`, after a
//! quiet period once the collector starts) turns the status changes recorded since the last
//! one, and the reminders now due, into at most one message per owner contact; then the
//! messages due are delivered, with retries and backoff, each attempt recorded. Several
//! collectors on one PostgreSQL evaluate one after another (the notifier's row is locked for
//! the evaluation) and lease each message while sending it, so each change is told once.

pub mod plan;
pub mod render;
pub mod send;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use posture_policies::model::Severity;

use crate::api::AppState;
use crate::error::Result;
use plan::{Item, Schedule};

/// How the collector sends mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// The relay's host name (also the name its certificate must carry).
    pub host: String,
    /// Its port (587 unless given).
    pub port: u16,
    /// STARTTLS required (true unless `starttls = false`, for a relay on loopback).
    pub starttls: bool,
    /// The user to authenticate as.
    pub username: Option<String>,
    /// Its password (read from `password_file`).
    pub password: Option<String>,
    /// The sender (`posture <posture@example.nhs.uk>`).
    pub from: String,
    /// A CA certificate (PEM) the relay's certificate chains to, besides the public roots.
    pub ca_pem: Option<String>,
}

/// The notifier's settings (`[notify]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How often to evaluate.
    pub interval: Duration,
    /// How long to wait after starting before the first evaluation.
    pub quiet_after_start: Duration,
    /// The collector's public URL, for links in messages.
    pub base_url: String,
    /// Findings below this severity are not alerted.
    pub min_severity: Severity,
    /// Days before a certificate's expiry to remind at.
    pub before_deadline: Vec<i64>,
    /// How often to remind of other failures.
    pub remind_every: chrono::Duration,
    /// How long to keep trying to deliver a message.
    pub give_up_after: chrono::Duration,
    /// The wait after a first failed delivery; it doubles with each attempt, to an hour.
    pub retry_after: Duration,
    /// Mail, when configured.
    pub smtp: Option<Smtp>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(60),
            quiet_after_start: Duration::from_secs(120),
            base_url: "https://127.0.0.1:8443".into(),
            min_severity: Severity::Medium,
            before_deadline: vec![30, 14, 7, 1],
            remind_every: chrono::Duration::days(7),
            give_up_after: chrono::Duration::days(2),
            retry_after: Duration::from_secs(30),
            smtp: None,
        }
    }
}

/// Most events one evaluation turns into messages (the rest wait for the next).
const EVENTS_PER_EVALUATION: i64 = 20_000;

/// What one evaluation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evaluated {
    /// Events read.
    pub events: usize,
    /// Items told (each in one or more messages).
    pub items: usize,
    /// Messages made.
    pub messages: usize,
}

/// One evaluation: the changes since the last one and the reminders due become messages, in
/// one transaction.
pub async fn evaluate(state: &AppState, settings: &Settings) -> Result<Evaluated> {
    let now = Utc::now().timestamp_millis();
    let schedule = Schedule {
        before_deadline: settings.before_deadline.clone(),
        every: settings.remind_every.num_milliseconds(),
        min_severity: settings.min_severity,
    };
    let secret = state.store.notifier_secret().await?;
    let mut tx = state.store.begin_notify().await?;
    let events = tx.events(EVENTS_PER_EVALUATION).await?;
    let mut cursor = tx.cursor;
    let mut states = BTreeMap::new();
    let mut items: Vec<Item> = Vec::new();
    for e in &events {
        cursor = cursor.max(e.id);
        let key = (e.target.clone(), e.check.clone());
        if !states.contains_key(&key) {
            let s = tx.state(&e.target, &e.check).await?;
            states.insert(key.clone(), s);
        }
        let Some(finding) = tx.finding(&e.target, &e.check).await? else {
            continue;
        };
        let current = states.get(&key).cloned().flatten();
        let (after, item) = plan::on_event(e, &finding, current.as_ref(), now, &schedule);
        if let Some(after) = after {
            states.insert(key, Some(after));
        }
        items.extend(item);
    }
    for due in tx.due(now).await? {
        let key = (due.target.clone(), due.check.clone());
        if states.get(&key).is_some_and(|s| s.as_ref() != Some(&due)) {
            // Changed by an event in this evaluation: its schedule was set there.
            continue;
        }
        let Some(finding) = tx.finding(&due.target, &due.check).await? else {
            continue;
        };
        let (after, item) = plan::on_reminder(&due, &finding, now, &schedule);
        states.insert(key, Some(after));
        items.extend(item);
    }
    for s in states.values().flatten() {
        tx.put_state(s).await?;
    }
    let contacts: BTreeMap<_, _> = tx.contacts().await?.into_iter().collect();
    let links = render::Links {
        base_url: settings.base_url.trim_end_matches('/').to_owned(),
        secret,
    };
    let messages = render::messages(&items, &contacts, &state.judge, &links, || {
        format!("n_{}", uuid::Uuid::now_v7().simple())
    });
    for m in &messages {
        tx.add_notification(m, now).await?;
    }
    tx.commit(cursor).await?;
    Ok(Evaluated {
        events: events.len(),
        items: items.len(),
        messages: messages.len(),
    })
}

/// How long a message is leased to the collector sending it.
const LEASE_MS: i64 = 120_000;

/// Deliver every message due now; how many were delivered.
pub async fn deliver_due(
    state: &AppState,
    settings: &Settings,
    http: &reqwest::Client,
) -> Result<usize> {
    let mut delivered = 0;
    // Bounded: at most this many attempts per round, the rest wait for the next.
    for _ in 0..1000 {
        let now = Utc::now().timestamp_millis();
        let Some(n) = state.store.claim_notification(now, now + LEASE_MS).await? else {
            break;
        };
        let outcome = send::deliver(&n, settings.smtp.as_ref(), http).await;
        let done = Utc::now().timestamp_millis();
        let outcome = match outcome {
            Ok(()) => {
                delivered += 1;
                tracing::info!(id = %n.id, kind = %n.kind, to = %n.address, "notification delivered");
                Ok(())
            }
            Err(e) => {
                let give_up = done - n.created_at > settings.give_up_after.num_milliseconds();
                // retry_after, doubling per attempt, at most an hour.
                let first = i64::try_from(settings.retry_after.as_millis()).unwrap_or(30_000);
                let backoff = first
                    .saturating_mul(1 << (n.attempts.clamp(1, 12) - 1))
                    .min(3_600_000);
                tracing::warn!(id = %n.id, to = %n.address, attempts = n.attempts, error = %e, give_up, "notification not delivered");
                Err((e, (!give_up).then_some(done + backoff)))
            }
        };
        state.store.delivery(&n.id, done, outcome).await?;
    }
    Ok(delivered)
}

/// The notifier: a quiet period after start, then evaluate and deliver every `interval`,
/// until `stop` says true (between rounds, never in one).
pub async fn run(
    state: AppState,
    settings: Settings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let http = match reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "notifier: no HTTP client; alerts are not sent");
            return;
        }
    };
    tokio::select! {
        () = tokio::time::sleep(settings.quiet_after_start) => {}
        _ = stop.changed() => return,
    }
    let mut every = tokio::time::interval(settings.interval);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        match evaluate(&state, &settings).await {
            Ok(e) if e.messages > 0 => {
                tracing::info!(
                    events = e.events,
                    items = e.items,
                    messages = e.messages,
                    "notifications made"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "notifier evaluation failed"),
        }
        if let Err(e) = deliver_due(&state, &settings, &http).await {
            tracing::warn!(error = %e, "notification delivery failed");
        }
    }
}
