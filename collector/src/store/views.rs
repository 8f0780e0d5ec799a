//! What the pages and `/metrics` read of the store beyond the API's lists: status changes of an
//! organisation, failing checks counted, the observed targets and their freshness.

use sqlx::Row;

use super::Store;
use crate::error::Result;

/// A status change of a target's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The target's store key.
    pub target: String,
    /// The check.
    pub check: String,
    /// The scoring domain.
    pub domain: String,
    /// The status before (none: first seen).
    pub from: Option<String>,
    /// The status after.
    pub to: String,
    /// When it was recorded, Unix milliseconds.
    pub at: i64,
}

/// An observed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    /// Its store key.
    pub key: String,
    /// The organisation that wrote it.
    pub organisation: String,
    /// The domain it is scored under.
    pub domain: String,
    /// As shown (`https://host:443`).
    pub display: String,
    /// When its latest observation was made, Unix milliseconds.
    pub latest_at: i64,
    /// Its leaf certificate's expiry, Unix milliseconds.
    pub certificate_expires: Option<i64>,
    /// The protocol versions it accepted, comma-separated.
    pub protocols: Option<String>,
}

impl Store {
    /// Status changes since `since` (Unix ms), of one organisation or all, newest first, at
    /// most `limit`: (target key, check, scoring domain, from, to, at).
    pub async fn changes(
        &self,
        organisation: Option<&str>,
        since: i64,
        limit: i64,
    ) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT target_key, check_id, domain, from_status, to_status, at FROM events \
             WHERE at >= $1 AND ($2 IS NULL OR organisation = $2) ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(since)
        .bind(organisation)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Change {
                    target: r.try_get(0)?,
                    check: r.try_get(1)?,
                    domain: r.try_get(2)?,
                    from: r.try_get(3)?,
                    to: r.try_get(4)?,
                    at: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Failing latest findings counted per check and severity, of one organisation or all,
    /// most first: (check, severity, targets, domains, organisations).
    pub async fn failing_checks(
        &self,
        organisation: Option<&str>,
    ) -> Result<Vec<(String, String, i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT check_id, severity, COUNT(DISTINCT target_key), COUNT(DISTINCT domain), COUNT(DISTINCT organisation) \
             FROM findings WHERE status = 'fail' AND ($1 IS NULL OR organisation = $1) \
             GROUP BY check_id, severity ORDER BY 3 DESC, 1",
        )
        .bind(organisation)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ))
            })
            .collect()
    }

    /// The observed targets, of one organisation or all, by key.
    pub async fn targets(&self, organisation: Option<&str>) -> Result<Vec<TargetRow>> {
        let rows = sqlx::query(
            "SELECT key, organisation, scoring_domain, display, latest_at, certificate_expires, protocols \
             FROM targets WHERE ($1 IS NULL OR organisation = $1) ORDER BY key",
        )
        .bind(organisation)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let protocols: Option<String> = r.try_get(6)?;
                Ok(TargetRow {
                    key: r.try_get(0)?,
                    organisation: r.try_get(1)?,
                    domain: r.try_get(2)?,
                    display: r.try_get(3)?,
                    latest_at: r.try_get(4)?,
                    certificate_expires: r.try_get(5)?,
                    protocols: protocols.filter(|p| !p.is_empty()),
                })
            })
            .collect()
    }

    /// Targets whose latest observation is older than `stale_before` (Unix ms), and all
    /// targets, per organisation: (organisation, stale, all).
    pub async fn target_freshness(&self, stale_before: i64) -> Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT organisation, SUM(CASE WHEN latest_at < $1 THEN 1 ELSE 0 END), COUNT(*) \
             FROM targets GROUP BY organisation ORDER BY organisation",
        )
        .bind(stale_before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Targets failing each critical check, per organisation: (organisation, check, targets).
    pub async fn failing_critical(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT organisation, check_id, COUNT(DISTINCT target_key) FROM findings \
             WHERE status = 'fail' AND severity = 'critical' GROUP BY organisation, check_id \
             ORDER BY organisation, check_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}
