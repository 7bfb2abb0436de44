//! The proxy's limits against real sockets: a rustls client, a TCP upstream on loopback and
//! a proxy with small limits, in this process. The end-to-end behaviour (curl, Chromium,
//! the daemon) is in tests/proxy.rs; these are the edges a browser rarely reaches: the
//! connection cap, the head timeout, a client vanishing mid-response, pipelining, the
//! spellings of a Host that names the session's host, an answer slower than the upstream
//! timeout once it has begun.

use super::{Options, Proxy, Route, Router};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::sign::CertifiedKey;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HOST: &str = "a.p.localhost";
/// A name the certificate covers and no route serves.
const OTHER: &str = "b.p.localhost";

#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

struct ToPort(u16);

impl Router for ToPort {
    fn route(&self, host: &str) -> Route {
        if host == HOST {
            Route::Upstream {
                port: self.0,
                addr: None,
                session: "p".into(),
                task: "a".into(),
            }
        } else {
            Route::Unknown {
                project: None,
                hosts: Vec::new(),
            }
        }
    }
}

/// A proxy with `opts` in front of `upstream`'s port, and a client config that trusts it.
struct Rig {
    proxy: Proxy,
    client: Arc<rustls::ClientConfig>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.proxy.close();
    }
}

fn rig(upstream: u16, opts: Options) -> Rig {
    let made = rcgen::generate_simple_self_signed(vec![HOST.to_string(), OTHER.to_string()]).expect("a certificate");
    let der = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ck = CertifiedKey::from_der(vec![der.clone()], key, &provider).expect("a key pair");
    let listeners = super::bind(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0).expect("binds");
    let tls = super::tls_config(Arc::new(OneCert(Arc::new(ck))));
    let proxy = super::serve(listeners, tls, Arc::new(ToPort(upstream)), opts, Arc::new(|_: &str| {}));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).expect("a root");
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Rig {
        proxy,
        client: Arc::new(client),
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl Rig {
    /// A connection to the proxy made for HOST, with its handshake done.
    fn connect(&self) -> std::io::Result<Tls> {
        self.connect_as(HOST)
    }

    /// A connection to the proxy made for `name`, with its handshake done.
    fn connect_as(&self, name: &'static str) -> std::io::Result<Tls> {
        let sock = TcpStream::connect(self.proxy.https_addr())?;
        sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        let name = ServerName::try_from(name).expect("a name");
        let conn = rustls::ClientConnection::new(self.client.clone(), name).map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(tls)
    }
}

/// Reads until `want` bytes are in (or EOF, an error or 5 s).
fn read_some(tls: &mut Tls, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < end {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    got
}

/// Reads one response with a Content-Length body (or up to 5 s).
fn read_response(tls: &mut Tls) -> String {
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        let more = read_some(tls, 1);
        if more.is_empty() {
            break;
        }
        got.extend(more);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An upstream that answers every request on every connection with "ok" (keep-alive).
fn ok_upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = c.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if c.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n")
}

#[test]
fn connections_past_the_cap_are_closed_and_a_freed_slot_is_used_again() {
    let r = rig(
        ok_upstream(),
        Options {
            max_connections: 2,
            ..Options::default()
        },
    );
    let mut a = r.connect().expect("the first connection");
    let _b = r.connect().expect("the second connection");
    wait_for("two open connections", || r.proxy.connections() == 2);
    assert!(
        r.connect().is_err(),
        "a third connection is closed before its handshake"
    );
    // the open ones still work
    a.write_all(get("/").as_bytes()).expect("send");
    let got = String::from_utf8_lossy(&read_some(&mut a, 40)).into_owned();
    assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("ok"), "{got:?}");
    drop(a);
    wait_for("a freed slot", || r.proxy.connections() == 1);
    let mut c = r.connect().expect("a connection in the freed slot");
    c.write_all(get("/").as_bytes()).expect("send");
    assert!(String::from_utf8_lossy(&read_some(&mut c, 40)).ends_with("ok"));
}

#[test]
fn a_head_that_takes_too_long_gets_408_and_the_connection_ends() {
    let opts = Options {
        head_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let r = rig(ok_upstream(), opts);
    let mut t = r.connect().expect("connects");
    t.write_all(b"GET / HTTP/1.1\r\nHost: a.p.loc").expect("half a head");
    let started = Instant::now();
    let got = String::from_utf8_lossy(&read_some(&mut t, usize::MAX)).into_owned();
    assert!(got.starts_with("HTTP/1.1 408"), "{got:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "408 after {:?}",
        started.elapsed()
    );
    wait_for("the connection to end", || r.proxy.connections() == 0);
}

#[test]
fn a_head_that_fills_the_limit_unended_gets_431_at_once() {
    // exactly the limit, in 16 KB TLS records, and the head not ended: it is longer than
    // the limit. Waiting for more would last until the head timeout, as the proxy reads
    // no more into a full buffer (under load the next record came too late, and curl's
    // 64 KB header got nothing in 10 s)
    let limit = Options::default().max_head_bytes;
    let r = rig(ok_upstream(), Options::default());
    let mut t = r.connect().expect("connects");
    let mut head = format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nX-Big: ").into_bytes();
    head.resize(limit, b'a');
    t.write_all(&head).expect("a head as long as the limit");
    let started = Instant::now();
    let got = String::from_utf8_lossy(&read_some(&mut t, usize::MAX)).into_owned();
    assert!(got.starts_with("HTTP/1.1 431"), "{got:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "431 after {:?}",
        started.elapsed()
    );
}

#[test]
fn two_pipelined_requests_get_their_answers_in_order() {
    let r = rig(ok_upstream(), Options::default());
    let mut t = r.connect().expect("connects");
    t.write_all(format!("{}{}", get("/one"), get("/two")).as_bytes())
        .expect("send both");
    let one = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let got = String::from_utf8_lossy(&read_some(&mut t, 2 * one.len())).into_owned();
    assert_eq!(got.matches(one).count(), 2, "{got:?}");
}

#[test]
fn a_client_that_goes_away_mid_response_frees_its_upstream_at_once() {
    // the upstream sends a head and part of a long body, then waits for the proxy to hang up
    let l = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut c, _)) = l.accept() else { return };
        let mut chunk = [0u8; 4096];
        let _ = c.read(&mut chunk);
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst");
        let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = tx.send(matches!(c.read(&mut chunk), Ok(0) | Err(_)));
    });
    let r = rig(port, Options::default());
    let mut t = r.connect().expect("connects");
    t.write_all(get("/stream").as_bytes()).expect("send");
    let got = String::from_utf8_lossy(&read_some(&mut t, 1)).into_owned();
    assert!(got.starts_with("HTTP/1.1 200"), "{got:?}");
    let left = Instant::now();
    drop(t); // no close_notify: the socket just closes
    let ended = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the upstream saw an end");
    assert!(ended, "the upstream connection ended");
    assert!(
        left.elapsed() < Duration::from_secs(2),
        "freed after {:?}",
        left.elapsed()
    );
    wait_for("the client connection to go", || r.proxy.connections() == 0);
}

#[test]
fn an_upload_answered_before_it_is_read_still_gets_its_answer() {
    let r = rig(ok_upstream(), Options::default());
    let mut t = r.connect_as(OTHER).expect("connects");
    let head = format!("POST / HTTP/1.1\r\nHost: {OTHER}\r\nContent-Length: 100000000\r\n\r\n");
    t.write_all(head.as_bytes()).expect("the head");
    // part of the body, more than the proxy takes in before it answers
    t.write_all(&vec![b'x'; 1 << 20]).expect("part of the body");
    t.flush().expect("flush");
    wait_for("the proxy to be done with the connection", || {
        r.proxy.connections() == 0
    });
    let got = String::from_utf8_lossy(&read_some(&mut t, usize::MAX)).into_owned();
    assert!(got.starts_with("HTTP/1.1 503"), "{got:?}");
}

#[test]
fn a_host_that_names_the_sessions_host_in_another_spelling_is_served_and_another_gets_421() {
    let r = rig(ok_upstream(), Options::default());
    let mut t = r.connect().expect("connects");
    for host in [
        "A.P.LOCALHOST",
        "a.p.localhost.",
        "a.p.localhost:8443",
        "a.p.localhost.:1",
    ] {
        t.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .expect("send");
        let got = String::from_utf8_lossy(&read_some(&mut t, 40)).into_owned();
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("ok"),
            "{host}: {got:?}"
        );
    }
    // the same connection, another name the certificate also covers: 421, and the
    // connection stays for its own name
    t.write_all(format!("GET / HTTP/1.1\r\nHost: {OTHER}\r\n\r\n").as_bytes())
        .expect("send");
    let got = read_response(&mut t);
    assert!(got.starts_with("HTTP/1.1 421 Misdirected Request"), "{got:?}");
    assert!(got.contains(&format!("request is for {OTHER}")), "{got:?}");
    t.write_all(get("/").as_bytes()).expect("send");
    let got = String::from_utf8_lossy(&read_some(&mut t, 40)).into_owned();
    assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("ok"), "{got:?}");
}

#[test]
fn an_answer_slower_than_the_upstream_timeout_once_begun_is_not_cut() {
    // the head at once, the body after twice the timeout
    let l = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((mut c, _)) = l.accept() else { return };
        let mut chunk = [0u8; 4096];
        let _ = c.read(&mut chunk);
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
        std::thread::sleep(Duration::from_millis(600));
        let _ = c.write_all(b"late");
        std::thread::sleep(Duration::from_secs(5));
    });
    let opts = Options {
        upstream_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let r = rig(port, opts);
    let mut t = r.connect().expect("connects");
    t.write_all(get("/").as_bytes()).expect("send");
    let got = String::from_utf8_lossy(&read_some(&mut t, 42)).into_owned();
    assert!(
        got.starts_with("HTTP/1.1 200") && got.ends_with("\r\n\r\nlate"),
        "{got:?}"
    );
}
