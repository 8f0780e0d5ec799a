use crate::{agent, root, stderr, stdout};

/// The agent's example configurations (`collector.toml` is the collector's, checked by its
/// own crate).
fn example_configs() -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| !p.ends_with("collector.toml"))
        .collect();
    found.sort();
    found
}

#[test]
fn every_example_configuration_is_accepted() {
    let configs = example_configs();
    assert!(!configs.is_empty());
    for path in configs {
        let o = agent(&["config", "check", path.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
        assert!(stdout(&o).contains(": OK"), "{}", stdout(&o));
    }
}

#[test]
fn the_shipped_example_says_what_it_sets() {
    let o = agent(&["config", "check", "examples/agent.toml"]);
    let text = stdout(&o);
    assert!(text.contains("192.0.2.53:53, [2001:db8::53]:53"), "{text}");
    assert!(
        text.contains("IANA bootstrap shipped with the agent (1201 suffixes, published 2026-09-30"),
        "{text}"
    );
    assert!(text.contains("private registries: nhs.uk"), "{text}");
    assert!(
        text.contains(
            "collector:          https://collector.example.nhs.uk:8443 (CA public roots;"
        ) && text.contains(
            "schedule:           every 21600s, up to 900s later at random; heartbeat every 300s"
        ) && text.contains("spool:              /var/lib/posture-agent (at most 256 MiB)"),
        "{text}"
    );
    assert!(
        text.contains("budget 120s per endpoint and 120s per domain, 3 per host, 32 in all"),
        "{text}"
    );
    assert!(text.contains("internal networks:  198.18.0.0/15"), "{text}");
    assert!(
        text.contains("interception CAs:   Forcepoint, Zscaler"),
        "{text}"
    );
}

/// Issue 10, item 6: `config check` prints the settings `scan --config FILE` resolves, the
/// defaults included, each written once in the code.
#[test]
fn config_check_prints_the_defaults_a_file_leaves_in_place() {
    let dir = std::env::temp_dir().join(format!("posture-cli-defaults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("minimal.toml");
    std::fs::write(&file, "organisation = \"RX1\"\n").unwrap();
    let o = agent(&["config", "check", file.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    for line in [
        "organisation:       RX1",
        "standards from:     the built-in standards",
        "resolvers:          the system resolver",
        "nameservers asked:  on port 53",
        "private registries: nhs.uk",
        "limits:             connect 5s, read 8s, budget 120s per endpoint and 300s per domain, 3 per host, 32 in all",
        "extra CAs:          (none: the Mozilla roots)",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Convention 7: the same file with an unknown key injected, at the top and in each of its
/// sections, is refused, and the error names the file and the key.
#[test]
fn an_unknown_key_anywhere_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("posture-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for path in example_configs() {
        let text = std::fs::read_to_string(&path).unwrap();
        // (header line, the key an unknown key under it is named by): `[s]` gives `s.KEY`,
        // the first `[[g]]` gives `g[0].KEY`.
        let sections: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                if let Some(array) = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
                    return Some((l.to_owned(), format!("{array}[0]")));
                }
                let name = l.strip_prefix('[')?.strip_suffix(']')?;
                Some((l.to_owned(), name.to_owned()))
            })
            .collect();
        assert!(!sections.is_empty(), "{}", path.display());
        let mut variants = vec![(format!("surprise = 1\n{text}"), "surprise".to_owned())];
        for (header, key) in &sections {
            variants.push((
                text.replacen(
                    &format!("{header}\n"),
                    &format!("{header}\nsurprise = 1\n"),
                    1,
                ),
                format!("{key}.surprise"),
            ));
        }
        for (i, (bad, key)) in variants.iter().enumerate() {
            let file = dir.join(format!("bad-{i}.toml"));
            std::fs::write(&file, bad).unwrap();
            let o = agent(&["config", "check", file.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(64), "{key}: {}", stdout(&o));
            let err = stderr(&o);
            assert!(
                err.contains(&format!("bad-{i}.toml: {key}: unknown field `surprise`")),
                "{key}: {err}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_is_missing_input_and_a_scan_without_targets_a_usage_error() {
    // A file that is not there is missing input (66, issue 10 item 11), not bad usage.
    let o = agent(&["config", "check", "examples/no-such.toml"]);
    assert_eq!(o.status.code(), Some(66));
    assert!(
        stderr(&o).contains("examples/no-such.toml"),
        "{}",
        stderr(&o)
    );
    let o = agent(&["scan"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("at least one TARGET"), "{}", stderr(&o));
}
