//! Central judgement: every observation is judged with the collector's own policy set (the
//! policies crate the agent uses), from the latest observation of each target of a domain, so
//! a domain's checks see its endpoints. When the policy set changes, every domain is judged
//! again from what is stored. Each judgement stores the domain's scores; organisation and
//! national scores are rolled up from them when asked, and kept until any domain is judged
//! again (on any replica) or for a few seconds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};
use posture_policies::model::{Observation, ObservationSet, Schema};
use posture_policies::score::{self, ScoreContext, Scores, Weights};
use posture_policies::{PolicySet, Standard};

use crate::error::Result;
use crate::store::{Judgement, Store, millis};

/// How long rolled-up scores are reused while no domain is judged again (staleness moves in
/// hours, so a minute is close enough).
const SCORES_KEPT: Duration = Duration::from_secs(60);

/// Domains judged again in one transaction when the policy set changes.
const REJUDGED_TOGETHER: usize = 50;

/// Scores rolled up for one judgement generation, when.
type Cached = ((i64, i64), Instant, Arc<ScoreBoard>);

/// The policy set and how scores are computed.
#[derive(Debug)]
pub struct Judge {
    set: PolicySet,
    weights: BTreeMap<String, Weights>,
    scan_interval: chrono::Duration,
    cache: Mutex<Option<Cached>>,
}

/// Scores with the organisation of each domain.
#[derive(Debug)]
pub struct ScoreBoard {
    /// The scores.
    pub scores: Scores,
    owners: HashMap<String, String>,
}

impl std::ops::Deref for ScoreBoard {
    type Target = Scores;
    fn deref(&self) -> &Scores {
        &self.scores
    }
}

impl ScoreBoard {
    /// The organisation `domain`'s findings count towards.
    pub fn organisation_of(&self, domain: &str) -> String {
        self.owners
            .get(domain)
            .cloned()
            .unwrap_or_else(|| "(unassigned)".into())
    }
}

impl Judge {
    /// Judge with `set`; findings older than three `scan_interval`s are stale.
    pub fn new(set: PolicySet, scan_interval: chrono::Duration) -> Judge {
        let weights = set
            .standards()
            .iter()
            .map(|s| (s.id.clone(), s.weights))
            .collect();
        Judge {
            set,
            weights,
            scan_interval,
            cache: Mutex::new(None),
        }
    }

    /// Findings observed before this moment are stale as of `now`: shown, no longer scored.
    pub fn stale_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.scan_interval * 3
    }

    /// The policy set's digest.
    pub fn digest(&self) -> &str {
        self.set.digest()
    }

    /// The policy files (name, text) the set was made from.
    pub fn sources(&self) -> &[(String, String)] {
        self.set.sources()
    }

    /// The standards.
    pub fn standards(&self) -> &[Standard] {
        self.set.standards()
    }

    /// The check `id` of the policy set, if there is one.
    pub fn check(&self, id: &str) -> Option<&posture_policies::rules::Check> {
        self.set.check(id).ok()
    }

    /// Judge `domain` again from the latest observation of each of its targets and store
    /// the findings (with an event for each status that changed). Returns how many findings.
    pub async fn rejudge(&self, store: &Store, domain: &str, organisation: &str) -> Result<usize> {
        self.rejudge_many(
            store,
            &[(domain.to_owned(), organisation.to_owned())],
            &HashMap::new(),
        )
        .await
    }

    /// Judge each (domain, organisation) again, as `rejudge` does, storing all their findings
    /// in one transaction. `known` holds observations at hand by id (the batch just stored):
    /// those are not read back from the store. Returns how many findings.
    pub async fn rejudge_many(
        &self,
        store: &Store,
        domains: &[(String, String)],
        known: &HashMap<&str, &Observation>,
    ) -> Result<usize> {
        let now = Utc::now();
        let ctx = ScoreContext {
            now,
            scan_interval: self.scan_interval,
        };
        let mut judged = Vec::with_capacity(domains.len());
        for (domain, organisation) in domains {
            let observations = store.latest_observations_with(domain, known).await?;
            let set = ObservationSet {
                schema: Schema,
                organisation: Some(organisation.clone()),
                observations,
            };
            let findings = self.set.evaluate_set(&set, None, None);
            let scores = score::score_domains(&findings, &self.weights, &ctx);
            judged.push((findings, scores));
        }
        let judgements: Vec<Judgement> = domains
            .iter()
            .zip(&judged)
            .map(|((domain, organisation), (findings, scores))| Judgement {
                domain,
                organisation,
                findings,
                scores,
            })
            .collect();
        store.store_judgements(&judgements, millis(now)).await?;
        Ok(judged.iter().map(|(f, _)| f.len()).sum())
    }

    /// Judge every stored domain again (the policy set changed). Returns how many domains.
    pub async fn rejudge_all(&self, store: &Store) -> Result<usize> {
        let owners = store.all_domains().await?;
        let endpoints = store.endpoints(None).await?;
        let domains = store.scored_domains().await?;
        let owned: Vec<(String, String)> = domains
            .iter()
            .map(|domain| {
                // A domain's owner, or else the owner of the endpoint scored under its host.
                let owner = owners
                    .iter()
                    .find(|(d, _)| crate::auth::owns(std::slice::from_ref(d), domain))
                    .map(|(_, o)| o)
                    .or_else(|| endpoints.iter().find(|(h, _, _)| h == domain).map(|e| &e.2))
                    .cloned()
                    .unwrap_or_else(|| "(unassigned)".into());
                (domain.clone(), owner)
            })
            .collect();
        for chunk in owned.chunks(REJUDGED_TOGETHER) {
            self.rejudge_many(store, chunk, &HashMap::new()).await?;
        }
        Ok(domains.len())
    }

    /// The scores of every domain, organisation and standard as of `now`: each domain's as of
    /// its last judgement, left out once that is older than three scan intervals (stale), and
    /// rolled up per organisation and nationally.
    pub async fn scores(&self, store: &Store, now: DateTime<Utc>) -> Result<Arc<ScoreBoard>> {
        let generation = store.judgement_generation().await?;
        if let Some((g, at, board)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && *g == generation
            && at.elapsed() < SCORES_KEPT
        {
            return Ok(board.clone());
        }
        let oldest = millis(now - self.scan_interval * 3);
        let mut organisations = HashMap::new();
        let domains: Vec<_> = store
            .domain_scores()
            .await?
            .into_iter()
            .filter(|(_, judged, _)| *judged >= oldest)
            .map(|(org, _, d)| {
                organisations.insert(d.domain.clone(), org);
                d
            })
            .collect();
        let scores = score::roll_up(domains, |d| {
            organisations
                .get(d)
                .cloned()
                .unwrap_or_else(|| "(unassigned)".into())
        });
        let board = Arc::new(ScoreBoard {
            scores,
            owners: organisations,
        });
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((generation, Instant::now(), board.clone()));
        Ok(board)
    }

    /// Keep today's scores (domain, organisation and national) in the daily snapshots.
    pub async fn snapshot(&self, store: &Store, now: DateTime<Utc>) -> Result<usize> {
        let board = self.scores(store, now).await?;
        let mut rows = Vec::new();
        for d in &board.domains {
            rows.push((
                "domain".to_owned(),
                d.domain.clone(),
                d.standard.clone(),
                d.score,
            ));
        }
        for o in &board.scores.organisations {
            rows.push((
                "organisation".to_owned(),
                o.organisation.clone(),
                o.standard.clone(),
                o.score,
            ));
        }
        for n in &board.national {
            rows.push((
                "national".to_owned(),
                "national".to_owned(),
                n.standard.clone(),
                n.score,
            ));
        }
        store
            .snapshot_scores(&now.format("%Y-%m-%d").to_string(), &rows)
            .await?;
        Ok(rows.len())
    }
}
