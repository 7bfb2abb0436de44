//! The DNS server and `taskmux dns`: the real `taskmux-dns` answered by `dig` and by raw
//! sockets (garbage, 100 concurrent ids, TCP framing), its refusals (a non-loopback bind, a
//! busy port), and install/uninstall of every resolver against a scratch system root, which
//! must be byte-identical after uninstall.

use crate::harness::{Env, free_port, require, retry_eintr, show, wait_for};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn dns_bin() -> &'static str {
    env!("CARGO_BIN_EXE_taskmux-dns")
}

/// A running `taskmux-dns`; Drop kills and reaps it.
struct Server {
    child: Child,
    port: u16,
    /// Its stderr: what it says it did.
    log: PathBuf,
}

impl Server {
    /// What it has written to stderr so far.
    fn said(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `taskmux-dns` on a port of its own choosing (`--port 0`: no other test can be
/// given the same one between a probe and the bind) with `extra` flags, reads the port from
/// its `--json` line, and waits until it answers.
fn server(env: &Env, extra: &[&str]) -> Server {
    let log = env.root.join(format!(
        "taskmux-dns-{}.err",
        env.root.read_dir().map_or(0, Iterator::count)
    ));
    let mut child = Command::new(dns_bin())
        .args(["--json", "--port", "0"])
        .args(extra)
        .env("TASKMUX_HOME", &env.home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("a file for its stderr"))
        .spawn()
        .expect("taskmux-dns starts");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
    let port = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|v| v["port"].as_u64());
    let s = Server {
        child,
        port: port.unwrap_or_else(|| panic!("taskmux-dns said where it serves: {line:?}")) as u16,
        log,
    };
    wait_for(10.0, "taskmux-dns to answer", || {
        raw(s.port, &query(1, "localhost", 1)).is_some()
    });
    s
}

/// `dig` at the server, with a short timeout; its stdout.
fn dig(port: u16, args: &[&str]) -> String {
    let o = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("dig runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn have_dig() -> bool {
    require("dig", &["dig", "-v"])
}

/// A query message: `id`, RD, one IN question of `qtype`.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, qtype as u8, 0, 1]);
    q
}

/// Sends one query on a TCP connection (2-byte length framing) and reads its reply.
fn tcp_ask(mut c: &TcpStream, packet: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    c.write_all(&framed)?;
    let mut len = [0u8; 2];
    c.read_exact(&mut len)?;
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut r)?;
    Ok(r)
}

/// Sends one datagram and returns the reply, or None when none came within a second.
fn raw(port: u16, packet: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").expect("a client socket");
    s.send_to(packet, ("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 1500];
    let n = retry_eintr(Instant::now() + Duration::from_secs(1), |left| {
        s.set_read_timeout(Some(left))?;
        s.recv(&mut buf)
    })
    .ok()?;
    Some(buf[..n].to_vec())
}

#[test]
fn a_and_aaaa_under_the_tld_in_the_questions_case() {
    if !have_dig() {
        return;
    }
    let env = Env::new("dns-a");
    let s = server(&env, &[]);
    assert_eq!(dig(s.port, &["+short", "api.p.localhost", "A"]).trim(), "127.0.0.1");
    assert_eq!(dig(s.port, &["+short", "api.p.localhost", "AAAA"]).trim(), "::1");
    assert_eq!(dig(s.port, &["+short", "localhost", "A"]).trim(), "127.0.0.1");
    assert_eq!(dig(s.port, &["+short", "localhost", "AAAA"]).trim(), "::1");
    let full = dig(s.port, &["ApI.P.LocalHost", "A"]);
    assert!(full.contains("status: NOERROR"), "{full}");
    assert!(full.contains("flags: qr aa rd"), "QR, AA, RD copied: {full}");
    assert!(
        full.contains("\nApI.P.LocalHost.\t1\tIN\tA\t127.0.0.1"),
        "the question's case, TTL 1: {full}"
    );
}

#[test]
fn other_types_are_empty_with_the_soa_and_outside_is_refused() {
    if !have_dig() {
        return;
    }
    let env = Env::new("dns-types");
    let s = server(&env, &[]);
    for t in ["MX", "TXT"] {
        let out = dig(s.port, &["api.p.localhost", t]);
        assert!(out.contains("status: NOERROR"), "{t}: {out}");
        assert!(out.contains("ANSWER: 0, AUTHORITY: 1"), "{t}: {out}");
        assert!(
            out.contains("localhost.\t\t1\tIN\tSOA\tlocalhost. hostmaster.localhost."),
            "{t}: the SOA in authority: {out}"
        );
    }
    let out = dig(s.port, &["example.com", "A"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    assert!(out.contains("ANSWER: 0, AUTHORITY: 0"), "{out}");
}

#[test]
fn garbage_gets_formerr_and_the_server_keeps_answering() {
    let env = Env::new("dns-garbage");
    let s = server(&env, &[]);
    let garbage = [
        0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0x13, 0x37, 0x00, 0x01, 0xC0, 0x0C, 0xFF,
    ];
    let r = raw(s.port, &garbage).expect("a malformed query is answered");
    assert_eq!((r[0], r[1]), (0xAB, 0xCD), "the id is echoed");
    assert_eq!((r[2] & 0x80, r[3] & 0x0F), (0x80, 1), "QR and FORMERR");
    assert_eq!(raw(s.port, &[1, 2, 3]), None, "less than a header: no answer");
    for i in 0..200u16 {
        let junk: Vec<u8> = (0..(i % 40)).map(|j| (i.wrapping_mul(31) ^ (j * 7)) as u8).collect();
        let _ = UdpSocket::bind("127.0.0.1:0").and_then(|c| c.send_to(&junk, ("127.0.0.1", s.port)));
    }
    let r = raw(s.port, &query(9, "api.p.localhost", 1)).expect("still answers");
    assert_eq!((r[0], r[1], r[3] & 0xF, r[7]), (0, 9, 0, 1), "{r:?}");
}

#[test]
fn tcp_answers_several_queries_on_one_connection() {
    let env = Env::new("dns-tcp");
    let s = server(&env, &[]);
    if have_dig() {
        assert_eq!(dig(s.port, &["+tcp", "+short", "web.p.localhost"]).trim(), "127.0.0.1");
    }
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connects");
    c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    // two queries in one write, answered in order
    let mut both = Vec::new();
    for (id, t) in [(100u16, 1u16), (101, 28)] {
        let q = query(id, "api.p.localhost", t);
        both.extend_from_slice(&(q.len() as u16).to_be_bytes());
        both.extend_from_slice(&q);
    }
    c.write_all(&both).expect("write");
    for (id, rdlen) in [(100u16, 4usize), (101, 16)] {
        let mut len = [0u8; 2];
        c.read_exact(&mut len).expect("a length");
        let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
        c.read_exact(&mut r).expect("a reply");
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), id);
        assert_eq!(r[7], 1, "one answer");
        assert_eq!(r.len() - rdlen - 10 - 2, query(id, "api.p.localhost", 1).len());
    }
}

#[test]
fn an_idle_tcp_connection_is_closed_after_ten_seconds() {
    let env = Env::new("dns-tcp-idle");
    let s = server(&env, &[]);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connects");
    c.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    // the server's 10 s start after it has written the answer: between the question sent
    // and the answer read
    let asked = Instant::now();
    tcp_ask(&c, &query(1, "localhost", 1)).expect("answered");
    let answered = Instant::now();
    let mut buf = [0u8; 1];
    let got = retry_eintr(answered + Duration::from_secs(30), |left| {
        c.set_read_timeout(Some(left))?;
        c.read(&mut buf)
    });
    let (since_asked, since_answered) = (asked.elapsed(), answered.elapsed());
    // the server's close reads as the end, or as a reset when the kernel had more to say
    let closed = match &got {
        Ok(n) => *n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "closed by the server: {got:?} after {since_answered:?}");
    // the server's socket timeout may end one clock tick (a few ms) early
    assert!(
        since_asked >= Duration::from_millis(9_900),
        "closed {since_asked:?} after the question"
    );
    assert!(
        since_answered < Duration::from_secs(20),
        "closed {since_answered:?} after the answer"
    );
}

#[test]
fn at_the_tcp_cap_the_connection_idle_longest_gives_way() {
    let env = Env::new("dns-tcp-cap");
    let s = server(&env, &[]);
    let open: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).expect("connects"))
        .collect();
    // each of the 64 is served (so each has its thread), the first one first
    for c in &open {
        c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        tcp_ask(c, &query(1, "localhost", 1)).expect("answered");
    }
    // the 65th is served at once, not when one of the 64 times out (10 s)
    let extra = TcpStream::connect(("127.0.0.1", s.port)).expect("connects");
    extra.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    let r = tcp_ask(&extra, &query(7, "api.p.localhost", 1)).expect("the 65th is answered");
    assert_eq!(u16::from_be_bytes([r[0], r[1]]), 7);
    // the one idle longest (the first) gave way; the others are still served
    let mut buf = [0u8; 1];
    let mut first = &open[0];
    let gone = match retry_eintr(Instant::now() + Duration::from_secs(5), |left| {
        first.set_read_timeout(Some(left))?;
        first.read(&mut buf)
    }) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(gone, "the connection idle longest is closed");
    assert!(
        tcp_ask(&open[63], &query(2, "localhost", 1)).is_ok(),
        "the newest of the 64 stays"
    );
    // UDP is not held up by any of it
    assert!(raw(s.port, &query(3, "localhost", 1)).is_some());
    // and a real client over TCP is answered at the cap too
    if have_dig() {
        let out = dig(s.port, &["+tcp", "+short", "web.p.localhost", "A"]);
        assert_eq!(out.trim(), "127.0.0.1", "{out}");
    }
}

#[test]
fn a_hundred_concurrent_queries_get_their_own_ids() {
    let env = Env::new("dns-concurrent");
    let s = server(&env, &[]);
    let port = s.port;
    // 100 clients at once, each its own socket and id
    let threads: Vec<_> = (0..100u16)
        .map(|i| {
            std::thread::spawn(move || {
                let id = 0x1000 + i * 37;
                let r = raw(port, &query(id, &format!("h{i}.p.localhost"), 1)).expect("an answer");
                (id, r)
            })
        })
        .collect();
    for t in threads {
        let (id, r) = t.join().expect("the client thread");
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), id);
    }
    // and 100 in flight from one socket: each reply names its own question
    let c = UdpSocket::bind("127.0.0.1:0").expect("client");
    for i in 0..100u16 {
        c.send_to(&query(i, &format!("n{i}.localhost"), 1), ("127.0.0.1", port))
            .expect("send");
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut buf = [0u8; 512];
    // each reply within 2 s of the one before; no more replies than questions
    for _ in 0..100 {
        let Ok(n) = retry_eintr(Instant::now() + Duration::from_secs(2), |left| {
            c.set_read_timeout(Some(left))?;
            c.recv(&mut buf)
        }) else {
            break;
        };
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        let name = format!("n{id}");
        assert_eq!(
            &buf[13..13 + name.len()],
            name.as_bytes(),
            "reply {id} has its own question"
        );
        assert!(n > 12);
        seen.insert(id);
        if seen.len() == 100 {
            break;
        }
    }
    assert_eq!(seen.len(), 100, "every query answered once");
}

#[test]
fn edns_gets_an_opt_record_and_badvers_for_version_1() {
    if !have_dig() {
        return;
    }
    let env = Env::new("dns-edns");
    let s = server(&env, &[]);
    let out = dig(s.port, &["+edns=0", "api.p.localhost"]);
    assert!(out.contains("EDNS: version: 0"), "{out}");
    assert!(out.contains("udp: 1232"), "{out}");
    let out = dig(s.port, &["+edns=1", "+noednsnegotiation", "api.p.localhost"]);
    assert!(out.contains("status: BADVERS"), "{out}");
    let out = dig(s.port, &["+noedns", "api.p.localhost"]);
    assert!(!out.contains("OPT PSEUDOSECTION"), "no OPT without EDNS: {out}");
}

#[test]
fn the_tld_follows_the_global_config_while_it_runs() {
    let env = Env::new("dns-follow");
    let s = server(&env, &[]);
    let rcode = |name: &str| raw(s.port, &query(5, name, 1)).map(|r| r[3] & 0xF);
    assert_eq!(rcode("a.test"), Some(5), "refused before");
    std::fs::write(env.home.join("config.toml"), "dns_managed_tld = \"test\"\n").expect("write config");
    wait_for(10.0, "the server to answer .test", || rcode("a.test") == Some(0));
    assert_eq!(rcode("a.localhost"), Some(5), "the old TLD is out");
    // an invalid config changes nothing, once the server has read it
    std::fs::write(env.home.join("config.toml"), "dns_managed_tld = \"no way\"\n").expect("write");
    wait_for(10.0, "the server to read the invalid config", || {
        s.said().contains("config not applied, keeping .test")
    });
    assert_eq!(rcode("a.test"), Some(0), "{}", s.said());
}

/// A save of the config while the server starts (after it read the config, before it
/// watches the file) is followed too. The server's stdout is a socket whose buffer the
/// test has filled, so the server is held in the middle of saying where it serves, with
/// the config read, until the test has saved and then reads its line.
#[test]
fn a_save_while_the_server_starts_is_followed() {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    let env = Env::new("dns-follow-start");
    let (ours, theirs) = UnixStream::pair().expect("a socket pair");
    theirs.set_nonblocking(true).expect("nonblocking");
    let filler = [b'.'; 4096];
    let mut full = false;
    for _ in 0..100_000 {
        if (&theirs).write(&filler).is_err() {
            full = true;
            break;
        }
    }
    assert!(full, "the socket's buffer fills up");
    theirs.set_nonblocking(false).expect("blocking again");
    let log = env.root.join("taskmux-dns.err");
    let mut s = Server {
        child: Command::new(dns_bin())
            .args(["--json", "--port", "0"])
            .env("TASKMUX_HOME", &env.home)
            .stdin(Stdio::null())
            .stdout(Stdio::from(OwnedFd::from(theirs)))
            .stderr(std::fs::File::create(&log).expect("a file for its stderr"))
            .spawn()
            .expect("taskmux-dns starts"),
        port: 0,
        log,
    };
    // held: its main thread sits in a write to stdout (fd 1), the same one for a while
    let main = format!("/proc/{}/syscall", s.child.id());
    let writing = || {
        let a = std::fs::read_to_string(&main).unwrap_or_default();
        std::thread::sleep(Duration::from_millis(100));
        let b = std::fs::read_to_string(&main).unwrap_or_default();
        a == b && a.split_whitespace().nth(1) == Some("0x1")
    };
    wait_for(10.0, "taskmux-dns to wait in its write to stdout", writing);
    std::fs::write(env.home.join("config.toml"), "dns_managed_tld = \"test\"\n").expect("write config");
    // now let it say where it serves: its line comes after the filler
    let mut said = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !said.ends_with(b"\n") {
        let n = retry_eintr(deadline, |left| {
            ours.set_read_timeout(Some(left))?;
            (&ours).read(&mut buf)
        })
        .expect("taskmux-dns says where it serves");
        assert!(n > 0, "taskmux-dns closed its stdout: {}", s.said());
        said.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&said).trim_start_matches('.').to_string();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    s.port = v["port"].as_u64().expect("a port") as u16;
    assert_eq!(v["tld"], "localhost", "it read the config before the save: {v}");
    wait_for(10.0, "the server to answer .test", || {
        raw(s.port, &query(5, "a.test", 1)).is_some_and(|r| r[3] & 0xF == 0)
    });
}

/// Runs `taskmux-dns` that must exit; its output.
fn refused(env: &Env, args: &[&str]) -> Output {
    let mut c = Command::new(dns_bin());
    c.args(args).env("TASKMUX_HOME", &env.home).stdin(Stdio::null());
    let o = c.output().expect("taskmux-dns runs");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    o
}

#[test]
fn a_non_loopback_bind_is_refused_unless_allowed() {
    let env = Env::new("dns-remote");
    let port = free_port().to_string();
    let o = refused(&env, &["--bind", "0.0.0.0", "--port", &port]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[E641]") && err.contains("not a loopback address"),
        "{err}"
    );
    assert!(err.contains("--allow-remote"), "the hint names the flag: {err}");
    let c = UdpSocket::bind(("0.0.0.0", port.parse::<u16>().expect("port"))).expect("nothing holds the port");
    drop(c);
    let o = Command::new(dns_bin())
        .args(["--json", "--bind", "192.0.2.1", "--port", &port])
        .env("TASKMUX_HOME", &env.home)
        .output()
        .expect("runs");
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!((o.status.code(), v["code"].as_str()), (Some(1), Some("E641")), "{v}");
    // allowed: it serves (and would answer other machines)
    let s = server(&env, &["--bind", "0.0.0.0", "--allow-remote"]);
    assert!(raw(s.port, &query(3, "localhost", 1)).is_some());
    // bad flags are usage errors
    for bad in [
        &["--bind", "nowhere"][..],
        &["--port", "70000"],
        &["--tld", "a b"],
        &["extra"],
    ] {
        let o = Command::new(dns_bin())
            .args(bad)
            .env("TASKMUX_HOME", &env.home)
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", show(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("E500"),
            "{bad:?}: {}",
            show(&o)
        );
    }
}

#[test]
fn a_busy_port_is_e640_naming_the_transport() {
    let env = Env::new("dns-busy");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("holds a UDP port");
    let port = udp.local_addr().expect("addr").port().to_string();
    let o = refused(&env, &["--port", &port]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[E640]") && err.contains("udp port is in use"),
        "{err}"
    );
    drop(udp);
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("holds a TCP port");
    let port = tcp.local_addr().expect("addr").port().to_string();
    let o = refused(&env, &["--port", &port]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[E640]") && err.contains("tcp port is in use"),
        "{err}"
    );
    // and the UDP half it had bound is let go
    UdpSocket::bind(("127.0.0.1", port.parse::<u16>().expect("port"))).expect("the UDP port is free");
}

#[test]
fn dns_serve_is_the_same_server() {
    let env = Env::new("dns-serve");
    let port = free_port();
    let log = env.root.join("dns-serve.err");
    let child = env
        .command(&["dns", "serve", "--port", &port.to_string(), "--tld", "test"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a file for its stderr"))
        .spawn()
        .expect("taskmux dns serve starts");
    let guard = Server { child, port, log };
    wait_for(10.0, "dns serve to answer", || {
        raw(guard.port, &query(4, "x.test", 1)).is_some_and(|r| r[3] & 0xF == 0 && r[7] == 1)
    });
}

#[test]
fn query_prints_the_answers_and_rcode_and_fails_without_a_server() {
    let env = Env::new("dns-query");
    let s = server(&env, &[]);
    let at = format!("127.0.0.1:{}", s.port);
    let o = env.run(&["dns", "query", "api.p.localhost", "--server", &at]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(text.contains("api.p.localhost.  1    A     127.0.0.1"), "{text}");
    assert!(text.contains("NOERROR from 127.0.0.1:"), "{text}");
    let (v, rc) = env.json(&["dns", "query", "api.p.localhost", "--type", "aaaa", "--server", &at]);
    assert_eq!(
        (rc, v["ok"].as_bool(), v["rcode"].as_str()),
        (0, Some(true), Some("NOERROR")),
        "{v}"
    );
    assert_eq!(v["answers"][0]["data"], "::1", "{v}");
    let (v, _) = env.json(&["dns", "query", "example.com", "--server", &at]);
    assert_eq!(v["rcode"], "REFUSED", "{v}");
    let (v, _) = env.json(&["dns", "query", "api.p.localhost", "--type", "MX", "--server", &at]);
    assert_eq!(
        (
            v["answers"].as_array().map(Vec::len),
            v["authority"][0]["type"].as_str()
        ),
        (Some(0), Some("SOA"))
    );
    // the default server is 127.0.0.1:dns_server_port
    std::fs::write(env.home.join("config.toml"), format!("dns_server_port = {}\n", s.port)).expect("write");
    let (v, rc) = env.json(&["dns", "query", "localhost"]);
    assert_eq!((rc, v["answers"][0]["data"].as_str()), (0, Some("127.0.0.1")), "{v}");
    drop(s);
    let o = env.run(&["dns", "query", "localhost", "--server", &at]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error[E643]"),
        "{}",
        show(&o)
    );
    let (v, rc) = env.json(&["dns", "query", "localhost", "--server", &at]);
    assert_eq!((rc, v["code"].as_str()), (1, Some("E643")), "{v}");
    for bad in [
        &["dns", "query"][..],
        &["dns", "query", "a..b"],
        &["dns", "query", "x", "--type", "NOPE"],
    ] {
        assert_eq!(env.run(bad).status.code(), Some(2), "{bad:?}");
    }
}

// ---- install and uninstall against a scratch root ----

/// Every path under `dir` with its mode and contents.
fn tree(dir: &Path) -> Vec<(PathBuf, u32, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            if meta.is_dir() {
                stack.push(p.clone());
                out.push((p, meta.permissions().mode(), None));
            } else {
                out.push((p.clone(), meta.permissions().mode(), std::fs::read(&p).ok()));
            }
        }
    }
    out.sort();
    out
}

/// A scratch world with a system root and a registered project with two hosts.
struct System {
    env: Env,
    root: PathBuf,
}

impl System {
    fn new(name: &str, config: &str) -> System {
        let env = Env::new(name);
        let root = env.root.join("sysroot");
        std::fs::create_dir_all(&root).expect("mkdir");
        env.config("name = \"p\"\n[tasks.api]\ncommand = \"true\"\nhost = \"api\"\n[tasks.web]\ncommand = \"true\"\nhost = \"web\"\n[tasks.any]\ncommand = \"true\"\nhost = \"*\"\n");
        // on the test's own tmux server: a daemon started by a test heals it there, never
        // on the default server
        let reg = serde_json::json!({"projects": {"p": {"session": "p",
            "config_path": env.project.join("taskmux.toml"), "registered_at": "2026-01-01T00:00:00Z", "desired": "up",
            "tmux_socket": env.socket}}});
        std::fs::write(env.home.join("registry.json"), reg.to_string()).expect("write registry");
        std::fs::write(env.home.join("config.toml"), config).expect("write config");
        System { env, root }
    }

    fn json(&self, os: &str, args: &[&str]) -> (Value, i32) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self
            .env
            .command(&a)
            .env("TASKMUX_SYSTEM_ROOT", &self.root)
            .env("TASKMUX_TEST_OS", os)
            .output()
            .expect("taskmux runs");
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));
        (v, o.status.code().unwrap_or(-1))
    }

    fn human(&self, os: &str, args: &[&str]) -> Output {
        self.env
            .command(args)
            .env("TASKMUX_SYSTEM_ROOT", &self.root)
            .env("TASKMUX_TEST_OS", os)
            .output()
            .expect("taskmux runs")
    }
}

#[test]
fn dns_server_on_linux_writes_the_resolved_drop_in_and_takes_it_back() {
    let s = System::new("dns-linux", "host_resolver = \"dns_server\"\ndns_server_port = 5499\n");
    std::fs::create_dir_all(s.root.join("etc")).expect("mkdir");
    std::fs::write(s.root.join("etc/hostname"), "box\n").expect("write");
    // without systemd-resolved: E644, nothing written
    let before = tree(&s.root);
    let (v, rc) = s.json("linux", &["dns", "install"]);
    assert_eq!((rc, v["code"].as_str()), (1, Some("E644")), "{v}");
    assert!(v["hint"].as_str().unwrap_or_default().contains("etc_hosts"), "{v}");
    assert_eq!(tree(&s.root), before);
    std::fs::create_dir_all(s.root.join("run/systemd/resolve")).expect("mkdir");
    let before = tree(&s.root);
    let (v, rc) = s.json("linux", &["dns", "install"]);
    assert_eq!(
        (rc, v["ok"].as_bool(), v["action"].as_str()),
        (0, Some(true), Some("installed")),
        "{v}"
    );
    let file = s.root.join("etc/systemd/resolved.conf.d/taskmux.conf");
    let text = std::fs::read_to_string(&file).expect("the drop-in");
    assert!(text.starts_with("# written by 'taskmux dns install'"), "{text}");
    assert!(
        text.ends_with("[Resolve]\nDNS=127.0.0.1:5499\nDomains=~localhost\n"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777,
        0o644
    );
    let cmd = &v["commands"][0];
    assert_eq!(
        cmd["command"],
        serde_json::json!(["systemctl", "reload-or-restart", "systemd-resolved.service"])
    );
    assert_eq!(cmd["ran"], false, "never run under a scratch root: {v}");
    assert!(cmd["note"].as_str().unwrap_or_default().contains("scratch"), "{v}");
    let (v, _) = s.json("linux", &["dns", "install"]);
    assert_eq!(v["action"], "unchanged", "{v}");
    // a file of ours from another port is rewritten
    std::fs::write(
        s.env.home.join("config.toml"),
        "host_resolver = \"dns_server\"\ndns_server_port = 5500\n",
    )
    .expect("write");
    let (v, _) = s.json("linux", &["dns", "install"]);
    assert_eq!(v["action"], "reinstalled", "{v}");
    assert!(
        std::fs::read_to_string(&file)
            .expect("drop-in")
            .contains("DNS=127.0.0.1:5500\n")
    );
    let (v, rc) = s.json("linux", &["dns", "status"]);
    assert_eq!(v["installed"], true, "{v}");
    assert_eq!(rc, 1, "no server answers, so status fails: {v}");
    let server = v["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "server").cloned());
    assert_eq!(server.as_ref().map(|c| c["status"].clone()), Some("fail".into()), "{v}");
    let o = s.human("linux", &["dns", "uninstall"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("removed"), "{}", show(&o));
    assert_eq!(tree(&s.root), before, "the root is as it was, directories too");
    assert!(!s.env.home.join("dns-install.json").exists());
    let (v, rc) = s.json("linux", &["dns", "uninstall"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("not_installed")), "{v}");
}

#[test]
fn a_resolver_file_taskmux_did_not_write_is_left_alone() {
    let s = System::new("dns-taken", "host_resolver = \"dns_server\"\n");
    std::fs::create_dir_all(s.root.join("etc/resolver")).expect("mkdir");
    std::fs::write(s.root.join("etc/resolver/localhost"), "nameserver 10.0.0.1\n").expect("write");
    let before = tree(&s.root);
    let (v, rc) = s.json("macos", &["dns", "install"]);
    assert_eq!((rc, v["code"].as_str()), (1, Some("E646")), "{v}");
    assert_eq!(tree(&s.root), before);
}

#[test]
fn dns_server_on_macos_writes_etc_resolver_and_takes_it_back() {
    let s = System::new(
        "dns-macos",
        "host_resolver = \"dns_server\"\ndns_managed_tld = \"test\"\n",
    );
    let before = tree(&s.root);
    let (v, rc) = s.json("macos", &["dns", "install"]);
    assert_eq!(
        (rc, v["action"].as_str(), v["os"].as_str()),
        (0, Some("installed"), Some("macos")),
        "{v}"
    );
    let text = std::fs::read_to_string(s.root.join("etc/resolver/test")).expect("the resolver file");
    assert!(text.ends_with("\nnameserver 127.0.0.1\nport 5454\n"), "{text}");
    assert_eq!(
        v["commands"],
        serde_json::json!([]),
        "macOS reads /etc/resolver by itself"
    );
    let (v, rc) = s.json("macos", &["dns", "flush"]);
    assert_eq!(rc, 0, "{v}");
    let cmds: Vec<Value> = v["commands"].as_array().cloned().unwrap_or_default();
    assert_eq!(cmds.len(), 2, "{v}");
    assert!(cmds.iter().all(|c| c["ran"] == false), "{v}");
    assert_eq!(
        cmds[1]["command"],
        serde_json::json!(["killall", "-HUP", "mDNSResponder"])
    );
    let (v, rc) = s.json("macos", &["dns", "uninstall"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("uninstalled")), "{v}");
    assert_eq!(tree(&s.root), before, "etc/resolver and etc are gone again");
}

const USER_HOSTS: &str = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# my own\n10.0.0.5 nas.lan\n";

#[test]
fn etc_hosts_keeps_every_byte_outside_the_block() {
    let s = System::new("dns-hosts", "host_resolver = \"etc_hosts\"\n");
    std::fs::create_dir_all(s.root.join("etc")).expect("mkdir");
    let hosts = s.root.join("etc/hosts");
    std::fs::write(&hosts, USER_HOSTS).expect("write");
    std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let before = tree(&s.root);
    let o = s.human("linux", &["dns", "install"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 name(s): api.p.localhost, web.p.localhost"),
        "{}",
        show(&o)
    );
    let block = "# BEGIN taskmux managed\n127.0.0.1 api.p.localhost\n::1 api.p.localhost\n127.0.0.1 web.p.localhost\n::1 web.p.localhost\n# END taskmux managed\n";
    assert_eq!(
        std::fs::read_to_string(&hosts).expect("hosts"),
        format!("{USER_HOSTS}{block}")
    );
    assert_eq!(
        std::fs::metadata(&hosts).expect("stat").permissions().mode() & 0o777,
        0o640,
        "the mode is kept"
    );
    // the user adds a line after the block; a project loses a host; install again
    std::fs::write(&hosts, format!("{USER_HOSTS}{block}192.168.1.9 printer\n")).expect("write");
    s.env
        .config("name = \"p\"\n[tasks.api]\ncommand = \"true\"\nhost = \"api\"\n");
    let (v, rc) = s.json("linux", &["dns", "install"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("reinstalled")), "{v}");
    let small = "# BEGIN taskmux managed\n127.0.0.1 api.p.localhost\n::1 api.p.localhost\n# END taskmux managed\n";
    assert_eq!(
        std::fs::read_to_string(&hosts).expect("hosts"),
        format!("{USER_HOSTS}{small}192.168.1.9 printer\n"),
        "replaced in place, one block"
    );
    let (v, _) = s.json("linux", &["dns", "status"]);
    let installed = v["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "installed").cloned());
    assert_eq!(installed.map(|c| c["status"].clone()), Some("ok".into()), "{v}");
    let (v, rc) = s.json("linux", &["dns", "uninstall"]);
    assert_eq!((rc, v["action"].as_str()), (0, Some("uninstalled")), "{v}");
    assert_eq!(
        std::fs::read_to_string(&hosts).expect("hosts"),
        format!("{USER_HOSTS}192.168.1.9 printer\n")
    );
    // back to the file as it was before install: byte for byte, mode too
    std::fs::write(&hosts, USER_HOSTS).expect("write");
    assert_eq!(tree(&s.root), before);
}

#[test]
fn etc_hosts_without_a_trailing_newline_or_a_file_comes_back_exactly() {
    let s = System::new("dns-hosts-nl", "host_resolver = \"etc_hosts\"\n");
    std::fs::create_dir_all(s.root.join("etc")).expect("mkdir");
    let hosts = s.root.join("etc/hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost").expect("write");
    let before = tree(&s.root);
    let (v, rc) = s.json("linux", &["dns", "install"]);
    assert_eq!(rc, 0, "{v}");
    let text = std::fs::read_to_string(&hosts).expect("hosts");
    assert!(
        text.starts_with("127.0.0.1 localhost\n# BEGIN taskmux managed\n"),
        "{text:?}"
    );
    let (_, rc) = s.json("linux", &["dns", "install"]);
    assert_eq!(rc, 0);
    let (v, rc) = s.json("linux", &["dns", "uninstall"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(tree(&s.root), before, "no trailing newline, as before");
    // no hosts file at all: install creates it, uninstall removes it
    std::fs::remove_file(&hosts).expect("rm");
    let before = tree(&s.root);
    let (_, rc) = s.json("linux", &["dns", "install"]);
    assert_eq!(rc, 0);
    assert!(hosts.exists());
    let (_, rc) = s.json("linux", &["dns", "uninstall"]);
    assert_eq!(rc, 0);
    assert_eq!(tree(&s.root), before);
    // a broken block is refused, the file left alone
    std::fs::write(&hosts, "# BEGIN taskmux managed\n127.0.0.1 x\n").expect("write");
    let before = tree(&s.root);
    let (v, rc) = s.json("linux", &["dns", "install"]);
    assert_eq!((rc, v["code"].as_str()), (1, Some("E645")), "{v}");
    assert_eq!(tree(&s.root), before);
}

#[test]
fn the_daemon_keeps_the_hosts_block_of_its_system_root() {
    let s = System::new("dns-hosts-daemon", "host_resolver = \"etc_hosts\"\n");
    std::fs::create_dir_all(s.root.join("etc")).expect("mkdir");
    let hosts = s.root.join("etc/hosts");
    std::fs::write(&hosts, USER_HOSTS).expect("write");
    let (v, rc) = s.json("linux", &["dns", "install"]);
    assert_eq!(rc, 0, "{v}");
    let real = std::fs::read("/etc/hosts").ok();
    std::fs::write(
        s.env.home.join("config.toml"),
        format!(
            "host_resolver = \"etc_hosts\"\nproxy_enabled = false\napi_port = {}\n",
            free_port()
        ),
    )
    .expect("write config");
    let o = s
        .env
        .command(&["daemon", "start"])
        .env("TASKMUX_SYSTEM_ROOT", &s.root)
        .output()
        .expect("taskmux runs");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // a host added to the project reaches the block under the daemon's root
    s.env.config(
        "name = \"p\"\n[tasks.api]\ncommand = \"true\"\nhost = \"api\"\n[tasks.admin]\ncommand = \"true\"\nhost = \"admin\"\n",
    );
    wait_for(10.0, "the daemon to list admin in the scratch hosts file", || {
        std::fs::read_to_string(&hosts).is_ok_and(|t| t.contains("127.0.0.1 admin.p.localhost\n"))
    });
    let text = std::fs::read_to_string(&hosts).expect("hosts");
    assert!(text.starts_with(USER_HOSTS), "{text}");
    assert!(!text.contains("web.p.localhost"), "web's host is gone: {text}");
    assert_eq!(
        std::fs::read("/etc/hosts").ok(),
        real,
        "the machine's /etc/hosts is not touched"
    );
}

#[test]
fn switching_resolvers_undoes_the_previous_install() {
    let s = System::new("dns-switch", "host_resolver = \"etc_hosts\"\n");
    std::fs::create_dir_all(s.root.join("etc")).expect("mkdir");
    std::fs::write(s.root.join("etc/hosts"), USER_HOSTS).expect("write");
    let before = tree(&s.root);
    let (_, rc) = s.json("macos", &["dns", "install"]);
    assert_eq!(rc, 0);
    std::fs::write(s.env.home.join("config.toml"), "host_resolver = \"dns_server\"\n").expect("write");
    let (v, rc) = s.json("macos", &["dns", "install"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["replaced"]["resolver"], "etc_hosts", "{v}");
    assert_eq!(
        std::fs::read_to_string(s.root.join("etc/hosts")).expect("hosts"),
        USER_HOSTS
    );
    std::fs::write(s.env.home.join("config.toml"), "host_resolver = \"noop\"\n").expect("write");
    let o = s.human("macos", &["dns", "install"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("nothing to install"), "{}", show(&o));
    assert!(
        text.contains("still in place"),
        "the dns_server install is named: {}",
        show(&o)
    );
    let (_, rc) = s.json("macos", &["dns", "uninstall"]);
    assert_eq!(rc, 0);
    assert_eq!(tree(&s.root), before);
    let (v, rc) = s.json("linux", &["dns", "flush"]);
    assert_eq!(
        (rc, v["commands"][0]["command"][0].as_str()),
        (0, Some("resolvectl")),
        "{v}"
    );
    let (v, rc) = s.json("plan9", &["dns", "install"]);
    assert_eq!((rc, v["code"].as_str()), (2, Some("E104")), "{v}");
}
