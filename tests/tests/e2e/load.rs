//! The load harness itself works (its full run, 1,000 agents on SQLite and PostgreSQL, is
//! `scripts/load.sh`, a release build): 100 agents at once against a collector process, every
//! observation accepted exactly once, no agent failing.

use std::process::Command;

#[test]
fn a_hundred_agents_at_once_are_all_accepted_once() {
    let o = Command::new(env!("CARGO_BIN_EXE_posture-load"))
        .args(["--agents", "100", "--batches", "2", "--max-seconds", "300"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("accepted 800 of 800 observations"), "{out}");
    assert!(out.contains("errors: 0;"), "{out}");
}
