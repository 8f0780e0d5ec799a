//! Certificates, as every probe that meets one needs them: a rustls client configuration whose
//! verifier records the chain (TLS 1.3 encrypts it, so our own hellos cannot see it), the trust
//! store (the Mozilla roots plus any CA bundle the user names), and the judging of a chain:
//! parsed with x509-parser and validated with webpki.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use posture_policies::model::{CertificateFacts, CertificateInfo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// The chain (leaf first) and the OCSP response the verifier was shown.
pub type Seen = (Vec<Vec<u8>>, Vec<u8>);

/// Where a recording verifier leaves what it saw.
pub type SeenSlot = Arc<Mutex<Option<Seen>>>;

#[derive(Debug)]
struct Recorder {
    seen: SeenSlot,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((chain, ocsp_response.to_vec()));
        }
        // Judging the chain is done afterwards, with the results reported rather than enforced.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls client configuration whose verifier accepts any chain and records it (with any
/// OCSP staple) in the returned slot, for judging afterwards.
pub fn recording_config(alpn: &[&str]) -> Result<(rustls::ClientConfig, SeenSlot), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen: SeenSlot = Arc::new(Mutex::new(None));
    let recorder = Arc::new(Recorder {
        seen: seen.clone(),
        provider: provider.clone(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.enable_sni = true;
    Ok((config, seen))
}

/// The rustls name for a host name or address.
pub fn server_name(name: &str) -> ServerName<'static> {
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(name.to_owned()).unwrap_or_else(|_| {
            ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into())
        }),
    }
}

/// Trust anchors: the Mozilla roots, plus the organisation's own.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    extra: Vec<TrustAnchor<'static>>,
    public_override: Option<Vec<TrustAnchor<'static>>>,
}

impl TrustStore {
    /// Add the CA certificates of a PEM bundle.
    pub fn with_pem_bundle(mut self, path: &std::path::Path) -> Result<TrustStore, String> {
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "{}: no PEM certificate in the file",
                path.display()
            ));
        }
        for c in certs {
            self = self.with_der(c.as_ref())?;
        }
        Ok(self)
    }

    /// Add one CA certificate (DER).
    pub fn with_der(mut self, der: &[u8]) -> Result<TrustStore, String> {
        let cert = CertificateDer::from(der.to_vec());
        let anchor = webpki::anchor_from_trusted_cert(&cert)
            .map_err(|e| format!("not a usable CA certificate: {e:?}"))?;
        self.extra.push(anchor.to_owned());
        Ok(self)
    }

    /// Use these roots instead of the Mozilla set as the "public" ones (those that make a
    /// certificate publicly trusted, where Certificate Transparency applies): for an isolated
    /// deployment with its own root programme, and for the test lab.
    pub fn with_public_root_der(mut self, der: &[u8]) -> Result<TrustStore, String> {
        let cert = CertificateDer::from(der.to_vec());
        let anchor = webpki::anchor_from_trusted_cert(&cert)
            .map_err(|e| format!("not a usable CA certificate: {e:?}"))?;
        self.public_override
            .get_or_insert_with(Vec::new)
            .push(anchor.to_owned());
        Ok(self)
    }

    fn public(&self) -> &[TrustAnchor<'static>] {
        self.public_override
            .as_deref()
            .unwrap_or(webpki_roots::TLS_SERVER_ROOTS)
    }
}

/// Judge a chain: parse each certificate, validate, match the name.
pub fn facts(
    chain: &[Vec<u8>],
    name: &str,
    trust: &TrustStore,
    now: DateTime<Utc>,
    sct_outside_cert: u32,
) -> Option<CertificateFacts> {
    let leaf_der = chain.first()?;
    let infos: Vec<CertificateInfo> = chain.iter().filter_map(|der| info(der)).collect();
    if infos.len() != chain.len() {
        return Some(CertificateFacts {
            chain: infos,
            trusted: Some(false),
            trust_error: Some("a certificate in the chain does not parse".into()),
            publicly_trusted: false,
            name_checked: name.to_owned(),
            name_matches: None,
            chain_complete: None,
            chain_ordered: None,
            chain_includes_root: false,
            sct_count: sct_outside_cert,
        });
    }
    let leaf = CertificateDer::from(leaf_der.clone());
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now.timestamp()).unwrap_or(0),
    ));
    let (trusted, publicly_trusted, trust_error) = match webpki::EndEntityCert::try_from(&leaf) {
        Err(e) => (
            false,
            false,
            Some(format!("the leaf certificate is not usable: {e:?}")),
        ),
        Ok(ee) => {
            let verify = |anchors: &[TrustAnchor<'_>]| {
                ee.verify_for_usage(
                    webpki::ALL_VERIFICATION_ALGS,
                    anchors,
                    &intermediates,
                    time,
                    webpki::KeyUsage::server_auth(),
                    None,
                    None,
                )
                .map(|_| ())
            };
            match verify(trust.public()) {
                Ok(()) => (true, true, None),
                Err(public_error) if !trust.extra.is_empty() => match verify(&trust.extra) {
                    Ok(()) => (true, false, None),
                    Err(e) => (
                        false,
                        false,
                        Some(explain_webpki(&e, &public_error, &infos)),
                    ),
                },
                Err(e) => (false, false, Some(explain_webpki(&e, &e, &infos))),
            }
        }
    };
    let name_matches = webpki::EndEntityCert::try_from(&leaf).ok().map(|ee| {
        ee.verify_is_valid_for_subject_name(&server_name(name))
            .is_ok()
    });
    let ordered = infos.windows(2).all(|w| w[0].issuer == w[1].subject);
    let last = infos.last()?;
    let anchored_by_known = trust
        .public()
        .iter()
        .chain(trust.extra.iter())
        .any(|a| dn_matches(a.subject.as_ref(), last));
    let complete = trusted || last.self_signed || anchored_by_known;
    let includes_root = infos.iter().skip(1).any(|c| c.self_signed && c.is_ca);
    let embedded = infos.first().map_or(0, |c| c.embedded_scts);
    Some(CertificateFacts {
        chain: infos,
        trusted: Some(trusted),
        trust_error,
        publicly_trusted,
        name_checked: name.to_owned(),
        name_matches,
        chain_complete: Some(complete),
        chain_ordered: Some(ordered),
        chain_includes_root: includes_root,
        sct_count: embedded + sct_outside_cert,
    })
}

/// Whether a trust anchor's subject (DER of the Name's contents) is the certificate's issuer.
fn dn_matches(anchor_subject: &[u8], cert: &CertificateInfo) -> bool {
    // Wrap the anchor's subject contents back into a SEQUENCE to parse it as a Name.
    let mut der = vec![0x30];
    let len = anchor_subject.len();
    if len < 0x80 {
        der.push(u8::try_from(len).unwrap_or(0));
    } else if len < 0x100 {
        der.extend_from_slice(&[0x81, u8::try_from(len).unwrap_or(0)]);
    } else {
        der.push(0x82);
        der.extend_from_slice(&u16::try_from(len).unwrap_or(0).to_be_bytes());
    }
    der.extend_from_slice(anchor_subject);
    x509_parser::x509::X509Name::from_der(&der)
        .map(|(_, n)| n.to_string() == cert.issuer)
        .unwrap_or(false)
}

/// Why a chain does not validate, in words that point at the fix. `chain` is what the server
/// sent, leaf first.
fn explain_webpki(e: &webpki::Error, public: &webpki::Error, chain: &[CertificateInfo]) -> String {
    use webpki::Error as E;
    let text = match e {
        E::CertExpired { .. } => "a certificate in the chain has expired".to_owned(),
        E::CertNotValidYet { .. } => "a certificate in the chain is not valid yet".to_owned(),
        E::UnknownIssuer => unknown_issuer(chain),
        E::UnsupportedSignatureAlgorithmContext(_) | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "signed with an algorithm no longer accepted (SHA-1, MD5, or an RSA key below 2048 bits)".to_owned()
        }
        E::InvalidSignatureForPublicKey => "a signature in the chain does not verify".to_owned(),
        E::CaUsedAsEndEntity => {
            let leaf = chain.first();
            format!(
                "the server presents a CA certificate{} as its own: issue a server certificate (CA:FALSE, for server authentication) from that CA or a trusted one, and serve it with its chain",
                leaf.map(|c| format!(
                    " ({}{})",
                    c.subject,
                    if c.self_signed { ", self-signed" } else { "" }
                ))
                .unwrap_or_default()
            )
        }
        E::RequiredEkuNotFoundContext(_) => "the certificate is not for server authentication".to_owned(),
        other => format!("{other:?}"),
    };
    if std::mem::discriminant(e) == std::mem::discriminant(public) {
        text
    } else {
        format!("{text} (against public roots: {public:?})")
    }
}

/// What "unknown issuer" means for this chain: a self-signed certificate, a root nobody
/// trusts, or an issuer that leads to no trusted root. It cannot tell a missing intermediate of
/// a trusted CA from an unknown CA (TLS-CERT-CHAIN says whether the chain is complete), so it
/// never claims the first.
fn unknown_issuer(chain: &[CertificateInfo]) -> String {
    match chain {
        [only] if only.self_signed => format!(
            "the certificate is self-signed ({}): no client trusts it; use one issued by a trusted CA",
            only.subject
        ),
        [.., last] if last.self_signed => format!(
            "issued by an unknown or untrusted CA: the chain ends at the root {}, which is not trusted",
            last.subject
        ),
        [.., last] => format!(
            "issued by an unknown or untrusted CA: {} is not a trusted root and nothing sent leads to one",
            last.issuer
        ),
        [] => "issued by an unknown or untrusted CA".to_owned(),
    }
}

/// Parse one certificate into the facts policies read.
pub fn info(der: &[u8]) -> Option<CertificateInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        sans.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let (key_type, key_bits) = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(k)) => {
            ("rsa", u32::try_from(k.key_size()).unwrap_or(0))
        }
        Ok(x509_parser::public_key::PublicKey::EC(k)) => {
            ("ec", u32::try_from(k.key_size()).unwrap_or(0))
        }
        Ok(x509_parser::public_key::PublicKey::DSA(y)) => {
            ("dsa", u32::try_from(y.len() * 8).unwrap_or(0))
        }
        _ => match cert
            .public_key()
            .algorithm
            .algorithm
            .to_id_string()
            .as_str()
        {
            "1.3.101.112" => ("ed25519", 256),
            "1.3.101.113" => ("ed448", 456),
            _ => ("unknown", 0),
        },
    };
    let (signature_algorithm, signature_hash) =
        signature_name(&cert.signature_algorithm.algorithm.to_id_string());
    let mut embedded_scts = 0;
    let mut must_staple = false;
    let mut is_ca = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SCT(list) => embedded_scts = u32::try_from(list.len()).unwrap_or(0),
            ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
            _ => {}
        }
        if ext.oid.to_id_string() == "1.3.6.1.5.5.7.1.24" {
            must_staple = true;
        }
    }
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    Some(CertificateInfo {
        self_signed: subject == issuer,
        subject,
        issuer,
        serial: cert.tbs_certificate.raw_serial_as_string().replace(':', ""),
        sans,
        not_before: DateTime::from_timestamp(cert.validity().not_before.timestamp(), 0)?,
        not_after: DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)?,
        key_type: key_type.to_owned(),
        key_bits,
        signature_algorithm: signature_algorithm.to_owned(),
        signature_hash: signature_hash.to_owned(),
        is_ca,
        embedded_scts,
        must_staple,
        fingerprint_sha256: hex(&Sha256::digest(der)),
    })
}

/// Signature algorithm OIDs (RFC 8017 Appendix C, RFC 5758 §3.2, RFC 8410, RFC 3279).
fn signature_name(oid: &str) -> (&'static str, &'static str) {
    match oid {
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", "MD2"),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", "MD5"),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", "SHA1"),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", "SHA256"),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", "SHA384"),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", "SHA512"),
        "1.2.840.113549.1.1.14" => ("sha224WithRSAEncryption", "SHA224"),
        "1.2.840.113549.1.1.10" => ("rsassaPss", "SHA256"),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", "SHA1"),
        "1.2.840.10045.4.3.1" => ("ecdsa-with-SHA224", "SHA224"),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", "SHA256"),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", "SHA384"),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", "SHA512"),
        "1.3.101.112" => ("Ed25519", "none"),
        "1.3.101.113" => ("Ed448", "none"),
        "1.2.840.10040.4.3" => ("dsa-with-sha1", "SHA1"),
        "2.16.840.1.101.3.4.3.2" => ("dsa-with-sha256", "SHA256"),
        _ => ("unknown", "unknown"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
