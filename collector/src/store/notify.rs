//! What the notifier keeps: owner contacts, the state of each alert, the messages made and
//! their delivery. An evaluation runs in one transaction that first updates the notifier's
//! row, so evaluations by several replicas run one after another and each event becomes
//! messages exactly once (the cursor moves in the same transaction as the messages are
//! written).

use std::collections::HashMap;

use posture_policies::model::Finding;
use sqlx::Row;

use super::Store;
use crate::error::{Error, Result};

/// An owner contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Its id.
    pub id: String,
    /// The organisation.
    pub organisation: String,
    /// `""` for the organisation's default, else the domain or endpoint host it is for.
    pub scope: String,
    /// `email`, `webhook` (JSON) or `chat` (a Slack / Teams text webhook).
    pub kind: String,
    /// The address or URL.
    pub address: String,
}

/// A status change, as the notifier reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Its id (the notifier's cursor moves over these).
    pub id: i64,
    /// The target's store key.
    pub target: String,
    /// The check.
    pub check: String,
    /// The organisation.
    pub organisation: String,
    /// The scoring domain.
    pub domain: String,
    /// The status before (none: first seen).
    pub from: Option<String>,
    /// The status after.
    pub to: String,
    /// When, Unix ms.
    pub at: i64,
}

/// What owners were told of one (target, check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertState {
    /// The target's store key.
    pub target: String,
    /// The check.
    pub check: String,
    /// The organisation.
    pub organisation: String,
    /// The scoring domain.
    pub domain: String,
    /// `open` (owners were told it fails) or `closed` (told it was fixed).
    pub state: String,
    /// When this episode began (the failure's event time), Unix ms.
    pub since: i64,
    /// When owners were last told, Unix ms.
    pub last_sent: i64,
    /// When the next reminder is due, Unix ms (none: no more).
    pub next_reminder: Option<i64>,
    /// Reminders sent this episode.
    pub reminders: i64,
    /// When an owner acknowledged this episode, Unix ms.
    pub acked_at: Option<i64>,
}

/// A message to one contact, to be stored and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Its id.
    pub id: String,
    /// The organisation.
    pub organisation: String,
    /// The contact's kind.
    pub kind: String,
    /// The contact's address.
    pub address: String,
    /// The subject line.
    pub subject: String,
    /// The rendered body (JSON: text, html, payload).
    pub body: String,
    /// What it says of which (target, check, domain, reason).
    pub items: Vec<(String, String, String, String)>,
}

/// A stored message and its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// Its id.
    pub id: String,
    /// The organisation.
    pub organisation: String,
    /// The contact's kind.
    pub kind: String,
    /// The contact's address.
    pub address: String,
    /// The subject line.
    pub subject: String,
    /// The rendered body (JSON: text, html, payload).
    pub body: String,
    /// When it was made, Unix ms.
    pub created_at: i64,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When it was delivered, Unix ms.
    pub delivered_at: Option<i64>,
    /// When delivery was given up, Unix ms.
    pub failed_at: Option<i64>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

const CONTACT_COLUMNS: &str = "id, organisation, scope, kind, address";

fn contact(r: &sqlx::any::AnyRow) -> Result<Contact> {
    Ok(Contact {
        id: r.try_get(0)?,
        organisation: r.try_get(1)?,
        scope: r.try_get(2)?,
        kind: r.try_get(3)?,
        address: r.try_get(4)?,
    })
}

const NOTIFICATION_COLUMNS: &str = "id, organisation, kind, address, subject, body, created_at, attempts, delivered_at, failed_at, last_error";

fn notification(r: &sqlx::any::AnyRow) -> Result<NotificationRow> {
    Ok(NotificationRow {
        id: r.try_get(0)?,
        organisation: r.try_get(1)?,
        kind: r.try_get(2)?,
        address: r.try_get(3)?,
        subject: r.try_get(4)?,
        body: r.try_get(5)?,
        created_at: r.try_get(6)?,
        attempts: r.try_get(7)?,
        delivered_at: r.try_get(8)?,
        failed_at: r.try_get(9)?,
        last_error: r.try_get(10)?,
    })
}

const STATE_COLUMNS: &str = "target_key, check_id, organisation, domain, state, since, last_sent, next_reminder, reminders, acked_at";

fn state(r: &sqlx::any::AnyRow) -> Result<AlertState> {
    Ok(AlertState {
        target: r.try_get(0)?,
        check: r.try_get(1)?,
        organisation: r.try_get(2)?,
        domain: r.try_get(3)?,
        state: r.try_get(4)?,
        since: r.try_get(5)?,
        last_sent: r.try_get(6)?,
        next_reminder: r.try_get(7)?,
        reminders: r.try_get(8)?,
        acked_at: r.try_get(9)?,
    })
}

/// The alert state of (target, check), through the pool or an evaluation's transaction.
async fn select_state<'e, E>(e: E, target: &str, check: &str) -> Result<Option<AlertState>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(&format!(
        "SELECT {STATE_COLUMNS} FROM alert_states WHERE target_key = $1 AND check_id = $2"
    ))
    .bind(target)
    .bind(check)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(state).transpose()
}

/// One evaluation's transaction: the notifier's row is locked until it commits.
pub struct NotifyTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// The last event already turned into messages.
    pub cursor: i64,
}

impl std::fmt::Debug for NotifyTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyTx")
            .field("cursor", &self.cursor)
            .finish()
    }
}

impl Store {
    /// Add a contact; its id.
    pub async fn add_contact(
        &self,
        organisation: &str,
        scope: &str,
        kind: &str,
        address: &str,
        now: i64,
    ) -> Result<String> {
        self.require_organisation(organisation).await?;
        let id = format!("c_{}", &crate::auth::new_secret("")[..16]);
        sqlx::query(
            "INSERT INTO contacts (id, organisation, scope, kind, address, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(organisation)
        .bind(scope)
        .bind(kind)
        .bind(address)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.message().to_ascii_lowercase().contains("unique") => {
                Error::Conflict(format!("{kind} {address} is already a contact of {organisation} for {}", if scope.is_empty() { "the organisation" } else { scope }))
            }
            e => Error::Database(e),
        })?;
        Ok(id)
    }

    /// Remove a contact; whether there was one.
    pub async fn remove_contact(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM contacts WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// The contacts, of one organisation or all.
    pub async fn contacts(&self, organisation: Option<&str>) -> Result<Vec<Contact>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE ($1 IS NULL OR organisation = $1) ORDER BY organisation, scope, kind, address"
        ))
        .bind(organisation)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(contact).collect()
    }

    /// The secret that signs acknowledgement links (made once, kept in the store so every
    /// replica signs alike).
    pub async fn notifier_secret(&self) -> Result<String> {
        sqlx::query(
            "INSERT INTO notifier_state (id, cursor, secret) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(crate::auth::new_secret(""))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT secret FROM notifier_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Start an evaluation: the notifier's row is locked (a write, so SQLite takes its write
    /// lock and PostgreSQL the row's) until [`NotifyTx::commit`].
    pub async fn begin_notify(&self) -> Result<NotifyTx> {
        self.notifier_secret().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE notifier_state SET cursor = cursor WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT cursor FROM notifier_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        Ok(NotifyTx {
            cursor: row.try_get(0)?,
            tx,
        })
    }

    /// Take the next message due for delivery (none when none is due): it is leased to the
    /// caller until `lease_until`, so another replica does not send it meanwhile.
    pub async fn claim_notification(
        &self,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<NotificationRow>> {
        let Some(row) = sqlx::query(
            "SELECT id FROM notifications WHERE delivered_at IS NULL AND failed_at IS NULL \
             AND next_attempt <= $1 AND (lease_until IS NULL OR lease_until < $1) ORDER BY created_at, id LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let id: String = row.try_get(0)?;
        let taken = sqlx::query(
            "UPDATE notifications SET lease_until = $2, attempts = attempts + 1 WHERE id = $1 \
             AND delivered_at IS NULL AND failed_at IS NULL AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(&id)
        .bind(lease_until)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if taken == 0 {
            // Another replica took it first.
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1"
        ))
        .bind(&id)
        .fetch_one(&self.pool)
        .await?;
        notification(&row).map(Some)
    }

    /// Record a delivery attempt's outcome: delivered, to try again at `retry_at`, or given up.
    pub async fn delivery(
        &self,
        id: &str,
        now: i64,
        outcome: std::result::Result<(), (String, Option<i64>)>,
    ) -> Result<()> {
        let q = match &outcome {
            Ok(()) => sqlx::query(
                "UPDATE notifications SET delivered_at = $2, lease_until = NULL, last_error = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(now),
            Err((error, Some(retry_at))) => sqlx::query(
                "UPDATE notifications SET next_attempt = $2, lease_until = NULL, last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(*retry_at)
            .bind(error.as_str()),
            Err((error, None)) => sqlx::query(
                "UPDATE notifications SET failed_at = $2, lease_until = NULL, last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(error.as_str()),
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// Messages, newest first, of one organisation or all, or those that spoke of `domain`;
    /// at most `limit`. Each with what it said of which (target, check, domain, reason).
    pub async fn notifications(
        &self,
        organisation: Option<&str>,
        domain: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(NotificationRow, Vec<(String, String, String, String)>)>> {
        let rows = sqlx::query(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE ($1 IS NULL OR organisation = $1) \
             AND ($2 IS NULL OR id IN (SELECT notification FROM notification_items WHERE domain = $2)) \
             ORDER BY created_at DESC, id LIMIT $3"
        ))
        .bind(organisation)
        .bind(domain)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let n = notification(r)?;
            let items = sqlx::query(
                "SELECT target_key, check_id, domain, reason FROM notification_items WHERE notification = $1 ORDER BY domain, target_key, check_id",
            )
            .bind(&n.id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect::<Result<Vec<_>>>()?;
            out.push((n, items));
        }
        Ok(out)
    }

    /// The alert state of (target, check), if owners were ever told of it.
    pub async fn alert_state(&self, target: &str, check: &str) -> Result<Option<AlertState>> {
        select_state(&self.pool, target, check).await
    }

    /// Acknowledge the failure episode of (target, check) that began at `since`: no
    /// reminders until its status changes. Whether there was such an open episode.
    pub async fn acknowledge(
        &self,
        target: &str,
        check: &str,
        since: i64,
        now: i64,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE alert_states SET acked_at = $4 WHERE target_key = $1 AND check_id = $2 AND since = $3 AND state = 'open'",
        )
        .bind(target)
        .bind(check)
        .bind(since)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }
}

impl NotifyTx {
    /// Events after the cursor, oldest first, at most `limit`.
    pub async fn events(&mut self, limit: i64) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(
            "SELECT id, target_key, check_id, organisation, domain, from_status, to_status, at FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(self.cursor)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    id: r.try_get(0)?,
                    target: r.try_get(1)?,
                    check: r.try_get(2)?,
                    organisation: r.try_get(3)?,
                    domain: r.try_get(4)?,
                    from: r.try_get(5)?,
                    to: r.try_get(6)?,
                    at: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// The state of (target, check).
    pub async fn state(&mut self, target: &str, check: &str) -> Result<Option<AlertState>> {
        select_state(&mut *self.tx, target, check).await
    }

    /// Open, unacknowledged alerts whose reminder is due by `now`.
    pub async fn due(&mut self, now: i64) -> Result<Vec<AlertState>> {
        let rows = sqlx::query(&format!(
            "SELECT {STATE_COLUMNS} FROM alert_states WHERE state = 'open' AND acked_at IS NULL AND next_reminder IS NOT NULL AND next_reminder <= $1 ORDER BY target_key, check_id"
        ))
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(state).collect()
    }

    /// The latest finding of (target, check).
    pub async fn finding(&mut self, target: &str, check: &str) -> Result<Option<Finding>> {
        let row = sqlx::query(
            "SELECT body FROM findings WHERE target_key = $1 AND check_id = $2 ORDER BY variant LIMIT 1",
        )
        .bind(target)
        .bind(check)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| {
            let body: String = r.try_get(0)?;
            serde_json::from_str(&body)
                .map_err(|e| Error::Corrupt(format!("a stored finding: {e}")))
        })
        .transpose()
    }

    /// Every contact, by organisation.
    pub async fn contacts(&mut self) -> Result<HashMap<String, Vec<Contact>>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts ORDER BY organisation, scope, kind, address"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        let mut out: HashMap<String, Vec<Contact>> = HashMap::new();
        for r in &rows {
            let c = contact(r)?;
            out.entry(c.organisation.clone()).or_default().push(c);
        }
        Ok(out)
    }

    /// Write a state.
    pub async fn put_state(&mut self, s: &AlertState) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO alert_states ({STATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (target_key, check_id) DO UPDATE SET organisation = excluded.organisation, domain = excluded.domain, \
             state = excluded.state, since = excluded.since, last_sent = excluded.last_sent, next_reminder = excluded.next_reminder, \
             reminders = excluded.reminders, acked_at = excluded.acked_at"
        ))
        .bind(&s.target)
        .bind(&s.check)
        .bind(&s.organisation)
        .bind(&s.domain)
        .bind(&s.state)
        .bind(s.since)
        .bind(s.last_sent)
        .bind(s.next_reminder)
        .bind(s.reminders)
        .bind(s.acked_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Store a message, due at once.
    pub async fn add_notification(&mut self, n: &NewNotification, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO notifications (id, organisation, kind, address, subject, body, created_at, next_attempt) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&n.id)
        .bind(&n.organisation)
        .bind(&n.kind)
        .bind(&n.address)
        .bind(&n.subject)
        .bind(&n.body)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        for (target, check, domain, reason) in &n.items {
            sqlx::query(
                "INSERT INTO notification_items (notification, target_key, check_id, domain, reason) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&n.id)
            .bind(target)
            .bind(check)
            .bind(domain)
            .bind(reason)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Move the cursor to `cursor` and commit everything written.
    pub async fn commit(mut self, cursor: i64) -> Result<()> {
        sqlx::query("UPDATE notifier_state SET cursor = $1 WHERE id = 1")
            .bind(cursor)
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
