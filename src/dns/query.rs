//! A small DNS client for `taskmux dns query` and `dns status`: one question over UDP to one
//! server, the reply read with simple-dns and given back as text.

use crate::error::{Error, Kind, Result};
use serde::Serialize;
use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// One record of a reply, as text.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Answer {
    /// Its owner name.
    pub name: String,
    /// Its type: `A`, `AAAA`, `SOA`, … (`TYPE65` for one without a name here).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Its time to live, in seconds.
    pub ttl: u32,
    /// Its data as a zone file writes it: `127.0.0.1`, `::1`, `mname rname serial …`.
    pub data: String,
}

/// A server's reply to one question.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Reply {
    /// The server that answered.
    pub server: String,
    /// The name asked for.
    pub name: String,
    /// The type asked for.
    #[serde(rename = "type")]
    pub qtype: String,
    /// The response code: `NOERROR`, `NXDOMAIN`, `REFUSED`, `FORMERR`, …
    pub rcode: String,
    /// The AA flag: the server is authoritative for the name.
    pub authoritative: bool,
    /// The TC flag: the reply was cut to fit a datagram.
    pub truncated: bool,
    /// The answer section.
    pub answers: Vec<Answer>,
    /// The authority section (an SOA where there is no answer).
    pub authority: Vec<Answer>,
    /// Milliseconds from sending to the reply.
    pub time_ms: f64,
}

/// Asks `server` for the records of `qtype` at `name` over UDP, waiting up to `timeout`
/// (the question is sent again halfway). No answer is E643 with the reason (nothing
/// listens there, or silence); a name that cannot be sent is E500.
pub fn ask(server: SocketAddr, name: &str, qtype: u16, timeout: Duration) -> Result<Reply> {
    let id = query_id();
    let packet = encode(id, name, qtype)?;
    let no_answer = |reason: String| -> Error {
        Kind::DnsNoAnswer {
            server: server.to_string(),
            reason,
        }
        .into()
    };
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local)
        .and_then(|s| s.connect(server).map(|()| s))
        .map_err(|e| no_answer(format!("cannot send to it: {e}")))?;
    let start = Instant::now();
    let mut resent = false;
    let mut buf = vec![0u8; 65_535];
    sock.send(&packet)
        .map_err(|e| no_answer(format!("cannot send to it: {e}")))?;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(no_answer(format!("no reply within {} ms", timeout.as_millis())));
        }
        let half = timeout / 2;
        let wait = if !resent && elapsed < half {
            half - elapsed
        } else {
            timeout - elapsed
        };
        let _ = sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        match sock.recv(&mut buf) {
            Ok(n) if n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 => {
                let time_ms = (start.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
                return decode(&buf[..n], server, name, qtype, time_ms).map_err(no_answer);
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(no_answer("nothing listens there (connection refused)".into()));
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if !resent {
                    resent = true;
                    let _ = sock.send(&packet);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(no_answer(e.to_string())),
        }
    }
}

/// An id for a question: different from one call to the next.
fn query_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static SEQ: AtomicU16 = AtomicU16::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos as u16) ^ (std::process::id() as u16) ^ SEQ.fetch_add(0x9E37, Ordering::Relaxed)
}

/// The query message: `id`, RD set, one IN question.
fn encode(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>> {
    let bad = |why: &str| Error::usage(format!("cannot ask for {name:?}: {why}"));
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut p = Vec::with_capacity(32 + name.len());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("each label of a name has 1 to 63 characters"));
            }
            if label.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(bad("a name has no spaces or control characters"));
            }
            p.push(label.len() as u8);
            p.extend_from_slice(label.as_bytes());
        }
    }
    p.push(0);
    if p.len() - 12 > 255 {
        return Err(bad("a name has at most 255 bytes"));
    }
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    Ok(p)
}

fn decode(r: &[u8], server: SocketAddr, name: &str, qtype: u16, time_ms: f64) -> Result<Reply, String> {
    let p = Packet::parse(r).map_err(|e| format!("its reply is malformed: {e}"))?;
    // no OPT record was sent, so none comes back to extend the header's four bits
    let rcode = (r[3] & 0xF) as u16;
    let text = |rr: &simple_dns::ResourceRecord| Answer {
        name: rr.name.to_string(),
        rtype: type_name(u16::from(rr.rdata.type_code())),
        ttl: rr.ttl,
        data: rdata_text(&rr.rdata),
    };
    Ok(Reply {
        server: server.to_string(),
        name: name.to_string(),
        qtype: type_name(qtype),
        rcode: rcode_name(rcode),
        authoritative: p.has_flags(PacketFlag::AUTHORITATIVE_ANSWER),
        truncated: p.has_flags(PacketFlag::TRUNCATION),
        answers: p.answers.iter().map(text).collect(),
        authority: p.name_servers.iter().map(text).collect(),
        time_ms,
    })
}

fn rdata_text(d: &RData) -> String {
    match d {
        RData::A(a) => Ipv4Addr::from(a.address).to_string(),
        RData::AAAA(a) => Ipv6Addr::from(a.address).to_string(),
        RData::SOA(s) => format!(
            "{}. {}. {} {} {} {} {}",
            s.mname, s.rname, s.serial, s.refresh, s.retry, s.expire, s.minimum
        ),
        RData::CNAME(n) => format!("{}.", n.0),
        RData::NS(n) => format!("{}.", n.0),
        RData::PTR(n) => format!("{}.", n.0),
        RData::MX(m) => format!("{} {}.", m.preference, m.exchange),
        RData::TXT(t) => t
            .iter_raw()
            .map(|(k, v)| {
                let mut s = String::from_utf8_lossy(k).into_owned();
                if let Some(v) = v {
                    s.push('=');
                    s.push_str(&String::from_utf8_lossy(v));
                }
                format!("{s:?}")
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => format!("{other:?}"),
    }
}

/// Record types by name.
const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("HINFO", 13),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("OPT", 41),
    ("DS", 43),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("AXFR", 252),
    ("ANY", 255),
    ("CAA", 257),
];

/// The code of a record type named `A`, `aaaa`, `TYPE65` or `65`; None for anything else.
pub fn type_code(name: &str) -> Option<u16> {
    let upper = name.to_ascii_uppercase();
    if let Some((_, c)) = TYPES.iter().find(|(n, _)| *n == upper) {
        return Some(*c);
    }
    upper.strip_prefix("TYPE").unwrap_or(&upper).parse().ok()
}

/// The name of a record type: `A`, or `TYPE<n>` for one without a name here.
pub fn type_name(code: u16) -> String {
    TYPES
        .iter()
        .find(|(_, c)| *c == code)
        .map_or_else(|| format!("TYPE{code}"), |(n, _)| n.to_string())
}

/// The name of a response code.
fn rcode_name(code: u16) -> String {
    let name = match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        n => return format!("RCODE{n}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_names() {
        assert_eq!(type_code("aaaa"), Some(28));
        assert_eq!(type_code("TYPE65"), Some(65));
        assert_eq!(type_code("15"), Some(15));
        assert_eq!(type_code("bogus"), None);
        assert_eq!(type_name(1), "A");
        assert_eq!(type_name(999), "TYPE999");
        assert!(encode(1, &"a".repeat(64), 1).is_err());
        assert!(encode(1, "a..b", 1).is_err());
        assert!(encode(1, "api.p.localhost.", 1).is_ok());
        assert!(encode(1, ".", 1).is_ok(), "the root");
    }
}
