//! security.txt files (RFC 9116), with any status and content type.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&head, body)) = data.split_first() else {
        return;
    };
    let status = if head & 1 == 0 { 200 } else { 404 };
    let kind = match head >> 1 & 3 {
        0 => None,
        1 => Some("text/plain; charset=utf-8"),
        2 => Some("text/html"),
        _ => Some("text/plain"),
    };
    let _ = posture_agent::probe::web::parse::security_txt(status, kind, body);
});
