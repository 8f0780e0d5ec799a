//! The README's command reference is what `--help` says (issue 10): every option each command
//! takes is in the README's block for that command, and every option the README names exists.

use std::collections::BTreeSet;

use crate::{agent, root, stdout};

/// The options `posture-agent ARGS --help` lists, long names with their short aliases.
fn help_options(args: &[&str]) -> BTreeSet<(String, Option<String>)> {
    let mut with_help: Vec<&str> = args.to_vec();
    with_help.push("--help");
    let text = stdout(&agent(&with_help));
    text.lines()
        .filter_map(|line| {
            let t = line.trim_start();
            let (short, rest) = match t.strip_prefix('-') {
                Some(r) if !r.starts_with('-') => (Some(format!("-{}", &r[..1])), t.get(4..)?),
                _ => (None, t),
            };
            let long = rest.strip_prefix("--")?;
            let name: String = long
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty()).then(|| (format!("--{name}"), short))
        })
        .filter(|(long, _)| long != "--help" && long != "--version")
        .collect()
}

/// The options the README's command block names for the command whose line starts `head`.
fn readme_options(head: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## The agent's commands")
        .nth(1)
        .unwrap()
        .split("### ")
        .next()
        .unwrap();
    let block = section.split("```").nth(1).unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for line in block.lines() {
        if line.starts_with("posture-agent ") {
            inside = line.starts_with(head);
        }
        if inside {
            lines.push(line);
        }
    }
    let words = |text: &str| -> BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with('-') && w.len() > 1)
            .map(str::to_owned)
            .collect()
    };
    // Options every command takes are named once, after the block.
    let common = section.split("```").nth(2).unwrap_or_default();
    (words(&lines.join("\n")), words(common))
}

#[test]
fn the_readme_command_reference_matches_help() {
    for (head, args) in [
        ("posture-agent scan", vec!["scan"]),
        ("posture-agent config check", vec!["config", "check"]),
        ("posture-agent explain", vec!["explain"]),
        ("posture-agent evaluate", vec!["evaluate"]),
        ("posture-agent policy lint", vec!["policy", "lint"]),
    ] {
        let help = help_options(&args);
        assert!(
            !help.is_empty() || head.contains("config"),
            "{head}: no options read"
        );
        let (readme, common) = readme_options(head);
        for (long, short) in &help {
            let named = readme.contains(long)
                || common.contains(long)
                || short.as_ref().is_some_and(|s| readme.contains(s));
            assert!(named, "{head}: {long} is in --help but not in the README");
        }
        for word in &readme {
            let known = help
                .iter()
                .any(|(long, short)| long == word || short.as_deref() == Some(word.as_str()));
            assert!(
                known,
                "{head}: the README names {word}, which --help does not know"
            );
        }
    }
}
