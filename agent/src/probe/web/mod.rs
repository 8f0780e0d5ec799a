//! The web probe: a domain's website over `http://` and `https://`, apex and `www`, judged as
//! CISA's pshtt defines its terms. Redirects are followed by hand, one request per connection,
//! every hop recorded.

pub mod parse;

use chrono::{DateTime, Utc};
use posture_policies::model::{
    CookieFacts, HttpEndpoint, RedirectHop, RefusedRedirect, Status, WebFacts,
};

use crate::probe::net::cert::TrustStore;
use crate::probe::net::http::{FetchError, Response, Url, WebLimits, fetch};

use super::net::Resolve;

/// One start URL followed to its end.
#[derive(Debug, Clone)]
struct Walk {
    start: Url,
    hops: Vec<(Url, Response)>,
    last: Option<(Url, Response)>,
    error: Option<FetchError>,
    note: Option<String>,
    /// The code of the note, when the note ended the walk.
    note_code: Option<&'static str>,
    /// A redirect the guard would not follow: its Location and why.
    refused: Option<(String, String)>,
}

impl Walk {
    fn first(&self) -> Option<&Response> {
        self.hops
            .first()
            .map(|(_, r)| r)
            .or(self.last.as_ref().map(|(_, r)| r))
    }

    fn live(&self) -> bool {
        self.first().is_some()
    }

    fn final_url(&self) -> Option<&Url> {
        self.last.as_ref().map(|(u, _)| u)
    }

    fn responses(&self) -> impl Iterator<Item = (&Url, &Response)> {
        self.hops
            .iter()
            .chain(self.last.iter())
            .map(|(u, r)| (u, r))
    }
}

async fn follow(
    start: Url,
    resolver: &impl Resolve,
    trust: &TrustStore,
    limits: &WebLimits,
    now: DateTime<Utc>,
) -> Walk {
    let mut walk = Walk {
        start: start.clone(),
        hops: Vec::new(),
        last: None,
        error: None,
        note: None,
        note_code: None,
        refused: None,
    };
    let mut url = start;
    let mut visited = vec![url.render()];
    // Whether the target itself is internal, which lets its redirects stay internal.
    let mut target_internal = None;
    loop {
        let addr = match resolver.resolve(&url.host, url.port).await {
            Ok(a) => a,
            Err(e) => {
                walk.note = Some(e);
                walk.error = Some(FetchError::Unreachable(limits.connect_timeout));
                return walk;
            }
        };
        let internal = *target_internal.get_or_insert(limits.guard.is_internal(addr.ip()));
        if let Err(reason) = limits.guard.address(internal, addr.ip()) {
            walk.refused = Some((url.render(), format!("{} resolves to {reason}", url.host)));
            walk.note = walk
                .refused
                .as_ref()
                .map(|(l, r)| format!("redirect to {l} refused: {r}"));
            walk.note_code = Some("redirect_refused");
            return walk;
        }
        let response = match fetch(&url, addr, trust, limits, now).await {
            Ok(r) => r,
            Err(e) => {
                walk.error = Some(e);
                return walk;
            }
        };
        let location = (300..400)
            .contains(&response.status)
            .then(|| response.first("location").map(str::to_owned))
            .flatten();
        match location.and_then(|l| url.join(&l)) {
            Some(next) => {
                walk.hops.push((url.clone(), response));
                if let Err(reason) = limits.guard.redirect_host(&walk.start.host, &next.host) {
                    walk.note = Some(format!("redirect to {} refused: {reason}", next.render()));
                    walk.note_code = Some("redirect_refused");
                    walk.refused = Some((next.render(), reason));
                    return walk;
                }
                if walk.hops.len() >= limits.max_hops {
                    walk.note = Some(format!("more than {} redirects", limits.max_hops));
                    walk.note_code = Some("too_many_redirects");
                    return walk;
                }
                if visited.contains(&next.render()) {
                    walk.note = Some(format!("redirect loop back to {}", next.render()));
                    walk.note_code = Some("redirect_loop");
                    return walk;
                }
                visited.push(next.render());
                url = next;
            }
            None => {
                walk.last = Some((url, response));
                return walk;
            }
        }
    }
}

fn endpoint(w: &Walk) -> HttpEndpoint {
    HttpEndpoint {
        url: w.start.render(),
        status: w.last.as_ref().map(|(_, r)| r.status),
        hops: w
            .hops
            .iter()
            .enumerate()
            .map(|(i, (u, r))| {
                let location = r.first("location").unwrap_or_default().to_owned();
                let next = w
                    .hops
                    .get(i + 1)
                    .map(|(n, _)| n)
                    .or(w.final_url())
                    .cloned()
                    .or_else(|| u.join(&location));
                hop(u, r.status, &location, next.as_ref())
            })
            .collect(),
        error: w
            .error
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| w.note.clone()),
        error_code: w
            .error
            .as_ref()
            .map(|e| e.code())
            .or(w.note_code)
            .map(str::to_owned),
        refused_redirect: w
            .refused
            .as_ref()
            .map(|(location, reason)| RefusedRedirect {
                location: location.clone(),
                reason: reason.clone(),
            }),
    }
}

fn hop(u: &Url, status: u16, location: &str, next: Option<&Url>) -> RedirectHop {
    RedirectHop {
        url: u.render(),
        status,
        location: location.to_owned(),
        to_https: next.is_some_and(|n| n.https),
        same_host: next.is_some_and(|n| n.host == u.host),
    }
}

/// What the web probe concluded, or why it could not.
#[derive(Debug, Clone, Default)]
pub struct WebScan {
    /// The facts, when anything could be looked at.
    pub facts: Option<WebFacts>,
    /// `(untestable, why)` when nothing was reachable.
    pub failure: Option<(Status, String)>,
    /// Connections opened.
    pub connections: u32,
    /// HTTPS hosts where posture's HTTP client could not complete a TLS handshake (a server
    /// that speaks only versions or suites it will not), with why: the TLS engine's own
    /// handshakes decide whether HTTPS answers there.
    pub https_unread: Vec<(String, String)>,
    /// HTTPS hosts that completed no HTTP answer for another reason (broken or oversized HTTP,
    /// no answer in time): not a site that works, but their TLS is scanned all the same.
    pub https_broken: Vec<String>,
}

/// The HTTPS answers a site's page facts are read from.
struct Page<'a> {
    /// The walk that leads to the canonical page.
    canonical: Option<&'a Walk>,
    /// The walk whose first HTTPS answer's HSTS header a browser keeps.
    hsts_source: Option<&'a Walk>,
    /// Every HTTPS walk, for the cookies set over HTTPS.
    https: &'a [&'a Walk],
}

impl Page<'_> {
    /// Fill HSTS, security headers, banners, cookies and security.txt into `facts`; the
    /// connections the security.txt request opened.
    async fn read_into(
        &self,
        facts: &mut WebFacts,
        resolver: &impl Resolve,
        trust: &TrustStore,
        limits: &WebLimits,
        now: DateTime<Utc>,
    ) -> u32 {
        facts.hsts = self.hsts_source.and_then(|w| w.first()).and_then(|r| {
            let mut hsts = parse::hsts(r.first("strict-transport-security")?);
            // RFC 6797 §8.1: a browser notes the policy only from a connection without
            // certificate errors; from any other it is ignored.
            if r.tls_valid != Some(true) {
                hsts.valid = false;
                hsts.error = Some(
                    "sent over a connection whose certificate does not validate, so browsers ignore it (RFC 6797 §8.1)"
                        .into(),
                );
            }
            Some(hsts)
        });
        let canonical = self.canonical;
        let final_response = canonical
            .and_then(|w| w.last.as_ref().map(|(_, r)| r))
            .or(canonical.and_then(|w| w.first()));
        if let Some(r) = final_response {
            let h = |n: &str| r.first(n).map(str::to_owned);
            let csp = h("content-security-policy");
            facts.headers.csp_frame_ancestors = csp
                .as_deref()
                .is_some_and(|c| c.to_ascii_lowercase().contains("frame-ancestors"));
            facts.headers.content_security_policy = csp;
            facts.headers.x_content_type_options =
                h("x-content-type-options").map(|v| v.trim().to_ascii_lowercase());
            facts.headers.x_frame_options = h("x-frame-options");
            facts.headers.referrer_policy = h("referrer-policy");
            facts.headers.permissions_policy = h("permissions-policy");
            facts.banners = parse::banners(&r.headers);
        }
        let mut cookies: Vec<CookieFacts> = Vec::new();
        for w in self.https {
            for (u, r) in w.responses() {
                if !u.https {
                    continue;
                }
                for c in r.all("set-cookie").filter_map(parse::cookie) {
                    if !cookies.iter().any(|x| x.name == c.name) {
                        cookies.push(c);
                    }
                }
            }
        }
        facts.cookies = cookies;
        let mut connections = 0;
        if let Some(origin) = canonical.map(|w| w.final_url().unwrap_or(&w.start).clone()) {
            let txt = Url {
                path: "/.well-known/security.txt".into(),
                https: true,
                port: if origin.https { origin.port } else { 443 },
                ..origin
            };
            let walk = follow(txt, resolver, trust, limits, now).await;
            connections += u32::try_from(walk.hops.len() + 1).unwrap_or(0);
            facts.security_txt = Some(match &walk.last {
                Some((_, r)) => parse::security_txt(r.status, r.first("content-type"), &r.body),
                None => parse::security_txt(0, None, &[]),
            });
        }
        connections
    }
}

/// The page facts of one HTTPS origin that is not a domain's website on 443 (`scan
/// https://HOST:PORT`: internal web applications live on such ports): its headers, cookies,
/// HSTS and security.txt, and whether it answers over HTTPS with a valid certificate.
pub async fn probe_origin(
    url: &Url,
    resolver: &impl Resolve,
    trust: &TrustStore,
    limits: &WebLimits,
    now: DateTime<Utc>,
) -> WebScan {
    let walk = follow(url.clone(), resolver, trust, limits, now).await;
    let mut connections =
        u32::try_from(walk.hops.len() + usize::from(walk.last.is_some() || walk.error.is_some()))
            .unwrap_or(0);
    let live = walk.live();
    let mut facts = WebFacts {
        endpoints: vec![endpoint(&walk)],
        responds_https: live,
        valid_https: walk.first().and_then(|r| r.tls_valid) == Some(true),
        downgrades: walk.hops.first().is_some_and(|(u, r)| {
            u.join(r.first("location").unwrap_or_default())
                .is_some_and(|n| !n.https)
        }),
        canonical_url: live.then(|| walk.final_url().unwrap_or(&walk.start).render()),
        registrable_domain: crate::target::registrable(&url.host),
        ..WebFacts::default()
    };
    let live_walk = live.then_some(&walk);
    let page = Page {
        canonical: live_walk,
        hsts_source: live_walk,
        https: &[&walk],
    };
    connections += page
        .read_into(&mut facts, resolver, trust, limits, now)
        .await;
    // RFC 6797 §8.1.1: a browser never notes an IP-address host as an HSTS host.
    if url.host.parse::<std::net::IpAddr>().is_ok()
        && let Some(hsts) = facts.hsts.as_mut()
    {
        hsts.valid = false;
        hsts.error = Some(
            "sent by a host reached by its IP address, which browsers never note (RFC 6797 §8.1.1)"
                .into(),
        );
    }
    let (https_unread, https_broken) = unread(&[&walk]);
    WebScan {
        facts: Some(facts),
        failure: None,
        connections,
        https_unread,
        https_broken,
    }
}

/// The HTTPS walks that read no page although something accepted the connection: those that
/// failed in the TLS handshake (with why), and those that failed after it.
fn unread(walks: &[&Walk]) -> (Vec<(String, String)>, Vec<String>) {
    let mut tls = Vec::new();
    let mut broken = Vec::new();
    for w in walks.iter().filter(|w| !w.live()) {
        match &w.error {
            Some(e @ FetchError::Tls(_)) => tls.push((w.start.host.clone(), e.to_string())),
            Some(FetchError::Protocol(_) | FetchError::Timeout(_)) => {
                broken.push(w.start.host.clone());
            }
            _ => {}
        }
    }
    (tls, broken)
}

/// Probe `domain`'s website.
pub async fn probe(
    domain: &str,
    resolver: &impl Resolve,
    trust: &TrustStore,
    limits: &WebLimits,
    now: DateTime<Utc>,
) -> WebScan {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let www = format!("www.{domain}");
    let url = |https: bool, host: &str| Url {
        https,
        host: host.to_owned(),
        port: if https { 443 } else { 80 },
        path: "/".into(),
    };
    let (http_apex, https_apex, http_www, https_www) = tokio::join!(
        follow(url(false, &domain), resolver, trust, limits, now),
        follow(url(true, &domain), resolver, trust, limits, now),
        follow(url(false, &www), resolver, trust, limits, now),
        follow(url(true, &www), resolver, trust, limits, now),
    );
    let walks = [&http_apex, &https_apex, &http_www, &https_www];
    let mut connections: u32 = walks
        .iter()
        .map(|w| {
            u32::try_from(w.hops.len() + usize::from(w.last.is_some() || w.error.is_some()))
                .unwrap_or(0)
        })
        .sum();
    if walks.iter().all(|w| {
        matches!(
            w.error,
            Some(FetchError::Unreachable(_) | FetchError::Timeout(_))
        ) && !w.live()
    }) {
        return WebScan {
            facts: None,
            failure: Some((
                Status::Untestable,
                format!("no answer on port 80 or 443 for {domain} or {www}"),
            )),
            connections,
            https_unread: Vec::new(),
            https_broken: Vec::new(),
        };
    }

    let responds_https = https_apex.live() || https_www.live();
    // The canonical site: the apex unless it sends visitors to www (pshtt's "canonical URL").
    let canonical = if https_apex.live() && https_apex.final_url().is_none_or(|u| u.host != www) {
        Some(&https_apex)
    } else if https_www.live() {
        Some(&https_www)
    } else if https_apex.live() {
        Some(&https_apex)
    } else {
        None
    };
    let valid_https = canonical.and_then(|w| w.first()).and_then(|r| r.tls_valid) == Some(true);
    let downgrades = [&https_apex, &https_www].iter().any(|w| {
        w.hops.first().is_some_and(|(u, r)| {
            u.join(r.first("location").unwrap_or_default())
                .is_some_and(|n| !n.https)
        })
    });
    let live_http: Vec<&Walk> = [&http_apex, &http_www]
        .into_iter()
        .filter(|w| w.live())
        .collect();
    let http_down = [&http_apex, &http_www]
        .iter()
        .all(|w| matches!(w.error, Some(FetchError::Refused)));
    let strictly_enforces_https = if !live_http.is_empty() {
        Some(live_http.iter().all(|w| {
            w.hops.first().is_some_and(|(u, r)| {
                u.join(r.first("location").unwrap_or_default())
                    .is_some_and(|n| n.https && n.host == u.host)
            })
        }))
    } else if http_down {
        Some(true)
    } else {
        None
    };

    // HSTS as the browser sees it: the first STS header of the canonical host's HTTPS answer;
    // one sent over plain HTTP is ignored (RFC 6797 §8.1).
    let hsts_source = if https_apex.live() {
        Some(&https_apex)
    } else {
        canonical
    };
    let mut facts = WebFacts {
        endpoints: walks.iter().map(|w| endpoint(w)).collect(),
        responds_https,
        valid_https,
        downgrades,
        strictly_enforces_https,
        canonical_url: canonical.map(|w| w.final_url().unwrap_or(&w.start).render()),
        registrable_domain: crate::target::registrable(&domain),
        ..WebFacts::default()
    };
    let page = Page {
        canonical,
        hsts_source,
        https: &[&https_apex, &https_www],
    };
    connections += page
        .read_into(&mut facts, resolver, trust, limits, now)
        .await;
    let (https_unread, https_broken) = unread(&[&https_apex, &https_www]);
    WebScan {
        facts: Some(facts),
        failure: None,
        connections,
        https_unread,
        https_broken,
    }
}
