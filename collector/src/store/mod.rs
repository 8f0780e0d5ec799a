//! The collector's store: SQLite (one file, WAL) by default, PostgreSQL for a national
//! deployment with several collector replicas on one database. One implementation over sqlx's
//! `Any` driver with portable SQL (`$1` parameters, `ON CONFLICT`), and one migration list per
//! backend. Nothing lives only in one process's memory: idempotency is a primary key, and a
//! finding is replaced only by one observed later.

mod migrate;
pub mod notify;
mod views;

pub use views::{Change, TargetRow};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use posture_policies::model::{Finding, Observation};
use posture_policies::score::DomainScore;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::error::{Error, Result};

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The store: a pool of connections to one database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// An enrolled agent, as its key identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The agent's id.
    pub id: String,
    /// The organisation it writes for.
    pub organisation: String,
    /// Its name, as it enrolled.
    pub name: String,
    /// When it was last heard from (Unix ms).
    pub last_seen: Option<i64>,
    /// The version it last reported.
    pub version: Option<String>,
    /// Whether its key was revoked.
    pub revoked: bool,
    /// What it last said of itself: when its last round of scans finished (RFC 3339),
    /// observations waiting in its spool, its last error.
    pub reported: Reported,
}

/// What an agent says of itself in its heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reported {
    /// When its last round of scans finished (RFC 3339).
    pub last_scan: Option<String>,
    /// Observations waiting in its spool.
    pub spool_depth: Option<i64>,
    /// Its last error.
    pub last_error: Option<String>,
}

/// What a token lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Read one organisation's data.
    Viewer(String),
    /// Read everything.
    National,
    /// Read everything and administer.
    Admin,
}

/// The outcome of storing a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Observations stored now.
    pub accepted: usize,
    /// Observations already stored (a replayed batch, or ids seen before).
    pub duplicates: usize,
    /// The scoring domains whose latest observations changed, to judge again.
    pub domains: BTreeSet<String>,
    /// The ids of the observations stored now.
    pub inserted: BTreeSet<String>,
}

/// A latest finding, as stored.
#[derive(Debug, Clone)]
pub struct StoredFinding {
    /// The organisation of the finding's domain.
    pub organisation: String,
    /// The finding.
    pub finding: Finding,
}

/// Filters of the findings list.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Only this organisation's.
    pub organisation: Option<String>,
    /// Only this check's.
    pub check: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this severity.
    pub severity: Option<String>,
    /// Only findings of this domain.
    pub domain: Option<String>,
}

/// Unix milliseconds of a time.
pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).map_err(Error::Io)?;
    e.finish().map_err(Error::Io)
}

/// A stored observation body (gzip'd JSON).
fn decode_observation(body: &[u8]) -> Result<Observation> {
    serde_json::from_slice(&gunzip(body)?)
        .map_err(|e| Error::Corrupt(format!("a stored observation: {e}")))
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(Error::Io)?;
    Ok(out)
}

/// What `/metrics` counts of a target's latest observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSummary {
    /// The organisation that wrote it.
    pub organisation: String,
    /// The target, as shown.
    pub target: String,
    /// Its leaf certificate's expiry, Unix milliseconds.
    pub certificate_expires: Option<i64>,
    /// The protocol versions it accepted (`TLSv1.2`, ...).
    pub protocols: Vec<String>,
}

/// `host` or `host:port` (`[v6]:port`), as the command line takes it.
pub fn endpoint_name(host: &str, port: u16) -> String {
    match (port, host.contains(':')) {
        (0, _) => host.to_owned(),
        (_, true) => format!("[{host}]:{port}"),
        (_, false) => format!("{host}:{port}"),
    }
}

mod tls_summary {
    use posture_policies::model::{Observation, ProbeOutcome};

    /// The leaf certificate's expiry, Unix milliseconds.
    pub(super) fn certificate_expires(o: &Observation) -> Option<i64> {
        let leaf = o.tls.as_ref()?.certificate.as_ref()?.chain.first()?;
        Some(super::millis(leaf.not_after))
    }

    /// The accepted protocol versions, comma-separated.
    pub(super) fn protocols(o: &Observation) -> Option<String> {
        let tls = o.tls.as_ref()?;
        Some(
            tls.protocols
                .iter()
                .filter(|p| p.result == ProbeOutcome::Accepted)
                .map(|p| p.version.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
    }
}

/// A check of a target that passed (or warned) and now fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regression {
    /// The target's store key.
    pub target: String,
    /// The check.
    pub check: String,
    /// The organisation.
    pub organisation: String,
    /// The scoring domain.
    pub domain: String,
    /// The status before: `pass` or `warn`.
    pub from: String,
    /// When the failure was recorded, Unix milliseconds.
    pub at: i64,
    /// The observation that showed it.
    pub observation: String,
}

/// A finding's place in the store: (target key, check, variant).
type FindingKey = (String, String, String);

/// One domain's judgement, to be stored.
#[derive(Debug, Clone, Copy)]
pub struct Judgement<'a> {
    /// The scoring domain.
    pub domain: &'a str,
    /// The organisation it belongs to.
    pub organisation: &'a str,
    /// Its findings, from the latest observation of each of its targets.
    pub findings: &'a [Finding],
    /// Its scores per standard.
    pub scores: &'a [DomainScore],
}

impl Store {
    /// Connect to `url` (`sqlite://FILE`, created if missing, or `postgres://...`) and bring
    /// its schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(file) = url.strip_prefix("sqlite://") {
            (Backend::Sqlite, format!("sqlite://{file}?mode=rwc"))
        } else {
            (Backend::Postgres, url.to_owned())
        };
        let sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            // A database that cannot be reached is said (503) within this, well inside a
            // request's time-out.
            .acquire_timeout(std::time::Duration::from_secs(8))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // 64 MiB of page cache a connection: judging re-reads a domain's rows.
                        sqlx::Executor::execute(conn, "PRAGMA cache_size = -65536").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL: readers do not block the writer; the setting stays with the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        let store = Store { pool, backend };
        migrate::run(&store.pool, backend).await?;
        Ok(store)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool's state: connections open and idle.
    pub fn pool_state(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Add an organisation.
    pub async fn add_organisation(&self, code: &str, name: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO organisations (code, name, created_at) VALUES ($1, $2, $3)")
            .bind(code)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict(e, || format!("organisation {code} exists already")))?;
        Ok(())
    }

    /// Every organisation: code and name.
    pub async fn organisations(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT code, name FROM organisations ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Register `domain` (and so its subdomains) to `organisation`.
    pub async fn add_domain(&self, domain: &str, organisation: &str) -> Result<()> {
        self.require_organisation(organisation).await?;
        sqlx::query("INSERT INTO domains (name, organisation) VALUES ($1, $2)")
            .bind(domain)
            .bind(organisation)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict(e, || format!("{domain} is registered already")))?;
        Ok(())
    }

    /// Remove `domain`'s registration, its targets and their latest findings (history stays).
    pub async fn remove_domain(&self, domain: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM domains WHERE name = $1")
            .bind(domain)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let under = format!("%.{domain}");
        sqlx::query("DELETE FROM findings WHERE domain = $1 OR domain LIKE $2")
            .bind(domain)
            .bind(&under)
            .execute(&mut *tx)
            .await?;
        for table in ["domain_scores", "judge_locks"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE domain = $1 OR domain LIKE $2"
            ))
            .bind(domain)
            .bind(&under)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM targets WHERE scoring_domain = $1 OR scoring_domain LIKE $2")
            .bind(domain)
            .bind(&under)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed > 0)
    }

    /// The domains registered to `organisation`.
    pub async fn domains_of(&self, organisation: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM domains WHERE organisation = $1 ORDER BY name")
            .bind(organisation)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Every registered domain with its organisation.
    pub async fn all_domains(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT name, organisation FROM domains ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Register an endpoint (`port` 0: any port of `host`) to `organisation`: its agents may
    /// write observations of it though it is in none of the organisation's domains.
    pub async fn add_endpoint(&self, host: &str, port: u16, organisation: &str) -> Result<()> {
        self.require_organisation(organisation).await?;
        sqlx::query("INSERT INTO endpoints (host, port, organisation) VALUES ($1, $2, $3)")
            .bind(host)
            .bind(i64::from(port))
            .bind(organisation)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                conflict(e, || {
                    format!("{} is registered already", endpoint_name(host, port))
                })
            })?;
        Ok(())
    }

    /// Remove an endpoint's registration, and the latest findings and scores of the targets
    /// scored under its host (history stays).
    pub async fn remove_endpoint(&self, host: &str, port: u16) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM endpoints WHERE host = $1 AND port = $2")
            .bind(host)
            .bind(i64::from(port))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for (table, column) in [
            ("findings", "domain"),
            ("domain_scores", "domain"),
            ("judge_locks", "domain"),
            ("targets", "scoring_domain"),
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
                .bind(host)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed > 0)
    }

    /// Registered endpoints, of one organisation or all: (host, port, organisation).
    pub async fn endpoints(
        &self,
        organisation: Option<&str>,
    ) -> Result<Vec<(String, u16, String)>> {
        let rows = sqlx::query(
            "SELECT host, port, organisation FROM endpoints WHERE ($1 IS NULL OR organisation = $1) ORDER BY host, port",
        )
        .bind(organisation)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let port: i64 = r.try_get(1)?;
                Ok((
                    r.try_get(0)?,
                    u16::try_from(port).unwrap_or(0),
                    r.try_get(2)?,
                ))
            })
            .collect()
    }

    /// Each target's TLS summary of its latest observation, for `/metrics`: (organisation,
    /// target, leaf certificate expiry in Unix milliseconds, accepted protocol names).
    pub async fn tls_summaries(&self) -> Result<Vec<TlsSummary>> {
        let rows = sqlx::query(
            "SELECT organisation, display, certificate_expires, protocols FROM targets WHERE certificate_expires IS NOT NULL OR protocols IS NOT NULL ORDER BY key",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let protocols: Option<String> = r.try_get(3)?;
                Ok(TlsSummary {
                    organisation: r.try_get(0)?,
                    target: r.try_get(1)?,
                    certificate_expires: r.try_get(2)?,
                    protocols: protocols
                        .map(|p| {
                            p.split(',')
                                .filter(|x| !x.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn require_organisation(&self, code: &str) -> Result<()> {
        let found = sqlx::query("SELECT code FROM organisations WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("no organisation {code}"))),
        }
    }

    /// Store the hash of a new enrolment secret for `organisation`.
    pub async fn add_enrol_secret(&self, hash: &str, organisation: &str, now: i64) -> Result<()> {
        self.require_organisation(organisation).await?;
        sqlx::query(
            "INSERT INTO enrol_secrets (hash, organisation, created_at) VALUES ($1, $2, $3)",
        )
        .bind(hash)
        .bind(organisation)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revoke the enrolment secret with this hash.
    pub async fn revoke_enrol_secret(&self, hash: &str, now: i64) -> Result<bool> {
        self.revoke("enrol_secrets", "hash", hash, now).await
    }

    /// Mark the live row of `table` whose `column` is `value` revoked; whether there was one.
    async fn revoke(&self, table: &str, column: &str, value: &str, now: i64) -> Result<bool> {
        let n = sqlx::query(&format!(
            "UPDATE {table} SET revoked_at = $1 WHERE {column} = $2 AND revoked_at IS NULL"
        ))
        .bind(now)
        .bind(value)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Enrol an agent with a live secret's hash: its organisation, or `None` for an unknown
    /// or revoked secret.
    pub async fn enrol(
        &self,
        secret_hash: &str,
        agent: &str,
        name: &str,
        key_hash: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let Some(row) = sqlx::query(
            "SELECT organisation FROM enrol_secrets WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let organisation: String = row.try_get(0)?;
        sqlx::query(
            "INSERT INTO agents (id, organisation, name, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(agent)
        .bind(&organisation)
        .bind(name)
        .bind(key_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(Some(organisation))
    }

    /// The agent whose key has this hash.
    pub async fn agent_by_key(&self, key_hash: &str) -> Result<Option<Agent>> {
        let row = sqlx::query(
            "SELECT id, organisation, name, last_seen, version, revoked_at, last_scan, spool_depth, last_error FROM agents WHERE key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| agent_of(&r)).transpose()
    }

    /// Every agent, or `organisation`'s.
    pub async fn agents(&self, organisation: Option<&str>) -> Result<Vec<Agent>> {
        let rows = sqlx::query(
            "SELECT id, organisation, name, last_seen, version, revoked_at, last_scan, spool_depth, last_error FROM agents WHERE ($1 = '' OR organisation = $1) ORDER BY organisation, name",
        )
        .bind(organisation.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(agent_of).collect()
    }

    /// Revoke an agent's key.
    pub async fn revoke_agent(&self, id: &str, now: i64) -> Result<bool> {
        self.revoke("agents", "id", id, now).await
    }

    /// Note that `agent` was heard from now, running `version`.
    pub async fn heartbeat(&self, agent: &str, version: Option<&str>, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE agents SET last_seen = $1, version = COALESCE($2, version) WHERE id = $3",
        )
        .bind(now)
        .bind(version)
        .bind(agent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keep what `agent` said of itself in its heartbeat.
    pub async fn report(&self, agent: &str, reported: &Reported) -> Result<()> {
        sqlx::query(
            "UPDATE agents SET last_scan = $1, spool_depth = $2, last_error = $3 WHERE id = $4",
        )
        .bind(reported.last_scan.as_deref())
        .bind(reported.spool_depth)
        .bind(reported.last_error.as_deref())
        .bind(agent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Store a token's hash with its role.
    pub async fn add_token(&self, hash: &str, role: &Role, now: i64) -> Result<()> {
        let (name, organisation) = match role {
            Role::Viewer(o) => {
                self.require_organisation(o).await?;
                ("viewer", Some(o.as_str()))
            }
            Role::National => ("national", None),
            Role::Admin => ("admin", None),
        };
        sqlx::query(
            "INSERT INTO tokens (hash, role, organisation, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(name)
        .bind(organisation)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revoke the token with this hash.
    pub async fn revoke_token(&self, hash: &str, now: i64) -> Result<bool> {
        self.revoke("tokens", "hash", hash, now).await
    }

    /// The role of a live token with this hash.
    pub async fn token(&self, hash: &str) -> Result<Option<Role>> {
        let row = sqlx::query(
            "SELECT role, organisation FROM tokens WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get(0)?;
        let organisation: Option<String> = row.try_get(1)?;
        Ok(match (role.as_str(), organisation) {
            ("viewer", Some(o)) => Some(Role::Viewer(o)),
            ("national", _) => Some(Role::National),
            ("admin", _) => Some(Role::Admin),
            _ => None,
        })
    }

    /// Store a batch of `agent`'s observations for `organisation`, whole or not at all. A batch
    /// whose idempotency key was seen before from the same agent changes nothing and counts
    /// every observation as a duplicate; an observation whose id is already stored counts as
    /// one. The latest observation of each target moves only forwards in time.
    pub async fn store_batch(
        &self,
        agent: &str,
        organisation: &str,
        idempotency_key: &str,
        observations: &[Observation],
        now: i64,
    ) -> Result<Stored> {
        let mut tx = self.pool.begin().await?;
        let first = sqlx::query(
            "INSERT INTO batches (agent, idempotency_key, received_at, observations) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(agent)
        .bind(idempotency_key)
        .bind(now)
        .bind(observations.len() as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if first == 0 {
            tx.rollback().await?;
            return Ok(Stored {
                duplicates: observations.len(),
                ..Stored::default()
            });
        }
        let mut rows = Vec::new();
        for o in observations {
            let id = o
                .scan
                .id
                .clone()
                .ok_or_else(|| Error::BadInput("an observation has no scan.id".into()))?;
            let body = gzip(&serde_json::to_vec(o).map_err(|e| Error::BadInput(e.to_string()))?)?;
            rows.push(vec![
                Value::Text(id),
                Value::Text(organisation.to_owned()),
                Value::Text(o.target.key()),
                Value::Text(o.target.scoring_domain().to_ascii_lowercase()),
                Value::Text(agent.to_owned()),
                Value::Int(millis(o.scan.finished)),
                Value::Int(now),
                Value::Bytes(body),
            ]);
        }
        // Each observation once: the ids that were new come back.
        let inserted: BTreeSet<String> = insert_many(
            self.backend,
            &mut tx,
            "INSERT INTO observations (id, organisation, target_key, scoring_domain, agent, finished_at, received_at, body) VALUES",
            " ON CONFLICT DO NOTHING RETURNING id",
            &rows,
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
        let mut stored = Stored {
            accepted: inserted.len(),
            duplicates: observations.len() - inserted.len(),
            ..Stored::default()
        };
        stored.inserted.clone_from(&inserted);
        // The newest new observation of each target becomes its latest, unless a newer one
        // is there already.
        let mut newest: BTreeMap<String, &Observation> = BTreeMap::new();
        for o in observations
            .iter()
            .filter(|o| o.scan.id.as_ref().is_some_and(|id| inserted.contains(id)))
        {
            let key = o.target.key();
            if newest
                .get(&key)
                .is_none_or(|n| n.scan.finished <= o.scan.finished)
            {
                newest.insert(key, o);
            }
        }
        let targets: Vec<Vec<Value>> = newest
            .into_iter()
            .map(|(key, o)| {
                vec![
                    Value::Text(key),
                    Value::Text(organisation.to_owned()),
                    Value::Text(o.target.scoring_domain().to_ascii_lowercase()),
                    Value::Text(o.target.to_string()),
                    Value::Text(o.scan.id.clone().unwrap_or_default()),
                    Value::Int(millis(o.scan.finished)),
                    Value::MaybeInt(tls_summary::certificate_expires(o)),
                    Value::Maybe(tls_summary::protocols(o)),
                ]
            })
            .collect();
        for r in insert_many(
            self.backend,
            &mut tx,
            "INSERT INTO targets (key, organisation, scoring_domain, display, latest_observation, latest_at, certificate_expires, protocols) VALUES",
            " ON CONFLICT (key) DO UPDATE SET organisation = excluded.organisation, scoring_domain = excluded.scoring_domain, display = excluded.display, latest_observation = excluded.latest_observation, latest_at = excluded.latest_at, certificate_expires = excluded.certificate_expires, protocols = excluded.protocols \
             WHERE targets.latest_at <= excluded.latest_at RETURNING scoring_domain",
            &targets,
        )
        .await?
        {
            stored.domains.insert(r.try_get(0)?);
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// The latest observation of every target scored under `domain`.
    pub async fn latest_observations(&self, domain: &str) -> Result<Vec<Observation>> {
        let rows = sqlx::query(
            "SELECT o.body FROM targets t JOIN observations o ON o.id = t.latest_observation WHERE t.scoring_domain = $1 ORDER BY t.key",
        )
        .bind(domain)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| decode_observation(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// The latest observation of every target scored under `domain`, taking those in `known`
    /// (by id) as they are and reading only the others.
    pub async fn latest_observations_with(
        &self,
        domain: &str,
        known: &std::collections::HashMap<&str, &Observation>,
    ) -> Result<Vec<Observation>> {
        if known.is_empty() {
            return self.latest_observations(domain).await;
        }
        let rows = sqlx::query(
            "SELECT latest_observation FROM targets WHERE scoring_domain = $1 ORDER BY key",
        )
        .bind(domain)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get(0)?;
            if let Some(o) = known.get(id.as_str()) {
                out.push((*o).clone());
                continue;
            }
            let row = sqlx::query("SELECT body FROM observations WHERE id = $1")
                .bind(&id)
                .fetch_one(&self.pool)
                .await?;
            out.push(decode_observation(&row.try_get::<Vec<u8>, _>(0)?)?);
        }
        Ok(out)
    }

    /// Every scoring domain with a target.
    pub async fn scored_domains(&self) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT DISTINCT scoring_domain FROM targets ORDER BY scoring_domain")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Replace the latest findings of each judged domain's targets with its findings (judged
    /// from their latest observations), recording an event for each (target, check) whose
    /// status changed, all in one transaction. Returns the number of events.
    pub async fn store_judgements(&self, judgements: &[Judgement<'_>], now: i64) -> Result<usize> {
        // Domains are locked in one order, so two replicas judging overlapping sets cannot
        // wait for each other.
        let mut order: Vec<&Judgement> = judgements.iter().collect();
        order.sort_by(|a, b| a.domain.cmp(b.domain));
        // Each finding's key and body, made before the transaction: SQLite has one writer,
        // and the time it holds the lock is everyone's.
        let prepared = order
            .iter()
            .map(|j| {
                j.findings
                    .iter()
                    .map(|f| {
                        let key = (f.target.key(), f.check.clone(), f.standards.join(","));
                        serde_json::to_string(f)
                            .map(|body| (key, body))
                            .map_err(|e| Error::BadInput(e.to_string()))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let mut tx = self.pool.begin().await?;
        let mut events = 0;
        for (j, prepared) in order.into_iter().zip(prepared) {
            events += self.store_judgement(&mut tx, j, prepared, now).await?;
        }
        tx.commit().await?;
        Ok(events)
    }

    async fn store_judgement(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        judgement: &Judgement<'_>,
        prepared: Vec<(FindingKey, String)>,
        now: i64,
    ) -> Result<usize> {
        let Judgement {
            domain,
            organisation,
            findings,
            scores,
        } = *judgement;
        // Take the domain's lock before reading: a judgement running elsewhere (another
        // replica) finishes first, and its findings are what this one compares with.
        sqlx::query(
            "INSERT INTO judge_locks (domain, generation) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        )
        .bind(domain)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE judge_locks SET generation = generation + 1 WHERE domain = $1")
            .bind(domain)
            .execute(&mut **tx)
            .await?;
        let rows = sqlx::query(
            "SELECT target_key, check_id, variant, status, observed_at FROM findings WHERE domain = $1",
        )
        .bind(domain)
        .fetch_all(&mut **tx)
        .await?;
        let mut before: BTreeMap<FindingKey, (String, i64)> = BTreeMap::new();
        for r in &rows {
            before.insert(
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?),
                (r.try_get(3)?, r.try_get(4)?),
            );
        }
        // The rows to write, each (target, check, variant) once; then written many rows to a
        // statement.
        let mut rows: BTreeMap<FindingKey, Vec<Value>> = BTreeMap::new();
        let mut changes: Vec<Vec<Value>> = Vec::new();
        for (f, (key, body)) in findings.iter().zip(prepared) {
            let status = f.status.to_string();
            let observed = millis(f.observed_at);
            let previous = before.get(&key);
            // A finding from an older observation never replaces a newer one.
            if previous.is_some_and(|(_, at)| *at > observed) || rows.contains_key(&key) {
                continue;
            }
            let observation = f.observation.clone().unwrap_or_default();
            if previous.is_none_or(|(s, _)| *s != status) {
                changes.push(vec![
                    Value::Text(key.0.clone()),
                    Value::Text(key.1.clone()),
                    Value::Text(key.2.clone()),
                    Value::Text(organisation.to_owned()),
                    Value::Text(domain.to_owned()),
                    Value::Maybe(previous.map(|(s, _)| s.clone())),
                    Value::Text(status.clone()),
                    Value::Int(now),
                    Value::Text(observation.clone()),
                ]);
            }
            let row = vec![
                Value::Text(key.0.clone()),
                Value::Text(key.1.clone()),
                Value::Text(key.2.clone()),
                Value::Text(organisation.to_owned()),
                Value::Text(domain.to_owned()),
                Value::Text(status),
                Value::Text(f.severity.to_string()),
                Value::Int(observed),
                Value::Text(observation),
                Value::Text(f.policy_digest.clone().unwrap_or_default()),
                Value::Text(body),
            ];
            rows.insert(key, row);
        }
        let rows: Vec<Vec<Value>> = rows.into_values().collect();
        insert_many(
            self.backend,
            tx,
            "INSERT INTO findings (target_key, check_id, variant, organisation, domain, status, severity, observed_at, observation, policy_digest, body) VALUES",
            " ON CONFLICT (target_key, check_id, variant) DO UPDATE SET organisation = excluded.organisation, domain = excluded.domain, status = excluded.status, severity = excluded.severity, observed_at = excluded.observed_at, observation = excluded.observation, policy_digest = excluded.policy_digest, body = excluded.body",
            &rows,
        )
        .await?;
        let events = changes.len();
        insert_many(
            self.backend,
            tx,
            "INSERT INTO events (target_key, check_id, variant, organisation, domain, from_status, to_status, at, observation) VALUES",
            "",
            &changes,
        )
        .await?;
        sqlx::query("DELETE FROM domain_scores WHERE domain = $1")
            .bind(domain)
            .execute(&mut **tx)
            .await?;
        let mut score_rows = Vec::new();
        for score in scores {
            score_rows.push(vec![
                Value::Text(domain.to_owned()),
                Value::Text(score.standard.clone()),
                Value::Text(organisation.to_owned()),
                Value::Int(now),
                Value::Text(
                    serde_json::to_string(score).map_err(|e| Error::BadInput(e.to_string()))?,
                ),
            ]);
        }
        insert_many(
            self.backend,
            tx,
            "INSERT INTO domain_scores (domain, standard, organisation, judged_at, body) VALUES",
            "",
            &score_rows,
        )
        .await?;
        Ok(events)
    }

    /// Every domain's scores as of its last judgement: organisation, when, the score.
    pub async fn domain_scores(&self) -> Result<Vec<(String, i64, DomainScore)>> {
        let rows = sqlx::query(
            "SELECT organisation, judged_at, body FROM domain_scores ORDER BY domain, standard",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get(2)?;
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    serde_json::from_str(&body)
                        .map_err(|e| Error::Corrupt(format!("a stored score: {e}")))?,
                ))
            })
            .collect()
    }

    /// A value that changes whenever any domain is judged or removed (on any replica): scores
    /// computed for one value stay right until it changes.
    pub async fn judgement_generation(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(generation), 0) AS BIGINT), COUNT(*) FROM judge_locks",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Latest findings counted by organisation, status and severity.
    pub async fn finding_counts(&self) -> Result<Vec<(String, String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT organisation, status, severity, COUNT(*) FROM findings GROUP BY organisation, status, severity ORDER BY organisation, status, severity",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Domains with a failing critical check, counted per organisation.
    pub async fn critical_domains(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT organisation, COUNT(DISTINCT domain) FROM findings WHERE status = 'fail' AND severity = 'critical' GROUP BY organisation ORDER BY organisation",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The latest findings, filtered, ordered by domain, target and check.
    pub async fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>> {
        let rows = sqlx::query(
            "SELECT organisation, body FROM findings WHERE ($1 = '' OR organisation = $1) AND ($2 = '' OR check_id = $2) AND ($3 = '' OR status = $3) AND ($4 = '' OR severity = $4) AND ($5 = '' OR domain = $5) ORDER BY domain, target_key, check_id, variant",
        )
        .bind(filter.organisation.as_deref().unwrap_or(""))
        .bind(filter.check.as_deref().unwrap_or(""))
        .bind(filter.status.as_deref().unwrap_or(""))
        .bind(filter.severity.as_deref().unwrap_or(""))
        .bind(filter.domain.as_deref().unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get(1)?;
                Ok(StoredFinding {
                    organisation: r.try_get(0)?,
                    finding: serde_json::from_str(&body)
                        .map_err(|e| Error::Corrupt(format!("a stored finding: {e}")))?,
                })
            })
            .collect()
    }

    /// The status changes of a target's checks, newest first: (check, from, to, at).
    pub async fn history(
        &self,
        target_key: &str,
    ) -> Result<Vec<(String, Option<String>, String, i64)>> {
        let rows = sqlx::query(
            "SELECT check_id, from_status, to_status, at FROM events WHERE target_key = $1 ORDER BY id DESC",
        )
        .bind(target_key)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Regressions since `since` (Unix ms), newest first: each time a check of a target went
    /// from pass (or warn) to fail, of one organisation or all.
    pub async fn regressions(
        &self,
        organisation: Option<&str>,
        since: i64,
    ) -> Result<Vec<Regression>> {
        let rows = sqlx::query(
            "SELECT target_key, check_id, organisation, domain, from_status, at, observation FROM events \
             WHERE to_status = 'fail' AND from_status IN ('pass', 'warn') AND at >= $1 AND ($2 IS NULL OR organisation = $2) \
             ORDER BY at DESC, id DESC",
        )
        .bind(since)
        .bind(organisation)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Regression {
                    target: r.try_get(0)?,
                    check: r.try_get(1)?,
                    organisation: r.try_get(2)?,
                    domain: r.try_get(3)?,
                    from: r.try_get(4)?,
                    at: r.try_get(5)?,
                    observation: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// Whether `host` is a registered endpoint of `organisation`.
    pub async fn is_endpoint_of(&self, host: &str, organisation: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM endpoints WHERE host = $1 AND organisation = $2")
                .bind(host)
                .bind(organisation)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Remove raw observations received before `before` (Unix ms), except each target's
    /// latest, which judgement reads. Findings, events and score snapshots stay. Returns how
    /// many were removed.
    pub async fn prune(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM observations WHERE received_at < $1 AND id NOT IN (SELECT latest_observation FROM targets)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Keep `day`'s scores (`YYYY-MM-DD`): (level, subject, standard, score); a second
    /// snapshot of the same day replaces the first.
    pub async fn snapshot_scores(
        &self,
        day: &str,
        scores: &[(String, String, String, Option<f64>)],
    ) -> Result<()> {
        let rows: Vec<Vec<Value>> = scores
            .iter()
            .map(|(level, subject, standard, score)| {
                vec![
                    Value::Text(day.to_owned()),
                    Value::Text(level.clone()),
                    Value::Text(subject.clone()),
                    Value::Text(standard.clone()),
                    Value::Float(*score),
                ]
            })
            .collect();
        let mut tx = self.pool.begin().await?;
        insert_many(
            self.backend,
            &mut tx,
            "INSERT INTO score_snapshots (day, level, subject, standard, score) VALUES",
            " ON CONFLICT (day, level, subject, standard) DO UPDATE SET score = excluded.score",
            &rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The snapshots of `subject` at `level`: (day, standard, score), oldest first.
    pub async fn score_history(
        &self,
        level: &str,
        subject: &str,
    ) -> Result<Vec<(String, String, Option<f64>)>> {
        let rows = sqlx::query(
            "SELECT day, standard, score FROM score_snapshots WHERE level = $1 AND subject = $2 ORDER BY day, standard",
        )
        .bind(level)
        .bind(subject)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// The digest of the policy set the stored findings were judged with.
    pub async fn policy_digest(&self) -> Result<Option<String>> {
        let row = sqlx::query("SELECT digest FROM policy_state WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Record the digest of the policy set the stored findings are judged with.
    pub async fn set_policy_digest(&self, digest: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO policy_state (id, digest) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET digest = excluded.digest",
        )
        .bind(digest)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many observations and events are stored (for tests and metrics).
    pub async fn counts(&self) -> Result<(i64, i64)> {
        let o: i64 = sqlx::query("SELECT COUNT(*) FROM observations")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let e: i64 = sqlx::query("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok((o, e))
    }
}

/// A value bound to a statement.
enum Value {
    Text(String),
    Maybe(Option<String>),
    Int(i64),
    MaybeInt(Option<i64>),
    Bytes(Vec<u8>),
    Float(Option<f64>),
}

/// Most parameters in one statement (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_PARAMETERS: usize = 4000;

/// `head (...), (...) tail` for `rows`, many rows to a statement, parameters in order;
/// what the statements return (with a `RETURNING` tail).
async fn insert_many(
    backend: Backend,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    head: &str,
    tail: &str,
    rows: &[Vec<Value>],
) -> Result<Vec<AnyRow>> {
    let mut returned = Vec::new();
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(returned);
    };
    for chunk in rows.chunks((MAX_PARAMETERS / width).max(1)) {
        let mut sql = String::from(head);
        let mut n = 0;
        for (i, _) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { " (" } else { ", (" });
            for c in 0..width {
                n += 1;
                if c > 0 {
                    sql.push_str(", ");
                }
                // SQLite binds `?` by position; sqlx looks each `$N` up by name, which
                // costs more the more parameters a statement has.
                match backend {
                    Backend::Sqlite => sql.push('?'),
                    Backend::Postgres => sql.push_str(&format!("${n}")),
                }
            }
            sql.push(')');
        }
        sql.push_str(tail);
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for v in row {
                q = match v {
                    Value::Text(t) => q.bind(t.as_str()),
                    Value::Maybe(t) => q.bind(t.as_deref()),
                    Value::Int(i) => q.bind(*i),
                    Value::MaybeInt(i) => q.bind(*i),
                    Value::Bytes(b) => q.bind(b.as_slice()),
                    Value::Float(f) => q.bind(*f),
                };
            }
        }
        returned.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(returned)
}

fn agent_of(r: &AnyRow) -> Result<Agent> {
    let revoked: Option<i64> = r.try_get(5)?;
    Ok(Agent {
        id: r.try_get(0)?,
        organisation: r.try_get(1)?,
        name: r.try_get(2)?,
        last_seen: r.try_get(3)?,
        version: r.try_get(4)?,
        revoked: revoked.is_some(),
        reported: Reported {
            last_scan: r.try_get(6)?,
            spool_depth: r.try_get(7)?,
            last_error: r.try_get(8)?,
        },
    })
}

/// A unique-key violation as a conflict the caller can name.
fn conflict(e: sqlx::Error, what: impl FnOnce() -> String) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::Conflict(what()),
        _ => Error::Database(e),
    }
}
