use std::path::{Path, PathBuf};

use posture_policies::{Error, PolicySet};

fn standards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("standards")
}

fn copy_standards(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("posture-lint-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(standards_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn builtin_policies_load_and_every_example_holds() {
    let set = PolicySet::builtin().unwrap_or_else(|e| panic!("{e}"));
    let report = set.lint().unwrap_or_else(|e| panic!("{e}"));
    assert!(report.examples >= 2 * report.checks, "{report:?}");
    assert_eq!(report.standards, 13);
}

#[test]
fn the_directory_and_the_builtin_copy_agree() {
    let from_dir = PolicySet::load_dir(&standards_dir()).unwrap_or_else(|e| panic!("{e}"));
    let builtin = PolicySet::builtin().unwrap();
    let ids = |s: &PolicySet| {
        s.standards()
            .iter()
            .map(|s| (s.id.clone(), s.checks.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&from_dir),
        ids(&builtin),
        "a file in policies/standards is missing from rules/builtin.rs"
    );
}

#[test]
fn a_broken_condition_is_rejected_naming_file_rule_and_key() {
    let dir = copy_standards("broken");
    let file = dir.join("NCSC-TLS.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = text.replacen(
        "if: \"size(evidence.accepted) > 0\"",
        "if: \"size(evidence.accepted) > \"",
        1,
    );
    assert_ne!(text, broken);
    std::fs::write(&file, broken).unwrap();
    let err = PolicySet::load_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("NCSC-TLS.yaml"), "{err}");
    assert!(err.contains("rule TLS-PROTO-SSL"), "{err}");
    assert!(err.contains("when[0].if"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_key_and_a_wrong_example_are_rejected() {
    let dir = copy_standards("unknown");
    let file = dir.join("MOZ-INT.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replacen(
        "    severity: low\n",
        "    severity: low\n    sevrity: high\n",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let err = PolicySet::load_dir(&dir).unwrap_err().to_string();
    assert!(
        err.contains("MOZ-INT.yaml: rule TLS-CIPHER-CBC") && err.contains("sevrity"),
        "{err}"
    );

    let dir = copy_standards("example");
    let file = dir.join("RFC.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replacen(
        "patch: {tls: {compression: true}}",
        "patch: {tls: {compression: false}}",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let set = PolicySet::load_dir(&dir).unwrap();
    let err = set.lint().unwrap_err();
    let all: Vec<String> = err.flatten().iter().map(ToString::to_string).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].contains("rule TLS-COMPRESSION")
            && all[0].contains("expected fail but the check gives pass"),
        "{all:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_check_names_suggest_close_ones() {
    let set = PolicySet::builtin().unwrap();
    match set.check("TLS-PROTO-LEGASY") {
        Err(Error::Unknown { suggestions, .. }) => {
            assert!(suggestions.contains(&"TLS-PROTO-LEGACY".to_owned()))
        }
        other => panic!("{other:?}"),
    }
}

/// Observations tolerate unknown fields (issue 10, item 2), so an example whose patch misspells
/// a key would silently test nothing; lint names the key instead.
#[test]
fn a_misspelt_key_in_an_example_patch_is_named() {
    let dir = copy_standards("misspelt");
    let file = dir.join("RFC.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replacen(
        "patch: {tls: {compression: true}}",
        "patch: {tls: {compresion: true}}",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let set = PolicySet::load_dir(&dir).unwrap();
    let err = set.lint().unwrap_err();
    let all: Vec<String> = err.flatten().iter().map(ToString::to_string).collect();
    assert!(
        all.iter()
            .any(|e| e.contains("rule TLS-COMPRESSION") && e.contains("tls.compresion")),
        "{all:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a collector hands its agents (each file's name and text) makes the same set, with the
/// same digest, on the agent's side.
#[test]
fn a_policy_set_rebuilt_from_its_files_has_the_same_digest() {
    let set = posture_policies::PolicySet::builtin().unwrap();
    assert!(set.sources().len() >= 10);
    let again = posture_policies::PolicySet::from_files(set.sources().to_vec()).unwrap();
    assert_eq!(again.digest(), set.digest());
    assert_eq!(again.standards().len(), set.standards().len());
    let mut edited = set.sources().to_vec();
    edited[0].1.push_str("\n# edited\n");
    let other = posture_policies::PolicySet::from_files(edited).unwrap();
    assert_ne!(other.digest(), set.digest());
}
