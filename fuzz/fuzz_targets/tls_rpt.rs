//! SMTP TLS reporting records (RFC 8460) as the agent parses them from TXT answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = posture_agent::probe::mail::tlsrpt::parse(text);
});
