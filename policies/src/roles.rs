//! What a domain is used for, inferred from what its probes found when the user did not say:
//! shared by the agent (which records it) and the collector (which may re-infer it from stored
//! facts). Pure.

use crate::model::{DomainRole, HttpEndpoint, MailFacts, WebFacts};

/// Roles from what was found: a website if anything answered on 80 or 443; receiving mail
/// with MX hosts; non-sending with a null MX or an SPF of just `-all`; sending with any other
/// SPF record.
pub fn infer(web: Option<&WebFacts>, mail: Option<&MailFacts>) -> Vec<DomainRole> {
    let mut roles = Vec::new();
    // Something listens on 80 or 443 if it answered, even badly (an oversized or broken answer).
    let listening = |e: &HttpEndpoint| {
        e.status.is_some()
            || !e.hops.is_empty()
            || e.error_code
                .as_deref()
                .is_some_and(|c| !matches!(c, "refused" | "unreachable"))
    };
    if web.is_some_and(|w| w.endpoints.iter().any(listening)) {
        roles.push(DomainRole::Web);
    }
    if let Some(m) = mail {
        let spf_nothing =
            m.spf.records.len() == 1 && m.spf.records[0].split_whitespace().skip(1).eq(["-all"]);
        if m.null_mx || (m.mx.is_empty() && spf_nothing) {
            roles.push(DomainRole::NonSending);
            return roles;
        }
        if !m.mx.is_empty() {
            roles.push(DomainRole::MailReceiving);
        }
        if !m.spf.records.is_empty() && !spf_nothing {
            roles.push(DomainRole::MailSending);
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SpfFacts;

    #[test]
    fn roles_from_facts() {
        let mail = |mx: bool, spf: &str| MailFacts {
            mx: if mx {
                vec![crate::model::MxFacts {
                    host: "mx.example.test".into(),
                    preference: 10,
                    addresses: vec![],
                    starttls: crate::model::StartTls::Offered,
                }]
            } else {
                vec![]
            },
            spf: SpfFacts {
                records: if spf.is_empty() {
                    vec![]
                } else {
                    vec![spf.into()]
                },
                ..SpfFacts::default()
            },
            ..MailFacts::default()
        };
        assert_eq!(
            infer(None, Some(&mail(true, "v=spf1 mx -all"))),
            [DomainRole::MailReceiving, DomainRole::MailSending]
        );
        assert_eq!(
            infer(None, Some(&mail(false, "v=spf1 -all"))),
            [DomainRole::NonSending]
        );
        assert!(infer(None, Some(&mail(false, ""))).is_empty());
        let web = WebFacts {
            endpoints: vec![HttpEndpoint {
                url: "https://example.test/".into(),
                status: Some(200),
                hops: vec![],
                error: None,
                error_code: None,
                refused_redirect: None,
            }],
            ..WebFacts::default()
        };
        assert_eq!(infer(Some(&web), None), [DomainRole::Web]);
        let refused = WebFacts {
            endpoints: vec![HttpEndpoint {
                url: "https://example.test/".into(),
                status: None,
                hops: vec![],
                error: Some("connection refused".into()),
                error_code: Some("refused".into()),
                refused_redirect: None,
            }],
            ..WebFacts::default()
        };
        assert!(infer(Some(&refused), None).is_empty());
    }
}
