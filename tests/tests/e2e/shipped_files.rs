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
fn an_unknown_key_is_tolerated_by_readers_and_never_shipped() {
    // Readers tolerate fields they do not know (a newer agent's, issue 10 item 2)...
    let file = repository_root().join("examples/good-domain.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v["observations"][0]["dns"]["nameservrs"] = serde_json::json!(["ns.example.test"]);
    let set: ObservationSet = serde_json::from_value(v.clone()).unwrap();
    // ...and what they dropped can be named, which keeps the shipped files exact.
    let known = serde_json::to_value(&set).unwrap();
    assert_eq!(
        posture_policies::model::unknown_keys(&v, &known, ""),
        ["observations[0].dns.nameservrs"]
    );
    for file in files_with_suffix(&repository_root().join("examples"), ".json") {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let set: ObservationSet = serde_json::from_value(v.clone()).unwrap();
        let known = serde_json::to_value(&set).unwrap();
        let unknown = posture_policies::model::unknown_keys(&v, &known, "");
        assert!(unknown.is_empty(), "{}: {unknown:?}", file.display());
    }
}

/// The agent's systemd unit keeps the exposure `systemd-analyze security` rates at 2.0 or
/// below (the README gives the figure), and names the binary and configuration the README does.
#[test]
fn the_agent_unit_is_locked_down() {
    let unit = repository_root().join("packaging/posture-agent.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(
            "ExecStart=/usr/local/bin/posture-agent run --config /etc/posture/agent.toml"
        )
    );
    for key in [
        "DynamicUser=yes",
        "StateDirectory=posture-agent",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(text.contains(key), "{key}");
    }
    let o = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian's systemd package)");
    let out = String::from_utf8_lossy(&o.stdout);
    let level: f64 = out
        .lines()
        .find_map(|l| l.split("posture-agent.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}{}", String::from_utf8_lossy(&o.stderr)));
    assert!(level <= 2.0, "exposure {level}: {out}");
}

/// The metric names (histogram series by their family's name) the shipped rules and
/// dashboards query, each with the file that queries it.
pub(crate) fn queried_metrics() -> std::collections::BTreeMap<String, String> {
    let root = repository_root().join("dashboards");
    let mut files = files_with_suffix(&root.join("grafana"), ".json");
    files.push(root.join("prometheus/posture.rules.yml"));
    let mut out = std::collections::BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for word in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("posture_"))
        {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| word.strip_suffix(s))
                .unwrap_or(word);
            out.entry(base.to_owned())
                .or_insert_with(|| file.display().to_string());
        }
    }
    out
}

/// The Prometheus rules: promtool checks them and runs their unit tests (each alert fires when
/// it should and not before), and every metric they query is one the collector exports.
#[test]
fn the_prometheus_rules_check_pass_their_tests_and_query_real_metrics() {
    let dir = repository_root().join("dashboards/prometheus");
    for args in [
        ["check", "rules", "posture.rules.yml"],
        ["test", "rules", "posture.rules.test.yml"],
    ] {
        let o = std::process::Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
        assert!(
            o.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let rules = std::fs::read_to_string(dir.join("posture.rules.yml")).unwrap();
    let mut queried: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("posture_"))
        .collect();
    queried.sort_unstable();
    queried.dedup();
    assert!(queried.len() >= 5, "{queried:?}");
    for name in queried {
        assert!(
            posture_collector::metrics::NAMES.contains(&name),
            "{name} is queried by a rule but the collector does not export it"
        );
    }
}

/// The Grafana dashboards: each parses, has a unique uid, unique panel ids, a `datasource`
/// variable every panel uses, and queries only metrics the collector exports.
#[test]
fn the_grafana_dashboards_are_well_formed_and_query_real_metrics() {
    let files = files_with_suffix(&repository_root().join("dashboards/grafana"), ".json");
    assert!(files.len() >= 3, "{files:?}");
    let mut uids = std::collections::BTreeSet::new();
    for file in files {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let uid = d["uid"].as_str().unwrap().to_owned();
        assert!(
            uids.insert(uid.clone()),
            "{}: uid {uid} twice",
            file.display()
        );
        assert!(
            d["templating"]["list"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
            "{}",
            file.display()
        );
        let panels = d["panels"].as_array().unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for p in panels {
            assert!(
                ids.insert(p["id"].as_u64().unwrap()),
                "{}: panel id twice",
                file.display()
            );
            assert_eq!(
                p["datasource"]["uid"],
                "${datasource}",
                "{}",
                file.display()
            );
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                let names: Vec<&str> = expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("posture_"))
                    .collect();
                assert!(!names.is_empty(), "{}: {expr}", file.display());
                for name in names {
                    let base = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .unwrap_or(name);
                    assert!(
                        posture_collector::metrics::NAMES.contains(&base),
                        "{}: {name} is not exported by the collector",
                        file.display()
                    );
                }
            }
        }
    }
}
