//! One client connection: its TLS session and its upstream socket, driven by hand in one
//! poll loop, so request and response bodies stream at the same time, upgrades are
//! spliced, a client that goes away frees its upstream at once, and no buffer grows past
//! [`BUF`] (the next read waits until the other side has taken the bytes). Each request
//! must name the host its TLS session was made for (421), and an upstream that takes a
//! request and does not begin its answer within the limit gets the client a 504.

mod exchange;

use super::{Shared, http, pages};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustls::ServerConnection;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream};
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
    to: Upstream,
    eof: bool,
}

/// Where an upstream connection goes: an address (None: 127.0.0.1, else [::1]) and a port.
type Upstream = (Option<std::net::IpAddr>, u16);

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
    retry: Option<(Upstream, Vec<u8>)>,
    html: bool,
    /// The current request is HTTP/1.0: no interim responses, no chunked coding, and the
    /// connection kept only when it asked and the response has a length.
    http10: bool,
    /// The response is chunked and the client HTTP/1.0: the framing is taken off and the
    /// close ends the body.
    dechunk: bool,
    /// When the whole request had gone to the upstream, while its answer's head is awaited
    /// (for the upstream timeout).
    sent_at: Option<Instant>,
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
        http10: false,
        dechunk: false,
        sent_at: None,
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
            // a head is read to its limit, so one past it is seen (431), not waited on
            let cap = if self.req == Req::Head {
                BUF.max(self.s.opts.max_head_bytes)
            } else {
                BUF
            };
            let client_in = !self.closing && !self.client_eof && self.cin.len() < cap;
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
    /// ends (a 408 is queued for a head that took too long, a 504 for an upstream that did
    /// not begin its answer in time).
    fn deadline(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let reading_head = self.req == Req::Head && self.resp == Resp::Idle && !self.closing;
        if self.tls.is_handshaking() {
            return self.s.opts.head_timeout.checked_sub(now - self.last);
        }
        if self.resp == Resp::Head
            && !self.closing
            && let (Some(sent), Some(limit)) = (self.sent_at, self.s.opts.upstream_timeout)
        {
            let Some(left) = limit.checked_sub(now - sent) else {
                self.upstream_timed_out(limit);
                return Some(Duration::from_millis(50));
            };
            return Some(left.min(TICK));
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
                match b.scan(&self.cin) {
                    Ok((n, done)) => {
                        self.uout.extend_from_slice(&self.cin[..n]);
                        self.cin.drain(..n);
                        if done {
                            self.req = Req::Done;
                        }
                    }
                    Err(e) => return self.bad_request_body(e),
                }
            }
            match &mut self.resp {
                Resp::Head => self.response_head()?,
                Resp::Body(b) => {
                    if !self.uin.is_empty() && self.cout.len() < BUF {
                        let (n, done) = if self.dechunk {
                            b.decode(&self.uin, &mut self.cout).map_err(|_| ())?
                        } else {
                            let (n, done) = b.scan(&self.uin).map_err(|_| ())?;
                            self.cout.extend_from_slice(&self.uin[..n]);
                            (n, done)
                        };
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
            if self.resp == Resp::Head && self.req == Req::Done && self.uout.is_empty() && self.sent_at.is_none() {
                self.sent_at = Some(Instant::now());
            }
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
}
