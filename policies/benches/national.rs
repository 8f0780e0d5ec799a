//! National scoring at scale: 10,000 domains of 200 organisations, 60 findings each
//! (600,000 findings over four standards), scored per domain, rolled up per organisation and
//! nationally. Run with `cargo bench -p posture-policies --bench national`.

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use posture_policies::model::{DomainTarget, Finding, Schema, Severity, Status, Target};
use posture_policies::score::{ScoreContext, Weights, score_all};

const DOMAINS: usize = 10_000;
const FINDINGS_PER_DOMAIN: usize = 60;
const ORGANISATIONS: usize = 200;
const STANDARDS: [&str; 4] = ["NCSC-TLS", "GOVUK-EMAIL", "GOVUK-HTTPS", "NHS-DNS"];

fn findings(now: DateTime<Utc>) -> Vec<Finding> {
    let statuses = [
        Status::Pass,
        Status::Pass,
        Status::Fail,
        Status::Warn,
        Status::Untestable,
        Status::NotApplicable,
    ];
    let severities = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];
    let mut out = Vec::with_capacity(DOMAINS * FINDINGS_PER_DOMAIN);
    for d in 0..DOMAINS {
        let domain = format!("d{d}.org{}.nhs.test", d % ORGANISATIONS);
        for i in 0..FINDINGS_PER_DOMAIN {
            out.push(Finding {
                schema: Schema,
                check: format!("CHECK-{i}"),
                target: Target::Domain(DomainTarget {
                    name: domain.clone(),
                    roles: Vec::new(),
                }),
                domain: domain.clone(),
                status: statuses[(d + i) % statuses.len()],
                severity: severities[i % severities.len()],
                title: String::new(),
                message: String::new(),
                evidence: serde_json::Map::new(),
                remediation: String::new(),
                standards: vec![STANDARDS[i % STANDARDS.len()].to_owned()],
                references: Vec::new(),
                observed_at: now,
                hard_zero: false,
                observation: None,
                policy_digest: None,
            });
        }
    }
    out
}

fn national(c: &mut Criterion) {
    let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
    let findings = findings(now);
    let weights: BTreeMap<String, Weights> = STANDARDS
        .iter()
        .map(|s| ((*s).to_owned(), Weights::default()))
        .collect();
    let ctx = ScoreContext {
        now,
        scan_interval: Duration::hours(24),
    };
    let organisation = |domain: &str| domain.split('.').nth(1).unwrap_or_default().to_owned();
    let mut group = c.benchmark_group("national");
    group.sample_size(10);
    group.bench_function("score_all 10k domains x 60 findings", |b| {
        b.iter(|| score_all(black_box(&findings), organisation, &weights, &ctx));
    });
    group.finish();
}

criterion_group!(benches, national);
criterion_main!(benches);
