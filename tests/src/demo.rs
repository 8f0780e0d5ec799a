//! The demo's targets, on loopback in the calling process: eight TLS servers, each
//! misconfigured in its own way, and two demo domains (well-run.test and neglected.test) with
//! their nameservers, websites, mail servers, MTA-STS policy and registry. `posture-demo`
//! scans them once; `posture-system` has two organisations' agents scan them on a schedule.

use std::sync::Arc;

use chrono::{Duration, Utc};
use hyper::body::Bytes;

use crate::pki::{LeafSpec, Pki};
use crate::servers::{
    LegacyTls, Running, RustlsServer, RustlsVersions, Script, free_port, scripted, smtp_server,
};
use crate::web::{Reply, Seen, serve};

/// A domain run well: two nameservers in different networks, CAA, SPF, DMARC reject with the
/// national report address, DKIM, MTA-STS enforce, TLS-RPT, an MX with valid STARTTLS and
/// forward-confirmed reverse DNS, and a website with HSTS and the security headers.
const WELL_RUN: &str = r#"
$ORIGIN well-run.test.
$TTL 300
@        IN SOA ns1.well-run.test. hostmaster.well-run.test. 1 3600 600 86400 300
@        IN NS  ns1.well-run.test.
@        IN NS  ns2.well-run.test.
ns1      IN A   127.0.0.1
ns2      IN A   127.0.1.1
@        IN A   127.0.0.1
@        IN AAAA ::1
www      IN A   127.0.0.1
www      IN AAAA ::1
mta-sts  IN A   127.0.0.1
@        IN CAA 0 issue "letsencrypt.org"
@        IN MX  10 mx.well-run.test.
mx       IN A   127.0.0.1
mx       IN AAAA ::1
@        IN TXT "v=spf1 mx -all"
_dmarc   IN TXT "v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s; rua=mailto:dmarc-rua@dmarc.service.gov.uk"
s2026._domainkey IN TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
_mta-sts IN TXT "v=STSv1; id=20261125"
_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls-rua@mailcheck.service.ncsc.gov.uk"
"#;

/// Every zone the demo's nameserver serves (the domain benchmark serves them to checkdmarc
/// too, on port 53).
pub const ZONES: [&str; 5] = [WELL_RUN, NEGLECTED, REPORTS, REVERSE, REVERSE6];

/// A neglected domain: one nameserver that hands out the zone, no CAA, SPF that does not end
/// in -all, DMARC p=none, an MX without STARTTLS, a `www` CNAME to a name that is gone, and a
/// website over plain HTTP only.
const NEGLECTED: &str = r#"
$ORIGIN neglected.test.
$TTL 300
@        IN SOA ns1.neglected.test. hostmaster.neglected.test. 1 3600 600 86400 300
@        IN NS  ns1.neglected.test.
ns1      IN A   127.0.2.1
@        IN A   127.0.0.1
www      IN CNAME old-site.neglected.test.
@        IN MX  10 mx.neglected.test.
mx       IN A   127.0.0.1
@        IN TXT "v=spf1 mx ?all"
_dmarc   IN TXT "v=DMARC1; p=none"
"#;

/// The national DMARC service authorises reports for the well-run domain (RFC 7489 §7.1).
const REPORTS: &str = r#"
$ORIGIN dmarc.service.gov.uk.
$TTL 300
@ IN SOA ns1.well-run.test. hostmaster.well-run.test. 1 3600 600 86400 300
@ IN NS  ns1.well-run.test.
well-run.test._report._dmarc IN TXT "v=DMARC1"
"#;

const REVERSE: &str = r#"
$ORIGIN 0.0.127.in-addr.arpa.
$TTL 300
@ IN SOA ns1.well-run.test. hostmaster.well-run.test. 1 3600 600 86400 300
@ IN NS  ns1.well-run.test.
1 IN PTR mx.well-run.test.
"#;

const REVERSE6: &str = r#"
$ORIGIN ip6.arpa.
$TTL 300
@ IN SOA ns1.well-run.test. hostmaster.well-run.test. 1 3600 600 86400 300
@ IN NS  ns1.well-run.test.
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 IN PTR mx.well-run.test.
"#;

const SECURITY_TXT: &str =
    "Contact: mailto:security@well-run.test\nExpires: 2099-01-01T00:00:00Z\n";
const MTA_STS_POLICY: &str =
    "version: STSv1\nmode: enforce\nmx: mx.well-run.test\nmax_age: 1209600\n";

/// The well-run site over HTTPS (apex, `www` redirecting to the apex, and the MTA-STS policy
/// host).
fn well_run_https(s: &Seen) -> Reply {
    let host = s.host.split(':').next().unwrap_or_default();
    if host == "mta-sts.well-run.test" {
        return text(MTA_STS_POLICY);
    }
    if host.starts_with("www.") {
        return Reply::redirect(301, "https://well-run.test/");
    }
    if s.path == "/.well-known/security.txt" {
        return text(SECURITY_TXT);
    }
    Reply::well_run("<h1>Well run</h1>")
}

fn text(body: &'static str) -> Reply {
    Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: Bytes::from_static(body.as_bytes()),
    }
}

/// Start the two demo domains' servers; return them and the `scan` arguments that reach them.
pub async fn domains(pki: &Pki) -> (Vec<Running>, Vec<String>) {
    let dns = crate::dns::serve(&[WELL_RUN, NEGLECTED, REPORTS, REVERSE, REVERSE6]).await;
    let port = dns.addr.port();
    // The second nameserver (another network) and the neglected domain's own, which hands out
    // zone transfers.
    let ns2 = crate::dns::serve_on(([127, 0, 1, 1], port).into(), &[WELL_RUN], false).await;
    let open = crate::dns::serve_on(([127, 0, 2, 1], port).into(), &[NEGLECTED], true).await;
    let leaf = pki.leaf(&LeafSpec::valid(&[
        "well-run.test",
        "www.well-run.test",
        "mta-sts.well-run.test",
    ]));
    let https = serve(Some(&leaf), Arc::new(well_run_https)).await;
    let http = serve(
        None,
        Arc::new(|s: &Seen| {
            let host = s.host.split(':').next().unwrap_or_default().to_owned();
            if host.starts_with("neglected.") {
                Reply::ok("<h1>Neglected</h1>").header("server", "Apache/2.4.29 (Ubuntu)")
            } else {
                Reply::redirect(301, &format!("https://{host}/"))
            }
        }),
    )
    .await;
    let mx_leaf = pki.leaf(&LeafSpec::valid(&["mx.well-run.test"]));
    let smtp = smtp_server(Some(RustlsServer::new(&mx_leaf).config())).await;
    let plain_smtp = smtp_server(None).await;
    let registry_leaf = pki.leaf(&LeafSpec::valid(&["rdap.demo.test"]));
    let soon = (Utc::now() + Duration::days(12)).to_rfc3339();
    let later = (Utc::now() + Duration::days(400)).to_rfc3339();
    let registry = serve(
        Some(&registry_leaf),
        Arc::new(move |s: &Seen| {
            let (statuses, expires) = match s.path.as_str() {
                "/domain/well-run.test" => ("\"client transfer prohibited\"", &later),
                "/domain/neglected.test" => ("\"active\"", &soon),
                _ => {
                    return Reply {
                        status: 404,
                        ..Reply::default()
                    };
                }
            };
            Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/rdap+json".into())],
                body: Bytes::from(format!(
                    r#"{{"objectClassName":"domain","status":[{statuses}],"events":[{{"eventAction":"expiration","eventDate":"{expires}"}}]}}"#
                )),
            }
        }),
    )
    .await;
    let closed = free_port();
    let rule = |from: &str, to: &Running| format!("{from}:127.0.0.1:{}", to.addr.port());
    let mut args: Vec<String> = vec![
        "well-run.test".into(),
        "neglected.test".into(),
        "--resolver".into(),
        dns.addr.to_string(),
        "--nameserver-port".into(),
        port.to_string(),
        "--dkim-selector".into(),
        "s2026".into(),
        "--rdap-base".into(),
        "https://rdap.demo.test/".into(),
    ];
    for r in [
        rule("well-run.test:443", &https),
        rule("www.well-run.test:443", &https),
        rule("mta-sts.well-run.test:443", &https),
        rule("well-run.test:80", &http),
        rule("www.well-run.test:80", &http),
        rule("neglected.test:80", &http),
        rule("mx.well-run.test:25", &smtp),
        rule("mx.neglected.test:25", &plain_smtp),
        rule("rdap.demo.test:443", &registry),
        // Anything else (the neglected site's HTTPS, say) finds a closed port.
        format!("::127.0.0.1:{closed}"),
    ] {
        args.push("--connect-to".into());
        args.push(r);
    }
    (
        vec![dns, ns2, open, https, http, smtp, plain_smtp, registry],
        args,
    )
}

/// The demo's TLS endpoints, each misconfigured in its own way (one is well run): the URL to
/// scan (`https://NAME` or `tls://NAME`, without the port) and its server on loopback.
pub async fn endpoints(pki: &Pki) -> Vec<(&'static str, Running)> {
    let now = Utc::now();
    let valid = |name: &str| LeafSpec::valid(&[name]);
    let mut s = Vec::new();
    let good = pki.leaf(&valid("www.good.demo.test"));
    s.push((
        "https://www.good.demo.test",
        RustlsServer::new(&good)
            .ocsp(vec![0x30, 0x03, 0x0a, 0x01, 0x00])
            .start()
            .await,
    ));
    let only12 = pki.leaf(&valid("tls12-only.demo.test"));
    s.push((
        "https://tls12-only.demo.test",
        RustlsServer::new(&only12)
            .versions(RustlsVersions::Tls12)
            .start()
            .await,
    ));
    let expired = pki.leaf(&LeafSpec {
        not_before: now - Duration::days(120),
        not_after: now - Duration::days(3),
        ..valid("expired.demo.test")
    });
    s.push((
        "https://expired.demo.test",
        RustlsServer::new(&expired).start().await,
    ));
    let wrong = pki.leaf(&valid("someone-else.demo.test"));
    s.push((
        "https://wrong-name.demo.test",
        RustlsServer::new(&wrong).start().await,
    ));
    let selfsigned = pki.leaf(&LeafSpec {
        self_signed: true,
        ..valid("self-signed.demo.test")
    });
    s.push((
        "https://self-signed.demo.test",
        RustlsServer::new(&selfsigned).start().await,
    ));
    let chainless = pki.leaf(&valid("no-intermediate.demo.test"));
    s.push((
        "https://no-intermediate.demo.test",
        RustlsServer::new(&chainless)
            .without_intermediate()
            .start()
            .await,
    ));
    let legacy = pki.leaf(&valid("legacy.demo.test"));
    s.push((
        "tls://legacy.demo.test",
        scripted(Script::LegacyTls(LegacyTls {
            versions: vec![0x0301, 0x0302, 0x0303],
            // EXPORT RC4, static-RSA AES-CBC, 3DES.
            suites: vec![0x0003, 0x002f, 0x000a],
            compress: true,
            certificate: legacy.cert_der.clone(),
            heartbleed: false,
            dhe_prime: None,
        }))
        .await,
    ));
    let v2 = pki.leaf(&valid("sslv2.demo.test"));
    s.push((
        "tls://sslv2.demo.test",
        scripted(Script::Sslv2 {
            certificate: v2.cert_der.clone(),
            kinds: vec![0x01_0080, 0x02_0080, 0x07_00c0],
        })
        .await,
    ));
    s
}

/// A collector in the calling process, on SQLite in `dir`, serving plain HTTP on loopback (as
/// its configuration allows for a local demo): its URL, its store, and how to stop it.
pub struct LocalCollector {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its store, for setting up organisations, domains, secrets and tokens.
    pub store: posture_collector::store::Store,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<posture_collector::Result<()>>,
}

impl LocalCollector {
    /// Start one with its database in `dir`.
    pub async fn start(dir: &std::path::Path) -> Result<LocalCollector, String> {
        use posture_collector::config::{Config, Transport};
        let config = Config {
            listen: ([127, 0, 0, 1], 0).into(),
            transport: Transport::Plain,
            database_url: format!("sqlite://{}", dir.join("collector.db").display()),
            ..Config::default()
        };
        let state = posture_collector::server::state(&config)
            .await
            .map_err(|e| e.to_string())?;
        let store = state.store.clone();
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| e.to_string())?;
        let url = format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            posture_collector::server::run(listener, &config, state, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(LocalCollector {
            url,
            store,
            stop,
            task,
        })
    }

    /// Stop it, letting requests in flight finish.
    pub async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}
