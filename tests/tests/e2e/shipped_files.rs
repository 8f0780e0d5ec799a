use posture_lab::{files_with_suffix, repository_root};
use posture_policies::model::{Observation, ObservationSet};

#[test]
fn every_example_observation_set_parses_and_round_trips() {
    let files = files_with_suffix(&repository_root().join("examples"), ".json");
    assert!(files.len() >= 2, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let set: ObservationSet =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let again: ObservationSet =
            serde_json::from_value(serde_json::to_value(&set).unwrap()).unwrap();
        assert_eq!(set, again, "{}", file.display());
    }
}

#[test]
fn every_policy_fixture_is_an_observation() {
    let files = files_with_suffix(
        &repository_root().join("policies/standards/fixtures"),
        ".json",
    );
    assert_eq!(files.len(), 4);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let _: Observation =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

#[test]
fn an_unknown_key_in_an_example_is_rejected() {
    let file = repository_root().join("examples/good-domain.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v["observations"][0]["dns"]["nameservrs"] = serde_json::json!([]);
    let err = serde_json::from_value::<ObservationSet>(v)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nameservrs"), "{err}");
}
