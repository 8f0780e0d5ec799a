//! The three kinds of page: national, organisation, domain. Each handler gathers what its page
//! shows into tables and charts; `?csv=TABLE` answers one of those tables as CSV instead.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use posture_policies::model::{Finding, Status};
use serde::Deserialize;

use super::chart::{self, SPARK, WIDE};
use super::table::{Cell, Table};
use super::{PageError, Session, html, session};
use crate::api::AppState;
use crate::auth;
use crate::judge::ScoreBoard;
use crate::store::{FindingFilter, Role};

/// A target's status changes: (check, from, to, at).
type Events = Vec<(String, Option<String>, String, i64)>;

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// A page's filters and export, from its query string.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// Only this standard.
    standard: Option<String>,
    /// Only this severity.
    severity: Option<String>,
    /// Only this status.
    status: Option<String>,
    /// Answer this table as CSV.
    csv: Option<String>,
}

impl Filters {
    /// The filters, each checked against what it may be (a standard of the policy set, a
    /// severity, a status); empty means none.
    fn checked(mut self, state: &AppState) -> Result<Filters, PageError> {
        let empty = |v: &mut Option<String>| {
            if v.as_deref() == Some("") {
                *v = None;
            }
        };
        empty(&mut self.standard);
        empty(&mut self.severity);
        empty(&mut self.status);
        if let Some(s) = &self.standard
            && !state.judge.standards().iter().any(|x| &x.id == s)
        {
            return Err(PageError::BadRequest(format!(
                "standard: no standard {s:?}"
            )));
        }
        if let Some(s) = &self.severity
            && !SEVERITIES.contains(&s.as_str())
        {
            return Err(PageError::BadRequest(format!(
                "severity: {s:?} is not one of {}",
                SEVERITIES.join(", ")
            )));
        }
        if let Some(s) = &self.status
            && !Status::ALL.iter().any(|x| x.as_str() == s)
        {
            return Err(PageError::BadRequest(format!(
                "status: {s:?} is not a status"
            )));
        }
        Ok(self)
    }

    /// The query string of these filters (each value checked, so nothing needs escaping
    /// beyond what the template does).
    fn query(&self) -> String {
        [
            ("standard", &self.standard),
            ("severity", &self.severity),
            ("status", &self.status),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("&")
    }

    fn wants_standard(&self, standard: &str) -> bool {
        self.standard.as_ref().is_none_or(|s| s == standard)
    }

    fn keeps(&self, f: &Finding, standard_checks: Option<&[String]>) -> bool {
        self.severity
            .as_ref()
            .is_none_or(|s| f.severity.as_str() == s)
            && self.status.as_ref().is_none_or(|s| f.status.as_str() == s)
            && self.standard.as_ref().is_none_or(|s| {
                f.standards.contains(s) || standard_checks.is_some_and(|c| c.contains(&f.check))
            })
    }
}

/// What the filter form offers.
pub struct FilterForm {
    /// The standards (id, title).
    pub standards: Vec<(String, String)>,
    /// The severities.
    pub severities: Vec<&'static str>,
    /// The statuses.
    pub statuses: Vec<&'static str>,
    /// Chosen standard, severity and status (empty: all).
    pub standard: String,
    /// Chosen severity.
    pub severity: String,
    /// Chosen status.
    pub status: String,
}

/// A finding with what a domain owner needs to fix it.
pub struct FindingView {
    /// Its anchor on the page.
    pub anchor: String,
    /// The check.
    pub check: String,
    /// Its title.
    pub title: String,
    /// The target, as shown.
    pub target: String,
    /// Status and severity.
    pub status: Cell,
    /// Severity.
    pub severity: Cell,
    /// What was found.
    pub message: String,
    /// The evidence, as indented JSON (empty when none).
    pub evidence: String,
    /// Why it matters (the policy's `why`).
    pub why: String,
    /// The fix, with its server examples (the policy's remediation).
    pub fix: String,
    /// Published sources.
    pub references: Vec<String>,
    /// When it was observed, and whether that is too long ago to be scored.
    pub observed: String,
    /// The check's status changes on this target, newest first.
    pub history: Table,
}

/// A part of a page.
pub enum Block {
    /// A table.
    Table(Table),
    /// A trend chart with its text alternative.
    Chart {
        /// Its heading.
        heading: String,
        /// What it shows, in words.
        text: String,
        /// The SVG.
        svg: String,
    },
    /// The findings, each in full.
    Findings(Vec<FindingView>),
}

#[derive(Template)]
#[template(path = "page.html")]
struct PageView {
    title: String,
    crumbs: Vec<(String, String)>,
    who: String,
    csrf: String,
    intro: String,
    filters: Option<FilterForm>,
    query: String,
    blocks: Vec<Block>,
}

/// A page, or the table `?csv=` names as CSV.
fn answer(page: PageView, csv: Option<&str>, file: &str) -> Result<Response, PageError> {
    let Some(id) = csv else {
        return Ok(html(StatusCode::OK, &page));
    };
    let table = page
        .blocks
        .iter()
        .find_map(|b| match b {
            Block::Table(t) if t.id == id => Some(t),
            _ => None,
        })
        .ok_or_else(|| PageError::BadRequest(format!("csv: this page has no table {id:?}")))?;
    let mut r = table.csv().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let name: String = format!("{file}-{id}.csv")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn form(state: &AppState, f: &Filters, severity: bool, status: bool) -> FilterForm {
    FilterForm {
        standards: state
            .judge
            .standards()
            .iter()
            .map(|s| (s.id.clone(), s.title.clone()))
            .collect(),
        severities: if severity {
            SEVERITIES.to_vec()
        } else {
            Vec::new()
        },
        statuses: if status {
            Status::ALL.iter().map(|s| s.as_str()).collect()
        } else {
            Vec::new()
        },
        standard: f.standard.clone().unwrap_or_default(),
        severity: f.severity.clone().unwrap_or_default(),
        status: f.status.clone().unwrap_or_default(),
    }
}

/// Score snapshots by standard: standard → [(day, score)].
type Trends = HashMap<String, Vec<(NaiveDate, f64)>>;

/// The snapshots of `subject` at `level`, by standard.
async fn trends(state: &AppState, level: &str, subject: &str) -> Result<Trends, PageError> {
    let mut out: HashMap<String, Vec<(NaiveDate, f64)>> = HashMap::new();
    for (day, standard, score) in state.store.score_history(level, subject).await? {
        if let (Ok(d), Some(s)) = (day.parse::<NaiveDate>(), score) {
            out.entry(standard).or_default().push((d, s));
        }
    }
    Ok(out)
}

fn spark(points: Option<&Vec<(NaiveDate, f64)>>, today: NaiveDate) -> Cell {
    let (text, svg) = chart::trend(points.map_or(&[][..], Vec::as_slice), today, SPARK);
    Cell::chart(text, svg)
}

fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn org_link(code: &str) -> String {
    format!("/ui/org/{}", super::percent_encode(code))
}

fn domain_link(name: &str) -> String {
    format!("/ui/domain/{}", super::percent_encode(name))
}

/// The national overview: a national token's home; a viewer is sent to its organisation.
pub async fn national(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let s = session(&state, &headers).await?;
    if let Role::Viewer(own) = &s.role {
        return Ok(Redirect::to(&org_link(own)).into_response());
    }
    let f = f.checked(&state)?;
    let now = Utc::now();
    let today = now.date_naive();
    let board = state.judge.scores(&state.store, now).await?;
    let national_trends = trends(&state, "national", "national").await?;
    let chosen = ranking_standard(&state, &board, &f);
    let standards = national_standards(&state, &board, &f, &national_trends, today);
    let ranking = ranking(&state, &board, &chosen, today).await?;
    let (text, svg) = chart::trend(
        national_trends.get(&chosen).map_or(&[][..], Vec::as_slice),
        today,
        WIDE,
    );
    let failing = failing_checks(&state, &f, None).await?;
    let count = |names: Vec<&String>| names.into_iter().collect::<BTreeSet<_>>().len();
    let page = PageView {
        title: "National overview".into(),
        crumbs: vec![("National".into(), "/ui/".into())],
        who: s.who(),
        csrf: s.csrf.clone(),
        intro: format!(
            "{} organisations, {} domains with a score. Scores are 0 to 100 as standards.md defines them; stale findings are not scored.",
            count(
                board
                    .organisations
                    .iter()
                    .map(|o| &o.organisation)
                    .collect()
            ),
            count(board.domains.iter().map(|d| &d.domain).collect()),
        ),
        filters: Some(form(&state, &f, true, false)),
        query: f.query(),
        blocks: vec![
            Block::Table(standards),
            Block::Chart {
                heading: format!("National {chosen} score over 90 days"),
                text,
                svg,
            },
            Block::Table(ranking),
            Block::Table(failing),
        ],
    };
    answer(page, f.csv.as_deref(), "national")
}

/// The standard organisations are ranked by: the one chosen, or the one most organisations
/// have a score in (the policy set's order breaks ties).
fn ranking_standard(state: &AppState, board: &ScoreBoard, f: &Filters) -> String {
    if let Some(s) = &f.standard {
        return s.clone();
    }
    let scored = |id: &str| {
        board
            .national
            .iter()
            .find(|n| n.standard == id)
            .map_or(0, |n| n.organisations)
    };
    state
        .judge
        .standards()
        .iter()
        .filter(|x| scored(&x.id) > 0)
        .min_by_key(|x| std::cmp::Reverse(scored(&x.id)))
        .map(|x| x.id.clone())
        .unwrap_or_default()
}

/// The national score of each standard, with its trend.
fn national_standards(
    state: &AppState,
    board: &ScoreBoard,
    f: &Filters,
    trends: &Trends,
    today: NaiveDate,
) -> Table {
    let titles: BTreeMap<&str, &str> = state
        .judge
        .standards()
        .iter()
        .map(|x| (x.id.as_str(), x.title.as_str()))
        .collect();
    Table::new(
        "standards",
        "National score by standard (mean of the organisations' scores)",
        vec![
            "Standard",
            "Title",
            "Score",
            "Organisations scored",
            "Trend (90 days)",
        ],
        board
            .national
            .iter()
            .filter(|n| f.standard.as_ref().is_none_or(|s| *s == n.standard))
            .map(|n| {
                vec![
                    Cell::link(n.standard.clone(), format!("/ui/?standard={}", n.standard)),
                    Cell::text(titles.get(n.standard.as_str()).copied().unwrap_or("")),
                    Cell::score(n.score),
                    Cell::text(n.organisations.to_string()),
                    spark(trends.get(&n.standard), today),
                ]
            })
            .collect(),
        "No organisation has a score yet: no agent has sent findings.",
    )
}

/// Organisations ranked by their `standard` score, best first, with the share of their
/// domains with a critical failure and their trend.
async fn ranking(
    state: &AppState,
    board: &ScoreBoard,
    standard: &str,
    today: NaiveDate,
) -> Result<Table, PageError> {
    let mut ranked: Vec<_> = board
        .organisations
        .iter()
        .filter(|o| o.standard == standard)
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .unwrap_or(-1.0)
            .total_cmp(&a.score.unwrap_or(-1.0))
            .then(a.organisation.cmp(&b.organisation))
    });
    let names: HashMap<String, String> = state.store.organisations().await?.into_iter().collect();
    let mut rows = Vec::new();
    for (i, o) in ranked.iter().enumerate() {
        let t = trends(state, "organisation", &o.organisation).await?;
        rows.push(vec![
            Cell::text((i + 1).to_string()),
            Cell::link(o.organisation.clone(), org_link(&o.organisation)),
            Cell::text(names.get(&o.organisation).cloned().unwrap_or_default()),
            Cell::score(o.score),
            Cell::text(format!("{} of {}", o.scored_domains, o.domains)),
            Cell::text(format!("{:.0}%", o.critical_share * 100.0)),
            spark(t.get(standard), today),
        ]);
    }
    Ok(Table::new(
        "organisations",
        format!("Organisations ranked by their {standard} score"),
        vec![
            "Rank",
            "Organisation",
            "Name",
            "Score",
            "Domains scored",
            "Domains with a critical failure",
            "Trend (90 days)",
        ],
        rows,
        "No organisation has a score for this standard.",
    ))
}

/// The checks failing on most targets, of one organisation or all.
async fn failing_checks(
    state: &AppState,
    f: &Filters,
    organisation: Option<&str>,
) -> Result<Table, PageError> {
    let of_standard = standard_checks(state, f);
    let in_standard = |check: &str| {
        of_standard
            .as_ref()
            .is_none_or(|c| c.iter().any(|x| x == check))
    };
    let rows = state
        .store
        .failing_checks(organisation)
        .await?
        .into_iter()
        .filter(|(check, severity, ..)| {
            in_standard(check) && f.severity.as_ref().is_none_or(|s| s == severity)
        })
        .map(|(check, severity, targets, domains, orgs)| {
            let title = state
                .judge
                .check(&check)
                .map(|c| c.title.clone())
                .unwrap_or_default();
            let mut row = vec![
                Cell::text(check),
                Cell::text(title),
                Cell::status(&severity),
                Cell::text(targets.to_string()),
                Cell::text(domains.to_string()),
            ];
            if organisation.is_none() {
                row.push(Cell::text(orgs.to_string()));
            }
            row
        })
        .collect();
    let mut headers = vec!["Check", "Title", "Severity", "Failing targets", "Domains"];
    if organisation.is_none() {
        headers.push("Organisations");
    }
    Ok(Table::new(
        "failing",
        "Checks failing most",
        headers,
        rows,
        "No check fails.",
    ))
}

/// One organisation: its scores, domains, endpoints, what changed this week, what to fix and
/// its agents.
pub async fn organisation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let s = session(&state, &headers).await?;
    if !s.may_read(&code) {
        return Err(forbidden(&s));
    }
    let f = f.checked(&state)?;
    let name = state
        .store
        .organisations()
        .await?
        .into_iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| n)
        .ok_or_else(|| PageError::NotFound(format!("no organisation {code}")))?;
    let now = Utc::now();
    let board = state.judge.scores(&state.store, now).await?;
    let scores = organisation_scores(&state, &board, &code, &f, now.date_naive()).await?;
    let (domains, count) = organisation_domains(&state, &board, &code, &f).await?;
    let page = PageView {
        title: format!("{name} ({code})"),
        crumbs: crumbs(&s, Some(&code)),
        who: s.who(),
        csrf: s.csrf.clone(),
        intro: format!("{count} domains."),
        filters: Some(form(&state, &f, true, true)),
        query: f.query(),
        blocks: vec![
            Block::Table(scores),
            Block::Table(changes(&state, &code, now).await?),
            Block::Table(to_fix(&state, &f, &code).await?),
            Block::Table(domains),
            Block::Table(endpoints(&state, &code, now).await?),
            Block::Table(registered(&state, &code).await?),
            Block::Table(agents(&state, &code).await?),
        ],
    };
    answer(page, f.csv.as_deref(), &code)
}

/// An organisation's score per standard, with its trend.
async fn organisation_scores(
    state: &AppState,
    board: &ScoreBoard,
    code: &str,
    f: &Filters,
    today: NaiveDate,
) -> Result<Table, PageError> {
    let org_trends = trends(state, "organisation", code).await?;
    Ok(Table::new(
        "scores",
        format!("{code}'s score by standard (mean of its domains' scores)"),
        vec![
            "Standard",
            "Score",
            "Domains scored",
            "Domains with a critical failure",
            "Trend (90 days)",
        ],
        board
            .organisations
            .iter()
            .filter(|o| o.organisation == code && f.wants_standard(&o.standard))
            .map(|o| {
                vec![
                    Cell::text(o.standard.clone()),
                    Cell::score(o.score),
                    Cell::text(format!("{} of {}", o.scored_domains, o.domains)),
                    Cell::text(format!("{:.0}%", o.critical_share * 100.0)),
                    spark(org_trends.get(&o.standard), today),
                ]
            })
            .collect(),
        "No score yet: no findings of this organisation have been received.",
    ))
}

/// An organisation's domains (registered, and scored under it) with a score per standard;
/// and how many.
async fn organisation_domains(
    state: &AppState,
    board: &ScoreBoard,
    code: &str,
    f: &Filters,
) -> Result<(Table, usize), PageError> {
    let mut columns: Vec<String> = board
        .organisations
        .iter()
        .filter(|o| o.organisation == code && f.wants_standard(&o.standard))
        .map(|o| o.standard.clone())
        .collect();
    columns.sort();
    let mut per_domain: BTreeMap<String, HashMap<&str, (Option<f64>, usize)>> = BTreeMap::new();
    for d in board
        .domains
        .iter()
        .filter(|d| board.organisation_of(&d.domain) == code)
    {
        per_domain
            .entry(d.domain.clone())
            .or_default()
            .insert(d.standard.as_str(), (d.score, d.critical_failures));
    }
    for d in state.store.domains_of(code).await? {
        per_domain.entry(d).or_default();
    }
    let headers: Vec<String> = std::iter::once("Domain".to_owned())
        .chain(columns.iter().cloned())
        .chain(std::iter::once("Critical failures".to_owned()))
        .collect();
    let rows = per_domain
        .iter()
        .map(|(domain, by)| {
            let mut row = vec![Cell::link(domain.clone(), domain_link(domain))];
            row.extend(
                columns
                    .iter()
                    .map(|c| Cell::score(by.get(c.as_str()).and_then(|x| x.0))),
            );
            let critical = by.values().map(|x| x.1).max().unwrap_or(0);
            row.push(Cell::text(critical.to_string()));
            row
        })
        .collect();
    Ok((
        Table::new(
            "domains",
            "Domains and their scores per standard (– : no score)",
            headers,
            rows,
            "No domains registered.",
        ),
        per_domain.len(),
    ))
}

/// The endpoints an organisation's agents observed: protocols, certificate expiry, freshness.
async fn endpoints(state: &AppState, code: &str, now: DateTime<Utc>) -> Result<Table, PageError> {
    let stale_before = state.judge.stale_before(now).timestamp_millis();
    Ok(Table::new(
        "endpoints",
        "Endpoints observed (latest observation of each)",
        vec![
            "Endpoint",
            "Scored under",
            "Protocols accepted",
            "Certificate expires",
            "Last observed",
        ],
        state
            .store
            .targets(Some(code))
            .await?
            .into_iter()
            .filter(|t| t.key.starts_with("endpoint:"))
            .map(|t| {
                let expires = t.certificate_expires.map_or_else(String::new, |at| {
                    let days = (at - now.timestamp_millis()).div_euclid(86_400_000);
                    format!("{} ({days} days)", when(at))
                });
                let seen = if t.latest_at < stale_before {
                    format!("{} (stale)", when(t.latest_at))
                } else {
                    when(t.latest_at)
                };
                vec![
                    Cell::text(t.display),
                    Cell::link(t.domain.clone(), domain_link(&t.domain)),
                    Cell::text(t.protocols.unwrap_or_default().replace(',', ", ")),
                    Cell::text(expires),
                    Cell::text(seen),
                ]
            })
            .collect(),
        "No endpoint observed yet.",
    ))
}

/// An organisation's agents and what they last said.
async fn agents(state: &AppState, code: &str) -> Result<Table, PageError> {
    Ok(Table::new(
        "agents",
        "Agents and their last heartbeat",
        vec![
            "Agent",
            "Last heartbeat",
            "Version",
            "Last scan",
            "Spooled",
            "Last error",
            "State",
        ],
        state
            .store
            .agents(Some(code))
            .await?
            .into_iter()
            .map(|a| {
                vec![
                    Cell::text(a.name),
                    Cell::text(a.last_seen.map(when).unwrap_or_else(|| "never".into())),
                    Cell::text(a.version.unwrap_or_default()),
                    Cell::text(a.reported.last_scan.unwrap_or_default()),
                    Cell::text(
                        a.reported
                            .spool_depth
                            .map(|d| d.to_string())
                            .unwrap_or_default(),
                    ),
                    Cell::text(a.reported.last_error.unwrap_or_default()),
                    Cell::status(if a.revoked { "revoked" } else { "enrolled" }),
                ]
            })
            .collect(),
        "No agent enrolled.",
    ))
}

/// The endpoints registered to an organisation outside its domains.
async fn registered(state: &AppState, code: &str) -> Result<Table, PageError> {
    Ok(Table::new(
        "registered",
        "Endpoints registered to this organisation outside its domains",
        vec!["Host", "Port"],
        state
            .store
            .endpoints(Some(code))
            .await?
            .into_iter()
            .map(|(h, p, _)| {
                vec![
                    Cell::text(h),
                    Cell::text(if p == 0 { "any".into() } else { p.to_string() }),
                ]
            })
            .collect(),
        "None.",
    ))
}

fn forbidden(s: &Session) -> PageError {
    match &s.role {
        Role::Viewer(own) => PageError::Forbidden(format!(
            "You are logged in as a viewer of {own}; this page is another organisation's."
        )),
        _ => PageError::Forbidden("Not allowed.".into()),
    }
}

fn crumbs(s: &Session, org: Option<&str>) -> Vec<(String, String)> {
    let mut c = Vec::new();
    if !matches!(s.role, Role::Viewer(_)) {
        c.push(("National".into(), "/ui/".into()));
    }
    if let Some(o) = org {
        c.push((o.to_owned(), org_link(o)));
    }
    c
}

/// What changed in the last seven days, regressions first (checks seen for the first time
/// are counted in the caption, not listed).
async fn changes(state: &AppState, code: &str, now: DateTime<Utc>) -> Result<Table, PageError> {
    let week_ago = (now - chrono::Duration::days(7)).timestamp_millis();
    let all = state.store.changes(Some(code), week_ago, 5000).await?;
    let first_seen = all.iter().filter(|c| c.from.is_none()).count();
    let mut rows: Vec<(u8, Vec<Cell>)> = all
        .into_iter()
        .filter_map(|c| {
            let from = c.from?;
            let (rank, kind) = match (from.as_str(), c.to.as_str()) {
                ("pass" | "warn", "fail") => (0, "regression"),
                ("pass", "warn") => (1, "worse"),
                ("fail" | "warn", "pass") | ("fail", "warn") => (2, "fixed"),
                _ => (3, "changed"),
            };
            Some((
                rank,
                vec![
                    Cell::marked(kind, if rank == 0 { "bad" } else { "" }),
                    Cell::link(c.domain.clone(), domain_link(&c.domain)),
                    Cell::text(c.target),
                    Cell::text(c.check),
                    Cell::status(&from),
                    Cell::status(&c.to),
                    Cell::text(when(c.at)),
                ],
            ))
        })
        .collect();
    rows.sort_by_key(|(rank, _)| *rank);
    Ok(Table::new(
        "changes",
        format!(
            "What changed in the last 7 days, regressions first ({first_seen} checks seen for the first time are not listed)"
        ),
        vec!["Change", "Domain", "Target", "Check", "From", "To", "When"],
        rows.into_iter().map(|(_, r)| r).collect(),
        "No check changed status in the last 7 days.",
    ))
}

/// The organisation's findings to fix (failures and warnings unless a status is chosen).
async fn to_fix(state: &AppState, f: &Filters, code: &str) -> Result<Table, PageError> {
    let filter = FindingFilter {
        organisation: Some(code.to_owned()),
        ..FindingFilter::default()
    };
    let standard_checks = standard_checks(state, f);
    let rows = state
        .store
        .findings(&filter)
        .await?
        .into_iter()
        .map(|s| s.finding)
        .filter(|x| {
            f.keeps(x, standard_checks.as_deref())
                && (f.status.is_some() || matches!(x.status, Status::Fail | Status::Warn))
        })
        .map(|x| {
            vec![
                Cell::link(x.domain.clone(), domain_link(&x.domain)),
                Cell::text(x.target.to_string()),
                Cell::text(x.check.clone()),
                Cell::status(x.severity.as_str()),
                Cell::status(x.status.as_str()),
                Cell::text(x.message.clone()),
            ]
        })
        .collect();
    Ok(Table::new(
        "findings",
        "Findings to fix (failures and warnings unless a status is chosen)",
        vec![
            "Domain",
            "Target",
            "Check",
            "Severity",
            "Status",
            "What was found",
        ],
        rows,
        "Nothing to fix.",
    ))
}

fn standard_checks(state: &AppState, f: &Filters) -> Option<Vec<String>> {
    let s = f.standard.as_ref()?;
    state
        .judge
        .standards()
        .iter()
        .find(|x| &x.id == s)
        .map(|x| x.checks.clone())
}

/// One domain (or an endpoint's host it is scored under): its scores and every finding with
/// its evidence, why it matters, the fix and its history.
pub async fn domain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let s = session(&state, &headers).await?;
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let organisation = domain_reader(&state, &s, &name).await?;
    let f = f.checked(&state)?;
    let now = Utc::now();
    let stale_before = state.judge.stale_before(now);
    let all: Vec<Finding> = state
        .store
        .findings(&FindingFilter {
            organisation: organisation.clone(),
            domain: Some(name.clone()),
            ..FindingFilter::default()
        })
        .await?
        .into_iter()
        .map(|x| x.finding)
        .collect();
    let registered = || async {
        Ok::<_, PageError>(
            state
                .store
                .all_domains()
                .await?
                .iter()
                .any(|(d, _)| *d == name),
        )
    };
    if all.is_empty() && organisation.is_none() && !registered().await? {
        return Err(PageError::NotFound(format!(
            "no findings and no registered domain {name}"
        )));
    }
    let board = state.judge.scores(&state.store, now).await?;
    let owner = organisation.unwrap_or_else(|| board.organisation_of(&name));
    let scores = domain_scores(&state, &board, &name, &f, now.date_naive()).await?;
    let (findings, views) = findings(&state, &f, &all, stale_before).await?;
    let sent = notifications(&state, organisation_filter(&s), &name).await?;
    let page = PageView {
        title: name.clone(),
        crumbs: {
            let mut c = crumbs(&s, Some(&owner));
            c.push((name.clone(), domain_link(&name)));
            c
        },
        who: s.who(),
        csrf: s.csrf.clone(),
        intro: format!(
            "{} findings of {} targets; stale findings (observed before {}) are shown but not scored.",
            all.len(),
            all.iter()
                .map(|x| x.target.key())
                .collect::<BTreeSet<_>>()
                .len(),
            stale_before.format("%Y-%m-%d %H:%M UTC")
        ),
        filters: Some(form(&state, &f, true, true)),
        query: f.query(),
        blocks: vec![
            Block::Table(scores),
            Block::Table(findings),
            Block::Table(sent),
            Block::Findings(views),
        ],
    };
    answer(page, f.csv.as_deref(), &name)
}

fn organisation_filter(s: &Session) -> Option<&str> {
    match &s.role {
        Role::Viewer(own) => Some(own),
        _ => None,
    }
}

/// The notifications that spoke of `domain`, newest first, with their delivery.
async fn notifications(
    state: &AppState,
    organisation: Option<&str>,
    domain: &str,
) -> Result<Table, PageError> {
    let rows = state
        .store
        .notifications(organisation, Some(domain), 200)
        .await?
        .into_iter()
        .map(|(n, items)| {
            let delivery = match (n.delivered_at, n.failed_at) {
                (Some(at), _) => format!("delivered {}", when(at)),
                (None, Some(_)) => format!("failed: {}", n.last_error.unwrap_or_default()),
                _ if n.attempts > 0 => format!(
                    "pending (attempt {}: {})",
                    n.attempts,
                    n.last_error.unwrap_or_default()
                ),
                _ => "pending".to_owned(),
            };
            let said: Vec<String> = items
                .iter()
                .filter(|i| i.2 == domain)
                .map(|(_, check, _, reason)| format!("{check} ({reason})"))
                .collect();
            vec![
                Cell::text(when(n.created_at)),
                Cell::text(format!("{} {}", n.kind, n.address)),
                Cell::text(n.subject),
                Cell::text(said.join(", ")),
                Cell::text(delivery),
            ]
        })
        .collect();
    Ok(Table::new(
        "notifications",
        "Alerts sent about this domain",
        vec!["Made", "To", "Subject", "About", "Delivery"],
        rows,
        "No alert has been sent about this domain.",
    ))
}

/// Whose findings of domain `name` the session may read: a viewer its own organisation's,
/// and only of a domain under its domains or a registered endpoint of it (else 403); a
/// national token everyone's (`None`).
async fn domain_reader(
    state: &AppState,
    s: &Session,
    name: &str,
) -> Result<Option<String>, PageError> {
    match &s.role {
        Role::Viewer(own) => {
            let owned = state.store.domains_of(own).await?;
            if !auth::owns(&owned, name) && !state.store.is_endpoint_of(name, own).await? {
                return Err(forbidden(s));
            }
            Ok(Some(own.clone()))
        }
        Role::National | Role::Admin => Ok(None),
    }
}

/// A domain's score per standard, with its trend.
async fn domain_scores(
    state: &AppState,
    board: &ScoreBoard,
    name: &str,
    f: &Filters,
    today: NaiveDate,
) -> Result<Table, PageError> {
    let domain_trends = trends(state, "domain", name).await?;
    Ok(Table::new(
        "scores",
        format!("{name}'s score by standard"),
        vec![
            "Standard",
            "Score",
            "Weight earned of possible",
            "Critical failures",
            "Trend (90 days)",
        ],
        board
            .domains
            .iter()
            .filter(|d| d.domain == name && f.wants_standard(&d.standard))
            .map(|d| {
                vec![
                    Cell::text(d.standard.clone()),
                    Cell::score(d.score),
                    Cell::text(format!("{:.0} of {:.0}", d.earned, d.possible)),
                    Cell::text(d.critical_failures.to_string()),
                    spark(domain_trends.get(&d.standard), today),
                ]
            })
            .collect(),
        "No score: no fresh finding counted.",
    ))
}

/// The findings the filters keep: a table linking to each finding's full view.
async fn findings(
    state: &AppState,
    f: &Filters,
    all: &[Finding],
    stale_before: DateTime<Utc>,
) -> Result<(Table, Vec<FindingView>), PageError> {
    let standard_checks = standard_checks(state, f);
    let mut histories: HashMap<String, Events> = HashMap::new();
    let mut views = Vec::new();
    let mut rows = Vec::new();
    for (i, x) in all
        .iter()
        .filter(|x| f.keeps(x, standard_checks.as_deref()))
        .enumerate()
    {
        let key = x.target.key();
        if !histories.contains_key(&key) {
            histories.insert(key.clone(), state.store.history(&key).await?);
        }
        let anchor = format!("f{}", i + 1);
        let stale = x.observed_at < stale_before;
        rows.push(vec![
            Cell::link(x.check.clone(), format!("#{anchor}")),
            Cell::text(x.target.to_string()),
            Cell::status(x.status.as_str()),
            Cell::status(x.severity.as_str()),
            Cell::text(x.title.clone()),
            Cell::text(if stale { "yes" } else { "no" }),
        ]);
        views.push(view(state, x, anchor, stale, histories.get(&key)));
    }
    let table = Table::new(
        "findings",
        "Findings (latest of each check and target)",
        vec!["Check", "Target", "Status", "Severity", "Title", "Stale"],
        rows,
        "No finding matches.",
    );
    Ok((table, views))
}

fn view(
    state: &AppState,
    x: &Finding,
    anchor: String,
    stale: bool,
    history: Option<&Events>,
) -> FindingView {
    let check = state.judge.check(&x.check);
    let history = Table::new(
        "history",
        format!("History of {} on {}", x.check, x.target),
        vec!["When", "From", "To"],
        history
            .into_iter()
            .flatten()
            .filter(|(c, ..)| *c == x.check)
            .map(|(_, from, to, at)| {
                vec![
                    Cell::text(when(*at)),
                    Cell::text(from.clone().unwrap_or_else(|| "–".into())),
                    Cell::status(to),
                ]
            })
            .collect(),
        "No change recorded.",
    );
    FindingView {
        anchor,
        check: x.check.clone(),
        title: x.title.clone(),
        target: x.target.to_string(),
        status: Cell::status(x.status.as_str()),
        severity: Cell::status(x.severity.as_str()),
        message: x.message.clone(),
        evidence: if x.evidence.is_empty() {
            String::new()
        } else {
            serde_json::to_string_pretty(&x.evidence).unwrap_or_default()
        },
        why: check.map(|c| c.why.trim().to_owned()).unwrap_or_default(),
        fix: x.remediation.clone(),
        references: x.references.clone(),
        observed: format!(
            "{}{}",
            x.observed_at.format("%Y-%m-%d %H:%M UTC"),
            if stale { " (stale: not scored)" } else { "" }
        ),
        history,
    }
}
