//! A server's first flight as the agent reads it: TLS records, handshake messages (ServerHello,
//! Certificate, ServerKeyExchange, ServerHelloDone), alerts and SSLv2 ServerHellos, arriving in
//! pieces of any size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posture_agent::probe::tls::wire::{FlightReader, Until};

fuzz_target!(|data: &[u8]| {
    let Some((&head, bytes)) = data.split_first() else {
        return;
    };
    let until = if head & 1 == 0 { Until::ServerHello } else { Until::HelloDone };
    let kex: fn(u16) -> Option<&'static str> = match (head >> 1) & 3 {
        0 => |_| Some("ECDHE"),
        1 => |_| Some("DHE"),
        2 => |_| Some("RSA"),
        _ => |_| None,
    };
    let chunk = usize::from(head >> 3) + 1;
    let mut reader = FlightReader::new(until, 1 << 16).with_kex_lookup(kex);
    for piece in bytes.chunks(chunk) {
        match reader.feed(piece) {
            Ok(true) | Err(_) => break,
            Ok(false) => {}
        }
    }
    let _ = reader.into_flight();
});
