//! The JSON Schemas of the record (issue 10, item 2): generated from the Rust types with
//! schemars, shipped in `schemas/`, and checked here against the types (the files must be
//! what the types generate; `POSTURE_WRITE_SCHEMAS=1 cargo test -p posture-policies` rewrites
//! them after a change) and against every example file and the findings they give.

use std::path::{Path, PathBuf};

use posture_policies::PolicySet;
use posture_policies::model::{Finding, ObservationSet};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn generated() -> [(&'static str, serde_json::Value); 2] {
    [
        (
            "observation-set.schema.json",
            serde_json::to_value(schemars::schema_for!(ObservationSet)).unwrap(),
        ),
        (
            "finding.schema.json",
            serde_json::to_value(schemars::schema_for!(Finding)).unwrap(),
        ),
    ]
}

#[test]
fn the_shipped_schemas_are_what_the_types_generate() {
    for (name, schema) in generated() {
        let path = root().join("schemas").join(name);
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if std::env::var_os("POSTURE_WRITE_SCHEMAS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let shipped = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            shipped == text,
            "{} is not what the types generate: run POSTURE_WRITE_SCHEMAS=1 cargo test -p posture-policies --test policies schema",
            path.display()
        );
    }
}

#[test]
fn every_example_file_and_its_findings_follow_the_schemas() {
    let [(_, set_schema), (_, finding_schema)] = generated();
    let sets = jsonschema::validator_for(&set_schema).unwrap();
    let findings = jsonschema::validator_for(&finding_schema).unwrap();
    let policies = PolicySet::builtin().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let errors: Vec<String> = sets.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let set: ObservationSet = serde_json::from_value(value).unwrap();
        for f in policies.evaluate_set(&set, None, None) {
            let v = serde_json::to_value(&f).unwrap();
            let errors: Vec<String> = findings.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", f.check);
        }
        checked += 1;
    }
    assert!(checked >= 2, "{checked} example files");
    // The schema can refuse: a wrong version is not a posture/v1 observation set.
    assert!(!sets.is_valid(&serde_json::json!({"schema": "posture/v2", "observations": []})));
    // And it tolerates what a newer agent adds.
    assert!(
        sets.is_valid(&serde_json::json!({"schema": "posture/v1", "observations": [], "extra": 1}))
    );
}
