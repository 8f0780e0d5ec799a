//! A DNS responder that answers from a table, for what an authoritative server will not do:
//! stay silent for some types of a name (a TIMEOUT), answer with any RCODE, or serve a TXT
//! record of zero strings. The SPF conformance suite's zone data needs all three (one
//! responder per scenario, since scenarios reuse names).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::servers::Running;

/// What a name holds.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A record of the name.
    Record(RData),
    /// Questions for types without a record here get no answer at all.
    Timeout,
    /// Every question for the name is answered with this response code.
    Rcode(u16),
    /// The name has no TXT record (so an SPF-type record is not served as TXT either).
    NoTxt,
    /// An SPF-type (99) record's strings: served as TXT when the name has no TXT record.
    Spf(Vec<String>),
}

/// Names (lower case, without the trailing dot) and what they hold.
pub type Table = HashMap<String, Vec<Entry>>;

/// The answer to one question, or `None` to stay silent.
pub fn answer(table: &Table, query: &Message) -> Option<Message> {
    let q = query.queries.first()?;
    // By labels, so that a label holding ':' or '/' is matched as written.
    let name = q
        .name()
        .iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".");
    let mut reply = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.queries = query.queries.clone();
    let Some(entries) = table.get(&name) else {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return Some(reply);
    };
    if let Some(code) = entries.iter().find_map(|e| match e {
        Entry::Rcode(c) => Some(*c),
        _ => None,
    }) {
        reply.metadata.response_code = ResponseCode::from_low(u8::try_from(code).unwrap_or(2));
        return Some(reply);
    }
    let of_type = |t: RecordType| -> Vec<RData> {
        entries
            .iter()
            .filter_map(|e| match e {
                Entry::Record(r) if r.record_type() == t => Some(r.clone()),
                _ => None,
            })
            .collect()
    };
    let mut found = of_type(q.query_type());
    // An SPF (type 99) record at a name with no TXT is served as TXT too, as the suite's own
    // driver does.
    if found.is_empty()
        && q.query_type() == RecordType::TXT
        && !entries.iter().any(|e| matches!(e, Entry::NoTxt))
    {
        found = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Spf(strings) => Some(RData::TXT(hickory_proto::rr::rdata::TXT::new(
                    strings.clone(),
                ))),
                _ => None,
            })
            .collect();
    }
    if found.is_empty()
        && let [cname, ..] = of_type(RecordType::CNAME).as_slice()
    {
        found.push(cname.clone());
    }
    if found.is_empty() && entries.iter().any(|e| matches!(e, Entry::Timeout)) {
        return None;
    }
    let owner = q.name().clone();
    reply.answers = found
        .into_iter()
        .map(|r| Record::from_rdata(owner.clone(), 300, r))
        .collect();
    Some(reply)
}

/// Serve `table` on 127.0.0.1 (UDP and TCP on one port) until dropped.
pub async fn serve(table: Table) -> Running {
    let table = Arc::new(table);
    let (udp, tcp) = crate::dns::bind_udp_and_tcp().await;
    let addr: SocketAddr = udp.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let udp_table = table.clone();
    let task = tokio::spawn(async move {
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let table = table.clone();
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    while stream.read_exact(&mut len).await.is_ok() {
                        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        if stream.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let Ok(query) = Message::from_vec(&buf) else {
                            return;
                        };
                        let Some(bytes) = answer(&table, &query).and_then(|m| m.to_vec().ok())
                        else {
                            continue;
                        };
                        let mut framed = u16::try_from(bytes.len())
                            .unwrap_or(0)
                            .to_be_bytes()
                            .to_vec();
                        framed.extend_from_slice(&bytes);
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let Some(mut reply) = answer(&udp_table, &query) else {
                continue;
            };
            let mut bytes = reply.to_vec().unwrap_or_default();
            if bytes.len() > 1232 {
                reply.answers.clear();
                reply.metadata.truncation = true;
                bytes = reply.to_vec().unwrap_or_default();
            }
            let _ = udp.send_to(&bytes, from).await;
        }
        tcp_task.abort();
    });
    Running::from_task(addr, task)
}

/// A name for a table key.
pub fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Parse `name` as an absolute DNS name, if it is one.
pub fn dns_name(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()
}
