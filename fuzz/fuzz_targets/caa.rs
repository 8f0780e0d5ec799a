//! DNS responses in wire form, read for their CAA records (RFC 8659).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = posture_agent::probe::dns::caa_records(data);
});
