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

/// Issue 15, faults: the collector killed (SIGKILL) in the middle of ingestion and started
/// again on the same PostgreSQL database while 100 agents keep sending: every observation is
/// stored exactly once (batches whose answer was lost come back as duplicates), no agent fails.
#[test]
fn a_collector_killed_during_ingestion_loses_nothing_and_stores_nothing_twice() {
    let name = format!("posture_e2e_kill_{}", std::process::id());
    super::collector::psql(&format!("DROP DATABASE IF EXISTS {name}"));
    super::collector::psql(&format!("CREATE DATABASE {name}"));
    let o = Command::new(env!("CARGO_BIN_EXE_posture-load"))
        .args(["--agents", "100", "--batches", "3", "--kill-after", "2"])
        .args([
            "--database",
            &format!("postgres://postgres@127.0.0.1:5432/{name}"),
        ])
        .args(["--max-seconds", "300"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    super::collector::psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("collector killed at 2 s and started again"),
        "{out}"
    );
    assert!(out.contains("stored 1200 of 1200 observations"), "{out}");
    assert!(out.contains("errors: 0;"), "{out}");
}
