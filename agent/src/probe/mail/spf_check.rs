//! SPF with DNS: find the record, parse it, and walk `include`s and `redirect`s counting the
//! DNS-querying terms as RFC 7208 §4.6.4 defines them (each include, a, mx, ptr, exists and
//! redirect costs one; each `mx` may name at most 10 hosts), void lookups, and loops.

use posture_policies::model::{SpfFacts, SyntaxError};

use super::spf::{self, Mechanism, Term};
use crate::probe::dns::{Answer, Dns, DnsFailure};

/// Walking stops here whatever happens, to stay gentle with hostile zones.
const HARD_STOP: u32 = 40;

struct Walk {
    lookups: u32,
    terms: Vec<String>,
    void: u32,
    loop_detected: bool,
    mx_over_limit: bool,
    error: Option<SyntaxError>,
    stack: Vec<String>,
    /// The `all` of the last record a redirect led to (`Some(None)`: it had none).
    redirect_all: Option<Option<spf::Qualifier>>,
}

/// What the SPF check gathered, and what it could not.
#[derive(Debug, Clone, Default)]
pub struct SpfCheck {
    /// The facts gathered (all of them, up to a failure).
    pub facts: SpfFacts,
    /// The domain's own TXT lookup failed: nothing is known of its record.
    pub record_failure: Option<DnsFailure>,
    /// A lookup while following its terms failed (an include's or redirect's record, an `a`
    /// or `mx` name): the record itself stands, its lookup count does not.
    pub walk_failure: Option<DnsFailure>,
}

impl SpfCheck {
    /// The facts, or the first lookup that failed.
    pub fn into_facts(self) -> Result<SpfFacts, DnsFailure> {
        match self.record_failure.or(self.walk_failure) {
            Some(e) => Err(e),
            None => Ok(self.facts),
        }
    }
}

/// The SPF facts of `domain`.
pub async fn check(domain: &str, dns: &Dns) -> SpfCheck {
    let mut out = SpfCheck::default();
    let records = match dns.txt_matching(domain, spf::is_spf).await {
        Ok(r) => r,
        Err(e) => {
            out.record_failure = Some(e);
            return out;
        }
    };
    out.facts.records = records.clone();
    let [record] = records.as_slice() else {
        return out;
    };
    let parsed = match spf::parse(record) {
        Ok(p) => p,
        Err(e) => {
            out.facts.error = Some(SyntaxError {
                message: e.message,
                position: u32::try_from(e.position).unwrap_or(u32::MAX),
            });
            return out;
        }
    };
    out.facts.all = parsed.all().map(|q| q.symbol().to_string());
    out.facts.uses_ptr = parsed.uses_ptr();
    let mut walk = Walk {
        lookups: 0,
        terms: Vec::new(),
        void: 0,
        loop_detected: false,
        mx_over_limit: false,
        error: None,
        stack: vec![domain.to_ascii_lowercase()],
        redirect_all: None,
    };
    if let Err(e) = walk_record(&parsed, domain, dns, &mut walk).await {
        out.walk_failure = Some(e);
    }
    let facts = &mut out.facts;
    facts.lookups = walk.lookups;
    facts.lookup_terms = walk.terms;
    facts.void_lookups = walk.void;
    facts.loop_detected = walk.loop_detected;
    facts.mx_over_limit = walk.mx_over_limit;
    facts.error = walk.error;
    if let Some(all) = walk.redirect_all {
        facts.all = all.map(|q| q.symbol().to_string());
    }
    out
}

/// Whether a domain-spec needs macro expansion (then it is counted but not followed: the
/// sender's address is not known when checking a domain's policy).
fn has_macro(d: &str) -> bool {
    d.contains('%')
}

/// The label a DNS-querying term is listed under, and the domain whose record it follows
/// (include and redirect), or None for terms that cost no lookup (RFC 7208 §4.6.4).
fn lookup_term(record: &spf::SpfRecord, term: &Term) -> Option<(String, Option<String>)> {
    let optional = |name: &str, d: &Option<String>| match d {
        Some(d) => format!("{name}:{d}"),
        None => name.to_owned(),
    };
    match term {
        Term::Directive(_, m) if m.queries_dns() => match m {
            Mechanism::Include(d) => Some((format!("include:{d}"), Some(d.clone()))),
            Mechanism::A { domain: d, .. } => Some((optional("a", d), None)),
            Mechanism::Mx { domain: d, .. } => Some((optional("mx", d), None)),
            Mechanism::Ptr(d) => Some((optional("ptr", d), None)),
            Mechanism::Exists(d) => Some((format!("exists:{d}"), None)),
            _ => None,
        },
        // §6.1: a redirect in a record with an all is ignored: not followed, not counted.
        Term::Redirect(d) if record.all().is_none() => {
            Some((format!("redirect={d}"), Some(d.clone())))
        }
        _ => None,
    }
}

/// Resolves what an a, mx or exists term names, counting void answers (§4.6.4) and MX sets
/// over ten names; names with macros are not resolved.
async fn resolve_term(
    term: &Term,
    domain: &str,
    dns: &Dns,
    walk: &mut Walk,
) -> Result<(), DnsFailure> {
    match term {
        Term::Directive(_, Mechanism::A { domain: d, .. }) => {
            let name = d.clone().unwrap_or_else(|| domain.to_owned());
            if !has_macro(&name) && dns.addresses(&name).await?.is_void() {
                walk.void += 1;
            }
        }
        Term::Directive(_, Mechanism::Mx { domain: d, .. }) => {
            let name = d.clone().unwrap_or_else(|| domain.to_owned());
            if !has_macro(&name) {
                let mx = dns.mx(&name).await?;
                if mx.is_void() {
                    walk.void += 1;
                }
                if mx.records().len() > 10 {
                    walk.mx_over_limit = true;
                }
            }
        }
        Term::Directive(_, Mechanism::Exists(d)) if !has_macro(d) => {
            walk.void += u32::from(dns.addresses(d).await?.is_void());
        }
        _ => {}
    }
    Ok(())
}

fn walk_record<'a>(
    record: &'a spf::SpfRecord,
    domain: &'a str,
    dns: &'a Dns,
    walk: &'a mut Walk,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), DnsFailure>> + Send + 'a>> {
    Box::pin(async move {
        for term in &record.terms {
            if walk.lookups >= HARD_STOP || walk.loop_detected {
                return Ok(());
            }
            let Some((label, target)) = lookup_term(record, term) else {
                continue;
            };
            walk.lookups += 1;
            walk.terms.push(if domain == walk.stack[0] {
                label.clone()
            } else {
                format!("{domain}: {label}")
            });
            resolve_term(term, domain, dns, walk).await?;
            let Some(target) = target.filter(|t| !has_macro(t)) else {
                continue;
            };
            let key = target.trim_end_matches('.').to_ascii_lowercase();
            if walk.stack.contains(&key) {
                walk.loop_detected = true;
                return Ok(());
            }
            let answer = dns.txt(&target).await?;
            if answer.is_void() {
                walk.void += 1;
            }
            let found: Vec<String> = match answer {
                Answer::Records(r) => r.into_iter().filter(|t| spf::is_spf(t)).collect(),
                _ => Vec::new(),
            };
            let [inner] = found.as_slice() else {
                // §5.2 and §6.1: an include or redirect without exactly one SPF record is a permerror.
                walk.error.get_or_insert(SyntaxError {
                    message: format!(
                        "{label}: {target} has {} SPF records (needs exactly one)",
                        found.len()
                    ),
                    position: 0,
                });
                continue;
            };
            match spf::parse(inner) {
                Ok(parsed) => {
                    // §6.1: after a redirect, the target's record decides the result, so its
                    // all is the effective one (a redirect it makes in turn decides again).
                    if matches!(term, Term::Redirect(_)) {
                        walk.redirect_all = Some(parsed.all());
                    }
                    walk.stack.push(key);
                    walk_record(&parsed, &target, dns, walk).await?;
                    walk.stack.pop();
                }
                Err(e) => {
                    walk.error.get_or_insert(SyntaxError {
                        message: format!("in {target}'s record: {}", e.message),
                        position: u32::try_from(e.position).unwrap_or(u32::MAX),
                    });
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(record: &str) -> Vec<(String, Option<String>)> {
        let r = spf::parse(record).unwrap();
        r.terms.iter().filter_map(|t| lookup_term(&r, t)).collect()
    }

    #[test]
    fn lookup_terms_are_labelled_as_written_and_only_include_and_redirect_are_followed() {
        assert_eq!(
            labels(
                "v=spf1 ip4:192.0.2.1 a mx:m.example ptr exists:e.example include:i.example redirect=r.example"
            ),
            vec![
                ("a".to_owned(), None),
                ("mx:m.example".to_owned(), None),
                ("ptr".to_owned(), None),
                ("exists:e.example".to_owned(), None),
                ("include:i.example".to_owned(), Some("i.example".to_owned())),
                (
                    "redirect=r.example".to_owned(),
                    Some("r.example".to_owned())
                ),
            ]
        );
        // §6.1: with an all, the redirect is neither counted nor followed.
        assert_eq!(
            labels("v=spf1 a:h.example redirect=r.example -all"),
            vec![("a:h.example".to_owned(), None)]
        );
    }
}
