//! The HTTPS reverse proxy: `https://{host}.{project}.{tld}` to the task's `$PORT` on
//! loopback. TLS by rustls, HTTP/1.1 (and 1.0) by RFC 9112 with keep-alive on both sides,
//! bodies streamed both ways, upgrades spliced, a 308 from the plain-HTTP port for the
//! names it serves. A thread per client connection
//! drives its TLS session and its upstream socket in one poll loop (`conn.rs`); the routes
//! come from a [`Router`] the daemon gives.

mod body;
mod conn;
pub mod http;
pub mod pages;
mod plain;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Where a request's host name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A task listening on 127.0.0.1:port (or [::1]:port), or an alias's loopback address.
    Upstream {
        /// Its port.
        port: u16,
        /// Its address, when not 127.0.0.1 (then [::1]) by default: an alias's.
        addr: Option<std::net::IpAddr>,
        /// Its project.
        session: String,
        /// The task.
        task: String,
    },
    /// A task with this host that has no port yet (never started): 502.
    Down {
        /// Its project.
        session: String,
        /// The task.
        task: String,
        /// Its state.
        state: String,
    },
    /// No task serves the name: 503 listing `hosts`.
    Unknown {
        /// The project the name is under, when registered.
        project: Option<String>,
        /// The URLs that project (or every project) serves.
        hosts: Vec<String>,
        /// Every registered project, and whether it is started (desired up) rather than
        /// stopped as a whole.
        registered: Vec<(String, bool)>,
    },
}

/// What the proxy asks of the daemon.
pub trait Router: Send + Sync + 'static {
    /// The route for a host name (lowercase, no port, no trailing dot).
    fn route(&self, host: &str) -> Route;
    /// A task's state, for a 502 page.
    fn state(&self, _session: &str, _task: &str) -> String {
        "not answering".into()
    }
}

/// Limits and the public port.
#[derive(Debug, Clone)]
pub struct Options {
    /// Open client connections at most; more are closed at once.
    pub max_connections: usize,
    /// The largest request head (431 past it).
    pub max_head_bytes: usize,
    /// How long a request head may take (408).
    pub head_timeout: Duration,
    /// How long a keep-alive connection may idle.
    pub idle_timeout: Duration,
    /// How long an upstream may take to begin its answer once it has the whole request
    /// (504 past it); None waits for ever. A response that has begun is never cut.
    pub upstream_timeout: Option<Duration>,
    /// The public https port, for the 308's URL.
    pub https_port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 1024,
            max_head_bytes: 64 * 1024,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            upstream_timeout: Some(Duration::from_secs(60)),
            https_port: 443,
        }
    }
}

/// The bound sockets, made before a privilege drop.
#[derive(Debug)]
pub struct Listeners {
    https: Vec<TcpListener>,
    http: Vec<TcpListener>,
}

/// Binds the https port (and the http one unless 0) on `addr`; for 127.0.0.1 also on ::1
/// when it can (a browser may try ::1 first for `*.localhost`). The first failure's kind is
/// kept (`PermissionDenied` for a privileged port).
pub fn bind(addr: IpAddr, https_port: u16, http_port: u16) -> io::Result<Listeners> {
    let both = |port: u16| -> io::Result<Vec<TcpListener>> {
        let first = TcpListener::bind(SocketAddr::new(addr, port))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}:{port}: {}", reason(&e))))?;
        let mut v = vec![first];
        if addr == IpAddr::from([127, 0, 0, 1]) {
            let port = v[0].local_addr()?.port();
            if let Ok(l6) = TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)) {
                v.push(l6);
            }
        }
        Ok(v)
    };
    let https = both(https_port)?;
    let http = if http_port == 0 { Vec::new() } else { both(http_port)? };
    Ok(Listeners { https, http })
}

fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::AddrInUse => "address in use".into(),
        _ => e.to_string(),
    }
}

impl Listeners {
    /// Where the https port listens.
    pub fn https_addrs(&self) -> Vec<SocketAddr> {
        self.https.iter().filter_map(|l| l.local_addr().ok()).collect()
    }
    /// Where the http port listens.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.http.iter().filter_map(|l| l.local_addr().ok()).collect()
    }
}

/// Closes a client connection whose last answer went out while the client may still be
/// sending (a body the proxy answered without reading, like an upload to an unknown
/// host): the write side first, then what still arrives is read and dropped until the
/// client closes, goes quiet for a second, or 10 s pass. Closing with unread bytes would
/// send a reset, and a client still sending would see that (or a broken pipe) instead of
/// the answer.
pub(crate) fn linger(sock: &mut TcpStream) {
    use std::io::Read;
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(1)));
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let mut sink = [0u8; 16 * 1024];
    while std::time::Instant::now() < end {
        match sock.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// A ServerConfig for the proxy: TLS 1.2 and 1.3, ALPN `http/1.1` (preferred) and
/// `http/1.0` (what `curl -0` offers alone), ring.
pub fn tls_config(certs: Arc<dyn rustls::server::ResolvesServerCert>) -> Arc<rustls::ServerConfig> {
    let provider = crate::certs::provider();
    let mut c = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(certs);
    c.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Arc::new(c)
}

/// What every connection thread shares.
pub(crate) struct Shared {
    pub tls: Arc<rustls::ServerConfig>,
    pub router: Arc<dyn Router>,
    pub opts: Options,
    pub log: Arc<dyn Fn(&str) + Send + Sync>,
    pub closing: AtomicBool,
    pub open: AtomicUsize,
    refused_logged: AtomicBool,
}

/// The running proxy.
pub struct Proxy {
    shared: Arc<Shared>,
    https: Vec<SocketAddr>,
    http: Vec<SocketAddr>,
}

/// Serves on the listeners until [`Proxy::close`].
pub fn serve(
    l: Listeners,
    tls: Arc<rustls::ServerConfig>,
    router: Arc<dyn Router>,
    opts: Options,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> Proxy {
    let shared = Arc::new(Shared {
        tls,
        router,
        opts,
        log,
        closing: AtomicBool::new(false),
        open: AtomicUsize::new(0),
        refused_logged: AtomicBool::new(false),
    });
    let (https, http) = (l.https_addrs(), l.http_addrs());
    for (listener, tls) in l
        .https
        .into_iter()
        .map(|x| (x, true))
        .chain(l.http.into_iter().map(|x| (x, false)))
    {
        let s = shared.clone();
        let _ = std::thread::Builder::new()
            .name(if tls { "proxy-accept" } else { "proxy-http" }.into())
            .spawn(move || accept(listener, tls, s));
    }
    Proxy { shared, https, http }
}

fn accept(l: TcpListener, tls: bool, s: Arc<Shared>) {
    for c in l.incoming() {
        if s.closing.load(Ordering::SeqCst) {
            return;
        }
        let Ok(c) = c else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if s.open.load(Ordering::SeqCst) >= s.opts.max_connections {
            if !s.refused_logged.swap(true, Ordering::SeqCst) {
                (s.log)(&format!(
                    "{} connections open: closing new ones",
                    s.opts.max_connections
                ));
            }
            continue;
        }
        s.refused_logged.store(false, Ordering::SeqCst);
        s.open.fetch_add(1, Ordering::SeqCst);
        let s2 = s.clone();
        let spawned = std::thread::Builder::new()
            .name("proxy-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let _ = c.set_nodelay(true);
                if tls {
                    conn::serve(c, &s2);
                } else {
                    plain::serve(c, &s2);
                }
                s2.open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            s.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Proxy {
    /// Stops accepting and ends the open connections within a poll interval.
    pub fn close(&self) {
        if self.shared.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        for a in self.https.iter().chain(&self.http) {
            let _ = TcpStream::connect_timeout(a, Duration::from_millis(200));
        }
    }
    /// The https address (the first).
    #[cfg(test)]
    pub fn https_addr(&self) -> SocketAddr {
        self.https[0]
    }
    /// Every address it listens on: `https://…` and `http://…`.
    pub fn listening(&self) -> Vec<String> {
        let mut v: Vec<String> = self.https.iter().map(|a| format!("https://{a}")).collect();
        v.extend(self.http.iter().map(|a| format!("http://{a}")));
        v
    }
    /// Open client connections.
    #[cfg(test)]
    pub fn connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }
}
