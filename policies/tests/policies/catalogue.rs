use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use posture_policies::PolicySet;
use posture_policies::model::Severity;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// `id -> severity` for every check row of the catalogue (`| ID | fails when | sev | source |`).
fn catalogue() -> BTreeMap<String, Severity> {
    let text = std::fs::read_to_string(workspace().join("docs/standards.md")).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 {
            continue;
        }
        let id = cells[1];
        let looks_like_id = id.contains('-')
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !looks_like_id {
            continue;
        }
        let severity: Severity = match serde_json::from_value(serde_json::json!(cells[3])) {
            Ok(s) => s,
            Err(_) => continue, // the Sources table, whose third column is not a severity
        };
        rows.insert(id.to_owned(), severity);
    }
    rows
}

#[test]
fn the_repository_copy_matches_the_shared_catalogue() {
    let shared = workspace().join("../shared/standards.md");
    let Ok(shared) = std::fs::read_to_string(&shared) else {
        eprintln!("no ../shared/standards.md beside this checkout; comparing with the copy only");
        return;
    };
    let copy = std::fs::read_to_string(workspace().join("docs/standards.md")).unwrap();
    assert!(
        shared == copy,
        "docs/standards.md differs from ../shared/standards.md: update the copy and the policies together"
    );
}

#[test]
fn every_catalogue_check_has_a_policy_with_its_severity() {
    let rows = catalogue();
    assert!(rows.len() >= 55, "parsed only {} rows", rows.len());
    let set = PolicySet::builtin().unwrap();
    for (id, severity) in &rows {
        let check = set.check(id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            check.severity, *severity,
            "{id}: policy severity differs from standards.md"
        );
        assert!(!set.mandated_by(id).is_empty());
    }
    for check in set.checks() {
        assert!(
            rows.contains_key(&check.id),
            "{} is not in standards.md",
            check.id
        );
    }
}

#[test]
fn every_source_of_a_row_includes_its_check() {
    // The "source" column names the standards; each named one that has a file must list the check.
    let text = std::fs::read_to_string(workspace().join("docs/standards.md")).unwrap();
    let set = PolicySet::builtin().unwrap();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 6 || set.check(cells[1]).is_err() {
            continue;
        }
        let mandated: Vec<String> = set
            .mandated_by(cells[1])
            .iter()
            .map(|(s, _)| s.id.clone())
            .collect();
        for source in cells[4].split(',').map(str::trim) {
            let name = source.split_whitespace().next().unwrap_or_default();
            if set.standard(name).is_ok() {
                assert!(
                    mandated.contains(&name.to_owned()),
                    "{}: {name} does not include it",
                    cells[1]
                );
            }
        }
    }
}
