//! Sans-I/O TLS wire code: ClientHellos for SSLv2 to TLS 1.3 that no modern library will send,
//! and an incremental parser for what servers answer. Nothing here touches a socket or a clock;
//! the probe feeds bytes in and reads results out, so every byte path is unit-tested and fuzzed.
//!
//! Formats: RFC 8446 §4.1.2 (ClientHello) and §4.1.3 (ServerHello, HelloRetryRequest), RFC 5246
//! §7.4 (handshake messages), RFC 6101 (SSLv3), draft-hickman-netscape-ssl-00 (SSLv2).

use posture_policies::model::ProtocolVersion;

/// The on-the-wire version numbers.
pub fn version_code(v: ProtocolVersion) -> u16 {
    match v {
        ProtocolVersion::Ssl2 => 0x0002,
        ProtocolVersion::Ssl3 => 0x0300,
        ProtocolVersion::Tls10 => 0x0301,
        ProtocolVersion::Tls11 => 0x0302,
        ProtocolVersion::Tls12 => 0x0303,
        ProtocolVersion::Tls13 => 0x0304,
    }
}

/// Extension type codes used here (IANA TLS ExtensionType Values).
pub mod ext {
    /// server_name (RFC 6066).
    pub const SERVER_NAME: u16 = 0;
    /// status_request (RFC 6066).
    pub const STATUS_REQUEST: u16 = 5;
    /// supported_groups (RFC 8422, RFC 7919).
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// ec_point_formats (RFC 8422).
    pub const EC_POINT_FORMATS: u16 = 11;
    /// signature_algorithms (RFC 8446).
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// application_layer_protocol_negotiation (RFC 7301).
    pub const ALPN: u16 = 16;
    /// heartbeat (RFC 6520).
    pub const HEARTBEAT: u16 = 15;
    /// signed_certificate_timestamp (RFC 6962).
    pub const SCT: u16 = 18;
    /// padding (RFC 7685).
    pub const PADDING: u16 = 21;
    /// extended_master_secret (RFC 7627).
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    /// session_ticket (RFC 5077).
    pub const SESSION_TICKET: u16 = 35;
    /// supported_versions (RFC 8446).
    pub const SUPPORTED_VERSIONS: u16 = 43;
    /// psk_key_exchange_modes (RFC 8446).
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    /// key_share (RFC 8446).
    pub const KEY_SHARE: u16 = 51;
    /// renegotiation_info (RFC 5746).
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// Signature schemes offered (RFC 8446 §4.2.3), strongest first, with the legacy SHA-1 and
/// MD5 pairs so servers with old certificates still answer.
pub const SIGNATURE_SCHEMES: [u16; 17] = [
    0x0403, 0x0503, 0x0603, // ecdsa_secp256r1_sha256 .. secp521r1_sha512
    0x0807, 0x0808, // ed25519, ed448
    0x0804, 0x0805, 0x0806, // rsa_pss_rsae_sha256 ..
    0x0809, 0x080a, 0x080b, // rsa_pss_pss_sha256 ..
    0x0401, 0x0501, 0x0601, // rsa_pkcs1_sha256 ..
    0x0402, // dsa_sha256 (TLS 1.2)
    0x0203, 0x0201, // ecdsa_sha1, rsa_pkcs1_sha1
];

/// A ClientHello to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The version in the record header.
    pub record_version: u16,
    /// `legacy_version` (client_version before TLS 1.3).
    pub version: u16,
    /// client random.
    pub random: [u8; 32],
    /// legacy_session_id (32 random bytes for TLS 1.3 middlebox compatibility).
    pub session_id: Vec<u8>,
    /// Offered suites, in preference order.
    pub cipher_suites: Vec<u16>,
    /// Compression methods (`[0]`, or `[1, 0]` to test for DEFLATE).
    pub compression_methods: Vec<u8>,
    /// Extensions as `(type, body)`, in order.
    pub extensions: Vec<(u16, Vec<u8>)>,
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).unwrap_or(u32::MAX).min(0x00ff_ffff);
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

/// `len16 || bytes`.
fn vec16(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    put_u16(&mut out, u16::try_from(bytes.len()).unwrap_or(u16::MAX));
    out.extend_from_slice(bytes);
    out
}

/// Extension bodies.
pub mod body {
    use super::{put_u16, vec16};

    /// server_name with one host_name.
    pub fn server_name(host: &str) -> Vec<u8> {
        let mut entry = vec![0u8]; // host_name
        entry.extend_from_slice(&vec16(host.as_bytes()));
        vec16(&entry)
    }

    /// A list of u16 with a 16-bit length (supported_groups, signature_algorithms).
    pub fn u16_list(items: &[u16]) -> Vec<u8> {
        let mut list = Vec::new();
        for i in items {
            put_u16(&mut list, *i);
        }
        vec16(&list)
    }

    /// supported_versions in a ClientHello: an 8-bit length.
    pub fn supported_versions(versions: &[u16]) -> Vec<u8> {
        let mut out = vec![u8::try_from(versions.len() * 2).unwrap_or(u8::MAX)];
        for v in versions {
            put_u16(&mut out, *v);
        }
        out
    }

    /// key_share with `(group, key_exchange)` entries.
    pub fn key_share(shares: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut list = Vec::new();
        for (group, key) in shares {
            put_u16(&mut list, *group);
            list.extend_from_slice(&vec16(key));
        }
        vec16(&list)
    }

    /// ALPN protocol names.
    pub fn alpn(protocols: &[&str]) -> Vec<u8> {
        let mut list = Vec::new();
        for p in protocols {
            list.push(u8::try_from(p.len()).unwrap_or(u8::MAX));
            list.extend_from_slice(p.as_bytes());
        }
        vec16(&list)
    }

    /// status_request for OCSP with no responder ids or extensions.
    pub fn status_request() -> Vec<u8> {
        vec![1, 0, 0, 0, 0]
    }

    /// ec_point_formats: uncompressed.
    pub fn ec_point_formats() -> Vec<u8> {
        vec![1, 0]
    }

    /// An empty renegotiation_info (initial handshake).
    pub fn renegotiation_info() -> Vec<u8> {
        vec![0]
    }

    /// psk_key_exchange_modes: psk_dhe_ke.
    pub fn psk_modes() -> Vec<u8> {
        vec![1, 1]
    }
}

impl ClientHello {
    /// The handshake message (type, length, body), without the record header.
    pub fn handshake_message(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(512);
        put_u16(&mut b, self.version);
        b.extend_from_slice(&self.random);
        b.push(u8::try_from(self.session_id.len()).unwrap_or(32));
        b.extend_from_slice(&self.session_id);
        let mut suites = Vec::with_capacity(self.cipher_suites.len() * 2);
        for s in &self.cipher_suites {
            put_u16(&mut suites, *s);
        }
        b.extend_from_slice(&vec16(&suites));
        b.push(u8::try_from(self.compression_methods.len()).unwrap_or(1));
        b.extend_from_slice(&self.compression_methods);
        let mut exts = Vec::new();
        for (t, body) in &self.extensions {
            put_u16(&mut exts, *t);
            exts.extend_from_slice(&vec16(body));
        }
        // Some middleboxes and old servers drop hellos whose length is between 256 and 511
        // bytes; RFC 7685 padding moves it out of that range.
        let unpadded = 4 + b.len() + 2 + exts.len();
        if (256..512).contains(&unpadded) && !self.extensions.is_empty() {
            // The extension's own 4 bytes count: from 508 bytes on, an empty one is enough.
            let pad = (512 - 4usize).saturating_sub(unpadded);
            put_u16(&mut exts, ext::PADDING);
            put_u16(&mut exts, u16::try_from(pad).unwrap_or(0));
            exts.resize(exts.len() + pad, 0);
        }
        if !exts.is_empty() {
            b.extend_from_slice(&vec16(&exts));
        }
        let mut msg = vec![1u8]; // client_hello
        put_u24(&mut msg, b.len());
        msg.extend_from_slice(&b);
        msg
    }

    /// The whole record(s) to send.
    pub fn to_bytes(&self) -> Vec<u8> {
        let msg = self.handshake_message();
        let mut out = Vec::with_capacity(msg.len() + 10);
        for chunk in msg.chunks(16_384) {
            out.push(22); // handshake
            put_u16(&mut out, self.record_version);
            put_u16(&mut out, u16::try_from(chunk.len()).unwrap_or(u16::MAX));
            out.extend_from_slice(chunk);
        }
        out
    }
}

/// An SSLv2 CLIENT-HELLO offering `kinds` (three-byte cipher kinds) with a 16-byte challenge.
pub fn sslv2_client_hello(kinds: &[u32], challenge: [u8; 16]) -> Vec<u8> {
    let mut body = vec![1u8]; // MSG-CLIENT-HELLO
    put_u16(&mut body, 0x0002);
    put_u16(&mut body, u16::try_from(kinds.len() * 3).unwrap_or(0));
    put_u16(&mut body, 0); // session id length
    put_u16(&mut body, 16); // challenge length
    for k in kinds {
        body.extend_from_slice(&k.to_be_bytes()[1..]);
    }
    body.extend_from_slice(&challenge);
    let len = u16::try_from(body.len()).unwrap_or(0x7fff) & 0x7fff;
    let mut out = (0x8000 | len).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// A heartbeat request (RFC 6520 §4) that claims a 16 KiB payload and carries none: a
/// correct server discards it; one with CVE-2014-0160 (Heartbleed) answers with 16 KiB of its
/// memory.
pub fn heartbleed_request(version: u16) -> Vec<u8> {
    let mut out = vec![24u8];
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&[0x00, 0x03, 0x01, 0x40, 0x00]);
    out
}

/// Whether `reply` (what came after the first flight) starts with a heartbeat response longer
/// than the 3 bytes that were sent: memory the server should not have returned.
pub fn leaks_heartbeat(reply: &[u8]) -> bool {
    reply.len() >= 5
        && reply[0] == 24
        && reply[1] == 3
        && usize::from(u16::from_be_bytes([reply[3], reply[4]])) > 3
}

/// SHA-256("HelloRetryRequest"): the ServerHello random that marks a HelloRetryRequest
/// (RFC 8446 §4.1.3).
pub const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What a ServerHello (or HelloRetryRequest) said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerHello {
    /// legacy_version.
    pub legacy_version: u16,
    /// The version selected: supported_versions when present, else legacy_version.
    pub version: u16,
    /// The chosen suite.
    pub cipher_suite: u16,
    /// The chosen compression method.
    pub compression: u8,
    /// This is a HelloRetryRequest.
    pub hello_retry: bool,
    /// key_share group (ServerHello) or selected_group (HelloRetryRequest).
    pub key_share_group: Option<u16>,
    /// renegotiation_info was present.
    pub secure_renegotiation: bool,
    /// The ALPN protocol selected.
    pub alpn: Option<String>,
    /// The server acknowledged status_request (an OCSP staple follows in TLS 1.2).
    pub status_request: bool,
    /// SCTs in the TLS extension.
    pub sct_extension: bool,
    /// The extension types, in order.
    pub extension_types: Vec<u16>,
    /// The random ends in the RFC 8446 §4.1.3 downgrade sentinel (`DOWNGRD` + 0 or 1): a
    /// TLS 1.3 server negotiating an older version says so.
    pub downgrade_sentinel: bool,
}

/// What the server's first flight contained, as far as it could be read in clear.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerFlight {
    /// The ServerHello or HelloRetryRequest.
    pub hello: Option<ServerHello>,
    /// The certificate chain (TLS 1.2 and earlier), DER, leaf first.
    pub certificates: Option<Vec<Vec<u8>>>,
    /// ServerKeyExchange key-exchange parameters.
    pub key_exchange: Option<KeyExchange>,
    /// A stapled OCSP response (CertificateStatus).
    pub ocsp_response: Option<Vec<u8>>,
    /// ServerHelloDone was seen.
    pub hello_done: bool,
    /// An alert `(level, description)`.
    pub alert: Option<(u8, u8)>,
    /// An SSLv2 SERVER-HELLO.
    pub sslv2: Option<Sslv2ServerHello>,
}

/// ServerKeyExchange parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyExchange {
    /// Finite-field DH: the prime p.
    Dh {
        /// The prime, big-endian, leading zeros stripped.
        prime: Vec<u8>,
    },
    /// ECDHE over a named group.
    Ecdh {
        /// The NamedGroup code.
        group: u16,
    },
}

/// An SSLv2 SERVER-HELLO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sslv2ServerHello {
    /// Cipher kinds the server supports (of those offered).
    pub cipher_kinds: Vec<u32>,
    /// The certificate, DER.
    pub certificate: Vec<u8>,
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes are not TLS.
    #[error("not a TLS response: {0}")]
    Garbage(String),
    /// A structure's length points past its container.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The server sent more than the limit before finishing its first flight.
    #[error("the server sent more than {0} bytes before finishing its hello")]
    TooLarge(usize),
}

/// When the parser has seen enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The ServerHello (or an alert).
    ServerHello,
    /// ServerHelloDone in TLS 1.2 and earlier; the ServerHello in TLS 1.3, after which all is
    /// encrypted.
    HelloDone,
}

/// Reads a server's first flight from bytes as they arrive.
#[derive(Debug)]
pub struct FlightReader {
    buf: Vec<u8>,
    handshake: Vec<u8>,
    limit: usize,
    until: Until,
    flight: ServerFlight,
    done: bool,
    suite_kex: Option<fn(u16) -> Option<&'static str>>,
}

/// Largest single TLS record body allowed (RFC 8446 §5.1: 2^14 plus expansion).
const MAX_RECORD: usize = 16_384 + 2_048;

impl FlightReader {
    /// A reader that gives up after `limit` bytes.
    pub fn new(until: Until, limit: usize) -> FlightReader {
        FlightReader {
            buf: Vec::new(),
            handshake: Vec::new(),
            limit,
            until,
            flight: ServerFlight::default(),
            done: false,
            suite_kex: None,
        }
    }

    /// Tell the reader how to find a suite's key exchange, to parse ServerKeyExchange.
    pub fn with_kex_lookup(mut self, lookup: fn(u16) -> Option<&'static str>) -> FlightReader {
        self.suite_kex = Some(lookup);
        self
    }

    /// Feed bytes; `Ok(true)` once the flight is complete (or the server alerted).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, WireError> {
        if self.done {
            return Ok(true);
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > self.limit {
            return Err(WireError::TooLarge(self.limit));
        }
        self.parse()?;
        Ok(self.done)
    }

    /// What was read so far.
    pub fn flight(&self) -> &ServerFlight {
        &self.flight
    }

    /// Consume the reader.
    pub fn into_flight(self) -> ServerFlight {
        self.flight
    }

    fn parse(&mut self) -> Result<(), WireError> {
        let mut consumed = 0;
        loop {
            let rest = &self.buf[consumed..];
            if rest.is_empty() || self.done {
                break;
            }
            if rest[0] & 0x80 != 0 && self.flight.hello.is_none() {
                // An SSLv2 record: two-byte header with the high bit set.
                if rest.len() < 3 {
                    break;
                }
                let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]) & 0x7fff);
                if rest.len() < 2 + len {
                    break;
                }
                self.flight.sslv2 = Some(parse_sslv2_server_hello(&rest[2..2 + len])?);
                self.done = true;
                consumed += 2 + len;
                break;
            }
            if rest.len() < 5 {
                if !(20..=23).contains(&rest[0]) {
                    return Err(WireError::Garbage(format!("record type {}", rest[0])));
                }
                break;
            }
            let (kind, major, len) = (
                rest[0],
                rest[1],
                usize::from(u16::from_be_bytes([rest[3], rest[4]])),
            );
            if !(20..=23).contains(&kind) || major != 3 {
                return Err(WireError::Garbage(format!(
                    "record header {:02x} {:02x} {:02x}",
                    rest[0], rest[1], rest[2]
                )));
            }
            if len > MAX_RECORD {
                return Err(WireError::Malformed("record length"));
            }
            if rest.len() < 5 + len {
                break;
            }
            let body = rest[5..5 + len].to_vec();
            consumed += 5 + len;
            match kind {
                21 => {
                    if body.len() >= 2 {
                        self.flight.alert = Some((body[0], body[1]));
                    }
                    self.done = true;
                }
                22 => {
                    self.handshake.extend_from_slice(&body);
                    self.parse_handshake()?;
                }
                // change_cipher_spec (TLS 1.3 middlebox compatibility) or encrypted data.
                _ => {
                    if self.flight.hello.is_some() {
                        self.done = true;
                    }
                }
            }
        }
        self.buf.drain(..consumed);
        Ok(())
    }

    fn parse_handshake(&mut self) -> Result<(), WireError> {
        let mut at = 0;
        while self.handshake.len() >= at + 4 && !self.done {
            let kind = self.handshake[at];
            let len = (usize::from(self.handshake[at + 1]) << 16)
                | (usize::from(self.handshake[at + 2]) << 8)
                | usize::from(self.handshake[at + 3]);
            if len > self.limit {
                // A message announced over the limit (a 10 MB certificate, say): too large to
                // read, not malformed (a 24-bit length may say up to 16 MB).
                return Err(WireError::TooLarge(self.limit));
            }
            if self.handshake.len() < at + 4 + len {
                break;
            }
            let body = self.handshake[at + 4..at + 4 + len].to_vec();
            at += 4 + len;
            self.handshake_message(kind, &body)?;
        }
        self.handshake.drain(..at);
        Ok(())
    }

    fn handshake_message(&mut self, kind: u8, body: &[u8]) -> Result<(), WireError> {
        match kind {
            2 => {
                let hello = parse_server_hello(body)?;
                let tls13 = hello.version == 0x0304 || hello.hello_retry;
                self.flight.hello = Some(hello);
                if tls13 || self.until == Until::ServerHello {
                    self.done = true;
                }
            }
            11 => self.flight.certificates = Some(parse_certificate_list(body)?),
            12 => {
                let suite = self.flight.hello.as_ref().map(|h| h.cipher_suite);
                let kex = suite.and_then(|s| self.suite_kex.and_then(|f| f(s)));
                self.flight.key_exchange = parse_server_key_exchange(body, kex);
            }
            // CertificateStatus: status_type ocsp(1), then a 24-bit length and the response.
            22 if body.len() >= 4 && body[0] == 1 => {
                let len = (usize::from(body[1]) << 16)
                    | (usize::from(body[2]) << 8)
                    | usize::from(body[3]);
                if body.len() >= 4 + len {
                    self.flight.ocsp_response = Some(body[4..4 + len].to_vec());
                }
            }
            14 => {
                self.flight.hello_done = true;
                self.done = true;
            }
            _ => {}
        }
        Ok(())
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], what: &'static str) -> Self {
        Cursor { data, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.data.len() < n {
            return Err(WireError::Malformed(self.what));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Result<usize, WireError> {
        let b = self.take(3)?;
        Ok((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Parse a ServerHello body (after the handshake header).
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, WireError> {
    let mut c = Cursor::new(body, "ServerHello");
    let legacy_version = c.u16()?;
    let random = c.take(32)?;
    let sid_len = usize::from(c.u8()?);
    if sid_len > 32 {
        return Err(WireError::Malformed("ServerHello session id"));
    }
    c.take(sid_len)?;
    let cipher_suite = c.u16()?;
    let compression = c.u8()?;
    let mut hello = ServerHello {
        legacy_version,
        version: legacy_version,
        cipher_suite,
        compression,
        hello_retry: random == HELLO_RETRY_RANDOM,
        downgrade_sentinel: random[24..31] == *b"DOWNGRD" && random[31] <= 1,
        ..ServerHello::default()
    };
    if c.is_empty() {
        return Ok(hello);
    }
    let ext_len = usize::from(c.u16()?);
    let mut exts = Cursor::new(c.take(ext_len)?, "ServerHello extensions");
    while !exts.is_empty() {
        let kind = exts.u16()?;
        let len = usize::from(exts.u16()?);
        let data = exts.take(len)?;
        hello.extension_types.push(kind);
        let mut d = Cursor::new(data, "ServerHello extension");
        match kind {
            ext::SUPPORTED_VERSIONS if data.len() >= 2 => hello.version = d.u16()?,
            ext::KEY_SHARE if data.len() >= 2 => hello.key_share_group = Some(d.u16()?),
            ext::RENEGOTIATION_INFO => hello.secure_renegotiation = true,
            ext::STATUS_REQUEST => hello.status_request = true,
            ext::SCT => hello.sct_extension = true,
            ext::ALPN if data.len() >= 3 => {
                let _list_len = d.u16()?;
                let n = usize::from(d.u8()?);
                hello.alpn = Some(String::from_utf8_lossy(d.take(n)?).into_owned());
            }
            _ => {}
        }
    }
    Ok(hello)
}

/// Parse a Certificate message body (TLS 1.2 and earlier): DER certificates, leaf first.
pub fn parse_certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
    let mut c = Cursor::new(body, "Certificate");
    let total = c.u24()?;
    let mut list = Cursor::new(c.take(total)?, "Certificate list");
    let mut out = Vec::new();
    while !list.is_empty() {
        let len = list.u24()?;
        out.push(list.take(len)?.to_vec());
    }
    Ok(out)
}

/// Parse ServerKeyExchange for the suite's key exchange (`DHE`, `ECDHE`); other kinds and
/// malformed bodies give `None`.
pub fn parse_server_key_exchange(body: &[u8], kex: Option<&str>) -> Option<KeyExchange> {
    let mut c = Cursor::new(body, "ServerKeyExchange");
    match kex? {
        "DHE" => {
            let len = usize::from(c.u16().ok()?);
            let p = c.take(len).ok()?;
            let first = p.iter().position(|b| *b != 0).unwrap_or(p.len());
            Some(KeyExchange::Dh {
                prime: p[first..].to_vec(),
            })
        }
        "ECDHE" => {
            // ECParameters: curve_type named_curve(3), then the NamedGroup.
            (c.u8().ok()? == 3).then_some(())?;
            Some(KeyExchange::Ecdh {
                group: c.u16().ok()?,
            })
        }
        _ => None,
    }
}

fn parse_sslv2_server_hello(body: &[u8]) -> Result<Sslv2ServerHello, WireError> {
    let mut c = Cursor::new(body, "SSLv2 SERVER-HELLO");
    let kind = c.u8()?;
    if kind != 4 {
        return Err(WireError::Garbage(format!("SSLv2 message type {kind}")));
    }
    let _session_id_hit = c.u8()?;
    let _certificate_type = c.u8()?;
    let version = c.u16()?;
    if version != 0x0002 {
        return Err(WireError::Garbage(format!(
            "SSLv2 server version {version:#06x}"
        )));
    }
    let cert_len = usize::from(c.u16()?);
    let specs_len = usize::from(c.u16()?);
    let _conn_id_len = c.u16()?;
    let certificate = c.take(cert_len)?.to_vec();
    let specs = c.take(specs_len)?;
    let cipher_kinds = specs
        .chunks_exact(3)
        .map(|k| (u32::from(k[0]) << 16) | (u32::from(k[1]) << 8) | u32::from(k[2]))
        .collect();
    Ok(Sslv2ServerHello {
        cipher_kinds,
        certificate,
    })
}

/// The bit length of a big-endian unsigned integer.
pub fn bit_length(bytes: &[u8]) -> u16 {
    let first = bytes.iter().position(|b| *b != 0);
    match first {
        None => 0,
        Some(i) => {
            let bits = (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize;
            u16::try_from(bits).unwrap_or(u16::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> ClientHello {
        ClientHello {
            record_version: 0x0301,
            version: 0x0303,
            random: [7; 32],
            session_id: vec![],
            cipher_suites: vec![0xc02f, 0x009c],
            compression_methods: vec![0],
            extensions: vec![(ext::SERVER_NAME, body::server_name("a.test"))],
        }
    }

    /// Every hello length a suite count can make is padded out of 256-511 bytes, and none
    /// panics (from 508 bytes on the padding's own header used to underflow its length).
    #[test]
    fn every_hello_length_is_padded_out_of_the_dropped_range() {
        for n in 1..400u16 {
            let mut h = hello();
            h.cipher_suites = (0..n).collect();
            let msg = h.handshake_message();
            assert!(
                !(256..512).contains(&msg.len()),
                "{n} suites: {} bytes",
                msg.len()
            );
            let bytes = h.to_bytes();
            let (rest, _) = tls_parser::parse_tls_plaintext(&bytes).unwrap();
            assert!(rest.is_empty(), "{n} suites");
        }
    }

    #[test]
    fn client_hello_parses_back_with_tls_parser() {
        let bytes = hello().to_bytes();
        let (rest, record) = tls_parser::parse_tls_plaintext(&bytes).unwrap();
        assert!(rest.is_empty());
        match &record.msg[0] {
            tls_parser::TlsMessage::Handshake(tls_parser::TlsMessageHandshake::ClientHello(ch)) => {
                assert_eq!(ch.version, tls_parser::TlsVersion(0x0303));
                assert_eq!(
                    ch.ciphers,
                    vec![
                        tls_parser::TlsCipherSuiteID(0xc02f),
                        tls_parser::TlsCipherSuiteID(0x009c)
                    ]
                );
                let (_, exts) =
                    tls_parser::parse_tls_client_hello_extensions(ch.ext.unwrap()).unwrap();
                assert!(matches!(exts[0], tls_parser::TlsExtension::SNI(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hellos_in_the_f5_range_are_padded_to_512() {
        let mut h = hello();
        h.cipher_suites = (1..100).collect();
        let msg = h.handshake_message();
        assert_eq!(msg.len(), 512, "{}", msg.len());
        // The padded hello still parses, with every suite in place.
        let (rest, parsed) = tls_parser::parse_tls_handshake_msg_client_hello(&msg[4..]).unwrap();
        assert!(rest.is_empty());
        match parsed {
            tls_parser::TlsMessageHandshake::ClientHello(ch) => assert_eq!(ch.ciphers.len(), 99),
            other => panic!("{other:?}"),
        }
    }

    fn server_hello_record(
        version: u16,
        suite: u16,
        exts: &[(u16, Vec<u8>)],
        random: [u8; 32],
    ) -> Vec<u8> {
        let mut b = Vec::new();
        put_u16(&mut b, 0x0303);
        b.extend_from_slice(&random);
        b.push(0);
        put_u16(&mut b, suite);
        b.push(0);
        let mut e = Vec::new();
        for (t, body) in exts {
            put_u16(&mut e, *t);
            e.extend_from_slice(&vec16(body));
        }
        b.extend_from_slice(&vec16(&e));
        let mut msg = vec![2u8];
        put_u24(&mut msg, b.len());
        msg.extend_from_slice(&b);
        let mut rec = vec![22u8];
        put_u16(&mut rec, version);
        put_u16(&mut rec, u16::try_from(msg.len()).unwrap());
        rec.extend_from_slice(&msg);
        rec
    }

    #[test]
    fn tls13_server_hello_is_read_one_byte_at_a_time() {
        let rec = server_hello_record(
            0x0303,
            0x1301,
            &[
                (ext::SUPPORTED_VERSIONS, vec![0x03, 0x04]),
                (ext::KEY_SHARE, vec![0x00, 0x1d, 0x00, 0x01, 0xaa]),
            ],
            [1; 32],
        );
        let mut r = FlightReader::new(Until::HelloDone, 1 << 16);
        let mut done = false;
        for b in &rec {
            done = r.feed(std::slice::from_ref(b)).unwrap();
        }
        assert!(done);
        let h = r.flight().hello.clone().unwrap();
        assert_eq!(
            (h.version, h.cipher_suite, h.key_share_group, h.hello_retry),
            (0x0304, 0x1301, Some(0x001d), false)
        );
    }

    #[test]
    fn hello_retry_request_is_recognised() {
        let rec = server_hello_record(
            0x0303,
            0x1301,
            &[
                (ext::SUPPORTED_VERSIONS, vec![3, 4]),
                (ext::KEY_SHARE, vec![0, 23]),
            ],
            HELLO_RETRY_RANDOM,
        );
        let mut r = FlightReader::new(Until::HelloDone, 1 << 16);
        assert!(r.feed(&rec).unwrap());
        let h = r.into_flight().hello.unwrap();
        assert!(h.hello_retry);
        assert_eq!(h.key_share_group, Some(23));
    }

    #[test]
    fn tls12_flight_with_certificate_ske_and_done() {
        let mut flight = server_hello_record(
            0x0303,
            0xc02f,
            &[(ext::RENEGOTIATION_INFO, vec![0])],
            [2; 32],
        );
        // Certificate with two "certificates", ServerKeyExchange (named curve 23), ServerHelloDone,
        // all in one record.
        let mut hs = Vec::new();
        let certs: Vec<u8> = [vec![0, 0, 2, 0xa, 0xb], vec![0, 0, 1, 0xc]].concat();
        let mut body = Vec::new();
        put_u24(&mut body, certs.len());
        body.extend_from_slice(&certs);
        hs.push(11);
        put_u24(&mut hs, body.len());
        hs.extend_from_slice(&body);
        hs.extend_from_slice(&[12, 0, 0, 4, 3, 0, 23, 0]);
        hs.extend_from_slice(&[14, 0, 0, 0]);
        flight.push(22);
        put_u16(&mut flight, 0x0303);
        put_u16(&mut flight, u16::try_from(hs.len()).unwrap());
        flight.extend_from_slice(&hs);
        let mut r = FlightReader::new(Until::HelloDone, 1 << 16).with_kex_lookup(|_| Some("ECDHE"));
        assert!(r.feed(&flight).unwrap());
        let f = r.into_flight();
        assert!(f.hello.as_ref().unwrap().secure_renegotiation);
        assert_eq!(f.certificates.unwrap(), vec![vec![0xa, 0xb], vec![0xc]]);
        assert_eq!(f.key_exchange, Some(KeyExchange::Ecdh { group: 23 }));
        assert!(f.hello_done);
    }

    #[test]
    fn alerts_end_the_flight() {
        let mut r = FlightReader::new(Until::HelloDone, 1 << 16);
        assert!(r.feed(&[21, 3, 3, 0, 2, 2, 40]).unwrap());
        assert_eq!(r.flight().alert, Some((2, 40)));
    }

    #[test]
    fn garbage_and_oversize_are_errors() {
        let mut r = FlightReader::new(Until::HelloDone, 1 << 16);
        assert!(matches!(
            r.feed(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(WireError::Garbage(_))
        ));
        let mut r = FlightReader::new(Until::HelloDone, 100);
        assert!(matches!(r.feed(&[22, 3, 3, 0x40, 0]), Ok(false)));
        assert!(matches!(r.feed(&[0; 200]), Err(WireError::TooLarge(100))));
    }

    #[test]
    fn sslv2_round_trip() {
        let hello = sslv2_client_hello(&[0x01_0080, 0x07_00c0], [9; 16]);
        assert_eq!(hello[0] & 0x80, 0x80);
        assert_eq!(
            usize::from(u16::from_be_bytes([hello[0], hello[1]]) & 0x7fff),
            hello.len() - 2
        );
        // A SERVER-HELLO offering one kind with a 3-byte "certificate".
        let mut body = vec![4, 0, 1, 0, 2, 0, 3, 0, 3, 0, 16];
        body.extend_from_slice(&[0xde, 0xad, 0xbf, 0x01, 0x00, 0x80]);
        body.extend_from_slice(&[0; 16]);
        let mut rec = (0x8000u16 | u16::try_from(body.len()).unwrap())
            .to_be_bytes()
            .to_vec();
        rec.extend_from_slice(&body);
        let mut r = FlightReader::new(Until::HelloDone, 1 << 16);
        assert!(r.feed(&rec).unwrap());
        let v2 = r.into_flight().sslv2.unwrap();
        assert_eq!(v2.cipher_kinds, vec![0x01_0080]);
        assert_eq!(v2.certificate, vec![0xde, 0xad, 0xbf]);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0; 4]), 0);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Whatever a hostile server sends, in whatever pieces, the reader returns a result
            /// or an error and never panics or exceeds its limit.
            #[test]
            fn reader_survives_arbitrary_bytes(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20)) {
                let mut r = FlightReader::new(Until::HelloDone, 2048).with_kex_lookup(|_| Some("DHE"));
                for c in &chunks {
                    match r.feed(c) {
                        Ok(true) | Err(_) => break,
                        Ok(false) => {}
                    }
                }
            }

            /// Arbitrary bytes behind a valid record header reach the handshake parsers.
            #[test]
            fn handshake_parsers_survive_arbitrary_bodies(kind in prop_oneof![Just(2u8), Just(11), Just(12), Just(22), Just(14)], body in prop::collection::vec(any::<u8>(), 0..600)) {
                let mut msg = vec![kind];
                msg.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
                msg.extend_from_slice(&body);
                let mut rec = vec![22, 3, 3];
                rec.extend_from_slice(&u16::try_from(msg.len()).unwrap().to_be_bytes());
                rec.extend_from_slice(&msg);
                let mut r = FlightReader::new(Until::HelloDone, 1 << 16).with_kex_lookup(|_| Some("ECDHE"));
                let _ = r.feed(&rec);
                let _ = parse_server_hello(&body);
                let _ = parse_certificate_list(&body);
                let _ = parse_server_key_exchange(&body, Some("DHE"));
            }

            /// Every hello we build parses back with an independent parser.
            #[test]
            fn built_hellos_parse(suites in prop::collection::vec(any::<u16>(), 1..120), host in "[a-z]{1,20}\\.test") {
                let h = ClientHello {
                    record_version: 0x0301,
                    version: 0x0303,
                    random: [1; 32],
                    session_id: vec![],
                    cipher_suites: suites.clone(),
                    compression_methods: vec![1, 0],
                    extensions: vec![(ext::SERVER_NAME, body::server_name(&host)), (ext::RENEGOTIATION_INFO, body::renegotiation_info())],
                };
                let bytes = h.to_bytes();
                let (rest, record) = tls_parser::parse_tls_plaintext(&bytes).unwrap();
                prop_assert!(rest.is_empty());
                match &record.msg[0] {
                    tls_parser::TlsMessage::Handshake(tls_parser::TlsMessageHandshake::ClientHello(ch)) => {
                        prop_assert_eq!(ch.ciphers.iter().map(|c| c.0).collect::<Vec<_>>(), suites);
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
        }
    }
}
