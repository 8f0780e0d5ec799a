//! MTA-STS (RFC 8461): the TXT record and the policy file a web server sends.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = posture_agent::probe::mail::mtasts::parse_record(text);
    let _ = posture_agent::probe::mail::mtasts::parse_policy(text);
});
