//! The standards and fixtures compiled into the binary, so `explain` and `evaluate` work
//! without a checkout. A test checks this list against the directory.

use super::Kind;

/// `(file name, contents)` of every file in `policies/standards`.
pub(crate) const STANDARDS: &[(&str, &str)] = &[
    (
        "BOD-18-01.yaml",
        include_str!("../../standards/BOD-18-01.yaml"),
    ),
    ("CAF.yaml", include_str!("../../standards/CAF.yaml")),
    (
        "GOVUK-DOMAINS.yaml",
        include_str!("../../standards/GOVUK-DOMAINS.yaml"),
    ),
    (
        "GOVUK-EMAIL.yaml",
        include_str!("../../standards/GOVUK-EMAIL.yaml"),
    ),
    (
        "GOVUK-HTTPS.yaml",
        include_str!("../../standards/GOVUK-HTTPS.yaml"),
    ),
    (
        "GOVUK-NOSEND.yaml",
        include_str!("../../standards/GOVUK-NOSEND.yaml"),
    ),
    ("MOZ-INT.yaml", include_str!("../../standards/MOZ-INT.yaml")),
    (
        "NCSC-TLS.yaml",
        include_str!("../../standards/NCSC-TLS.yaml"),
    ),
    ("NHS-DNS.yaml", include_str!("../../standards/NHS-DNS.yaml")),
    (
        "NHS-EMAIL.yaml",
        include_str!("../../standards/NHS-EMAIL.yaml"),
    ),
    ("NHS-WEB.yaml", include_str!("../../standards/NHS-WEB.yaml")),
    (
        "POSTURE-INFO.yaml",
        include_str!("../../standards/POSTURE-INFO.yaml"),
    ),
    ("RFC.yaml", include_str!("../../standards/RFC.yaml")),
];

/// The fixture observation per kind, in `policies/standards/fixtures`.
pub(crate) const FIXTURES: &[(Kind, &str)] = &[
    (Kind::Tls, include_str!("../../standards/fixtures/tls.json")),
    (Kind::Web, include_str!("../../standards/fixtures/web.json")),
    (Kind::Dns, include_str!("../../standards/fixtures/dns.json")),
    (
        Kind::Mail,
        include_str!("../../standards/fixtures/mail.json"),
    ),
];
