//! RDAP answers (RFC 9083) and IANA's RDAP bootstrap file (RFC 9224).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = posture_agent::probe::rdap::parse("example.nhs.uk", data);
    let _ = posture_agent::probe::rdap::Bootstrap::parse(data);
});
