//! One client connection: its TLS session and its upstream socket, driven by hand in one
//! poll loop, so request and response bodies stream at the same time, upgrades are
//! spliced, a client that goes away frees its upstream at once, and no buffer grows past
//! [`BUF`] (the next read waits until the other side has taken the bytes).

use super::{Route, Shared, http, pages};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustls::ServerConnection;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The most bytes held in each direction's buffers.
const BUF: usize = 64 * 1024;
/// How often a quiet connection looks at the proxy's closing flag.
const TICK: Duration = Duration::from_millis(500);

#[derive(Debug, PartialEq)]
enum Req {
    /// Reading the next head.
    Head,
    /// Streaming its body to the upstream.
    Body(http::Body),
    /// Sent whole.
    Done,
}

#[derive(Debug, PartialEq)]
enum Resp {
    /// No request outstanding.
    Idle,
    /// Waiting for the upstream's head.
    Head,
    /// Streaming its body to the client.
    Body(http::Body),
}

struct Up {
    sock: TcpStream,
    port: u16,
    eof: bool,
}

struct Conn<'a> {
    s: &'a Shared,
    sock: TcpStream,
    tls: ServerConnection,
    peer: IpAddr,
    /// Plaintext from the client, not yet used.
    cin: Vec<u8>,
    /// For the client, not yet handed to TLS.
    cout: Vec<u8>,
    client_eof: bool,
    up: Option<Up>,
    /// For the upstream, not yet written.
    uout: Vec<u8>,
    /// From the upstream, not yet used.
    uin: Vec<u8>,
    req: Req,
    resp: Resp,
    head_request: bool,
    upgraded: bool,
    /// Close once this exchange's response is out.
    close_after: bool,
    /// Closing: send what is queued, then close_notify.
    closing: bool,
    /// Bytes of the current response went to the client.
    resp_started: bool,
    /// For a 502 page: the current route.
    current: Option<(String, String, String)>,
    /// The head of a bodiless GET, HEAD or OPTIONS sent on a reused upstream connection,
    /// with its port, until the answer begins: the upstream may have closed that
    /// connection as the request went out (a keep-alive timeout), and then it is sent once
    /// more on a new one instead of ending in a 502.
    retry: Option<(u16, Vec<u8>)>,
    html: bool,
    /// When the head being read began (its first byte).
    head_start: Option<Instant>,
    last: Instant,
    tmp: Vec<u8>,
}

/// Serves one TLS client connection until it ends.
pub fn serve(sock: TcpStream, s: &Shared) {
    let Ok(mut tls) = ServerConnection::new(s.tls.clone()) else {
        return;
    };
    tls.set_buffer_limit(Some(BUF));
    let peer = sock.peer_addr().map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    let mut c = Conn {
        s,
        sock,
        tls,
        peer,
        cin: Vec::new(),
        cout: Vec::new(),
        client_eof: false,
        up: None,
        uout: Vec::new(),
        uin: Vec::new(),
        req: Req::Head,
        resp: Resp::Idle,
        head_request: false,
        upgraded: false,
        close_after: false,
        closing: false,
        resp_started: false,
        current: None,
        retry: None,
        html: false,
        head_start: None,
        last: Instant::now(),
        tmp: vec![0; 16 * 1024],
    };
    c.run();
    c.tls.send_close_notify();
    let _ = c.sock.set_nonblocking(false);
    let _ = c.sock.set_write_timeout(Some(Duration::from_millis(500)));
    while c.tls.wants_write() {
        if c.tls.write_tls(&mut c.sock).is_err() {
            break;
        }
    }
    if c.client_eof || s.closing.load(Ordering::Relaxed) {
        let _ = c.sock.shutdown(std::net::Shutdown::Both);
    } else {
        super::linger(&mut c.sock);
    }
}

impl Conn<'_> {
    fn run(&mut self) {
        loop {
            if self.s.closing.load(Ordering::Relaxed) {
                return;
            }
            if self.pump().is_err() {
                return;
            }
            if self.closing && self.cout.is_empty() && !self.tls.wants_write() {
                return;
            }
            if self.client_eof && (self.cin.is_empty() || self.up.is_none()) && !self.closing {
                return; // the client went: its upstream goes with it
            }
            let Some(wait) = self.deadline() else { return };
            let client_in = !self.closing && !self.client_eof && self.cin.len() < BUF;
            let mut cf = PollFlags::empty();
            if client_in {
                cf |= PollFlags::IN;
            }
            if self.tls.wants_write() {
                cf |= PollFlags::OUT;
            }
            let (mut uf, has_up) = (PollFlags::empty(), self.up.is_some());
            if let Some(up) = &self.up {
                if !up.eof && self.uin.len() < BUF {
                    uf |= PollFlags::IN;
                }
                if !self.uout.is_empty() {
                    uf |= PollFlags::OUT;
                }
            }
            let ts = Timespec::try_from(wait.min(TICK)).ok();
            let (c_ready, u_ready) = {
                let mut fds = vec![PollFd::new(&self.sock, cf)];
                if let Some(up) = &self.up {
                    fds.push(PollFd::new(&up.sock, uf));
                }
                match poll(&mut fds, ts.as_ref()) {
                    Ok(_) => (
                        fds[0].revents(),
                        fds.get(1).map(PollFd::revents).unwrap_or(PollFlags::empty()),
                    ),
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return,
                }
            };
            let bad = PollFlags::HUP | PollFlags::ERR;
            if c_ready.intersects(PollFlags::IN | bad) && client_in && self.read_client().is_err() {
                return;
            }
            if has_up {
                if u_ready.intersects(PollFlags::IN | bad) {
                    self.read_up();
                }
                if u_ready.contains(PollFlags::OUT) {
                    self.write_up();
                }
            }
        }
    }

    /// Moves bytes as far as they go without waiting: through the exchange, into TLS and
    /// onto the socket, again while any of that made room for more. Stopping earlier would
    /// leave bytes that could move with nothing to wake the poll (the upstream is not read
    /// while its buffer is full), and the connection would crawl at one buffer per tick.
    fn pump(&mut self) -> Result<(), ()> {
        loop {
            let before = (self.cin.len(), self.uin.len(), self.cout.len(), self.uout.len());
            self.advance()?;
            self.flush_cout();
            let wrote = self.write_client()?;
            let after = (self.cin.len(), self.uin.len(), self.cout.len(), self.uout.len());
            // done when nothing moved, unless TLS made room for plaintext still queued
            if before == after && (!wrote || self.cout.is_empty()) {
                return Ok(());
            }
        }
    }

    /// How long the next poll may wait; None when a deadline has passed and the connection
    /// ends (a 408 is queued for a head that took too long).
    fn deadline(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let reading_head = self.req == Req::Head && self.resp == Resp::Idle && !self.closing;
        if self.tls.is_handshaking() {
            return self.s.opts.head_timeout.checked_sub(now - self.last);
        }
        if !reading_head {
            return Some(TICK);
        }
        if let Some(t) = self.head_start {
            let left = self.s.opts.head_timeout.checked_sub(now - t);
            if left.is_none() {
                self.cout.extend_from_slice(&pages::simple(408));
                self.closing = true;
                self.flush_cout();
                return Some(Duration::from_millis(50));
            }
            return left;
        }
        self.s.opts.idle_timeout.checked_sub(now - self.last)
    }

    fn read_client(&mut self) -> Result<(), ()> {
        loop {
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => self.client_eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Err(()),
            }
            break;
        }
        if self.tls.process_new_packets().is_err() {
            let _ = self.tls.write_tls(&mut self.sock);
            return Err(());
        }
        loop {
            match self.tls.reader().read(&mut self.tmp) {
                Ok(0) => {
                    self.client_eof = true;
                    break;
                }
                Ok(n) => {
                    if self.cin.is_empty() && self.req == Req::Head && self.head_start.is_none() {
                        self.head_start = Some(Instant::now());
                    }
                    self.cin.extend_from_slice(&self.tmp[..n]);
                    self.last = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.client_eof = true;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Writes what TLS holds to the socket until it would block; Ok(true) when any went.
    fn write_client(&mut self) -> Result<bool, ()> {
        let mut wrote = false;
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(n) => {
                    self.last = Instant::now();
                    wrote |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        Ok(wrote)
    }

    /// Hands queued bytes to TLS, as far as its buffer takes them.
    fn flush_cout(&mut self) {
        while !self.cout.is_empty() {
            match self.tls.writer().write(&self.cout) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.cout.drain(..n);
                }
            }
        }
    }

    fn read_up(&mut self) {
        let Some(up) = self.up.as_mut() else { return };
        loop {
            match up.sock.read(&mut self.tmp) {
                Ok(0) => up.eof = true,
                Ok(n) => {
                    self.uin.extend_from_slice(&self.tmp[..n]);
                    if self.uin.len() < BUF {
                        continue;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => up.eof = true,
            }
            break;
        }
    }

    fn write_up(&mut self) {
        let Some(up) = self.up.as_mut() else { return };
        while !self.uout.is_empty() {
            match up.sock.write(&self.uout) {
                Ok(n) => {
                    self.uout.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    up.eof = true;
                    self.uout.clear();
                    break;
                }
            }
        }
    }

    /// Moves bytes between the buffers as far as the exchange allows; Err ends the
    /// connection at once.
    fn advance(&mut self) -> Result<(), ()> {
        loop {
            let before = (self.cin.len(), self.uin.len(), self.cout.len(), self.uout.len());
            let (req_before, resp_before) = (std::mem::discriminant(&self.req), std::mem::discriminant(&self.resp));
            if self.upgraded {
                return self.splice();
            }
            if self.req == Req::Head && self.resp == Resp::Idle && !self.closing {
                self.next_request()?;
            }
            if let Req::Body(b) = &mut self.req
                && !self.cin.is_empty()
                && self.uout.len() < BUF
            {
                let (n, done) = b.scan(&self.cin).map_err(|_| ())?;
                self.uout.extend_from_slice(&self.cin[..n]);
                self.cin.drain(..n);
                if done {
                    self.req = Req::Done;
                }
            }
            match &mut self.resp {
                Resp::Head => self.response_head()?,
                Resp::Body(b) => {
                    if !self.uin.is_empty() && self.cout.len() < BUF {
                        let (n, done) = b.scan(&self.uin).map_err(|_| ())?;
                        self.cout.extend_from_slice(&self.uin[..n]);
                        self.uin.drain(..n);
                        if done {
                            self.finish_exchange();
                        }
                    } else if self.uin.is_empty() && self.up.as_ref().is_none_or(|u| u.eof) {
                        if *b == http::Body::UntilClose {
                            self.close_after = true;
                            self.up = None;
                            self.finish_exchange();
                        } else {
                            // cut short: the client must see the connection end
                            self.up = None;
                            self.closing = true;
                        }
                    }
                }
                Resp::Idle => {
                    if self.up.as_ref().is_some_and(|u| u.eof) {
                        self.up = None;
                        self.uin.clear();
                    }
                }
            }
            self.write_up();
            let after = (self.cin.len(), self.uin.len(), self.cout.len(), self.uout.len());
            if before == after
                && req_before == std::mem::discriminant(&self.req)
                && resp_before == std::mem::discriminant(&self.resp)
            {
                return Ok(());
            }
        }
    }

    /// After a 101: bytes both ways until either side closes.
    fn splice(&mut self) -> Result<(), ()> {
        if !self.cin.is_empty() && self.uout.len() < BUF {
            self.uout.append(&mut self.cin);
        }
        if !self.uin.is_empty() && self.cout.len() < BUF {
            self.cout.append(&mut self.uin);
        }
        self.write_up();
        if self.client_eof && self.cin.is_empty() {
            return Err(());
        }
        if self.up.as_ref().is_none_or(|u| u.eof) && self.uin.is_empty() {
            self.up = None;
            self.closing = true;
        }
        Ok(())
    }

    /// Reads the next request head and sends it on (or answers it here).
    fn next_request(&mut self) -> Result<(), ()> {
        if self.cin.is_empty() {
            return Ok(());
        }
        let r = match http::parse_request(&self.cin) {
            Ok(Some(r)) => r,
            // not ended within the limit: longer than it (and a full buffer reads no more)
            Ok(None) if self.cin.len() >= self.s.opts.max_head_bytes => return self.answer_close(pages::simple(431)),
            Ok(None) => return Ok(()),
            Err(http::HeadError::TooLarge) => return self.answer_close(pages::simple(431)),
            Err(_) => return self.answer_close(pages::simple(400)),
        };
        if r.len > self.s.opts.max_head_bytes {
            return self.answer_close(pages::simple(431));
        }
        self.head_start = None;
        self.html = pages::wants_html(r.header("accept"));
        self.close_after = r.wants_close();
        let host = r
            .host()
            .filter(|h| !h.is_empty())
            .or_else(|| self.tls.server_name().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let has_body = r.body != http::Body::Length(0);
        let page = match self.s.router.route(&host) {
            Route::Unknown { project, hosts } => Some(pages::unknown_host(
                &host,
                project.as_deref(),
                &hosts,
                self.html,
                has_body || self.close_after,
            )),
            Route::Down { session, task, state } => Some(pages::task_down(
                &host,
                &session,
                &task,
                &state,
                "it has no port yet",
                self.html,
                has_body || self.close_after,
            )),
            Route::Upstream { port, session, task } => match self.connect(port) {
                Ok(reused) => {
                    self.current = Some((host.clone(), session, task));
                    let idempotent = ["GET", "HEAD", "OPTIONS"]
                        .iter()
                        .any(|m| r.method.eq_ignore_ascii_case(m));
                    self.retry = (reused && idempotent && !has_body).then(|| (port, Vec::new()));
                    None
                }
                Err(e) => {
                    let state = self.s.router.state(&session, &task);
                    let why = format!("nothing accepts connections on port {port} ({e})");
                    Some(pages::task_down(
                        &host,
                        &session,
                        &task,
                        &state,
                        &why,
                        self.html,
                        has_body || self.close_after,
                    ))
                }
            },
        };
        if let Some(p) = page {
            self.cin.drain(..r.len);
            self.cout.extend_from_slice(&p);
            if has_body || self.close_after {
                self.closing = true;
            }
            return Ok(());
        }
        let at = self.uout.len();
        r.upstream_head(self.peer, &mut self.uout);
        if let Some((_, head)) = &mut self.retry {
            head.extend_from_slice(&self.uout[at..]);
        }
        self.cin.drain(..r.len);
        self.head_request = r.method.eq_ignore_ascii_case("HEAD");
        self.resp_started = false;
        self.req = if has_body { Req::Body(r.body) } else { Req::Done };
        self.resp = Resp::Head;
        Ok(())
    }

    fn answer_close(&mut self, page: Vec<u8>) -> Result<(), ()> {
        self.cin.clear();
        self.cout.extend_from_slice(&page);
        self.closing = true;
        Ok(())
    }

    /// The upstream for `port`: the open one when it is for that port (Ok(true)), else a
    /// new one (127.0.0.1, then ::1).
    fn connect(&mut self, port: u16) -> std::io::Result<bool> {
        if let Some(up) = &self.up
            && up.port == port
            && !up.eof
        {
            return Ok(true);
        }
        self.up = None;
        self.uin.clear();
        self.uout.clear();
        let t = Duration::from_secs(2);
        let v4 = SocketAddr::from(([127, 0, 0, 1], port));
        let sock = match TcpStream::connect_timeout(&v4, t) {
            Ok(s) => s,
            Err(e) => {
                TcpStream::connect_timeout(&SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port), t).map_err(|_| e)?
            }
        };
        let _ = sock.set_nodelay(true);
        sock.set_nonblocking(true)?;
        self.up = Some(Up { sock, port, eof: false });
        Ok(false)
    }

    /// The upstream's response head: forwarded as it is; 1xx heads and a 101 handled.
    fn response_head(&mut self) -> Result<(), ()> {
        let up_eof = self.up.as_ref().is_none_or(|u| u.eof);
        if up_eof
            && self.uin.is_empty()
            && let Some((port, head)) = self.retry.take()
        {
            // closed unanswered on a reused connection: once more, on a new one
            self.up = None;
            if self.connect(port).is_ok() {
                self.uout = head;
                return Ok(());
            }
        }
        match http::parse_response(&self.uin, self.head_request) {
            Ok(Some(r)) => {
                self.retry = None;
                self.cout.extend_from_slice(&self.uin[..r.len]);
                self.uin.drain(..r.len);
                self.resp_started = true;
                if r.code == 101 {
                    self.upgraded = true;
                    self.resp = Resp::Idle;
                    self.req = Req::Done;
                } else if (100..200).contains(&r.code) {
                    // 100 Continue and friends: the real head follows
                } else {
                    self.close_after |= r.close;
                    if r.body.done() {
                        if r.close {
                            self.up = None;
                        }
                        self.finish_exchange();
                    } else {
                        self.resp = Resp::Body(r.body);
                    }
                }
                Ok(())
            }
            Ok(None) if self.uin.len() <= self.s.opts.max_head_bytes && !up_eof => Ok(()),
            other => {
                let why = match other {
                    Ok(None) if up_eof => "it closed the connection without an answer".to_string(),
                    _ => "its answer is not HTTP/1.1".to_string(),
                };
                self.up = None;
                if self.resp_started {
                    return Err(());
                }
                let (host, session, task) = self.current.clone().unwrap_or_default();
                let state = self.s.router.state(&session, &task);
                let page = pages::task_down(&host, &session, &task, &state, &why, self.html, true);
                self.cout.extend_from_slice(&page);
                self.resp = Resp::Idle;
                self.closing = true;
                Ok(())
            }
        }
    }

    /// The response is out: the next request, or the end.
    fn finish_exchange(&mut self) {
        self.resp = Resp::Idle;
        if self.req != Req::Done {
            // answered before the request body ended: the rest cannot be told apart
            self.close_after = true;
        }
        if self.close_after {
            self.closing = true;
            self.up = None;
        } else {
            self.req = Req::Head;
            self.last = Instant::now();
        }
    }
}
