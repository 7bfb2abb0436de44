//! The DNS responder's sockets: UDP on two threads that both receive on one socket, and TCP
//! (two-byte length framing, several queries per connection) with a thread per connection,
//! an idle timeout and a cap on connections (at the cap, the connection idle longest is
//! closed for the new one). Answers come from [`super::wire::answer_into`] into a buffer each
//! thread keeps.

use super::wire::{self, EDNS_PAYLOAD, Transport};
use super::zone::Zone;
use crate::sync::guard;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Threads receiving on the UDP socket.
const UDP_THREADS: usize = 2;
/// TCP connections served at once. A new one past the cap takes the place of the one idle
/// longest: clients that connect and wait must not lock out every other TCP query.
pub const TCP_MAX_CONNECTIONS: usize = 64;
/// How long a TCP connection may wait for its next query, or take to send one.
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// How long [`DnsServer::close`] waits for the threads to finish.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The logger the server reports to: one line per call, no trailing newline.
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// A running DNS responder. [`DnsServer::close`] (or dropping it) stops every thread and
/// frees the port.
pub struct DnsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What the server's threads share.
struct Shared {
    zone: Arc<Zone>,
    log: Log,
    closing: AtomicBool,
    /// Open TCP connections, so close can shut them down and the cap can close the one
    /// idle longest.
    conns: Mutex<HashMap<u64, Conn>>,
    /// Running connection threads.
    open: AtomicUsize,
    next_conn: AtomicU64,
    /// Counts of repeated troubles, logged at powers of two.
    evicted: AtomicU64,
    errors: AtomicU64,
}

/// One open TCP connection.
struct Conn {
    /// A handle on it, to shut it down.
    stream: TcpStream,
    /// When it last sent a query or was answered.
    last: Instant,
}

impl Shared {
    /// Logs `what` the 1st, 2nd, 4th, 8th… time `counter` counts it.
    fn throttled(&self, counter: &AtomicU64, what: impl FnOnce(u64) -> String) {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            (self.log)(&what(n));
        }
    }
}

/// Starts answering `zone` on `addr` over UDP and TCP (port 0: one free port for both).
/// A bind failure's message starts with `udp` or `tcp` and the address; its kind is the
/// system's (`AddrInUse` for a busy port). The caller checks the address is one it may
/// serve on (see [`super::check_bind`]).
pub fn serve(addr: SocketAddr, zone: Arc<Zone>, log: Log) -> io::Result<DnsServer> {
    let (udp, tcp) = bind(addr)?;
    let addr = udp.local_addr()?;
    let shared = Arc::new(Shared {
        zone,
        log,
        closing: AtomicBool::new(false),
        conns: Mutex::new(HashMap::new()),
        open: AtomicUsize::new(0),
        next_conn: AtomicU64::new(0),
        evicted: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let mut server = DnsServer {
        addr,
        shared: shared.clone(),
        threads: Vec::new(),
    };
    for i in 0..UDP_THREADS {
        let sock = udp.try_clone()?;
        let shared = shared.clone();
        let t = std::thread::Builder::new()
            .name(format!("dns-udp-{i}"))
            .spawn(move || udp_loop(&sock, &shared))?;
        server.threads.push(t);
    }
    let t = std::thread::Builder::new()
        .name("dns-tcp".into())
        .spawn(move || accept_loop(&tcp, &shared))?;
    server.threads.push(t);
    Ok(server)
}

impl DnsServer {
    /// The address it answers on (with the port chosen when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops answering: wakes and joins the threads, shuts the TCP connections and frees
    /// the port. Idempotent.
    pub fn close(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.shared.closing.store(true, Ordering::SeqCst);
        let target = wake_addr(self.addr);
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        loop {
            // an empty datagram per receiver and a connection wake the blocked calls
            let any = match target {
                SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            };
            if let Ok(s) = UdpSocket::bind(any) {
                for _ in 0..UDP_THREADS {
                    let _ = s.send_to(&[], target);
                }
            }
            let _ = TcpStream::connect_timeout(&target, Duration::from_millis(200));
            for c in guard(&self.shared.conns).values() {
                let _ = c.stream.shutdown(Shutdown::Both);
            }
            let done = self.threads.iter().all(JoinHandle::is_finished) && self.shared.open.load(Ordering::SeqCst) == 0;
            if done || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for t in self.threads.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            } else {
                (self.shared.log)("a DNS server thread did not stop in time; leaving it");
            }
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The UDP socket and TCP listener of one address (port 0: the same free port for both).
fn bind(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let tries = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let udp = UdpSocket::bind(addr).map_err(|e| tagged("udp", addr, e))?;
        let at = udp.local_addr()?;
        match TcpListener::bind(at) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(tagged("tcp", at, e)),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port")))
}

fn tagged(transport: &str, addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{transport} {addr}: {e}"))
}

/// Where close sends its wake-ups: the address itself, or loopback for a wildcard one.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// One UDP receiver: a query in, its answer out, until close.
fn udp_loop(sock: &UdpSocket, shared: &Shared) {
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(EDNS_PAYLOAD as usize);
    loop {
        let got = sock.recv_from(&mut buf);
        if shared.closing.load(Ordering::Relaxed) {
            return;
        }
        match got {
            Ok((n, peer)) => {
                if wire::answer_into(&buf[..n], &shared.zone, Transport::Udp(EDNS_PAYLOAD as usize), &mut out) {
                    let _ = sock.send_to(&out, peer);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                shared.throttled(&shared.errors, |n| {
                    format!("udp receive failed ({n} times so far): {e}")
                });
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The TCP acceptor: a thread per connection, up to [`TCP_MAX_CONNECTIONS`]; past it, the
/// connection idle longest is shut for the new one.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let got = listener.accept();
        if shared.closing.load(Ordering::SeqCst) {
            return;
        }
        let stream = match got {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // out of descriptors, most likely: let some go before trying again
                shared.throttled(&shared.errors, |n| format!("tcp accept failed ({n} times so far): {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let Ok(copy) = stream.try_clone() else { continue };
        {
            let mut conns = guard(&shared.conns);
            if conns.len() >= TCP_MAX_CONNECTIONS {
                let idle = conns.iter().min_by_key(|(_, c)| c.last).map(|(id, _)| *id);
                // its thread reads the end and goes
                if let Some(old) = idle.and_then(|id| conns.remove(&id)) {
                    let _ = old.stream.shutdown(Shutdown::Both);
                }
                shared.throttled(&shared.evicted, |n| {
                    format!(
                        "{TCP_MAX_CONNECTIONS} tcp connections are open: closed the one idle longest for a new one ({n} so far)"
                    )
                });
            }
            conns.insert(
                id,
                Conn {
                    stream: copy,
                    last: Instant::now(),
                },
            );
        }
        shared.open.fetch_add(1, Ordering::SeqCst);
        let conn_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("dns-tcp-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                tcp_conn(stream, &conn_shared, id);
                guard(&conn_shared.conns).remove(&id);
                conn_shared.open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            guard(&shared.conns).remove(&id);
            shared.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// One TCP connection (`id` in the shared map): length-framed queries answered in order
/// until the client closes, goes idle past [`TCP_IDLE`], sends what cannot be a message, or
/// is shut for a new connection at the cap.
fn tcp_conn(mut s: TcpStream, shared: &Shared, id: u64) {
    let _ = s.set_nodelay(true);
    let _ = s.set_write_timeout(Some(TCP_IDLE));
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(512);
    let mut frame = Vec::with_capacity(514);
    loop {
        let mut len = [0u8; 2];
        if read_full(&mut s, &mut len, Instant::now() + TCP_IDLE).is_err() {
            return;
        }
        let n = u16::from_be_bytes(len) as usize;
        if n < 12 || read_full(&mut s, &mut buf[..n], Instant::now() + TCP_IDLE).is_err() {
            return;
        }
        if shared.closing.load(Ordering::Relaxed) {
            return;
        }
        if let Some(c) = guard(&shared.conns).get_mut(&id) {
            c.last = Instant::now();
        }
        if !wire::answer_into(&buf[..n], &shared.zone, Transport::Tcp, &mut out) {
            continue;
        }
        frame.clear();
        frame.extend_from_slice(&(out.len() as u16).to_be_bytes());
        frame.extend_from_slice(&out);
        if s.write_all(&frame).is_err() {
            return;
        }
    }
}

/// Fills `buf` from `s` before `deadline`.
fn read_full(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> Log {
        Arc::new(|_: &str| {})
    }

    #[test]
    fn serves_udp_and_tcp_and_closes_cleanly() {
        let zone = Arc::new(Zone::new("localhost").expect("valid"));
        let mut server = serve("127.0.0.1:0".parse().expect("addr"), zone, quiet()).expect("binds");
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let q = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', 0, 0, 1,
            0, 1,
        ];
        let c = UdpSocket::bind("127.0.0.1:0").expect("client");
        c.send_to(&q, addr).expect("send");
        let mut buf = [0u8; 512];
        // a read with a timeout in a test thread can end with EINTR when another test's
        // child exits while its thread spawns (tests/harness.rs says why): read again
        let deadline = Instant::now() + Duration::from_secs(5);
        let n = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            c.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            match c.recv(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted && !left.is_zero() => {}
                r => break r.expect("an answer"),
            }
        };
        assert_eq!((&buf[..2], buf[7]), (&[0x12, 0x34][..], 1));
        let mut t = TcpStream::connect(addr).expect("tcp");
        for _ in 0..3 {
            let mut framed = (q.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&q);
            t.write_all(&framed).expect("write");
            let mut len = [0u8; 2];
            t.read_exact(&mut len).expect("length");
            let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
            t.read_exact(&mut r).expect("reply");
            assert_eq!(r, buf[..n].to_vec(), "the same answer on both transports");
        }
        server.close();
        server.close();
        // the port is free again, on both transports
        let again = serve(addr, Arc::new(Zone::new("localhost").expect("valid")), quiet()).expect("rebinds");
        drop(again);
        let busy = UdpSocket::bind(addr).expect("holds the port");
        let e = serve(addr, Arc::new(Zone::new("localhost").expect("valid")), quiet()).expect_err("in use");
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(e.to_string().starts_with("udp "), "{e}");
        drop(busy);
    }
}
