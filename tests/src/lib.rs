//! # posture-lab
//!
//! The test lab and the end-to-end tests across agent and collector. Servers the tests start
//! (TLS, DNS, SMTP, HTTP) bind to loopback on port 0 and return their address; nothing here
//! talks to any other address.
//!
//! - [`dns`]: an authoritative DNS server (hickory-server) serving master-file zones;
//! - [`pki`]: a private PKI and leaves with every defect the TLS checks look for;
//! - [`servers`]: rustls, `openssl s_server`, `gnutls-serv` and scripted peers;
//! - [`scan`]: scan a lab server with the agent's engine and judge it with the policies;
//! - [`web`]: HTTP/HTTPS servers answering as each test's handler says.

pub mod browser;
pub mod demo;
pub mod dns;
pub mod load;
pub mod pki;
pub mod postgres;
pub mod scan;
pub mod scripted_dns;
pub mod servers;
pub mod web;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repository_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map_or_else(|| here.to_owned(), Path::to_owned)
}

/// Every file under `dir` (recursively) whose name ends in `suffix`, sorted.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `promtool check metrics` on a scrape: Ok, or what promtool said. Panics when promtool is
/// missing (`scripts/test.sh` installs Debian's prometheus package).
pub fn promtool_check(scrape: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus; scripts/test.sh does)");
    let written = promtool
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(scrape.as_bytes()));
    let checked = promtool.wait_with_output().map_err(|e| e.to_string())?;
    if let Some(Err(e)) = written {
        return Err(format!("writing to promtool: {e}"));
    }
    if checked.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        ))
    }
}
