use crate::{agent, root, stderr, stdout};

#[test]
fn lint_of_the_shipped_standards_passes() {
    let o = agent(&["policy", "lint", "policies/standards"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("OK: 13 standards, 56 checks"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn lint_names_the_rule_whose_condition_is_broken() {
    let dir = std::env::temp_dir().join(format!("posture-cli-lint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(root().join("policies/standards")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let file = dir.join("GOVUK-EMAIL.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = text.replacen(
        "if: \"mail.dmarc.policy == 'none'\"",
        "if: \"mail.dmarc.policy == 'none' &&\"",
        1,
    );
    assert_ne!(text, broken);
    std::fs::write(&file, broken).unwrap();

    let o = agent(&["policy", "lint", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("GOVUK-EMAIL.yaml: rule MAIL-DMARC-POLICY: when[1].if"),
        "{err}"
    );
    assert!(err.contains("does not compile as CEL"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lint_of_a_missing_directory_is_no_input() {
    let o = agent(&["policy", "lint", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(66));
    assert!(stderr(&o).contains("no/such/dir"));
}
