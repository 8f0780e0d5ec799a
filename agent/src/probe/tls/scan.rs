//! One TLS endpoint, scanned: protocol versions and suites by elimination, groups, server
//! order, fallback protection, compression, renegotiation, OCSP, ALPN and the certificate.

use chrono::{DateTime, Utc};
use posture_policies::model::{
    DhParams, GroupSupport, ProbeOutcome, ProtocolResult, ProtocolVersion, Service, TlsFacts,
    Vulnerability,
};
use rand::RngCore;

use super::capture::{self, Captured};
use super::conn::{Connection, Dialer, Endpoint, Failure, Limits};
use super::groups;
use super::suites::{self, EMPTY_RENEGOTIATION_INFO_SCSV, FALLBACK_SCSV};
use super::wire::{self, ClientHello, FlightReader, KeyExchange, ServerFlight, Until, body, ext};
use crate::probe::net::Gate;
use crate::probe::net::cert::{self, TrustStore};

mod enumerate;
use enumerate::enumerate;

/// The failure message of an SMTP server that does not offer STARTTLS.
pub const NO_STARTTLS: &str = "the SMTP server does not offer STARTTLS";

/// Most suites offered in one hello.
pub const CHUNK: usize = 64;

/// Scan options.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Time-outs, budget, size and concurrency limits.
    pub limits: Limits,
    /// Roots to validate against.
    pub trust: TrustStore,
    /// Run intrusive probes (Heartbleed): they send malformed messages a vulnerable server
    /// answers with its memory. Off unless the target's owner opted in.
    pub intrusive: bool,
}

/// The result of scanning one endpoint.
#[derive(Debug, Clone)]
pub struct TlsScan {
    /// What was found.
    pub facts: TlsFacts,
    /// Connections opened.
    pub connections: u32,
    /// Why the scan could not look at all, when it could not.
    pub failure: Option<Failed>,
}

/// Why a TLS scan could not look at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// `untestable` (the network would not let us look) or `error` (a broken or hostile peer).
    pub status: posture_policies::model::Status,
    /// What happened, for people.
    pub message: String,
    /// What happened, for machines: `refused`, `timeout`, `unreachable`, `reset`, `protocol`,
    /// `no_starttls`, `smtp`, `budget_exhausted`, `limit_exceeded`.
    pub code: &'static str,
}

/// What one version's enumeration found.
#[derive(Debug, Clone)]
struct VersionResult {
    version: ProtocolVersion,
    outcome: ProbeOutcome,
    detail: Option<String>,
    /// The failure's code when the outcome is `error` or `untestable`.
    code: Option<&'static str>,
    /// Accepted suites in the order the server picked them.
    accepted: Vec<u32>,
    /// First flights of accepted handshakes.
    flights: Vec<ServerFlight>,
    /// Whether the server imposes its order, when the enumeration's own hellos told.
    order: Option<bool>,
    /// TLS 1.3: the groups the same hellos found, in the order found.
    groups: Vec<u16>,
    /// Refused outright with a protocol_version alert: the server has no version at or
    /// below this one.
    refused_version: bool,
    /// Answered with this lower version instead (nothing accepted at this one).
    lower: Option<u16>,
    /// Enumerated in chunks: the server did not answer a hello with every suite.
    chunked: bool,
}

fn kex_of(id: u16) -> Option<&'static str> {
    suites::lookup(u32::from(id)).map(|s| s.suite.kex.as_str())
}

fn random32() -> [u8; 32] {
    let mut r = [0u8; 32];
    rand::rng().fill_bytes(&mut r);
    r
}

/// A sort key that puts the suites servers commonly accept first, so one chunk usually
/// holds all of them and the server's order comes out of the enumeration itself.
fn commonness(s: &suites::SuiteInfo) -> (u8, u8, u32) {
    let kex = match s.suite.kex.as_str() {
        "ANY" | "ECDHE" => 0,
        "DHE" => 1,
        "RSA" => 2,
        _ => 3,
    };
    let anon_or_psk = matches!(
        s.suite.auth.as_str(),
        "anon" | "PSK" | "NULL" | "SRP" | "KRB5"
    );
    let mode = match s.suite.mode.as_str() {
        "aead" => 0,
        "cbc" => 1,
        _ => 2,
    };
    (kex + if anon_or_psk { 4 } else { 0 }, mode, s.suite.id)
}

struct HelloSpec<'a> {
    version: ProtocolVersion,
    suites: &'a [u16],
    groups: &'a [u16],
    key_shares: Vec<(u16, Vec<u8>)>,
    fallback: bool,
    /// Extensions appended after the usual ones (heartbeat for the opt-in probe).
    extra: Vec<(u16, Vec<u8>)>,
}

impl VersionResult {
    /// Nothing found yet: rejected until a suite is accepted.
    fn empty(version: ProtocolVersion) -> VersionResult {
        VersionResult {
            version,
            outcome: ProbeOutcome::Rejected,
            detail: None,
            code: None,
            accepted: Vec::new(),
            flights: Vec::new(),
            order: None,
            groups: Vec::new(),
            refused_version: false,
            lower: None,
            chunked: false,
        }
    }

    /// The accepted suites as two-byte codes (SSLv2 kinds excluded).
    fn suite_codes(&self) -> Vec<u16> {
        self.accepted
            .iter()
            .filter_map(|s| u16::try_from(*s).ok())
            .collect()
    }
}

/// Heartbleed (CVE-2014-0160), opt-in: offer the heartbeat extension in an ordinary handshake,
/// then send a heartbeat request whose claimed length exceeds its payload.
async fn probe_heartbleed(dialer: &Dialer, r: &VersionResult) -> Vulnerability {
    let suites = r.suite_codes();
    let groups = groups_for(r.version);
    let spec = HelloSpec {
        version: r.version,
        suites: &suites,
        groups: &groups,
        key_shares: Vec::new(),
        fallback: false,
        extra: vec![(ext::HEARTBEAT, vec![1])],
    };
    let hello = build_hello(dialer.endpoint(), &spec);
    let reader =
        FlightReader::new(Until::HelloDone, dialer.limits().max_response).with_kex_lookup(kex_of);
    let request = wire::heartbleed_request(wire::version_code(r.version));
    match dialer.exchange_then(&hello, reader, &request).await {
        Ok((flight, reply)) => {
            let offered = flight
                .hello
                .as_ref()
                .is_some_and(|h| h.extension_types.contains(&ext::HEARTBEAT));
            let vulnerable = offered && wire::leaks_heartbeat(&reply);
            Vulnerability {
                name: "HEARTBLEED".into(),
                vulnerable,
                detail: match (offered, vulnerable) {
                    (false, _) => format!("heartbeat extension not supported ({})", r.version),
                    (true, false) => {
                        format!("heartbeat supported, no memory returned ({})", r.version)
                    }
                    (true, true) => format!(
                        "a heartbeat request claiming 16 KiB got {} bytes back ({})",
                        reply.len(),
                        r.version
                    ),
                },
            }
        }
        Err(e) => Vulnerability {
            name: "HEARTBLEED".into(),
            vulnerable: false,
            detail: format!("not tested: {e}"),
        },
    }
}

fn build_hello(ep: &Endpoint, spec: &HelloSpec<'_>) -> Vec<u8> {
    let name = ep.server_name();
    let sni = name.parse::<std::net::IpAddr>().is_err();
    let https = ep.service == Service::Https;
    let mut extensions = Vec::new();
    if sni {
        extensions.push((ext::SERVER_NAME, body::server_name(name)));
    }
    let mut suites: Vec<u16> = spec.suites.to_vec();
    if spec.version == ProtocolVersion::Tls13 {
        extensions.push((ext::SUPPORTED_GROUPS, body::u16_list(spec.groups)));
        extensions.push((
            ext::SIGNATURE_ALGORITHMS,
            body::u16_list(&wire::SIGNATURE_SCHEMES),
        ));
        extensions.push((ext::SUPPORTED_VERSIONS, body::supported_versions(&[0x0304])));
        extensions.push((ext::KEY_SHARE, body::key_share(&spec.key_shares)));
        extensions.push((ext::PSK_KEY_EXCHANGE_MODES, body::psk_modes()));
        extensions.push((ext::STATUS_REQUEST, body::status_request()));
        extensions.push((ext::SCT, Vec::new()));
        if https {
            extensions.push((ext::ALPN, body::alpn(&["h2", "http/1.1"])));
        }
        extensions.extend(spec.extra.iter().cloned());
        return ClientHello {
            record_version: 0x0301,
            version: 0x0303,
            random: random32(),
            session_id: random32().to_vec(),
            cipher_suites: suites,
            compression_methods: vec![0],
            extensions,
        }
        .to_bytes();
    }
    let code = wire::version_code(spec.version);
    if spec.version == ProtocolVersion::Ssl3 {
        // SSLv3 predates extensions; signal secure renegotiation with the SCSV instead.
        suites.push(EMPTY_RENEGOTIATION_INFO_SCSV);
        extensions.clear();
    } else {
        extensions.push((ext::SUPPORTED_GROUPS, body::u16_list(spec.groups)));
        extensions.push((ext::EC_POINT_FORMATS, body::ec_point_formats()));
        if spec.version == ProtocolVersion::Tls12 {
            extensions.push((
                ext::SIGNATURE_ALGORITHMS,
                body::u16_list(&wire::SIGNATURE_SCHEMES),
            ));
        }
        extensions.push((ext::RENEGOTIATION_INFO, body::renegotiation_info()));
        extensions.push((ext::STATUS_REQUEST, body::status_request()));
        extensions.push((ext::SCT, Vec::new()));
        extensions.push((ext::EXTENDED_MASTER_SECRET, Vec::new()));
        extensions.push((ext::SESSION_TICKET, Vec::new()));
        if https {
            extensions.push((ext::ALPN, body::alpn(&["h2", "http/1.1"])));
        }
    }
    if spec.version != ProtocolVersion::Ssl3 {
        extensions.extend(spec.extra.iter().cloned());
    }
    if spec.fallback {
        suites.push(FALLBACK_SCSV);
    }
    ClientHello {
        record_version: code.min(0x0301),
        version: code,
        random: random32(),
        session_id: Vec::new(),
        cipher_suites: suites,
        // Offering DEFLATE alongside null tells us whether the server would compress (CRIME).
        compression_methods: vec![1, 0],
        extensions,
    }
    .to_bytes()
}

/// How one hello ended.
enum Attempt {
    Accepted(u16, ServerFlight),
    VersionRejected,
    /// Answered with a ServerHello of this lower version (the highest the server has below
    /// the one offered, RFC 5246 Appendix E.1).
    Lower(u16),
    /// Refused with this alert, or (`None`) by closing.
    NoSuite(Option<u8>),
    Error(String, &'static str),
    Unreachable(String, &'static str),
}

fn classify(version: ProtocolVersion, result: Result<ServerFlight, Failure>) -> Attempt {
    match result {
        Ok(flight) => {
            if let Some(h) = &flight.hello {
                let negotiated = if version == ProtocolVersion::Tls13 {
                    h.version == 0x0304 || h.hello_retry
                } else {
                    h.version == wire::version_code(version) && h.legacy_version == h.version
                };
                if negotiated {
                    let suite = h.cipher_suite;
                    Attempt::Accepted(suite, flight)
                } else if h.version < wire::version_code(version) && h.legacy_version == h.version {
                    Attempt::Lower(h.version)
                } else {
                    Attempt::VersionRejected
                }
            } else if let Some((_, desc)) = flight.alert {
                if desc == 70 {
                    Attempt::VersionRejected
                } else {
                    Attempt::NoSuite(Some(desc))
                }
            } else {
                Attempt::Error(
                    "the server answered without a ServerHello".into(),
                    "protocol",
                )
            }
        }
        Err(Failure::Closed) => Attempt::NoSuite(None),
        Err(Failure::Unreachable { reason, code, .. }) => Attempt::Unreachable(reason, code),
        Err(e) => Attempt::Error(e.to_string(), e.code()),
    }
}

async fn try_hello(dialer: &Dialer, spec: &HelloSpec<'_>, until: Until) -> Attempt {
    let hello = build_hello(dialer.endpoint(), spec);
    let reader = FlightReader::new(until, dialer.limits().max_response).with_kex_lookup(kex_of);
    classify(spec.version, dialer.exchange(&hello, reader).await)
}

fn groups_for(version: ProtocolVersion) -> Vec<u16> {
    if version == ProtocolVersion::Tls13 {
        groups::tls13_codes()
    } else {
        let mut g = groups::ecdhe_codes();
        g.extend([256, 257, 258, 259, 260]);
        g
    }
}

/// Whether a suite is worth offering: suites that need a pre-shared key, a Kerberos ticket or
/// an SRP password are never chosen for a client that has none (the reference scanners, built
/// on OpenSSL clients, do not offer them either).
fn offerable(s: &suites::SuiteInfo) -> bool {
    // TLS_NULL_WITH_NULL_NULL is the state before a handshake and must never be negotiated
    // (RFC 5246 §A.5): a server that picks it has picked something no client offers.
    s.suite.id != 0
        && !matches!(s.suite.kex.as_str(), "PSK" | "KRB5" | "SRP" | "ECCPWD")
        && !matches!(s.suite.auth.as_str(), "PSK" | "KRB5" | "SRP" | "ECCPWD")
}

/// TLS 1.1, TLS 1.0 and SSLv3, highest first, each hello asking only what the answers before
/// it left open: a server that refuses TLS 1.1's hello with protocol_version has no version
/// below it, and one that answers it with a lower version has none in between (RFC 5246
/// Appendix E.1), so a server without legacy versions costs one connection, not three.
async fn legacy_versions(dialer: &Dialer, known: &[u32], chunks: bool) -> [VersionResult; 3] {
    const ORDER: [ProtocolVersion; 3] = [
        ProtocolVersion::Tls11,
        ProtocolVersion::Tls10,
        ProtocolVersion::Ssl3,
    ];
    let mut out: Vec<VersionResult> = Vec::new();
    while let Some(&version) = ORDER.get(out.len()) {
        let r = enumerate(dialer, version, known, chunks).await;
        let rejected = r.outcome == ProbeOutcome::Rejected;
        // Where the next hello goes, and why the versions skipped are refused.
        // A hello of this version offers every suite of the versions below it too: a server
        // that refuses it outright (protocol_version; or any refusal, from a server that has
        // shown it reads such long hellos) has nothing below it to negotiate down to.
        let (next, why) = if rejected && r.lower.is_none() && (r.refused_version || !chunks) {
            (
                ORDER.len(),
                format!(
                    "the server refused a {} hello offering every suite, so it has no version below it",
                    version.as_str()
                ),
            )
        } else if let (true, Some(code)) = (rejected, r.lower) {
            let at = ORDER
                .iter()
                .position(|v| wire::version_code(*v) == code)
                .unwrap_or(ORDER.len());
            (
                at,
                format!(
                    "the server answered a {} hello with a lower version, the highest it has",
                    version.as_str()
                ),
            )
        } else {
            (out.len() + 1, String::new())
        };
        out.push(r);
        while out.len() < next && out.len() < ORDER.len() {
            let mut skipped = VersionResult::empty(ORDER[out.len()]);
            skipped.detail = Some(why.clone());
            out.push(skipped);
        }
    }
    let mut out = out.into_iter();
    let mut take = || {
        out.next()
            .unwrap_or_else(|| VersionResult::empty(ProtocolVersion::Ssl3))
    };
    [take(), take(), take()]
}

/// SSLv2: one hello offering every kind; the SERVER-HELLO lists what it shares.
async fn probe_sslv2(dialer: &Dialer) -> VersionResult {
    let kinds: Vec<u32> = suites::for_version(ProtocolVersion::Ssl2)
        .iter()
        .map(|s| s.suite.id)
        .collect();
    let mut challenge = [0u8; 16];
    rand::rng().fill_bytes(&mut challenge);
    let hello = wire::sslv2_client_hello(&kinds, challenge);
    let mut result = VersionResult::empty(ProtocolVersion::Ssl2);
    match dialer
        .exchange(
            &hello,
            FlightReader::new(Until::HelloDone, dialer.limits().max_response),
        )
        .await
    {
        Ok(flight) => {
            if let Some(v2) = &flight.sslv2 {
                result.accepted = v2
                    .cipher_kinds
                    .iter()
                    .copied()
                    .filter(|k| kinds.contains(k))
                    .collect();
                if !result.accepted.is_empty() {
                    result.outcome = ProbeOutcome::Accepted;
                    result.flights.push(flight);
                }
            }
        }
        // A TLS-only server answers an SSLv2 hello with a TLS alert, garbage to an SSLv2
        // parser, or by closing: all refusals.
        Err(Failure::Closed | Failure::ClosedMidFlight(_) | Failure::Wire(_)) => {}
        Err(Failure::Unreachable { reason, code, .. }) => {
            result.outcome = ProbeOutcome::Untestable;
            result.detail = Some(reason);
            result.code = Some(code);
        }
        Err(e) => {
            result.outcome = ProbeOutcome::Error;
            result.detail = Some(e.to_string());
            result.code = Some(e.code());
        }
    }
    result
}

/// Whether the server imposes its order: offer the accepted suites reversed and see whether
/// it still picks its first.
async fn server_order(dialer: &Dialer, r: &VersionResult) -> Option<bool> {
    if r.accepted.len() < 2 {
        return None;
    }
    let mut reversed = r.suite_codes();
    reversed.reverse();
    let groups = groups_for(r.version);
    let spec = HelloSpec {
        version: r.version,
        suites: &reversed,
        groups: &groups,
        key_shares: vec![(29, random32().to_vec())],
        fallback: false,
        extra: Vec::new(),
    };
    match try_hello(dialer, &spec, Until::ServerHello).await {
        Attempt::Accepted(s, _) => Some(u32::from(s) == r.accepted[0]),
        _ => None,
    }
}

/// TLS 1.3 groups by elimination: the first hello carries an x25519 share; later ones carry
/// none, so the server names its choice in a HelloRetryRequest.
async fn groups_tls13(dialer: &Dialer, suites: &[u16]) -> Vec<u16> {
    let mut candidates = groups::tls13_codes();
    candidates.sort_by_key(|g| match g {
        29 => 0,
        23 => 1,
        _ => 2,
    });
    let mut found = Vec::new();
    let mut first = true;
    while !candidates.is_empty() && found.len() < 16 {
        let shares = if first && candidates.contains(&29) {
            vec![(29, random32().to_vec())]
        } else {
            Vec::new()
        };
        first = false;
        let spec = HelloSpec {
            version: ProtocolVersion::Tls13,
            suites,
            groups: &candidates,
            key_shares: shares,
            fallback: false,
            extra: Vec::new(),
        };
        match try_hello(dialer, &spec, Until::ServerHello).await {
            Attempt::Accepted(_, flight) => match flight.hello.and_then(|h| h.key_share_group) {
                Some(g) if candidates.contains(&g) => {
                    found.push(g);
                    candidates.retain(|c| *c != g);
                }
                _ => break,
            },
            _ => break,
        }
    }
    found
}

/// ECDHE groups in TLS 1.2 and earlier, read from ServerKeyExchange.
async fn groups_tls12(dialer: &Dialer, version: ProtocolVersion, ecdhe_suites: &[u16]) -> Vec<u16> {
    let mut candidates = groups::ecdhe_codes();
    let mut found = Vec::new();
    while !candidates.is_empty() && found.len() < 32 {
        let spec = HelloSpec {
            version,
            suites: ecdhe_suites,
            groups: &candidates,
            key_shares: Vec::new(),
            fallback: false,
            extra: Vec::new(),
        };
        match try_hello(dialer, &spec, Until::HelloDone).await {
            Attempt::Accepted(_, flight) => match flight.key_exchange {
                Some(KeyExchange::Ecdh { group }) if candidates.contains(&group) => {
                    found.push(group);
                    candidates.retain(|c| *c != group);
                }
                _ => break,
            },
            _ => break,
        }
    }
    found
}

/// The scan's result when every probe in `results` found the endpoint unreachable
/// (`untestable`, with the first probe's reason), else `None`.
fn unreachable(dialer: &Dialer, results: &[&VersionResult]) -> Option<TlsScan> {
    if !results
        .iter()
        .all(|r| r.outcome == ProbeOutcome::Untestable)
    {
        return None;
    }
    let (detail, code) = results
        .iter()
        .find_map(|r| Some((r.detail.clone()?, r.code.unwrap_or("unreachable"))))
        .unwrap_or_default();
    Some(fail(
        dialer,
        posture_policies::model::Status::Untestable,
        &detail,
        code,
    ))
}

/// Scan one endpoint. `now` is when the certificate is judged.
pub async fn scan(
    endpoint: Endpoint,
    options: &TlsOptions,
    gate: Gate,
    now: DateTime<Utc>,
) -> TlsScan {
    let dialer = Dialer::new(endpoint, options.limits, gate);

    // SMTP: STARTTLS first, so a server without it costs one connection; the connection it
    // opens is the one the certificate is captured on.
    let opened = if dialer.endpoint().service == Service::SmtpStarttls {
        match starttls(&dialer).await {
            Ok(conn) => Some(conn),
            Err(failed) => return *failed,
        }
    } else {
        None
    };

    let https = dialer.endpoint().service == Service::Https;
    let alpn_for_capture: &[&str] = if https { &["http/1.1"] } else { &[] };
    let (v2, v12, v13, captured) = tokio::join!(
        probe_sslv2(&dialer),
        enumerate(&dialer, ProtocolVersion::Tls12, &[], true),
        enumerate(&dialer, ProtocolVersion::Tls13, &[], true),
        async {
            match opened {
                Some(conn) => capture::capture_on(conn, &dialer, alpn_for_capture).await,
                None => capture::capture(&dialer, alpn_for_capture).await,
            }
        },
    );
    // Nothing reachable in the first wave (a closed or filtered port): do not knock three more
    // times.
    if let Some(s) = unreachable(&dialer, &[&v12, &v13, &v2]) {
        return s;
    }
    // A server that answered TLS 1.2's hello of every suite takes a long hello: a legacy
    // hello it closes on is a refusal, not one too long to read.
    let chunks = v12.outcome != ProbeOutcome::Accepted || v12.chunked;
    let [v11, v10, v3] = legacy_versions(&dialer, &v12.accepted, chunks).await;
    let mut results = vec![v2, v3, v10, v11, v12, v13];

    if let Some(s) = unreachable(&dialer, &results.iter().collect::<Vec<_>>()) {
        return s;
    }
    if let Some(s) = no_usable_answer(&dialer, &results) {
        return s;
    }

    // Server order, per version with two or more suites.
    let mut orders = Vec::new();
    for r in results
        .iter()
        .filter(|r| r.version != ProtocolVersion::Ssl2)
    {
        orders.push(match r.order {
            Some(o) => Some(o),
            None => server_order(&dialer, r).await,
        });
    }
    let group_codes = groups(&dialer, &results).await;
    let fallback_scsv = fallback_scsv(&dialer, &results).await;
    let heartbleed = if options.intrusive {
        heartbleed(&dialer, &results).await
    } else {
        None
    };

    let mut facts = assemble(
        &mut results,
        &orders,
        &group_codes,
        fallback_scsv,
        captured.ok(),
        &dialer,
        options,
        now,
    );
    facts.vulnerabilities.extend(heartbleed);
    TlsScan {
        facts,
        connections: dialer.connections(),
        failure: None,
    }
}

/// An SMTP server's STARTTLS, asked once: the connection, or the scan's end when it is
/// refused or unreachable.
async fn starttls(dialer: &Dialer) -> Result<Connection, Box<TlsScan>> {
    let (status, message, code) = match dialer.connect().await {
        Ok(conn) => return Ok(conn),
        Err(Failure::NoStarttls) => (
            posture_policies::model::Status::Untestable,
            NO_STARTTLS.to_owned(),
            Failure::NoStarttls.code(),
        ),
        Err(Failure::Unreachable { reason, code, .. }) => {
            (posture_policies::model::Status::Untestable, reason, code)
        }
        Err(e) => (
            posture_policies::model::Status::Error,
            e.to_string(),
            e.code(),
        ),
    };
    Err(Box::new(fail(dialer, status, &message, code)))
}

/// A peer that gave no usable answer to any TLS hello (a TLS server may answer an SSLv2 hello
/// with anything, so the peer is judged by its TLS answers): an error, with what it said.
fn no_usable_answer(dialer: &Dialer, results: &[VersionResult]) -> Option<TlsScan> {
    let tls_failed = results
        .iter()
        .filter(|r| r.version != ProtocolVersion::Ssl2)
        .all(|r| matches!(r.outcome, ProbeOutcome::Error | ProbeOutcome::Untestable));
    if !tls_failed || results[0].outcome == ProbeOutcome::Accepted {
        return None;
    }
    let (detail, code) = results
        .iter()
        .find_map(|r| Some((r.detail.clone()?, r.code.unwrap_or("protocol"))))
        .unwrap_or(("".to_owned(), "protocol"));
    let mut s = fail(
        dialer,
        posture_policies::model::Status::Error,
        &format!("no usable answer to any hello: {detail}"),
        code,
    );
    s.facts.protocols = results.iter().map(protocol_result).collect();
    Some(s)
}

/// The groups (key exchanges) the server accepts: asked over TLS 1.3, else over the highest
/// older version with an ECDHE suite.
async fn groups(dialer: &Dialer, results: &[VersionResult]) -> Vec<u16> {
    let tls13 = &results[5];
    let mut group_codes = if tls13.outcome == ProbeOutcome::Accepted && !tls13.groups.is_empty() {
        tls13.groups.clone()
    } else if tls13.outcome == ProbeOutcome::Accepted {
        groups_tls13(dialer, &tls13.suite_codes()).await
    } else {
        Vec::new()
    };
    let legacy_ecdhe = results.iter().rev().find(|r| {
        r.version != ProtocolVersion::Tls13
            && r.accepted
                .iter()
                .any(|s| kex_of(u16::try_from(*s).unwrap_or(0)) == Some("ECDHE"))
    });
    if let (true, Some(r)) = (group_codes.is_empty(), legacy_ecdhe) {
        let mut ecdhe = r.suite_codes();
        ecdhe.retain(|s| kex_of(*s) == Some("ECDHE"));
        group_codes = groups_tls12(dialer, r.version, &ecdhe).await;
    }
    group_codes
}

/// Fallback protection: the second-highest version offered with TLS_FALLBACK_SCSV is
/// refused (or, from a TLS 1.3 server, marked as a downgrade). `None`: fewer than two versions,
/// or no clear answer.
async fn fallback_scsv(dialer: &Dialer, results: &[VersionResult]) -> Option<bool> {
    let tls13 = &results[5];
    let accepted = results
        .iter()
        .filter(|r| r.outcome == ProbeOutcome::Accepted && r.version != ProtocolVersion::Ssl2)
        .count();
    if accepted < 2 {
        return None;
    }
    let r = results
        .iter()
        .rev()
        .filter(|r| {
            r.outcome == ProbeOutcome::Accepted
                && r.version != ProtocolVersion::Ssl2
                && r.version != ProtocolVersion::Tls13
        })
        .nth(usize::from(tls13.outcome != ProbeOutcome::Accepted))?;
    let s = r.suite_codes();
    let groups = groups_for(r.version);
    let spec = HelloSpec {
        version: r.version,
        suites: &s,
        groups: &groups,
        key_shares: Vec::new(),
        fallback: true,
        extra: Vec::new(),
    };
    match dialer
        .exchange(
            &build_hello(dialer.endpoint(), &spec),
            FlightReader::new(Until::ServerHello, dialer.limits().max_response),
        )
        .await
    {
        Ok(f) if f.alert.map(|a| a.1) == Some(86) => Some(true),
        // A TLS 1.3 server that marks the downgraded ServerHello (RFC 8446 §4.1.3) protects
        // clients that speak TLS 1.3 just as well.
        Ok(f) if f.hello.as_ref().is_some_and(|h| h.downgrade_sentinel) => Some(true),
        Ok(f) if f.hello.is_some() => Some(false),
        _ => None,
    }
}

/// The Heartbleed probe (intrusive: a malformed heartbeat) on the highest of TLS 1.0-1.2
/// accepted.
async fn heartbleed(dialer: &Dialer, results: &[VersionResult]) -> Option<Vulnerability> {
    let r = results.iter().rev().find(|r| {
        r.outcome == ProbeOutcome::Accepted
            && matches!(
                r.version,
                ProtocolVersion::Tls10 | ProtocolVersion::Tls11 | ProtocolVersion::Tls12
            )
    })?;
    Some(probe_heartbleed(dialer, r).await)
}

fn fail(
    dialer: &Dialer,
    status: posture_policies::model::Status,
    message: &str,
    code: &'static str,
) -> TlsScan {
    TlsScan {
        facts: TlsFacts::default(),
        connections: dialer.connections(),
        failure: Some(Failed {
            status,
            message: message.to_owned(),
            code,
        }),
    }
}

fn protocol_result(r: &VersionResult) -> ProtocolResult {
    ProtocolResult {
        version: r.version,
        result: r.outcome,
        server_order: None,
        cipher_suites: r
            .accepted
            .iter()
            .map(|id| suites::lookup(*id).map_or_else(|| suites::unknown(*id), |s| s.suite.clone()))
            .collect(),
        detail: r.detail.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    results: &mut [VersionResult],
    orders: &[Option<bool>],
    group_codes: &[u16],
    fallback_scsv: Option<bool>,
    captured: Option<Captured>,
    dialer: &Dialer,
    options: &TlsOptions,
    now: DateTime<Utc>,
) -> TlsFacts {
    let mut protocols: Vec<ProtocolResult> = results.iter().map(protocol_result).collect();
    for (p, order) in protocols.iter_mut().skip(1).zip(orders) {
        p.server_order = *order;
    }
    let legacy: Vec<&ServerFlight> = results
        .iter()
        .filter(|r| !matches!(r.version, ProtocolVersion::Tls13 | ProtocolVersion::Ssl2))
        .flat_map(|r| r.flights.iter())
        .collect();
    let hellos: Vec<&wire::ServerHello> = legacy.iter().filter_map(|f| f.hello.as_ref()).collect();
    let tls13_accepted = results
        .iter()
        .any(|r| r.version == ProtocolVersion::Tls13 && r.outcome == ProbeOutcome::Accepted);

    let mut dh_params: Vec<DhParams> = Vec::new();
    for f in &legacy {
        if let Some(KeyExchange::Dh { prime }) = &f.key_exchange {
            let p = DhParams {
                bits: wire::bit_length(prime),
                known_weak: groups::known_prime(prime).is_some_and(|n| n.starts_with("RFC 2409"))
                    || wire::bit_length(prime) < 1024,
                name: groups::known_prime(prime).map(str::to_owned),
            };
            if !dh_params.contains(&p) {
                dh_params.push(p);
            }
        }
    }
    let mut group_list: Vec<GroupSupport> =
        group_codes.iter().map(|g| groups::support(*g)).collect();
    for f in &legacy {
        if let Some(KeyExchange::Ecdh { group }) = f.key_exchange {
            let g = groups::support(group);
            if !group_list.contains(&g) {
                group_list.push(g);
            }
        }
    }

    let compression = if hellos.is_empty() {
        tls13_accepted.then_some(false)
    } else {
        Some(hellos.iter().any(|h| h.compression == 1))
    };
    let secure_renegotiation =
        (!hellos.is_empty()).then(|| hellos.iter().all(|h| h.secure_renegotiation));
    let sct_extension = hellos.iter().any(|h| h.sct_extension);
    let mut alpn: Vec<String> = Vec::new();
    for a in results
        .iter()
        .flat_map(|r| r.flights.iter())
        .filter_map(|f| f.hello.as_ref().and_then(|h| h.alpn.clone()))
        .chain(captured.as_ref().and_then(|c| c.alpn.clone()))
    {
        if !alpn.contains(&a) {
            alpn.push(a);
        }
    }

    let legacy_chain = legacy
        .iter()
        .find_map(|f| f.certificates.clone())
        .filter(|c| !c.is_empty());
    let sslv2_chain = results
        .iter()
        .flat_map(|r| r.flights.iter())
        .find_map(|f| f.sslv2.as_ref().map(|v| vec![v.certificate.clone()]));
    let chain = captured
        .as_ref()
        .map(|c| c.chain.clone())
        .filter(|c| !c.is_empty())
        .or(legacy_chain)
        .or(sslv2_chain);
    let ocsp_stapled = if captured.is_some() || !legacy.is_empty() {
        Some(
            captured.as_ref().is_some_and(|c| c.ocsp.is_some())
                || legacy.iter().any(|f| f.ocsp_response.is_some()),
        )
    } else {
        None
    };
    let name = dialer.endpoint().server_name().to_owned();
    let certificate =
        chain.and_then(|c| cert::facts(&c, &name, &options.trust, now, u32::from(sct_extension)));

    let vulnerabilities = derive_vulnerabilities(&protocols, &dh_params);
    TlsFacts {
        protocols,
        groups: group_list,
        dh_params,
        certificate,
        ocsp_stapled,
        secure_renegotiation,
        compression,
        fallback_scsv,
        alpn,
        vulnerabilities,
        interception: None,
    }
}

/// The vulnerabilities that follow from what was accepted, without any further probing.
pub fn derive_vulnerabilities(protocols: &[ProtocolResult], dh: &[DhParams]) -> Vec<Vulnerability> {
    let accepted = |v: ProtocolVersion| {
        protocols
            .iter()
            .find(|p| p.version == v && p.result == ProbeOutcome::Accepted)
    };
    let all_suites = || {
        protocols
            .iter()
            .flat_map(|p| p.cipher_suites.iter().map(move |s| (p.version, s)))
    };
    let names = |f: &dyn Fn(&posture_policies::model::CipherSuite) -> bool| -> Vec<String> {
        all_suites()
            .filter(|(_, s)| f(s))
            .map(|(v, s)| format!("{v} {}", s.name))
            .collect()
    };
    // CBC suites accepted in one version (POODLE on SSLv3, BEAST on TLS 1.0).
    let cbc_on = |v: ProtocolVersion| -> Vec<String> {
        accepted(v)
            .map(|p| {
                p.cipher_suites
                    .iter()
                    .filter(|s| s.mode == "cbc")
                    .map(|s| format!("{v} {}", s.name))
                    .collect()
            })
            .unwrap_or_default()
    };
    let entry = |name: &str, hits: Vec<String>, what: &str| Vulnerability {
        name: name.to_owned(),
        vulnerable: !hits.is_empty(),
        detail: if hits.is_empty() {
            format!("no {what}")
        } else {
            hits.join(", ")
        },
    };
    let mut out = vec![
        entry(
            "DROWN",
            accepted(ProtocolVersion::Ssl2)
                .map(|_| vec!["SSLv2 accepted".to_owned()])
                .unwrap_or_default(),
            "SSLv2",
        ),
        entry(
            "POODLE",
            cbc_on(ProtocolVersion::Ssl3),
            "CBC suite on SSLv3",
        ),
        entry(
            "SWEET32",
            names(&|s| s.block_bits == 64),
            "64-bit block cipher",
        ),
        entry(
            "FREAK",
            names(&|s| s.export && s.kex == "RSA"),
            "RSA EXPORT suite",
        ),
        entry("RC4", names(&|s| s.cipher == "RC4"), "RC4 suite"),
        entry(
            "BEAST",
            cbc_on(ProtocolVersion::Tls10),
            "CBC suite on TLS 1.0",
        ),
    ];
    let mut logjam = names(&|s| s.export && s.kex == "DHE");
    logjam.extend(
        dh.iter()
            .filter(|d| d.bits < 1024)
            .map(|d| format!("{}-bit DH group", d.bits)),
    );
    out.push(entry(
        "LOGJAM",
        logjam,
        "EXPORT DHE suite or DH group below 1024 bits",
    ));
    out
}
