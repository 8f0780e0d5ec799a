//! What a web server's headers say: Strict-Transport-Security (RFC 6797), Set-Cookie and the
//! banners (Server, X-Powered-By, ...).
#![no_main]

use libfuzzer_sys::fuzz_target;
use posture_agent::probe::web::parse;

fuzz_target!(|text: &str| {
    let _ = parse::hsts(text);
    let _ = parse::cookie(text);
    let headers: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let _ = parse::banners(&headers);
});
