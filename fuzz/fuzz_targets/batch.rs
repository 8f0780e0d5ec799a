//! An agent's batch as the collector decodes it: JSON lines of posture/v1 observations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = posture_collector::api::parse_batch(data, 1000);
});
