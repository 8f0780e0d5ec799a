//! DMARC records (RFC 7489) as the agent parses them from TXT answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = posture_agent::probe::mail::dmarc::parse(text);
});
