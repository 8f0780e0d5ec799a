//! DKIM key records (RFC 6376 §3.6.1) as the agent parses them from TXT answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = posture_agent::probe::mail::dkim::parse(text);
});
