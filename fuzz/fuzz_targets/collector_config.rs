//! The collector's configuration file (TOML), strictly checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = posture_collector::config::Config::parse(text, std::path::Path::new("/nonexistent/collector.toml"));
});
