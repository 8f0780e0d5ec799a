//! What the collector's benchmark and load harness share: agents' observations made from the
//! recorded example domains, gzip bodies, and latency percentiles.

use std::io::Write;
use std::time::Duration;

/// The observations of `domain` as JSON lines: the `template` observation set (a recorded
/// example) with `from` renamed to `domain`, fresh ids (`TAG-DOMAIN-N`) and scanned now, so
/// nothing is stale when scored.
pub fn observations(template: &str, from: &str, domain: &str, tag: &str) -> Vec<String> {
    let set: serde_json::Value =
        serde_json::from_str(&template.replace(from, domain)).unwrap_or_default();
    set["observations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, o)| {
            let mut o = o.clone();
            o["scan"]["id"] = format!("{tag}-{domain}-{i}").into();
            o["scan"]["finished"] = chrono::Utc::now().to_rfc3339().into();
            o.to_string()
        })
        .collect()
}

/// The recorded example domains: (weak set, its domain), (good set, its domain).
pub fn examples() -> [(String, &'static str); 2] {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    let read = |f: &str| std::fs::read_to_string(format!("{root}{f}")).unwrap_or_default();
    [
        (read("weak-domain.json"), "weak-trust.example"),
        (read("good-domain.json"), "good-trust.example"),
    ]
}

/// The value after `name` on the command line, or `default`.
pub fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

/// `text`, gzip-compressed (fast).
pub fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(text.as_bytes());
    e.finish().unwrap_or_default()
}

/// The `p` (0 to 1) percentile of `sorted` (nearest rank); zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}
