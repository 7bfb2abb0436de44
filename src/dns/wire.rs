//! The responder's answer to one DNS message, as a pure function of the bytes and the zone.
//! The reply is written by hand into a buffer the caller keeps: the header, the question
//! copied byte for byte (so the answer has the question's case), records whose owner is a
//! compression pointer into it, the SOA of the zone in the authority section where there is
//! no answer, and an OPT record when the query had one. Nothing is allocated per query.

use super::zone::{Lookup, Zone};

/// The TTL of every record, in seconds: names come and go with projects, and a cache that
/// forgets them at once costs only a loopback round trip.
pub const TTL: u32 = 1;
/// The UDP payload size advertised in the OPT record of a reply (the DNS flag day value).
pub const EDNS_PAYLOAD: u16 = 1232;

const HEADER: usize = 12;
const NOERROR: u8 = 0;
const FORMERR: u8 = 1;
const NXDOMAIN: u8 = 3;
const NOTIMP: u8 = 4;
const REFUSED: u8 = 5;
/// BADVERS (16): its low four bits in the header, the rest in the OPT record.
const BADVERS: u16 = 16;

const TYPE_A: u16 = 1;
const TYPE_SOA: u16 = 6;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RA: u16 = 0x0080;
/// What a reply copies from the query's flags: the opcode, RD and CD.
const COPIED: u16 = 0x7800 | 0x0100 | 0x0010;
/// The DO bit of an OPT record's flags.
const DO: u16 = 0x8000;

/// How a reply travels: over UDP with the most bytes the server sends, or over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A datagram: the reply is cut to the client's size (512 without EDNS, else the size
    /// its OPT record gives, and never more than this), with TC set when cut.
    Udp(usize),
    /// A stream: no size limit but the message's own.
    Tcp,
}

/// The reply to `packet` for `zone`, for a UDP client, at most `max_udp` bytes (and at
/// most what the client takes); None when nothing must be sent (shorter than a header, or
/// a response rather than a query).
#[cfg(test)]
pub fn answer(packet: &[u8], zone: &Zone, max_udp: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    answer_into(packet, zone, Transport::Udp(max_udp), &mut out).then_some(out)
}

/// [`answer`] into `out` (cleared first), for either transport; says whether to send it.
pub fn answer_into(packet: &[u8], zone: &Zone, transport: Transport, out: &mut Vec<u8>) -> bool {
    out.clear();
    if packet.len() < HEADER {
        return false;
    }
    let flags = be16(packet, 2).unwrap_or(0);
    if flags & QR != 0 {
        // a response: answering it could start a loop between two servers
        return false;
    }
    let id = [packet[0], packet[1]];
    let copied = flags & COPIED;
    if (flags >> 11) & 0xF != 0 {
        header(out, id, copied, NOTIMP, 0);
        return true;
    }
    let counts = [4, 6, 8, 10].map(|at| be16(packet, at).unwrap_or(0));
    if counts[0] != 1 {
        header(out, id, copied, FORMERR, 0);
        return true;
    }
    let Some(q) = question(packet) else {
        header(out, id, copied, FORMERR, 0);
        return true;
    };
    let Ok(edns) = opt_record(packet, q.end, counts[1], counts[2], counts[3]) else {
        header(out, id, copied, FORMERR, 0);
        out.extend_from_slice(&packet[HEADER..q.end]);
        set_count(out, 4, 1);
        return true;
    };
    if let Some(e) = edns
        && e.version != 0
    {
        header(out, id, copied, (BADVERS & 0xF) as u8, 0);
        out.extend_from_slice(&packet[HEADER..q.end]);
        set_count(out, 4, 1);
        opt(out, (BADVERS >> 4) as u8, e.flags);
        set_count(out, 10, 1);
        return true;
    }
    let limit = match transport {
        Transport::Tcp => u16::MAX as usize,
        Transport::Udp(max) => {
            let client = edns.map_or(512, |e| (e.payload as usize).max(512));
            client.min(max).max(HEADER)
        }
    };
    respond(packet, &q, zone, id, copied, edns, out);
    if out.len() > limit {
        // cut back to the header, the question and the OPT record, with TC set
        out.truncate(q.end);
        for at in [6, 8, 10] {
            set_count(out, at, 0);
        }
        let f = be16(out, 2).unwrap_or(0) | TC;
        out[2..4].copy_from_slice(&f.to_be_bytes());
        if let Some(e) = edns {
            opt(out, 0, e.flags);
            set_count(out, 10, 1);
        }
    }
    true
}

/// The answer to a well-formed query of the question `q`.
fn respond(packet: &[u8], q: &Question, zone: &Zone, id: [u8; 2], copied: u16, edns: Option<Edns>, out: &mut Vec<u8>) {
    let name = &packet[HEADER..q.name_end];
    let lookup = if q.class == CLASS_IN || q.class == CLASS_ANY {
        zone.lookup(name)
    } else {
        Lookup::Outside
    };
    let (rcode, aa, tld_at) = match lookup {
        Lookup::Outside => (REFUSED, false, None),
        _ if matches!(q.qtype, TYPE_AXFR | TYPE_IXFR) => (REFUSED, false, None),
        Lookup::Missing { tld_at } => (NXDOMAIN, true, Some(tld_at)),
        Lookup::Host { tld_at, .. } | Lookup::Empty { tld_at } => (NOERROR, true, Some(tld_at)),
    };
    header(out, id, copied | if aa { AA } else { 0 }, rcode, 1);
    out.extend_from_slice(&packet[HEADER..q.end]);
    let Some(tld_at) = tld_at else {
        if let Some(e) = edns {
            opt(out, 0, e.flags);
            set_count(out, 10, 1);
        }
        return;
    };
    // the TLD's place in the reply, for compression pointers (always below 0x3fff)
    let tld = (HEADER + tld_at) as u16;
    let answered = match (lookup, q.qtype) {
        (Lookup::Host { .. }, TYPE_A) => {
            record(out, HEADER as u16, TYPE_A, &[127, 0, 0, 1]);
            true
        }
        (Lookup::Host { .. }, TYPE_AAAA) => {
            record(out, HEADER as u16, TYPE_AAAA, &std::net::Ipv6Addr::LOCALHOST.octets());
            true
        }
        (Lookup::Host { apex: true, .. }, TYPE_SOA) => {
            soa(out, tld);
            true
        }
        _ => false,
    };
    if answered {
        set_count(out, 6, 1);
    } else {
        soa(out, tld);
        set_count(out, 8, 1);
    }
    if let Some(e) = edns {
        opt(out, 0, e.flags);
        set_count(out, 10, 1);
    }
}

/// The question of a message: where its name ends and it ends, its type and class.
struct Question {
    name_end: usize,
    end: usize,
    qtype: u16,
    class: u16,
}

/// The one question after the header: an uncompressed name of at most 255 bytes, its type
/// and class. None when it is malformed.
fn question(p: &[u8]) -> Option<Question> {
    let mut pos = HEADER;
    loop {
        let len = *p.get(pos)? as usize;
        if len & 0xC0 != 0 {
            // a compression pointer (nothing before it to point at) or an extended label
            return None;
        }
        pos += 1 + len;
        if pos - HEADER > 255 {
            return None;
        }
        if len == 0 {
            break;
        }
    }
    let qtype = be16(p, pos)?;
    let class = be16(p, pos + 2)?;
    if qtype == TYPE_OPT || qtype == 0 {
        return None;
    }
    Some(Question {
        name_end: pos,
        end: pos + 4,
        qtype,
        class,
    })
}

/// The query's EDNS(0) record: the client's UDP payload size, its version and flags.
#[derive(Debug, Clone, Copy)]
struct Edns {
    payload: u16,
    version: u8,
    flags: u16,
}

/// Reads past the answer and authority records to the additional ones and returns the OPT
/// record among them; Err when a record is malformed, an OPT record's owner is not the
/// root, or there are two.
fn opt_record(p: &[u8], mut pos: usize, an: u16, ns: u16, ar: u16) -> Result<Option<Edns>, ()> {
    for _ in 0..(an as usize + ns as usize) {
        pos = skip_record(p, pos).ok_or(())?.0;
    }
    let mut found = None;
    for _ in 0..ar {
        let start = pos;
        let (next, rtype) = skip_record(p, pos).ok_or(())?;
        if rtype == TYPE_OPT {
            if found.is_some() || p[start] != 0 {
                return Err(());
            }
            // root name (1), type (2), class = payload (2), ttl = ext rcode, version, flags
            found = Some(Edns {
                payload: be16(p, start + 3).ok_or(())?,
                version: *p.get(start + 6).ok_or(())?,
                flags: be16(p, start + 7).ok_or(())?,
            });
        }
        pos = next;
    }
    Ok(found)
}

/// Skips one resource record at `pos`; returns where the next starts and this one's type.
fn skip_record(p: &[u8], mut pos: usize) -> Option<(usize, u16)> {
    loop {
        let len = *p.get(pos)? as usize;
        match len & 0xC0 {
            0 if len == 0 => {
                pos += 1;
                break;
            }
            0 => pos += 1 + len,
            0xC0 => {
                pos += 2;
                break;
            }
            _ => return None,
        }
    }
    let rtype = be16(p, pos)?;
    let rdlen = be16(p, pos + 8)? as usize;
    let next = pos + 10 + rdlen;
    (next <= p.len()).then_some((next, rtype))
}

/// Writes a reply header: the query's id and copied flags, QR and RA, the rcode, and
/// `qdcount` questions (the other counts are set as records are added).
fn header(out: &mut Vec<u8>, id: [u8; 2], flags: u16, rcode: u8, qdcount: u16) {
    let flags = QR | RA | flags | (rcode as u16 & 0xF);
    out.extend_from_slice(&id);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&qdcount.to_be_bytes());
    out.extend_from_slice(&[0; 6]);
}

/// An IN record owned by the name at `owner` in the reply, with the zone's TTL.
fn record(out: &mut Vec<u8>, owner: u16, rtype: u16, rdata: &[u8]) {
    out.extend_from_slice(&(0xC000 | owner).to_be_bytes());
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&TTL.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

/// The zone's SOA record, owned by the TLD at `tld` in the reply: the TLD is its primary,
/// `hostmaster.<tld>` its contact, and the TTL also its negative-caching time.
fn soa(out: &mut Vec<u8>, tld: u16) {
    let ptr = (0xC000 | tld).to_be_bytes();
    let mut rdata = [0u8; 2 + 11 + 2 + 20];
    rdata[..2].copy_from_slice(&ptr);
    rdata[2] = 10;
    rdata[3..13].copy_from_slice(b"hostmaster");
    rdata[13..15].copy_from_slice(&ptr);
    // serial, refresh, retry, expire, minimum
    for (i, v) in [1u32, 3600, 600, 86400, TTL].iter().enumerate() {
        rdata[15 + 4 * i..19 + 4 * i].copy_from_slice(&v.to_be_bytes());
    }
    record(out, tld, TYPE_SOA, &rdata);
}

/// The reply's OPT record: our payload size, `ext_rcode`, version 0, the DO bit copied.
fn opt(out: &mut Vec<u8>, ext_rcode: u8, query_flags: u16) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[ext_rcode, 0]);
    out.extend_from_slice(&(query_flags & DO).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}

fn set_count(out: &mut [u8], at: usize, n: u16) {
    out[at..at + 2].copy_from_slice(&n.to_be_bytes());
}

fn be16(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
