//! The agent's configuration file (TOML), strictly checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = posture_agent::config::Config::parse(text, std::path::Path::new("/nonexistent/agent.toml"));
});
