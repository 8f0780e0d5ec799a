//! Web checks against real HTTP and HTTPS servers on loopback: each WEB-* check failed by one
//! site and passed by another, and hostile sites that must end in a finding within budget.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use posture_agent::probe::net::cert::TrustStore;
use posture_agent::probe::net::http::WebLimits;
use posture_agent::probe::tls::conn::Limits;
use posture_agent::probe::tls::scan::TlsOptions;
use posture_agent::runner::{RunOptions, scan_domains};
use posture_agent::target::ConnectTo;
use posture_lab::pki::{LeafSpec, Pki};
use posture_lab::servers::{Running, free_port};
use posture_lab::web::{Handler, Reply, Seen, serve, trickle_http};
use posture_policies::model::{Finding, Observation, Status};

const D: &str = "weblab.test";
const WWW: &str = "www.weblab.test";

fn h(f: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Option<Handler> {
    Some(Arc::new(f))
}

struct Site {
    _servers: Vec<Running>,
    rules: Vec<ConnectTo>,
    pki: Pki,
    /// The domain's nameserver (no mail records: these sites send and receive no mail).
    dns: Running,
}

const ZONE: &str = "$ORIGIN weblab.test.\n@ 300 IN SOA ns.weblab.test. hostmaster.weblab.test. 1 3600 600 86400 300\n@ 300 IN NS ns.weblab.test.\nns 300 IN A 127.0.0.1\n";

/// Four optional servers: http apex, https apex, http www, https www. Missing ones refuse.
async fn site(
    http_apex: Option<Handler>,
    https_apex: Option<Handler>,
    http_www: Option<Handler>,
    https_www: Option<Handler>,
) -> Site {
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::valid(&[D, WWW]));
    let mut servers = Vec::new();
    let mut rules = Vec::new();
    for (host, port, https, handler) in [
        (D, 80, false, http_apex),
        (D, 443, true, https_apex),
        (WWW, 80, false, http_www),
        (WWW, 443, true, https_www),
    ] {
        let target_port = match handler {
            Some(handler) => {
                let s = serve(https.then_some(&leaf), handler).await;
                let p = s.addr.port();
                servers.push(s);
                p
            }
            None => free_port(),
        };
        rules.push(ConnectTo::parse(&format!("{host}:{port}:127.0.0.1:{target_port}")).unwrap());
    }
    Site {
        _servers: servers,
        rules,
        pki,
        dns: posture_lab::dns::serve(&[ZONE]).await,
    }
}

fn options(site: &Site, request_timeout: Duration) -> RunOptions {
    RunOptions {
        tls: TlsOptions {
            limits: Limits {
                connect_timeout: Duration::from_secs(2),
                read_timeout: Duration::from_secs(2),
                target_budget: Duration::from_secs(20),
                ..Limits::default()
            },
            trust: TrustStore::default()
                .with_der(&site.pki.root_der())
                .unwrap(),
            intrusive: false,
        },
        connect_to: site.rules.clone(),
        dns: Some(
            posture_agent::probe::dns::Dns::with_nameservers(
                &[site.dns.addr],
                Duration::from_secs(2),
            )
            .unwrap(),
        ),
        web: WebLimits {
            connect_timeout: Duration::from_secs(2),
            request_timeout,
            ..WebLimits::default()
        },
        ..RunOptions::default()
    }
}

struct Judged {
    observations: Vec<Observation>,
    findings: Vec<Finding>,
}

impl Judged {
    fn status(&self, check: &str) -> Status {
        self.findings
            .iter()
            .find(|f| {
                f.check == check && matches!(f.target, posture_policies::model::Target::Domain(_))
            })
            .map(|f| f.status)
            .unwrap_or_else(|| panic!("no {check} finding; web: {:?}", self.observations[0].web))
    }
    fn message(&self, check: &str) -> String {
        self.findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.message.clone())
            .unwrap_or_default()
    }
}

async fn judge(site: &Site) -> Judged {
    judge_with(site, Duration::from_secs(3)).await
}

async fn judge_with(site: &Site, request_timeout: Duration) -> Judged {
    let observations = scan_domains(&[D.to_owned()], &options(site, request_timeout)).await;
    let findings = posture_lab::scan::judge_observations(observations.clone());
    Judged {
        observations,
        findings,
    }
}

const GOOD_TXT: &str = "Contact: mailto:security@weblab.test\nExpires: 2099-01-01T00:00:00Z\n";

fn good_https(s: &Seen) -> Reply {
    if s.path == "/.well-known/security.txt" {
        return Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: Bytes::from_static(GOOD_TXT.as_bytes()),
        };
    }
    Reply::well_run("<h1>ok</h1>").header("server", "nginx")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_run_site_passes_every_web_check() {
    let s = site(
        h(|_| Reply::redirect(301, &format!("https://{D}/"))),
        h(good_https),
        h(|_| Reply::redirect(301, &format!("https://{WWW}/"))),
        h(|_| Reply::redirect(301, &format!("https://{D}/"))),
    )
    .await;
    let j = judge(&s).await;
    for check in [
        "WEB-HTTPS",
        "WEB-REDIRECT",
        "WEB-HSTS",
        "WEB-HSTS-SUBDOMAINS",
        "WEB-HSTS-PRELOAD",
        "WEB-HEADERS",
        "WEB-COOKIES",
        "WEB-SECURITYTXT",
        "WEB-BANNER",
    ] {
        assert_eq!(
            j.status(check),
            Status::Pass,
            "{check}: {}",
            j.message(check)
        );
    }
    let web = j.observations[0].web.as_ref().unwrap();
    assert!(web.valid_https);
    assert_eq!(web.canonical_url.as_deref(), Some("https://weblab.test/"));
    // The TLS of both HTTPS hosts was scanned and scored under the domain.
    assert_eq!(j.observations.len(), 3);
    assert!(
        j.findings
            .iter()
            .any(|f| f.check == "TLS-CERT-TRUST" && f.domain == D && f.status == Status::Pass)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neglected_site_fails_them() {
    let s = site(
        h(|_| Reply::ok("plain")),
        h(|s| {
            if s.path == "/.well-known/security.txt" {
                return Reply {
                    status: 404,
                    ..Reply::default()
                };
            }
            Reply::ok("hi")
                .header("set-cookie", "ASP.NET_SessionId=x; Path=/")
                .header("server", "Apache/2.4.29 (Ubuntu)")
                .header("x-powered-by", "PHP/7.2.24")
        }),
        None,
        None,
    )
    .await;
    let j = judge(&s).await;
    assert_eq!(j.status("WEB-HTTPS"), Status::Pass);
    for (check, expected) in [
        ("WEB-REDIRECT", Status::Fail),
        ("WEB-HSTS", Status::Fail),
        ("WEB-HSTS-SUBDOMAINS", Status::Fail),
        ("WEB-HSTS-PRELOAD", Status::Warn),
        ("WEB-HEADERS", Status::Fail),
        ("WEB-COOKIES", Status::Fail),
        ("WEB-SECURITYTXT", Status::Fail),
        ("WEB-BANNER", Status::Fail),
    ] {
        assert_eq!(j.status(check), expected, "{check}: {}", j.message(check));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_absent_redirect_to_other_host_and_security_txt_expiry() {
    // Nothing on 443: WEB-HTTPS fails; the HSTS checks do not apply.
    let s = site(h(|_| Reply::ok("plain")), None, None, None).await;
    let j = judge(&s).await;
    assert_eq!(j.status("WEB-HTTPS"), Status::Fail);
    assert_eq!(j.status("WEB-HSTS"), Status::NotApplicable);

    // Plain HTTP goes to another host first (pshtt: not strictly enforced).
    let s = site(
        h(|_| Reply::redirect(301, &format!("http://{WWW}/"))),
        h(good_https),
        h(|_| Reply::redirect(301, &format!("https://{WWW}/"))),
        h(good_https),
    )
    .await;
    let j = judge(&s).await;
    assert_eq!(
        j.status("WEB-REDIRECT"),
        Status::Fail,
        "{}",
        j.message("WEB-REDIRECT")
    );

    // HTTPS that sends visitors back to plain HTTP (a downgrade).
    let s = site(
        h(|_| Reply::ok("plain")),
        h(|_| Reply::redirect(301, &format!("http://{D}/"))),
        None,
        None,
    )
    .await;
    let j = judge(&s).await;
    assert!(j.observations[0].web.as_ref().unwrap().downgrades);
    assert_eq!(j.status("WEB-REDIRECT"), Status::Fail);
    assert!(
        j.message("WEB-REDIRECT").contains("plain HTTP"),
        "{}",
        j.message("WEB-REDIRECT")
    );

    // An expired security.txt.
    let s = site(
        None,
        h(|s| {
            if s.path == "/.well-known/security.txt" {
                Reply {
                    status: 200,
                    headers: vec![("content-type".into(), "text/plain".into())],
                    body: Bytes::from_static(
                        b"Contact: mailto:a@weblab.test\nExpires: 2020-01-01T00:00:00Z\n",
                    ),
                }
            } else {
                Reply::ok("x")
            }
        }),
        None,
        None,
    )
    .await;
    let j = judge(&s).await;
    assert_eq!(
        j.status("WEB-SECURITYTXT"),
        Status::Fail,
        "{}",
        j.message("WEB-SECURITYTXT")
    );
    assert!(j.message("WEB-SECURITYTXT").contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_variants_untrusted_certificates_and_the_first_header() {
    // HSTS variants on the HTTPS answer.
    for (header, expected_valid, label) in [
        ("max-age=300", true, "short"),
        ("max-age=31536000; max-age=0", false, "duplicated"),
        ("includeSubDomains", false, "no max-age"),
    ] {
        let s = site(
            h(|_| Reply::redirect(301, &format!("https://{D}/"))),
            h(move |_| Reply::ok("x").header("strict-transport-security", header)),
            None,
            None,
        )
        .await;
        let j = judge(&s).await;
        assert_eq!(
            j.status("WEB-HSTS"),
            Status::Fail,
            "{label}: {}",
            j.message("WEB-HSTS")
        );
        assert_eq!(
            j.observations[0]
                .web
                .as_ref()
                .unwrap()
                .hsts
                .as_ref()
                .unwrap()
                .valid,
            expected_valid,
            "{label}"
        );
    }

    // HSTS over a connection whose certificate does not validate is ignored (RFC 6797 §8.1):
    // the lab's root is not trusted here.
    let s = site(
        h(|_| Reply::redirect(301, &format!("https://{D}/"))),
        h(|_| Reply::ok("x").header("strict-transport-security", "max-age=63072000")),
        None,
        None,
    )
    .await;
    let mut o = options(&s, Duration::from_secs(3));
    o.tls.trust = TrustStore::default();
    let findings = posture_lab::scan::judge_observations(scan_domains(&[D.to_owned()], &o).await);
    let hsts = findings
        .iter()
        .find(|f| {
            f.check == "WEB-HSTS" && matches!(f.target, posture_policies::model::Target::Domain(_))
        })
        .unwrap();
    assert_eq!(hsts.status, Status::Fail, "{}", hsts.message);
    assert!(hsts.message.contains("RFC 6797 §8.1"), "{}", hsts.message);

    // Only the first STS header of a response counts (RFC 6797 §8.1).
    let s = site(
        h(|_| Reply::redirect(301, &format!("https://{D}/"))),
        h(|_| {
            Reply::ok("x")
                .header("strict-transport-security", "max-age=63072000")
                .header("strict-transport-security", "max-age=nonsense")
        }),
        None,
        None,
    )
    .await;
    let j = judge(&s).await;
    let first = j.observations[0]
        .web
        .as_ref()
        .unwrap()
        .hsts
        .clone()
        .unwrap();
    assert!(
        first.valid && first.max_age == Some(63_072_000),
        "{first:?}"
    );

    // HSTS sent only over plain HTTP is ignored.
    let s = site(
        h(|_| {
            Reply::redirect(301, &format!("https://{D}/"))
                .header("strict-transport-security", "max-age=63072000")
        }),
        h(|_| Reply::ok("x")),
        None,
        None,
    )
    .await;
    let j = judge(&s).await;
    assert_eq!(j.status("WEB-HSTS"), Status::Fail);
    assert!(
        j.message("WEB-HSTS")
            .contains("No Strict-Transport-Security"),
        "{}",
        j.message("WEB-HSTS")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sites_end_in_findings_within_budget() {
    let started = tokio::time::Instant::now();
    // A redirect loop on the HTTPS apex.
    let s = site(
        None,
        h(|s| Reply::redirect(302, if s.path == "/" { "/a" } else { "/" })),
        None,
        None,
    )
    .await;
    let j = judge(&s).await;
    let web = j.observations[0].web.as_ref().unwrap();
    let apex = web
        .endpoints
        .iter()
        .find(|e| e.url == format!("https://{D}/"))
        .unwrap();
    assert!(
        apex.error.as_deref().unwrap_or_default().contains("loop"),
        "{apex:?}"
    );
    assert!(apex.hops.len() <= 10);

    // A 50 MB body: read up to the cap only.
    let big = Bytes::from(vec![b'x'; 50 * 1024 * 1024]);
    let s = site(
        None,
        h(move |_| Reply {
            status: 200,
            headers: vec![],
            body: big.clone(),
        }),
        None,
        None,
    )
    .await;
    let j = judge(&s).await;
    assert_eq!(j.status("WEB-HTTPS"), Status::Pass);

    // A 1 MB header line: refused by the head limit, so the site does not count as answering.
    let line = "a".repeat(1024 * 1024);
    let s = site(
        None,
        h(move |_| Reply::ok("x").header("x-huge", &line)),
        None,
        None,
    )
    .await;
    let j = judge(&s).await;
    assert_eq!(j.status("WEB-HTTPS"), Status::Fail);
    let web = j.observations[0].web.as_ref().unwrap();
    assert!(
        web.endpoints.iter().any(|e| e
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("larger than the limit")),
        "{:?}",
        web.endpoints
    );

    // A plain-HTTP server that trickles its answer: the request times out.
    let (slow, hung_up) = trickle_http(Duration::from_millis(50)).await;
    let mut s = site(None, h(good_https), None, None).await;
    s.rules[0] = ConnectTo::parse(&format!("{D}:80:127.0.0.1:{}", slow.addr.port())).unwrap();
    let j = judge_with(&s, Duration::from_secs(2)).await;
    let web = j.observations[0].web.as_ref().unwrap();
    let http = web
        .endpoints
        .iter()
        .find(|e| e.url == format!("http://{D}/"))
        .unwrap();
    assert!(
        http.error
            .as_deref()
            .unwrap_or_default()
            .contains("no complete answer"),
        "{http:?}"
    );
    assert_eq!(
        j.status("WEB-REDIRECT"),
        Status::Untestable,
        "{}",
        j.message("WEB-REDIRECT")
    );
    // The agent hangs up on it rather than leaving a task reading it in the background.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while hung_up.load(std::sync::atomic::Ordering::SeqCst) == 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        hung_up.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the trickling connection was still open 3 s after the request timed out"
    );
    drop(slow);

    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

/// Issue 9, item 12: a scanned site's redirects do not steer the agent into internal
/// services. The lab's site plays a public host (127.0.0.1 declared public), so a redirect to
/// an address literal, to another registrable domain, or to a name of its own that resolves to
/// an internal address (127.0.0.2) is refused and kept as a fact with its Location; a
/// redirect within the site is followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_into_internal_services() {
    use std::sync::atomic::Ordering;
    let (secret, asked) = posture_lab::web::internal_service().await;
    let literal = format!("http://127.0.0.1:{}/secret", secret.addr.port());
    let to_literal = literal.clone();
    let mut s = site(
        h(move |_| Reply::redirect(301, &to_literal)),
        h(|_| Reply::redirect(301, "https://elsewhere.example/")),
        h(|_| Reply::redirect(301, &format!("http://intranet.{D}/"))),
        h(|_| Reply::redirect(301, &format!("https://{D}/"))),
    )
    .await;
    // intranet.weblab.test resolves to an internal address (nothing need listen there).
    s.rules.insert(
        0,
        ConnectTo::parse(&format!("intranet.{D}:80:127.0.0.2:{}", secret.addr.port())).unwrap(),
    );
    let mut o = options(&s, Duration::from_secs(3));
    o.web.guard.treat_as_public = vec!["127.0.0.1/32".parse().unwrap()];
    let observations = scan_domains(&[D.to_owned()], &o).await;
    let web = observations[0].web.clone().expect("web facts");
    let endpoint = |url: &str| {
        web.endpoints
            .iter()
            .find(|e| e.url == url)
            .cloned()
            .unwrap_or_else(|| panic!("no {url} in {:?}", web.endpoints))
    };
    let refused = |url: &str| {
        endpoint(url)
            .refused_redirect
            .unwrap_or_else(|| panic!("{url}: no refused redirect: {:?}", endpoint(url)))
    };
    let r = refused(&format!("http://{D}/"));
    assert_eq!(r.location, literal);
    assert_eq!(
        endpoint(&format!("http://{D}/")).error_code.as_deref(),
        Some("redirect_refused")
    );
    assert!(r.reason.contains("IP address"), "{}", r.reason);
    let r = refused(&format!("https://{D}/"));
    assert_eq!(r.location, "https://elsewhere.example/");
    assert!(
        r.reason.contains("another registrable domain"),
        "{}",
        r.reason
    );
    let r = refused(&format!("http://{WWW}/"));
    assert_eq!(r.location, format!("http://intranet.{D}/"));
    assert!(r.reason.contains("internal address"), "{}", r.reason);
    // Within the site the redirect is followed, up to the refused one.
    let www = endpoint(&format!("https://{WWW}/"));
    assert_eq!(www.hops.len(), 2, "{www:?}");
    assert_eq!(
        www.refused_redirect.map(|r| r.location).as_deref(),
        Some("https://elsewhere.example/")
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "the internal service was asked"
    );
}

/// Issue 9, item 3: a site that speaks only TLS 1.0 (CBC suites) is not "silent over HTTPS":
/// the TLS engine's own handshakes find it, its endpoint gets a TLS scan (legacy protocol and
/// certificate findings), WEB-HTTPS passes, and the checks that need a page read over HTTPS
/// are untestable with why (posture's HTTP client speaks TLS 1.2 and 1.3 only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls10_only_site_is_found_and_scanned() {
    use posture_lab::servers::OpensslServer;
    let s = site(None, None, None, None).await;
    let leaf = s.pki.leaf(&LeafSpec {
        key: posture_lab::pki::LeafKey::Rsa(2048),
        ..LeafSpec::valid(&[D, WWW])
    });
    let legacy = OpensslServer::new(&leaf, &["-tls1", "-cipher", "ALL:@SECLEVEL=0"])
        .start()
        .await;
    let mut o = options(&s, Duration::from_secs(3));
    o.connect_to.insert(
        0,
        ConnectTo::parse(&format!("{D}:443:127.0.0.1:{}", legacy.addr.port())).unwrap(),
    );
    let observations = scan_domains(&[D.to_owned()], &o).await;
    let findings = posture_lab::scan::judge_observations(observations.clone());
    let domain_status = |check: &str| {
        findings
            .iter()
            .find(|f| {
                f.check == check && matches!(f.target, posture_policies::model::Target::Domain(_))
            })
            .map(|f| (f.status, f.message.clone()))
            .unwrap_or_else(|| panic!("no {check}: {:?}", observations[0]))
    };
    assert_eq!(domain_status("WEB-HTTPS").0, Status::Pass);
    let (hsts, why) = domain_status("WEB-HSTS");
    assert_eq!(hsts, Status::Untestable, "{why}");
    assert!(why.contains("answers the TLS handshake (TLSv1.0)"), "{why}");
    let endpoint = observations
        .iter()
        .find(|o| matches!(&o.target, posture_policies::model::Target::Endpoint(e) if e.host == D && e.port == 443))
        .unwrap_or_else(|| panic!("the HTTPS endpoint was not TLS-scanned: {observations:?}"));
    assert!(endpoint.tls.is_some(), "{:?}", endpoint.scan.errors);
    let legacy_finding = findings
        .iter()
        .find(|f| f.check == "TLS-PROTO-LEGACY" && f.target == endpoint.target)
        .unwrap();
    assert_eq!(
        legacy_finding.status,
        Status::Fail,
        "{}",
        legacy_finding.message
    );
}
