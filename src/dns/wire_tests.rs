//! Unit tests of the responder's wire format, its replies read back with simple-dns.

use super::*;
use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag, RCODE};

/// A query: `id`, RD set, one question, and an OPT record when `edns` gives (payload,
/// version).
fn query(id: u16, name: &str, qtype: u16, edns: Option<(u16, u8)>) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for l in name.split('.').filter(|l| !l.is_empty()) {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Some((payload, version)) = edns {
        q.push(0);
        q.extend_from_slice(&TYPE_OPT.to_be_bytes());
        q.extend_from_slice(&payload.to_be_bytes());
        q.extend_from_slice(&[0, version, 0x80, 0, 0, 0]);
    }
    q
}

fn zone() -> Zone {
    Zone::new("localhost").expect("valid")
}

fn ask(name: &str, qtype: u16) -> Vec<u8> {
    answer(&query(0xBEEF, name, qtype, None), &zone(), 1232).expect("an answer")
}

fn rcode(r: &[u8]) -> u8 {
    r[3] & 0xF
}

#[test]
fn a_and_aaaa_under_the_tld_with_the_questions_case() {
    let r = ask("ApI.p.LOCALHOST", TYPE_A);
    let p = Packet::parse(&r).expect("a valid reply");
    assert_eq!(p.id(), 0xBEEF);
    assert!(p.has_flags(PacketFlag::RESPONSE | PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_DESIRED));
    assert_eq!(p.rcode(), RCODE::NoError);
    assert_eq!(p.questions.len(), 1);
    assert_eq!(p.questions[0].qname.to_string(), "ApI.p.LOCALHOST");
    assert_eq!(p.answers.len(), 1);
    assert_eq!(
        p.answers[0].name.to_string(),
        "ApI.p.LOCALHOST",
        "answered in the question's case"
    );
    assert_eq!(p.answers[0].ttl, TTL);
    match &p.answers[0].rdata {
        RData::A(a) => assert_eq!(std::net::Ipv4Addr::from(a.address), std::net::Ipv4Addr::LOCALHOST),
        other => panic!("not an A record: {other:?}"),
    }
    let r = ask("localhost", TYPE_AAAA);
    let p = Packet::parse(&r).expect("a valid reply");
    match &p.answers[0].rdata {
        RData::AAAA(a) => assert_eq!(std::net::Ipv6Addr::from(a.address), std::net::Ipv6Addr::LOCALHOST),
        other => panic!("not an AAAA record: {other:?}"),
    }
    assert!(
        p.additional_records.is_empty() && p.opt().is_none(),
        "no OPT without EDNS"
    );
}

#[test]
fn other_types_are_empty_with_the_soa_and_outside_is_refused() {
    for qtype in [15u16, 16, 255, 2, 33, 65] {
        let r = ask("api.p.localhost", qtype);
        let p = Packet::parse(&r).expect("a valid reply");
        assert_eq!((p.rcode(), p.answers.len()), (RCODE::NoError, 0), "type {qtype}");
        assert_eq!(p.name_servers.len(), 1, "type {qtype}");
        assert_eq!(p.name_servers[0].name.to_string(), "localhost");
        match &p.name_servers[0].rdata {
            RData::SOA(s) => {
                assert_eq!(s.mname.to_string(), "localhost");
                assert_eq!(s.rname.to_string(), "hostmaster.localhost");
                assert_eq!(s.minimum, TTL);
            }
            other => panic!("not an SOA: {other:?}"),
        }
    }
    let r = ask("LocalHost", TYPE_SOA);
    let p = Packet::parse(&r).expect("valid");
    assert_eq!(
        (p.answers.len(), p.name_servers.len()),
        (1, 0),
        "the apex answers its SOA"
    );
    for name in ["example.com", "localhost.example.com", "xlocalhost"] {
        let r = ask(name, TYPE_A);
        let p = Packet::parse(&r).expect("a valid reply");
        assert_eq!(p.rcode(), RCODE::Refused, "{name}");
        assert!(!p.has_flags(PacketFlag::AUTHORITATIVE_ANSWER), "{name}");
        assert_eq!((p.answers.len(), p.name_servers.len()), (0, 0), "{name}");
        assert_eq!(p.questions[0].qname.to_string(), name);
    }
    assert_eq!(rcode(&ask("api.p.localhost", TYPE_AXFR)), REFUSED);
    // a class other than IN (CHAOS: version.bind) is refused
    let mut q = query(1, "version.bind", 16, None);
    let n = q.len();
    q[n - 1] = 3;
    assert_eq!(rcode(&answer(&q, &zone(), 512).expect("answered")), REFUSED);
}

#[test]
fn known_hosts_give_nxdomain_with_the_soa() {
    let z = Zone::with_hosts("localhost", &["api.p.localhost".into()]).expect("valid");
    let r = answer(&query(7, "web.p.localhost", TYPE_A, None), &z, 512).expect("answered");
    let p = Packet::parse(&r).expect("valid");
    assert_eq!(p.rcode(), RCODE::NameError);
    assert!(p.has_flags(PacketFlag::AUTHORITATIVE_ANSWER));
    assert_eq!((p.answers.len(), p.name_servers.len()), (0, 1));
    let r = answer(&query(7, "p.localhost", TYPE_A, None), &z, 512).expect("answered");
    assert_eq!((rcode(&r), r[7]), (NOERROR, 0), "an empty non-terminal has no records");
    let r = answer(&query(7, "api.p.localhost", TYPE_A, None), &z, 512).expect("answered");
    assert_eq!((rcode(&r), r[7]), (NOERROR, 1));
}

#[test]
fn edns_gets_an_opt_record_and_unknown_versions_badvers() {
    let r = answer(&query(9, "api.p.localhost", TYPE_A, Some((4096, 0))), &zone(), 1232).expect("answered");
    let p = Packet::parse(&r).expect("valid");
    let opt = p.opt().expect("an OPT record back");
    assert_eq!(opt.udp_packet_size, EDNS_PAYLOAD);
    assert_eq!(p.answers.len(), 1);
    // (simple-dns reads the OPT TTL's fields from the wrong bytes: read them here)
    let at = r.len() - 11;
    assert_eq!(&r[at + 5..at + 9], &[0, 0, 0x80, 0], "rcode 0, version 0, DO copied");
    let r = answer(&query(9, "api.p.localhost", TYPE_A, Some((4096, 1))), &zone(), 1232).expect("answered");
    assert_eq!(rcode(&r), 0, "BADVERS has 0 in the header's four bits");
    assert_eq!(r[7], 0, "no answer");
    let at = r.len() - 11;
    assert_eq!(&r[at..at + 3], &[0, 0, 41], "an OPT record ends the reply");
    assert_eq!(r[at + 5], 1, "extended rcode 1: BADVERS (16)");
    // two OPT records: FORMERR, with the question echoed
    let mut q = query(9, "api.p.localhost", TYPE_A, Some((1232, 0)));
    let tail = q[q.len() - 11..].to_vec();
    q.extend_from_slice(&tail);
    q[11] = 2;
    let r = answer(&q, &zone(), 1232).expect("answered");
    assert_eq!((rcode(&r), r[5]), (FORMERR, 1));
}

#[test]
fn malformed_input_is_formerr_or_dropped() {
    let z = zone();
    assert_eq!(answer(&[], &z, 512), None);
    assert_eq!(answer(&[1, 2, 3], &z, 512), None, "no header: nothing to answer");
    let mut resp = ask("localhost", TYPE_A);
    resp[2] |= 0x80;
    assert_eq!(answer(&resp, &z, 512), None, "a response is never answered");
    let r = answer(&[0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0], &z, 512).expect("answered");
    assert_eq!((r[0], r[1], rcode(&r), r[2] & 0x80), (0xAB, 0xCD, FORMERR, 0x80));
    let mut two = query(5, "localhost", TYPE_A, None);
    two[5] = 2;
    assert_eq!(rcode(&answer(&two, &z, 512).expect("answered")), FORMERR);
    let mut ptr = query(5, "localhost", TYPE_A, None);
    ptr[12] = 0xC0;
    assert_eq!(rcode(&answer(&ptr, &z, 512).expect("answered")), FORMERR);
    let long = vec!["a".repeat(63); 4].join(".");
    assert_eq!(
        rcode(&answer(&query(5, &long, TYPE_A, None), &z, 512).expect("answered")),
        FORMERR
    );
    let mut op = query(5, "localhost", TYPE_A, None);
    op[2] |= 2 << 3;
    assert_eq!(rcode(&answer(&op, &z, 512).expect("answered")), NOTIMP);
    // an answer count with nothing behind it
    let mut an = query(5, "localhost", TYPE_A, None);
    an[7] = 1;
    assert_eq!(rcode(&answer(&an, &z, 512).expect("answered")), FORMERR);
}

#[test]
fn a_reply_over_the_clients_size_is_cut_with_tc() {
    let q = query(3, "api.p.localhost", TYPE_A, None);
    let r = answer(&q, &zone(), 40).expect("answered");
    assert_eq!(r[2] & 0x02, 0x02, "TC set");
    assert_eq!((r[7], r[9], r[11]), (0, 0, 0));
    assert_eq!(r.len(), q.len(), "header and question only");
    let mut out = Vec::new();
    assert!(answer_into(&q, &zone(), Transport::Tcp, &mut out));
    assert_eq!(out[2] & 0x02, 0, "TCP is never cut");
}

#[test]
fn no_input_panics() {
    let z = Zone::with_hosts("localhost", &["a.localhost".into(), "*.w.localhost".into()]).expect("valid");
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base = query(1, "x.w.localhost", TYPE_A, Some((1232, 0)));
    let mut out = Vec::new();
    for i in 0..200_000 {
        let mut p = if i % 2 == 0 {
            base.clone()
        } else {
            (0..(next() % 80) as usize).map(|_| next() as u8).collect()
        };
        if !p.is_empty() {
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % p.len();
                p[at] = next() as u8;
            }
            p.truncate(p.len() - (next() as usize % 3).min(p.len()));
        }
        for t in [Transport::Udp(512), Transport::Tcp] {
            if answer_into(&p, &z, t, &mut out) {
                assert!(out.len() >= HEADER && out[..2] == p[..2], "the id is echoed");
            }
        }
    }
}
